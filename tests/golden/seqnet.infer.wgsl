// ==== kernel 0: embedding_3 ====
// %3 embedding[2, 2, 3] in embedding_0: out[p, d] = table[ids[p], d], table [7, 3]; an id outside [0, 7)
// is clamped into it (the runtime refuses such ids before they get here). One thread per element.
@group(0) @binding(0) var<storage, read> in_ids: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 12u) {
        return;
    }
    let p = i / 3u;
    let d = i % 3u;
    let v = u32(clamp(round(in_ids[0u + p]), 0.0, 6.0));
    arena[0u + i] = params[0u + v * 3u + d];
}

// ==== kernel 1: dense_8 ====
// %8 dense[4, 16] in lstm_0
// out[m, n] = f(sum_k A[m, k] * B[k, n] (+ bias[n])); M=4 N=16 K=3, with no workgroup memory, barriers
// or split (a dense layer on few rows: A = x, B = w, then the ops fused after it).
// A[m, k] = arena[m * 3 + k * 1], B[k, n] = params[k * 16 + n * 1].
// Each thread keeps a 4x4 block of out in registers (rows m0 + r, columns n0 + c; a vec4 a row): each step of K
// costs it 8 loads for 16 products; consecutive threads take consecutive blocks along n.
// Reads past the last row or column are clamped to it, and their results not stored.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;

// output element o (column col) from its sum: the bias and the ops fused after the product, then the stores
fn finish(acc: f32, o: u32, col: u32) {
    var v = acc + params[136u + col];
    arena[12u + o] = v;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 4u) {
        return;
    }
    let n0 = (i % 4u) * 4u;
    let m0 = (i / 4u) * 4u;
    let am0 = 0u + min(m0 + 0u, 3u) * 3u;
    let am1 = 0u + min(m0 + 1u, 3u) * 3u;
    let am2 = 0u + min(m0 + 2u, 3u) * 3u;
    let am3 = 0u + min(m0 + 3u, 3u) * 3u;
    let bn0 = 24u + min(n0 + 0u, 15u) * 1u;
    let bn1 = 24u + min(n0 + 1u, 15u) * 1u;
    let bn2 = 24u + min(n0 + 2u, 15u) * 1u;
    let bn3 = 24u + min(n0 + 3u, 15u) * 1u;
    var acc0 = vec4<f32>();   // row m0 + 0, columns n0 .. n0 + 3
    var acc1 = vec4<f32>();   // row m0 + 1, columns n0 .. n0 + 3
    var acc2 = vec4<f32>();   // row m0 + 2, columns n0 .. n0 + 3
    var acc3 = vec4<f32>();   // row m0 + 3, columns n0 .. n0 + 3
    for (var k = 0u; k < 3u; k++) {
        let a0 = arena[am0 + k];
        let a1 = arena[am1 + k];
        let a2 = arena[am2 + k];
        let a3 = arena[am3 + k];
        let bk = vec4<f32>(params[bn0 + k * 16u], params[bn1 + k * 16u], params[bn2 + k * 16u], params[bn3 + k * 16u]);
        acc0 = fma(vec4<f32>(a0), bk, acc0);
        acc1 = fma(vec4<f32>(a1), bk, acc1);
        acc2 = fma(vec4<f32>(a2), bk, acc2);
        acc3 = fma(vec4<f32>(a3), bk, acc3);
    }
    // the stores (a loop the shader compiler unrolls)
    for (var c = 0u; c < 4u; c++) {
        finish(acc0[c], (m0 + 0u) * 16u + n0 + c, n0 + c);
    }
    for (var c = 0u; c < 4u; c++) {
        finish(acc1[c], (m0 + 1u) * 16u + n0 + c, n0 + c);
    }
    for (var c = 0u; c < 4u; c++) {
        finish(acc2[c], (m0 + 2u) * 16u + n0 + c, n0 + c);
    }
    for (var c = 0u; c < 4u; c++) {
        finish(acc3[c], (m0 + 3u) * 16u + n0 + c, n0 + c);
    }
}

// ==== kernel 2: slice_10 ====
// %10 slice[2, 1, 16] in lstm_0: out[o, j, k] = x[o, 0 + j, k], j < 1 of 2, k < 16; one thread per element.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 32u) {
        return;
    }
    let k = i % 16u;
    let j = (i / 16u) % 1u;
    let o = i / (16u * 1u);
    arena[76u + i] = arena[12u + (o * 2u + 0u + j) * 16u + k];
}

