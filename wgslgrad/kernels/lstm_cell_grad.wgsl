{% from "_macros.wgsl" import per_element, sigmoid_fn %}
// {{ comment }}: the gradient of one LSTM step for {{ rows }} rows of {{ u }} units: from z, {{ "c_prev, " if c else "" }}and
// dout = [dh | dc] [rows, {{ 2 * u }}], out [rows, {{ width }}] = [dz (gates i, f, c, o){{ " | dc_prev" if c else "" }}].
// The gates are recomputed from z. One thread per (row, unit).
{{ bindings }}

{{ sigmoid_fn() }}

{{ per_element(wg, gx, n) }}
    let r = i / {{ u }}u;
    let j = i % {{ u }}u;
    let zr = {{ z.off }}u + r * {{ 4 * u }}u + j;
    let gi = sig({{ z.var }}[zr]);
    let gf = sig({{ z.var }}[zr + {{ u }}u]);
    let gg = tanh(clamp({{ z.var }}[zr + {{ 2 * u }}u], -15.0, 15.0));
    let go = sig({{ z.var }}[zr + {{ 3 * u }}u]);
{% if c %}
    let cp = {{ c.var }}[{{ c.off }}u + i];
    let c = gf * cp + gi * gg;
{% else %}
    let cp = 0.0;
    let c = gi * gg;
{% endif %}
    let tc = tanh(clamp(c, -15.0, 15.0));
    let drow = {{ dout.off }}u + r * {{ 2 * u }}u + j;
    let dh = {{ dout.var }}[drow];
    let dc = {{ dout.var }}[drow + {{ u }}u] + dh * go * (1.0 - tc * tc);
    let orow = {{ out.off }}u + r * {{ width }}u + j;
    {{ out.var }}[orow] = dc * gg * gi * (1.0 - gi);
    {{ out.var }}[orow + {{ u }}u] = dc * cp * gf * (1.0 - gf);
    {{ out.var }}[orow + {{ 2 * u }}u] = dc * gi * (1.0 - gg * gg);
    {{ out.var }}[orow + {{ 3 * u }}u] = dh * tc * go * (1.0 - go);
{% if c %}
    {{ out.var }}[orow + {{ 4 * u }}u] = dc * gf;
{% endif %}
}
