"""The pooling family: max_pool, avg_pool, global_avg_pool and the two window gradients, each declared once
(an OpDef: builtin, typed attributes, shape, float64 reference, gradient, lowering, FLOPs, PyTorch and TF.js
peers). TensorFlow's semantics: 'same' pads are asymmetric when odd, padding never wins a max and is never
counted in an average.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import (
    WORKGROUP,
    Array,
    NoAttrs,
    OpDef,
    Pad,
    Shape,
    ShapeError,
    crop_nhwc,
    f32,
    fmt_shape,
    halves,
    pad_nhwc,
    padded_zeros,
    pow2_at_least,
    window_taps,
)


@dataclass(frozen=True)
class PoolAttrs:
    size: tuple[int, int]          # (kh, kw)
    stride: tuple[int, int]        # (sh, sw)
    pad: Pad                       # (top, bottom, left, right), TensorFlow's


@dataclass(frozen=True)
class PoolGradAttrs:
    size: tuple[int, int]
    stride: tuple[int, int]
    pad: Pad
    in_shape: Shape | None = None  # the pooled input's shape (avg_pool_grad: its only source is dy)


# ---- builtins ----

def _pool_builtin(op: str) -> Any:
    def fn(c: Any, x: Any, size: Any = 2, stride: Any = None, padding: Any = "valid") -> Any:
        x, k, s, _ = c.each(lambda: c.image(x, "x"), lambda: c.pair(size, "size"),
                            lambda: None if stride is None else c.pair(stride, "stride"),
                            lambda: c.choice(padding, "padding", ("same", "valid")))
        s = k if s is None else s
        pad = c.padding(x, k, s, padding)
        return c.node(op, [x], c.scope(), size=k, stride=s, pad=pad)
    fn.__name__ = op
    return fn


def global_avg_pool(c: Any, x: Any) -> Any:
    return c.node("global_avg_pool", [c.image(x, "x")], c.scope())


# ---- shapes ----

def _pool_shape(shapes: list[Shape], a: Any, name: str) -> Shape:
    x = shapes[0]
    if len(x) != 4:
        raise ShapeError(f"{name} expects an NHWC input of rank 4, got {fmt_shape(x)}")
    (kh, kw), (sh, sw), (t, b, l, r) = a.size, a.stride, a.pad
    return (x[0], (x[1] + t + b - kh) // sh + 1, (x[2] + l + r - kw) // sw + 1, x[3])


def _global_shape(shapes: list[Shape], a: Any) -> Shape:
    if len(shapes[0]) != 4:
        raise ShapeError(f"global_avg_pool expects an NHWC input of rank 4, got {fmt_shape(shapes[0])}")
    return (shapes[0][0], shapes[0][3])


def _max_pool_grad_shape(shapes: list[Shape], a: Any) -> Shape:
    assert _pool_shape(shapes[:1], a, "max_pool") == shapes[1], "MAX_POOL_GRAD dy"
    return shapes[0]


def _avg_pool_grad_shape(shapes: list[Shape], a: Any) -> Shape:
    assert a.in_shape is not None and _pool_shape([tuple(a.in_shape)], a, "avg_pool") == shapes[0], "AVG_POOL_GRAD dy"
    return tuple(a.in_shape)


# ---- float64 references ----

def _max_pool(a: Any, shape: Shape, x: Array) -> Array:
    xp = pad_nhwc(x, a.pad, -np.inf)                 # padding never wins a max
    return np.maximum.reduce([xp[idx] for _, _, idx in window_taps(a.stride, a.size, shape[1:3])])


def pool_counts(a: Any, in_shape: Sequence[int], out_hw: Sequence[int]) -> Array:
    """How many non-padding cells each output window covers, shape [1,OH,OW,1]."""
    ones = pad_nhwc(np.ones((1, in_shape[1], in_shape[2], 1)), a.pad)
    counts = sum(ones[idx] for _, _, idx in window_taps(a.stride, a.size, out_hw))
    assert np.all(counts > 0), "a pooling window lies entirely in the padding"
    return counts


def _avg_pool(a: Any, shape: Shape, x: Array) -> Array:
    xp = pad_nhwc(x, a.pad)
    total = sum(xp[idx] for _, _, idx in window_taps(a.stride, a.size, shape[1:3]))
    return total / pool_counts(a, x.shape, shape[1:3])


def max_pool_winners(a: Any, x: Array, out_hw: Sequence[int]) -> list[tuple[tuple, Array]]:
    """(index, hit) per tap of a max pool: index selects that tap's cells of the padded input, hit[b,oh,ow,c]
    says the tap holds its window's winner, the first max cell in row-major order."""
    xp = pad_nhwc(x, a.pad, -np.inf)                 # padding never wins
    taps = [idx for _, _, idx in window_taps(a.stride, a.size, out_hw)]
    y = np.maximum.reduce([xp[idx] for idx in taps])
    out, taken = [], np.zeros(y.shape, bool)
    for idx in taps:
        hit = (xp[idx] == y) & ~taken
        out.append((idx, hit))
        taken |= hit
    return out


