"""What the op families share: the shape error type, the op declaration (OpDef), NumPy window helpers for the
references, and the pure helpers their lowerings use. Imports nothing from the rest of wgslgrad.

An OpDef's functions are given what they work on (a lowering rule its Lowering, a gradient rule autodiff's
NodeGrad, a builtin its BuiltinCall, the peer hooks their modules), so a family module needs no import
from the compiler, and the IR can take op names and shape rules from it.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray
Shape = tuple[int, ...]
Pad = tuple[int, int, int, int]   # (top, bottom, left, right)

WORKGROUP = 256   # WebGPU default maxComputeInvocationsPerWorkgroup: threads per workgroup of 1-D kernels
ALIGN = 4  # f32 elements: buffer offsets stay 16-byte aligned so kernels may use vec4 access (compiler/memory.py)


class ShapeError(Exception):
    """A user-facing shape problem; the builder attaches the source position."""


def fmt_shape(shape: Shape) -> str:
    return "[" + ",".join(map(str, shape)) + "]"


def bytes_text(n: int) -> str:
    """A byte count for a message: GiB, MiB, KiB or bytes."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}" if n < 2**70 else f"about 10^{len(str(n // size)) - 1} {unit}"
    return f"{n} bytes"


def broadcast(a: Shape, b: Shape) -> Shape:
    """NumPy broadcasting of two shapes, or ShapeError naming both."""
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(pa, pb):
        if x != y and 1 not in (x, y):
            raise ShapeError(f"shapes {fmt_shape(a)} and {fmt_shape(b)} do not broadcast")
        out.append(max(x, y))
    return tuple(out)


@dataclass(frozen=True)
class NoAttrs:
    """The attributes of an op that has none."""


@dataclass(frozen=True)
class OpDef:
    """One op, declared once: every facet the compiler, the references and the peers need.

    Facets are functions of what they are given (see the module docstring); attributes are a frozen dataclass
    (`attrs`), whose instance the IR node holds (`Node.attrs`) and every facet reads by field.
    """
    name: str                                            # the IR op, lower case
    doc: str
    attrs: type
    shape: Callable[[list[Shape], Any], Shape]           # (source shapes, attrs) -> output shape, or ShapeError
    ref: Callable[..., Array]                            # (attrs, output shape, *source values) -> float64 value
    lower: Callable[[Any, int], list[Any]]               # (Lowering, node id) -> its kernels
    flops: Callable[[list[Shape], Shape, Any], int]      # (source shapes, output shape, attrs)
    grad: Callable[[Any], list[int | None]] | None = None   # forward ops: (NodeGrad) -> a gradient per source
    builtin: Callable[..., Any] | None = None            # the DSL function (BuiltinCall, arguments...)
    via: tuple[str, ...] = ()                            # or the builtins that make it (sum_axes: sum, mean)
    torch: Callable[..., Any] | None = None              # (peer helpers, attrs, source tensors, constant) -> tensor
    torch_const: Callable[[Any, list[Shape], Shape], Array | None] | None = None   # a constant torch needs
    tfjs: str | None = None                              # a JavaScript function of (n, ...sources), bench.js' scope
    freeze: Callable[[Any, Array, Shape], Callable[..., Array]] | None = None
    #   a piecewise op: (attrs, input value, output shape) -> a reference that stays on the input's pieces,
    #   for gradcheck (max pool: the cells that won)
    backward: bool = False                               # made by autodiff only (no builtin, no gradient)
    optimizer: bool = False                              # a parameter update (compiler.training adds it after the
    #   backward nodes; no builtin, no gradient, no peers: they run their own optimizer with its settings); its
    #   reference also takes the optimizer state: ref(attrs, shape, *grads, params=, m=, v=, t=, lr=)
    scratch: Callable[[list[Shape], Shape, Any], int] | None = None
    #   f32 elements of scratch its kernels need at their own step (source shapes, output shape, attrs)
    through_consumer: bool = False
    #   a forward op without a gradient rule: its one consumer's rule differentiates through it (BN_STATS, by
    #   BATCH_NORM's), so autodiff never walks into it
    more_builtins: tuple[Callable[..., Any], ...] = ()
    #   other DSL functions that make it together with other ops (separable_conv2d: a depthwise conv, then a
    #   1x1 conv2d)
    torch_layout: str | None = None
    #   how the PyTorch peer stores its source 1, the weights: 'conv', 'depthwise' or 'dense'
    #   (bench/torch_peer.to_torch_layout); its torch hook gets that source in that layout
    epilogue: bool = False
    #   its kernel finishes one output element at a time in registers (Lowering.epilogue), so the elementwise
    #   ops after it join that kernel (compiler/fuse.plan)
    sums_bias: bool = False
    #   a filter gradient, A.T @ dy, whose kernel can also sum dy over its rows: the bias gradient joins it
    #   (compiler/fuse.bias_sums)


# ---- NumPy helpers for window ops (conv, depthwise, pools and their gradients) over NHWC tensors ----

def pad_nhwc(x: Array, pad: Pad, value: float = 0.0) -> Array:
    t, b, l, r = pad
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)


def window_taps(stride: Sequence[int], ksize: Sequence[int], out_hw: Sequence[int]) -> Iterator[tuple[int, int, tuple]]:
    """(i, j, index) per kernel tap, row-major; index selects the padded input cells that tap (i, j) reads
    for every output position: padded[:, oh*sh + i, ow*sw + j, :]."""
    (sh, sw), (oh, ow) = stride, out_hw
    for i in range(ksize[0]):
        for j in range(ksize[1]):
            rows, cols = slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw)
            yield i, j, (slice(None), rows, cols)


def crop_nhwc(xp: Array, pad: Pad, shape: Shape) -> Array:
    t, _, l, _ = pad
    return xp[:, t:t + shape[1], l:l + shape[2], :]


def padded_zeros(shape: Shape, pad: Pad, dtype: Any) -> Array:
    t, b, l, r = pad
    return np.zeros((shape[0], shape[1] + t + b, shape[2] + l + r, shape[3]), dtype)


def softmax(x: Array) -> Array:
    """Over the last axis, shifted by the row max (never overflows)."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(x: Array) -> Array:
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# ---- pure helpers for lowerings ----

def f32(x: float) -> str:
    """A WGSL f32 literal."""
    assert math.isfinite(x), f"non-finite constant {x} in a kernel"
    s = repr(float(x))
    return f"({s})" if s.startswith("-") else s


def pow2_at_least(n: int, lo: int, hi: int) -> int:
    p = lo
    while p < n and p < hi:
        p *= 2
    return p


def halves(n: int) -> list[int]:
    """The strides of a tree reduction over n (a power of two) lanes: n/2, n/4, ..., 1."""
    out = []
    while n > 1:
        n //= 2
        out.append(n)
    return out
