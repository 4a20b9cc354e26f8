{% from "_macros.wgsl" import per_row, tree %}
// {{ comment }}
{% if kind == "softmax" %}
// softmax gradient over the last axis: dx = y * (dy - sum(dy * y)); {{ rows }} rows of {{ k }}.
{% else %}
// softmax cross-entropy gradient: dz = (softmax(z) * sum(labels) - labels) * dl * {{ scale }} (1 / batch);
// {{ rows }} rows of {{ k }}, max subtracted before exp.
{% endif %}
{% if per_thread %}
// Short rows: one thread per row.
{% else %}
// Long rows: one workgroup of {{ wg }} threads per row, sums (and the max) reduced in workgroup memory.
{% endif %}
{{ bindings }}

{% if per_thread %}
{{ per_row(true, wg, gx, rows) }}
    let ab = {{ a.off }}u + r * {{ k }}u;
    let bb = {{ b.off }}u + r * {{ k }}u;
    let ob = {{ out.off }}u + r * {{ k }}u;
{% if kind == "softmax" %}
    var s = 0.0;
    for (var j = 0u; j < {{ k }}u; j++) {
        s += {{ a.var }}[ab + j] * {{ b.var }}[bb + j];
    }
    for (var j = 0u; j < {{ k }}u; j++) {
        {{ out.var }}[ob + j] = {{ a.var }}[ab + j] * ({{ b.var }}[bb + j] - s);
    }
{% else %}
    // the max starts at the row's first element: a constant such as -3.4e38 would beat logits below it
    var m = {{ a.var }}[ab];
    for (var j = 0u; j < {{ k }}u; j++) {
        m = max(m, {{ a.var }}[ab + j]);
    }
    var se = 0.0;
    var sy = 0.0;
    for (var j = 0u; j < {{ k }}u; j++) {
        se += exp({{ a.var }}[ab + j] - m);
        sy += {{ b.var }}[bb + j];
    }
    let scale = {{ dl.var }}[{{ dl.off }}u] * {{ scale }};
    let p = sy / se;
    for (var j = 0u; j < {{ k }}u; j++) {
        {{ out.var }}[ob + j] = (exp({{ a.var }}[ab + j] - m) * p - {{ b.var }}[bb + j]) * scale;
    }
{% endif %}
}
{% else %}
var<workgroup> part: array<f32, {{ wg }}>;
{% if kind != "softmax" %}
var<workgroup> part2: array<f32, {{ wg }}>;
{% endif %}

{{ per_row(false, wg, gx, rows) }}
    let ab = {{ a.off }}u + r * {{ k }}u;
    let bb = {{ b.off }}u + r * {{ k }}u;
    let ob = {{ out.off }}u + r * {{ k }}u;
{% if kind == "softmax" %}
    var s = 0.0;
    for (var j = lid; j < {{ k }}u; j += {{ wg }}u) {
        s += {{ a.var }}[ab + j] * {{ b.var }}[bb + j];
    }
    part[lid] = s;
    workgroupBarrier();
{{ tree(halves, "lid", "lid") }}
    s = part[0];
    for (var j = lid; j < {{ k }}u; j += {{ wg }}u) {
        {{ out.var }}[ob + j] = {{ a.var }}[ab + j] * ({{ b.var }}[bb + j] - s);
    }
{% else %}
    // the max starts at the row's first element: a constant such as -3.4e38 would beat logits below it
    var m = {{ a.var }}[ab];
    for (var j = lid; j < {{ k }}u; j += {{ wg }}u) {
        m = max(m, {{ a.var }}[ab + j]);
    }
    part[lid] = m;
    workgroupBarrier();
{{ tree(halves, "lid", "lid", op="max") }}
    m = part[0];
    workgroupBarrier();
    var se = 0.0;
    var sy = 0.0;
    for (var j = lid; j < {{ k }}u; j += {{ wg }}u) {
        se += exp({{ a.var }}[ab + j] - m);
        sy += {{ b.var }}[bb + j];
    }
    part[lid] = se;
    part2[lid] = sy;
    workgroupBarrier();
{{ tree(halves, "lid", "lid", arrays=["part", "part2"]) }}
    let scale = {{ dl.var }}[{{ dl.off }}u] * {{ scale }};
    let p = part2[0] / part[0];
    for (var j = lid; j < {{ k }}u; j += {{ wg }}u) {
        {{ out.var }}[ob + j] = (exp({{ a.var }}[ab + j] - m) * p - {{ b.var }}[bb + j]) * scale;
    }
{% endif %}
}
{% endif %}
