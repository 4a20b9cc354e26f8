"""Kernels for the backward ops that autodiff appends (see the Op enum in ir.py for their semantics and
numpy_ref.py for their reference): one table row per op, one kernel per node (REDUCE_TO: two when the
summed extent is large). The conv, depthwise and dense gradients are in ops/linear_kernels.py.

Every size, stride, offset and pad a kernel needs is computed here and passed to its template by name.
"""
from __future__ import annotations

from ..ops import kernels
from .ir import Op
from .kernel_builder import WORKGROUP, Kernel, Lowering, Rule, Scratch, rule_into
from .lower_forward import (
    elementwise_expr,
)

RULES: dict[Op, Rule] = {}       # this module's lowering rules, merged by lower.py
SCRATCH: dict[Op, Scratch] = {}  # f32 elements of scratch a node needs at its own step
rule = rule_into(RULES)


@rule(Op.UNARY_GRAD)
def lower_unary_grad(ctx: Lowering, i: int) -> list[Kernel]:
    """dx = dy * f'(a) (the op's row's grad, lower_forward.elementwise_expr) through binary.wgsl: its operands have one shape here."""
    node = ctx.graph.nodes[i]
    kb = ctx.builder()
    a, dy, out = kb.read(node.srcs[0]), kb.read(node.srcs[1]), kb.write(i)
    expr = elementwise_expr(node)
    wg, gx = ctx.elementwise_groups(node.size)
    axes = kernels.broadcast_axes(node.shape, node.shape, node.shape)
    return [kb.kernel(ctx.kernel_name(i, "_" + node.attrs.fn), "binary.wgsl", wg, [i], comment=ctx.comment(i), a=a,
                      b=dy, out=out, axes=axes, expr=expr, n=node.size, wg=WORKGROUP, gx=gx)]