def _max_pool_grad(a: Any, shape: Shape, x: Array, dy: Array) -> Array:
    dxp = padded_zeros(x.shape, a.pad, dy.dtype)
    for idx, hit in max_pool_winners(a, x, dy.shape[1:3]):
        dxp[idx] += np.where(hit, dy, 0)
    return crop_nhwc(dxp, a.pad, x.shape)


def _avg_pool_grad(a: Any, shape: Shape, dy: Array) -> Array:
    share = dy / pool_counts(a, shape, dy.shape[1:3])
    dxp = padded_zeros(shape, a.pad, dy.dtype)
    for _, _, idx in window_taps(a.stride, a.size, dy.shape[1:3]):
        dxp[idx] += share                            # the padding's share is cropped away
    return crop_nhwc(dxp, a.pad, shape)


def _freeze_max_pool(a: Any, x: Array, shape: Shape) -> Any:
    """A max pool that reads the cells that won at x (gradcheck stays on that piece)."""
    wins = max_pool_winners(a, x, shape[1:3])

    def pool(n: Any, x: Array) -> Array:
        xp = pad_nhwc(x, a.pad)                       # padding never won, so its value does not matter
        return np.sum([np.where(hit, xp[idx], 0.0) for idx, hit in wins], axis=0)
    return pool


# ---- gradients (autodiff's NodeGrad c) ----

def _max_pool_dx(c: Any) -> list[int | None]:
    a: PoolAttrs = c.node.attrs
    return [c.add("max_pool_grad", (c.src(0), c.dy), size=a.size, stride=a.stride, pad=a.pad)]


def _avg_pool_dx(c: Any) -> list[int | None]:
    a: PoolAttrs = c.node.attrs
    return [c.add("avg_pool_grad", (c.dy,), size=a.size, stride=a.stride, pad=a.pad, in_shape=c.shape(0))]


def _global_avg_pool_dx(c: Any) -> list[int | None]:
    b, h, w, ch = c.shape(0)
    dy4 = c.add("reshape", (c.dy,), shape=(b, 1, 1, ch))
    return [c.broadcast(dy4, (b, h, w, ch), 1.0 / (h * w))]


# ---- lowerings (the Lowering ctx) ----

def _lower_pool(ctx: Any, i: int) -> list[Any]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    a = node.attrs
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    _, h, w, c = g.nodes[node.srcs[0]].shape
    (kh, kw), (sh, sw), (pt, _, pl, _) = a.size, a.stride, a.pad
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "pool.wgsl", wg, [i], comment=ctx.comment(i), x=x, out=out,
                      kind="max" if node.op.name == "MAX_POOL" else "avg", h=h, w=w, c=c, ho=node.shape[1],
                      wo=node.shape[2], kh=kh, kw=kw, sh=sh, sw=sw, pt=pt, pl=pl, n=node.size, wg=WORKGROUP,
                      gx=gx)]


