// ==== kernel 0: conv2d_4 ====
// %4 conv2d[2, 4, 4, 4] in conv2d_0 then %5 relu[2, 4, 4, 4] in conv2d_0
// out[m, n] = f(sum_k A[m, k] * w[k, n] (+ bias[n])); M=32 N=4 K=27, row-major; f: the
// elementwise ops fused after the product, applied to each element in registers (the epilogue).
// A is gathered from an NHWC image (implicit im2col, TensorFlow padding).
// One 32x16 output tile per workgroup of 16x16 threads; each thread keeps a 2x1
// block in scalar registers (rows ty + 16*i, columns tx + 16*j); K is walked in steps of 8 through
// workgroup memory, A and w loaded 1 and 4 floats at a time.
@group(0) @binding(0) var<storage, read> in_image: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> arena: array<f32>;
@group(0) @binding(3) var<storage, read> params_4: array<vec4<f32>>;

const BM: u32 = 32u;
const BN: u32 = 16u;
const BK: u32 = 8u;
const M: u32 = 32u;
const N: u32 = 4u;
const K: u32 = 27u;
const AROW: u32 = BM + 1u;
const BROW: u32 = BN + 0u;
var<workgroup> As: array<f32, 264>;
var<workgroup> Bs: array<f32, 128>;
const NONE: u32 = 0xffffffffu;

// Where A[m, k] is in in_image: NONE outside A and in the padding.
fn a_at(m: u32, k: u32) -> u32 {
    if (m >= M || k >= K) {
        return NONE;
    }
    // m -> (b, oy, ox); k -> (ky, kx, ci), HWIO order
    let ox = m % 4u;
    let oy = (m / 4u) % 4u;
    let b = m / 16u;
    let ci = k % 3u;
    let kx = (k / 3u) % 3u;
    let ky = k / 9u;
    let iy = i32(oy * 2u + ky) - 0;
    let ix = i32(ox * 2u + kx) - 0;
    if (iy < 0 || iy >= 8 || ix < 0 || ix >= 8) {
        return NONE;
    }
    return 0u + ((b * 8u + u32(iy)) * 8u + u32(ix)) * 3u + ci;
}

// Where w[k, n] is in params: NONE outside w.
fn b_at(k: u32, n: u32) -> u32 {
    if (k >= K || n >= N) {
        return NONE;
    }
    return 0u + k * N + n;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let tile = wid.y * 1u + wid.x;
    if (tile >= 1u) {
        return;
    }
    let m0 = (tile / 1u) * BM;
    let n0 = (tile % 1u) * BN;
    let tx = lid3.x;
    let ty = lid3.y;
    var acc0_0 = 0.0;
    var acc1_0 = 0.0;

    for (var k0 = 0u; k0 < K; k0 += BK) {
        // consecutive threads read consecutive k of A and n of w
        for (var l = 0u; l < 1u; l++) {
            let e = tid + l * 256u;
            let f = (e % 8u);
            let s = e / 8u;
            let at = a_at(m0 + s, k0 + f);
            var v = 0.0;
            if (at != NONE) {
                v = in_image[at];
            }
            As[f * AROW + s] = v;
        }
        for (var l = 0u; l < 1u; l++) {
            let e = tid + l * 256u;
            if (e >= 32u) {
                break;
            }
            let f = (e % 4u) * 4u;
            let s = e / 4u;
            let at = b_at(k0 + s, n0 + f);
            var v = vec4<f32>(0.0);
            if (at != NONE) {
                v = params_4[at / 4u];
            }
            Bs[s * BROW + f + 0u] = v[0];
            Bs[s * BROW + f + 1u] = v[1];
            Bs[s * BROW + f + 2u] = v[2];
            Bs[s * BROW + f + 3u] = v[3];
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let a0 = As[kk * AROW + ty + 0u];
            let a1 = As[kk * AROW + ty + 16u];
            let b0 = Bs[kk * BROW + tx + 0u];
            acc0_0 = fma(a0, b0, acc0_0);
            acc1_0 = fma(a1, b0, acc1_0);
        }
        workgroupBarrier();
    }
    {
        let m = m0 + ty + 0u;
        let n = n0 + tx + 0u;
        let r = acc0_0;
        if (m < M && n < N) {
            let o = m * N + n;
    var v = r + params[108u + n];
    v = select(v, 0.0, v < 0.0);
    arena[0u + o] = v;
        }

    }
    {
        let m = m0 + ty + 16u;
        let n = n0 + tx + 0u;
        let r = acc1_0;
        if (m < M && n < N) {
            let o = m * N + n;
    var v = r + params[108u + n];
    v = select(v, 0.0, v < 0.0);
    arena[0u + o] = v;
        }

    }
}

