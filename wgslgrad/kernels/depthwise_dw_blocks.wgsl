{% from "_macros.wgsl" import per_element, vtype, load_fn %}
// {{ comment }}
// dw[ky, kx, c, m] = sum over p = (b, oy, ox) of x[b, oy*{{ sh }} + ky - {{ pt }}, ox*{{ sw }} + kx - {{ pl }}, c] * dy[b, oy, ox, c*{{ mult }} + m].
// For CPU adapters (lower(shared_tiles=False)), with no workgroup memory or barriers: each thread sums the {{ kw }} taps of
// one window row ky for {{ bc }} consecutive channels o = c*{{ mult }} + m in registers over the segments of its chunk ({{ spc }} of the
// {{ segs }} segments of {{ bx }} positions along an output row), loading each segment's dy and its window row's {{ cols }} columns of x
// once for all those taps; then stores them in dst[{{ "chunk, " if chunks > 1 else "" }}ky, kx, o]{{ " (a second kernel sums the " ~ chunks ~ " chunks)" if chunks > 1 else "" }}. Positions past a row's end and
// window cells outside the image are read clamped into it and multiplied by 0.
{{ bindings }}

// the block's channels are a vector's lanes: lane c of load_dy and the sums is channel o0 + c, of load_x x's channel o0 / {{ mult }} + c / {{ mult }}
{{ load_fn("load_dy", dy.var, range(bc) | list) }}
{{ load_fn("load_x", x.var, xo) }}

// dst[a + c] = lane c of v
fn store(v: {{ vtype(bc) }}, a: u32) {
{% for c in range(bc) %}
    {{ dst.var }}[a{{ " + %du" % c if c else "" }}] = v{{ "[%d]" % c if bc > 1 else "" }};
{% endfor %}
}

{{ per_element(wg, gx, n) }}
    let o0 = (i % {{ cblocks }}u) * {{ bc }}u;
    let ky = (i / {{ cblocks }}u) % {{ kh }}u;
    let chunk = i / {{ cblocks * kh }}u;
{% for kx in range(kw) %}
    var acc{{ kx }} = {{ vtype(bc) }}(0.0);
{% endfor %}
    for (var s = chunk * {{ spc }}u; s < min(chunk * {{ spc }}u + {{ spc }}u, {{ segs }}u); s++) {
        let ox0 = s % {{ xsegs }}u * {{ bx }}u;
        let oy = (s / {{ xsegs }}u) % {{ ho }}u;
        let b = s / {{ xsegs * ho }}u;
        let drow = {{ dy.off }}u + (s / {{ xsegs }}u) * {{ wo * cm }}u + o0;
{% for j in range(bx) %}
{% if wo % bx %}
        let dok{{ j }} = select(0.0, 1.0, ox0 + {{ j }}u < {{ wo }}u);
        let dcol{{ j }} = drow + min(ox0 + {{ j }}u, {{ wo - 1 }}u) * {{ cm }}u;
{% else %}
        let dcol{{ j }} = drow + (ox0 + {{ j }}u) * {{ cm }}u;
{% endif %}
        let d{{ j }} = load_dy(dcol{{ j }}){{ " * dok" ~ j if wo % bx else "" }};
{% endfor %}
        let iy = i32(oy * {{ sh }}u + ky) - {{ pt }};
        let left = i32(ox0 * {{ sw }}u) - {{ pl }};
        // x index of (b, iy, 0, o0 / {{ mult }}): channel o0 + c reads x's channel o0 / {{ mult }} + c / {{ mult }}
        let xrow = {{ x.off }}u + b * {{ h * w * ci }}u + u32(clamp(iy, 0, {{ h - 1 }})) * {{ w * ci }}u + o0{{ " / %du" % mult if mult > 1 else "" }};
{% if mask_y %}
        let rok = select(0.0, 1.0, iy >= 0 && iy < {{ h }});
{% endif %}
{% for q in range(cols) %}
        let col{{ q }} = xrow + u32(clamp(left + {{ q }}, 0, {{ w - 1 }})) * {{ ci }}u;
{% if mask_x %}
        let ok{{ q }} = select(0.0, 1.0, left + {{ q }} >= 0 && left + {{ q }} < {{ w }}){{ " * rok" if mask_y else "" }};
{% endif %}
{% set m = ("ok" ~ q) if mask_x else ("rok" if mask_y else "") %}
        let x{{ q }} = load_x(col{{ q }}){{ " * " ~ m if m else "" }};
{% endfor %}
{% for kx in range(kw) %}{% for j in range(bx) %}
        acc{{ kx }} = fma(x{{ j * sw + kx }}, d{{ j }}, acc{{ kx }});
{% endfor %}{% endfor %}
    }
    let at = {{ dst.off }}u{{ " + chunk * %du" % outs if chunks > 1 else "" }} + ky * {{ kw * cm }}u + o0;
{% for kx in range(kw) %}
    store(acc{{ kx }}, at{{ " + %du" % (kx * cm) if kx else "" }});
{% endfor %}
}
