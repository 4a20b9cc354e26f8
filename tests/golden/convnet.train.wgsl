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
    arena[384u + o] = v;
    v = arena[256u + o] + v;
    arena[512u + o] = v;
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
    let v = arena[512u + i];
    arena[256u + i] = select(v, 0.0, v < 0.0);
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
        acc = arena[256u + ((b * 4u + y0) * 4u + x0) * 4u + c];
    }
    for (var iy = y0; iy < y1; iy++) {
        for (var ix = x0; ix < x1; ix++) {
            let v = arena[256u + ((b * 4u + iy) * 4u + ix) * 4u + c];
            acc = max(acc, v);
        }
    }
    arena[512u + i] = acc;
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
            let v = arena[256u + ((b * 4u + iy) * 4u + ix) * 4u + c];
            acc += v;
        }
    }
    arena[544u + i] = acc / f32((y1 - y0) * (x1 - x0));
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
            let v = arena[544u + ((b * 4u + iy) * 4u + ix) * 4u + c];
            acc += v;
        }
    }
    arena[672u + i] = acc / f32((y1 - y0) * (x1 - x0));
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
        v = arena[512u + r * 4u + c - 0u];
    } else if (c < 8u) {
        v = arena[672u + r * 4u + c - 4u];
    }
    arena[544u + r * 8u + 0u + c] = v;
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
            s += arena[544u + (b * 4u + p) * 8u + c];
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
        arena[512u + b * 8u + c] = part[lid.x] * 0.25;
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
    arena[528u + o] = v;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 2u) {
        return;
    }
    let n0 = (i % 2u) * 4u;
    let m0 = (i / 2u) * 2u;
    let am0 = 512u + min(m0 + 0u, 1u) * 8u;
    let am1 = 512u + min(m0 + 1u, 1u) * 8u;
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
    let zb = 528u + i * 5u;
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
        arena[540u + g] = part[0];
    }
}

// ==== kernel 12: softmax_ce_grad_28 ====
// %28 softmax_ce_grad[2, 5] in softmax_cross_entropy_0/grad
// softmax cross-entropy gradient: dz = (softmax(z) * sum(labels) - labels) * dl * 0.5 (1 / batch);
// 2 rows of 5, max subtracted before exp.
// Short rows: one thread per row.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> in_label: array<f32>;
@group(0) @binding(2) var<storage, read> consts: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = (wid.y * 1u + wid.x) * 256u + lid;
    if (r >= 2u) {
        return;
    }
    let ab = 528u + r * 5u;
    let bb = 0u + r * 5u;
    let ob = 544u + r * 5u;
    // the max starts at the row's first element: a constant such as -3.4e38 would beat logits below it
    var m = arena[ab];
    for (var j = 0u; j < 5u; j++) {
        m = max(m, arena[ab + j]);
    }
    var se = 0.0;
    var sy = 0.0;
    for (var j = 0u; j < 5u; j++) {
        se += exp(arena[ab + j] - m);
        sy += in_label[bb + j];
    }
    let scale = consts[0u] * 0.5;
    let p = sy / se;
    for (var j = 0u; j < 5u; j++) {
        arena[ob + j] = (exp(arena[ab + j] - m) * p - in_label[bb + j]) * scale;
    }
}

// ==== kernel 13: dense_dx_29 ====
// %29 dense_dx[2, 8] in dense_0/grad
// out[m, n] = sum_k A[m, k] * B[k, n]; M=2 N=8 K=5, with no workgroup memory, barriers or split (a
// dense layer's gradient on a small batch: dx = dy @ w.T, A = dy, B = w read transposed).
// A[m, k] = arena[m * 5 + k * 1], B[k, n] = params[k * 1 + n * 5].
// Each thread keeps a 2x4 block of out in registers (rows m0 + r, columns n0 + c; a vec4 a row): each step of K
// costs it 6 loads for 8 products; consecutive threads take consecutive blocks along n.
// Reads past the last row or column are clamped to it, and their results not stored.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 2u) {
        return;
    }
    let n0 = (i % 2u) * 4u;
    let m0 = (i / 2u) * 2u;
    let am0 = 544u + min(m0 + 0u, 1u) * 5u;
    let am1 = 544u + min(m0 + 1u, 1u) * 5u;
    let bn0 = 208u + min(n0 + 0u, 7u) * 5u;
    let bn1 = 208u + min(n0 + 1u, 7u) * 5u;
    let bn2 = 208u + min(n0 + 2u, 7u) * 5u;
    let bn3 = 208u + min(n0 + 3u, 7u) * 5u;
    var acc0 = vec4<f32>();   // row m0 + 0, columns n0 .. n0 + 3
    var acc1 = vec4<f32>();   // row m0 + 1, columns n0 .. n0 + 3
    for (var k = 0u; k < 5u; k++) {
        let a0 = arena[am0 + k];
        let a1 = arena[am1 + k];
        let bk = vec4<f32>(params[bn0 + k], params[bn1 + k], params[bn2 + k], params[bn3 + k]);
        acc0 = fma(vec4<f32>(a0), bk, acc0);
        acc1 = fma(vec4<f32>(a1), bk, acc1);
    }
    // the stores (a loop the shader compiler unrolls)
    for (var c = 0u; c < 4u; c++) {
        arena[556u + (m0 + 0u) * 8u + n0 + c] = acc0[c];
    }
    for (var c = 0u; c < 4u; c++) {
        arena[556u + (m0 + 1u) * 8u + n0 + c] = acc1[c];
    }
}

