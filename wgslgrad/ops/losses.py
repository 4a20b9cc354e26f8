"""The losses: mse, softmax_cross_entropy and sigmoid_cross_entropy (each a mean, shape ()), and their
gradients, each declared once (an OpDef: builtin, shape rule, float64 reference, gradient, lowering, FLOPs,
PyTorch and TF.js peers). The forward ones lower to ops/kernels.py's one- or two-stage sum, softmax
cross-entropy's gradient to its row-wise softmax gradient.
"""
from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np

from . import kernels
from .base import WORKGROUP, Array, NoAttrs, OpDef, Shape, ShapeError, f32, fmt_shape, log_softmax, softmax
from .elementwise import sigmoid

# ---- builtins: the arguments checked in the user's terms ----

def _loss_builtin(fn_name: str, op: str, a: str, b: str) -> Any:
    def fn(c: Any, x: Any, y: Any) -> Any:
        tx, ty = c.tensor(x, a), c.tensor(y, b)
        _check_arguments(c, op, tx, ty, a, b)
        return c.node(op, [tx, ty], c.scope())
    fn.__name__ = fn_name
    fn.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in ("c", a, b)])
    return fn


def _check_arguments(c: Any, op: str, x: Any, y: Any, a: str, b: str) -> None:
    """Shape mismatches in the user's terms (classes, one-hot labels), and probabilities where a loss wants
    logits."""
    made_by = c.b.g.nodes[x.id].op.name.lower()
    if op == "softmax_ce" and made_by == "softmax":
        c.fail(a, "applies softmax itself: pass the logits (what goes into softmax()), not softmax's output")
    if op == "sigmoid_ce" and made_by == "sigmoid":
        c.fail(a, "applies the sigmoid itself: pass the logits (what goes into sigmoid()), not sigmoid's output")
    if op == "softmax_ce":
        if len(x.shape) < 2:
            c.fail(a, f"argument '{a}' must have shape [batch, classes] (or [batch, ..., classes]: the mean over "
                      f"every position), got {fmt_shape(x.shape)}")
        batch, classes = x.shape[0], x.shape[-1]
        if y.shape in ((batch,), (batch, 1)) and classes > 1:
            c.fail(b, f"labels of shape {fmt_shape(y.shape)} look like class indices, but it needs one-hot labels of "
                      f"shape {fmt_shape(x.shape)}, one column per class: store the labels one-hot in the data, "
                      f"e.g. np.eye({classes})[labels]")
        if len(y.shape) == 2 and y.shape[0] == batch and y.shape[1] != classes:
            c.fail(b, f"logits have {classes} classes but labels have {y.shape[1]} (shapes {fmt_shape(x.shape)} "
                      f"and {fmt_shape(y.shape)}): the last layer needs one unit per class")
    if x.shape != y.shape:
        c.fail(b, f"needs '{a}' and '{b}' of the same shape, got {fmt_shape(x.shape)} and {fmt_shape(y.shape)}")


# ---- shapes ----

def _loss_shape(name: str) -> Any:
    def shape(shapes: list[Shape], a: Any) -> Shape:
        x, y = shapes
        if x != y:
            raise ShapeError(f"{name} needs equal shapes, got {fmt_shape(x)} and {fmt_shape(y)}")
        if name == "softmax_ce" and len(x) < 2:
            raise ShapeError(f"softmax_cross_entropy expects [batch, ..., classes], got {fmt_shape(x)}")
        return ()
    return shape


def _grad_shape(shapes: list[Shape], a: Any) -> Shape:
    assert shapes[0] == shapes[1] and shapes[2] == (), "a loss gradient's shapes"
    return shapes[0]


# ---- float64 references ----

def _softmax_ce(a: Any, shape: Shape, logits: Array, labels: Array) -> Array:
    return -(labels * log_softmax(logits)).sum(axis=-1).mean()


def _sigmoid_ce(a: Any, shape: Shape, x: Array, z: Array) -> Array:
    return (np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))).mean()


