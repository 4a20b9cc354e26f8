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
