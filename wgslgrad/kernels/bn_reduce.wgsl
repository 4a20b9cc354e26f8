{% from "_macros.wgsl" import tree %}
// {{ comment }}
{% if kind == "stats" %}
// stats[c] = mean, stats[{{ c }} + c] = biased variance of x[r, c] over its {{ rows }} rows r (two passes), and
// moving_mean, moving_variance moved toward them: m = m * {{ momentum }} + s * (1 - {{ momentum }}).
{% else %}
// dgamma[c] = sum over the {{ rows }} rows r of dy[r, c] * (x[r, c] - mean[c]) / sqrt(var[c] + eps).
{% endif %}
// A workgroup of {{ cx }} channels x {{ hy }} lanes: lane y adds rows y, y + {{ hy }}, ...; then the lanes are
// added in workgroup memory.
{{ bindings }}

var<workgroup> part: array<f32, {{ cx * hy }}>;

fn channel_sum(s: f32, lid: vec3<u32>) -> f32 {
    part[lid.y * {{ cx }}u + lid.x] = s;
    workgroupBarrier();
{{ tree(halves, "lid.y", "lid.y * " ~ cx ~ "u + lid.x", cx) }}
    let total = part[lid.x];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size({{ cx }}, {{ hy }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = wid.y * {{ gx }}u + wid.x;
    if (t >= {{ groups }}u) {
        return;
    }
    let c = t * {{ cx }}u + lid.x;
    let live = c < {{ c }}u;
{% if kind == "stats" %}
    var s = 0.0;
    if (live) {
        for (var r = lid.y; r < {{ rows }}u; r += {{ hy }}u) {
            s += {{ x.var }}[{{ x.off }}u + r * {{ c }}u + c];
        }
    }
    let mean = channel_sum(s, lid) * {{ inv_rows }};
    s = 0.0;
    if (live) {
        for (var r = lid.y; r < {{ rows }}u; r += {{ hy }}u) {
            let d = {{ x.var }}[{{ x.off }}u + r * {{ c }}u + c] - mean;
            s += d * d;
        }
    }
    let variance = channel_sum(s, lid) * {{ inv_rows }};
    if (lid.y == 0u && live) {
        {{ out.var }}[{{ out.off }}u + c] = mean;
        {{ out.var }}[{{ out.off }}u + {{ c }}u + c] = variance;
        {{ mm.var }}[{{ mm.off }}u + c] = {{ mm.var }}[{{ mm.off }}u + c] * {{ momentum }} + mean * {{ decay }};
        {{ mv.var }}[{{ mv.off }}u + c] = {{ mv.var }}[{{ mv.off }}u + c] * {{ momentum }} + variance * {{ decay }};
    }
{% else %}
    var s = 0.0;
    if (live) {
        let mean = {{ stats.var }}[{{ stats.off }}u + c];
        let inv = inverseSqrt({{ stats.var }}[{{ stats.off }}u + {{ c }}u + c] + {{ eps }});
        for (var r = lid.y; r < {{ rows }}u; r += {{ hy }}u) {
            let at = r * {{ c }}u + c;
            s += {{ dy.var }}[{{ dy.off }}u + at] * ({{ x.var }}[{{ x.off }}u + at] - mean) * inv;
        }
    }
    let total = channel_sum(s, lid);
    if (lid.y == 0u && live) {
        {{ out.var }}[{{ out.off }}u + c] = total;
    }
{% endif %}
}
