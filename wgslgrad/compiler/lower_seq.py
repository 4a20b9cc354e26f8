"""Kernels for the sequence ops: SLICE (x[:, 2:5]), its gradient SLICE_GRAD and STACK, one table row each,
EMBEDDING with its gradient EMBEDDING_DW, and LSTM_CELL with LSTM_CELL_GRAD (SUM_AXES is in ops/reductions.py).

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


@rule(Op.EMBEDDING)
def lower_embedding(ctx: Lowering, i: int) -> list[Kernel]:
    """Ids out of [0, vocab) are clamped into it (no read outside the table); the runtime refuses them first."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    ids, table, out = kb.read(node.srcs[0]), kb.read(node.srcs[1]), kb.write(i)
    vocab, dim = g.nodes[node.srcs[1]].shape
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "embedding.wgsl", wg, [i], comment=ctx.comment(i), ids=ids, table=table,
                      out=out, vocab=vocab, dim=dim, n=node.size, wg=WORKGROUP, gx=gx)]


@rule(Op.EMBEDDING_DW)
def lower_embedding_dw(ctx: Lowering, i: int) -> list[Kernel]:
    """One thread per table entry, scanning every id: no float atomics in WGSL, and no write races."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    ids, dy, out = kb.read(node.srcs[0]), kb.read(node.srcs[1]), kb.write(i)
    vocab, dim = node.shape
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "embedding_dw.wgsl", wg, [i], comment=ctx.comment(i), ids=ids, dy=dy,
                      out=out, vocab=vocab, dim=dim, count=g.nodes[node.srcs[0]].size, n=node.size,
                      wg=WORKGROUP, gx=gx)]


@rule(Op.LSTM_CELL, Op.LSTM_CELL_GRAD)
def lower_lstm_cell(ctx: Lowering, i: int) -> list[Kernel]:
    """One LSTM step (or its gradient) in one kernel, one thread per (row, unit): the gates never leave
    registers."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    grad = node.op is Op.LSTM_CELL_GRAD
    z = kb.read(node.srcs[0])
    rows, four_u = g.nodes[node.srcs[0]].shape
    has_c = len(node.srcs) == (3 if grad else 2)
    c = kb.read(node.srcs[1]) if has_c else None
    values = {"dout": kb.read(node.srcs[-1]), "width": node.shape[1]} if grad else {}
    out = kb.write(i)
    n = rows * (four_u // 4)
    wg, gx = ctx.elementwise_groups(n)
    return [kb.kernel(ctx.kernel_name(i), "lstm_cell_grad.wgsl" if grad else "lstm_cell.wgsl", wg, [i],
                      comment=ctx.comment(i), z=z, c=c, out=out, rows=rows, u=four_u // 4, n=n, wg=WORKGROUP,
                      gx=gx, **values)]
