{% from "_macros.wgsl" import per_element, finish as finish_value, lanes, vtype, load_fn, finish_block, store_columns %}
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
{{ finish_block(bc) }}
{% set finish_name = "finish" if bc == 1 else "finish_block" %}

// the block's channels are a vector's lanes: lane c of load_x reads x's channel c0 / {{ mult }} + c / {{ mult }}, of load_w
// and of the sums channel c0 + c
{{ load_fn("load_x", x.var, xo) }}
{{ load_fn("load_w", wt.var, range(bc) | list) }}

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
{% set co_ = range(bc) | list %}
{% for j in range(bx) %}
    var acc{{ j }} = {{ lanes(bias.var, bias.off ~ "u + c0", co_) if bias else vtype(bc) ~ "(0.0)" }};
{% endfor %}
    // window rows ky with 0 <= iy0 + ky < {{ h }}
    for (var ky = max(-iy0, 0); ky < min({{ kh }}, {{ h }} - iy0); ky++) {
        let row = u32(iy0 + ky) * {{ w * ci }}u;
        let wrow = wbase + u32(ky) * {{ kw * co }}u;
{% if unroll %}
{% for q in range(cols) %}
        let x{{ q }} = load_x(col{{ q }} + row){{ " * ok" ~ q if mask else "" }};
{% endfor %}
{% for kx in range(kw) %}
        let w{{ kx }} = load_w(wrow{{ " + %du" % (kx * co) if kx else "" }});
{% for j in range(bx) %}
        acc{{ j }} = fma(x{{ j * sw + kx }}, w{{ kx }}, acc{{ j }});
{% endfor %}
{% endfor %}
{% else %}
        for (var kx = 0; kx < {{ kw }}; kx++) {
            let wk = load_w(wrow + u32(kx) * {{ co }}u);
{% for j in range(bx) %}
            let ix{{ j }} = left + kx + {{ j * sw }};
{% if mask %}
            let ok{{ j }} = select(0.0, 1.0, ix{{ j }} >= 0 && ix{{ j }} < {{ w }});
{% endif %}
            let col{{ j }} = xbase + row + u32(clamp(ix{{ j }}, 0, {{ w - 1 }})) * {{ ci }}u;
            acc{{ j }} = fma(load_x(col{{ j }}){{ " * ok" ~ j if mask else "" }}, wk, acc{{ j }});
{% endfor %}
        }
{% endif %}
    }
    let o0 = ((b * {{ ho }}u + oy) * {{ wo }}u + ox0) * {{ co }}u + c0;
{{ store_columns(bx, wo, "ox0", co, finish_name) -}}
}
