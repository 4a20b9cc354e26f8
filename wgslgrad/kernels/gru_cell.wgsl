{% from "_macros.wgsl" import gru_gates, per_element, sigmoid_fn %}
// {{ comment }}: one GRU step (Keras' reset_after form) for {{ rows }} rows of {{ u }} units: gates z, r, h of
// x_t @ kernel + input bias in xg [rows, {{ 3 * u }}], of h_prev @ recurrent_kernel + recurrent bias in
// hg [{{ "rows, " if hg_rows else "" }}{{ 3 * u }}]{{ ", h_prev [rows, %d]" % u if h else " (h_prev = 0)" }}; out h [rows, {{ u }}] =
// z * h_prev + (1 - z) * tanh(xg_h + r * hg_h). One thread per (row, unit).
{{ bindings }}

{{ sigmoid_fn() }}

{{ per_element(wg, gx, n) }}
{{ gru_gates(xg, hg, u, hg_rows) }}
    let gn = tanh(clamp({{ xg.var }}[xr + {{ 2 * u }}u] + gr * {{ hg.var }}[hr + {{ 2 * u }}u], -15.0, 15.0));
{% if h %}
    {{ out.var }}[{{ out.off }}u + i] = gz * {{ h.var }}[{{ h.off }}u + i] + (1.0 - gz) * gn;
{% else %}
    {{ out.var }}[{{ out.off }}u + i] = (1.0 - gz) * gn;
{% endif %}
}
