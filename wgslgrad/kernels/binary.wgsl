{% from "_macros.wgsl" import per_element %}
// {{ comment }}: out[i] = f(a[ia], b[ib]) with broadcasting over {{ n }} elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
{{ bindings }}

{{ per_element(wg, gx, n) }}
    var ia = {{ a.off }}u;
    var ib = {{ b.off }}u;
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
        ia += c * {{ d.sa }}u;
{% endif %}
{% if d.sb %}
        ib += c * {{ d.sb }}u;
{% endif %}
    }
{% endfor %}
    let va = {{ a.var }}[ia];
    let vb = {{ b.var }}[ib];
    {{ out.var }}[{{ out.off }}u + i] = {{ expr }};
}
