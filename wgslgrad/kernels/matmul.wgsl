{% from "_macros.wgsl" import accumulators, each_result, fill, finish, tile_memory, tile_product %}
// {{ comment }}
// out[m, n] = f(sum_k A[m, k] * w[k, n] (+ bias[n])); M={{ m }} N={{ n }} K={{ k }}, row-major; f: the
// elementwise ops fused after the product, applied to each element in registers (the epilogue).
// A {{ "is gathered from an NHWC image (implicit im2col, TensorFlow padding)" if conv else "is row-major [M, K]" }}.
// One {{ bm }}x{{ bn }} output tile per workgroup of 16x16 threads; each thread keeps a {{ tm }}x{{ tn }}
// block in scalar registers (rows ty + 16*i, columns tx + 16*j); K is walked in steps of {{ bk }} through
// workgroup memory, A and w loaded {{ "4" if a4 else "1" }} and {{ "4" if b4 else "1" }} floats at a time.
{{ bindings }}

{{ tile_memory(bm, bn, bk, m, n, k, false) }}

// Where A[m, k] is in {{ x.var }}: NONE outside A{{ " and in the padding" if conv else "" }}.
fn a_at(m: u32, k: u32) -> u32 {
    if (m >= M || k >= K) {
        return NONE;
    }
{% if conv %}
    // m -> (b, oy, ox); k -> (ky, kx, ci), HWIO order
    let ox = m % {{ wo }}u;
    let oy = (m / {{ wo }}u) % {{ ho }}u;
    let b = m / {{ wo * ho }}u;
    let ci = k % {{ ci }}u;
    let kx = (k / {{ ci }}u) % {{ kw }}u;
    let ky = k / {{ ci * kw }}u;
    let iy = i32(oy * {{ sh }}u + ky) - {{ pt }};
    let ix = i32(ox * {{ sw }}u + kx) - {{ pl }};
    if (iy < 0 || iy >= {{ h }} || ix < 0 || ix >= {{ w }}) {
        return NONE;
    }
    return {{ x.off }}u + ((b * {{ h }}u + u32(iy)) * {{ w }}u + u32(ix)) * {{ ci }}u + ci;
{% else %}
    return {{ x.off }}u + m * K + k;
{% endif %}
}

// Where w[k, n] is in {{ wt.var }}: NONE outside w.
fn b_at(k: u32, n: u32) -> u32 {
    if (k >= K || n >= N) {
        return NONE;
    }
    return {{ wt.off }}u + k * N + n;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let tile = wid.y * {{ gx }}u + wid.x;
    if (tile >= {{ tiles }}u) {
        return;
    }
    let m0 = (tile / {{ tiles_n }}u) * BM;
    let n0 = (tile % {{ tiles_n }}u) * BN;
    let tx = lid3.x;
    let ty = lid3.y;
{{ accumulators(tm, tn) }}
    for (var k0 = 0u; k0 < K; k0 += BK) {
        // consecutive threads read consecutive k of A and n of w
{% call(i, d) fill("As", "AROW", bm, bk, x.var, a4, "d") %}a_at(m0 + {{ i }}, k0 + {{ d }}){% endcall %}

{% call(i, d) fill("Bs", "BROW", bn, bk, wt.var, b4, "i") %}b_at(k0 + {{ d }}, n0 + {{ i }}){% endcall %}

        workgroupBarrier();
{{ tile_product(tm, tn) }}
        workgroupBarrier();
    }
{% call each_result(tm, tn) %}
        if (m < M && n < N) {
            let o = m * N + n;
{{ finish("r", bias, "n", epilogue) }}
        }
{% endcall %}
}
