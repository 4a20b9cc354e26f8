{# Shared pieces of the kernel templates; not a kernel itself. #}
{# The entry point of a kernel with one thread per element: `i` is the element, over a 2-D grid of
   workgroups (gx across); threads past n return, a test uniform across all but the last workgroup. #}
{% macro per_element(wg, gx, n) %}
@compute @workgroup_size({{ wg }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * {{ gx }}u + wid.x) * {{ wg }}u + lid;
    if (i >= {{ n }}u) {
        return;
    }
{%- endmacro %}

{# The entry point of a kernel over the `rows` rows of its tensors: one thread per row with `per_thread`,
   else one workgroup per row (`lid` its lane). `r` is the row; threads past the last return, a test
   uniform across a workgroup in the second case, so barriers after it stay legal. #}
{% macro per_row(per_thread, wg, gx, rows) %}
@compute @workgroup_size({{ wg }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
{% if per_thread %}
    let r = (wid.y * {{ gx }}u + wid.x) * {{ wg }}u + lid;
{% else %}
    let r = wid.y * {{ gx }}u + wid.x;
{% endif %}
    if (r >= {{ rows }}u) {
        return;
    }
{%- endmacro %}

{# The elements that output element `i` reads under broadcasting: for each (name, offset, key) of
   `operands`, `var name` = offset + the sum over `axes` (innermost first) of i's coordinate times the axis's
   stride d[key] (0: the operand repeats along it). #}
{% macro broadcast_index(axes, operands) %}
{% for name, off, key in operands %}
    var {{ name }} = {{ off }}u;
{% endfor %}
    var r = i;
{% for d in axes %}
    {
{% if loop.last %}
        let c = r;
{% else %}
        let c = r % {{ d.size }}u;
        r = r / {{ d.size }}u;
{% endif %}
{% for name, off, key in operands if d[key] %}
        {{ name }} += c * {{ d[key] }}u;
{% endfor %}
    }{{ "\n" if not loop.last else "" }}
{%- endfor %}
{%- endmacro %}

{# Register blocking: each thread of a 16x16 workgroup accumulates a tm x tn block of the output tile (rows
   ty + 16i, columns tx + 16j) in scalars acc{i}_{j}, unrolled here so that they stay in registers. #}
{% macro accumulators(tm, tn) %}
{% for i in range(tm) %}{% for j in range(tn) %}
    var acc{{ i }}_{{ j }} = 0.0;
{% endfor %}{% endfor %}
{%- endmacro %}

{# The sizes and workgroup tiles of a tiled product out[M, N] = A[M, K] @ B[K, N] with BMxBN output tiles
   walked BK deep: As[k * AROW + m], Bs[k * BROW + n]. A's rows are padded by one float, B's too when
   `b_pad`: stores that transpose (consecutive threads, consecutive k) then hit different banks, not one.
   NONE is the index that the operands' index functions (a_at, b_at) give for a zero. #}
{% macro tile_memory(bm, bn, bk, m, n, k, b_pad) %}
const BM: u32 = {{ bm }}u;
const BN: u32 = {{ bn }}u;
const BK: u32 = {{ bk }}u;
const M: u32 = {{ m }}u;
const N: u32 = {{ n }}u;
const K: u32 = {{ k }}u;
const AROW: u32 = BM + 1u;
const BROW: u32 = BN + {{ 1 if b_pad else 0 }}u;
var<workgroup> As: array<f32, {{ bk * (bm + 1) }}>;
var<workgroup> Bs: array<f32, {{ bk * (bn + (1 if b_pad else 0)) }}>;
const NONE: u32 = 0xffffffffu;
{%- endmacro %}

{# One BK-deep step of a workgroup tile: tile[d * row + i] = the operand at position i of the tile (its row m
   for A, column n for B) and depth d, for i < len and d < bk. caller(i, d) is the WGSL index of that element
   in `src`, or NONE for a zero. Consecutive threads take consecutive addresses along `fast` ("i" or "d");
   with `src4`, a vec4 view of src, each thread loads 4 consecutive elements at once (the caller's layout
   then puts them in one vec4, all inside the operand or all outside). #}
{% macro fill(tile, row, len, bk, src, src4, fast) %}
{% set w = 4 if src4 else 1 %}
{% set count = len * bk // w %}
{% set along = (len if fast == "i" else bk) // w %}
{% set i, d = ("f", "s") if fast == "i" else ("s", "f") %}
        for (var l = 0u; l < {{ -(-count // 256) }}u; l++) {
            let e = tid + l * 256u;
{% if count % 256 %}
            if (e >= {{ count }}u) {
                break;
            }
{% endif %}
            let f = (e % {{ along }}u){{ " * 4u" if src4 else "" }};
            let s = e / {{ along }}u;
            let at = {{ caller(i, d) }};
{% if src4 %}
            var v = vec4<f32>(0.0);
            if (at != NONE) {
                v = {{ src4 }}[at / 4u];
            }
{% for q in range(4) %}
            {{ tile }}[{% if fast == "d" %}({{ d }} + {{ q }}u){% else %}{{ d }}{% endif %} * {{ row }} + {{ i }}{% if fast == "i" %} + {{ q }}u{% endif %}] = v[{{ q }}];
{% endfor %}
{% else %}
            var v = 0.0;
            if (at != NONE) {
                v = {{ src }}[at];
            }
            {{ tile }}[{{ d }} * {{ row }} + {{ i }}] = v;
{% endif %}
        }
{%- endmacro %}

{# The product of one BK-deep slice of the A and B tiles in workgroup memory (tile_memory) added into the
   accumulators. #}
{% macro tile_product(tm, tn) %}
        for (var kk = 0u; kk < BK; kk++) {
{% for i in range(tm) %}
            let a{{ i }} = As[kk * AROW + ty + {{ 16 * i }}u];
{% endfor %}
{% for j in range(tn) %}
            let b{{ j }} = Bs[kk * BROW + tx + {{ 16 * j }}u];
{% endfor %}
{% for i in range(tm) %}{% for j in range(tn) %}
            acc{{ i }}_{{ j }} = fma(a{{ i }}, b{{ j }}, acc{{ i }}_{{ j }});
{% endfor %}{% endfor %}
        }
{%- endmacro %}

{# The caller's block once per accumulator, with `m`, `n` (its output row and column) and `r` (its value). #}
{% macro each_result(tm, tn) %}
{% for i in range(tm) %}{% for j in range(tn) %}
    {
        let m = m0 + ty + {{ 16 * i }}u;
        let n = n0 + tx + {{ 16 * j }}u;
        let r = acc{{ i }}_{{ j }};
{{ caller() }}
    }
{% endfor %}{% endfor %}
{%- endmacro %}

{# A tree over the lanes of workgroup memory, one step per entry of `halves` (n/2, n/4, ..., 1), a barrier
   after each: lanes below `gap` combine element `at` of each of `arrays` with the one `gap * stride`
   floats further on, by `op` ("+" or "max"). Lane 0 (element `at` of lane 0) then holds the result.
   A loop, not unrolled: SwiftShader's compile time grows fast with the barriers in straight-line code. #}
{% macro tree(halves, lane, at, stride=1, arrays=["part"], op="+") %}
{% if halves %}
    for (var gap = {{ halves[0] }}u; gap > 0u; gap /= 2u) {
        if ({{ lane }} < gap) {
{% for a in arrays %}
{% if op == "max" %}
            {{ a }}[{{ at }}] = max({{ a }}[{{ at }}], {{ a }}[{{ at }} + gap{{ " * " ~ stride ~ "u" if stride != 1 else "" }}]);
{% else %}
            {{ a }}[{{ at }}] += {{ a }}[{{ at }} + gap{{ " * " ~ stride ~ "u" if stride != 1 else "" }}];
{% endif %}
{% endfor %}
        }
        workgroupBarrier();
    }
{%- endif %}
{%- endmacro %}

{# The end of a producer kernel for output element `o` (`col`: its column, for the bias): v = value (+ bias),
   then the epilogue's statements (lower_forward.epilogue: the fused elementwise ops and the stores). #}
{% macro finish(value, bias, col, epilogue) %}
    var v = {{ value }}{% if bias %} + {{ bias.var }}[{{ bias.off }}u + {{ col }}]{% endif %};
{% for line in epilogue %}
    {{ line }}{{ "\n" if not loop.last else "" }}
{%- endfor %}
{%- endmacro %}


{# The logistic sigmoid as a WGSL function `sig`, for templates whose gates use it (the LSTM and GRU cells
   and their gradients). #}
{% macro sigmoid_fn() -%}
fn sig(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}
{%- endmacro %}


{# One GRU step's thread (Keras' reset_after form), shared by the cell and its gradient: its row and unit, the
   offsets of its gates in xg and hg, and the z and r gates (`sig` from sigmoid_fn). #}
{% macro gru_gates(xg, hg, u, hg_rows) %}
    let row = i / {{ u }}u;
    let j = i % {{ u }}u;
    let xr = {{ xg.off }}u + row * {{ 3 * u }}u + j;
    let hr = {{ hg.off }}u + {{ "row * %du + " % (3 * u) if hg_rows else "" }}j;
    let gz = sig({{ xg.var }}[xr] + {{ hg.var }}[hr]);
    let gr = sig({{ xg.var }}[xr + {{ u }}u] + {{ hg.var }}[hr + {{ u }}u]);
{%- endmacro %}

{# The CPU depthwise kernels' channel blocks: the vector (a scalar for one channel) of len(offs) lanes, lane c
   being var[base + offs[c]]; vtype its type. #}
{% macro vtype(n) %}{{ "f32" if n == 1 else "vec%d<f32>" % n }}{% endmacro %}
{% macro lanes(var, base, offs) %}
{%- if offs | length == 1 %}{{ var }}[{{ base }}{{ " + %du" % offs[0] if offs[0] else "" }}]
{%- else %}vec{{ offs | length }}<f32>(
{%- for o in offs %}{{ var }}[{{ base }}{{ " + %du" % o if o else "" }}]{{ ", " if not loop.last else "" }}{% endfor %})
{%- endif %}
{%- endmacro %}
{# ... and a function `name` loading it from base a (one line where it is used; inlined by the compilers) #}
{% macro load_fn(name, var, offs) %}
fn {{ name }}(a: u32) -> {{ vtype(offs | length) }} {
    return {{ lanes(var, "a", offs) }};
}
{% endmacro %}
{# The stores of a row block's bx columns (sums acc0.., the first output at o0, `step` floats apart): column j
   past the row's `width` (at x0 + j) not stored. #}
{% macro store_columns(bx, width, x0, step, finish_name) %}
{% for j in range(bx) %}
{% set guard = width % bx and j %}
{% if guard %}
    if ({{ x0 }} + {{ j }}u < {{ width }}u) {
{% endif %}
    {{ "    " if guard else "" }}{{ finish_name }}(acc{{ j }}, o0{{ " + %du" % (j * step) if j else "" }});
{% if guard %}
    }
{% endif %}
{% endfor %}
{%- endmacro %}
{# ... and finish_block(v, o): finish(lane c of v, o + c) for each of its n > 1 lanes; a function rather than a
   loop, as a loop's dynamic index into a vector kept the sums out of registers on SwiftShader #}
{% macro finish_block(n) %}
{% if n > 1 %}
fn finish_block(v: vec{{ n }}<f32>, o: u32) {
{% for c in range(n) %}
    finish(v[{{ c }}], o{{ " + %du" % c if c else "" }});
{% endfor %}
}
{% endif %}
{% endmacro %}