// ==== kernel 14: dense_dw_30 ====
// %30 dense_dw[8, 5] in dense_0/grad
// out[m, n] = sum_k A[m, k] * B[k, n]; M=8 N=5 K=2, with no workgroup memory, barriers or split (a
// dense layer's gradient on a small batch: dw = x.T @ dy, K the batch, an outer product per row).
// A[m, k] = arena[m * 1 + k * 8], B[k, n] = arena[k * 5 + n * 1].
// Each thread keeps a 4x4 block of out in registers (rows m0 + r, columns n0 + c; a vec4 a row): each step of K
// costs it 8 loads for 16 products; consecutive threads take consecutive blocks along n.
// Reads past the last row or column are clamped to it, and their results not stored.
// The threads of the first block row also sum B over K: the bias gradient (sum of dy over the batch).
@group(0) @binding(0) var<storage, read> arena: array<f32>;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 4u) {
        return;
    }
    let n0 = (i % 2u) * 4u;
    let m0 = (i / 2u) * 4u;
    let am0 = 512u + min(m0 + 0u, 7u) * 1u;
    let am1 = 512u + min(m0 + 1u, 7u) * 1u;
    let am2 = 512u + min(m0 + 2u, 7u) * 1u;
    let am3 = 512u + min(m0 + 3u, 7u) * 1u;
    let bn0 = 544u + min(n0 + 0u, 4u) * 1u;
    let bn1 = 544u + min(n0 + 1u, 4u) * 1u;
    let bn2 = 544u + min(n0 + 2u, 4u) * 1u;
    let bn3 = 544u + min(n0 + 3u, 4u) * 1u;
    var acc0 = vec4<f32>();   // row m0 + 0, columns n0 .. n0 + 3
    var acc1 = vec4<f32>();   // row m0 + 1, columns n0 .. n0 + 3
    var acc2 = vec4<f32>();   // row m0 + 2, columns n0 .. n0 + 3
    var acc3 = vec4<f32>();   // row m0 + 3, columns n0 .. n0 + 3
    var bsum = vec4<f32>();
    for (var k = 0u; k < 2u; k++) {
        let a0 = arena[am0 + k * 8u];
        let a1 = arena[am1 + k * 8u];
        let a2 = arena[am2 + k * 8u];
        let a3 = arena[am3 + k * 8u];
        let bk = vec4<f32>(arena[bn0 + k * 5u], arena[bn1 + k * 5u], arena[bn2 + k * 5u], arena[bn3 + k * 5u]);
        acc0 = fma(vec4<f32>(a0), bk, acc0);
        acc1 = fma(vec4<f32>(a1), bk, acc1);
        acc2 = fma(vec4<f32>(a2), bk, acc2);
        acc3 = fma(vec4<f32>(a3), bk, acc3);
        bsum += bk;
    }
    // the stores (a loop the shader compiler unrolls)
    for (var c = 0u; c < 4u; c++) {
        if (n0 + c < 5u) {
            grads[208u + (m0 + 0u) * 5u + n0 + c] = acc0[c];
        }
    }
    for (var c = 0u; c < 4u; c++) {
        if (n0 + c < 5u) {
            grads[208u + (m0 + 1u) * 5u + n0 + c] = acc1[c];
        }
    }
    for (var c = 0u; c < 4u; c++) {
        if (n0 + c < 5u) {
            grads[208u + (m0 + 2u) * 5u + n0 + c] = acc2[c];
        }
    }
    for (var c = 0u; c < 4u; c++) {
        if (n0 + c < 5u) {
            grads[208u + (m0 + 3u) * 5u + n0 + c] = acc3[c];
        }
    }
    if (m0 == 0u) {
        for (var c = 0u; c < 4u; c++) {
            if (n0 + c < 5u) {
                grads[248u + n0 + c] = bsum[c];
            }
        }
    }
}

// ==== kernel 15: broadcast_33 ====
// %33 broadcast[2, 2, 2, 8] in global_avg_pool_0/grad: out[i] = x[ix] * 0.25 over 64 elements, one thread each (NumPy broadcasting).
// Axes are collapsed in Python; each has (size, x stride), innermost first; stride 0 repeats x.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 64u) {
        return;
    }
    var ix = 556u;
    var r = i;
    {
        let c = r % 8u;
        r = r / 8u;
        ix += c * 1u;
    }
    {
        let c = r % 4u;
        r = r / 4u;
    }
    {
        let c = r;
        ix += c * 8u;
    }
    arena[572u + i] = arena[ix] * 0.25;
}

// ==== kernel 16: slice_last_34 ====
// %34 slice_last[2, 2, 2, 4] in concat_0/grad: out[r, j] = x[r, 0 + j] for 8 rows, j < 4 of 8; one thread per element.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 32u) {
        return;
    }
    let r = i / 4u;
    let j = i % 4u;
    arena[636u + i] = arena[572u + r * 8u + 0u + j];
}

// ==== kernel 17: slice_last_35 ====
// %35 slice_last[2, 2, 2, 4] in concat_0/grad: out[r, j] = x[r, 4 + j] for 8 rows, j < 4 of 8; one thread per element.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 32u) {
        return;
    }
    let r = i / 4u;
    let j = i % 4u;
    arena[668u + i] = arena[572u + r * 8u + 4u + j];
}

// ==== kernel 18: avg_pool_grad_36 ====
// %36 avg_pool_grad[2, 4, 4, 4] in avg_pool_1/grad
// avg pool 2x2 gradient, stride (2, 2), pads top 0 left 0: one thread per input cell
// gathers dy from every window that contains it (no atomics). Window (oy, ox) covers rows
// [oy*2-0, oy*2-0+2) and columns [ox*2-0, ox*2-0+2), clipped to the image.
// Each window passes dy / (its count of non-padding cells) to each of its cells.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 128u) {
        return;
    }
    let c = i % 4u;
    let w = i32((i / 4u) % 4u);
    let h = i32((i / 16u) % 4u);
    let b = i / 64u;
    // windows oy with oy*sh - pt <= h < oy*sh - pt + kh, within [0, ho): oy >= ceil((h + pt - kh + 1) / sh)
    let hy = h + 0;
    let wx = w + 0;
    let oy0 = select(0, (hy - (0)) / 2, hy >= 2);
    let oy1 = min(hy / 2, 1);
    let ox0 = select(0, (wx - (0)) / 2, wx >= 2);
    let ox1 = min(wx / 2, 1);
    var acc = 0.0;
    for (var oy = oy0; oy <= oy1; oy++) {
        let y0 = max(oy * 2 - 0, 0);
        let y1 = min(oy * 2 - 0 + 2, 4);
        for (var ox = ox0; ox <= ox1; ox++) {
            let x0 = max(ox * 2 - 0, 0);
            let x1 = min(ox * 2 - 0 + 2, 4);
            let d = arena[668u + ((b * 2u + u32(oy)) * 2u + u32(ox)) * 4u + c];
            acc += d / f32((y1 - y0) * (x1 - x0));
        }
    }
    arena[700u + i] = acc;
}

