// {{ comment }}: out[i] = f(x[i]) over {{ n }} elements, one thread each.
{{ bindings }}

@compute @workgroup_size({{ wg }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * {{ gx }}u + wid.x) * {{ wg }}u + lid;
    if (i >= {{ n }}u) {
        return;
    }
    let v = {{ x.var }}[{{ x.off }}u + i];
    {{ out.var }}[{{ out.off }}u + i] = {{ expr }};
}
