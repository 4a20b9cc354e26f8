{# A thread's k best so far, in knn-classifier's order (knn_order.wgsl), for knn_scan; the
   including kernel binds row_class and class_rank. #}
var<private> best_v: array<f32, {{ kmax }}>;
var<private> best_rank: array<u32, {{ kmax }}>;
var<private> best_row: array<u32, {{ kmax }}>;
var<private> worst_v: f32;      // best_*[p.k - 1] kept in registers: most rows fail the first test
var<private> worst_row: u32;

fn best_init() {
    for (var j = 0u; j < {{ kmax }}u; j++) {
        best_row[j] = NONE;
    }
    worst_v = 0.0;
    worst_row = NONE;
}

// Offer row r with similarity v: it joins the k best when it comes before the k-th.
fn offer(v: f32, r: u32) {
    if (worst_row != NONE && v < worst_v) {
        return;
    }
    let last = p.k - 1u;
    let rank = class_rank[row_class[r]];
    if (!before(v, rank, r, best_v[last], best_rank[last], best_row[last])) {
        return;
    }
    var i = last;
    loop {
        if (i == 0u || !before(v, rank, r, best_v[i - 1u], best_rank[i - 1u], best_row[i - 1u])) {
            break;
        }
        best_v[i] = best_v[i - 1u];
        best_rank[i] = best_rank[i - 1u];
        best_row[i] = best_row[i - 1u];
        i--;
    }
    best_v[i] = v;
    best_rank[i] = rank;
    best_row[i] = r;
    worst_v = best_v[last];
    worst_row = best_row[last];
}
