"""Batch normalisation over the last axis (NHWC channels): BN_STATS, BATCH_NORM and their gradient ops BN_DGAMMA
and BN_DX, each declared once (OpDef: typed attributes, shape rule, float64 reference, gradient rule, lowering,
FLOPs, peers); its inference form is compiler/inference.py's. Like every module of this package it imports
nothing from the rest of wgslgrad (IR nodes, the Lowering and autodiff's NodeGrad are typed loosely, ops
named). Keras/TF.js names, layouts and defaults:
gamma, beta (trainable), moving_mean, moving_variance (not trainable), momentum 0.99, epsilon 1e-3.

Training (the graph as built): BN_STATS gives the batch mean and biased variance over every axis but the
last, and its kernel moves moving_mean and moving_variance toward them by (1 - momentum), as
tf.layers.batchNormalization does (PyTorch's BatchNorm2d moves running_var toward the unbiased variance
instead); BATCH_NORM normalises with those statistics. Inference (inference.py drops BATCH_NORM's stats
source): the moving statistics, and a batch norm right after a conv2d, depthwise or dense layer joins that
layer's kernel as a per-channel scale and shift (fuse.py), with the weights untouched, so they keep their
TF.js names. A batch_norm with trainable=False is built in the inference form (as Keras runs a frozen one).

Gradient in training, through the batch statistics (N = elements per channel, xhat the normalised x):
    dbeta = sum(dy), dgamma = sum(dy * xhat),
    dx = gamma / sqrt(var + eps) * (dy - (dbeta + xhat * dgamma) / N)
BN_STATS has no rule of its own: the batch norm's rule covers the path through the statistics.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import WORKGROUP, Array, OpDef, Shape, ShapeError, f32, fmt_shape, halves, pow2_at_least

MOMENTUM = 0.99
EPSILON = 1e-3
# parameter leaf name -> initialiser (Keras: gamma ones, beta zeros, moving_mean zeros, moving_variance ones)
INIT = {"gamma": "ones", "beta": "zeros", "moving_mean": "zeros", "moving_variance": "ones"}


@dataclass(frozen=True)
class Stats:
    """BN_STATS' attributes: how much of the moving statistics a training step keeps."""
    momentum: float = MOMENTUM


@dataclass(frozen=True)
class Norm:
    """BATCH_NORM's, BN_DGAMMA's and BN_DX's attributes."""
    epsilon: float = EPSILON


def _axes(x: Array) -> tuple[int, ...]:
    return tuple(range(x.ndim - 1))


def batch_norm(c: Any, x: Any, momentum: Any = MOMENTUM, epsilon: Any = EPSILON, trainable: Any = True,
               name: Any = None) -> Any:
    """Batch normalisation over the last axis with Keras' names and defaults: gamma, beta, moving_mean,
    moving_variance."""
    x, m, eps, train, lname = c.each(lambda: c.tensor(x, "x"), lambda: c.number(momentum, "momentum"),
                                     lambda: c.number(epsilon, "epsilon"), lambda: c.flag(trainable, "trainable"),
                                     lambda: c.layer_name(name))
    if not x.batched or len(x.shape) < 2:
        c.fail("x", f"normalises each channel over the batch, so it needs a tensor from an Input with channels last "
                    f"([batch, ..., channels]), got {fmt_shape(x.shape)}")
    if not 0 <= m <= 1:
        c.fail("momentum", f"argument 'momentum' must be in [0, 1], got {m}")
    if not eps > 0:
        c.fail("epsilon", f"argument 'epsilon' must be positive, got {eps}")
    scope, ch = c.scope(lname), x.shape[-1]
    gamma, beta = (c.param(scope, leaf, (ch,), (ch, ch), train) for leaf in ("gamma", "beta"))
    mm, mv = (c.param(scope, leaf, (ch,), (ch, ch), False) for leaf in ("moving_mean", "moving_variance"))
    srcs = [x, gamma, beta, mm, mv]
    if train:   # trainable=False runs on the moving statistics, while training too (as Keras does)
        srcs.append(c.node("bn_stats", [x, mm, mv], scope, momentum=m))
    return c.node("batch_norm", srcs, scope, epsilon=eps)