// ==== kernel 19: avg_pool_grad_37 ====
// %37 avg_pool_grad[2, 4, 4, 4] in avg_pool_0/grad
// avg pool 2x2 gradient, stride (1, 1), pads top 0 left 0: one thread per input cell
// gathers dy from every window that contains it (no atomics). Window (oy, ox) covers rows
// [oy*1-0, oy*1-0+2) and columns [ox*1-0, ox*1-0+2), clipped to the image.
// Each window passes dy / (its count of non-padding cells) to each of its cells.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 128u) {
        return;
    }
    let c = i % 4u;
    let w = i32((i / 4u) % 4u);
    let h = i32((i / 16u) % 4u);
    let b = i / 64u;
    // windows oy with oy*sh - pt <= h < oy*sh - pt + kh, within [0, ho): oy >= ceil((h + pt - kh + 1) / sh)
    let hy = h + 0;
    let wx = w + 0;
    let oy0 = select(0, (hy - (1)) / 1, hy >= 2);
    let oy1 = min(hy / 1, 3);
    let ox0 = select(0, (wx - (1)) / 1, wx >= 2);
    let ox1 = min(wx / 1, 3);
    var acc = 0.0;
    for (var oy = oy0; oy <= oy1; oy++) {
        let y0 = max(oy * 1 - 0, 0);
        let y1 = min(oy * 1 - 0 + 2, 4);
        for (var ox = ox0; ox <= ox1; ox++) {
            let x0 = max(ox * 1 - 0, 0);
            let x1 = min(ox * 1 - 0 + 2, 4);
            let d = arena[700u + ((b * 4u + u32(oy)) * 4u + u32(ox)) * 4u + c];
            acc += d / f32((y1 - y0) * (x1 - x0));
        }
    }
    arena[828u + i] = acc;
}

// ==== kernel 20: max_pool_grad_38 ====
// %38 max_pool_grad[2, 4, 4, 4] in max_pool_0/grad
// max pool 2x2 gradient, stride (2, 2), pads top 0 left 0: one thread per input cell
// gathers dy from every window that contains it (no atomics). Window (oy, ox) covers rows
// [oy*2-0, oy*2-0+2) and columns [ox*2-0, ox*2-0+2), clipped to the image.
// A window's dy goes to its winner: the first max cell in row-major order (padding never wins), found
// again here by scanning the window.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 128u) {
        return;
    }
    let c = i % 4u;
    let w = i32((i / 4u) % 4u);
    let h = i32((i / 16u) % 4u);
    let b = i / 64u;
    // windows oy with oy*sh - pt <= h < oy*sh - pt + kh, within [0, ho): oy >= ceil((h + pt - kh + 1) / sh)
    let hy = h + 0;
    let wx = w + 0;
    let oy0 = select(0, (hy - (0)) / 2, hy >= 2);
    let oy1 = min(hy / 2, 1);
    let ox0 = select(0, (wx - (0)) / 2, wx >= 2);
    let ox1 = min(wx / 2, 1);
    var acc = 0.0;
    for (var oy = oy0; oy <= oy1; oy++) {
        let y0 = max(oy * 2 - 0, 0);
        let y1 = min(oy * 2 - 0 + 2, 4);
        for (var ox = ox0; ox <= ox1; ox++) {
            let x0 = max(ox * 2 - 0, 0);
            let x1 = min(ox * 2 - 0 + 2, 4);
            let d = arena[636u + ((b * 2u + u32(oy)) * 2u + u32(ox)) * 4u + c];
            let xb = 256u + b * 64u + c;
            var best = arena[xb + (u32(y0) * 4u + u32(x0)) * 4u];
            var by = y0;
            var bx = x0;
            for (var iy = y0; iy < y1; iy++) {
                for (var ix = x0; ix < x1; ix++) {
                    let v = arena[xb + (u32(iy) * 4u + u32(ix)) * 4u];
                    if (v > best) {
                        best = v;
                        by = iy;
                        bx = ix;
                    }
                }
            }
            if (by == h && bx == w) {
                acc += d;
            }
        }
    }
    arena[668u + i] = acc;
}

// ==== kernel 21: add_39 ====
// %39 add[2, 4, 4, 4] in max_pool_0/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 128 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 128u) {
        return;
    }
    var ia = 828u;
    var ib = 668u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[956u + i] = va + vb;
}

// ==== kernel 22: unary_grad_40_relu ====
// %40 unary_grad[2, 4, 4, 4] in relu_0/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 128 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 128u) {
        return;
    }
    var ia = 256u;
    var ib = 956u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[544u + i] = select(0.0, vb, va > 0.0);
}

// ==== kernel 23: unary_grad_41_relu6 ====
// %41 unary_grad[2, 4, 4, 4] in depthwise_conv2d_0/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 128 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 128u) {
        return;
    }
    var ia = 384u;
    var ib = 544u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[256u + i] = select(0.0, vb, va > 0.0 && va < 6.0);
}

