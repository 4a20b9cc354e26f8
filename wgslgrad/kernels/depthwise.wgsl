{% from "_macros.wgsl" import per_element, finish %}
// {{ comment }}
// out[b, oy, ox, c] = sum over taps x[b, oy*{{ sh }}-{{ pt }}+ky, ox*{{ sw }}-{{ pl }}+kx, c / {{ mult }}] * w[ky, kx, c] (+ bias[c]);
{% if unroll %}
// one thread per output element, the {{ taps | length }} taps unrolled with their offsets computed in Python.
{% else %}
// one thread per output element, looping over the {{ kh }}x{{ kw }} taps clipped to the image (too many to unroll).
{% endif %}
{{ bindings }}

{{ per_element(wg, gx, n) }}
    let c = i % {{ co }}u;
    let ox = (i / {{ co }}u) % {{ wo }}u;
    let oy = (i / {{ co * wo }}u) % {{ ho }}u;
    let b = i / {{ co * wo * ho }}u;
    let iy0 = i32(oy * {{ sh }}u) - {{ pt }};
    let ix0 = i32(ox * {{ sw }}u) - {{ pl }};
    // x index of tap (0, 0), possibly outside the image; each tap adds its own offset
    let base = i32({{ x.off }}u + b * {{ h * w * ci }}u + c / {{ mult }}u) + (iy0 * {{ w }} + ix0) * {{ ci }};
    let wbase = {{ wt.off }}u + c;
{% if bias %}
    var acc = {{ bias.var }}[{{ bias.off }}u + c];
{% else %}
    var acc = 0.0;
{% endif %}
{% if unroll %}
{% for t in taps %}
    if (iy0 >= {{ -t.ky }} && iy0 < {{ h - t.ky }} && ix0 >= {{ -t.kx }} && ix0 < {{ w - t.kx }}) {
        acc = fma({{ x.var }}[u32(base + {{ t.dx }})], {{ wt.var }}[wbase + {{ t.dw }}u], acc);
    }
{% endfor %}
{% else %}
    // taps (ky, kx) with 0 <= iy0 + ky < {{ h }} and 0 <= ix0 + kx < {{ w }}, in row-major order
    let ky1 = min({{ kh }}, {{ h }} - iy0);
    let kx0 = max(-ix0, 0);
    let kx1 = min({{ kw }}, {{ w }} - ix0);
    for (var ky = max(-iy0, 0); ky < ky1; ky++) {
        for (var kx = kx0; kx < kx1; kx++) {
            acc = fma({{ x.var }}[u32(base + (ky * {{ w }} + kx) * {{ ci }})], {{ wt.var }}[wbase + u32(ky * {{ kw }} + kx) * {{ co }}u], acc);
        }
    }
{% endif %}
    let o = i;
{{ finish("acc", none, "c", epilogue) }}
}