# ---- shape rules ----

def _per_channel(shapes: list[Shape], params: int) -> Shape:
    x, c = shapes[0], shapes[0][-1:] if shapes[0] else ()
    if len(x) < 2 or any(s != c for s in shapes[1:1 + params]) or \
            (len(shapes) == 6 and shapes[5] != (2, *c)):
        raise ShapeError(f"batch_norm needs a batched input [batch, ..., channels] and per-channel parameters, "
                         f"got {', '.join(map(fmt_shape, shapes))}")
    return c


def _stats_shape(shapes: list[Shape], a: Stats) -> Shape:
    return (2, *_per_channel(shapes, 2))


def _norm_shape(shapes: list[Shape], a: Norm) -> Shape:
    _per_channel(shapes, 4)
    return shapes[0]


def _dgamma_shape(shapes: list[Shape], a: Norm) -> Shape:
    assert shapes[1] == (2, shapes[0][-1]) and shapes[2] == shapes[0], "BN_DGAMMA shapes"
    return shapes[0][-1:]


def _dx_shape(shapes: list[Shape], a: Norm) -> Shape:
    dy, per_channel = (shapes[2], shapes[3:]) if len(shapes) == 6 else (shapes[0], shapes[1:])
    assert all(s == dy[-1:] for s in per_channel), "BN_DX shapes"
    return dy


# ---- float64 references ----

def stats(a: Stats, shape: Shape, x: Array, moving_mean: Array, moving_var: Array) -> Array:
    """BN_STATS: [mean; biased variance] over all but the last axis."""
    mean = x.mean(axis=_axes(x))
    return np.stack([mean, ((x - mean) ** 2).mean(axis=_axes(x))])


def moving_update(momentum: float, moving: Array, batch: Array) -> Array:
    """A moving statistic after one training step: moving * momentum + batch * (1 - momentum)."""
    return moving * momentum + batch * (1.0 - momentum)


def normalize(a: Norm, shape: Shape, x: Array, gamma: Array, beta: Array, moving_mean: Array,
              moving_var: Array, batch_stats: Array | None = None) -> Array:
    """BATCH_NORM: batch statistics when given (training), else the moving ones (inference)."""
    mean, var = (moving_mean, moving_var) if batch_stats is None else batch_stats
    return (x - mean) / np.sqrt(var + a.epsilon) * gamma + beta


def dgamma(a: Norm, shape: Shape, x: Array, batch_stats: Array, dy: Array) -> Array:
    mean, var = batch_stats
    return (dy * (x - mean) / np.sqrt(var + a.epsilon)).sum(axis=_axes(x))


def dx(a: Norm, shape: Shape, *srcs: Array) -> Array:
    eps = a.epsilon
    if len(srcs) == 3:   # inference form: the statistics are constants
        dy, gamma, moving_var = srcs
        return dy * gamma / np.sqrt(moving_var + eps)
    x, (mean, var), dy, gamma, dg, db = srcs
    count = x.size // x.shape[-1]
    inv = 1.0 / np.sqrt(var + eps)
    return gamma * inv * (dy - (db + (x - mean) * inv * dg) / count)


