{% from "_macros.wgsl" import broadcast_index, per_element %}
// {{ comment }}: out[i] = x[ix]{{ " * " ~ scale if scale else "" }} over {{ n }} elements, one thread each (NumPy broadcasting).
// Axes are collapsed in Python; each has (size, x stride), innermost first; stride 0 repeats x.
{{ bindings }}

{{ per_element(wg, gx, n) }}
{{ broadcast_index(axes, [("ix", x.off, "sa")]) }}
{% if scale %}
    {{ out.var }}[{{ out.off }}u + i] = {{ x.var }}[ix] * {{ scale }};
{% else %}
    {{ out.var }}[{{ out.off }}u + i] = {{ x.var }}[ix];
{% endif %}
}
