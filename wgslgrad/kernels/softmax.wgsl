{% from "_macros.wgsl" import per_row, tree %}
// {{ comment }}
// softmax over the last axis: {{ rows }} rows of {{ k }}, max subtracted before exp.
{% if per_thread %}
// Short rows: one thread per row.
{% else %}
// Long rows: one workgroup of {{ wg }} threads per row, max and sum reduced in workgroup memory.
{% endif %}
{{ bindings }}

{% if per_thread %}
{{ per_row(true, wg, gx, rows) }}
    let xb = {{ x.off }}u + r * {{ k }}u;
    let ob = {{ out.off }}u + r * {{ k }}u;
    // the max starts at the row's first element: a constant such as -3.4e38 would beat logits below it
    var m = {{ x.var }}[xb];
    for (var j = 0u; j < {{ k }}u; j++) {
        m = max(m, {{ x.var }}[xb + j]);
    }
    var s = 0.0;
    for (var j = 0u; j < {{ k }}u; j++) {
        s += exp({{ x.var }}[xb + j] - m);
    }
    let inv = 1.0 / s;
    for (var j = 0u; j < {{ k }}u; j++) {
        {{ out.var }}[ob + j] = exp({{ x.var }}[xb + j] - m) * inv;
    }
}
{% else %}
var<workgroup> part: array<f32, {{ wg }}>;

{{ per_row(false, wg, gx, rows) }}
    let xb = {{ x.off }}u + r * {{ k }}u;
    let ob = {{ out.off }}u + r * {{ k }}u;
    // the max starts at the row's first element: a constant such as -3.4e38 would beat logits below it
    var m = {{ x.var }}[xb];
    for (var j = lid; j < {{ k }}u; j += {{ wg }}u) {
        m = max(m, {{ x.var }}[xb + j]);
    }
    part[lid] = m;
    workgroupBarrier();
{{ tree(halves, "lid", "lid", op="max") }}
    m = part[0];
    workgroupBarrier();
    var s = 0.0;
    for (var j = lid; j < {{ k }}u; j += {{ wg }}u) {
        s += exp({{ x.var }}[xb + j] - m);
    }
    part[lid] = s;
    workgroupBarrier();
{{ tree(halves, "lid", "lid") }}
    let inv = 1.0 / part[0];
    for (var j = lid; j < {{ k }}u; j += {{ wg }}u) {
        {{ out.var }}[ob + j] = exp({{ x.var }}[xb + j] - m) * inv;
    }
}
{% endif %}
