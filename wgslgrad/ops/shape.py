"""The shape family: concat (on the last axis), slice (one axis), stack (a new axis), reshape (a view) and the
gradients slice_last (concat's) and slice_grad (slice's), each declared once (an OpDef: builtin, typed
attributes, shape rule, float64 reference, gradient, lowering, FLOPs, PyTorch and TF.js peers).

The copies view their tensors as [outer, axis, inner] around the one axis they work on (row-major, so a slice
or a stack along any axis is one strided copy). A reshape is a view of its source's memory: no kernel (its
lowering makes none; ir.alias_root and the arena planner give it its source's slot). Moving data counts no
FLOPs forward; a gradient counts one per element read, as every backward op.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import WORKGROUP, Array, NoAttrs, OpDef, Shape, ShapeError, fmt_shape


@dataclass(frozen=True)
class SliceAttrs:
    axis: int          # x[..., start:stop, ...] along axis, 0 <= start < stop <= x.shape[axis]
    start: int
    stop: int


@dataclass(frozen=True)
class StackAttrs:
    axis: int          # np.stack(srcs, axis), 0 <= axis <= rank


@dataclass(frozen=True)
class ReshapeAttrs:
    shape: Shape       # the same elements, row-major, in this shape (the batch included)


@dataclass(frozen=True)
class SliceLastAttrs:
    start: int         # x[..., start:stop]
    stop: int


@dataclass(frozen=True)
class SliceGradAttrs:
    axis: int          # zeros with `size` along axis, dy placed at [start, start + dy's extent) on it
    start: int
    size: int


# ---- builtins (the subscript x[a:b] makes slice nodes in build.py, the syntax's own place; reshape and
# flatten, with the other builtins that reshape, are in builtins.py) ----

def concat(c: Any, tensors: Any, *more: Any) -> Any:
    if more:   # concat(a, b): Keras' Concatenate takes a list too
        c.fail_extra(f"takes one list of tensors: write concat([a, b{', ...' * (len(more) > 1)}]) with brackets, "
                     f"not {len(more) + 1} arguments")
    tensors = c.tensor_list(tensors, "tensors")
    for t in tensors:
        if not t.shape:
            c.fail("tensors", "joins tensors along their last axis, but one in the list is a scalar (shape [])")
    return c.node("concat", tensors, c.scope())


def stack(c: Any, tensors: Any, axis: Any) -> Any:
    """np.stack: tensors of one shape joined along a new axis (counted with the batch; negative from the end)."""
    tensors = c.tensor_list(tensors, "tensors")
    for k, t in enumerate(tensors):
        if t.shape != tensors[0].shape or t.batched != tensors[0].batched:
            c.fail("tensors", f"needs tensors of one shape, but tensor 0 has shape {fmt_shape(tensors[0].shape)} and "
                              f"tensor {k} has {fmt_shape(t.shape)}" if t.shape != tensors[0].shape else
                              f"cannot join tensor {k} to tensor 0: one comes from an Input (has a batch axis) and "
                              "the other does not")
    rank = len(tensors[0].shape)
    a = c.integer(axis, "axis", low=-(rank + 1))
    if a > rank:
        c.fail("axis", f"argument 'axis' must be in [{-(rank + 1)}, {rank}] for tensors of rank {rank}, got {a}")
    a = a % (rank + 1)
    if a == 0 and tensors[0].batched:
        c.fail("axis", "argument 'axis' cannot be 0, the batch axis: stack along axis 1 or later")
    return c.node("stack", tensors, c.scope(), axis=a)


# ---- shapes ----

def _concat_shape(shapes: list[Shape], a: Any) -> Shape:
    first = shapes[0]
    for s in shapes[1:]:
        if len(s) != len(first) or s[:-1] != first[:-1]:
            raise ShapeError(f"concat needs equal shapes but the last axis, got {fmt_shape(first)} and {fmt_shape(s)}")
    return first[:-1] + (sum(s[-1] for s in shapes),)


def _slice_shape(shapes: list[Shape], a: Any) -> Shape:
    x = shapes[0]
    if not 0 <= a.axis < len(x) or not 0 <= a.start < a.stop <= x[a.axis]:
        raise ShapeError(f"slice {a.start}:{a.stop} of axis {a.axis} is out of range for shape {fmt_shape(x)}")
    return x[:a.axis] + (a.stop - a.start,) + x[a.axis + 1:]


def _stack_shape(shapes: list[Shape], a: Any) -> Shape:
    first = shapes[0]
    for s in shapes[1:]:
        if s != first:
            raise ShapeError(f"stack needs tensors of one shape, got {fmt_shape(first)} and {fmt_shape(s)}")
    if not 0 <= a.axis <= len(first):
        raise ShapeError(f"stack axis {a.axis} is out of range for shape {fmt_shape(first)}")
    return first[:a.axis] + (len(shapes),) + first[a.axis:]


def _reshape_shape(shapes: list[Shape], a: Any) -> Shape:
    new = tuple(a.shape)
    if math.prod(new) != math.prod(shapes[0]):
        raise ShapeError(f"cannot reshape {fmt_shape(shapes[0])} to {fmt_shape(new)}")
    return new


# Only autodiff makes the gradients, so a mismatch is a compiler bug (assert).

def _slice_last_shape(shapes: list[Shape], a: Any) -> Shape:
    assert 0 <= a.start < a.stop <= shapes[0][-1], "SLICE_LAST bounds"
    return shapes[0][:-1] + (a.stop - a.start,)


def _slice_grad_shape(shapes: list[Shape], a: Any) -> Shape:
    dy = shapes[0]
    assert 0 <= a.axis < len(dy) and 0 <= a.start and a.start + dy[a.axis] <= a.size, "SLICE_GRAD bounds"
    return dy[:a.axis] + (a.size,) + dy[a.axis + 1:]


# ---- float64 references ----

def _slice_grad(a: Any, shape: Shape, dy: Array) -> Array:
    out = np.zeros(shape, dy.dtype)
    index = [slice(None)] * dy.ndim
    index[a.axis] = slice(a.start, a.start + dy.shape[a.axis])
    out[tuple(index)] = dy
    return out


# ---- gradients (autodiff's NodeGrad c) ----

def _concat_dx(c: Any) -> list[int | None]:
    """Each source's part of dy along the last axis (dy itself for a concat of one)."""
    out: list[int | None] = []
    start = 0
    for k, need in enumerate(c.need):
        stop = start + c.shape(k)[-1]
        if not need:
            out.append(None)
        elif len(c.need) == 1:
            out.append(c.dy)
        else:
            out.append(c.add("slice_last", (c.dy,), SliceLastAttrs(start, stop)))
        start = stop
    return out