// ==== kernel 24: depthwise_dx_42 ====
// %42 depthwise_dx[2, 4, 4, 4] in depthwise_conv2d_0/grad then %45 add[2, 4, 4, 4] in depthwise_conv2d_0/grad
// dx[b, h, w, c] = sum over taps and m of dy[b, oy, ox, c*1 + m] * w[ky, kx, c, m], oy = (h + 1 - ky) / 1 (ox likewise).
// One thread per input element. Only the taps with ky = (h + 1) mod 1 (mod 1; kx likewise) reach an output
// position: one branch per stride phase, each with just its taps unrolled and their offsets computed in Python.
// Then the elementwise ops fused after it (the epilogue: the gradient's relu and sums), in registers.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 128u) {
        return;
    }
    let c = i % 4u;
    let w = (i / 4u) % 4u;
    let h = (i / 16u) % 4u;
    let b = i / 64u;
    let hy = h + 1u;
    let wx = w + 1u;
    // output position of tap (ry, rx), the phase's first; tap (ry + ti*1, rx + tj*1) reads (qy - ti, qx - tj)
    let qy = i32(hy / 1u);
    let qx = i32(wx / 1u);
    // dy index of (b, qy, qx, c*1), possibly outside dy; each tap subtracts its own offset
    let base = i32(256u + b * 64u + c * 1u) + (qy * 4 + qx) * 4;
    let wbase = 168u + c * 1u;
    var acc = 0.0;
    if (qy >= 0 && qy < 4 && qx >= 0 && qx < 4) {
        acc = fma(arena[u32(base - 0)], params[wbase + 0u], acc);
    }
    if (qy >= 0 && qy < 4 && qx >= 1 && qx < 5) {
        acc = fma(arena[u32(base - 4)], params[wbase + 4u], acc);
    }
    if (qy >= 0 && qy < 4 && qx >= 2 && qx < 6) {
        acc = fma(arena[u32(base - 8)], params[wbase + 8u], acc);
    }
    if (qy >= 1 && qy < 5 && qx >= 0 && qx < 4) {
        acc = fma(arena[u32(base - 16)], params[wbase + 12u], acc);
    }
    if (qy >= 1 && qy < 5 && qx >= 1 && qx < 5) {
        acc = fma(arena[u32(base - 20)], params[wbase + 16u], acc);
    }
    if (qy >= 1 && qy < 5 && qx >= 2 && qx < 6) {
        acc = fma(arena[u32(base - 24)], params[wbase + 20u], acc);
    }
    if (qy >= 2 && qy < 6 && qx >= 0 && qx < 4) {
        acc = fma(arena[u32(base - 32)], params[wbase + 24u], acc);
    }
    if (qy >= 2 && qy < 6 && qx >= 1 && qx < 5) {
        acc = fma(arena[u32(base - 36)], params[wbase + 28u], acc);
    }
    if (qy >= 2 && qy < 6 && qx >= 2 && qx < 6) {
        acc = fma(arena[u32(base - 40)], params[wbase + 32u], acc);
    }
    let o = i;
    var v = acc;
    v = arena[544u + o] + v;
    arena[384u + o] = v;
}

// ==== kernel 25: depthwise_dw_43 ====
// %43 depthwise_dw[3, 3, 4, 1] in depthwise_conv2d_0/grad
// dw[ky, kx, c, m] = sum over p = (b, oy, ox) of x[b, oy*1 + ky - 1, ox*1 + kx - 1, c] * dy[b, oy, ox, c*1 + m].
// A workgroup takes 4 output channels o = c*1 + m (contiguous in dy) x 64 lanes over the positions of
// its chunk of 32 (1 chunk(s) of 32); each thread sums all 9 taps over its positions at once
// (a private array), then each tap is summed over the lanes by a tree in workgroup memory into dst[chunk, ky, kx, o].
@group(0) @binding(0) var<storage, read> arena: array<f32>;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(4, 64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let g = wid.y * 1u + wid.x;
    if (g >= 1u) {
        return;
    }
    let chunk = g / 1u;
    let o = (g % 1u) * 4u + lid3.x;
    let live = o < 4u;
    let c = min(o, 3u) / 1u;
    let p_end = min((chunk + 1u) * 32u, 32u);
    var acc: array<f32, 9>;   // tap t = ky*3 + kx, zero-initialised
    if (live) {
        for (var p = chunk * 32u + lid3.y; p < p_end; p += 64u) {
            let ox = p % 4u;
            let oy = (p / 4u) % 4u;
            let b = p / 16u;
            let d = arena[256u + p * 4u + o];
            let iy0 = i32(oy * 1u) - 1;
            let ix0 = i32(ox * 1u) - 1;
            // x index of tap (0, 0), possibly outside the image
            let base = i32(0u + b * 64u + c) + (iy0 * 4 + ix0) * 4;
            // a loop of constant length (a compiler may unroll it), each tap tested against the image
            for (var t = 0; t < 9; t++) {
                let ky = t / 3;
                let kx = t % 3;
                if (iy0 >= -ky && iy0 < 4 - ky && ix0 >= -kx && ix0 < 4 - kx) {
                    acc[t] = fma(arena[u32(base + (ky * 4 + kx) * 4)], d, acc[t]);
                }
            }
        }
    }
    for (var t = 0u; t < 9u; t++) {
        part[tid] = acc[t];
        workgroupBarrier();
    for (var gap = 32u; gap > 0u; gap /= 2u) {
        if (lid3.y < gap) {
            part[tid] += part[tid + gap * 4u];
        }
        workgroupBarrier();
    }
        if (lid3.y == 0u && live) {
            grads[168u + chunk * 36u + t * 4u + o] = part[tid];
        }
        workgroupBarrier();
    }
}

