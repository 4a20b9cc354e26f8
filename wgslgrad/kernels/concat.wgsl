// {{ comment }}
// Copies {{ srcs | length }} source(s) into output channels [{{ c0 }}, {{ c0 + cc }}) of {{ rows }} rows of {{ cout }};
// one thread per copied element.
{{ bindings }}

@compute @workgroup_size({{ wg }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * {{ gx }}u + wid.x) * {{ wg }}u + lid;
    if (i >= {{ n }}u) {
        return;
    }
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
