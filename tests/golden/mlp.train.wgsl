// ==== kernel 0: dense_4 ====
// %4 dense[2, 8] in dense_0 then %5 relu[2, 8] in dense_0 then %6 leaky_relu[2, 8] in leaky_relu_0
// out[m, n] = f(sum_k x[m, k] * w[k, n] (+ bias[n])) for a batch of 2 rows (fewer than a 16-row tile):
// one thread per output element walks K=6; consecutive threads read consecutive columns of w.
@group(0) @binding(0) var<storage, read> in_x: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    let n = i % 8u;
    let xb = 0u + (i / 8u) * 6u;
    let wb = 0u + n;
    var acc = 0.0;
    for (var k = 0u; k < 6u; k++) {
        acc = fma(in_x[xb + k], params[wb + k * 8u], acc);
    }
    let o = i;
    var v = acc + params[48u + n];
    v = select(v, 0.0, v < 0.0);
    arena[0u + o] = v;
    v = select(v, v * 0.1, v < 0.0);
    arena[16u + o] = v;
}

// ==== kernel 1: relu6_7 ====
// %7 relu6[2, 8] in relu6_0: out[i] = f(x[i]) over 16 elements, one thread each.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    let v = arena[0u + i];
    arena[32u + i] = select(select(v, 6.0, v > 6.0), 0.0, v < 0.0);
}

// ==== kernel 2: mul_9 ====
// %9 mul[2, 8] in mul_0: out[i] = f(a[ia], b[ib]) with broadcasting over 16 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> consts: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    var ia = 32u;
    var ib = 0u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
    }
    let va = arena[ia];
    let vb = consts[ib];
    arena[48u + i] = va * vb;
}

// ==== kernel 3: add_10 ====
// %10 add[2, 8] in add_0: out[i] = f(a[ia], b[ib]) with broadcasting over 16 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    var ia = 16u;
    var ib = 48u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[64u + i] = va + vb;
}

// ==== kernel 4: tanh_11 ====
// %11 tanh[2, 8] in tanh_0: out[i] = f(x[i]) over 16 elements, one thread each.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    let v = arena[64u + i];
    arena[48u + i] = select(tanh(v), sign(v), abs(v) > 15.0);
}

// ==== kernel 5: sigmoid_12 ====
// %12 sigmoid[2, 8] in sigmoid_0: out[i] = f(x[i]) over 16 elements, one thread each.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    let v = arena[64u + i];
    arena[80u + i] = 1.0 / (1.0 + exp(-v));
}

// ==== kernel 6: div_14 ====
// %14 div[2, 8] in div_0: out[i] = f(a[ia], b[ib]) with broadcasting over 16 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> consts: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    var ia = 80u;
    var ib = 4u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
    }
    let va = arena[ia];
    let vb = consts[ib];
    arena[64u + i] = va / vb;
}

// ==== kernel 7: sub_15 ====
// %15 sub[2, 8] in sub_0: out[i] = f(a[ia], b[ib]) with broadcasting over 16 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    var ia = 48u;
    var ib = 64u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[96u + i] = va - vb;
}

// ==== kernel 8: dense_18 ====
// %18 dense[2, 3] in dense_1 then %19 sigmoid[2, 3] in dense_1 then %20 abs[2, 3] in abs_0 then %21 exp[2, 3] in exp_0
// out[m, n] = f(sum_k x[m, k] * w[k, n] (+ bias[n])) for a batch of 2 rows (fewer than a 16-row tile):
// one thread per output element walks K=8; consecutive threads read consecutive columns of w.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 6u) {
        return;
    }
    let n = i % 3u;
    let xb = 96u + (i / 3u) * 8u;
    let wb = 56u + n;
    var acc = 0.0;
    for (var k = 0u; k < 8u; k++) {
        acc = fma(arena[xb + k], params[wb + k * 3u], acc);
    }
    let o = i;
    var v = acc + params[80u + n];
    v = 1.0 / (1.0 + exp(-v));
    arena[64u + o] = v;
    v = abs(v);
    v = exp(v);
    arena[72u + o] = v;
}

