"""Kernels for the sequence ops: EMBEDDING with its gradient EMBEDDING_DW, and LSTM_CELL with LSTM_CELL_GRAD
(SLICE, SLICE_GRAD and STACK are in ops/shape.py, SUM_AXES in ops/reductions.py); every size is computed
here and passed to its template by name.
"""
from __future__ import annotations

from .ir import Op
from .kernel_builder import WORKGROUP, Kernel, Lowering, Rule, Scratch, rule_into

RULES: dict[Op, Rule] = {}       # this module's lowering rules, merged by lower.py
SCRATCH: dict[Op, Scratch] = {}  # f32 elements of scratch a node needs at its own step
rule = rule_into(RULES)


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
