{% from "_macros.wgsl" import per_element, finish %}
// {{ comment }}
// out[m, n] = f(sum_k x[m, k] * w[k, n] (+ bias[n])) for a batch of {{ m }} rows (fewer than a 16-row tile):
// one thread per output element walks K={{ k }}; consecutive threads read consecutive columns of w.
{{ bindings }}

{{ per_element(wg, gx, m * n) }}
    let n = i % {{ n }}u;
    let xb = {{ x.off }}u + (i / {{ n }}u) * {{ k }}u;
    let wb = {{ wt.off }}u + n;
    var acc = 0.0;
    for (var k = 0u; k < {{ k }}u; k++) {
        acc = fma({{ x.var }}[xb + k], {{ wt.var }}[wb + k * {{ n }}u], acc);
    }
    let o = i;
{{ finish("acc", bias, "n", epilogue) }}
}