// ==== kernel 9: add_23 ====
// %23 add[2, 3] in add_1: out[i] = f(a[ia], b[ib]) with broadcasting over 6 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> consts: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 6u) {
        return;
    }
    var ia = 64u;
    var ib = 8u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
    }
    let va = arena[ia];
    let vb = consts[ib];
    arena[112u + i] = va + vb;
}

// ==== kernel 10: log_24 ====
// %24 log[2, 3] in log_0: out[i] = f(x[i]) over 6 elements, one thread each.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 6u) {
        return;
    }
    let v = arena[112u + i];
    arena[120u + i] = log(v);
}

// ==== kernel 11: add_25 ====
// %25 add[2, 3] in add_2: out[i] = f(a[ia], b[ib]) with broadcasting over 6 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 6u) {
        return;
    }
    var ia = 72u;
    var ib = 120u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[128u + i] = va + vb;
}

// ==== kernel 12: softmax_26 ====
// %26 softmax[2, 3] in softmax_0
// softmax over the last axis: 2 rows of 3, max subtracted before exp.
// Short rows: one thread per row.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let r = (wid.y * 1u + wid.x) * 256u + lid;
    if (r >= 2u) {
        return;
    }
    let xb = 128u + r * 3u;
    let ob = 120u + r * 3u;
    // the max starts at the row's first element: a constant such as -3.4e38 would beat logits below it
    var m = arena[xb];
    for (var j = 0u; j < 3u; j++) {
        m = max(m, arena[xb + j]);
    }
    var s = 0.0;
    for (var j = 0u; j < 3u; j++) {
        s += exp(arena[xb + j] - m);
    }
    let inv = 1.0 / s;
    for (var j = 0u; j < 3u; j++) {
        arena[ob + j] = exp(arena[xb + j] - m) * inv;
    }
}

// ==== kernel 13: mse_27 ====
// %27 mse[] in mse_0
// 1 workgroup(s) of 256 threads; workgroup g adds term(i) for i in [g*6, (g+1)*6) ∩ [0, 6),
// each thread a strided part, then a tree in workgroup memory; dst[g] = that sum. Each term is scaled by
// 0.16666666666666666 (1/n for a mean) before it is added, so that a mean of huge terms does not overflow on the way.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> in_target: array<f32>;

var<workgroup> part: array<f32, 256>;

fn term(i: u32) -> f32 {
    let d = arena[64u + i] - in_target[0u + i];
    return d * (d * 0.16666666666666666);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wid.x;
    let end = min((g + 1u) * 6u, 6u);
    var s = 0.0;
    for (var i = g * 6u + lid; i < end; i += 256u) {
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
        arena[136u + g] = part[0];
    }
}

// ==== kernel 14: mean_28 ====
// %28 mean[] in mean_0
// 1 workgroup(s) of 256 threads; workgroup g adds term(i) for i in [g*6, (g+1)*6) ∩ [0, 6),
// each thread a strided part, then a tree in workgroup memory; dst[g] = that sum. Each term is scaled by
// 0.16666666666666666 (1/n for a mean) before it is added, so that a mean of huge terms does not overflow on the way.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

var<workgroup> part: array<f32, 256>;

fn term(i: u32) -> f32 {
    return arena[128u + i] * 0.16666666666666666;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wid.x;
    let end = min((g + 1u) * 6u, 6u);
    var s = 0.0;
    for (var i = g * 6u + lid; i < end; i += 256u) {
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
        arena[140u + g] = part[0];
    }
}

// ==== kernel 15: add_29 ====
// %29 add[] in add_3: out[i] = f(a[ia], b[ib]) with broadcasting over 1 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 1u) {
        return;
    }
    var ia = 136u;
    var ib = 140u;
    var r = i;

    let va = arena[ia];
    let vb = arena[ib];
    arena[128u + i] = va + vb;
}

