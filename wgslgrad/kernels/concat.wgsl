{% from "_macros.wgsl" import per_element %}
// {{ comment }}
// Copies {{ srcs | length }} source(s) into output channels [{{ c0 }}, {{ c0 + cc }}) of {{ rows }} rows of {{ cout }};
// one thread per copied element.
{{ bindings }}

{{ per_element(wg, gx, n) }}
    let r = i / {{ cc }}u;
    let c = i % {{ cc }}u;
    var v = 0.0;
{% for s in srcs %}
{% if loop.first %}
    if (c < {{ s.end }}u) {
{% else %}
    } else if (c < {{ s.end }}u) {
{% endif %}
        v = {{ s.x.var }}[{{ s.x.off }}u + r * {{ s.c }}u + c - {{ s.start }}u];
{% endfor %}
    }
    {{ out.var }}[{{ out.off }}u + r * {{ cout }}u + {{ c0 }}u + c] = v;
}
