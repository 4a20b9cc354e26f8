{% include "knn_params.wgsl" %}
// KNN: similarities sims[q, r] = dot(examples[r], queries[q]) over the unit rows, one thread per stored
// example and query (workgroups: x over rows, y over queries). Only for k above knn_scan's {{ kmax }}.
@group(0) @binding(1) var<storage, read> examples: array<f32>;
@group(0) @binding(2) var<storage, read> queries: array<f32>;
@group(0) @binding(3) var<storage, read_write> sims: array<f32>;

{% include "knn_dot.wgsl" %}

@compute @workgroup_size({{ wg }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = wid.x * {{ wg }}u + lid;
    let q = wid.y;
    if (r >= p.n) {
        return;
    }
    sims[q * p.n + r] = row_dot(r * p.d, q * p.d);
}