// ==== kernel 3: lstm_cell_12 ====
// %12 lstm_cell[2, 8] in lstm_0: one LSTM step for 2 rows of 4 units, gates i, f, c, o in z [rows, 16];
// out [rows, 8] = [h | c]. One thread per (row, unit).
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

fn sig(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 8u) {
        return;
    }
    let r = i / 4u;
    let j = i % 4u;
    let zr = 76u + r * 16u + j;
    let gi = sig(arena[zr]);
    let gg = tanh(clamp(arena[zr + 8u], -15.0, 15.0));
    let go = sig(arena[zr + 12u]);
    let c = gi * gg;
    let orow = 108u + r * 8u + j;
    arena[orow] = go * tanh(clamp(c, -15.0, 15.0));
    arena[orow + 4u] = c;
}

// ==== kernel 4: slice_13 ====
// %13 slice[2, 4] in lstm_0: out[o, j, k] = x[o, 0 + j, k], j < 4 of 8, k < 1; one thread per element.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 8u) {
        return;
    }
    let k = i % 1u;
    let j = (i / 1u) % 4u;
    let o = i / (1u * 4u);
    arena[0u + i] = arena[108u + (o * 8u + 0u + j) * 1u + k];
}

// ==== kernel 5: slice_14 ====
// %14 slice[2, 4] in lstm_0: out[o, j, k] = x[o, 4 + j, k], j < 4 of 8, k < 1; one thread per element.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 8u) {
        return;
    }
    let k = i % 1u;
    let j = (i / 1u) % 4u;
    let o = i / (1u * 4u);
    arena[76u + i] = arena[108u + (o * 8u + 4u + j) * 1u + k];
}

// ==== kernel 6: slice_15 ====
// %15 slice[2, 1, 16] in lstm_0: out[o, j, k] = x[o, 1 + j, k], j < 1 of 2, k < 16; one thread per element.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 32u) {
        return;
    }
    let k = i % 16u;
    let j = (i / 16u) % 1u;
    let o = i / (16u * 1u);
    arena[84u + i] = arena[12u + (o * 2u + 1u + j) * 16u + k];
}

// ==== kernel 7: dense_17 ====
// %17 dense[2, 16] in lstm_0 then %18 add[2, 16] in lstm_0
// out[m, n] = f(sum_k A[m, k] * B[k, n] (+ bias[n])); M=2 N=16 K=4, with no workgroup memory, barriers
// or split (a dense layer on few rows: A = x, B = w, then the ops fused after it).
// A[m, k] = arena[m * 4 + k * 1], B[k, n] = params[k * 16 + n * 1].
// Each thread keeps a 2x4 block of out in registers (rows m0 + r, columns n0 + c; a vec4 a row): each step of K
// costs it 6 loads for 8 products; consecutive threads take consecutive blocks along n.
// Reads past the last row or column are clamped to it, and their results not stored.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;

// output element o (column col) from its sum: the bias and the ops fused after the product, then the stores
fn finish(acc: f32, o: u32, col: u32) {
    var v = acc;
    v = arena[84u + o] + v;
    arena[8u + o] = v;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 4u) {
        return;
    }
    let n0 = (i % 4u) * 4u;
    let m0 = (i / 4u) * 2u;
    let am0 = 0u + min(m0 + 0u, 1u) * 4u;
    let am1 = 0u + min(m0 + 1u, 1u) * 4u;
    let bn0 = 72u + min(n0 + 0u, 15u) * 1u;
    let bn1 = 72u + min(n0 + 1u, 15u) * 1u;
    let bn2 = 72u + min(n0 + 2u, 15u) * 1u;
    let bn3 = 72u + min(n0 + 3u, 15u) * 1u;
    var acc0 = vec4<f32>();   // row m0 + 0, columns n0 .. n0 + 3
    var acc1 = vec4<f32>();   // row m0 + 1, columns n0 .. n0 + 3
    for (var k = 0u; k < 4u; k++) {
        let a0 = arena[am0 + k];
        let a1 = arena[am1 + k];
        let bk = vec4<f32>(params[bn0 + k * 16u], params[bn1 + k * 16u], params[bn2 + k * 16u], params[bn3 + k * 16u]);
        acc0 = fma(vec4<f32>(a0), bk, acc0);
        acc1 = fma(vec4<f32>(a1), bk, acc1);
    }
    // the stores (a loop the shader compiler unrolls)
    for (var c = 0u; c < 4u; c++) {
        finish(acc0[c], (m0 + 0u) * 16u + n0 + c, n0 + c);
    }
    for (var c = 0u; c < 4u; c++) {
        finish(acc1[c], (m0 + 1u) * 16u + n0 + c, n0 + c);
    }
}

