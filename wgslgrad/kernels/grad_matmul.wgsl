{% from "_macros.wgsl" import accumulators, each_result, fill, tile_memory, tile_product %}
// {{ comment }}
// out[m, n] = sum_k A[m, k] * B[k, n]; M={{ m }} N={{ n }} K={{ k }}{{ " in all, split among the phases" if a == "dy_taps" else "" }}.
{% if a == "rows" %}
// A[m, k] = {{ a_src.var }}[m * K + k] (row-major).
{% elif a == "cols" %}
// A[m, k] = {{ a_src.var }}[k * M + m] (a transposed operand).
{% elif a == "im2col_t" %}
// A[m, k] = x[b, oy*{{ sh }} + ky - {{ pt }}, ox*{{ sw }} + kx - {{ pl }}, ci], m = (ky, kx, ci), k = (b, oy, ox): the
// transposed im2col of the image (zero in the padding); out is the HWIO weight gradient.
{% elif a == "dy_taps" %}
// A transposed convolution, split by stride phase: the input rows h = h0 + hh*{{ sh }} (cols likewise) only
// meet the taps ky = ry + ti*{{ sh }}, ry = (h + {{ pt }}) % {{ sh }}, at output row oy = (h + {{ pt }} - ky) / {{ sh }}. Each phase is
// its own product over m = (b, hh, ww), k = (ti, tj, co): A[m, k] = dy[b, oy, ox, co] (zero off the
// output), B[k, n] = w[ky, kx, n, co]; its rows are scattered to dx[b, h, w, n].
{% endif %}
{% if b == "rows" %}
// B[k, n] = {{ b_src.var }}[k * N + n] (row-major).
{% elif b == "cols" %}
// B[k, n] = {{ b_src.var }}[n * K + k] (a transposed operand).
{% endif %}
// One {{ bm }}x{{ bn }} output tile per workgroup of 16x16 threads; each thread keeps a {{ tm }}x{{ tn }}
// block in registers (rows ty + 16*i, columns tx + 16*j); K is walked in steps of {{ bk }} through
// workgroup memory, A and B loaded {{ "4" if a4 else "1" }} and {{ "4" if b4 else "1" }} floats at a time.
{% if chunks > 1 %}
// Split K: chunk c of {{ chunks }} sums k in [c*{{ kc }}, (c+1)*{{ kc }}) into partial[c, m, n]; a second kernel adds the chunks.
{% endif %}
{% if bias %}
// The first row of tiles also sums B's columns over k: the bias gradient{{ ", after each chunk's partial sums" if chunks > 1 else "" }}.
{% endif %}
{{ bindings }}

{{ tile_memory(bm, bn, bk, m, n, k, b_k_fast) }}

// The product a workgroup computes: its row and depth counts (and, per stride phase, the index map).
struct Problem {
    rows: u32,
    depth: u32,
{% if a == "dy_taps" %}
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
{% endif %}
}

{% if a == "dy_taps" %}
fn problem(t: u32) -> Problem {
{% for p in phases | reverse %}
{% if not loop.last %}
    if (t >= {{ p.t0 }}u) {
        return Problem({{ p.rows }}u, {{ p.depth }}u, {{ p.t0 }}u, {{ p.hp }}u, {{ p.wp }}u, {{ p.h0 }}u, {{ p.w0 }}u, {{ p.ry }}u, {{ p.rx }}u, {{ p.ntx }}u, {{ p.qy }}, {{ p.qx }});
    }
{% else %}
    return Problem({{ p.rows }}u, {{ p.depth }}u, {{ p.t0 }}u, {{ p.hp }}u, {{ p.wp }}u, {{ p.h0 }}u, {{ p.w0 }}u, {{ p.ry }}u, {{ p.rx }}u, {{ p.ntx }}u, {{ p.qy }}, {{ p.qx }});
{% endif %}
{% endfor %}
}
{% endif %}

