{% from "_macros.wgsl" import per_element, finish %}
// {{ comment }}
// dx[b, h, w, c] = sum over taps and m of dy[b, oy, ox, c*{{ mult }} + m] * w[ky, kx, c, m], oy = (h + {{ pt }} - ky) / {{ sh }} (ox likewise).
// One thread per input element. Only the taps with ky = (h + {{ pt }}) mod {{ sh }} (mod {{ sh }}; kx likewise) reach an output
{% if unroll %}
// position: one branch per stride phase, each with just its taps unrolled and their offsets computed in Python.
{% else %}
// position: a loop over those taps (too many phases or taps to unroll).
{% endif %}
// Then the elementwise ops fused after it (the epilogue: the gradient's relu and sums), in registers.
{{ bindings }}

{{ per_element(wg, gx, n) }}
    let c = i % {{ ch }}u;
    let w = (i / {{ ch }}u) % {{ w }}u;
    let h = (i / {{ ch * w }}u) % {{ h }}u;
    let b = i / {{ ch * w * h }}u;
    let hy = h + {{ pt }}u;
    let wx = w + {{ pl }}u;
    // output position of tap (ry, rx), the phase's first; tap (ry + ti*{{ sh }}, rx + tj*{{ sw }}) reads (qy - ti, qx - tj)
    let qy = i32(hy / {{ sh }}u);
    let qx = i32(wx / {{ sw }}u);
    // dy index of (b, qy, qx, c*{{ mult }}), possibly outside dy; each tap subtracts its own offset
    let base = i32({{ dy.off }}u + b * {{ ho * wo * cm }}u + c * {{ mult }}u) + (qy * {{ wo }} + qx) * {{ cm }};
    let wbase = {{ wt.off }}u + c * {{ mult }}u;
    var acc = 0.0;
{% if not unroll %}
    // taps ky = hy % {{ sh }} + ti*{{ sh }} <= hy (oy = (hy - ky) / {{ sh }} >= 0), kept while oy < {{ ho }}; kx likewise
    for (var ky = hy % {{ sh }}u; ky < min({{ kh }}u, hy + 1u); ky += {{ sh }}u) {
        let oy = (hy - ky) / {{ sh }}u;
        if (oy >= {{ ho }}u) {
            continue;
        }
        for (var kx = wx % {{ sw }}u; kx < min({{ kw }}u, wx + 1u); kx += {{ sw }}u) {
            let ox = (wx - kx) / {{ sw }}u;
            if (ox >= {{ wo }}u) {
                continue;
            }
            let d = {{ dy.off }}u + ((b * {{ ho }}u + oy) * {{ wo }}u + ox) * {{ cm }}u + c * {{ mult }}u;
            let k = {{ wt.off }}u + (ky * {{ kw }}u + kx) * {{ ch * mult }}u + c * {{ mult }}u;
            for (var m = 0u; m < {{ mult }}u; m++) {
                acc = fma({{ dy.var }}[d + m], {{ wt.var }}[k + m], acc);
            }
        }
    }
{% endif %}
{% for ph in phases %}
{% if ph.cond %}
    {{ "if" if loop.first else "} else if" }} ({{ ph.cond }}) {
{% endif %}
{% for t in ph.taps %}
    if (qy >= {{ t.ti }} && qy < {{ ho + t.ti }} && qx >= {{ t.tj }} && qx < {{ wo + t.tj }}) {
{% if mult == 1 %}
        acc = fma({{ dy.var }}[u32(base - {{ t.ddy }})], {{ wt.var }}[wbase + {{ t.dw }}u], acc);
{% else %}
        for (var m = 0u; m < {{ mult }}u; m++) {
            acc = fma({{ dy.var }}[u32(base - {{ t.ddy }}) + m], {{ wt.var }}[wbase + {{ t.dw }}u + m], acc);
        }
{% endif %}
    }
{% endfor %}
{% endfor %}
{% if phases and phases[0].cond %}
    }
{% endif %}
    let o = i;
{{ finish("acc", none, "", epilogue) }}
}
