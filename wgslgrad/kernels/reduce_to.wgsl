{% from "_macros.wgsl" import tree %}
// {{ comment }}
// dst[{{ "g * " ~ outs ~ " + " if groups_r > 1 else "" }}o] = sum over the {{ r }} reduced positions j of x[base(o) + offset(j)], for {{ outs }} outputs o.
// A workgroup of {{ cx }} outputs x {{ hy }} lanes: lane y adds positions y, y + {{ hy }}, ... of its chunk of
// {{ chunk }} (chunk g of {{ groups_r }}), then the lanes are added in workgroup memory.
// Axes (size, x stride) are innermost first; kept: {{ kept | length }}, reduced: {{ red | length }}.
{{ bindings }}

var<workgroup> part: array<f32, {{ cx * hy }}>;

@compute @workgroup_size({{ cx }}, {{ hy }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = wid.y * {{ gx }}u + wid.x;
    if (t >= {{ groups }}u) {
        return;
    }
    let o = (t % {{ otiles }}u) * {{ cx }}u + lid.x;
    let g = t / {{ otiles }}u;
    var s = 0.0;
    if (o < {{ outs }}u) {
        var base = {{ x.off }}u;
{% if kept %}
        var ro = o;
{% for d in kept %}
{% if loop.last %}
        base += ro * {{ d.stride }}u;
{% else %}
        base += (ro % {{ d.size }}u) * {{ d.stride }}u;
        ro = ro / {{ d.size }}u;
{% endif %}
{% endfor %}
{% endif %}
        let end = min((g + 1u) * {{ chunk }}u, {{ r }}u);
        for (var j = g * {{ chunk }}u + lid.y; j < end; j += {{ hy }}u) {
            var idx = base;
{% if red %}
            var q = j;
{% for d in red %}
{% if loop.last %}
            idx += q * {{ d.stride }}u;
{% else %}
            idx += (q % {{ d.size }}u) * {{ d.stride }}u;
            q = q / {{ d.size }}u;
{% endif %}
{% endfor %}
{% endif %}
            s += {{ x.var }}[idx];
        }
    }
    part[lid.y * {{ cx }}u + lid.x] = s;
    workgroupBarrier();
{{ tree(halves, "lid.y", "lid.y * " ~ cx ~ "u + lid.x", cx) }}
    if (lid.y == 0u && o < {{ outs }}u) {
        {{ dst.var }}[{{ dst.off }}u + g * {{ outs }}u + o] = part[lid.x];
    }
}
