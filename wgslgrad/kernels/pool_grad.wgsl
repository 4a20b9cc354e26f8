{% from "_macros.wgsl" import per_element %}
// {{ comment }}
// {{ kind }} pool {{ kh }}x{{ kw }} gradient, stride ({{ sh }}, {{ sw }}), pads top {{ pt }} left {{ pl }}: one thread per input cell
// gathers dy from every window that contains it (no atomics). Window (oy, ox) covers rows
// [oy*{{ sh }}-{{ pt }}, oy*{{ sh }}-{{ pt }}+{{ kh }}) and columns [ox*{{ sw }}-{{ pl }}, ox*{{ sw }}-{{ pl }}+{{ kw }}), clipped to the image.
{% if kind == "max" %}
// A window's dy goes to its winner: the first max cell in row-major order (padding never wins), found
// again here by scanning the window.
{% else %}
// Each window passes dy / (its count of non-padding cells) to each of its cells.
{% endif %}
{{ bindings }}

{{ per_element(wg, gx, n) }}
    let c = i % {{ c }}u;
    let w = i32((i / {{ c }}u) % {{ w }}u);
    let h = i32((i / {{ c * w }}u) % {{ h }}u);
    let b = i / {{ c * w * h }}u;
    // windows oy with oy*sh - pt <= h < oy*sh - pt + kh, within [0, ho): oy >= ceil((h + pt - kh + 1) / sh)
    let hy = h + {{ pt }};
    let wx = w + {{ pl }};
    let oy0 = select(0, (hy - ({{ kh - sh }})) / {{ sh }}, hy >= {{ kh }});
    let oy1 = min(hy / {{ sh }}, {{ ho - 1 }});
    let ox0 = select(0, (wx - ({{ kw - sw }})) / {{ sw }}, wx >= {{ kw }});
    let ox1 = min(wx / {{ sw }}, {{ wo - 1 }});
    var acc = 0.0;
    for (var oy = oy0; oy <= oy1; oy++) {
        let y0 = max(oy * {{ sh }} - {{ pt }}, 0);
        let y1 = min(oy * {{ sh }} - {{ pt }} + {{ kh }}, {{ h }});
        for (var ox = ox0; ox <= ox1; ox++) {
            let x0 = max(ox * {{ sw }} - {{ pl }}, 0);
            let x1 = min(ox * {{ sw }} - {{ pl }} + {{ kw }}, {{ w }});
            let d = {{ dy.var }}[{{ dy.off }}u + ((b * {{ ho }}u + u32(oy)) * {{ wo }}u + u32(ox)) * {{ c }}u + c];
{% if kind == "max" %}
            let xb = {{ x.off }}u + b * {{ h * w * c }}u + c;
            var best = {{ x.var }}[xb + (u32(y0) * {{ w }}u + u32(x0)) * {{ c }}u];
            var by = y0;
            var bx = x0;
            for (var iy = y0; iy < y1; iy++) {
                for (var ix = x0; ix < x1; ix++) {
                    let v = {{ x.var }}[xb + (u32(iy) * {{ w }}u + u32(ix)) * {{ c }}u];
                    if (v > best) {
                        best = v;
                        by = iy;
                        bx = ix;
                    }
                }
            }
            if (by == h && bx == w) {
                acc += d;
            }
{% else %}
            acc += d / f32((y1 - y0) * (x1 - x0));
{% endif %}
        }
    }
    {{ out.var }}[{{ out.off }}u + i] = acc;
}
