{% from "_macros.wgsl" import per_element %}
// {{ comment }}, over {{ n }} elements of {{ c }} channels (c = i % {{ c }}):
{% if kind == "normalize" %}
// out[i] = (x[i] - mean[c]) / sqrt(var[c] + {{ eps }}) * gamma[c] + beta[c], mean and var {{ "of the batch" if stats else "the moving ones" }}
{% elif stats %}
// dx[i] = gamma[c] * inv * (dy[i] - (dbeta[c] + xhat * dgamma[c]) / {{ rows }}), inv = 1 / sqrt(var[c] + eps), xhat = (x[i] - mean[c]) * inv
{% else %}
// dx[i] = dy[i] * gamma[c] / sqrt(moving_variance[c] + eps)
{% endif %}
{{ bindings }}

{{ per_element(wg, gx, n) }}
    let c = i % {{ c }}u;
{% if stats %}
    let mean = {{ stats.var }}[{{ stats.off }}u + c];
    let inv = inverseSqrt({{ stats.var }}[{{ stats.off }}u + {{ c }}u + c] + {{ eps }});
{% elif kind == "normalize" %}
    let mean = {{ mm.var }}[{{ mm.off }}u + c];
    let inv = inverseSqrt({{ mv.var }}[{{ mv.off }}u + c] + {{ eps }});
{% else %}
    let inv = inverseSqrt({{ mv.var }}[{{ mv.off }}u + c] + {{ eps }});
{% endif %}
    let gamma = {{ gamma.var }}[{{ gamma.off }}u + c];
{% if kind == "normalize" %}
    {{ out.var }}[{{ out.off }}u + i] = ({{ x.var }}[{{ x.off }}u + i] - mean) * inv * gamma + {{ beta.var }}[{{ beta.off }}u + c];
{% elif stats %}
    let xhat = ({{ x.var }}[{{ x.off }}u + i] - mean) * inv;
    let dg = {{ dgamma.var }}[{{ dgamma.off }}u + c];
    let db = {{ dbeta.var }}[{{ dbeta.off }}u + c];
    {{ out.var }}[{{ out.off }}u + i] = gamma * inv * ({{ dy.var }}[{{ dy.off }}u + i] - (db + xhat * dg) * {{ inv_rows }});
{% else %}
    {{ out.var }}[{{ out.off }}u + i] = {{ dy.var }}[{{ dy.off }}u + i] * gamma * inv;
{% endif %}
}
