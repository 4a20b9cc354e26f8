{% include "knn_params.wgsl" %}
// KNN, k <= {{ kmax }}: every similarity and a first top k in one pass, so that k candidates per thread are
// written (the host merges them: wgslgrad.knn.merge_candidates, knn.js's mergeCandidates) instead of every
// similarity. Each thread takes blocks of 4 consecutive rows
// (one query load serves 4 rows), strided over all threads (workgroups: x over the rows, y over the
// queries), and keeps the k best it saw. No barriers and no workgroup memory: on a CPU (SwiftShader,
// lavapipe) a workgroup runs on one core, and a barrier costs a switch of every invocation.
@group(0) @binding(1) var<storage, read> examples: array<f32>;
@group(0) @binding(2) var<storage, read> queries: array<f32>;
@group(0) @binding(3) var<storage, read> row_class: array<u32>;
@group(0) @binding(4) var<storage, read> class_rank: array<u32>;
@group(0) @binding(5) var<storage, read_write> cand: array<vec2<u32>>;   // [q, thread, k]: (bits of v, row)

{% include "knn_order.wgsl" %}
{% include "knn_best.wgsl" %}

@compute @workgroup_size({{ wg }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let t = wid.x * {{ wg }}u + lid;
    let threads = groups.x * {{ wg }}u;
    let x = wid.y * p.d;
    let d4 = p.d & ~3u;
    let last = p.n - 1u;
    best_init();
    for (var r0 = 4u * t; r0 < p.n; r0 += 4u * threads) {
        // rows past the end read the last row (in bounds) and are not offered; the arithmetic of each
        // row is knn_dot.wgsl's, so knn_similarity gives the same numbers
        let e0 = r0 * p.d;
        let e1 = min(r0 + 1u, last) * p.d;
        let e2 = min(r0 + 2u, last) * p.d;
        let e3 = min(r0 + 3u, last) * p.d;
        var s0 = vec4<f32>(0.0);
        var s1 = vec4<f32>(0.0);
        var s2 = vec4<f32>(0.0);
        var s3 = vec4<f32>(0.0);
        for (var j = 0u; j < d4; j += 4u) {
            let y = vec4<f32>(queries[x + j], queries[x + j + 1u], queries[x + j + 2u], queries[x + j + 3u]);
            s0 += vec4<f32>(examples[e0 + j], examples[e0 + j + 1u], examples[e0 + j + 2u], examples[e0 + j + 3u]) * y;
            s1 += vec4<f32>(examples[e1 + j], examples[e1 + j + 1u], examples[e1 + j + 2u], examples[e1 + j + 3u]) * y;
            s2 += vec4<f32>(examples[e2 + j], examples[e2 + j + 1u], examples[e2 + j + 2u], examples[e2 + j + 3u]) * y;
            s3 += vec4<f32>(examples[e3 + j], examples[e3 + j + 1u], examples[e3 + j + 2u], examples[e3 + j + 3u]) * y;
        }
        var v0 = (s0.x + s0.y) + (s0.z + s0.w);
        var v1 = (s1.x + s1.y) + (s1.z + s1.w);
        var v2 = (s2.x + s2.y) + (s2.z + s2.w);
        var v3 = (s3.x + s3.y) + (s3.z + s3.w);
        for (var j = d4; j < p.d; j++) {
            let y = queries[x + j];
            v0 += examples[e0 + j] * y;
            v1 += examples[e1 + j] * y;
            v2 += examples[e2 + j] * y;
            v3 += examples[e3 + j] * y;
        }
        offer(v0, r0);
        if (r0 + 1u < p.n) { offer(v1, r0 + 1u); }
        if (r0 + 2u < p.n) { offer(v2, r0 + 2u); }
        if (r0 + 3u < p.n) { offer(v3, r0 + 3u); }
    }
    let base = (wid.y * threads + t) * p.k;
    for (var j = 0u; j < p.k; j++) {
        cand[base + j] = vec2<u32>(bitcast<u32>(best_v[j]), best_row[j]);
    }
}
