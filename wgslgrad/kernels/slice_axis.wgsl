{% from "_macros.wgsl" import per_element %}
// {{ comment }}: out[o, j, k] = x[o, {{ start }} + j, k], j < {{ c }} of {{ cin }}, k < {{ inner }}; one thread per element.
{{ bindings }}

{{ per_element(wg, gx, n) }}
    let k = i % {{ inner }}u;
    let j = (i / {{ inner }}u) % {{ c }}u;
    let o = i / ({{ inner }}u * {{ c }}u);
    {{ out.var }}[{{ out.off }}u + i] = {{ x.var }}[{{ x.off }}u + (o * {{ cin }}u + {{ start }}u + j) * {{ inner }}u + k];
}
