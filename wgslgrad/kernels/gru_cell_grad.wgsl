{% from "_macros.wgsl" import gru_gates, per_element, sigmoid_fn %}
// {{ comment }}: the gradient of one GRU step (Keras' reset_after form) for {{ rows }} rows of {{ u }} units: from
// xg, hg{{ ", h_prev" if h else "" }} and dh [rows, {{ u }}], out [rows, {{ width }}] = [dxg (z, r, h) | dhg (z, r, h){{ " | dh_prev" if h else "" }}]
// (dhg per row: the rule sums it over the rows where hg is one row). The gates are recomputed. One thread
// per (row, unit).
{{ bindings }}

{{ sigmoid_fn() }}

{{ per_element(wg, gx, n) }}
{{ gru_gates(xg, hg, u, hg_rows) }}
    let hh = {{ hg.var }}[hr + {{ 2 * u }}u];
    let gn = tanh(clamp({{ xg.var }}[xr + {{ 2 * u }}u] + gr * hh, -15.0, 15.0));
{% if h %}
    let hp = {{ h.var }}[{{ h.off }}u + i];
{% else %}
    let hp = 0.0;
{% endif %}
    let dh = {{ dout.var }}[{{ dout.off }}u + i];
    let dn = dh * (1.0 - gz) * (1.0 - gn * gn);
    let dz = dh * (hp - gn) * gz * (1.0 - gz);
    let dr = dn * hh * gr * (1.0 - gr);
    let orow = {{ out.off }}u + row * {{ width }}u + j;
    {{ out.var }}[orow] = dz;
    {{ out.var }}[orow + {{ u }}u] = dr;
    {{ out.var }}[orow + {{ 2 * u }}u] = dn;
    {{ out.var }}[orow + {{ 3 * u }}u] = dz;
    {{ out.var }}[orow + {{ 4 * u }}u] = dr;
    {{ out.var }}[orow + {{ 5 * u }}u] = dn * gr;
{% if h %}
    {{ out.var }}[orow + {{ 6 * u }}u] = dh * gz;
{% endif %}
}
