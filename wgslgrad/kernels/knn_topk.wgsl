{% include "knn_params.wgsl" %}
// KNN: the k most similar stored examples of each query and their class votes, one workgroup per query,
// from all the similarities (knn_similarity); for k above knn_scan's {{ kmax }}.
// The order is knn-classifier's: similarity descending, ties to the example that comes first in its
// concatenation of the classes (class `rank`, then row, since rows keep their insertion order). Pick j is
// the best of the examples strictly after pick j-1 in that total order, so nothing is marked or copied.
@group(0) @binding(1) var<storage, read> sims: array<f32>;
@group(0) @binding(2) var<storage, read> row_class: array<u32>;
@group(0) @binding(3) var<storage, read> class_rank: array<u32>;
@group(0) @binding(4) var<storage, read_write> picks: array<u32>;   // [q, k] row indices
@group(0) @binding(5) var<storage, read_write> votes: array<u32>;   // [q, classes] by class slot

var<workgroup> best_v: array<f32, {{ wg }}>;
var<workgroup> best_rank: array<u32, {{ wg }}>;
var<workgroup> best_row: array<u32, {{ wg }}>;

{% include "knn_order.wgsl" %}

@compute @workgroup_size({{ wg }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let q = wid.x;
    let base = q * p.n;
    var last_v = 0.0;      // pick j - 1 (the first pick has none: j == 0 below)
    var last_rank = 0u;
    var last_row = 0u;
    if (lid == 0u) {
        for (var c = 0u; c < p.classes; c++) {
            votes[q * p.classes + c] = 0u;
        }
    }
    for (var j = 0u; j < p.k; j++) {
        var v = 0.0;
        var rk = 0u;
        var row = NONE;
        for (var r = lid; r < p.n; r += {{ wg }}u) {
            let cv = sims[base + r];
            let cr = class_rank[row_class[r]];
            if ((j == 0u || before(last_v, last_rank, last_row, cv, cr, r)) && before(cv, cr, r, v, rk, row)) {
                v = cv;
                rk = cr;
                row = r;
            }
        }
        best_v[lid] = v;
        best_rank[lid] = rk;
        best_row[lid] = row;
        workgroupBarrier();
        for (var h = {{ wg // 2 }}u; h > 0u; h >>= 1u) {
            if (lid < h && before(best_v[lid + h], best_rank[lid + h], best_row[lid + h],
                                  best_v[lid], best_rank[lid], best_row[lid])) {
                best_v[lid] = best_v[lid + h];
                best_rank[lid] = best_rank[lid + h];
                best_row[lid] = best_row[lid + h];
            }
            workgroupBarrier();
        }
        last_v = best_v[0];
        last_rank = best_rank[0];
        last_row = best_row[0];
        workgroupBarrier();   // everyone has read slot 0 before the next round overwrites it
        if (lid == 0u) {
            picks[q * p.k + j] = last_row;
            votes[q * p.classes + row_class[last_row]] += 1u;
        }
    }
}
