{% from "_macros.wgsl" import broadcast_index, per_element %}
// {{ comment }}: out[i] = f(a[ia], b[ib]) with broadcasting over {{ n }} elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
{{ bindings }}

{{ per_element(wg, gx, n) }}
{{ broadcast_index(axes, [("ia", a.off, "sa"), ("ib", b.off, "sb")]) }}
    let va = {{ a.var }}[ia];
    let vb = {{ b.var }}[ib];
    {{ out.var }}[{{ out.off }}u + i] = {{ expr }};
}
