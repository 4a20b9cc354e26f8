{% from "_macros.wgsl" import tree %}
// {{ comment }}
// out[b, c] = mean over {{ hw }} positions of x[b, p, c]. A workgroup of {{ cx }} channels x {{ hy }} lanes:
// lane y sums positions y, y + {{ hy }}, ...; the lanes are then added in workgroup memory.
{{ bindings }}

var<workgroup> part: array<f32, {{ cx * hy }}>;

@compute @workgroup_size({{ cx }}, {{ hy }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = wid.y * {{ gx }}u + wid.x;
    if (t >= {{ groups }}u) {
        return;
    }
    let b = t / {{ ctiles }}u;
    let c = (t % {{ ctiles }}u) * {{ cx }}u + lid.x;
    var s = 0.0;
    if (c < {{ c }}u) {
        for (var p = lid.y; p < {{ hw }}u; p += {{ hy }}u) {
            s += {{ x.var }}[{{ x.off }}u + (b * {{ hw }}u + p) * {{ c }}u + c];
        }
    }
    part[lid.y * {{ cx }}u + lid.x] = s;
    workgroupBarrier();
{{ tree(halves, "lid.y", "lid.y * " ~ cx ~ "u + lid.x", cx) }}
    if (lid.y == 0u && c < {{ c }}u) {
        {{ out.var }}[{{ out.off }}u + b * {{ c }}u + c] = part[lid.x] * {{ scale }};
    }
}
