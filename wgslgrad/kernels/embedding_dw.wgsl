{% from "_macros.wgsl" import per_element %}
// {{ comment }}: out[v, d] = sum over the {{ count }} ids p with ids[p] == v of dy[p, d] ({{ vocab }} x {{ dim }});
// one thread per table entry scans every id (ids clamped as the forward kernel clamps them).
{{ bindings }}

{{ per_element(wg, gx, n) }}
    let v = i / {{ dim }}u;
    let d = i % {{ dim }}u;
    var s = 0.0;
    for (var p = 0u; p < {{ count }}u; p++) {
        let id = u32(clamp(round({{ ids.var }}[{{ ids.off }}u + p]), 0.0, {{ vocab - 1 }}.0));
        if (id == v) {
            s += {{ dy.var }}[{{ dy.off }}u + p * {{ dim }}u + d];
        }
    }
    {{ out.var }}[{{ out.off }}u + i] = s;
}