// Where A[m, k] is in {{ a_src.var }}: NONE outside A (and off the image).
fn a_at(p: Problem, m: u32, k: u32) -> u32 {
    if (m >= p.rows || k >= p.depth) {
        return NONE;
    }
{% if a == "rows" %}
    return {{ a_src.off }}u + m * K + k;
{% elif a == "cols" %}
    return {{ a_src.off }}u + k * M + m;
{% elif a == "im2col_t" %}
    let ci = m % {{ ci }}u;
    let kx = (m / {{ ci }}u) % {{ kw }}u;
    let ky = m / {{ ci * kw }}u;
    let ox = k % {{ wo }}u;
    let oy = (k / {{ wo }}u) % {{ ho }}u;
    let b = k / {{ wo * ho }}u;
    let iy = i32(oy * {{ sh }}u + ky) - {{ pt }};
    let ix = i32(ox * {{ sw }}u + kx) - {{ pl }};
    if (iy < 0 || iy >= {{ h }} || ix < 0 || ix >= {{ w }}) {
        return NONE;
    }
    return {{ a_src.off }}u + ((b * {{ h }}u + u32(iy)) * {{ w }}u + u32(ix)) * {{ ci }}u + ci;
{% elif a == "dy_taps" %}
    let ww = m % p.wp;
    let hh = (m / p.wp) % p.hp;
    let b = m / (p.wp * p.hp);
    let co = k % {{ co }}u;
    let tap = k / {{ co }}u;
    let oy = p.qy + i32(hh) - i32(tap / p.ntx);
    let ox = p.qx + i32(ww) - i32(tap % p.ntx);
    if (oy < 0 || oy >= {{ ho }} || ox < 0 || ox >= {{ wo }}) {
        return NONE;
    }
    return {{ a_src.off }}u + ((b * {{ ho }}u + u32(oy)) * {{ wo }}u + u32(ox)) * {{ co }}u + co;
{% endif %}
}

// Where B[k, n] is in {{ b_src.var }}: NONE outside B.
fn b_at(p: Problem, k: u32, n: u32) -> u32 {
    if (k >= p.depth || n >= N) {
        return NONE;
    }
{% if b == "rows" %}
    return {{ b_src.off }}u + k * N + n;
{% elif b == "cols" %}
    return {{ b_src.off }}u + n * K + k;
{% elif b == "w_taps" %}
    let co = k % {{ co }}u;
    let tap = k / {{ co }}u;
    let ky = p.ry + (tap / p.ntx) * {{ sh }}u;
    let kx = p.rx + (tap % p.ntx) * {{ sw }}u;
    return {{ b_src.off }}u + ((ky * {{ kw }}u + kx) * {{ ci }}u + n) * {{ co }}u + co;
{% endif %}
}

fn store(p: Problem, chunk: u32, m: u32, n: u32, v: f32) {
{% if a == "dy_taps" %}
    let ww = m % p.wp;
    let hh = (m / p.wp) % p.hp;
    let b = m / (p.wp * p.hp);
    let h = p.h0 + hh * {{ sh }}u;
    let w = p.w0 + ww * {{ sw }}u;
    {{ out.var }}[{{ out.off }}u + ((b * {{ h }}u + h) * {{ w }}u + w) * N + n] = v;
{% else %}
    {{ out.var }}[{{ out.off }}u + chunk * {{ stride }}u + m * N + n] = v;
{% endif %}
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let g = wid.y * {{ gx }}u + wid.x;
    if (g >= {{ groups }}u) {
        return;
    }
    let chunk = g / {{ tiles }}u;
{% if a == "dy_taps" %}
    let p = problem(g);
    let tile = g - p.t0;
    let k_begin = 0u;
    let k_end = p.depth;
{% else %}
    let p = Problem(M, K);
    let tile = g % {{ tiles }}u;
    let k_begin = chunk * {{ kc }}u;
    let k_end = min(k_begin + {{ kc }}u, K);
{% endif %}
    let m0 = (tile / {{ tiles_n }}u) * BM;
    let n0 = (tile % {{ tiles_n }}u) * BN;
    let tx = lid3.x;
    let ty = lid3.y;
{{ accumulators(tm, tn) }}
{% if bias %}
    var bsum = 0.0;
{% endif %}
    for (var k0 = k_begin; k0 < k_end; k0 += BK) {
        // consecutive threads read consecutive addresses ({{ "m" if a_m_fast else "k" }} of A, {{ "k" if b_k_fast else "n" }} of B)
{% call(i, d) fill("As", "AROW", bm, bk, a_src.var, a4, "i" if a_m_fast else "d") %}a_at(p, m0 + {{ i }}, k0 + {{ d }}){% endcall %}

{% call(i, d) fill("Bs", "BROW", bn, bk, b_src.var, b4, "d" if b_k_fast else "i") %}b_at(p, k0 + {{ d }}, n0 + {{ i }}){% endcall %}

        workgroupBarrier();
{% if bias %}
        if (m0 == 0u && tid < BN) {
            for (var kk = 0u; kk < BK; kk++) {
                bsum += Bs[kk * BROW + tid];
            }
        }
{% endif %}
{{ tile_product(tm, tn) }}
        workgroupBarrier();
    }
{% call each_result(tm, tn) %}
        if (m < p.rows && n < N) {
            store(p, chunk, m, n, r);
        }
{% endcall %}
{% if bias %}
    if (m0 == 0u && tid < BN && n0 + tid < N) {
        {{ bias.var }}[{{ bias.off }}u + {{ "chunk * " ~ stride ~ "u + " ~ m * n ~ "u + " if chunks > 1 else "" }}n0 + tid] = bsum;
    }
{% endif %}
}