// ==== kernel 8: lstm_cell_19 ====
// %19 lstm_cell[2, 8] in lstm_0: one LSTM step for 2 rows of 4 units, gates i, f, c, o in z [rows, 16];
// out [rows, 8] = [h | c]. One thread per (row, unit).
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

fn sig(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 8u) {
        return;
    }
    let r = i / 4u;
    let j = i % 4u;
    let zr = 8u + r * 16u + j;
    let gi = sig(arena[zr]);
    let gg = tanh(clamp(arena[zr + 8u], -15.0, 15.0));
    let go = sig(arena[zr + 12u]);
    let gf = sig(arena[zr + 4u]);
    let c = gf * arena[76u + i] + gi * gg;
    let orow = 40u + r * 8u + j;
    arena[orow] = go * tanh(clamp(c, -15.0, 15.0));
    arena[orow + 4u] = c;
}

// ==== kernel 9: slice_20 ====
// %20 slice[2, 4] in lstm_0: out[o, j, k] = x[o, 0 + j, k], j < 4 of 8, k < 1; one thread per element.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 8u) {
        return;
    }
    let k = i % 1u;
    let j = (i / 1u) % 4u;
    let o = i / (1u * 4u);
    arena[8u + i] = arena[40u + (o * 8u + 0u + j) * 1u + k];
}

// ==== kernel 10: stack_22 ====
// %22 stack[2, 2, 4] in lstm_0
// Copies 2 source(s) of [outer, 4] into entries [0, 2) of the
// stacked axis (of 2); one thread per copied element.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 16u) {
        return;
    }
    let k = i % 4u;
    let j = (i / 4u) % 2u;
    let o = i / (4u * 2u);
    var v = 0.0;
if (j == 0u) {
        v = arena[0u + o * 4u + k];
} else if (j == 1u) {
        v = arena[8u + o * 4u + k];
    }
    arena[16u + (o * 2u + 0u + j) * 4u + k] = v;
}

// ==== kernel 11: slice_23 ====
// %23 slice[2, 1, 4] in slice_0: out[o, j, k] = x[o, 1 + j, k], j < 1 of 2, k < 4; one thread per element.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 8u) {
        return;
    }
    let k = i % 4u;
    let j = (i / 4u) % 1u;
    let o = i / (4u * 1u);
    arena[0u + i] = arena[16u + (o * 2u + 1u + j) * 4u + k];
}

// ==== kernel 12: slice_24 ====
// %24 slice[2, 1, 2] in slice_0: out[o, j, k] = x[o, 0 + j, k], j < 2 of 4, k < 1; one thread per element.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 4u) {
        return;
    }
    let k = i % 1u;
    let j = (i / 1u) % 2u;
    let o = i / (1u * 2u);
    arena[8u + i] = arena[0u + (o * 4u + 0u + j) * 1u + k];
}

// ==== kernel 13: sum_axes_26 ====
// %26 sum_axes[2, 1, 4] in sum_0
// dst[o] = sum over the 2 reduced positions j of x[base(o) + offset(j)], for 8 outputs o.
// A workgroup of 4 outputs x 64 lanes: lane y adds positions y, y + 64, ... of its chunk of
// 2 (chunk g of 1), then the lanes are added in workgroup memory.
// Axes (size, x stride) are innermost first; kept: 2, reduced: 1.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(4, 64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = wid.y * 2u + wid.x;
    if (t >= 2u) {
        return;
    }
    let o = (t % 2u) * 4u + lid.x;
    let g = t / 2u;
    var s = 0.0;
    if (o < 8u) {
        var base = 16u;
        var ro = o;
        base += (ro % 4u) * 1u;
        ro = ro / 4u;
        base += ro * 8u;
        let end = min((g + 1u) * 2u, 2u);
        for (var j = g * 2u + lid.y; j < end; j += 64u) {
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
    if (lid.y == 0u && o < 8u) {
        arena[0u + g * 8u + o] = part[lid.x];
    }
}

// ==== kernel 14: slice_28 ====
// %28 slice[2, 2] in slice_1: out[o, j, k] = x[o, 1 + j, k], j < 2 of 4, k < 1; one thread per element.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 4u) {
        return;
    }
    let k = i % 1u;
    let j = (i / 1u) % 2u;
    let o = i / (1u * 2u);
    arena[12u + i] = arena[0u + (o * 4u + 1u + j) * 1u + k];
}

