{% include "knn_params.wgsl" %}
// KNN: L2-normalise rows [first, first + count) of `rows` in place, one workgroup of {{ wg }} per row.
// The host refuses all-zero and non-finite rows, so the norm is never 0.
@group(0) @binding(1) var<storage, read_write> rows: array<f32>;

var<workgroup> part: array<f32, {{ wg }}>;

@compute @workgroup_size({{ wg }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = wid.y * {{ gx }}u + wid.x;
    if (r >= p.count) {
        return;   // uniform across the workgroup: the barriers below stay legal
    }
    let base = (p.first + r) * p.d;
    var s = 0.0;
    for (var j = lid; j < p.d; j += {{ wg }}u) {
        let v = rows[base + j];
        s += v * v;
    }
    part[lid] = s;
    workgroupBarrier();
    for (var h = {{ wg // 2 }}u; h > 0u; h >>= 1u) {
        if (lid < h) {
            part[lid] += part[lid + h];
        }
        workgroupBarrier();
    }
    let inv = 1.0 / sqrt(part[0]);
    for (var j = lid; j < p.d; j += {{ wg }}u) {
        rows[base + j] *= inv;
    }
}
