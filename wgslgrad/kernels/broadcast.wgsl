{% from "_macros.wgsl" import per_element %}
// {{ comment }}: out[i] = x[ix]{{ " * " ~ scale if scale else "" }} over {{ n }} elements, one thread each (NumPy broadcasting).
// Axes are collapsed in Python; each has (size, x stride), innermost first; stride 0 repeats x.
{{ bindings }}

{{ per_element(wg, gx, n) }}
    var ix = {{ x.off }}u;
    var r = i;
{% for d in axes %}
    {
{% if loop.last %}
        let c = r;
{% else %}
        let c = r % {{ d.size }}u;
        r = r / {{ d.size }}u;
{% endif %}
{% if d.sa %}
        ix += c * {{ d.sa }}u;
{% endif %}
    }
{% endfor %}
{% if scale %}
    {{ out.var }}[{{ out.off }}u + i] = {{ x.var }}[ix] * {{ scale }};
{% else %}
    {{ out.var }}[{{ out.off }}u + i] = {{ x.var }}[ix];
{% endif %}
}