// ==== kernel 1: depthwise_9 ====
// %9 depthwise[2, 4, 4, 4] in separable_conv2d_0
// out[b, oy, ox, c] = sum over taps x[b, oy*1-1+ky, ox*1-1+kx, c / 1] * w[ky, kx, c] (+ bias[c]);
// one thread per output element, the 9 taps unrolled with their offsets computed in Python.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 128u) {
        return;
    }
    let c = i % 4u;
    let ox = (i / 4u) % 4u;
    let oy = (i / 16u) % 4u;
    let b = i / 64u;
    let iy0 = i32(oy * 1u) - 1;
    let ix0 = i32(ox * 1u) - 1;
    // x index of tap (0, 0), possibly outside the image; each tap adds its own offset
    let base = i32(0u + b * 64u + c / 1u) + (iy0 * 4 + ix0) * 4;
    let wbase = 112u + c;
    var acc = 0.0;
    if (iy0 >= 0 && iy0 < 4 && ix0 >= 0 && ix0 < 4) {
        acc = fma(arena[u32(base + 0)], params[wbase + 0u], acc);
    }
    if (iy0 >= 0 && iy0 < 4 && ix0 >= -1 && ix0 < 3) {
        acc = fma(arena[u32(base + 4)], params[wbase + 4u], acc);
    }
    if (iy0 >= 0 && iy0 < 4 && ix0 >= -2 && ix0 < 2) {
        acc = fma(arena[u32(base + 8)], params[wbase + 8u], acc);
    }
    if (iy0 >= -1 && iy0 < 3 && ix0 >= 0 && ix0 < 4) {
        acc = fma(arena[u32(base + 16)], params[wbase + 12u], acc);
    }
    if (iy0 >= -1 && iy0 < 3 && ix0 >= -1 && ix0 < 3) {
        acc = fma(arena[u32(base + 20)], params[wbase + 16u], acc);
    }
    if (iy0 >= -1 && iy0 < 3 && ix0 >= -2 && ix0 < 2) {
        acc = fma(arena[u32(base + 24)], params[wbase + 20u], acc);
    }
    if (iy0 >= -2 && iy0 < 2 && ix0 >= 0 && ix0 < 4) {
        acc = fma(arena[u32(base + 32)], params[wbase + 24u], acc);
    }
    if (iy0 >= -2 && iy0 < 2 && ix0 >= -1 && ix0 < 3) {
        acc = fma(arena[u32(base + 36)], params[wbase + 28u], acc);
    }
    if (iy0 >= -2 && iy0 < 2 && ix0 >= -2 && ix0 < 2) {
        acc = fma(arena[u32(base + 40)], params[wbase + 32u], acc);
    }
    let o = i;
    var v = acc;
    arena[128u + o] = v;
}

// ==== kernel 2: conv2d_10 ====
// %10 conv2d[2, 4, 4, 4] in separable_conv2d_0 then %15 add[2, 4, 4, 4] in add_0
// out[m, n] = f(sum_k A[m, k] * w[k, n] (+ bias[n])); M=32 N=4 K=4, row-major; f: the
// elementwise ops fused after the product, applied to each element in registers (the epilogue).
// A is row-major [M, K].
// One 32x16 output tile per workgroup of 16x16 threads; each thread keeps a 2x1
// block in scalar registers (rows ty + 16*i, columns tx + 16*j); K is walked in steps of 8 through
// workgroup memory, A and w loaded 1 and 4 floats at a time.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read> params_4: array<vec4<f32>>;

