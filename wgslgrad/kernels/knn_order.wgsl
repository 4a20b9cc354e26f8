{# knn-classifier's order of stored examples for one query, shared by knn_topk and knn_scan (the hosts
   that merge knn_scan's candidates sort by the same keys). #}
const NONE = 0xffffffffu;

// Whether (va, ra, ia) comes before (vb, rb, ib): similarity descending, then the class's rank in
// knn-classifier's concatenation, then the row (rows keep their insertion order); a missing candidate
// (row NONE) comes after everything.
fn before(va: f32, ra: u32, ia: u32, vb: f32, rb: u32, ib: u32) -> bool {
    if (ia == NONE) { return false; }
    if (ib == NONE) { return true; }
    if (va != vb) { return va > vb; }
    if (ra != rb) { return ra < rb; }
    return ia < ib;
}
