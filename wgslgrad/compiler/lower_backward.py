"""Kernels for the backward ops that autodiff appends (see the Op enum in ir.py for their semantics and
numpy_ref.py for their reference): one table row per op, one kernel per node (REDUCE_TO: two when the
summed extent is large). The conv, depthwise and dense gradients live in lower_backward_conv.py.

Every size, stride, offset and pad a kernel needs is computed here and passed to its template by name.
"""
from __future__ import annotations

from .ir import Graph, Node, Op, Shape
from .lower import SCRATCH, WORKGROUP, Ctx, Kernel, KernelBuilder, Operand, f32, rule
from .lower_forward import (
    broadcast_axes,
    comment,
    elementwise_expr,
    elementwise_groups,
    halves,
    name,
    pow2_at_least,
)


@rule(Op.UNARY_GRAD)
def lower_unary_grad(ctx: Ctx, i: int) -> list[Kernel]:
    """dx = dy * f'(a) (lower_forward.UNARY_GRAD_EXPR) through binary.wgsl: its operands have one shape here."""
    node = ctx.graph.nodes[i]
    kb = ctx.builder()
    a, dy, out = kb.read(node.srcs[0]), kb.read(node.srcs[1]), kb.write(i)
    expr = elementwise_expr(node)
    wg, gx = elementwise_groups(ctx, node.size)
    axes = broadcast_axes(node.shape, node.shape, node.shape)
    return [kb.kernel(name(ctx, i, "_" + node.arg["fn"]), "binary.wgsl", wg, [i], comment=comment(ctx, i), a=a,
                      b=dy, out=out, axes=axes, expr=expr, n=node.size, wg=WORKGROUP, gx=gx)]


@rule(Op.BROADCAST)
def lower_broadcast(ctx: Ctx, i: int) -> list[Kernel]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    xs = g.nodes[node.srcs[0]].shape
    scale = float(node.arg.get("scale", 1.0))
    wg, gx = elementwise_groups(ctx, node.size)
    return [kb.kernel(name(ctx, i), "broadcast.wgsl", wg, [i], comment=comment(ctx, i), x=x, out=out,
                      axes=broadcast_axes(node.shape, xs, xs), scale=f32(scale) if scale != 1.0 else "",
                      n=node.size, wg=WORKGROUP, gx=gx)]


@rule(Op.SLICE_LAST)
def lower_slice_last(ctx: Ctx, i: int) -> list[Kernel]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    c, cin = node.shape[-1], g.nodes[node.srcs[0]].shape[-1]
    wg, gx = elementwise_groups(ctx, node.size)
    return [kb.kernel(name(ctx, i), "slice_last.wgsl", wg, [i], comment=comment(ctx, i), x=x, out=out,
                      start=node.arg["start"], c=c, cin=cin, rows=node.size // c, n=node.size, wg=WORKGROUP,
                      gx=gx)]


@rule(Op.MSE_GRAD, Op.SIGMOID_CE_GRAD)
def lower_loss_grad(ctx: Ctx, i: int) -> list[Kernel]:
    node = ctx.graph.nodes[i]
    kb = ctx.builder()
    p, t, dl, out = kb.read(node.srcs[0]), kb.read(node.srcs[1]), kb.read(node.srcs[2]), kb.write(i)
    kind, scale = ("mse", 2.0 / node.size) if node.op is Op.MSE_GRAD else ("sigmoid_ce", 1.0 / node.size)
    wg, gx = elementwise_groups(ctx, node.size)
    return [kb.kernel(name(ctx, i), "loss_grad.wgsl", wg, [i], comment=comment(ctx, i), kind=kind, p=p, t=t,
                      dl=dl, out=out, scale=f32(scale), n=node.size, wg=WORKGROUP, gx=gx)]


