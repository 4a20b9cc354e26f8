"""Kernels of dropout (ops/dropout.py) and batch norm (ops/batch_norm.py), one table row per op.

    DROPOUT     one thread per element; its mask from the `step` uniform's seed and step (training only:
                the inference form has no dropout)
    BN_STATS    one workgroup per 64 channels or fewer: the mean, then the variance (two passes over the
                channel's rows), and the moving statistics updated in place in `params`
    BATCH_NORM  one thread per element (after a conv2d, depthwise or dense layer at inference it has no
                kernel: fuse.py puts it in that layer's epilogue, lower_forward.epilogue)
    BN_DGAMMA   as BN_STATS, one pass: sum(dy * xhat) per channel
    BN_DX       one thread per element
"""
from __future__ import annotations

from ..ops import dropout
from ..ops.base import halves, pow2_at_least
from ..ops.optimizer import STEP, STEP_FIELDS, step_fields
from .ir import Op
from .kernel_builder import WORKGROUP, Kernel, Lowering, Rule, Scratch, f32, rule_into

RULES: dict[Op, Rule] = {}       # this module's lowering rules, merged by lower.py
SCRATCH: dict[Op, Scratch] = {}
rule = rule_into(RULES)


@rule(Op.DROPOUT)
def lower_dropout(ctx: Lowering, i: int) -> list[Kernel]:
    node = ctx.graph.nodes[i]
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    fields = step_fields(kb.uniform(STEP, len(STEP_FIELDS) // 4))
    rate = node.arg["rate"]
    wg, gx = ctx.elementwise_groups(node.size)
    salt_hash = int(dropout.pcg([node.arg["salt"]])[0])
    return [kb.kernel(ctx.kernel_name(i), "dropout.wgsl", wg, [i], comment=ctx.comment(i), x=x, out=out,
                      t=fields["t"], seed=fields["seed"],
                      hash=dropout.WGSL_HASH, rate=rate, salt=node.arg["salt"], salt_hash=salt_hash,
                      threshold=dropout.threshold(rate), scale=f32(1.0 / (1.0 - rate)), n=node.size,
                      wg=WORKGROUP, gx=gx)]


def _channel_groups(ctx: Lowering, c: int) -> dict[str, object]:
    cx = pow2_at_least(c, 8, 64)
    hy = WORKGROUP // cx
    groups = -(-c // cx)
    wg = ctx.grid(groups)
    return {"cx": cx, "hy": hy, "groups": groups, "gx": wg[0], "halves": halves(hy), "workgroups": wg}


@rule(Op.BN_STATS, Op.BN_DGAMMA)
def lower_bn_reduce(ctx: Lowering, i: int) -> list[Kernel]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    x_node = g.nodes[node.srcs[0]]
    c = x_node.shape[-1]
    rows = x_node.size // c
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    grid = _channel_groups(ctx, c)
    wg = grid.pop("workgroups")
    common = dict(comment=ctx.comment(i), x=x, out=out, c=c, rows=rows, inv_rows=f32(1.0 / rows), **grid)
    if node.op is Op.BN_STATS:
        mm, mv = kb.slot(ctx.slots[node.srcs[1]], write=True), kb.slot(ctx.slots[node.srcs[2]], write=True)
        momentum = node.arg["momentum"]
        return [kb.kernel(ctx.kernel_name(i), "bn_reduce.wgsl", wg, [i], kind="stats", mm=mm, mv=mv,
                          momentum=f32(momentum), decay=f32(1.0 - momentum), flops=3 * x_node.size,
                          reads=x_node.size, **common)]
    stats, dy = kb.read(node.srcs[1]), kb.read(node.srcs[2])
    return [kb.kernel(ctx.kernel_name(i), "bn_reduce.wgsl", wg, [i], kind="dgamma", stats=stats, dy=dy,
                      eps=f32(node.arg["epsilon"]), flops=3 * x_node.size, **common)]


@rule(Op.BATCH_NORM, Op.BN_DX)
def lower_bn_elementwise(ctx: Lowering, i: int) -> list[Kernel]:
    node = ctx.graph.nodes[i]
    kb = ctx.builder()
    s = node.srcs
    values: dict[str, object] = {}
    if node.op is Op.BATCH_NORM:
        values = {"kind": "normalize", "x": kb.read(s[0]), "gamma": kb.read(s[1]), "beta": kb.read(s[2]),
                  "mm": kb.read(s[3]), "mv": kb.read(s[4]), "stats": kb.read(s[5]) if len(s) == 6 else None}
    elif len(s) == 6:
        values = {"kind": "dx", "x": kb.read(s[0]), "stats": kb.read(s[1]), "dy": kb.read(s[2]),
                  "gamma": kb.read(s[3]), "dgamma": kb.read(s[4]), "dbeta": kb.read(s[5])}
    else:
        values = {"kind": "dx", "dy": kb.read(s[0]), "gamma": kb.read(s[1]), "mv": kb.read(s[2]),
                  "stats": None}
    c = node.shape[-1]
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "bn_elementwise.wgsl", wg, [i], comment=ctx.comment(i),
                      out=kb.write(i),
                      c=c, rows=node.size // c, inv_rows=f32(c / node.size), eps=f32(node.arg["epsilon"]),
                      n=node.size, wg=WORKGROUP, gx=gx, **values)]
