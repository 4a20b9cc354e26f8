{% from "_macros.wgsl" import per_element %}
// {{ comment }}: out[r, j] = x[r, {{ start }} + j] for {{ rows }} rows, j < {{ c }} of {{ cin }}; one thread per element.
{{ bindings }}

{{ per_element(wg, gx, n) }}
    let r = i / {{ c }}u;
    let j = i % {{ c }}u;
    {{ out.var }}[{{ out.off }}u + i] = {{ x.var }}[{{ x.off }}u + r * {{ cin }}u + {{ start }}u + j];
}
