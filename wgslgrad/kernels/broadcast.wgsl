// {{ comment }}: out[i] = x[ix]{{ " * " ~ scale if scale else "" }} over {{ n }} elements, one thread each (NumPy broadcasting).
// Axes are collapsed in Python; each has (size, x stride), innermost first; stride 0 repeats x.
{{ bindings }}

@compute @workgroup_size({{ wg }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * {{ gx }}u + wid.x) * {{ wg }}u + lid;
    if (i >= {{ n }}u) {
        return;
    }
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