def _slice_dx(c: Any) -> list[int | None]:
    a = c.node.attrs
    return [c.add("slice_grad", (c.dy,), SliceGradAttrs(a.axis, a.start, c.shape(0)[a.axis]))]


def _stack_dx(c: Any) -> list[int | None]:
    """Source k's gradient is dy's k-th entry along the stacked axis, that axis dropped."""
    axis = c.node.attrs.axis
    return [c.add("reshape", (c.add("slice", (c.dy,), SliceAttrs(axis, k, k + 1)),), ReshapeAttrs(c.shape(k)))
            if need else None for k, need in enumerate(c.need)]


# ---- lowerings (the Lowering ctx) ----

def _around(shape: Shape, axis: int) -> tuple[int, int]:
    """The sizes before and after `axis`: (outer, inner)."""
    return math.prod(shape[:axis]), math.prod(shape[axis + 1:])


def _lower_concat(ctx: Any, i: int) -> list[Any]:
    """One kernel per run of sources that fits the storage-buffer limit (usually one for all)."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    cout = node.shape[-1]
    rows = node.size // cout
    kernels: list[Any] = []
    c0, pending = 0, list(node.srcs)
    while pending:
        kb = ctx.builder()
        out = kb.write(i)
        srcs: list[dict] = []
        cc = 0
        while pending and kb.fits([ctx.slots[pending[0]].buffer]):
            s = pending.pop(0)
            c = g.nodes[s].shape[-1]
            srcs.append({"x": kb.read(s), "c": c, "start": cc, "end": cc + c})
            cc += c
        assert srcs, "a concat source cannot be bound"
        wg, gx = ctx.elementwise_groups(rows * cc)
        suffix = f"_{len(kernels)}" if kernels or pending else ""
        kernels.append(kb.kernel(ctx.kernel_name(i, suffix), "concat.wgsl", wg, [i], comment=ctx.comment(i), out=out,
                                 srcs=srcs, rows=rows, cout=cout, c0=c0, cc=cc, n=rows * cc, wg=WORKGROUP,
                                 gx=gx))
        c0 += cc
    return kernels


def _lower_slice(ctx: Any, i: int) -> list[Any]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    a = node.attrs
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    _, inner = _around(node.shape, a.axis)
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "slice_axis.wgsl", wg, [i], comment=ctx.comment(i), x=x, out=out,
                      start=a.start, c=node.shape[a.axis], cin=g.nodes[node.srcs[0]].shape[a.axis],
                      inner=inner, n=node.size, wg=WORKGROUP, gx=gx)]


def _lower_slice_grad(ctx: Any, i: int) -> list[Any]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    a = node.attrs
    kb = ctx.builder()
    dy, out = kb.read(node.srcs[0]), kb.write(i)
    _, inner = _around(node.shape, a.axis)
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "slice_grad.wgsl", wg, [i], comment=ctx.comment(i), dy=dy, out=out,
                      start=a.start, c=g.nodes[node.srcs[0]].shape[a.axis], size=node.shape[a.axis],
                      inner=inner, n=node.size, wg=WORKGROUP, gx=gx)]


def _lower_stack(ctx: Any, i: int) -> list[Any]:
    """One kernel per run of sources that fits the storage-buffer limit (usually one for all)."""
    node = ctx.graph.nodes[i]
    axis = node.attrs.axis
    count = node.shape[axis]
    _, inner = _around(node.shape, axis)
    outer = node.size // (count * inner)
    kernels: list[Any] = []
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


def _lower_slice_last(ctx: Any, i: int) -> list[Any]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    c, cin = node.shape[-1], g.nodes[node.srcs[0]].shape[-1]
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "slice_last.wgsl", wg, [i], comment=ctx.comment(i), x=x, out=out,
                      start=node.attrs.start, c=c, cin=cin, rows=node.size // c,
                      n=node.size, wg=WORKGROUP, gx=gx)]


def _no_kernel(ctx: Any, i: int) -> list[Any]:
    """A reshape reads its source's memory as it is (a view): nothing to run."""
    return []


