{% from "_macros.wgsl" import per_element %}
// {{ comment }}: out[i] = x[i] / (1 - {{ rate }}) where pcg(key + i) >= {{ threshold }}, else 0, over {{ n }} elements;
// key = pcg(seed ^ pcg(step ^ pcg(salt {{ salt }}))), seed {{ seed }} and step {{ t }} from the step uniform (ops/dropout.py).
{{ bindings }}

{{ hash }}

{{ per_element(wg, gx, n) }}
    let key = pcg(u32({{ seed }}) ^ pcg(u32({{ t }}) ^ {{ salt_hash }}u));
    let v = {{ x.var }}[{{ x.off }}u + i];
    {{ out.var }}[{{ out.off }}u + i] = select(0.0, v * {{ scale }}, pcg(key + i) >= {{ threshold }}u);
}
