{% from "_macros.wgsl" import per_element, sigmoid_fn %}
// {{ comment }}: one LSTM step for {{ rows }} rows of {{ u }} units, gates i, f, c, o in z [rows, {{ 4 * u }}];
// out [rows, {{ 2 * u }}] = [h | c]. One thread per (row, unit).
{{ bindings }}

{{ sigmoid_fn() }}

{{ per_element(wg, gx, n) }}
    let r = i / {{ u }}u;
    let j = i % {{ u }}u;
    let zr = {{ z.off }}u + r * {{ 4 * u }}u + j;
    let gi = sig({{ z.var }}[zr]);
    let gg = tanh(clamp({{ z.var }}[zr + {{ 2 * u }}u], -15.0, 15.0));
    let go = sig({{ z.var }}[zr + {{ 3 * u }}u]);
{% if c %}
    let gf = sig({{ z.var }}[zr + {{ u }}u]);
    let c = gf * {{ c.var }}[{{ c.off }}u + i] + gi * gg;
{% else %}
    let c = gi * gg;
{% endif %}
    let orow = {{ out.off }}u + r * {{ 2 * u }}u + j;
    {{ out.var }}[orow] = go * tanh(clamp(c, -15.0, 15.0));
    {{ out.var }}[orow + {{ u }}u] = c;
}