# ---- FLOPs ----

def _moves(shapes: list[Shape], shape: Shape, a: Any) -> int:
    """Copying computes nothing."""
    return 0


def _reads(shapes: list[Shape], shape: Shape, a: Any) -> int:
    """A gradient: one FLOP per element read, as every backward op."""
    return sum(math.prod(s) for s in shapes)


# ---- the TF.js peer (bench.js' scope: tf, batched) ----

# a slice keeps the other axes whole (-1), whatever batch bench.js runs
_TFJS_SLICE = """(n, x) => tf.slice(x, x.shape.map((_, k) => (k === n.attrs.axis ? n.attrs.start : 0)),
  x.shape.map((_, k) => (k === n.attrs.axis ? n.attrs.stop - n.attrs.start : -1)))"""


OPS: dict[str, OpDef] = {d.name: d for d in [
    OpDef("concat", "any number of srcs, joined on the last axis", NoAttrs, _concat_shape,
          lambda a, shape, *xs: np.concatenate(xs, axis=-1), _lower_concat, _moves, grad=_concat_dx,
          builtin=concat, torch=lambda t, a, xs, const: t.torch.cat(xs, dim=-1),
          tfjs="(n, ...xs) => tf.concat(xs, -1)"),
    OpDef("slice", "srcs x -> x[..., start:stop, ...] along axis (0 <= start < stop); made by subscripts "
          "(x[:, 2:5]) and by the LSTM layer", SliceAttrs, _slice_shape,
          lambda a, shape, x: np.take(x, np.arange(a.start, a.stop), axis=a.axis), _lower_slice, _moves,
          grad=_slice_dx, via=("x[a:b]", "lstm"),
          torch=lambda t, a, xs, const: xs[0].narrow(a.axis, a.start, a.stop - a.start), tfjs=_TFJS_SLICE),
    OpDef("stack", "any number of srcs of one shape -> np.stack(srcs, axis)", StackAttrs, _stack_shape,
          lambda a, shape, *xs: np.stack(xs, axis=a.axis), _lower_stack, _moves, grad=_stack_dx, builtin=stack,
          torch=lambda t, a, xs, const: t.torch.stack(xs, dim=a.axis), tfjs="(n, ...xs) => tf.stack(xs, n.attrs.axis)"),
    OpDef("reshape", "the same bytes, a new shape: a view of its source (no kernel, no memory of its own)",
          ReshapeAttrs, _reshape_shape, lambda a, shape, x: x.reshape(shape), _no_kernel, _moves,
          grad=lambda c: [c.add("reshape", (c.dy,), ReshapeAttrs(c.shape(0)))], via=("reshape", "flatten"),
          torch=lambda t, a, xs, const: xs[0].reshape(tuple(a.shape)),
          tfjs="(n, x, i) => tf.reshape(x, batched(i, n.shape))"),
    OpDef("slice_last", "srcs x -> x[..., start:stop] (concat's gradient)", SliceLastAttrs, _slice_last_shape,
          lambda a, shape, x: x[..., a.start:a.stop], _lower_slice_last, _reads, backward=True),
    OpDef("slice_grad", "srcs dy -> zeros with `size` along axis, dy placed at [start, start + dy's extent) on it "
          "(slice's gradient)", SliceGradAttrs, _slice_grad_shape, _slice_grad, _lower_slice_grad, _reads,
          backward=True),
]}