const BM: u32 = 32u;
const BN: u32 = 16u;
const BK: u32 = 8u;
const M: u32 = 32u;
const N: u32 = 4u;
const K: u32 = 4u;
const AROW: u32 = BM + 1u;
const BROW: u32 = BN + 0u;
var<workgroup> As: array<f32, 264>;
var<workgroup> Bs: array<f32, 128>;
const NONE: u32 = 0xffffffffu;

// Where A[m, k] is in arena: NONE outside A.
fn a_at(m: u32, k: u32) -> u32 {
    if (m >= M || k >= K) {
        return NONE;
    }
    return 128u + m * K + k;
}

// Where w[k, n] is in params: NONE outside w.
fn b_at(k: u32, n: u32) -> u32 {
    if (k >= K || n >= N) {
        return NONE;
    }
    return 148u + k * N + n;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let tile = wid.y * 1u + wid.x;
    if (tile >= 1u) {
        return;
    }
    let m0 = (tile / 1u) * BM;
    let n0 = (tile % 1u) * BN;
    let tx = lid3.x;
    let ty = lid3.y;
    var acc0_0 = 0.0;
    var acc1_0 = 0.0;

    for (var k0 = 0u; k0 < K; k0 += BK) {
        // consecutive threads read consecutive k of A and n of w
        for (var l = 0u; l < 1u; l++) {
            let e = tid + l * 256u;
            let f = (e % 8u);
            let s = e / 8u;
            let at = a_at(m0 + s, k0 + f);
            var v = 0.0;
            if (at != NONE) {
                v = arena[at];
            }
            As[f * AROW + s] = v;
        }
        for (var l = 0u; l < 1u; l++) {
            let e = tid + l * 256u;
            if (e >= 32u) {
                break;
            }
            let f = (e % 4u) * 4u;
            let s = e / 4u;
            let at = b_at(k0 + s, n0 + f);
            var v = vec4<f32>(0.0);
            if (at != NONE) {
                v = params_4[at / 4u];
            }
            Bs[s * BROW + f + 0u] = v[0];
            Bs[s * BROW + f + 1u] = v[1];
            Bs[s * BROW + f + 2u] = v[2];
            Bs[s * BROW + f + 3u] = v[3];
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let a0 = As[kk * AROW + ty + 0u];
            let a1 = As[kk * AROW + ty + 16u];
            let b0 = Bs[kk * BROW + tx + 0u];
            acc0_0 = fma(a0, b0, acc0_0);
            acc1_0 = fma(a1, b0, acc1_0);
        }
        workgroupBarrier();
    }
    {
        let m = m0 + ty + 0u;
        let n = n0 + tx + 0u;
        let r = acc0_0;
        if (m < M && n < N) {
            let o = m * N + n;
    var v = r + params[164u + n];
    v = arena[0u + o] + v;
    arena[256u + o] = v;
        }

    }
    {
        let m = m0 + ty + 16u;
        let n = n0 + tx + 0u;
        let r = acc1_0;
        if (m < M && n < N) {
            let o = m * N + n;
    var v = r + params[164u + n];
    v = arena[0u + o] + v;
    arena[256u + o] = v;
        }

    }
}

