// {{ comment }}
// Fused Adam over the {{ n }} trainable parameters (params[0:{{ n4 * 4 }}], as {{ n4 }} vec4s, one thread each), in
// TensorFlow's formulation (epsilon outside the bias correction):
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   p = p - lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)
// The per-step values come from the uniform {{ step }}: {{ layout }},
// bias1 = 1 - beta1^t, bias2 = 1 - beta2^t. The gaps between parameters hold zeros and stay zero.
{{ bindings }}

@compute @workgroup_size({{ wg }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * {{ gx }}u + wid.x) * {{ wg }}u + lid;
    if (i >= {{ n4 }}u) {
        return;
    }
    let alpha = {{ f.lr }} * sqrt({{ f.bias2 }}) / {{ f.bias1 }};
    let g = {{ grads }}[i];
    let m = {{ f.beta1 }} * {{ m }}[i] + (1.0 - {{ f.beta1 }}) * g;
    let v = {{ f.beta2 }} * {{ v }}[i] + (1.0 - {{ f.beta2 }}) * g * g;
    {{ m }}[i] = m;
    {{ v }}[i] = v;
    {{ params }}[i] = {{ params }}[i] - alpha * m / (sqrt(v) + {{ f.eps }});
}
