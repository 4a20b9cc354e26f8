{# The KNN kernels' shared declarations: sizes live in a uniform, so the shaders never change as examples
   are added and the JS twin (export/knn.js) ships them rendered once. #}
struct Params {
    n: u32,        // stored examples (rows)
    d: u32,        // feature size
    q: u32,        // queries in this run
    k: u32,        // neighbours to pick (already min(k, n))
    classes: u32,  // class slots (votes per query)
    first: u32,    // knn_normalize: the first row to normalise
    count: u32,    // knn_normalize: how many rows
    pad: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
