{% from "_macros.wgsl" import tree %}
// {{ comment }}
// out[o] = sum over c < {{ chunks }} of partial[c * {{ n }} + o]: the second stage of a split reduction. A workgroup
// takes {{ cx }} outputs (contiguous) x {{ hy }} lanes over the chunks, then a tree over the lanes.
{% if out2 %}
// Outputs from {{ split }} on are a second tensor's (the bias gradient computed beside a filter gradient).
{% endif %}
{{ bindings }}

var<workgroup> part: array<f32, {{ cx * hy }}>;

@compute @workgroup_size({{ cx }}, {{ hy }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let g = wid.y * {{ gx }}u + wid.x;
    if (g >= {{ groups }}u) {
        return;
    }
    let o = g * {{ cx }}u + lid3.x;
    var s = 0.0;
    if (o < {{ n }}u) {
        for (var c = lid3.y; c < {{ chunks }}u; c += {{ hy }}u) {
            s += {{ partial.var }}[{{ partial.off }}u + c * {{ n }}u + o];
        }
    }
    part[tid] = s;
    workgroupBarrier();
{{ tree(halves, "lid3.y", "tid", cx) }}
{% if out2 %}
    if (lid3.y == 0u && o < {{ split }}u) {
        {{ out.var }}[{{ out.off }}u + o] = part[tid];
    } else if (lid3.y == 0u && o < {{ n }}u) {
        {{ out2.var }}[{{ out2.off }}u + o - {{ split }}u] = part[tid];
    }
{% else %}
    if (lid3.y == 0u && o < {{ n }}u) {
        {{ out.var }}[{{ out.off }}u + o] = part[tid];
    }
{% endif %}
}
