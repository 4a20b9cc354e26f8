{% from "_macros.wgsl" import tree %}
// {{ comment }}
// dw[ky, kx, c, m] = sum over p = (b, oy, ox) of x[b, oy*{{ sh }} + ky - {{ pt }}, ox*{{ sw }} + kx - {{ pl }}, c] * dy[b, oy, ox, c*{{ mult }} + m].
// A workgroup takes {{ cx }} output channels o = c*{{ mult }} + m (contiguous in dy) x {{ hy }} lanes over the positions of
{% if unroll %}
// its chunk of {{ pc }} ({{ chunks }} chunk(s) of {{ p }}); each thread sums all {{ kh * kw }} taps over its positions at once
// (a private array), then each tap is summed over the lanes by a tree in workgroup memory into dst[chunk, ky, kx, o].
{% else %}
// its chunk of {{ pc }} ({{ chunks }} chunk(s) of {{ p }}); a loop over the {{ kh }}x{{ kw }} taps (too many to keep in registers):
// each thread sums one tap over its positions, then a tree in workgroup memory sums the lanes into dst[chunk, ky, kx, o].
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
    let chunk = g / {{ ctiles }}u;
    let o = (g % {{ ctiles }}u) * {{ cx }}u + lid3.x;
    let live = o < {{ cm }}u;
    let c = min(o, {{ cm - 1 }}u) / {{ mult }}u;
    let p_end = min((chunk + 1u) * {{ pc }}u, {{ p }}u);
{% if not unroll %}
    for (var t = 0u; t < {{ kh * kw }}u; t++) {
        let ky = i32(t / {{ kw }}u);
        let kx = i32(t % {{ kw }}u);
        var acc = 0.0;
        if (live) {
            for (var p = chunk * {{ pc }}u + lid3.y; p < p_end; p += {{ hy }}u) {
                let ox = p % {{ wo }}u;
                let oy = (p / {{ wo }}u) % {{ ho }}u;
                let b = p / {{ wo * ho }}u;
                let iy = i32(oy * {{ sh }}u) - {{ pt }} + ky;
                let ix = i32(ox * {{ sw }}u) - {{ pl }} + kx;
                if (iy >= 0 && iy < {{ h }} && ix >= 0 && ix < {{ w }}) {
                    let d = {{ dy.var }}[{{ dy.off }}u + p * {{ cm }}u + o];
                    acc = fma({{ x.var }}[{{ x.off }}u + ((b * {{ h }}u + u32(iy)) * {{ w }}u + u32(ix)) * {{ ch }}u + c], d, acc);
                }
            }
        }
        part[tid] = acc;
        workgroupBarrier();
{{ tree(halves, "lid3.y", "tid", cx) }}
        if (lid3.y == 0u && live) {
            {{ dst.var }}[{{ dst.off }}u + chunk * {{ outs }}u + t * {{ cm }}u + o] = part[tid];
        }
        workgroupBarrier();
    }
}
{% else %}
    var acc: array<f32, {{ kh * kw }}>;   // tap t = ky*{{ kw }} + kx, zero-initialised
    if (live) {
        for (var p = chunk * {{ pc }}u + lid3.y; p < p_end; p += {{ hy }}u) {
            let ox = p % {{ wo }}u;
            let oy = (p / {{ wo }}u) % {{ ho }}u;
            let b = p / {{ wo * ho }}u;
            let d = {{ dy.var }}[{{ dy.off }}u + p * {{ cm }}u + o];
            let iy0 = i32(oy * {{ sh }}u) - {{ pt }};
            let ix0 = i32(ox * {{ sw }}u) - {{ pl }};
            // x index of tap (0, 0), possibly outside the image
            let base = i32({{ x.off }}u + b * {{ h * w * ch }}u + c) + (iy0 * {{ w }} + ix0) * {{ ch }};
            // a loop of constant length (a compiler may unroll it), each tap tested against the image
            for (var t = 0; t < {{ kh * kw }}; t++) {
                let ky = t / {{ kw }};
                let kx = t % {{ kw }};
                if (iy0 >= -ky && iy0 < {{ h }} - ky && ix0 >= -kx && ix0 < {{ w }} - kx) {
                    acc[t] = fma({{ x.var }}[u32(base + (ky * {{ w }} + kx) * {{ ch }})], d, acc[t]);
                }
            }
        }
    }
    for (var t = 0u; t < {{ kh * kw }}u; t++) {
        part[tid] = acc[t];
        workgroupBarrier();
{{ tree(halves, "lid3.y", "tid", cx) }}
        if (lid3.y == 0u && live) {
            {{ dst.var }}[{{ dst.off }}u + chunk * {{ outs }}u + t * {{ cm }}u + o] = part[tid];
        }
        workgroupBarrier();
    }
}
{% endif %}