def _softmax_ce_grad(a: Any, shape: Shape, logits: Array, labels: Array, dl: Array) -> Array:
    p = softmax(logits) * labels.sum(axis=-1, keepdims=True)
    return (p - labels) * dl / (logits.size // logits.shape[-1])


# ---- gradients (autodiff's NodeGrad c) ----

def _mse_dx(c: Any) -> list[int | None]:
    pred, target = c.src(0), c.src(1)
    dp = c.add("mse_grad", (pred, target, c.dy))
    return [dp if c.need[0] else None, c.add("neg", (dp,)) if c.need[1] else None]


def _softmax_ce_dx(c: Any) -> list[int | None]:
    logits, labels = c.src(0), c.src(1)
    dlogits = c.add("softmax_ce_grad", (logits, labels, c.dy)) if c.need[0] else None
    dlabels = None
    if c.need[1]:   # rare (labels computed from parameters): -log_softmax(logits) * dl / rows
        logp = c.add("log", (c.add("softmax", (logits,)),))
        rows = math.prod(c.shape(0)[:-1])
        dlabels = c.add("mul", (logp, c.broadcast(c.dy, c.shape(0), -1.0 / rows)))
    return [dlogits, dlabels]


def _sigmoid_ce_dx(c: Any) -> list[int | None]:
    logits, labels = c.src(0), c.src(1)
    dlogits = c.add("sigmoid_ce_grad", (logits, labels, c.dy)) if c.need[0] else None
    dlabels = None
    if c.need[1]:   # rare: d/dz [max(x,0) - x*z + log1p(exp(-|x|))] = -x, averaged over N
        size = math.prod(c.shape(0))
        dlabels = c.add("mul", (logits, c.broadcast(c.dy, c.shape(0), -1.0 / size)))
    return [dlogits, dlabels]


# ---- lowerings (the Lowering ctx) ----

def _lower_loss(kind: str) -> Any:
    """reduce.wgsl's term `kind` summed over every element (every row, for softmax CE), then averaged."""
    def lower(ctx: Any, i: int) -> list[Any]:
        items, cost, scale = _reduction(ctx.graph.nodes[ctx.graph.nodes[i].srcs[0]].shape, kind)
        return kernels.lower_reduce(ctx, i, kind, items, cost, scale)
    return lower


def _reduction(x: Shape, kind: str) -> tuple[int, int, float]:
    """(items summed, work per item, scale) of a loss over logits or predictions of shape x."""
    if kind == "softmax_ce":
        k = x[-1]
        rows = math.prod(x) // k   # every position of [batch, ..., classes] is a row; the loss is their mean
        return rows, k, 1.0 / rows
    n = math.prod(x)
    return n, 1, 1.0 / n


def _scratch(kind: str) -> Any:
    return lambda shapes, shape, a: kernels.reduce_scratch(*_reduction(shapes[0], kind)[:2])


def _lower_loss_grad(kind: str, factor: float) -> Any:
    """One thread per element: factor * (p - t) (sigmoid(p) for sigmoid CE) * dl / N."""
    def lower(ctx: Any, i: int) -> list[Any]:
        node = ctx.graph.nodes[i]
        kb = ctx.builder()
        p, t, dl, out = kb.read(node.srcs[0]), kb.read(node.srcs[1]), kb.read(node.srcs[2]), kb.write(i)
        wg, gx = ctx.elementwise_groups(node.size)
        return [kb.kernel(ctx.kernel_name(i), "loss_grad.wgsl", wg, [i], comment=ctx.comment(i), kind=kind, p=p,
                          t=t, dl=dl, out=out, scale=f32(factor / node.size), n=node.size, wg=WORKGROUP, gx=gx)]
    return lower


def _flops_3_per_element(shapes: list[Shape], shape: Shape, a: Any) -> int:
    return 3 * sum(math.prod(s) for s in shapes)


def _flops_per_element_read(shapes: list[Shape], shape: Shape, a: Any) -> int:
    return sum(math.prod(s) for s in shapes)


def _torch_softmax_ce(t: Any, a: Any, xs: list[Any], const: Any) -> Any:
    logits, labels = xs
    return -(labels * t.torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


OPS: dict[str, OpDef] = {d.name: d for d in [
    OpDef("mse", "mean of squared differences (pred, target)", NoAttrs, _loss_shape("mse"),
          lambda a, shape, p, t: ((p - t) ** 2).mean(), _lower_loss("mse"), _flops_3_per_element, grad=_mse_dx,
          builtin=_loss_builtin("mse", "mse", "pred", "target"),
          torch=lambda t, a, xs, const: ((xs[0] - xs[1]) ** 2).mean(),
          tfjs="(n, a, b) => tf.mean(tf.squaredDifference(a, b))", scratch=_scratch("mse")),
    OpDef("softmax_ce", "softmax cross-entropy of logits [B,...,K] with label rows [B,...,K], mean over the rows", NoAttrs,
          _loss_shape("softmax_ce"), _softmax_ce, _lower_loss("softmax_ce"), _flops_3_per_element,
          grad=_softmax_ce_dx, builtin=_loss_builtin("softmax_cross_entropy", "softmax_ce", "logits", "labels"),
          torch=_torch_softmax_ce, tfjs="(n, a, b) => tf.neg(tf.mean(tf.sum(tf.mul(b, tf.logSoftmax(a)), -1)))",
          scratch=_scratch("softmax_ce")),
    OpDef("sigmoid_ce", "sigmoid cross-entropy of logits with labels, mean over every element", NoAttrs,
          _loss_shape("sigmoid_ce"), _sigmoid_ce, _lower_loss("sigmoid_ce"), _flops_3_per_element,
          grad=_sigmoid_ce_dx, builtin=_loss_builtin("sigmoid_cross_entropy", "sigmoid_ce", "logits", "labels"),
          torch=lambda t, a, xs, const: t.F.binary_cross_entropy_with_logits(xs[0], xs[1]),
          tfjs="(n, x, z) => tf.mean(tf.add(tf.sub(tf.relu(x), tf.mul(x, z)), tf.log1p(tf.exp(tf.neg(tf.abs(x))))))",
          scratch=_scratch("sigmoid_ce")),
    OpDef("mse_grad", "srcs pred, target, dl[] -> 2 * (pred - target) * dl / N, N = pred's size", NoAttrs,
          _grad_shape, lambda a, shape, p, t, dl: 2 * (p - t) * dl / p.size, _lower_loss_grad("mse", 2.0),
          _flops_per_element_read, backward=True),
    OpDef("softmax_ce_grad", "srcs logits[...,K], labels[...,K], dl[] -> dl / rows * (softmax(logits) * sum(labels, "
          "last axis, keepdims) - labels)  (= softmax - labels if rows sum to 1)", NoAttrs, _grad_shape,
          _softmax_ce_grad, lambda ctx, i: kernels.lower_softmax_grad(ctx, i, ce=True), _flops_per_element_read,
          backward=True),
    OpDef("sigmoid_ce_grad", "srcs logits, labels, dl[] -> (sigmoid(logits) - labels) * dl / N", NoAttrs,
          _grad_shape, lambda a, shape, x, z, dl: (sigmoid(x) - z) * dl / x.size, _lower_loss_grad("sigmoid_ce", 1.0),
          _flops_per_element_read, backward=True),
]}
