// {{ comment }}
// Fused Adam over the {{ n }} trainable parameters (params[0:{{ n4 * 4 }}], as {{ n4 }} vec4s, one thread each), in
// TensorFlow's formulation (epsilon outside the bias correction):
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   p = p - lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)
// The per-step values come from the uniform {{ step }}: [0] = (lr, beta1, beta2, eps),
// [1] = (1 - beta1^t, 1 - beta2^t, t, 0). The gaps between parameters hold zeros and stay zero.
{{ bindings }}

@compute @workgroup_size({{ wg }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * {{ gx }}u + wid.x) * {{ wg }}u + lid;
    if (i >= {{ n4 }}u) {
        return;
    }
    let hyper = {{ step }}[0];
    let bias = {{ step }}[1];
    let alpha = hyper.x * sqrt(bias.y) / bias.x;
    let g = {{ grads }}[i];
    let m = hyper.y * {{ m }}[i] + (1.0 - hyper.y) * g;
    let v = hyper.z * {{ v }}[i] + (1.0 - hyper.z) * g * g;
    {{ m }}[i] = m;
    {{ v }}[i] = v;
    {{ params }}[i] = {{ params }}[i] - alpha * m / (sqrt(v) + hyper.w);
}
