{% from "_macros.wgsl" import per_element %}
// {{ comment }}: out[p, d] = table[ids[p], d], table [{{ vocab }}, {{ dim }}]; an id outside [0, {{ vocab }})
// is clamped into it (the runtime refuses such ids before they get here). One thread per element.
{{ bindings }}

{{ per_element(wg, gx, n) }}
    let p = i / {{ dim }}u;
    let d = i % {{ dim }}u;
    let v = u32(clamp(round({{ ids.var }}[{{ ids.off }}u + p]), 0.0, {{ vocab - 1 }}.0));
    {{ out.var }}[{{ out.off }}u + i] = {{ table.var }}[{{ table.off }}u + v * {{ dim }}u + d];
}
