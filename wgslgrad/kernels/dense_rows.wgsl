{% from "_macros.wgsl" import per_element, finish as finish_value %}
// {{ comment }}
{% if cpu %}
// out[m, n] = {{ "f(sum_k A[m, k] * B[k, n] (+ bias[n]))" if op == "DENSE" else "sum_k A[m, k] * B[k, n]" }}; M={{ m }} N={{ n }} K={{ k }}, with no workgroup memory or barriers
// (the CPU Programs' product: {{ {"DENSE": "A = x or the image's windows, B = w, then the ops fused after it", "DENSE_DX": "dx = dy @ w.T, A = dy, B = w read transposed", "DENSE_DW": "dw = x.T @ dy, A = x or the image's windows read transposed, B = dy"}[op] }}).
{% elif op == "DENSE" %}
// out[m, n] = f(sum_k A[m, k] * B[k, n] (+ bias[n])); M={{ m }} N={{ n }} K={{ k }}, with no workgroup memory, barriers
// or split (a dense layer on few rows: A = x, B = w, then the ops fused after it).
{% else %}
// out[m, n] = sum_k A[m, k] * B[k, n]; M={{ m }} N={{ n }} K={{ k }}, with no workgroup memory, barriers or split (a
// dense layer's gradient on a small batch: {{ "dx = dy @ w.T, A = dy, B = w read transposed" if op == "DENSE_DX" else "dw = x.T @ dy, K the batch, an outer product per row" }}).
{% endif %}
{% if conv == "im2col" %}
// A[m, k] = the NHWC image {{ a.var }} at pixel m's window, tap (ky, kx, ci) = k (implicit im2col, HWIO order;
// zero in the padding), B[k, n] = {{ b.var }}[k * {{ sbk }} + n * {{ sbn }}].
{% elif conv == "im2col_t" %}
// A[m, k] = the NHWC image {{ a.var }} at output pixel k's window, tap (ky, kx, ci) = m (im2col read transposed:
// a conv's filter gradient; zero in the padding), B[k, n] = {{ b.var }}[k * {{ sbk }} + n * {{ sbn }}].
{% elif conv == "im2col_dx" %}
// A[m, k] = dy ({{ a.var }}, NHWC) at the output pixel that input pixel m meets through tap (ky, kx) of k = (ky, kx, co)
// (a transposed conv: zero where none does, at a stride's gaps and past the edges), B[k, n] = w[ky, kx, n, co].
{% else %}
// A[m, k] = {{ a.var }}[m * {{ sam }} + k * {{ sak }}], B[k, n] = {{ b.var }}[k * {{ sbk }} + n * {{ sbn }}].
{% endif %}
// Each thread keeps a {{ tm }}x{{ tn }} block of out in registers (rows m0 + r, columns n0 + c; a vec4 a row): each step of K
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