// ==== kernel 3: depthwise_13 ====
// %13 depthwise[2, 4, 4, 4] in depthwise_conv2d_0 then %14 relu6[2, 4, 4, 4] in depthwise_conv2d_0 then %16 add[2, 4, 4, 4] in add_1
// out[b, oy, ox, c] = sum over taps x[b, oy*1-1+ky, ox*1-1+kx, c / 1] * w[ky, kx, c] (+ bias[c]);
// one thread per output element, the 9 taps unrolled with their offsets computed in Python.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 128u) {
        return;
    }
    let c = i % 4u;
    let ox = (i / 4u) % 4u;
    let oy = (i / 16u) % 4u;
    let b = i / 64u;
    let iy0 = i32(oy * 1u) - 1;
    let ix0 = i32(ox * 1u) - 1;
    // x index of tap (0, 0), possibly outside the image; each tap adds its own offset
    let base = i32(0u + b * 64u + c / 1u) + (iy0 * 4 + ix0) * 4;
    let wbase = 168u + c;
    var acc = params[204u + c];
    if (iy0 >= 0 && iy0 < 4 && ix0 >= 0 && ix0 < 4) {
        acc = fma(arena[u32(base + 0)], params[wbase + 0u], acc);
    }
    if (iy0 >= 0 && iy0 < 4 && ix0 >= -1 && ix0 < 3) {
        acc = fma(arena[u32(base + 4)], params[wbase + 4u], acc);
    }
    if (iy0 >= 0 && iy0 < 4 && ix0 >= -2 && ix0 < 2) {
        acc = fma(arena[u32(base + 8)], params[wbase + 8u], acc);
    }
    if (iy0 >= -1 && iy0 < 3 && ix0 >= 0 && ix0 < 4) {
        acc = fma(arena[u32(base + 16)], params[wbase + 12u], acc);
    }
    if (iy0 >= -1 && iy0 < 3 && ix0 >= -1 && ix0 < 3) {
        acc = fma(arena[u32(base + 20)], params[wbase + 16u], acc);
    }
    if (iy0 >= -1 && iy0 < 3 && ix0 >= -2 && ix0 < 2) {
        acc = fma(arena[u32(base + 24)], params[wbase + 20u], acc);
    }
    if (iy0 >= -2 && iy0 < 2 && ix0 >= 0 && ix0 < 4) {
        acc = fma(arena[u32(base + 32)], params[wbase + 24u], acc);
    }
    if (iy0 >= -2 && iy0 < 2 && ix0 >= -1 && ix0 < 3) {
        acc = fma(arena[u32(base + 36)], params[wbase + 28u], acc);
    }
    if (iy0 >= -2 && iy0 < 2 && ix0 >= -2 && ix0 < 2) {
        acc = fma(arena[u32(base + 40)], params[wbase + 32u], acc);
    }
    let o = i;
    var v = acc;
    v = select(select(v, 6.0, v > 6.0), 0.0, v < 0.0);
    v = arena[256u + o] + v;
    arena[128u + o] = v;
}

// ==== kernel 4: relu_17 ====
// %17 relu[2, 4, 4, 4] in relu_0: out[i] = f(x[i]) over 128 elements, one thread each.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 128u) {
        return;
    }
    let v = arena[128u + i];
    arena[0u + i] = select(v, 0.0, v < 0.0);
}

// ==== kernel 5: max_pool_18 ====
// %18 max_pool[2, 2, 2, 4] in max_pool_0
// max pool 2x2, stride (2, 2), pads top 0 left 0: padded cells are
// skipped (never the max); one thread per output element.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 32u) {
        return;
    }
    let c = i % 4u;
    let ox = (i / 4u) % 2u;
    let oy = (i / 8u) % 2u;
    let b = i / 16u;
    let iy0 = i32(oy * 2u) - 0;
    let ix0 = i32(ox * 2u) - 0;
    // the window clipped to the image (empty, never negative, if it lies wholly in the padding)
    let y0 = u32(max(iy0, 0));
    let y1 = u32(max(min(iy0 + 2, 4), max(iy0, 0)));
    let x0 = u32(max(ix0, 0));
    let x1 = u32(max(min(ix0 + 2, 4), max(ix0, 0)));
    // the max starts at the window's first cell: a constant such as -3.4e38 would beat inputs below it
    var acc = -3.4e38;  // (an empty window's value; not -inf: WGSL const-expressions must be finite)
    if (y1 > y0 && x1 > x0) {
        acc = arena[0u + ((b * 4u + y0) * 4u + x0) * 4u + c];
    }
    for (var iy = y0; iy < y1; iy++) {
        for (var ix = x0; ix < x1; ix++) {
            let v = arena[0u + ((b * 4u + iy) * 4u + ix) * 4u + c];
            acc = max(acc, v);
        }
    }
    arena[128u + i] = acc;
}