// ==== kernel 26: reduce_to_44 ====
// %44 reduce_to[4] in depthwise_conv2d_0/grad
// dst[o] = sum over the 32 reduced positions j of x[base(o) + offset(j)], for 4 outputs o.
// A workgroup of 4 outputs x 64 lanes: lane y adds positions y, y + 64, ... of its chunk of
// 32 (chunk g of 1), then the lanes are added in workgroup memory.
// Axes (size, x stride) are innermost first; kept: 1, reduced: 1.
@group(0) @binding(0) var<storage, read> arena: array<f32>;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(4, 64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = wid.y * 1u + wid.x;
    if (t >= 1u) {
        return;
    }
    let o = (t % 1u) * 4u + lid.x;
    let g = t / 1u;
    var s = 0.0;
    if (o < 4u) {
        var base = 256u;
        var ro = o;
        base += ro * 1u;
        let end = min((g + 1u) * 32u, 32u);
        for (var j = g * 32u + lid.y; j < end; j += 64u) {
            var idx = base;
            var q = j;
            idx += q * 4u;
            s += arena[idx];
        }
    }
    part[lid.y * 4u + lid.x] = s;
    workgroupBarrier();
    for (var gap = 32u; gap > 0u; gap /= 2u) {
        if (lid.y < gap) {
            part[lid.y * 4u + lid.x] += part[lid.y * 4u + lid.x + gap * 4u];
        }
        workgroupBarrier();
    }
    if (lid.y == 0u && o < 4u) {
        grads[204u + g * 4u + o] = part[lid.x];
    }
}

// ==== kernel 27: conv2d_dx_46 ====
// %46 conv2d_dx[2, 4, 4, 4] in separable_conv2d_0/grad
// out[m, n] = sum_k A[m, k] * B[k, n]; M=32 N=4 K=4 in all, split among the phases.
// A transposed convolution, split by stride phase: the input rows h = h0 + hh*1 (cols likewise) only
// meet the taps ky = ry + ti*1, ry = (h + 0) % 1, at output row oy = (h + 0 - ky) / 1. Each phase is
// its own product over m = (b, hh, ww), k = (ti, tj, co): A[m, k] = dy[b, oy, ox, co] (zero off the
// output), B[k, n] = w[ky, kx, n, co]; its rows are scattered to dx[b, h, w, n].
// One 32x16 output tile per workgroup of 16x16 threads; each thread keeps a 2x1
// block in registers (rows ty + 16*i, columns tx + 16*j); K is walked in steps of 8 through
// workgroup memory, A and B loaded 1 and 4 floats at a time.
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
const BROW: u32 = BN + 1u;
var<workgroup> As: array<f32, 264>;
var<workgroup> Bs: array<f32, 136>;
const NONE: u32 = 0xffffffffu;

// The product a workgroup computes: its row and depth counts (and, per stride phase, the index map).
struct Problem {
    rows: u32,
    depth: u32,
    t0: u32,   // its first tile
    hp: u32,   // input rows h = h0 + hh*SH, hh < hp (cols likewise)
    wp: u32,
    h0: u32,
    w0: u32,
    ry: u32,   // taps ky = ry + ti*SH (kx likewise), tj < ntx
    rx: u32,
    ntx: u32,
    qy: i32,   // output row of (hh, ti) = (0, 0)
    qx: i32,
}

fn problem(t: u32) -> Problem {
    return Problem(32u, 4u, 0u, 4u, 4u, 0u, 0u, 0u, 0u, 1u, 0, 0);
}

// Where A[m, k] is in arena: NONE outside A (and off the image).
fn a_at(p: Problem, m: u32, k: u32) -> u32 {
    if (m >= p.rows || k >= p.depth) {
        return NONE;
    }
    let ww = m % p.wp;
    let hh = (m / p.wp) % p.hp;
    let b = m / (p.wp * p.hp);
    let co = k % 4u;
    let tap = k / 4u;
    let oy = p.qy + i32(hh) - i32(tap / p.ntx);
    let ox = p.qx + i32(ww) - i32(tap % p.ntx);
    if (oy < 0 || oy >= 4 || ox < 0 || ox >= 4) {
        return NONE;
    }
    return 544u + ((b * 4u + u32(oy)) * 4u + u32(ox)) * 4u + co;
}

// Where B[k, n] is in params: NONE outside B.
fn b_at(p: Problem, k: u32, n: u32) -> u32 {
    if (k >= p.depth || n >= N) {
        return NONE;
    }
    let co = k % 4u;
    let tap = k / 4u;
    let ky = p.ry + (tap / p.ntx) * 1u;
    let kx = p.rx + (tap % p.ntx) * 1u;
    return 148u + ((ky * 1u + kx) * 4u + n) * 4u + co;
}

fn store(p: Problem, chunk: u32, m: u32, n: u32, v: f32) {
    let ww = m % p.wp;
    let hh = (m / p.wp) % p.hp;
    let b = m / (p.wp * p.hp);
    let h = p.h0 + hh * 1u;
    let w = p.w0 + ww * 1u;
    arena[256u + ((b * 4u + h) * 4u + w) * N + n] = v;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let g = wid.y * 1u + wid.x;
    if (g >= 1u) {
        return;
    }
    let chunk = g / 1u;
    let p = problem(g);
    let tile = g - p.t0;
    let k_begin = 0u;
    let k_end = p.depth;
    let m0 = (tile / 1u) * BM;
    let n0 = (tile % 1u) * BN;
    let tx = lid3.x;
    let ty = lid3.y;
    var acc0_0 = 0.0;
    var acc1_0 = 0.0;

    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        // consecutive threads read consecutive addresses (k of A, k of B)
        for (var l = 0u; l < 1u; l++) {
            let e = tid + l * 256u;
            let f = (e % 8u);
            let s = e / 8u;
            let at = a_at(p, m0 + s, k0 + f);
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
            let f = (e % 2u) * 4u;
            let s = e / 2u;
            let at = b_at(p, k0 + f, n0 + s);
            var v = vec4<f32>(0.0);
            if (at != NONE) {
                v = params_4[at / 4u];
            }
            Bs[(f + 0u) * BROW + s] = v[0];
            Bs[(f + 1u) * BROW + s] = v[1];
            Bs[(f + 2u) * BROW + s] = v[2];
            Bs[(f + 3u) * BROW + s] = v[3];
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
        if (m < p.rows && n < N) {
            store(p, chunk, m, n, r);
        }

    }
    {
        let m = m0 + ty + 16u;
        let n = n0 + tx + 0u;
        let r = acc1_0;
        if (m < p.rows && n < N) {
            store(p, chunk, m, n, r);
        }

    }
}

