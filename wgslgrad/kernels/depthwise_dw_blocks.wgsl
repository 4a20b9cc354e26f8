{% from "_macros.wgsl" import per_element %}
// {{ comment }}
// dw[ky, kx, c, m] = sum over p = (b, oy, ox) of x[b, oy*{{ sh }} + ky - {{ pt }}, ox*{{ sw }} + kx - {{ pl }}, c] * dy[b, oy, ox, c*{{ mult }} + m].
// For CPU adapters (lower(shared_tiles=False)), with no workgroup memory or barriers: each thread sums all {{ kh * kw }} taps of
// {{ bc }} consecutive channels o = c*{{ mult }} + m in registers over the segments of its chunk ({{ spc }} of the {{ segs }} segments of {{ bx }}
// positions along an output row), each segment's dy loaded once and each window row's {{ cols }} columns of x once for all
// its taps; then stores them in dst[{{ "chunk, " if chunks > 1 else "" }}ky, kx, o]{{ " (a second kernel sums the " ~ chunks ~ " chunks)" if chunks > 1 else "" }}. Positions past a row's end and
// window cells outside the image are read clamped into it and multiplied by 0.
{{ bindings }}

{{ per_element(wg, gx, n) }}
    let o0 = (i % {{ cblocks }}u) * {{ bc }}u;
    let chunk = i / {{ cblocks }}u;
{% for t in range(kh * kw) %}{% for c in range(bc) %}
    var acc{{ t }}_{{ c }} = 0.0;
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
        let iy0 = i32(oy * {{ sh }}u) - {{ pt }};
        let left = i32(ox0 * {{ sw }}u) - {{ pl }};
        // x index of (b, 0, 0, o0 / {{ mult }}): channel o0 + c reads x's channel o0 / {{ mult }} + c / {{ mult }}
        let xbase = {{ x.off }}u + b * {{ h * w * ci }}u + o0{{ " / %du" % mult if mult > 1 else "" }};
{% for q in range(cols) %}
        let col{{ q }} = xbase + u32(clamp(left + {{ q }}, 0, {{ w - 1 }})) * {{ ci }}u;
{% if mask_x %}
        let ok{{ q }} = select(0.0, 1.0, left + {{ q }} >= 0 && left + {{ q }} < {{ w }});
{% endif %}
{% endfor %}
{% for ky in range(kh) %}
        {
            let iy = iy0 + {{ ky }};
            let row = u32(clamp(iy, 0, {{ h - 1 }})) * {{ w * ci }}u;
{% if mask_y %}
            let rok = select(0.0, 1.0, iy >= 0 && iy < {{ h }});
{% endif %}
{% for q in range(cols) %}
{% set m = ("rok * ok" ~ q) if mask_x and mask_y else ("ok" ~ q if mask_x else ("rok" if mask_y else "")) %}
{% if mask_x and mask_y %}
            let m{{ q }} = rok * ok{{ q }};
{% set m = "m" ~ q %}
{% endif %}
{% for u in range(bci) %}
            let x{{ q }}_{{ u }} = {{ x.var }}[col{{ q }} + row + {{ u }}u]{{ " * " ~ m if m else "" }};
{% endfor %}
{% endfor %}
{% for kx in range(kw) %}{% for c in range(bc) %}{% for j in range(bx) %}
            acc{{ ky * kw + kx }}_{{ c }} = fma(x{{ j * sw + kx }}_{{ c // mult }}, d{{ j }}_{{ c }}, acc{{ ky * kw + kx }}_{{ c }});
{% endfor %}{% endfor %}{% endfor %}
        }
{% endfor %}
    }
    let at = {{ dst.off }}u{{ " + chunk * %du" % outs if chunks > 1 else "" }} + o0;
{% for t in range(kh * kw) %}{% for c in range(bc) %}
    {{ dst.var }}[at + {{ t * cm + c }}u] = acc{{ t }}_{{ c }};
{% endfor %}{% endfor %}
}
