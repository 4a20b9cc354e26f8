{% from "_macros.wgsl" import per_element, finish as finish_value %}
// {{ comment }}
// out[b, oy, ox, c] = sum over taps x[b, oy*{{ sh }}-{{ pt }}+ky, ox*{{ sw }}-{{ pl }}+kx, c / {{ mult }}] * w[ky, kx, c] (+ bias[c]);
// For CPU adapters (lower(shared_tiles=False)): each thread a block of {{ bc }} consecutive channels x {{ bx }} consecutive
// output columns of one output row, in registers, so that each load serves several multiply-adds (a CPU runs
// the loads and branches of a thread per output slower than its arithmetic). The window rows inside the image
{% if unroll %}
// are a loop; each row's {{ cols }} input columns are loaded once for all {{ kw }} taps of the block's columns.
{% else %}
// are a loop, and so are the taps of a row (too many to unroll): one load per tap, column and channel.
{% endif %}
// A column outside the image is read clamped into it and{{ " multiplied by 0" if mask else " never used" }}: no branch per tap.
{{ bindings }}

// output element o from its sum: the ops fused after the depthwise conv, then the stores
fn finish(acc: f32, o: u32) {
{{ finish_value("acc", none, "", epilogue) }}
}

{{ per_element(wg, gx, n) }}
    let c0 = (i % {{ cblocks }}u) * {{ bc }}u;
    let ox0 = (i / {{ cblocks }}u) % {{ xblocks }}u * {{ bx }}u;
    let oy = (i / {{ cblocks * xblocks }}u) % {{ ho }}u;
    let b = i / {{ cblocks * xblocks * ho }}u;
    let iy0 = i32(oy * {{ sh }}u) - {{ pt }};
    let left = i32(ox0 * {{ sw }}u) - {{ pl }};
    // x index of (b, 0, 0, c0 / {{ mult }}): channel c0 + c of the block reads x's channel c0 / {{ mult }} + c / {{ mult }}
    let xbase = {{ x.off }}u + b * {{ h * w * ci }}u + c0{{ " / %du" % mult if mult > 1 else "" }};
    let wbase = {{ wt.off }}u + c0;
{% if unroll %}
{% for q in range(cols) %}
    let col{{ q }} = xbase + u32(clamp(left + {{ q }}, 0, {{ w - 1 }})) * {{ ci }}u;
{% if mask %}
    let ok{{ q }} = select(0.0, 1.0, left + {{ q }} >= 0 && left + {{ q }} < {{ w }});
{% endif %}
{% endfor %}
{% endif %}
{% for c in range(bc) %}
    let bias{{ c }} = {{ bias.var ~ "[" ~ bias.off ~ "u + c0 + " ~ c ~ "u]" if bias else "0.0" }};
{% endfor %}
{% for j in range(bx) %}{% for c in range(bc) %}
    var acc{{ j }}_{{ c }} = bias{{ c }};
{% endfor %}{% endfor %}
    // window rows ky with 0 <= iy0 + ky < {{ h }}
    for (var ky = max(-iy0, 0); ky < min({{ kh }}, {{ h }} - iy0); ky++) {
        let row = u32(iy0 + ky) * {{ w * ci }}u;
        let wrow = wbase + u32(ky) * {{ kw * co }}u;
{% if unroll %}
{% for q in range(cols) %}{% for u in range(bci) %}
        let x{{ q }}_{{ u }} = {{ x.var }}[col{{ q }} + row + {{ u }}u]{{ " * ok" ~ q if mask else "" }};
{% endfor %}{% endfor %}
{% for kx in range(kw) %}
{% for c in range(bc) %}
        let w{{ kx }}_{{ c }} = {{ wt.var }}[wrow + {{ kx * co + c }}u];
{% for j in range(bx) %}
        acc{{ j }}_{{ c }} = fma(x{{ j * sw + kx }}_{{ c // mult }}, w{{ kx }}_{{ c }}, acc{{ j }}_{{ c }});
{% endfor %}
{% endfor %}
{% endfor %}
{% else %}
        for (var kx = 0; kx < {{ kw }}; kx++) {
{% for j in range(bx) %}
            let ix{{ j }} = left + kx + {{ j * sw }};
{% if mask %}
            let ok{{ j }} = select(0.0, 1.0, ix{{ j }} >= 0 && ix{{ j }} < {{ w }});
{% endif %}
            let col{{ j }} = xbase + row + u32(clamp(ix{{ j }}, 0, {{ w - 1 }})) * {{ ci }}u;
{% for u in range(bci) %}
            let x{{ j }}_{{ u }} = {{ x.var }}[col{{ j }} + {{ u }}u]{{ " * ok" ~ j if mask else "" }};
{% endfor %}
{% endfor %}
{% for c in range(bc) %}
            let wk{{ c }} = {{ wt.var }}[wrow + u32(kx) * {{ co }}u + {{ c }}u];
{% for j in range(bx) %}
            acc{{ j }}_{{ c }} = fma(x{{ j }}_{{ c // mult }}, wk{{ c }}, acc{{ j }}_{{ c }});
{% endfor %}
{% endfor %}
        }
{% endif %}
    }
    let o0 = ((b * {{ ho }}u + oy) * {{ wo }}u + ox0) * {{ co }}u + c0;
{% for j in range(bx) %}
{% if wo % bx and j %}
    if (ox0 + {{ j }}u < {{ wo }}u) {
{% for c in range(bc) %}
        finish(acc{{ j }}_{{ c }}, o0 + {{ j * co + c }}u);
{% endfor %}
    }
{% else %}
{% for c in range(bc) %}
    finish(acc{{ j }}_{{ c }}, o0 + {{ j * co + c }}u);
{% endfor %}
{% endif %}
{% endfor %}
}