def _lower_global_avg_pool(ctx: Any, i: int) -> list[Any]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    b, h, w, c = g.nodes[node.srcs[0]].shape
    cx = pow2_at_least(c, 8, 64)
    hy = max(ctx.lanes // cx, 1)
    ctiles = -(-c // cx)
    wg = ctx.grid(b * ctiles)
    return [kb.kernel(ctx.kernel_name(i), "global_avg_pool.wgsl", wg, [i], comment=ctx.comment(i), x=x, out=out,
                      c=c, hw=h * w, cx=cx, hy=hy, ctiles=ctiles, groups=b * ctiles, gx=wg[0],
                      halves=halves(hy), scale=f32(1.0 / (h * w)))]


def _lower_pool_grad(ctx: Any, i: int) -> list[Any]:
    """Gather: one thread per input cell, looping over the windows that contain it (no atomics)."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    a = node.attrs
    kb = ctx.builder()
    is_max = node.op.name == "MAX_POOL_GRAD"
    x = kb.read(node.srcs[0]) if is_max else None
    dy_id = node.srcs[1] if is_max else node.srcs[0]
    dy, out = kb.read(dy_id), kb.write(i)
    _, h, w, c = node.shape
    _, ho, wo, _ = g.nodes[dy_id].shape
    (kh, kw), (sh, sw), (pt, _, pl, _) = a.size, a.stride, a.pad
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "pool_grad.wgsl", wg, [i], comment=ctx.comment(i),
                      kind="max" if is_max else "avg", x=x, dy=dy, out=out, h=h, w=w, c=c, ho=ho, wo=wo, kh=kh,
                      kw=kw, sh=sh, sw=sw, pt=pt, pl=pl, n=node.size, wg=WORKGROUP, gx=gx)]


# ---- the PyTorch peer (t: its helpers: torch, F, nchw, nhwc, pad_nhwc, symmetric) ----

def _torch_max_pool(t: Any, a: Any, xs: list[Any], const: Any) -> Any:
    size, stride, pad, x = tuple(a.size), tuple(a.stride), a.pad, xs[0]
    if t.symmetric(pad, size):
        return t.nhwc(t.F.max_pool2d(t.nchw(x), size, stride, (pad[0], pad[2])))
    return t.nhwc(t.F.max_pool2d(t.nchw(t.pad_nhwc(x, pad, float("-inf"))), size, stride))


def _torch_avg_pool(t: Any, a: Any, xs: list[Any], const: Any) -> Any:
    size, stride, pad, x = tuple(a.size), tuple(a.stride), a.pad, xs[0]
    if t.symmetric(pad, size):
        return t.nhwc(t.F.avg_pool2d(t.nchw(x), size, stride, (pad[0], pad[2]), count_include_pad=False))
    return t.nhwc(t.F.avg_pool2d(t.nchw(t.pad_nhwc(x, pad)), size, stride) * const)


def _torch_avg_pool_scale(a: Any, shapes: list[Shape], shape: Shape) -> Array | None:
    """kh*kw / (non-padding cells per window), [1,1,OH,OW], where torch's own padding cannot express TF's: a
    zero-padded 'valid' average times this is TF's average."""
    (kh, kw), (t, b, l, r) = a.size, a.pad
    if t == b and l == r and t <= kh // 2 and l <= kw // 2:
        return None
    counts = pool_counts(a, shapes[0], shape[1:3])[0, :, :, 0]
    return (kh * kw / counts)[None, None]


# tf.avgPool's forward skips padded cells but its gradient divides by the full window (TF.js 4.22): zero-pad,
# pool 'valid', rescale by window size / real cells (bench.js' countScale, from its avgScale), so both follow
# the IR.
_TFJS_AVG_POOL = """(n, x, i) => (n.attrs.pad.every((p) => p === 0)
  ? tf.avgPool(x, n.attrs.size, n.attrs.stride, 'valid')
  : tf.mul(tf.avgPool(tf.pad(x, pads(n.attrs.pad)), n.attrs.size, n.attrs.stride, 'valid'), countScale[i]))"""


def _pool_flops(shapes: list[Shape], shape: Shape, a: Any) -> int:
    return math.prod(shape) * a.size[0] * a.size[1]


def _pool_grad_flops(shapes: list[Shape], shape: Shape, a: Any) -> int:
    return math.prod(shapes[-1]) * a.size[0] * a.size[1]


OPS: dict[str, OpDef] = {d.name: d for d in [
    OpDef("max_pool", "the max over each window; padding never wins", PoolAttrs,
          lambda s, a: _pool_shape(s, a, "max_pool"), _max_pool, _lower_pool, _pool_flops, grad=_max_pool_dx,
          builtin=_pool_builtin("max_pool"), torch=_torch_max_pool,
          tfjs="(n, x) => tf.maxPool(x, n.attrs.size, n.attrs.stride, pads(n.attrs.pad))", freeze=_freeze_max_pool),
    OpDef("avg_pool", "the mean over each window's non-padding cells (TensorFlow)", PoolAttrs,
          lambda s, a: _pool_shape(s, a, "avg_pool"), _avg_pool, _lower_pool, _pool_flops, grad=_avg_pool_dx,
          builtin=_pool_builtin("avg_pool"), torch=_torch_avg_pool, torch_const=_torch_avg_pool_scale,
          tfjs=_TFJS_AVG_POOL),
    OpDef("global_avg_pool", "[B,H,W,C] -> [B,C], the mean over H and W", NoAttrs, _global_shape,
          lambda a, shape, x: x.mean(axis=(1, 2)), _lower_global_avg_pool,
          lambda shapes, shape, a: math.prod(shapes[0]), grad=_global_avg_pool_dx, builtin=global_avg_pool,
          torch=lambda t, a, xs, const: xs[0].mean(dim=(1, 2)), tfjs="(n, x) => tf.mean(x, [1, 2])"),
    OpDef("max_pool_grad", "srcs x, dy -> dx[x.shape]: each window's dy goes to its max cell, the first in "
          "row-major tap order on a tie", PoolGradAttrs, _max_pool_grad_shape, _max_pool_grad, _lower_pool_grad,
          _pool_grad_flops, backward=True),
    OpDef("avg_pool_grad", "srcs dy -> dx[in_shape]: each window's dy / (its non-padding cells) added to each of "
          "them", PoolGradAttrs, _avg_pool_grad_shape, _avg_pool_grad, _lower_pool_grad, _pool_grad_flops,
          backward=True),
]}