// ==== kernel 28: conv2d_dw_47 ====
// %47 conv2d_dw[1, 1, 4, 4] in separable_conv2d_0/grad
// out[m, n] = sum_k A[m, k] * B[k, n]; M=4 N=4 K=32.
// A[m, k] = x[b, oy*1 + ky - 0, ox*1 + kx - 0, ci], m = (ky, kx, ci), k = (b, oy, ox): the
// transposed im2col of the image (zero in the padding); out is the HWIO weight gradient.
// B[k, n] = arena[k * N + n] (row-major).
// One 16x16 output tile per workgroup of 16x16 threads; each thread keeps a 1x1
// block in registers (rows ty + 16*i, columns tx + 16*j); K is walked in steps of 8 through
// workgroup memory, A and B loaded 4 and 4 floats at a time.
// The first row of tiles also sums B's columns over k: the bias gradient.
@group(0) @binding(0) var<storage, read> arena: array<f32>;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;
@group(0) @binding(2) var<storage, read> arena_4: array<vec4<f32>>;

const BM: u32 = 16u;
const BN: u32 = 16u;
const BK: u32 = 8u;
const M: u32 = 4u;
const N: u32 = 4u;
const K: u32 = 32u;
const AROW: u32 = BM + 1u;
const BROW: u32 = BN + 0u;
var<workgroup> As: array<f32, 136>;
var<workgroup> Bs: array<f32, 128>;
const NONE: u32 = 0xffffffffu;

// The product a workgroup computes: its row and depth counts (and, per stride phase, the index map).
struct Problem {
    rows: u32,
    depth: u32,
}


// Where A[m, k] is in arena: NONE outside A (and off the image).
fn a_at(p: Problem, m: u32, k: u32) -> u32 {
    if (m >= p.rows || k >= p.depth) {
        return NONE;
    }
    let ci = m % 4u;
    let kx = (m / 4u) % 1u;
    let ky = m / 4u;
    let ox = k % 4u;
    let oy = (k / 4u) % 4u;
    let b = k / 16u;
    let iy = i32(oy * 1u + ky) - 0;
    let ix = i32(ox * 1u + kx) - 0;
    if (iy < 0 || iy >= 4 || ix < 0 || ix >= 4) {
        return NONE;
    }
    return 128u + ((b * 4u + u32(iy)) * 4u + u32(ix)) * 4u + ci;
}

// Where B[k, n] is in arena: NONE outside B.
fn b_at(p: Problem, k: u32, n: u32) -> u32 {
    if (k >= p.depth || n >= N) {
        return NONE;
    }
    return 544u + k * N + n;
}

fn store(p: Problem, chunk: u32, m: u32, n: u32, v: f32) {
    grads[148u + chunk * 0u + m * N + n] = v;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let g = wid.y * 1u + wid.x;
    if (g >= 1u) {
        return;
    }
    let chunk = g / 1u;
    let p = Problem(M, K);
    let tile = g % 1u;
    let k_begin = chunk * 32u;
    let k_end = min(k_begin + 32u, K);
    let m0 = (tile / 1u) * BM;
    let n0 = (tile % 1u) * BN;
    let tx = lid3.x;
    let ty = lid3.y;
    var acc0_0 = 0.0;

    var bsum = 0.0;
    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        // consecutive threads read consecutive addresses (m of A, n of B)
        for (var l = 0u; l < 1u; l++) {
            let e = tid + l * 256u;
            if (e >= 32u) {
                break;
            }
            let f = (e % 4u) * 4u;
            let s = e / 4u;
            let at = a_at(p, m0 + f, k0 + s);
            var v = vec4<f32>(0.0);
            if (at != NONE) {
                v = arena_4[at / 4u];
            }
            As[s * AROW + f + 0u] = v[0];
            As[s * AROW + f + 1u] = v[1];
            As[s * AROW + f + 2u] = v[2];
            As[s * AROW + f + 3u] = v[3];
        }
        for (var l = 0u; l < 1u; l++) {
            let e = tid + l * 256u;
            if (e >= 32u) {
                break;
            }
            let f = (e % 4u) * 4u;
            let s = e / 4u;
            let at = b_at(p, k0 + s, n0 + f);
            var v = vec4<f32>(0.0);
            if (at != NONE) {
                v = arena_4[at / 4u];
            }
            Bs[s * BROW + f + 0u] = v[0];
            Bs[s * BROW + f + 1u] = v[1];
            Bs[s * BROW + f + 2u] = v[2];
            Bs[s * BROW + f + 3u] = v[3];
        }
        workgroupBarrier();
        if (m0 == 0u && tid < BN) {
            for (var kk = 0u; kk < BK; kk++) {
                bsum += Bs[kk * BROW + tid];
            }
        }
        for (var kk = 0u; kk < BK; kk++) {
            let a0 = As[kk * AROW + ty + 0u];
            let b0 = Bs[kk * BROW + tx + 0u];
            acc0_0 = fma(a0, b0, acc0_0);
        }
        workgroupBarrier();
    }
    {
        let m = m0 + ty + 0u;
        let n = n0 + tx + 0u;
        let r = acc0_0;
        if (m < p.rows && n < N) {
            store(p, chunk, m, n, r);
        }

    }
    if (m0 == 0u && tid < BN && n0 + tid < N) {
        grads[164u + n0 + tid] = bsum;
    }
}

