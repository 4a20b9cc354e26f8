{# One similarity, the arithmetic every KNN kernel uses (knn_similarity one row at a time, knn_scan four),
   so that a row's similarity is the same number in both: four partial sums over j mod 4, added as
   (s.x + s.y) + (s.z + s.w), then the d mod 4 leftover values in order. Queries are not normalised: a
   query's norm scales every similarity alike and leaves the order unchanged (the host scales the query by
   a power of two, exactly, so that its largest value is in [1, 2): no overflow, no underflow). #}
fn row_dot(e: u32, x: u32) -> f32 {
    let d4 = p.d & ~3u;
    var s = vec4<f32>(0.0);
    for (var j = 0u; j < d4; j += 4u) {
        s += vec4<f32>(examples[e + j], examples[e + j + 1u], examples[e + j + 2u], examples[e + j + 3u])
            * vec4<f32>(queries[x + j], queries[x + j + 1u], queries[x + j + 2u], queries[x + j + 3u]);
    }
    var t = (s.x + s.y) + (s.z + s.w);
    for (var j = d4; j < p.d; j++) {
        t += examples[e + j] * queries[x + j];
    }
    return t;
}
