"""Kernels for the sequence ops: SLICE (x[:, 2:5]), its gradient SLICE_GRAD and STACK, one table row each
(EMBEDDING and the recurrent cells are in ops/sequence.py, SUM_AXES in ops/reductions.py).

Each views its tensors as [outer, axis, inner] around the one axis it works on (row-major, so a slice or a
stack along any axis is one strided copy); every size is computed here and passed to its template by name.
"""
from __future__ import annotations

import math

from .ir import Op
from .kernel_builder import WORKGROUP, Kernel, Lowering, Rule, Scratch, rule_into

RULES: dict[Op, Rule] = {}       # this module's lowering rules, merged by lower.py
SCRATCH: dict[Op, Scratch] = {}  # f32 elements of scratch a node needs at its own step
rule = rule_into(RULES)


def _around(shape: tuple[int, ...], axis: int) -> tuple[int, int]:
    """The sizes before and after `axis`: (outer, inner)."""
    return math.prod(shape[:axis]), math.prod(shape[axis + 1:])


@rule(Op.SLICE)
def lower_slice(ctx: Lowering, i: int) -> list[Kernel]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    axis = node.arg["axis"]
    _, inner = _around(node.shape, axis)
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "slice_axis.wgsl", wg, [i], comment=ctx.comment(i), x=x, out=out,
                      start=node.arg["start"], c=node.shape[axis], cin=g.nodes[node.srcs[0]].shape[axis],
                      inner=inner, n=node.size, wg=WORKGROUP, gx=gx)]


@rule(Op.SLICE_GRAD)
def lower_slice_grad(ctx: Lowering, i: int) -> list[Kernel]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    dy, out = kb.read(node.srcs[0]), kb.write(i)
    axis = node.arg["axis"]
    _, inner = _around(node.shape, axis)
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "slice_grad.wgsl", wg, [i], comment=ctx.comment(i), dy=dy, out=out,
                      start=node.arg["start"], c=g.nodes[node.srcs[0]].shape[axis], size=node.shape[axis],
                      inner=inner, n=node.size, wg=WORKGROUP, gx=gx)]


@rule(Op.STACK)
def lower_stack(ctx: Lowering, i: int) -> list[Kernel]:
    """One kernel per run of sources that fits the storage-buffer limit (usually one for all)."""
    node = ctx.graph.nodes[i]
    axis = node.arg["axis"]
    count = node.shape[axis]
    _, inner = _around(node.shape, axis)
    outer = node.size // (count * inner)
    kernels: list[Kernel] = []
    k0, pending = 0, list(node.srcs)
    while pending:
        kb = ctx.builder()
        out = kb.write(i)
        srcs = []
        while pending and kb.fits([ctx.slots[pending[0]].buffer]):
            srcs.append(kb.read(pending.pop(0)))
        assert srcs, "a stack source cannot be bound"
        n = outer * len(srcs) * inner
        wg, gx = ctx.elementwise_groups(n)
        suffix = f"_{len(kernels)}" if kernels or pending else ""
        kernels.append(kb.kernel(ctx.kernel_name(i, suffix), "stack.wgsl", wg, [i], comment=ctx.comment(i), out=out,
                                 srcs=srcs, count=count, k0=k0, inner=inner, n=n, wg=WORKGROUP, gx=gx))
        k0 += len(srcs)
    return kernels
