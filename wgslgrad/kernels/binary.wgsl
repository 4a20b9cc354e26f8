// {{ comment }}: out[i] = f(a[ia], b[ib]) with broadcasting over {{ n }} elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
{{ bindings }}

@compute @workgroup_size({{ wg }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * {{ gx }}u + wid.x) * {{ wg }}u + lid;
    if (i >= {{ n }}u) {
        return;
    }
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
