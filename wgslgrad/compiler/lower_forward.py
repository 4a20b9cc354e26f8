"""Kernels for the forward ops: one table row per op (see lower.RULES), one kernel per node.

Every size, stride, offset and pad a kernel needs is computed here and passed to its template by name.
"""
from __future__ import annotations

from ..ops import kernels
from .ir import BINARY, UNARY, Op
from .kernel_builder import WORKGROUP, Kernel, Lowering, Rule, Scratch, elementwise_expr, rule_into

RULES: dict[Op, Rule] = {}       # this module's lowering rules, merged by lower.py
SCRATCH: dict[Op, Scratch] = {}  # f32 elements of scratch a node needs at its own step
rule = rule_into(RULES)


@rule(*UNARY)
def lower_unary(ctx: Lowering, i: int) -> list[Kernel]:
    node = ctx.graph.nodes[i]
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    expr = elementwise_expr(node)
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "unary.wgsl", wg, [i], comment=ctx.comment(i), x=x, out=out, expr=expr,
                      n=node.size, wg=WORKGROUP, gx=gx)]


@rule(*BINARY)
def lower_binary(ctx: Lowering, i: int) -> list[Kernel]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    a, b, out = kb.read(node.srcs[0]), kb.read(node.srcs[1]), kb.write(i)
    axes = kernels.broadcast_axes(node.shape, g.nodes[node.srcs[0]].shape, g.nodes[node.srcs[1]].shape)
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "binary.wgsl", wg, [i], comment=ctx.comment(i), a=a, b=b, out=out,
                      axes=axes, expr=elementwise_expr(node), n=node.size, wg=WORKGROUP, gx=gx)]
