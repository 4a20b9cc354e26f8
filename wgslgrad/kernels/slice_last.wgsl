// {{ comment }}: out[r, j] = x[r, {{ start }} + j] for {{ rows }} rows, j < {{ c }} of {{ cin }}; one thread per element.
{{ bindings }}

@compute @workgroup_size({{ wg }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * {{ gx }}u + wid.x) * {{ wg }}u + lid;
    if (i >= {{ n }}u) {
        return;
    }
    let r = i / {{ c }}u;
    let j = i % {{ c }}u;
    {{ out.var }}[{{ out.off }}u + i] = {{ x.var }}[{{ x.off }}u + r * {{ cin }}u + {{ start }}u + j];
}