def _grad(c: Any) -> list[int | None]:
    """Gradients of x, gamma and beta (the moving statistics and the batch statistics get none). `c` is
    autodiff's NodeGrad (typed loosely: autodiff imports this module)."""
    x, gamma, _, _, moving_var = c.node.srcs[:5]
    eps = Norm(c.node.attrs.epsilon)   # bn_dx's and bn_dgamma's attributes
    need_x, need_gamma, need_beta = c.need[:3]
    if len(c.node.srcs) == 5:   # inference form (trainable=False): gamma and beta are frozen with it
        assert not (need_gamma or need_beta), "a batch norm in its inference form has frozen parameters"
        return [c.add("bn_dx", (c.dy, gamma, moving_var), eps) if need_x else None, None, None, None, None]
    batch_stats = c.node.srcs[5]
    db = c.reduce_to(c.dy, 2) if need_x or need_beta else None
    dg = c.add("bn_dgamma", (x, batch_stats, c.dy), eps) if need_x or need_gamma else None
    dx_ = c.add("bn_dx", (x, batch_stats, c.dy, gamma, dg, db), eps) if need_x else None
    return [dx_, dg if need_gamma else None, db if need_beta else None, None, None, None]


# ---- lowerings (the Lowering ctx) ----

def _channel_groups(ctx: Any, c: int) -> dict[str, object]:
    cx = pow2_at_least(c, 8, 64)
    hy = WORKGROUP // cx
    groups = -(-c // cx)
    wg = ctx.grid(groups)
    return {"cx": cx, "hy": hy, "groups": groups, "gx": wg[0], "halves": halves(hy), "workgroups": wg}


def _lower_reduce(ctx: Any, i: int) -> list[Any]:
    """BN_STATS: one workgroup per 64 channels or fewer: the mean, then the variance (two passes over the
    channel's rows), and the moving statistics updated in place in `params`; BN_DGAMMA: as BN_STATS, one pass:
    sum(dy * xhat) per channel."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    x_node = g.nodes[node.srcs[0]]
    c = x_node.shape[-1]
    rows = x_node.size // c
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    grid = _channel_groups(ctx, c)
    wg = grid.pop("workgroups")
    common = dict(comment=ctx.comment(i), x=x, out=out, c=c, rows=rows, inv_rows=f32(1.0 / rows), **grid)
    if node.op.name == "BN_STATS":
        a: Stats = node.attrs
        mm, mv = kb.slot(ctx.slots[node.srcs[1]], write=True), kb.slot(ctx.slots[node.srcs[2]], write=True)
        return [kb.kernel(ctx.kernel_name(i), "bn_reduce.wgsl", wg, [i], kind="stats", mm=mm, mv=mv,
                          momentum=f32(a.momentum), decay=f32(1.0 - a.momentum), flops=3 * x_node.size,
                          reads=x_node.size, **common)]
    n: Norm = node.attrs
    stats_, dy = kb.read(node.srcs[1]), kb.read(node.srcs[2])
    return [kb.kernel(ctx.kernel_name(i), "bn_reduce.wgsl", wg, [i], kind="dgamma", stats=stats_, dy=dy,
                      eps=f32(n.epsilon), flops=3 * x_node.size, **common)]


def _lower_elementwise(ctx: Any, i: int) -> list[Any]:
    """BATCH_NORM and BN_DX: one thread per element (after a conv2d, depthwise or dense layer at inference
    BATCH_NORM has no kernel: fuse.py puts it in that layer's epilogue, Lowering.epilogue)."""
    node = ctx.graph.nodes[i]
    a: Norm = node.attrs
    kb = ctx.builder()
    s = node.srcs
    values: dict[str, object] = {}
    if node.op.name == "BATCH_NORM":
        values = {"kind": "normalize", "x": kb.read(s[0]), "gamma": kb.read(s[1]), "beta": kb.read(s[2]),
                  "mm": kb.read(s[3]), "mv": kb.read(s[4]), "stats": kb.read(s[5]) if len(s) == 6 else None}
    elif len(s) == 6:
        values = {"kind": "dx", "x": kb.read(s[0]), "stats": kb.read(s[1]), "dy": kb.read(s[2]),
                  "gamma": kb.read(s[3]), "dgamma": kb.read(s[4]), "dbeta": kb.read(s[5])}
    else:
        values = {"kind": "dx", "dy": kb.read(s[0]), "gamma": kb.read(s[1]), "mv": kb.read(s[2]),
                  "stats": None}
    c = node.shape[-1]
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "bn_elementwise.wgsl", wg, [i], comment=ctx.comment(i),
                      out=kb.write(i),
                      c=c, rows=node.size // c, inv_rows=f32(c / node.size), eps=f32(a.epsilon),
                      n=node.size, wg=WORKGROUP, gx=gx, **values)]


