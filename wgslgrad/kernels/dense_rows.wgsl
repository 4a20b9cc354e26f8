{% from "_macros.wgsl" import per_element, finish as finish_value %}
// {{ comment }}
{% if op == "DENSE" %}
// out[m, n] = f(sum_k A[m, k] * B[k, n] (+ bias[n])); M={{ m }} N={{ n }} K={{ k }}, with no workgroup memory, barriers
// or split (a dense layer on few rows: A = x, B = w, then the ops fused after it).
{% else %}
// out[m, n] = sum_k A[m, k] * B[k, n]; M={{ m }} N={{ n }} K={{ k }}, with no workgroup memory, barriers or split (a
// dense layer's gradient on a small batch: {{ "dx = dy @ w.T, A = dy, B = w read transposed" if op == "DENSE_DX" else "dw = x.T @ dy, K the batch, an outer product per row" }}).
{% endif %}
// A[m, k] = {{ a.var }}[m * {{ sam }} + k * {{ sak }}], B[k, n] = {{ b.var }}[k * {{ sbk }} + n * {{ sbn }}].
// Each thread keeps a {{ tm }}x{{ tn }} block of out in registers (rows m0 + r, columns n0 + c): each step of K
// costs it {{ tm + tn }} loads for {{ tm * tn }} products; consecutive threads take consecutive blocks along n.
// Reads past the last row or column are clamped to it, and their results not stored.
{% if bias_sum %}
// The threads of the first block row also sum B over K: the bias gradient (sum of dy over the batch).
{% endif %}
{{ bindings }}
{% if epilogue is not none %}

// output element o (column col) from its sum: the bias and the ops fused after the product, then the stores
fn finish(acc: f32, o: u32, col: u32) {
{{ finish_value("acc", bias, "col", epilogue) }}
}
{% endif %}

{{ per_element(wg, gx, threads) }}
    let n0 = (i % {{ blocks_n }}u) * {{ tn }}u;
    let m0 = (i / {{ blocks_n }}u) * {{ tm }}u;
{% for r in range(tm) %}
    let am{{ r }} = {{ a.off }}u + min(m0 + {{ r }}u, {{ m - 1 }}u) * {{ sam }}u;
{% endfor %}
{% for c in range(tn) %}
    let bn{{ c }} = {{ b.off }}u + min(n0 + {{ c }}u, {{ n - 1 }}u) * {{ sbn }}u;
{% endfor %}
{% for r in range(tm) %}{% for c in range(tn) %}
    var acc{{ r }}_{{ c }} = 0.0;
{% endfor %}{% endfor %}
{% if bias_sum %}
{% for c in range(tn) %}
    var bsum{{ c }} = 0.0;
{% endfor %}
{% endif %}
    for (var k = 0u; k < {{ k }}u; k++) {
{% for r in range(tm) %}
        let a{{ r }} = {{ a.var }}[am{{ r }} + k{{ (" * " ~ sak ~ "u") if sak != 1 else "" }}];
{% endfor %}
{% for c in range(tn) %}
        let b{{ c }} = {{ b.var }}[bn{{ c }} + k{{ (" * " ~ sbk ~ "u") if sbk != 1 else "" }}];
{% endfor %}
{% for r in range(tm) %}{% for c in range(tn) %}
        acc{{ r }}_{{ c }} = fma(a{{ r }}, b{{ c }}, acc{{ r }}_{{ c }});
{% endfor %}{% endfor %}
{% if bias_sum %}
{% for c in range(tn) %}
        bsum{{ c }} += b{{ c }};
{% endfor %}
{% endif %}
    }
{% for r in range(tm) %}{% for c in range(tn) %}
{% set inside = ([] if m % tm == 0 else ["m0 + " ~ r ~ "u < " ~ m ~ "u"]) + ([] if n % tn == 0 else ["n0 + " ~ c ~ "u < " ~ n ~ "u"]) %}
{% if epilogue is not none %}
{% set call = "finish(acc" ~ r ~ "_" ~ c ~ ", (m0 + " ~ r ~ "u) * " ~ n ~ "u + n0 + " ~ c ~ "u, n0 + " ~ c ~ "u);" %}
{% if inside %}
    if ({{ inside | join(" && ") }}) {
        {{ call }}
    }
{% else %}
    {{ call }}
{% endif %}
{% elif inside %}
    if ({{ inside | join(" && ") }}) {
        {{ out.var }}[{{ out.off }}u + (m0 + {{ r }}u) * {{ n }}u + n0 + {{ c }}u] = acc{{ r }}_{{ c }};
    }
{% else %}
    {{ out.var }}[{{ out.off }}u + (m0 + {{ r }}u) * {{ n }}u + n0 + {{ c }}u] = acc{{ r }}_{{ c }};
{% endif %}
{% endfor %}{% endfor %}
{% if bias_sum %}
{% for c in range(tn) %}
    if (m0 == 0u && n0 + {{ c }}u < {{ n }}u) {
        {{ bias_sum.var }}[{{ bias_sum.off }}u + n0 + {{ c }}u] = bsum{{ c }};
    }
{% endfor %}
{% endif %}
}
