{% from "_macros.wgsl" import per_element %}
// {{ comment }}
// {{ kind }} pool {{ kh }}x{{ kw }}, stride ({{ sh }}, {{ sw }}), pads top {{ pt }} left {{ pl }}: padded cells are
// skipped ({{ "never the max" if kind == "max" else "not counted in the mean" }}); one thread per output element.
{{ bindings }}

{{ per_element(wg, gx, n) }}
    let c = i % {{ c }}u;
    let ox = (i / {{ c }}u) % {{ wo }}u;
    let oy = (i / {{ c * wo }}u) % {{ ho }}u;
    let b = i / {{ c * wo * ho }}u;
    let iy0 = i32(oy * {{ sh }}u) - {{ pt }};
    let ix0 = i32(ox * {{ sw }}u) - {{ pl }};
    // the window clipped to the image (empty, never negative, if it lies wholly in the padding)
    let y0 = u32(max(iy0, 0));
    let y1 = u32(max(min(iy0 + {{ kh }}, {{ h }}), max(iy0, 0)));
    let x0 = u32(max(ix0, 0));
    let x1 = u32(max(min(ix0 + {{ kw }}, {{ w }}), max(ix0, 0)));
{% if kind == "max" %}
    // the max starts at the window's first cell: a constant such as -3.4e38 would beat inputs below it
    var acc = -3.4e38;  // (an empty window's value; not -inf: WGSL const-expressions must be finite)
    if (y1 > y0 && x1 > x0) {
        acc = {{ x.var }}[{{ x.off }}u + ((b * {{ h }}u + y0) * {{ w }}u + x0) * {{ c }}u + c];
    }
{% else %}
    var acc = 0.0;
{% endif %}
    for (var iy = y0; iy < y1; iy++) {
        for (var ix = x0; ix < x1; ix++) {
            let v = {{ x.var }}[{{ x.off }}u + ((b * {{ h }}u + iy) * {{ w }}u + ix) * {{ c }}u + c];
{% if kind == "max" %}
            acc = max(acc, v);
{% else %}
            acc += v;
{% endif %}
        }
    }
{% if kind == "max" %}
    {{ out.var }}[{{ out.off }}u + i] = acc;
{% else %}
    {{ out.var }}[{{ out.off }}u + i] = acc / f32((y1 - y0) * (x1 - x0));
{% endif %}
}
