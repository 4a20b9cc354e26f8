{% from "_macros.wgsl" import per_element %}
// {{ comment }}: d(loss)/d(pred) over {{ n }} elements, one thread each; dl is the loss's gradient (a scalar).
{{ bindings }}

{{ per_element(wg, gx, n) }}
    let p = {{ p.var }}[{{ p.off }}u + i];
    let t = {{ t.var }}[{{ t.off }}u + i];
    let dl = {{ dl.var }}[{{ dl.off }}u];
{% if kind == "mse" %}
    {{ out.var }}[{{ out.off }}u + i] = (p - t) * (dl * {{ scale }});
{% else %}
    // sigmoid as in the forward kernels: exp overflows to inf for p << 0 and 1/inf = 0, no NaN
    {{ out.var }}[{{ out.off }}u + i] = (1.0 / (1.0 + exp(-p)) - t) * (dl * {{ scale }});
{% endif %}
}
