// ==== kernel 0: dense_4 ====
// %4 dense[2, 8] in dense_0 then %5 relu[2, 8] in dense_0 then %6 leaky_relu[2, 8] in leaky_relu_0
// out[m, n] = f(sum_k A[m, k] * B[k, n] (+ bias[n])); M=2 N=8 K=6, with no workgroup memory, barriers
// or split (a dense layer on few rows: A = x, B = w, then the ops fused after it).
// A[m, k] = in_x[m * 6 + k * 1], B[k, n] = params[k * 8 + n * 1].
// Each thread keeps a 2x4 block of out in registers (rows m0 + r, columns n0 + c; a vec4 a row): each step of K
// costs it 6 loads for 8 products; consecutive threads take consecutive blocks along n.
// Reads past the last row or column are clamped to it, and their results not stored.
@group(0) @binding(0) var<storage, read> in_x: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> arena: array<f32>;

// output element o (column col) from its sum: the bias and the ops fused after the product, then the stores
fn finish(acc: f32, o: u32, col: u32) {
    var v = acc + params[48u + col];
    v = select(v, 0.0, v < 0.0);
    arena[0u + o] = v;
    v = select(v, v * 0.1, v < 0.0);
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
    let am0 = 0u + min(m0 + 0u, 1u) * 6u;
    let am1 = 0u + min(m0 + 1u, 1u) * 6u;
    let bn0 = 0u + min(n0 + 0u, 7u) * 1u;
    let bn1 = 0u + min(n0 + 1u, 7u) * 1u;
    let bn2 = 0u + min(n0 + 2u, 7u) * 1u;
    let bn3 = 0u + min(n0 + 3u, 7u) * 1u;
    var acc0 = vec4<f32>();   // row m0 + 0, columns n0 .. n0 + 3
    var acc1 = vec4<f32>();   // row m0 + 1, columns n0 .. n0 + 3
    for (var k = 0u; k < 6u; k++) {
        let a0 = in_x[am0 + k];
        let a1 = in_x[am1 + k];
        let bk = vec4<f32>(params[bn0 + k * 8u], params[bn1 + k * 8u], params[bn2 + k * 8u], params[bn3 + k * 8u]);
        acc0 = fma(vec4<f32>(a0), bk, acc0);
        acc1 = fma(vec4<f32>(a1), bk, acc1);
    }
    // the stores (a loop the shader compiler unrolls)
    for (var c = 0u; c < 4u; c++) {
        finish(acc0[c], (m0 + 0u) * 8u + n0 + c, n0 + c);
    }
    for (var c = 0u; c < 4u; c++) {
        finish(acc1[c], (m0 + 1u) * 8u + n0 + c, n0 + c);
    }
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
    arena[0u + i] = va * vb;
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
    var ib = 0u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[32u + i] = va + vb;
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
    let v = arena[32u + i];
    arena[0u + i] = select(tanh(v), sign(v), abs(v) > 15.0);
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
    let v = arena[32u + i];
    arena[16u + i] = 1.0 / (1.0 + exp(-v));
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
    var ia = 16u;
    var ib = 4u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
    }
    let va = arena[ia];
    let vb = consts[ib];
    arena[32u + i] = va / vb;
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
    var ia = 0u;
    var ib = 32u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
        ib += c * 1u;
    }
    let va = arena[ia];
    let vb = arena[ib];
    arena[16u + i] = va - vb;
}

// ==== kernel 8: dense_18 ====
// %18 dense[2, 3] in dense_1 then %19 sigmoid[2, 3] in dense_1 then %20 abs[2, 3] in abs_0 then %21 exp[2, 3] in exp_0
// out[m, n] = f(sum_k A[m, k] * B[k, n] (+ bias[n])); M=2 N=3 K=8, with no workgroup memory, barriers
// or split (a dense layer on few rows: A = x, B = w, then the ops fused after it).
// A[m, k] = arena[m * 8 + k * 1], B[k, n] = params[k * 3 + n * 1].
// Each thread keeps a 2x3 block of out in registers (rows m0 + r, columns n0 + c; a vec4 a row): each step of K
// costs it 5 loads for 6 products; consecutive threads take consecutive blocks along n.
// Reads past the last row or column are clamped to it, and their results not stored.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;

// output element o (column col) from its sum: the bias and the ops fused after the product, then the stores
fn finish(acc: f32, o: u32, col: u32) {
    var v = acc + params[80u + col];
    v = 1.0 / (1.0 + exp(-v));
    arena[0u + o] = v;
    v = abs(v);
    v = exp(v);
    arena[8u + o] = v;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 1u) {
        return;
    }
    let n0 = (i % 1u) * 3u;
    let m0 = (i / 1u) * 2u;
    let am0 = 16u + min(m0 + 0u, 1u) * 8u;
    let am1 = 16u + min(m0 + 1u, 1u) * 8u;
    let bn0 = 56u + min(n0 + 0u, 2u) * 1u;
    let bn1 = 56u + min(n0 + 1u, 2u) * 1u;
    let bn2 = 56u + min(n0 + 2u, 2u) * 1u;
    var acc0 = vec4<f32>();   // row m0 + 0, columns n0 .. n0 + 3
    var acc1 = vec4<f32>();   // row m0 + 1, columns n0 .. n0 + 3
    for (var k = 0u; k < 8u; k++) {
        let a0 = arena[am0 + k];
        let a1 = arena[am1 + k];
        let bk = vec4<f32>(params[bn0 + k * 3u], params[bn1 + k * 3u], params[bn2 + k * 3u], 0.0);
        acc0 = fma(vec4<f32>(a0), bk, acc0);
        acc1 = fma(vec4<f32>(a1), bk, acc1);
    }
    // the stores (a loop the shader compiler unrolls)
    for (var c = 0u; c < 3u; c++) {
        finish(acc0[c], (m0 + 0u) * 3u + n0 + c, n0 + c);
    }
    for (var c = 0u; c < 3u; c++) {
        finish(acc1[c], (m0 + 1u) * 3u + n0 + c, n0 + c);
    }
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
    var ia = 0u;
    var ib = 8u;
    var r = i;
    {
        let c = r;
        ia += c * 1u;
    }
    let va = arena[ia];
    let vb = consts[ib];
    arena[16u + i] = va + vb;
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
    let v = arena[16u + i];
    arena[24u + i] = log(v);
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
    var ia = 8u;
    var ib = 24u;
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
    let xb = 16u + r * 3u;
    let ob = 8u + r * 3u;
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
    let d = arena[0u + i] - in_target[0u + i];
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
        arena[24u + g] = part[0];
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
    return arena[16u + i] * 0.16666666666666666;
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
        arena[28u + g] = part[0];
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
    var ia = 24u;
    var ib = 28u;
    var r = i;

    let va = arena[ia];
    let vb = arena[ib];
    arena[16u + i] = va + vb;
}

