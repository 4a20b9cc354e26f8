{% include "knn_params.wgsl" %}
// KNN, k <= {{ kmax }}: the k best of knn_scan's candidates of each query (p.count a query, NONE where a
// thread saw fewer than k rows) and their class votes, one thread a query: the candidates are a few
// thousand at most.
@group(0) @binding(1) var<storage, read> cand: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> row_class: array<u32>;
@group(0) @binding(3) var<storage, read> class_rank: array<u32>;
@group(0) @binding(4) var<storage, read_write> picks: array<u32>;   // [q, k] row indices
@group(0) @binding(5) var<storage, read_write> votes: array<u32>;   // [q, classes] by class slot

{% include "knn_order.wgsl" %}
{% include "knn_best.wgsl" %}

@compute @workgroup_size(1)
fn main(@builtin(workgroup_id) wid: vec3<u32>) {
    let q = wid.x;
    best_init();
    for (var c = q * p.count; c < (q + 1u) * p.count; c++) {
        let e = cand[c];
        if (e.y != NONE) {
            offer(bitcast<f32>(e.x), e.y);
        }
    }
    for (var c = 0u; c < p.classes; c++) {
        votes[q * p.classes + c] = 0u;
    }
    for (var j = 0u; j < p.k; j++) {
        picks[q * p.k + j] = best_row[j];
        votes[q * p.classes + row_class[best_row[j]]] += 1u;
    }
}
