{% from "_macros.wgsl" import per_element %}
// {{ comment }}
// Copies {{ srcs | length }} source(s) of [outer, {{ inner }}] into entries [{{ k0 }}, {{ k0 + srcs | length }}) of the
// stacked axis (of {{ count }}); one thread per copied element.
{{ bindings }}

{{ per_element(wg, gx, n) }}
    let k = i % {{ inner }}u;
    let j = (i / {{ inner }}u) % {{ srcs | length }}u;
    let o = i / ({{ inner }}u * {{ srcs | length }}u);
    var v = 0.0;
{% for s in srcs %}
    {% if not loop.first %}} else {% endif %}if (j == {{ loop.index0 }}u) {
        v = {{ s.var }}[{{ s.off }}u + o * {{ inner }}u + k];
{% endfor %}
    }
    {{ out.var }}[{{ out.off }}u + (o * {{ count }}u + {{ k0 }}u + j) * {{ inner }}u + k] = v;
}
