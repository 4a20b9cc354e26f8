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

{# The register-blocked product of one BK-deep slice of the A and B tiles in workgroup memory: each thread
   adds its TM x TN block of acc (rows ty + 16i, columns tx + 16j); B's tile rows are `brow` floats apart. #}
{% macro tile_product(tm, tn, brow) %}
        for (var kk = 0u; kk < BK; kk++) {
            var a: array<f32, {{ tm }}>;
            var b: array<f32, {{ tn }}>;
            for (var i = 0u; i < TM; i++) {
                a[i] = As[kk * AROW + ty + 16u * i];
            }
            for (var j = 0u; j < TN; j++) {
                b[j] = Bs[kk * {{ brow }} + tx + 16u * j];
            }
            for (var i = 0u; i < TM; i++) {
                for (var j = 0u; j < TN; j++) {
                    acc[i * TN + j] = fma(a[i], b[j], acc[i * TN + j]);
                }
            }
        }
{%- endmacro %}
