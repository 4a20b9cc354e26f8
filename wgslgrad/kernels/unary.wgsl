{% from "_macros.wgsl" import per_element %}
// {{ comment }}: out[i] = f(x[i]) over {{ n }} elements, one thread each.
{{ bindings }}

{{ per_element(wg, gx, n) }}
    let v = {{ x.var }}[{{ x.off }}u + i];
    {{ out.var }}[{{ out.off }}u + i] = {{ expr }};
}