// ==== kernel 16: broadcast_31 ====
// %31 broadcast[2, 3] in mean_0/grad: out[i] = x[ix] * 0.16666666666666666 over 6 elements, one thread each (NumPy broadcasting).
// Axes are collapsed in Python; each has (size, x stride), innermost first; stride 0 repeats x.
@group(0) @binding(0) var<storage, read> consts: array<f32>;
@group(0) @binding(1) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 6u) {
        return;
    }
    var ix = 12u;
    var r = i;
    {
        let c = r;
    }
    arena[120u + i] = consts[ix] * 0.16666666666666666;
}

// ==== kernel 17: mse_grad_32 ====
// %32 mse_grad[2, 3] in mse_0/grad: d(loss)/d(pred) over 6 elements, one thread each; dl is the loss's gradient (a scalar).
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> in_target: array<f32>;
@group(0) @binding(2) var<storage, read> consts: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 6u) {
        return;
    }
    let p = arena[64u + i];
    let t = in_target[0u + i];
    let dl = consts[12u];
    arena[132u + i] = (p - t) * (dl * 0.3333333333333333);
}

// ==== kernel 18: unary_grad_33_log ====
// %33 unary_grad[2, 3] in log_0/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 6 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 6u) {
        return;
    }
    var ia = 112u;
    var ib = 120u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[140u + i] = vb / va;
}

// ==== kernel 19: add_34 ====
// %34 add[2, 3] in add_1/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 6 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 6u) {
        return;
    }
    var ia = 132u;
    var ib = 140u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[112u + i] = va + vb;
}

// ==== kernel 20: unary_grad_35_exp ====
// %35 unary_grad[2, 3] in exp_0/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 6 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 6u) {
        return;
    }
    var ia = 72u;
    var ib = 120u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[132u + i] = vb * va;
}

// ==== kernel 21: unary_grad_36_abs ====
// %36 unary_grad[2, 3] in abs_0/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 6 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 6u) {
        return;
    }
    var ia = 64u;
    var ib = 132u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[72u + i] = vb * sign(va);
}

// ==== kernel 22: add_37 ====
// %37 add[2, 3] in abs_0/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 6 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 6u) {
        return;
    }
    var ia = 112u;
    var ib = 72u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[120u + i] = va + vb;
}

// ==== kernel 23: unary_grad_38_sigmoid ====
// %38 unary_grad[2, 3] in dense_1/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 6 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 6u) {
        return;
    }
    var ia = 64u;
    var ib = 120u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[72u + i] = vb * (va * (1.0 - va));
}

// ==== kernel 24: dense_dx_39 ====
// %39 dense_dx[2, 8] in dense_1/grad
// out[m, n] = sum_k A[m, k] * B[k, n]; M=2 N=8 K=3.
// A[m, k] = arena[m * K + k] (row-major).
// B[k, n] = params[n * K + k] (a transposed operand).
// One 16x16 output tile per workgroup of 16x16 threads; each thread keeps a 1x1
// block in registers (rows ty + 16*i, columns tx + 16*j); K is walked in steps of 8 through
// workgroup memory, A and B loaded 1 and 1 floats at a time.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;

const BM: u32 = 16u;
const BN: u32 = 16u;
const BK: u32 = 8u;
const M: u32 = 2u;
const N: u32 = 8u;
const K: u32 = 3u;
const AROW: u32 = BM + 1u;
const BROW: u32 = BN + 1u;
var<workgroup> As: array<f32, 136>;
var<workgroup> Bs: array<f32, 136>;
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
    return 72u + m * K + k;
}

// Where B[k, n] is in params: NONE outside B.
fn b_at(p: Problem, k: u32, n: u32) -> u32 {
    if (k >= p.depth || n >= N) {
        return NONE;
    }
    return 56u + n * K + k;
}

