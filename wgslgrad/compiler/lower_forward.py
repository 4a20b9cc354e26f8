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


@rule(Op.CONCAT)
def lower_concat(ctx: Lowering, i: int) -> list[Kernel]:
    """One kernel per run of sources that fits the storage-buffer limit (usually one for all)."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    cout = node.shape[-1]
    rows = node.size // cout
    kernels: list[Kernel] = []
    c0, pending = 0, list(node.srcs)
    while pending:
        kb = ctx.builder()
        out = kb.write(i)
        srcs: list[dict] = []
        cc = 0
        while pending and kb.fits([ctx.slots[pending[0]].buffer]):
            s = pending.pop(0)
            c = g.nodes[s].shape[-1]
            srcs.append(dict(x=kb.read(s), c=c, start=cc, end=cc + c))
            cc += c
        assert srcs, "a concat source cannot be bound"
        wg, gx = ctx.elementwise_groups(rows * cc)
        suffix = f"_{len(kernels)}" if kernels or pending else ""
        kernels.append(kb.kernel(ctx.kernel_name(i, suffix), "concat.wgsl", wg, [i], comment=ctx.comment(i), out=out,
                                 srcs=srcs, rows=rows, cout=cout, c0=c0, cc=cc, n=rows * cc, wg=WORKGROUP,
                                 gx=gx))
        c0 += cc
    return kernels

