"""The reductions: sum and mean (to a scalar), sum_axes (over some axes, kept with size 1), softmax (over the
last axis) and the ops autodiff uses to undo and make broadcasts: reduce_to, broadcast, softmax_grad. Each
declared once (an OpDef: builtin, typed attributes, shape rule, float64 reference, gradient, lowering and
scratch, FLOPs, PyTorch and TF.js peers).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import kernels
from .base import (
    WORKGROUP,
    Array,
    NoAttrs,
    OpDef,
    Shape,
    ShapeError,
    broadcast,
    f32,
    fmt_shape,
    halves,
    pow2_at_least,
    softmax,
)


@dataclass(frozen=True)
class AxesAttrs:
    axes: tuple[int, ...]          # sorted, non-negative; each kept with size 1


@dataclass(frozen=True)
class ShapeAttrs:
    shape: Shape                   # reduce_to: the shape summed back to


@dataclass(frozen=True)
class BroadcastAttrs:
    shape: Shape                   # the shape broadcast to (NumPy rules)
    scale: float = 1.0             # times this


# ---- builtins ----

def _axes(c: Any, x: Any, axis: Any) -> tuple[int, ...]:
    """`axis` (an int or a list of ints, negative from the end; the batch axis of a batched tensor excluded),
    as sorted non-negative axes."""
    items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    rank = len(x.shape)
    if not items:
        c.want("axis", "an int or a non-empty list of ints", axis)
    out = []
    for a in items:
        if not isinstance(a, int) or isinstance(a, bool):
            c.want("axis", "an int or a list of ints", a)
        if not -rank <= a < rank:
            c.fail("axis", f"axis {a} is out of range for a tensor of shape {fmt_shape(x.shape)}")
        out.append(a % rank)
    if len(set(out)) != len(out):
        c.fail("axis", f"argument 'axis' repeats an axis: {axis}")
    if 0 in out and x.batched:
        c.fail("axis", "cannot reduce axis 0, the batch (each example's result stays its own): leave axis out to "
                       "reduce every axis to a scalar")
    return tuple(sorted(out))


def _reduce(c: Any, op: str, x: Any, axis: Any, keepdims: Any) -> Any:
    """sum or mean over every axis (a scalar), or over `axis`: sum_axes, times 1/count for a mean, reshaped
    unless keepdims."""
    x, keep = c.tensor(x, "x"), c.flag(keepdims, "keepdims")
    if axis is None:
        if keep:
            c.fail("keepdims", "argument 'keepdims=True' needs axis= (with no axis it reduces to a scalar)")
        return c.node(op, [x], c.scope())
    axes, scope = _axes(c, x, axis), c.scope()
    y = c.node("sum_axes", [x], scope, axes=axes)
    if op == "mean":
        count = math.prod(x.shape[a] for a in axes)
        y = c.node("mul", [y, c.b.const(1.0 / count, c.pos, scope)], scope)
    if not keep:
        y = c.node("reshape", [y], scope, shape=tuple(d for a, d in enumerate(x.shape) if a not in axes))
    return y


def mean(c: Any, x: Any, axis: Any = None, keepdims: Any = False) -> Any:
    return _reduce(c, "mean", x, axis, keepdims)


def sum_(c: Any, x: Any, axis: Any = None, keepdims: Any = False) -> Any:
    """A tensor sums to a scalar (or over `axis`); a list of numbers or tensors adds up item by item."""
    if isinstance(x, (list, tuple)):
        if axis is not None or keepdims is not False:
            c.fail("axis", "takes axis= and keepdims= for a tensor only, not a list")
        if not x:
            return 0
        total = x[0]
        for v in x[1:]:
            total = c.b.binop("+", total, v, c.pos)
        return total
    return _reduce(c, "sum", x, axis, keepdims)


def softmax_builtin(c: Any, x: Any) -> Any:
    t = c.tensor(x, "x")
    if not t.shape:
        c.fail("x", "normalises the last axis, so it needs a tensor of rank 1 or more, got a scalar (shape [])")
    return c.node("softmax", [t], c.scope())


softmax_builtin.__name__ = "softmax"


# ---- shapes ----

def _sum_axes_shape(shapes: list[Shape], a: Any) -> Shape:
    x, axes = shapes[0], tuple(a.axes)
    if not axes or list(axes) != sorted(set(axes)) or not all(0 <= k < len(x) for k in axes):
        raise ShapeError(f"cannot sum axes {axes} of shape {fmt_shape(x)}")
    return tuple(1 if k in axes else d for k, d in enumerate(x))


def _reduce_to_shape(shapes: list[Shape], a: Any) -> Shape:
    assert broadcast(tuple(a.shape), shapes[0]) == shapes[0], "REDUCE_TO must undo a broadcast"
    return tuple(a.shape)


def _broadcast_shape(shapes: list[Shape], a: Any) -> Shape:
    assert broadcast(shapes[0], tuple(a.shape)) == tuple(a.shape), "BROADCAST target"
    return tuple(a.shape)


def _softmax_grad_shape(shapes: list[Shape], a: Any) -> Shape:
    assert shapes[0] == shapes[1], "SOFTMAX_GRAD shapes"
    return shapes[1]


# ---- float64 references ----

def _reduce_to(a: Any, shape: Shape, x: Array) -> Array:
    target = tuple(a.shape)
    x = x.sum(axis=tuple(range(x.ndim - len(target))))   # axes broadcasting prepended
    stretched = tuple(k for k, s in enumerate(target) if s == 1 and x.shape[k] != 1)
    return x.sum(axis=stretched, keepdims=True).reshape(target)


# ---- lowerings (the Lowering ctx) ----

def _lower_total(ctx: Any, i: int) -> list[Any]:
    """sum or mean over every element: the one- or two-stage sum."""
    node = ctx.graph.nodes[i]
    n = math.prod(ctx.graph.nodes[node.srcs[0]].shape)
    return kernels.lower_reduce(ctx, i, "sum", n, 1, 1.0 if node.op.name == "SUM" else 1.0 / n)


def _total_scratch(shapes: list[Shape], shape: Shape, a: Any) -> int:
    return kernels.reduce_scratch(math.prod(shapes[0]), 1)


def _lower_softmax(ctx: Any, i: int) -> list[Any]:
    node = ctx.graph.nodes[i]
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    k = node.shape[-1]
    rows = node.size // k
    per_thread = k <= 64
    wg = ctx.grid(-(-rows // WORKGROUP) if per_thread else rows)
    return [kb.kernel(ctx.kernel_name(i), "softmax.wgsl", wg, [i], comment=ctx.comment(i), x=x, out=out, k=k,
                      rows=rows, per_thread=per_thread, wg=WORKGROUP, gx=wg[0], halves=halves(WORKGROUP))]


def _lower_broadcast(ctx: Any, i: int) -> list[Any]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    xs = g.nodes[node.srcs[0]].shape
    scale = node.attrs.scale
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "broadcast.wgsl", wg, [i], comment=ctx.comment(i), x=x, out=out,
                      axes=kernels.broadcast_axes(node.shape, xs, xs), scale=f32(scale) if scale != 1.0 else "",
                      n=node.size, wg=WORKGROUP, gx=gx)]


# reduce_to and sum_axes: a sum over the axes a broadcast added or stretched (bias gradients), into a
# keepdims shape

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
    return math.prod(a["size"] for a in axes)


def _reduce_plan(x: Shape, target: Shape) -> dict[str, int]:
    """Workgroup shape and split: `cx` outputs x `hy` lanes per workgroup; the reduced extent is cut into
    `chunks` when the outputs alone give few workgroups (a bias over B*H*W), summed by a second kernel."""
    kept, red = reduce_axes(x, target)
    outs, r = _prod(kept), _prod(red)
    # outputs across x when they are contiguous in memory (coalesced reads), else lanes along the sum
    cx = pow2_at_least(min(kept[0]["size"], outs), 1, 64) if kept and kept[0]["stride"] == 1 else 1
    hy = WORKGROUP // cx
    otiles = -(-outs // cx)
    chunks = 1
    if otiles < 256 and r > 32 * hy:
        chunks = min(-(-r // (32 * hy)), 256)
    return {"outs": outs, "r": r, "cx": cx, "hy": hy, "otiles": otiles, "chunks": chunks}


def _reduce_to_scratch(shapes: list[Shape], shape: Shape, a: Any) -> int:
    p = _reduce_plan(shapes[0], shape)
    return p["chunks"] * p["outs"] if p["chunks"] > 1 else 0


def _reduce_kernel(ctx: Any, i: int, kernel_name: str, kb: Any, x: Any, dst: Any, kept: list[dict[str, int]],
                   red: list[dict[str, int]], cx: int, chunks: int) -> Any:
    """x summed over `red` into dst[kept], in `chunks` parts (one FLOP per element read)."""
    outs, r = _prod(kept), _prod(red)
    hy = max(ctx.lanes // cx, 1)
    otiles = -(-outs // cx)
    groups = otiles * chunks
    wg = ctx.grid(groups)
    return kb.kernel(kernel_name, "reduce_to.wgsl", wg, [i], outs * r, x.size, comment=ctx.comment(i), x=x,
                     dst=dst, kept=kept, red=red, outs=outs, r=r, cx=cx, hy=hy, otiles=otiles, groups=groups,
                     groups_r=chunks, chunk=-(-r // chunks), gx=wg[0], halves=halves(hy))


def _lower_reduce_to(ctx: Any, i: int) -> list[Any]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kept, red = reduce_axes(g.nodes[node.srcs[0]].shape, node.shape)
    plan = _reduce_plan(g.nodes[node.srcs[0]].shape, node.shape)
    kb = ctx.builder()
    x = kb.read(node.srcs[0])
    if plan["chunks"] == 1:
        return [_reduce_kernel(ctx, i, ctx.kernel_name(i), kb, x, kb.write(i), kept, red, plan["cx"], 1)]
    # two stages: partial sums scratch[chunk, output], then one pass over the chunks (outputs contiguous)
    outs, chunks = plan["outs"], plan["chunks"]
    first = _reduce_kernel(ctx, i, ctx.kernel_name(i, "_partial"), kb, x, kb.slot(ctx.scratch[i], write=True), kept,
                           red, plan["cx"], chunks)
    kb = ctx.builder()
    partial = kb.slot(ctx.scratch[i])
    second = _reduce_kernel(ctx, i, ctx.kernel_name(i), kb, partial, kb.write(i), [{"size": outs, "stride": 1}],
                            [{"size": chunks, "stride": outs}], pow2_at_least(outs, 1, 64), 1)
    return [first, second]


def _reads(shapes: list[Shape], shape: Shape, a: Any) -> int:
    """One FLOP per element read."""
    return sum(math.prod(s) for s in shapes)


OPS: dict[str, OpDef] = {d.name: d for d in [
    OpDef("sum", "the sum of every element, shape ()", NoAttrs, lambda s, a: (), lambda a, shape, x: x.sum(),
          _lower_total, _reads, grad=lambda c: [c.broadcast(c.dy, c.shape(0))], builtin=sum_,
          torch=lambda t, a, xs, const: xs[0].sum(), tfjs="(n, x) => tf.sum(x)", scratch=_total_scratch),
    OpDef("mean", "the mean of every element, shape ()", NoAttrs, lambda s, a: (), lambda a, shape, x: x.mean(),
          _lower_total, _reads, grad=lambda c: [c.broadcast(c.dy, c.shape(0), 1.0 / math.prod(c.shape(0)))],
          builtin=mean, torch=lambda t, a, xs, const: xs[0].mean(), tfjs="(n, x) => tf.mean(x)",
          scratch=_total_scratch),
    OpDef("sum_axes", "x summed over `axes`, each kept with size 1 (sum(x, axis=...) and mean(x, axis=...))",
          AxesAttrs, _sum_axes_shape, lambda a, shape, x: x.sum(axis=tuple(a.axes), keepdims=True), _lower_reduce_to,
          _reads, grad=lambda c: [c.broadcast(c.dy, c.shape(0))],   # dy keeps the summed axes as 1s
          torch=lambda t, a, xs, const: xs[0].sum(dim=tuple(a.axes), keepdim=True),
          tfjs="(n, x) => tf.sum(x, n.attrs.axes, true)", scratch=_reduce_to_scratch, via=("sum", "mean")),
    OpDef("softmax", "exp(x) / sum(exp(x)) over the last axis", NoAttrs, lambda s, a: s[0],
          lambda a, shape, x: softmax(x), _lower_softmax, lambda s, shape, a: 3 * math.prod(s[0]),
          grad=lambda c: [c.add("softmax_grad", (c.id, c.dy))], builtin=softmax_builtin,
          torch=lambda t, a, xs, const: t.torch.softmax(xs[0], dim=-1), tfjs="(n, x) => tf.softmax(x)"),
    OpDef("softmax_grad", "srcs y (softmax's output), dy -> y * (dy - sum(dy * y, last axis, keepdims))", NoAttrs,
          _softmax_grad_shape, lambda a, shape, y, dy: y * (dy - (dy * y).sum(axis=-1, keepdims=True)),
          lambda ctx, i: kernels.lower_softmax_grad(ctx, i, ce=False), _reads, backward=True),
    OpDef("reduce_to", "srcs x -> x summed over the axes that broadcasting to x's shape added or stretched "
          "from 1 (shapes right-aligned): bias gradients", ShapeAttrs, _reduce_to_shape, _reduce_to,
          _lower_reduce_to, _reads, backward=True, scratch=_reduce_to_scratch),
    OpDef("broadcast", "srcs x -> broadcast_to(x, shape) * scale (NumPy rules)", BroadcastAttrs, _broadcast_shape,
          lambda a, shape, x: np.broadcast_to(x, shape) * a.scale, _lower_broadcast, _reads, backward=True),
]}