fn store(p: Problem, chunk: u32, m: u32, n: u32, v: f32) {
    arena[112u + chunk * 0u + m * N + n] = v;
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
    let k_begin = chunk * 3u;
    let k_end = min(k_begin + 3u, K);
    let m0 = (tile / 1u) * BM;
    let n0 = (tile % 1u) * BN;
    let tx = lid3.x;
    let ty = lid3.y;
    var acc0_0 = 0.0;

    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        // consecutive threads read consecutive addresses (k of A, k of B)
        for (var l = 0u; l < 1u; l++) {
            let e = tid + l * 256u;
            if (e >= 128u) {
                break;
            }
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
            if (e >= 128u) {
                break;
            }
            let f = (e % 8u);
            let s = e / 8u;
            let at = b_at(p, k0 + f, n0 + s);
            var v = 0.0;
            if (at != NONE) {
                v = params[at];
            }
            Bs[f * BROW + s] = v;
        }
        workgroupBarrier();
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
}

// ==== kernel 25: dense_dw_40 ====
// %40 dense_dw[8, 3] in dense_1/grad
// out[m, n] = sum_k A[m, k] * B[k, n]; M=8 N=3 K=2.
// A[m, k] = arena[k * M + m] (a transposed operand).
// B[k, n] = arena[k * N + n] (row-major).
// One 16x16 output tile per workgroup of 16x16 threads; each thread keeps a 1x1
// block in registers (rows ty + 16*i, columns tx + 16*j); K is walked in steps of 8 through
// workgroup memory, A and B loaded 4 and 1 floats at a time.
// The first row of tiles also sums B's columns over k: the bias gradient.
@group(0) @binding(0) var<storage, read> arena: array<f32>;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;
@group(0) @binding(2) var<storage, read> arena_4: array<vec4<f32>>;

const BM: u32 = 16u;
const BN: u32 = 16u;
const BK: u32 = 8u;
const M: u32 = 8u;
const N: u32 = 3u;
const K: u32 = 2u;
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
    return 96u + k * M + m;
}

// Where B[k, n] is in arena: NONE outside B.
fn b_at(p: Problem, k: u32, n: u32) -> u32 {
    if (k >= p.depth || n >= N) {
        return NONE;
    }
    return 72u + k * N + n;
}

fn store(p: Problem, chunk: u32, m: u32, n: u32, v: f32) {
    grads[56u + chunk * 0u + m * N + n] = v;
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
    let k_begin = chunk * 2u;
    let k_end = min(k_begin + 2u, K);
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
            if (e >= 128u) {
                break;
            }
            let f = (e % 16u);
            let s = e / 16u;
            let at = b_at(p, k0 + s, n0 + f);
            var v = 0.0;
            if (at != NONE) {
                v = arena[at];
            }
            Bs[s * BROW + f] = v;
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
        grads[80u + n0 + tid] = bsum;
    }
}

// ==== kernel 26: neg_42 ====
// %42 neg[2, 8] in sub_0/grad: out[i] = f(x[i]) over 16 elements, one thread each.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    let v = arena[112u + i];
    arena[64u + i] = -v;
}

// ==== kernel 27: div_43 ====
// %43 div[2, 8] in div_0/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 16 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> consts: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    var ia = 64u;
    var ib = 4u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
    }
    let va = arena[ia];
    let vb = consts[ib];
    arena[96u + i] = va / vb;
}

// ==== kernel 28: unary_grad_44_sigmoid ====
// %44 unary_grad[2, 8] in sigmoid_0/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 16 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    var ia = 80u;
    var ib = 96u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[64u + i] = vb * (va * (1.0 - va));
}

// ==== kernel 29: unary_grad_45_tanh ====
// %45 unary_grad[2, 8] in tanh_0/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 16 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    var ia = 48u;
    var ib = 112u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[80u + i] = vb * (1.0 - va * va);
}