@rule(Op.SOFTMAX_GRAD, Op.SOFTMAX_CE_GRAD)
def lower_softmax_grad(ctx: Ctx, i: int) -> list[Kernel]:
    """Row-wise: SOFTMAX_GRAD reads (y, dy), SOFTMAX_CE_GRAD (logits, labels, dl)."""
    node = ctx.graph.nodes[i]
    kb = ctx.builder()
    a, b, out = kb.read(node.srcs[0]), kb.read(node.srcs[1]), kb.write(i)
    ce = node.op is Op.SOFTMAX_CE_GRAD
    dl = kb.read(node.srcs[2]) if ce else None
    k = node.shape[-1]
    rows = node.size // k
    per_thread = k <= 64
    wg = ctx.grid(-(-rows // WORKGROUP) if per_thread else rows)
    return [kb.kernel(name(ctx, i), "softmax_grad.wgsl", wg, [i], comment=comment(ctx, i),
                      kind="ce" if ce else "softmax", a=a, b=b, dl=dl, out=out, k=k, rows=rows,
                      scale=f32(1.0 / rows), per_thread=per_thread, wg=WORKGROUP, gx=wg[0],
                      halves=halves(WORKGROUP))]


@rule(Op.MAX_POOL_GRAD, Op.AVG_POOL_GRAD)
def lower_pool_grad(ctx: Ctx, i: int) -> list[Kernel]:
    """Gather: one thread per input cell, looping over the windows that contain it (no atomics)."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    is_max = node.op is Op.MAX_POOL_GRAD
    x = kb.read(node.srcs[0]) if is_max else None
    dy_id = node.srcs[1] if is_max else node.srcs[0]
    dy, out = kb.read(dy_id), kb.write(i)
    _, h, w, c = node.shape
    _, ho, wo, _ = g.nodes[dy_id].shape
    (kh, kw), (sh, sw), (pt, _, pl, _) = node.arg["size"], node.arg["stride"], node.arg["pad"]
    wg, gx = elementwise_groups(ctx, node.size)
    return [kb.kernel(name(ctx, i), "pool_grad.wgsl", wg, [i], comment=comment(ctx, i),
                      kind="max" if is_max else "avg", x=x, dy=dy, out=out, h=h, w=w, c=c, ho=ho, wo=wo, kh=kh,
                      kw=kw, sh=sh, sw=sw, pt=pt, pl=pl, n=node.size, wg=WORKGROUP, gx=gx)]


# ---- REDUCE_TO: a sum over the axes a broadcast added or stretched (bias gradients) ----

def reduce_axes(x: Shape, target: Shape) -> tuple[list[dict[str, int]], list[dict[str, int]]]:
    """(kept, reduced) axes of x, each {size, stride} (x strides), innermost first, size-1 axes dropped and
    neighbours of one kind merged where contiguous: [B,H,W,C] -> [C] is kept [(C,1)], reduced [(B*H*W,C)]."""
    t = (1,) * (len(x) - len(target)) + tuple(target)
    strides, acc = [0] * len(x), 1
    for d in range(len(x) - 1, -1, -1):
        strides[d] = acc
        acc *= x[d]
    runs: list[tuple[bool, int, int]] = []       # (kept, size, stride), outermost first
    for d, size in enumerate(x):
        if size == 1:
            continue
        kept = t[d] == size
        if runs and runs[-1][0] == kept and runs[-1][2] == strides[d] * size:
            runs[-1] = (kept, runs[-1][1] * size, strides[d])
        else:
            runs.append((kept, size, strides[d]))
    kept_axes = [{"size": s, "stride": st} for k, s, st in reversed(runs) if k]
    red_axes = [{"size": s, "stride": st} for k, s, st in reversed(runs) if not k]
    return kept_axes, red_axes


def _prod(axes: list[dict[str, int]]) -> int:
    n = 1
    for a in axes:
        n *= a["size"]
    return n


def _reduce_plan(g: Graph, node: Node) -> dict[str, int]:
    """Workgroup shape and split: `cx` outputs x `hy` lanes per workgroup; the reduced extent is cut into
    `chunks` when the outputs alone give few workgroups (a bias over B*H*W), summed by a second kernel."""
    kept, red = reduce_axes(g.nodes[node.srcs[0]].shape, node.shape)
    outs, r = _prod(kept), _prod(red)
    # outputs across x when they are contiguous in memory (coalesced reads), else lanes along the sum
    cx = pow2_at_least(min(kept[0]["size"], outs), 1, 64) if kept and kept[0]["stride"] == 1 else 1
    hy = WORKGROUP // cx
    otiles = -(-outs // cx)
    chunks = 1
    if otiles < 256 and r > 32 * hy:
        chunks = min(-(-r // (32 * hy)), 256)
    return {"outs": outs, "r": r, "cx": cx, "hy": hy, "otiles": otiles, "chunks": chunks}


def _reduce_scratch(g: Graph, node: Node) -> int:
    p = _reduce_plan(g, node)
    return p["chunks"] * p["outs"] if p["chunks"] > 1 else 0


SCRATCH[Op.REDUCE_TO] = _reduce_scratch


def _reduce_kernel(ctx: Ctx, i: int, kernel_name: str, kb: KernelBuilder, x: Operand, dst: Operand,
                   kept: list[dict[str, int]], red: list[dict[str, int]], cx: int, chunks: int) -> Kernel:
    """x summed over `red` into dst[kept], in `chunks` parts (one FLOP per element read)."""
    outs, r = _prod(kept), _prod(red)
    hy = max(ctx.lanes // cx, 1)
    otiles = -(-outs // cx)
    groups = otiles * chunks
    wg = ctx.grid(groups)
    return kb.kernel(kernel_name, "reduce_to.wgsl", wg, [i], outs * r, x.size, comment=comment(ctx, i), x=x,
                     dst=dst, kept=kept, red=red, outs=outs, r=r, cx=cx, hy=hy, otiles=otiles, groups=groups,
                     groups_r=chunks, chunk=-(-r // chunks), gx=wg[0], halves=halves(hy))


@rule(Op.REDUCE_TO)
def lower_reduce_to(ctx: Ctx, i: int) -> list[Kernel]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kept, red = reduce_axes(g.nodes[node.srcs[0]].shape, node.shape)
    plan = _reduce_plan(g, node)
    kb = ctx.builder()
    x = kb.read(node.srcs[0])
    if plan["chunks"] == 1:
        return [_reduce_kernel(ctx, i, name(ctx, i), kb, x, kb.write(i), kept, red, plan["cx"], 1)]
    # two stages: partial sums scratch[chunk, output], then one pass over the chunks (outputs contiguous)
    outs, chunks = plan["outs"], plan["chunks"]
    first = _reduce_kernel(ctx, i, name(ctx, i, "_partial"), kb, x, kb.slot(ctx.scratch[i], write=True), kept,
                           red, plan["cx"], chunks)
    kb = ctx.builder()
    partial = kb.slot(ctx.scratch[i])
    second = _reduce_kernel(ctx, i, name(ctx, i), kb, partial, kb.write(i), [{"size": outs, "stride": 1}],
                            [{"size": chunks, "stride": outs}], pow2_at_least(outs, 1, 64), 1)
    return [first, second]