// ==== kernel 6: avg_pool_19 ====
// %19 avg_pool[2, 4, 4, 4] in avg_pool_0
// avg pool 2x2, stride (1, 1), pads top 0 left 0: padded cells are
// skipped (not counted in the mean); one thread per output element.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 128u) {
        return;
    }
    let c = i % 4u;
    let ox = (i / 4u) % 4u;
    let oy = (i / 16u) % 4u;
    let b = i / 64u;
    let iy0 = i32(oy * 1u) - 0;
    let ix0 = i32(ox * 1u) - 0;
    // the window clipped to the image (empty, never negative, if it lies wholly in the padding)
    let y0 = u32(max(iy0, 0));
    let y1 = u32(max(min(iy0 + 2, 4), max(iy0, 0)));
    let x0 = u32(max(ix0, 0));
    let x1 = u32(max(min(ix0 + 2, 4), max(ix0, 0)));
    var acc = 0.0;
    for (var iy = y0; iy < y1; iy++) {
        for (var ix = x0; ix < x1; ix++) {
            let v = arena[0u + ((b * 4u + iy) * 4u + ix) * 4u + c];
            acc += v;
        }
    }
    arena[160u + i] = acc / f32((y1 - y0) * (x1 - x0));
}

// ==== kernel 7: avg_pool_20 ====
// %20 avg_pool[2, 2, 2, 4] in avg_pool_1
// avg pool 2x2, stride (2, 2), pads top 0 left 0: padded cells are
// skipped (not counted in the mean); one thread per output element.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 32u) {
        return;
    }
    let c = i % 4u;
    let ox = (i / 4u) % 2u;
    let oy = (i / 8u) % 2u;
    let b = i / 16u;
    let iy0 = i32(oy * 2u) - 0;
    let ix0 = i32(ox * 2u) - 0;
    // the window clipped to the image (empty, never negative, if it lies wholly in the padding)
    let y0 = u32(max(iy0, 0));
    let y1 = u32(max(min(iy0 + 2, 4), max(iy0, 0)));
    let x0 = u32(max(ix0, 0));
    let x1 = u32(max(min(ix0 + 2, 4), max(ix0, 0)));
    var acc = 0.0;
    for (var iy = y0; iy < y1; iy++) {
        for (var ix = x0; ix < x1; ix++) {
            let v = arena[160u + ((b * 4u + iy) * 4u + ix) * 4u + c];
            acc += v;
        }
    }
    arena[0u + i] = acc / f32((y1 - y0) * (x1 - x0));
}

// ==== kernel 8: concat_21 ====
// %21 concat[2, 2, 2, 8] in concat_0
// Copies 2 source(s) into output channels [0, 8) of 8 rows of 8;
// one thread per copied element.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 64u) {
        return;
    }
    let r = i / 8u;
    let c = i % 8u;
    var v = 0.0;
    if (c < 4u) {
        v = arena[128u + r * 4u + c - 0u];
    } else if (c < 8u) {
        v = arena[0u + r * 4u + c - 4u];
    }
    arena[32u + r * 8u + 0u + c] = v;
}

// ==== kernel 9: global_avg_pool_22 ====
// %22 global_avg_pool[2, 8] in global_avg_pool_0
// out[b, c] = mean over 4 positions of x[b, p, c]. A workgroup of 8 channels x 32 lanes:
// lane y sums positions y, y + 32, ...; the lanes are then added in workgroup memory.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(8, 32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = wid.y * 2u + wid.x;
    if (t >= 2u) {
        return;
    }
    let b = t / 1u;
    let c = (t % 1u) * 8u + lid.x;
    var s = 0.0;
    if (c < 8u) {
        for (var p = lid.y; p < 4u; p += 32u) {
            s += arena[32u + (b * 4u + p) * 8u + c];
        }
    }
    part[lid.y * 8u + lid.x] = s;
    workgroupBarrier();
    for (var gap = 16u; gap > 0u; gap /= 2u) {
        if (lid.y < gap) {
            part[lid.y * 8u + lid.x] += part[lid.y * 8u + lid.x + gap * 8u];
        }
        workgroupBarrier();
    }
    if (lid.y == 0u && c < 8u) {
        arena[0u + b * 8u + c] = part[lid.x] * 0.25;
    }
}