// ==== kernel 29: depthwise_dx_49 ====
// %49 depthwise_dx[2, 4, 4, 4] in separable_conv2d_0/grad then %51 add[2, 4, 4, 4] in separable_conv2d_0/grad then %52 unary_grad[2, 4, 4, 4] in conv2d_0/grad
// dx[b, h, w, c] = sum over taps and m of dy[b, oy, ox, c*1 + m] * w[ky, kx, c, m], oy = (h + 1 - ky) / 1 (ox likewise).
// One thread per input element. Only the taps with ky = (h + 1) mod 1 (mod 1; kx likewise) reach an output
// position: one branch per stride phase, each with just its taps unrolled and their offsets computed in Python.
// Then the elementwise ops fused after it (the epilogue: the gradient's relu and sums), in registers.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 128u) {
        return;
    }
    let c = i % 4u;
    let w = (i / 4u) % 4u;
    let h = (i / 16u) % 4u;
    let b = i / 64u;
    let hy = h + 1u;
    let wx = w + 1u;
    // output position of tap (ry, rx), the phase's first; tap (ry + ti*1, rx + tj*1) reads (qy - ti, qx - tj)
    let qy = i32(hy / 1u);
    let qx = i32(wx / 1u);
    // dy index of (b, qy, qx, c*1), possibly outside dy; each tap subtracts its own offset
    let base = i32(256u + b * 64u + c * 1u) + (qy * 4 + qx) * 4;
    let wbase = 112u + c * 1u;
    var acc = 0.0;
    if (qy >= 0 && qy < 4 && qx >= 0 && qx < 4) {
        acc = fma(arena[u32(base - 0)], params[wbase + 0u], acc);
    }
    if (qy >= 0 && qy < 4 && qx >= 1 && qx < 5) {
        acc = fma(arena[u32(base - 4)], params[wbase + 4u], acc);
    }
    if (qy >= 0 && qy < 4 && qx >= 2 && qx < 6) {
        acc = fma(arena[u32(base - 8)], params[wbase + 8u], acc);
    }
    if (qy >= 1 && qy < 5 && qx >= 0 && qx < 4) {
        acc = fma(arena[u32(base - 16)], params[wbase + 12u], acc);
    }
    if (qy >= 1 && qy < 5 && qx >= 1 && qx < 5) {
        acc = fma(arena[u32(base - 20)], params[wbase + 16u], acc);
    }
    if (qy >= 1 && qy < 5 && qx >= 2 && qx < 6) {
        acc = fma(arena[u32(base - 24)], params[wbase + 20u], acc);
    }
    if (qy >= 2 && qy < 6 && qx >= 0 && qx < 4) {
        acc = fma(arena[u32(base - 32)], params[wbase + 24u], acc);
    }
    if (qy >= 2 && qy < 6 && qx >= 1 && qx < 5) {
        acc = fma(arena[u32(base - 36)], params[wbase + 28u], acc);
    }
    if (qy >= 2 && qy < 6 && qx >= 2 && qx < 6) {
        acc = fma(arena[u32(base - 40)], params[wbase + 32u], acc);
    }
    let o = i;
    var v = acc;
    v = arena[384u + o] + v;
    v = select(0.0, v, arena[0u + o] > 0.0);
    arena[128u + o] = v;
}

// ==== kernel 30: depthwise_dw_50 ====
// %50 depthwise_dw[3, 3, 4, 1] in separable_conv2d_0/grad
// dw[ky, kx, c, m] = sum over p = (b, oy, ox) of x[b, oy*1 + ky - 1, ox*1 + kx - 1, c] * dy[b, oy, ox, c*1 + m].
// A workgroup takes 4 output channels o = c*1 + m (contiguous in dy) x 64 lanes over the positions of
// its chunk of 32 (1 chunk(s) of 32); each thread sums all 9 taps over its positions at once
// (a private array), then each tap is summed over the lanes by a tree in workgroup memory into dst[chunk, ky, kx, o].
@group(0) @binding(0) var<storage, read> arena: array<f32>;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(4, 64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let g = wid.y * 1u + wid.x;
    if (g >= 1u) {
        return;
    }
    let chunk = g / 1u;
    let o = (g % 1u) * 4u + lid3.x;
    let live = o < 4u;
    let c = min(o, 3u) / 1u;
    let p_end = min((chunk + 1u) * 32u, 32u);
    var acc: array<f32, 9>;   // tap t = ky*3 + kx, zero-initialised
    if (live) {
        for (var p = chunk * 32u + lid3.y; p < p_end; p += 64u) {
            let ox = p % 4u;
            let oy = (p / 4u) % 4u;
            let b = p / 16u;
            let d = arena[256u + p * 4u + o];
            let iy0 = i32(oy * 1u) - 1;
            let ix0 = i32(ox * 1u) - 1;
            // x index of tap (0, 0), possibly outside the image
            let base = i32(0u + b * 64u + c) + (iy0 * 4 + ix0) * 4;
            // a loop of constant length (a compiler may unroll it), each tap tested against the image
            for (var t = 0; t < 9; t++) {
                let ky = t / 3;
                let kx = t % 3;
                if (iy0 >= -ky && iy0 < 4 - ky && ix0 >= -kx && ix0 < 4 - kx) {
                    acc[t] = fma(arena[u32(base + (ky * 4 + kx) * 4)], d, acc[t]);
                }
            }
        }
    }
    for (var t = 0u; t < 9u; t++) {
        part[tid] = acc[t];
        workgroupBarrier();
    for (var gap = 32u; gap > 0u; gap /= 2u) {
        if (lid3.y < gap) {
            part[tid] += part[tid + gap * 4u];
        }
        workgroupBarrier();
    }
        if (lid3.y == 0u && live) {
            grads[112u + chunk * 36u + t * 4u + o] = part[tid];
        }
        workgroupBarrier();
    }
}

