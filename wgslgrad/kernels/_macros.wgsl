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

{# Register blocking: each thread of a 16x16 workgroup accumulates a tm x tn block of the output tile (rows
   ty + 16i, columns tx + 16j) in scalars acc{i}_{j}, unrolled here so that they stay in registers. #}
{% macro accumulators(tm, tn) %}
{% for i in range(tm) %}{% for j in range(tn) %}
    var acc{{ i }}_{{ j }} = 0.0;
{% endfor %}{% endfor %}
{%- endmacro %}

{# The product of one BK-deep slice of the A and B tiles in workgroup memory (As[k * AROW + m],
   B's rows `brow` floats apart) added into the accumulators. #}
{% macro tile_product(tm, tn, brow) %}
        for (var kk = 0u; kk < BK; kk++) {
{% for i in range(tm) %}
            let a{{ i }} = As[kk * AROW + ty + {{ 16 * i }}u];
{% endfor %}
{% for j in range(tn) %}
            let b{{ j }} = Bs[kk * {{ brow }} + tx + {{ 16 * j }}u];
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
   after each: lanes below `half` combine element `at` of each of `arrays` with the one `half * stride`
   floats further on, by `op` ("+" or "max"). Lane 0 (element `at` of lane 0) then holds the result. #}
{% macro tree(halves, lane, at, stride=1, arrays=["part"], op="+") %}
{% for half in halves %}
    if ({{ lane }} < {{ half }}u) {
{% for a in arrays %}
{% if op == "max" %}
        {{ a }}[{{ at }}] = max({{ a }}[{{ at }}], {{ a }}[{{ at }} + {{ half * stride }}u]);
{% else %}
        {{ a }}[{{ at }}] += {{ a }}[{{ at }} + {{ half * stride }}u];
{% endif %}
{% endfor %}
    }
    workgroupBarrier();{{ "\n" if not loop.last else "" }}
{%- endfor %}
{%- endmacro %}

{# The end of a producer kernel for output element `o` (`col`: its column, for the bias): v = value (+ bias),
   then the epilogue's statements (lower_forward.epilogue: the fused elementwise ops and the stores). #}
{% macro finish(value, bias, col, epilogue) %}
    var v = {{ value }}{% if bias %} + {{ bias.var }}[{{ bias.off }}u + {{ col }}]{% endif %};
{% for line in epilogue %}
    {{ line }}{{ "\n" if not loop.last else "" }}
{%- endfor %}
{%- endmacro %}