// ==== kernel 10: dense_25 ====
// %25 dense[2, 5] in dense_0
// out[m, n] = f(sum_k A[m, k] * B[k, n] (+ bias[n])); M=2 N=5 K=8, with no workgroup memory, barriers
// or split (a dense layer on few rows: A = x, B = w, then the ops fused after it).
// A[m, k] = arena[m * 8 + k * 1], B[k, n] = params[k * 5 + n * 1].
// Each thread keeps a 2x4 block of out in registers (rows m0 + r, columns n0 + c; a vec4 a row): each step of K
// costs it 6 loads for 8 products; consecutive threads take consecutive blocks along n.
// Reads past the last row or column are clamped to it, and their results not stored.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;

// output element o (column col) from its sum: the bias and the ops fused after the product, then the stores
fn finish(acc: f32, o: u32, col: u32) {
    var v = acc + params[248u + col];
    arena[16u + o] = v;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 2u) {
        return;
    }
    let n0 = (i % 2u) * 4u;
    let m0 = (i / 2u) * 2u;
    let am0 = 0u + min(m0 + 0u, 1u) * 8u;
    let am1 = 0u + min(m0 + 1u, 1u) * 8u;
    let bn0 = 208u + min(n0 + 0u, 4u) * 1u;
    let bn1 = 208u + min(n0 + 1u, 4u) * 1u;
    let bn2 = 208u + min(n0 + 2u, 4u) * 1u;
    let bn3 = 208u + min(n0 + 3u, 4u) * 1u;
    var acc0 = vec4<f32>();   // row m0 + 0, columns n0 .. n0 + 3
    var acc1 = vec4<f32>();   // row m0 + 1, columns n0 .. n0 + 3
    for (var k = 0u; k < 8u; k++) {
        let a0 = arena[am0 + k];
        let a1 = arena[am1 + k];
        let bk = vec4<f32>(params[bn0 + k * 5u], params[bn1 + k * 5u], params[bn2 + k * 5u], params[bn3 + k * 5u]);
        acc0 = fma(vec4<f32>(a0), bk, acc0);
        acc1 = fma(vec4<f32>(a1), bk, acc1);
    }
    // the stores (a loop the shader compiler unrolls)
    for (var c = 0u; c < 4u; c++) {
        if (n0 + c < 5u) {
            finish(acc0[c], (m0 + 0u) * 5u + n0 + c, n0 + c);
        }
    }
    for (var c = 0u; c < 4u; c++) {
        if (n0 + c < 5u) {
            finish(acc1[c], (m0 + 1u) * 5u + n0 + c, n0 + c);
        }
    }
}

// ==== kernel 11: softmax_ce_26 ====
// %26 softmax_ce[] in softmax_cross_entropy_0
// 1 workgroup(s) of 256 threads; workgroup g adds term(i) for i in [g*2, (g+1)*2) ∩ [0, 2),
// each thread a strided part, then a tree in workgroup memory; dst[g] = that sum. Each term is scaled by
// 0.5 (1/n for a mean) before it is added, so that a mean of huge terms does not overflow on the way.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> in_label: array<f32>;

var<workgroup> part: array<f32, 256>;

fn term(i: u32) -> f32 {
    // row i: sum_j y_j * (logsumexp(z) - z_j) = logsumexp(z) * sum(y) - sum(y * z)
    let zb = 16u + i * 5u;
    let yb = 0u + i * 5u;
    // the max starts at the row's first element: a constant such as -3.4e38 would beat logits below it
    var m = arena[zb];
    for (var j = 0u; j < 5u; j++) {
        m = max(m, arena[zb + j]);
    }
    var se = 0.0;
    var sy = 0.0;
    var syz = 0.0;
    for (var j = 0u; j < 5u; j++) {
        let z = arena[zb + j] - m;
        let y = in_label[yb + j];
        se += exp(z);
        sy += y;
        syz += select((y * 0.5) * z, 0.0, y == 0.0);  // a zero label ignores its logit, even at z = -inf
    }
    return log(se) * (sy * 0.5) - syz;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wid.x;
    let end = min((g + 1u) * 2u, 2u);
    var s = 0.0;
    for (var i = g * 2u + lid; i < end; i += 256u) {
        s += term(i);
    }
    part[lid] = s;
    workgroupBarrier();
    for (var gap = 128u; gap > 0u; gap /= 2u) {
        if (lid < gap) {
            part[lid] += part[lid + gap];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        arena[0u + g] = part[0];
    }
}

