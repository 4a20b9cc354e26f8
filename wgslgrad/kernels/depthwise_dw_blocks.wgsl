{% from "_macros.wgsl" import per_element %}
// {{ comment }}
// dw[ky, kx, c, m] = sum over p = (b, oy, ox) of x[b, oy*{{ sh }} + ky - {{ pt }}, ox*{{ sw }} + kx - {{ pl }}, c] * dy[b, oy, ox, c*{{ mult }} + m].
// For CPU adapters (lower(shared_tiles=False)), with no workgroup memory or barriers: each thread sums the {{ kw }} taps of
// one window row ky for {{ bc }} consecutive channels o = c*{{ mult }} + m in registers over the segments of its chunk ({{ spc }} of the
// {{ segs }} segments of {{ bx }} positions along an output row), loading each segment's dy and its window row's {{ cols }} columns of x
// once for all those taps; then stores them in dst[{{ "chunk, " if chunks > 1 else "" }}ky, kx, o]{{ " (a second kernel sums the " ~ chunks ~ " chunks)" if chunks > 1 else "" }}. Positions past a row's end and
// window cells outside the image are read clamped into it and multiplied by 0.
{{ bindings }}

{{ per_element(wg, gx, n) }}
    let o0 = (i % {{ cblocks }}u) * {{ bc }}u;
    let ky = (i / {{ cblocks }}u) % {{ kh }}u;
    let chunk = i / {{ cblocks * kh }}u;
{% for kx in range(kw) %}{% for c in range(bc) %}
    var acc{{ kx }}_{{ c }} = 0.0;
{% endfor %}{% endfor %}
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
{% for c in range(bc) %}
        let d{{ j }}_{{ c }} = {{ dy.var }}[dcol{{ j }} + {{ c }}u]{{ " * dok" ~ j if wo % bx else "" }};
{% endfor %}
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
{% for u in range(bci) %}
        let x{{ q }}_{{ u }} = {{ x.var }}[col{{ q }} + {{ u }}u]{{ " * " ~ m if m else "" }};
{% endfor %}
{% endfor %}
{% for kx in range(kw) %}{% for c in range(bc) %}{% for j in range(bx) %}
        acc{{ kx }}_{{ c }} = fma(x{{ j * sw + kx }}_{{ c // mult }}, d{{ j }}_{{ c }}, acc{{ kx }}_{{ c }});
{% endfor %}{% endfor %}{% endfor %}
    }
    let at = {{ dst.off }}u{{ " + chunk * %du" % outs if chunks > 1 else "" }} + ky * {{ kw * cm }}u + o0;
{% for kx in range(kw) %}{% for c in range(bc) %}
    {{ dst.var }}[at + {{ kx * cm + c }}u] = acc{{ kx }}_{{ c }};
{% endfor %}{% endfor %}
}