// ==== kernel 15: stack_29 ====
// %29 stack[2, 2, 2] in stack_0
// Copies 2 source(s) of [outer, 2] into entries [0, 2) of the
// stacked axis (of 2); one thread per copied element.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 8u) {
        return;
    }
    let k = i % 2u;
    let j = (i / 2u) % 2u;
    let o = i / (2u * 2u);
    var v = 0.0;
if (j == 0u) {
        v = arena[8u + o * 2u + k];
} else if (j == 1u) {
        v = arena[12u + o * 2u + k];
    }
    arena[0u + (o * 2u + 0u + j) * 2u + k] = v;
}

// ==== kernel 16: sum_axes_30 ====
// %30 sum_axes[2, 1, 2] in mean_0
// dst[o] = sum over the 2 reduced positions j of x[base(o) + offset(j)], for 4 outputs o.
// A workgroup of 2 outputs x 128 lanes: lane y adds positions y, y + 128, ... of its chunk of
// 2 (chunk g of 1), then the lanes are added in workgroup memory.
// Axes (size, x stride) are innermost first; kept: 2, reduced: 1.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(2, 128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = wid.y * 2u + wid.x;
    if (t >= 2u) {
        return;
    }
    let o = (t % 2u) * 2u + lid.x;
    let g = t / 2u;
    var s = 0.0;
    if (o < 4u) {
        var base = 0u;
        var ro = o;
        base += (ro % 2u) * 1u;
        ro = ro / 2u;
        base += ro * 4u;
        let end = min((g + 1u) * 2u, 2u);
        for (var j = g * 2u + lid.y; j < end; j += 128u) {
            var idx = base;
            var q = j;
            idx += q * 2u;
            s += arena[idx];
        }
    }
    part[lid.y * 2u + lid.x] = s;
    workgroupBarrier();
    for (var gap = 64u; gap > 0u; gap /= 2u) {
        if (lid.y < gap) {
            part[lid.y * 2u + lid.x] += part[lid.y * 2u + lid.x + gap * 2u];
        }
        workgroupBarrier();
    }
    if (lid.y == 0u && o < 4u) {
        arena[8u + g * 4u + o] = part[lid.x];
    }
}

// ==== kernel 17: mul_32 ====
// %32 mul[2, 1, 2] in mean_0: out[i] = f(a[ia], b[ib]) with broadcasting over 4 elements, one thread each.
// Axes are collapsed in Python; each has (size, a stride, b stride), innermost first.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> consts: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * 1u + wid.x) * 256u + lid;
    if (i >= 4u) {
        return;
    }
    var ia = 8u;
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

// ==== kernel 18: sigmoid_ce_34 ====
// %34 sigmoid_ce[] in sigmoid_cross_entropy_0
// 1 workgroup(s) of 256 threads; workgroup g adds term(i) for i in [g*4, (g+1)*4) ∩ [0, 4),
// each thread a strided part, then a tree in workgroup memory; dst[g] = that sum. Each term is scaled by
// 0.25 (1/n for a mean) before it is added, so that a mean of huge terms does not overflow on the way.
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> in_target: array<f32>;

var<workgroup> part: array<f32, 256>;

fn term(i: u32) -> f32 {
    // max(z, 0) - z*y + log(1 + exp(-|z|)): stable for large |z| (TensorFlow's formulation)
    let z = arena[0u + i];
    let y = in_target[0u + i];
    return max(z, 0.0) * 0.25 - z * (y * 0.25) + log(1.0 + exp(-abs(z))) * 0.25;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let g = wid.x;
    let end = min((g + 1u) * 4u, 4u);
    var s = 0.0;
    for (var i = g * 4u + lid; i < end; i += 256u) {
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
        arena[4u + g] = part[0];
    }
}