// ==== kernel 31: conv2d_dw_53 ====
// %53 conv2d_dw[3, 3, 3, 4] in conv2d_0/grad
// out[m, n] = sum_k A[m, k] * B[k, n]; M=27 N=4 K=32.
// A[m, k] = x[b, oy*2 + ky - 0, ox*2 + kx - 0, ci], m = (ky, kx, ci), k = (b, oy, ox): the
// transposed im2col of the image (zero in the padding); out is the HWIO weight gradient.
// B[k, n] = arena[k * N + n] (row-major).
// One 32x16 output tile per workgroup of 16x16 threads; each thread keeps a 2x1
// block in registers (rows ty + 16*i, columns tx + 16*j); K is walked in steps of 8 through
// workgroup memory, A and B loaded 1 and 4 floats at a time.
// The first row of tiles also sums B's columns over k: the bias gradient.
@group(0) @binding(0) var<storage, read> in_image: array<f32>;
@group(0) @binding(1) var<storage, read> arena: array<f32>;
@group(0) @binding(2) var<storage, read_write> grads: array<f32>;
@group(0) @binding(3) var<storage, read> arena_4: array<vec4<f32>>;

const BM: u32 = 32u;
const BN: u32 = 16u;
const BK: u32 = 8u;
const M: u32 = 27u;
const N: u32 = 4u;
const K: u32 = 32u;
const AROW: u32 = BM + 1u;
const BROW: u32 = BN + 0u;
var<workgroup> As: array<f32, 264>;
var<workgroup> Bs: array<f32, 128>;
const NONE: u32 = 0xffffffffu;

// The product a workgroup computes: its row and depth counts (and, per stride phase, the index map).
struct Problem {
    rows: u32,
    depth: u32,
}


// Where A[m, k] is in in_image: NONE outside A (and off the image).
fn a_at(p: Problem, m: u32, k: u32) -> u32 {
    if (m >= p.rows || k >= p.depth) {
        return NONE;
    }
    let ci = m % 3u;
    let kx = (m / 3u) % 3u;
    let ky = m / 9u;
    let ox = k % 4u;
    let oy = (k / 4u) % 4u;
    let b = k / 16u;
    let iy = i32(oy * 2u + ky) - 0;
    let ix = i32(ox * 2u + kx) - 0;
    if (iy < 0 || iy >= 8 || ix < 0 || ix >= 8) {
        return NONE;
    }
    return 0u + ((b * 8u + u32(iy)) * 8u + u32(ix)) * 3u + ci;
}

// Where B[k, n] is in arena: NONE outside B.
fn b_at(p: Problem, k: u32, n: u32) -> u32 {
    if (k >= p.depth || n >= N) {
        return NONE;
    }
    return 128u + k * N + n;
}

fn store(p: Problem, chunk: u32, m: u32, n: u32, v: f32) {
    grads[0u + chunk * 0u + m * N + n] = v;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let g = wid.y * 1u + wid.x;
    if (g >= 1u) {
        return;
    }
    let chunk = g / 1u;
    let p = Problem(M, K);
    let tile = g % 1u;
    let k_begin = chunk * 32u;
    let k_end = min(k_begin + 32u, K);
    let m0 = (tile / 1u) * BM;
    let n0 = (tile % 1u) * BN;
    let tx = lid3.x;
    let ty = lid3.y;
    var acc0_0 = 0.0;
    var acc1_0 = 0.0;

    var bsum = 0.0;
    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        // consecutive threads read consecutive addresses (m of A, n of B)
        for (var l = 0u; l < 1u; l++) {
            let e = tid + l * 256u;
            let f = (e % 32u);
            let s = e / 32u;
            let at = a_at(p, m0 + f, k0 + s);
            var v = 0.0;
            if (at != NONE) {
                v = in_image[at];
            }
            As[s * AROW + f] = v;
        }
        for (var l = 0u; l < 1u; l++) {
            let e = tid + l * 256u;
            if (e >= 32u) {
                break;
            }
            let f = (e % 4u) * 4u;
            let s = e / 4u;
            let at = b_at(p, k0 + s, n0 + f);
            var v = vec4<f32>(0.0);
            if (at != NONE) {
                v = arena_4[at / 4u];
            }
            Bs[s * BROW + f + 0u] = v[0];
            Bs[s * BROW + f + 1u] = v[1];
            Bs[s * BROW + f + 2u] = v[2];
            Bs[s * BROW + f + 3u] = v[3];
        }
        workgroupBarrier();
        if (m0 == 0u && tid < BN) {
            for (var kk = 0u; kk < BK; kk++) {
                bsum += Bs[kk * BROW + tid];
            }
        }
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
        if (m < p.rows && n < N) {
            store(p, chunk, m, n, r);
        }

    }
    {
        let m = m0 + ty + 16u;
        let n = n0 + tx + 0u;
        let r = acc1_0;
        if (m < p.rows && n < N) {
            store(p, chunk, m, n, r);
        }

    }
    if (m0 == 0u && tid < BN && n0 + tid < N) {
        grads[108u + n0 + tid] = bsum;
    }
}

// ==== kernel 32: adam ====
// adam over 253 trainable parameters: lr 0.001 (default), beta1 0.9, beta2 0.999, eps 1e-07
// Fused Adam over the 253 trainable parameters (params[0:256], as 64 vec4s, one thread each), in
// TensorFlow's formulation (epsilon outside the bias correction):
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   p = p - lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)
// The per-step values come from the uniform step: [0] = (lr, beta1, beta2, eps), [1] = (bias1, bias2, t, seed),
// bias1 = 1 - beta1^t, bias2 = 1 - beta2^t. The gaps between parameters hold zeros and stay zero.
@group(0) @binding(0) var<storage, read_write> params: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> adam_m: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> adam_v: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> step: array<vec4<f32>, 2>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 64u) {
        return;
    }
    let alpha = step[0].x * sqrt(step[1].y) / step[1].x;
    let g = grads[i];
    let m = step[0].y * adam_m[i] + (1.0 - step[0].y) * g;
    let v = step[0].z * adam_v[i] + (1.0 - step[0].z) * g * g;
    adam_m[i] = m;
    adam_v[i] = v;
    params[i] = params[i] - alpha * m / (sqrt(v) + step[0].w);
}