{% if chunks > 1 %}
// Split K: chunk c of {{ chunks }} sums k in [c*{{ kc }}, (c+1)*{{ kc }}) into partial[c, m, n]{{ " (the bias sums after its m*n)" if bias_sum else "" }}; a second kernel adds the chunks.
{{ per_element(wg, gx, threads * chunks) }}
    let chunk = i / {{ threads }}u;
    let j = i % {{ threads }}u;
    let n0 = (j % {{ blocks_n }}u) * {{ tn }}u;
    let m0 = (j / {{ blocks_n }}u) * {{ tm }}u;
    let k_begin = chunk * {{ kc }}u;
    let k_end = min(k_begin + {{ kc }}u, {{ k }}u);
    let to = {{ out.off }}u + chunk * {{ stride }}u;
{% else %}
{{ per_element(wg, gx, threads) }}
    let n0 = (i % {{ blocks_n }}u) * {{ tn }}u;
    let m0 = (i / {{ blocks_n }}u) * {{ tm }}u;
{% endif %}
{% for r in range(tm) %}
{% if conv == "im2col" %}
    // row {{ r }}'s pixel: its image's first float and its window's top-left corner
    let mr{{ r }} = min(m0 + {{ r }}u, {{ m - 1 }}u);
    let oy{{ r }} = i32(((mr{{ r }} / {{ wo }}u) % {{ ho }}u) * {{ sh }}u) - {{ pt }};
    let ox{{ r }} = i32((mr{{ r }} % {{ wo }}u) * {{ sw }}u) - {{ pl }};
    let xb{{ r }} = {{ a.off }}u + (mr{{ r }} / {{ wo * ho }}u) * {{ h * w * ci }}u;
{% elif conv == "im2col_t" %}
    // row {{ r }}'s tap and channel
    let mr{{ r }} = min(m0 + {{ r }}u, {{ m - 1 }}u);
    let c{{ r }} = mr{{ r }} % {{ ci }}u;
    let kx{{ r }} = i32((mr{{ r }} / {{ ci }}u) % {{ kw }}u) - {{ pl }};
    let ky{{ r }} = i32(mr{{ r }} / {{ ci * kw }}u) - {{ pt }};
{% elif conv == "im2col_dx" %}
    // row {{ r }}'s input pixel, moved by the padding: tap (ky, kx) meets output pixel ((y - ky) / sh, (x - kx) / sw)
    let mr{{ r }} = min(m0 + {{ r }}u, {{ m - 1 }}u);
    let y{{ r }} = i32((mr{{ r }} / {{ w }}u) % {{ h }}u) + {{ pt }};
    let x{{ r }} = i32(mr{{ r }} % {{ w }}u) + {{ pl }};
    let yb{{ r }} = {{ a.off }}u + (mr{{ r }} / {{ w * h }}u) * {{ ho * wo * co }}u;
{% else %}
    let am{{ r }} = {{ a.off }}u + min(m0 + {{ r }}u, {{ m - 1 }}u) * {{ sam }}u;
{% endif %}
{% endfor %}
{% for c in range(tn) %}
    let bn{{ c }} = {{ b.off }}u + min(n0 + {{ c }}u, {{ n - 1 }}u) * {{ sbn }}u;
{% endfor %}
{% for r in range(tm) %}
    var acc{{ r }} = vec4<f32>();   // row m0 + {{ r }}, columns n0 .. n0 + 3
{% endfor %}
{% if bias_sum %}
    var bsum = vec4<f32>();
{% endif %}
    for (var k = {{ "k_begin" if chunks > 1 else "0u" }}; k < {{ "k_end" if chunks > 1 else k ~ "u" }}; k++) {
{% if conv == "im2col" %}
        let c_k = k % {{ ci }}u;
        let kx_k = i32((k / {{ ci }}u) % {{ kw }}u);
        let ky_k = i32(k / {{ ci * kw }}u);
{% elif conv == "im2col_t" %}
        let ox_k = i32((k % {{ wo }}u) * {{ sw }}u);
        let oy_k = i32(((k / {{ wo }}u) % {{ ho }}u) * {{ sh }}u);
        let xb_k = {{ a.off }}u + (k / {{ wo * ho }}u) * {{ h * w * ci }}u;
{% elif conv == "im2col_dx" %}
        let co_k = k % {{ co }}u;
        let kx_k = i32((k / {{ co }}u) % {{ kw }}u);
        let ky_k = i32(k / {{ co * kw }}u);
        let wk = (k / {{ co }}u) * {{ ci * co }}u + co_k;   // w[ky, kx, 0, co]
{% endif %}
{% for r in range(tm) %}
{% if conv == "im2col_dx" %}
        let ty{{ r }} = y{{ r }} - ky_k;
        let tx{{ r }} = x{{ r }} - kx_k;
        let oy{{ r }} = clamp(ty{{ r }} / {{ sh }}, 0, {{ ho - 1 }});
        let ox{{ r }} = clamp(tx{{ r }} / {{ sw }}, 0, {{ wo - 1 }});
        let a{{ r }} = select(0.0, {{ a.var }}[yb{{ r }} + (u32(oy{{ r }}) * {{ wo }}u + u32(ox{{ r }})) * {{ co }}u + co_k],
                          ty{{ r }} >= 0 && tx{{ r }} >= 0 && ty{{ r }} == oy{{ r }} * {{ sh }} && tx{{ r }} == ox{{ r }} * {{ sw }});
{% elif conv %}
{% set at = ("xb" ~ r, "oy" ~ r ~ " + ky_k", "ox" ~ r ~ " + kx_k", "c_k") if conv == "im2col" else ("xb_k", "oy_k + ky" ~ r, "ox_k + kx" ~ r, "c" ~ r) %}
        let iy{{ r }} = {{ at[1] }};
        let ix{{ r }} = {{ at[2] }};
        let a{{ r }} = select(0.0, {{ a.var }}[{{ at[0] }} + (u32(clamp(iy{{ r }}, 0, {{ h - 1 }})) * {{ w }}u + u32(clamp(ix{{ r }}, 0, {{ w - 1 }}))) * {{ ci }}u + {{ at[3] }}],
                          iy{{ r }} >= 0 && iy{{ r }} < {{ h }} && ix{{ r }} >= 0 && ix{{ r }} < {{ w }});
{% else %}
        let a{{ r }} = {{ a.var }}[am{{ r }} + k{{ (" * " ~ sak ~ "u") if sak != 1 else "" }}];
{% endif %}
{% endfor %}
{% set kk = "wk" if conv == "im2col_dx" else "k" ~ ((" * " ~ sbk ~ "u") if sbk != 1 else "") %}
        let bk = vec4<f32>({% for c in range(4) %}{{ (b.var ~ "[bn" ~ c ~ " + " ~ kk ~ "]") if c < tn else "0.0" }}{{ ", " if not loop.last }}{% endfor %});
{% for r in range(tm) %}
        acc{{ r }} = fma(vec4<f32>(a{{ r }}), bk, acc{{ r }});
{% endfor %}
{% if bias_sum %}
        bsum += bk;
{% endif %}
    }
    // the stores (a loop the shader compiler unrolls)
{% set to = "to" if chunks > 1 else out.off ~ "u" if out else "" %}
{% for r in range(tm) %}
{% set inside = ([] if m % tm == 0 and not cpu else ["m0 + " ~ r ~ "u < " ~ m ~ "u"]) + ([] if n % tn == 0 and not cpu else ["n0 + c < " ~ n ~ "u"]) %}
    for (var c = 0u; c < {{ tn }}u; c++) {
{% if epilogue is not none %}
{% set store = "finish(acc" ~ r ~ "[c], (m0 + " ~ r ~ "u) * " ~ n ~ "u + n0 + c, n0 + c);" %}
{% else %}
{% set store = out.var ~ "[" ~ to ~ " + (m0 + " ~ r ~ "u) * " ~ n ~ "u + n0 + c] = acc" ~ r ~ "[c];" %}
{% endif %}
{% if inside %}
        if ({{ inside | join(" && ") }}) {
            {{ store }}
        }
{% else %}
        {{ store }}
{% endif %}
    }
{% endfor %}
{% if bias_sum %}
    if (m0 == 0u) {
        for (var c = 0u; c < {{ tn }}u; c++) {
{% set store = bias_sum.var ~ "[" ~ (("to + " ~ m * n ~ "u") if chunks > 1 else bias_sum.off ~ "u") ~ " + n0 + c] = bsum[c];" %}
{% if n % tn or cpu %}
            if (n0 + c < {{ n }}u) {
                {{ store }}
            }
{% else %}
            {{ store }}
{% endif %}
        }
    }
{% endif %}
}
