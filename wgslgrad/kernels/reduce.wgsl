{% from "_macros.wgsl" import tree %}
// {{ comment }}
// {{ groups }} workgroup(s) of {{ wg }} threads; workgroup g adds term(i) for i in [g*{{ chunk }}, (g+1)*{{ chunk }}) ∩ [0, {{ n }}),
// each thread a strided part, then a tree in workgroup memory; dst[g] = that sum. Each term is scaled by
// {{ scale }} (1/n for a mean) before it is added, so that a mean of huge terms does not overflow on the way.
{{ bindings }}

var<workgroup> part: array<f32, {{ wg }}>;

fn term(i: u32) -> f32 {
{% if kind == "sum" %}
    return {{ x.var }}[{{ x.off }}u + i] * {{ scale }};
{% elif kind == "mse" %}
    let d = {{ x.var }}[{{ x.off }}u + i] - {{ y.var }}[{{ y.off }}u + i];
    return d * (d * {{ scale }});
{% elif kind == "sigmoid_ce" %}
    // max(z, 0) - z*y + log(1 + exp(-|z|)): stable for large |z| (TensorFlow's formulation)
    let z = {{ x.var }}[{{ x.off }}u + i];
    let y = {{ y.var }}[{{ y.off }}u + i];
    return max(z, 0.0) * {{ scale }} - z * (y * {{ scale }}) + log(1.0 + exp(-abs(z))) * {{ scale }};
{% elif kind == "softmax_ce" %}
    // row i: sum_j y_j * (logsumexp(z) - z_j) = logsumexp(z) * sum(y) - sum(y * z)
    let zb = {{ x.off }}u + i * {{ k }}u;
    let yb = {{ y.off }}u + i * {{ k }}u;
    // the max starts at the row's first element: a constant such as -3.4e38 would beat logits below it
    var m = {{ x.var }}[zb];
    for (var j = 0u; j < {{ k }}u; j++) {
        m = max(m, {{ x.var }}[zb + j]);
    }
    var se = 0.0;
    var sy = 0.0;
    var syz = 0.0;
    for (var j = 0u; j < {{ k }}u; j++) {
        let z = {{ x.var }}[zb + j] - m;
        let y = {{ y.var }}[yb + j];
        se += exp(z);
        sy += y;
        syz += select((y * {{ scale }}) * z, 0.0, y == 0.0);  // a zero label ignores its logit, even at z = -inf
    }
    return log(se) * (sy * {{ scale }}) - syz;
{% endif %}
}

@compute @workgroup_size({{ wg }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wid.x;
    let end = min((g + 1u) * {{ chunk }}u, {{ n }}u);
    var s = 0.0;
    for (var i = g * {{ chunk }}u + lid; i < end; i += {{ wg }}u) {
        s += term(i);
    }
    part[lid] = s;
    workgroupBarrier();
{{ tree(halves, "lid", "lid") }}
    if (lid == 0u) {
        {{ dst.var }}[{{ dst.off }}u + g] = part[0];
    }
}
