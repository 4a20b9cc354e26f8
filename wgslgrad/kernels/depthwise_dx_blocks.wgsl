{% from "_macros.wgsl" import per_element, finish as finish_value, vtype, load_fn, finish_block, store_columns %}
// {{ comment }}
// dx[b, h, w, c] = sum over taps and m of dy[b, oy, ox, c*{{ mult }} + m] * w[ky, kx, c, m], oy = (h + {{ pt }} - ky) / {{ sh }} (ox likewise), where whole.
// For CPU adapters (lower(shared_tiles=False)): each thread a block of {{ bc }} consecutive channels x {{ bx }} consecutive
// columns of one row of dx, in registers, so that each load serves several multiply-adds. {{ bx }} is a multiple of the
// stride {{ sw }}: column j of a block takes the taps kx = (j + {{ pl }}) mod {{ sw }} (mod {{ sw }}), known here. The window rows ky = (h + {{ pt }}) mod {{ sh }}
{% if unroll %}
// (mod {{ sh }}) that meet dy are a loop; each one's {{ cols }} dy columns are loaded once for all the block's taps.
{% else %}
// (mod {{ sh }}) that meet dy are a loop, and so are the taps of a row (too many to unroll): one load per tap and column.
{% endif %}
// A dy column outside dy is read clamped into it and{{ " multiplied by 0" if mask else " never used" }}: no branch per tap.
// Then the elementwise ops fused after it (the epilogue: the gradient's relu and sums), in registers.
{{ bindings }}

// output element o from its sum: the ops fused after the gradient, then the stores
fn finish(acc: f32, o: u32) {
{{ finish_value("acc", none, "", epilogue) }}
}
{{ finish_block(bc) }}
{% set finish_name = "finish" if bc == 1 else "finish_block" %}

// the block's channels are a vector's lanes: lane c of load_dy{m} reads dy's channel (c0 + c)*{{ mult }} + m, of load_w{m} w's likewise
{% for m in range(mult) %}
{{ load_fn("load_dy%d" % m, dy.var, eo[m]) }}
{{ load_fn("load_w%d" % m, wt.var, eo[m]) }}
{% endfor %}

{{ per_element(wg, gx, n) }}
    let c0 = (i % {{ cblocks }}u) * {{ bc }}u;
    let x0 = (i / {{ cblocks }}u) % {{ xblocks }}u * {{ bx }}u;
    let hh = (i / {{ cblocks * xblocks }}u) % {{ h }}u;
    let b = i / {{ cblocks * xblocks * h }}u;
    let hy = i32(hh) + {{ pt }};
    // dy index of (b, 0, 0, c0*{{ mult }}): channel c0 + c of the block reads dy's channels (c0 + c)*{{ mult }} + m
    let dybase = {{ dy.off }}u + b * {{ ho * wo * cm }}u + c0{{ " * %du" % mult if mult > 1 else "" }};
    let wbase = {{ wt.off }}u + c0{{ " * %du" % mult if mult > 1 else "" }};
{% if unroll %}
    // dy column of window column q: left + q
    let left = i32(x0 / {{ sw }}u) {{ "+ %d" % dmin if dmin >= 0 else "- %d" % -dmin }};
{% for q in range(cols) %}
    let col{{ q }} = dybase + u32(clamp(left + {{ q }}, 0, {{ wo - 1 }})) * {{ cm }}u;
{% if mask %}
    let ok{{ q }} = select(0.0, 1.0, left + {{ q }} >= 0 && left + {{ q }} < {{ wo }});
{% endif %}
{% endfor %}
{% endif %}
{% for j in range(bx) %}
    var acc{{ j }} = {{ vtype(bc) }}(0.0);
{% endfor %}
    // taps ky = hy - oy*{{ sh }} of the dy rows 0 <= oy < {{ ho }}, ky < {{ kh }}
    let lo = max(hy - {{ (ho - 1) * sh }}, 0);
    for (var ky = lo{{ " + (hy - lo) %% %d" % sh if sh > 1 else "" }}; ky <= min({{ kh - 1 }}, hy); ky += {{ sh }}) {
        let row = u32((hy - ky){{ " / %d" % sh if sh > 1 else "" }}) * {{ wo * cm }}u;
        let wrow = wbase + u32(ky) * {{ kw * ch * mult }}u;
{% if unroll %}
{% for q in range(cols) %}{% for m in range(mult) %}
        let d{{ q }}_{{ m }} = load_dy{{ m }}(col{{ q }} + row){{ " * ok" ~ q if mask else "" }};
{% endfor %}{% endfor %}
{% for t in taps %}{% for m in range(mult) %}
        let w{{ t.kx }}_{{ m }} = load_w{{ m }}(wrow{{ " + %du" % (t.kx * ch * mult) if t.kx else "" }});
{% for j, q in t.uses %}
        acc{{ j }} = fma(d{{ q }}_{{ m }}, w{{ t.kx }}_{{ m }}, acc{{ j }});
{% endfor %}
{% endfor %}{% endfor %}
{% else %}
        for (var kx = 0; kx < {{ kw }}; kx++) {
            let wk = wrow + u32(kx) * {{ ch * mult }}u;
{% for j in range(bx) %}
            // column x0 + {{ j }}: dy column t / {{ sw }} where t = x0 + {{ j }} + {{ pl }} - kx is a multiple of {{ sw }}
            let t{{ j }} = i32(x0) + {{ j + pl }} - kx;
            let ok{{ j }} = select(0.0, 1.0, t{{ j }} >= 0 && t{{ j }} < {{ wo * sw }}{{ " && t%d %% %d == 0" % (j, sw) if sw > 1 else "" }});
            let col{{ j }} = dybase + row + u32(clamp(t{{ j }}, 0, {{ (wo - 1) * sw }}){{ " / %d" % sw if sw > 1 else "" }}) * {{ cm }}u;
{% for m in range(mult) %}
            acc{{ j }} = fma(load_dy{{ m }}(col{{ j }}) * ok{{ j }}, load_w{{ m }}(wk), acc{{ j }});
{% endfor %}
{% endfor %}
        }
{% endif %}
    }
    let o0 = ((b * {{ h }}u + hh) * {{ w }}u + x0) * {{ ch }}u + c0;
{{ store_columns(bx, w, "x0", ch, finish_name) -}}
}