# ---- FLOPs ----

def _stats_flops(shapes: list[Shape], shape: Shape, a: Stats) -> int:
    return 3 * math.prod(shapes[0])   # the sum, then the squared differences


def _norm_flops(shapes: list[Shape], shape: Shape, a: Norm) -> int:
    return 4 * math.prod(shape)   # subtract, two multiplies, add


def _backward_flops(shapes: list[Shape], shape: Shape, a: Norm) -> int:
    return sum(math.prod(s) for s in shapes)   # one per element read


# ---- peers ----

def _torch_stats(h: Any, a: Stats, xs: list[Any], const: Any) -> Any:
    """The batch statistics; in training mode (h.training) the moving ones moved toward them as TF.js does
    (toward the biased variance)."""
    x, moving_mean, moving_var = xs
    dims = tuple(range(x.dim() - 1))
    mean, var = x.mean(dim=dims), x.var(dim=dims, unbiased=False)
    if h.training:
        with h.torch.no_grad():
            moving_mean.mul_(a.momentum).add_(mean.detach() * (1 - a.momentum))
            moving_var.mul_(a.momentum).add_(var.detach() * (1 - a.momentum))
    return h.torch.stack([mean, var])


def _torch_norm(h: Any, a: Norm, xs: list[Any], const: Any) -> Any:
    """The batch statistics in training mode (h.training), else the moving ones."""
    x, gamma, beta, moving_mean, moving_var = xs[:5]
    mean, var = xs[5] if len(xs) == 6 and h.training else (moving_mean, moving_var)
    return (x - mean) * h.torch.rsqrt(var + a.epsilon) * gamma + beta


# TF.js: the training behaviour, as a wgslgrad training step: the batch statistics (the moving ones are not
# updated there)
_TFJS_STATS = """(n, x) => {
  const { mean, variance } = tf.moments(x, [...Array(x.rank - 1).keys()]);
  return tf.stack([mean, variance]);
}"""
_TFJS_NORM = """(n, x, gamma, beta, movingMean, movingVariance, stats) => {
  const [mean, variance] = stats ? tf.unstack(stats) : [movingMean, movingVariance];
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, n.attrs.epsilon))), gamma), beta);
}"""


OPS: dict[str, OpDef] = {d.name: d for d in [
    OpDef("bn_stats", "[2, C]: the batch mean and biased variance over all axes but the last; its kernel moves "
          "moving_mean and moving_variance toward them", Stats, _stats_shape, stats, _lower_reduce, _stats_flops,
          through_consumer=True, via=("batch_norm",), torch=_torch_stats, tfjs=_TFJS_STATS),
    OpDef("batch_norm", "(x - mean) / sqrt(var + epsilon) * gamma + beta over the last axis, mean and var the "
          "batch's (training) or the moving ones (inference)", Norm, _norm_shape, normalize, _lower_elementwise,
          _norm_flops, grad=_grad, builtin=batch_norm, torch=_torch_norm, tfjs=_TFJS_NORM),
    OpDef("bn_dgamma", "gamma's gradient: sum over all but the last axis of dy * xhat", Norm, _dgamma_shape,
          dgamma, _lower_reduce, _backward_flops, backward=True),
    OpDef("bn_dx", "x's gradient, through the batch statistics (training) or with them constant (inference)",
          Norm, _dx_shape, dx, _lower_elementwise, _backward_flops, backward=True),
]}
