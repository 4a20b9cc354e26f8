{% from "_macros.wgsl" import per_element %}
// {{ comment }}: out[o, j, k] = dy[o, j - {{ start }}, k] for {{ start }} <= j < {{ start + c }}, else 0
// (j < {{ size }}, k < {{ inner }}); one thread per element.
{{ bindings }}

{{ per_element(wg, gx, n) }}
    let k = i % {{ inner }}u;
    let j = (i / {{ inner }}u) % {{ size }}u;
    let o = i / ({{ inner }}u * {{ size }}u);
    var v = 0.0;
    if (j >= {{ start }}u && j < {{ start + c }}u) {
        v = {{ dy.var }}[{{ dy.off }}u + (o * {{ c }}u + j - {{ start }}u) * {{ inner }}u + k];
    }
    {{ out.var }}[{{ out.off }}u + i] = v;
}