// ==== kernel 30: add_46 ====
// %46 add[2, 8] in tanh_0/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 16 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    var ia = 64u;
    var ib = 80u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[48u + i] = va + vb;
}

// ==== kernel 31: mul_47 ====
// %47 mul[2, 8] in mul_0/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 16 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> consts: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    var ia = 48u;
    var ib = 0u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
    }
    let va = arena[ia];
    let vb = consts[ib];
    arena[64u + i] = va * vb;
}

// ==== kernel 32: unary_grad_48_relu6 ====
// %48 unary_grad[2, 8] in relu6_0/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 16 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    var ia = 32u;
    var ib = 64u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[80u + i] = select(0.0, vb, va > 0.0 && va < 6.0);
}

// ==== kernel 33: unary_grad_49_leaky_relu ====
// %49 unary_grad[2, 8] in leaky_relu_0/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 16 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    var ia = 16u;
    var ib = 48u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[32u + i] = select(vb * 0.1, vb, va > 0.0);
}

// ==== kernel 34: add_50 ====
// %50 add[2, 8] in leaky_relu_0/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 16 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    var ia = 80u;
    var ib = 32u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[16u + i] = va + vb;
}

// ==== kernel 35: unary_grad_51_relu ====
// %51 unary_grad[2, 8] in dense_0/grad: out[i] = f(a[ia], b[ib]) with broadcasting over 16 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    var ia = 0u;
    var ib = 16u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[32u + i] = select(0.0, vb, va > 0.0);
}

// ==== kernel 36: dense_dw_52 ====
// %52 dense_dw[6, 8] in dense_0/grad
// out[m, n] = sum_k A[m, k] * B[k, n]; M=6 N=8 K=2.
// A[m, k] = in_x[k * M + m] (a transposed operand).
// B[k, n] = arena[k * N + n] (row-major).
// One 16x16 output tile per workgroup of 16x16 threads; each thread keeps a 1x1
// block in registers (rows ty + 16*i, columns tx + 16*j); K is walked in steps of 8 through
// workgroup memory, A and B loaded 1 and 4 floats at a time.
// The first row of tiles also sums B's columns over k: the bias gradient.
@group(0) @binding(0) var<storage, read> in_x: array<f32>;
@group(0) @binding(1) var<storage, read> arena: array<f32>;
@group(0) @binding(2) var<storage, read_write> grads: array<f32>;
@group(0) @binding(3) var<storage, read> arena_4: array<vec4<f32>>;

const BM: u32 = 16u;
const BN: u32 = 16u;
const BK: u32 = 8u;
const M: u32 = 6u;
const N: u32 = 8u;
const K: u32 = 2u;
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


// Where A[m, k] is in in_x: NONE outside A (and off the image).
fn a_at(p: Problem, m: u32, k: u32) -> u32 {
    if (m >= p.rows || k >= p.depth) {
        return NONE;
    }
    return 0u + k * M + m;
}

// Where B[k, n] is in arena: NONE outside B.
fn b_at(p: Problem, k: u32, n: u32) -> u32 {
    if (k >= p.depth || n >= N) {
        return NONE;
    }
    return 32u + k * N + n;
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
    let k_begin = chunk * 2u;
    let k_end = min(k_begin + 2u, K);
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
            if (e >= 128u) {
                break;
            }
            let f = (e % 16u);
            let s = e / 16u;
            let at = a_at(p, m0 + f, k0 + s);
            var v = 0.0;
            if (at != NONE) {
                v = in_x[at];
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
        grads[48u + n0 + tid] = bsum;
    }
}

// ==== kernel 37: adam ====
// adam over 83 trainable parameters: lr 0.01 (default), beta1 0.9, beta2 0.999, eps 1e-07
// Fused Adam over the 83 trainable parameters (params[0:84], as 21 vec4s, one thread each), in
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
    if (i >= 21u) {
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

