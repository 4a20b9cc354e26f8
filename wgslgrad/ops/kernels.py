"""Lowerings that ops of more than one family share, each given the Lowering it works in: the one- or
two-stage sum (sum and mean reduce to it, and so do the losses), the row-wise softmax gradient (softmax's,
and softmax cross-entropy's), and the broadcast axes of elementwise kernels (binary ops, unary gradients,
broadcast)."""
from __future__ import annotations

from typing import Any

from .base import WORKGROUP, f32, halves


def reduce_groups(items: int, cost: int) -> int:
    """Workgroups for the first stage: one when the work is small, else about 4096 elements each."""
    work = items * cost
    if work <= 8192:
        return 1
    return max(1, min(-(-work // 4096), 1024, items))


def reduce_scratch(items: int, cost: int) -> int:
    """f32 elements of scratch the two-stage sum needs: one partial sum per first-stage workgroup."""
    groups = reduce_groups(items, cost)
    return groups if groups > 1 else 0


def lower_reduce(ctx: Any, i: int, kind: str, items: int, cost: int, scale: float) -> list[Any]:
    """Sum a term (reduce.wgsl's `kind`) over `items` elements (rows, for softmax CE), times `scale`; two
    stages when one workgroup is not enough: partial sums into the node's scratch, then one workgroup adds
    them."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    groups = reduce_groups(items, cost)
    chunk = -(-items // groups)
    common = {"comment": ctx.comment(i), "wg": ctx.lanes, "halves": halves(ctx.lanes)}
    kb = ctx.builder()
    x = kb.read(node.srcs[0])
    y = kb.read(node.srcs[1]) if len(node.srcs) > 1 else None
    k = g.nodes[node.srcs[0]].shape[-1] if kind == "softmax_ce" else 1
    if groups == 1:
        return [kb.kernel(ctx.kernel_name(i), "reduce.wgsl", (1, 1, 1), [i], kind=kind, x=x, y=y, k=k, n=items,
                          chunk=items, groups=1, dst=kb.write(i), scale=f32(scale), **common)]
    first = kb.kernel(ctx.kernel_name(i, "_partial"), "reduce.wgsl", (groups, 1, 1), [i], kind=kind, x=x, y=y, k=k,
                      n=items, chunk=chunk, groups=groups, dst=kb.slot(ctx.scratch[i], write=True),
                      scale=f32(scale), **common)
    kb = ctx.builder()
    partial = kb.slot(ctx.scratch[i])
    second = kb.kernel(ctx.kernel_name(i), "reduce.wgsl", (1, 1, 1), [i], kind="sum", x=partial, y=None, k=1,
                       n=groups, chunk=groups, groups=1, dst=kb.write(i), scale=f32(1.0), **common)
    return [first, second]


def lower_softmax_grad(ctx: Any, i: int, ce: bool) -> list[Any]:
    """Row-wise: softmax's gradient reads (y, dy), softmax cross-entropy's (`ce`) (logits, labels, dl)."""
    node = ctx.graph.nodes[i]
    kb = ctx.builder()
    a, b, out = kb.read(node.srcs[0]), kb.read(node.srcs[1]), kb.write(i)
    dl = kb.read(node.srcs[2]) if ce else None
    k = node.shape[-1]
    rows = node.size // k
    per_thread = k <= 64
    wg = ctx.grid(-(-rows // WORKGROUP) if per_thread else rows)
    return [kb.kernel(ctx.kernel_name(i), "softmax_grad.wgsl", wg, [i], comment=ctx.comment(i),
                      kind="ce" if ce else "softmax", a=a, b=b, dl=dl, out=out, k=k, rows=rows,
                      scale=f32(1.0 / rows), per_thread=per_thread, wg=WORKGROUP, gx=wg[0],
                      halves=halves(WORKGROUP))]


def broadcast_axes(out: tuple[int, ...], a: tuple[int, ...], b: tuple[int, ...]) -> list[dict[str, int]]:
    """(size, a stride, b stride) per axis, innermost first, with size-1 axes dropped and axes merged
    where both operands are contiguous across them: [B,H,W,C] + [C] becomes [B*H*W, C]."""
    def strides(shape: tuple[int, ...]) -> list[int]:
        shape = (1,) * (len(out) - len(shape)) + shape
        st, acc = [0] * len(out), 1
        for d in range(len(out) - 1, -1, -1):
            st[d] = acc if shape[d] > 1 else 0
            acc *= shape[d]
        return st
    sa, sb = strides(a), strides(b)
    axes: list[dict[str, int]] = []
    for d, size in enumerate(out):
        if size == 1:
            continue
        if axes and axes[-1]["sa"] == sa[d] * size and axes[-1]["sb"] == sb[d] * size:
            axes[-1] = {"size": axes[-1]["size"] * size, "sa": sa[d], "sb": sb[d]}
        else:
            axes.append({"size": size, "sa": sa[d], "sb": sb[d]})
    return axes[::-1]
