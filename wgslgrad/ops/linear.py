"""The linear and conv family: CONV2D, DEPTHWISE, DENSE and their gradients CONV2D_DX, CONV2D_DW,
DEPTHWISE_DX, DEPTHWISE_DW, DENSE_DX, DENSE_DW, each declared once (an OpDef: builtin, typed attributes,
shape rule, float64 reference, gradient rule, lowering, FLOPs, PyTorch and TF.js peers); the DSL's conv2d,
depthwise_conv2d, separable_conv2d and dense layers. The lowerings are in linear_kernels.py.

TF.js layouts and semantics: conv weights HWIO [kh,kw,Ci,Co], depthwise HWC1 (HWCM: output channel c*M + m),
dense IO [F,U]; 'same' pads as TensorFlow computes them (asymmetric when odd). Window ops index the
zero-padded input as h = oh*sh + i - t, w = ow*sw + j - l (taps i < kh, j < kw); cells outside [0,H)x[0,W)
are padding.

    conv2d        srcs x[B,H,W,Ci], w[kh,kw,Ci,Co], (bias[Co])            -> [B,OH,OW,Co]
    depthwise     srcs x[B,H,W,C], w[kh,kw,C,M], (bias[C*M])              -> [B,OH,OW,C*M]
    dense         srcs x[B,F], w[F,U], (bias[U])                          -> [B,U]
    conv2d_dx     srcs dy[B,OH,OW,Co], w; in_shape (B,H,W,Ci)
                  dx[b,h,w,ci] = sum_{i,j,co: h=oh*sh+i-t, w=ow*sw+j-l} dy[b,oh,ow,co] * w[i,j,ci,co]
    conv2d_dw     srcs x, dy; w_shape (kh,kw,Ci,Co)
                  dw[i,j,ci,co] = sum_{b,oh,ow} x[b,oh*sh+i-t,ow*sw+j-l,ci] * dy[b,oh,ow,co]
    depthwise_dx  srcs dy[B,OH,OW,C*M], w; in_shape (B,H,W,C)
                  dx[b,h,w,c] = sum_{i,j,m: h=oh*sh+i-t, ...} dy[b,oh,ow,c*M+m] * w[i,j,c,m]
    depthwise_dw  srcs x, dy; w_shape (kh,kw,C,M)
                  dw[i,j,c,m] = sum_{b,oh,ow} x[b,oh*sh+i-t,ow*sw+j-l,c] * dy[b,oh,ow,c*M+m]
    dense_dx      srcs dy[B,U], w[F,U] -> dy @ w.T, [B,F]
    dense_dw      srcs x[B,F], dy[B,U] -> x.T @ dy, [F,U]

The forward ops and DEPTHWISE_DX finish each output element in registers, so the elementwise ops after
them (a bias is a source already), and at inference a batch norm, join their kernels (compiler/fuse.py);
CONV2D_DW and DENSE_DW also sum their bias gradient. Layers' weights are Glorot-normal with Keras' fans
(kh*kw*in, kh*kw*out), biases zero.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import linear_kernels as kernels
from .base import (
    Array,
    NoAttrs,
    OpDef,
    Pad,
    Shape,
    ShapeError,
    crop_nhwc,
    fmt_shape,
    pad_nhwc,
    padded_zeros,
    window_taps,
)


@dataclass(frozen=True)
class Window:
    """CONV2D's and DEPTHWISE's attributes."""
    stride: tuple[int, int]        # (sh, sw)
    pad: Pad                       # (top, bottom, left, right), TensorFlow's


@dataclass(frozen=True)
class WindowDx:
    """CONV2D_DX's and DEPTHWISE_DX's: the forward op's window and its input's shape."""
    stride: tuple[int, int]
    pad: Pad
    in_shape: Shape


@dataclass(frozen=True)
class WindowDw:
    """CONV2D_DW's and DEPTHWISE_DW's: the forward op's window and its filters' shape."""
    stride: tuple[int, int]
    pad: Pad
    w_shape: Shape


# ---- builtins (c: the BuiltinCall) ----

_NO_FILTERS = object()   # depthwise_conv2d has no `filters` argument


def _window_layer(c: Any, x: Any, filters: Any, kernel: Any, stride: Any, padding: Any, use_bias: Any,
                  activation: Any, trainable: Any, name: Any) -> list[Any]:
    """A conv layer's arguments, every one checked (and each bad one reported): x, filters, kernel, stride,
    use_bias, trainable, name."""
    x, co, k, s, _, bias, _, train, lname = c.each(
        lambda: c.image(x, "x"), lambda: None if filters is _NO_FILTERS else c.integer(filters, "filters"),
        lambda: c.pair(kernel, "kernel"), lambda: c.pair(stride, "stride"),
        lambda: c.choice(padding, "padding", ("same", "valid")), lambda: c.flag(use_bias, "use_bias"),
        lambda: c.activation(activation), lambda: c.flag(trainable, "trainable"), lambda: c.layer_name(name))
    return [x, co, k, s, bias, train, lname]


def conv2d(c: Any, x: Any, filters: Any, kernel: Any = 3, stride: Any = 1, padding: Any = "same",
           use_bias: Any = True, activation: Any = None, trainable: Any = True, name: Any = None,
           *, share: Any = False) -> Any:
    x, co, k, s, bias, train, lname = _window_layer(c, x, filters, kernel, stride, padding, use_bias,
                                                   activation, trainable, name)
    pad, sh = c.padding(x, k, s, padding), c.shared(share, name)
    scope, ci, taps = c.scope(lname), x.shape[3], k[0] * k[1]
    srcs = [x, c.param(scope, "filters", (*k, ci, co), (taps * ci, taps * co), train, sh)]
    if bias:
        srcs.append(c.param(scope, "bias", (co,), (co, co), train, sh))
    return c.activate(c.node("conv2d", srcs, scope, stride=s, pad=pad), activation, scope)


def depthwise_conv2d(c: Any, x: Any, kernel: Any = 3, stride: Any = 1, padding: Any = "same",
                     use_bias: Any = True, activation: Any = None, trainable: Any = True,
                     name: Any = None, *, share: Any = False) -> Any:
    x, _, k, s, bias, train, lname = _window_layer(c, x, _NO_FILTERS, kernel, stride, padding, use_bias,
                                                  activation, trainable, name)
    pad, sh = c.padding(x, k, s, padding), c.shared(share, name)
    scope, ch, taps = c.scope(lname), x.shape[3], k[0] * k[1]
    srcs = [x, c.param(scope, "depthwise_filter", (*k, ch, 1), (taps * ch, taps), train, sh)]
    if bias:
        srcs.append(c.param(scope, "bias", (ch,), (ch, ch), train, sh))
    return c.activate(c.node("depthwise", srcs, scope, stride=s, pad=pad), activation, scope)


def separable_conv2d(c: Any, x: Any, filters: Any, kernel: Any = 3, stride: Any = 1, padding: Any = "same",
                     use_bias: Any = True, activation: Any = None, trainable: Any = True,
                     name: Any = None, *, share: Any = False) -> Any:
    x, co, k, s, bias, train, lname = _window_layer(c, x, filters, kernel, stride, padding, use_bias,
                                                   activation, trainable, name)
    pad, sh = c.padding(x, k, s, padding), c.shared(share, name)
    scope, ch, taps = c.scope(lname), x.shape[3], k[0] * k[1]
    dw = c.param(scope, "depthwise_filter", (*k, ch, 1), (taps * ch, taps), train, sh)
    pw = [c.param(scope, "pointwise_filter", (1, 1, ch, co), (ch, co), train, sh)]
    if bias:
        pw.append(c.param(scope, "bias", (co,), (co, co), train, sh))
    y = c.node("depthwise", [x, dw], scope, stride=s, pad=pad)
    y = c.node("conv2d", [y, *pw], scope, stride=(1, 1), pad=(0, 0, 0, 0))
    return c.activate(y, activation, scope)


def dense(c: Any, x: Any, units: Any, use_bias: Any = True, activation: Any = None, trainable: Any = True,
          name: Any = None, *, share: Any = False, flatten: Any = True) -> Any:
    """A rank>2 input is flattened to [batch, features] first; with flatten=False the layer applies to the
    last axis at every position instead (Keras' Dense on a sequence [batch, time, features])."""
    x, u, bias, _, train, lname, flat = c.each(
        lambda: c.tensor(x, "x"), lambda: c.integer(units, "units"), lambda: c.flag(use_bias, "use_bias"),
        lambda: c.activation(activation), lambda: c.flag(trainable, "trainable"), lambda: c.layer_name(name),
        lambda: c.flag(flatten, "flatten"))
    if len(x.shape) < 2:
        c.fail(None, f"expects an input of rank 2 or more ([batch, features]), got {fmt_shape(x.shape)}")
    lead = x.shape[:-1] if len(x.shape) > 2 and not flat else x.shape[:1]
    scope, f, sh = c.scope(lname), math.prod(x.shape) // math.prod(lead), c.shared(share, name)
    srcs = [c.param(scope, "weights", (f, u), (f, u), train, sh)]
    if bias:
        srcs.append(c.param(scope, "bias", (u,), (u, u), train, sh))
    if len(x.shape) > 2:   # one matmul over the rows: [batch, features] flattened, or every position
        x = c.node("reshape", [x], scope, shape=(math.prod(lead), f))
    y = c.activate(c.node("dense", [x, *srcs], scope), activation, scope)
    return c.node("reshape", [y], scope, shape=(*lead, u)) if len(lead) > 1 else y


# ---- shapes (the gradients' are made by autodiff only: a mismatch is a compiler bug) ----

def _window_shape(shapes: list[Shape], a: Window, name: str) -> Shape:
    x, w = shapes[0], shapes[1]
    if len(x) != 4:
        raise ShapeError(f"{name} expects an NHWC input of rank 4, got {fmt_shape(x)}")
    if name == "conv2d" and w[2] != x[3]:
        raise ShapeError(f"conv2d filters {fmt_shape(w)} expect {w[2]} input channels, got {fmt_shape(x)}")
    if name == "depthwise" and w[2] != x[3]:
        raise ShapeError(f"depthwise filters {fmt_shape(w)} expect {w[2]} channels, got {fmt_shape(x)}")
    (sh, sw), (t, b, l, r) = a.stride, a.pad
    h = (x[1] + t + b - w[0]) // sh + 1
    wd = (x[2] + l + r - w[1]) // sw + 1
    return (x[0], h, wd, w[3] if name == "conv2d" else x[3] * w[3])


def _dense_shape(shapes: list[Shape], a: NoAttrs) -> Shape:
    x, w = shapes[0], shapes[1]
    if len(x) != 2 or x[1] != w[0]:
        raise ShapeError(f"dense weights {fmt_shape(w)} expect {w[0]} features, got {fmt_shape(x)}")
    return (x[0], w[1])


def _dx_shape(name: str) -> Any:
    def shape(shapes: list[Shape], a: WindowDx) -> Shape:
        dy, w = shapes
        assert _window_shape([tuple(a.in_shape), w], Window(a.stride, a.pad), name) == dy, \
            f"{name.upper()}_DX: dy {dy} does not fit"
        return tuple(a.in_shape)
    return shape


def _dw_shape(name: str) -> Any:
    def shape(shapes: list[Shape], a: WindowDw) -> Shape:
        x, dy = shapes
        assert _window_shape([x, tuple(a.w_shape)], Window(a.stride, a.pad), name) == dy, \
            f"{name.upper()}_DW: dy {dy} does not fit"
        return tuple(a.w_shape)
    return shape


def _dense_dx_shape(shapes: list[Shape], a: NoAttrs) -> Shape:
    (b, u), (f, u2) = shapes
    assert u == u2, "DENSE_DX units"
    return (b, f)


def _dense_dw_shape(shapes: list[Shape], a: NoAttrs) -> Shape:
    (b, f), (b2, u) = shapes
    assert b == b2, "DENSE_DW batch"
    return (f, u)


# ---- float64 references: the window ops loop over the kernel taps, one vectorised slice per tap ----

def _conv2d(a: Window, shape: Shape, x: Array, w: Array, bias: Array | None = None) -> Array:
    xp, out = pad_nhwc(x, a.pad), np.zeros(shape, x.dtype)
    for i, j, idx in window_taps(a.stride, w.shape[:2], shape[1:3]):
        out += xp[idx] @ w[i, j]                       # [B,OH,OW,Ci] @ [Ci,Co]
    return out if bias is None else out + bias


def _depthwise(a: Window, shape: Shape, x: Array, w: Array, bias: Array | None = None) -> Array:
    xp, out = pad_nhwc(x, a.pad), np.zeros(shape, x.dtype)
    for i, j, idx in window_taps(a.stride, w.shape[:2], shape[1:3]):
        out += (xp[idx][..., None] * w[i, j]).reshape(shape)   # channel c*M + m
    return out if bias is None else out + bias


def _dense(a: NoAttrs, shape: Shape, x: Array, w: Array, bias: Array | None = None) -> Array:
    return x @ w if bias is None else x @ w + bias


def _conv2d_dx(a: WindowDx, shape: Shape, dy: Array, w: Array) -> Array:
    dxp = padded_zeros(shape, a.pad, dy.dtype)
    for i, j, idx in window_taps(a.stride, w.shape[:2], dy.shape[1:3]):
        dxp[idx] += dy @ w[i, j].T                     # [B,OH,OW,Co] @ [Co,Ci]
    return crop_nhwc(dxp, a.pad, shape)


def _conv2d_dw(a: WindowDw, shape: Shape, x: Array, dy: Array) -> Array:
    xp, dw = pad_nhwc(x, a.pad), np.zeros(shape, x.dtype)
    for i, j, idx in window_taps(a.stride, shape[:2], dy.shape[1:3]):
        dw[i, j] = np.einsum("bhwc,bhwo->co", xp[idx], dy)
    return dw


def _depthwise_dx(a: WindowDx, shape: Shape, dy: Array, w: Array) -> Array:
    dxp = padded_zeros(shape, a.pad, dy.dtype)
    dy5 = dy.reshape(dy.shape[:3] + w.shape[2:])       # [B,OH,OW,C,M]
    for i, j, idx in window_taps(a.stride, w.shape[:2], dy.shape[1:3]):
        dxp[idx] += (dy5 * w[i, j]).sum(axis=-1)
    return crop_nhwc(dxp, a.pad, shape)


def _depthwise_dw(a: WindowDw, shape: Shape, x: Array, dy: Array) -> Array:
    xp, dw = pad_nhwc(x, a.pad), np.zeros(shape, x.dtype)
    dy5 = dy.reshape(dy.shape[:3] + tuple(shape[2:]))
    for i, j, idx in window_taps(a.stride, shape[:2], dy.shape[1:3]):
        dw[i, j] = np.einsum("bhwc,bhwcm->cm", xp[idx], dy5)
    return dw


# ---- gradients (autodiff's NodeGrad c): dx, dw and the bias' (dy summed to its shape) ----

def _window_grad(dx_op: str, dw_op: str) -> Any:
    def rule(c: Any) -> list[int | None]:
        a: Window = c.node.attrs
        x, w = c.src(0), c.src(1)
        dx = c.add(dx_op, (c.dy, w), WindowDx(a.stride, a.pad, c.shape(0))) if c.need[0] else None
        dw = c.add(dw_op, (x, c.dy), WindowDw(a.stride, a.pad, c.shape(1))) if c.need[1] else None
        bias = [c.reduce_to(c.dy, 2) if c.need[2] else None] if len(c.need) > 2 else []
        return [dx, dw, *bias]
    return rule


def _dense_grad(c: Any) -> list[int | None]:
    x, w = c.src(0), c.src(1)
    dx = c.add("dense_dx", (c.dy, w)) if c.need[0] else None
    dw = c.add("dense_dw", (x, c.dy)) if c.need[1] else None
    bias = [c.reduce_to(c.dy, 2) if c.need[2] else None] if len(c.need) > 2 else []
    return [dx, dw, *bias]


# ---- lowerings (linear_kernels.py), given the node's typed attributes ----

def _lower(kernel: Any) -> Any:
    def lower(ctx: Any, i: int) -> list[Any]:
        node = ctx.graph.nodes[i]
        return kernel(ctx, i, node.attrs)
    return lower


def _matmul_scratch(op: str) -> Any:
    return lambda shapes, shape, a: kernels.matmul_scratch(op, shapes, shape, a)


# ---- FLOPs: multiply-adds count two, a bias add one per output; a gradient's products as many multiply-adds
# as its forward op's ----

def _window_flops(shapes: list[Shape], shape: Shape, a: Window, depthwise: bool) -> int:
    kh, kw, ci, _ = shapes[1]
    taps = kh * kw * (1 if depthwise else ci)
    size = math.prod(shape)
    return 2 * size * taps + (size if len(shapes) > 2 else 0)


def _dense_flops(shapes: list[Shape], shape: Shape, a: NoAttrs) -> int:
    size = math.prod(shape)
    return 2 * size * shapes[1][0] + (size if len(shapes) > 2 else 0)


def _dx_flops(depthwise: bool) -> Any:
    def flops(shapes: list[Shape], shape: Shape, a: WindowDx) -> int:   # srcs dy, w
        kh, kw, ci, _ = shapes[1]
        return 2 * math.prod(shapes[0]) * kh * kw * (1 if depthwise else ci)
    return flops


def _dw_flops(depthwise: bool) -> Any:
    def flops(shapes: list[Shape], shape: Shape, a: WindowDw) -> int:   # srcs x, dy
        kh, kw, ci, _ = a.w_shape
        return 2 * math.prod(shapes[1]) * kh * kw * (1 if depthwise else ci)
    return flops


# ---- the PyTorch peer (t: its helpers); the weights (source 1) arrive in the OpDef's torch_layout ----

def _torch_window(depthwise: bool) -> Any:
    def run(t: Any, a: Window, xs: list[Any], const: Any) -> Any:
        x, w, bias = xs[0], xs[1], (xs[2] if len(xs) > 2 else None)
        pad = a.pad
        if t.symmetric(pad, (w.shape[2], w.shape[3])):
            padding = (pad[0], pad[2])
        else:
            x, padding = t.pad_nhwc(x, pad), (0, 0)
        groups = x.shape[3] if depthwise else 1
        return t.nhwc(t.F.conv2d(t.nchw(x), w, bias, tuple(a.stride), padding, 1, groups))
    return run


def _torch_dense(t: Any, a: NoAttrs, xs: list[Any], const: Any) -> Any:
    return t.F.linear(xs[0], xs[1], xs[2] if len(xs) > 2 else None)


# TF.js (peer_model.js' scope): with wasmGrads, convs[i] is the node's conv with gradients made of ops the
# wasm backend has (wasm_grads.js); peer_model.js passes the node id after the (possibly absent) bias
_TFJS_CONV2D = """(n, x, w, b, i) => (wasmGrads ? convs[i](x, w, b)
  : tf.fused.conv2d({ x, filter: w, strides: n.attrs.stride, pad: pads(n.attrs.pad), bias: b }))"""
_TFJS_DEPTHWISE = """(n, x, w, b, i) => (wasmGrads ? convs[i](x, w, b)
  : tf.fused.depthwiseConv2d({ x, filter: w, strides: n.attrs.stride, pad: pads(n.attrs.pad), bias: b }))"""
# TF.js wasm's _FusedMatMul takes the bias's rank from its data, which a reshape shares: a bias that is not a
# param (the GRU's bias rows: slice [1, 3u], reshape [3u]) is added after the product instead
_TFJS_DENSE = """(n, x, w, b) => (b && nodes[n.srcs[2]].op !== 'param' ? tf.add(tf.matMul(x, w), b)
  : tf.fused.matMul({ a: x, b: w, bias: b }))"""


OPS: dict[str, OpDef] = {d.name: d for d in [
    OpDef("conv2d", "a 2-D convolution of NHWC x with HWIO filters (+ bias), TensorFlow's padding", Window,
          lambda s, a: _window_shape(s, a, "conv2d"), _conv2d, _lower(kernels.lower_matmul),
          lambda s, shape, a: _window_flops(s, shape, a, False), grad=_window_grad("conv2d_dx", "conv2d_dw"),
          builtin=conv2d, torch=_torch_window(False), torch_layout="conv", tfjs=_TFJS_CONV2D, epilogue=True),
    OpDef("depthwise", "a depthwise 2-D convolution, HWCM filters (+ bias): output channel c*M + m", Window,
          lambda s, a: _window_shape(s, a, "depthwise"), _depthwise, _lower(kernels.lower_depthwise),
          lambda s, shape, a: _window_flops(s, shape, a, True),
          grad=_window_grad("depthwise_dx", "depthwise_dw"),
          builtin=depthwise_conv2d, more_builtins=(separable_conv2d,), torch=_torch_window(True),
          torch_layout="depthwise", tfjs=_TFJS_DEPTHWISE, epilogue=True),
    OpDef("dense", "x[B,F] @ w[F,U] (+ bias)", NoAttrs, _dense_shape, _dense, _lower(kernels.lower_matmul),
          _dense_flops, grad=_dense_grad, builtin=dense, torch=_torch_dense, torch_layout="dense",
          tfjs=_TFJS_DENSE, epilogue=True),
    OpDef("conv2d_dx", "srcs dy, w -> dx[in_shape]: a transposed conv of dy", WindowDx, _dx_shape("conv2d"),
          _conv2d_dx, _lower(kernels.lower_conv2d_dx), _dx_flops(False), backward=True),
    OpDef("conv2d_dw", "srcs x, dy -> dw[w_shape]: im2col(x).T @ dy", WindowDw, _dw_shape("conv2d"),
          _conv2d_dw, _lower(kernels.lower_grad_matmul), _dw_flops(False), backward=True,
          scratch=_matmul_scratch("CONV2D_DW"), sums_bias=True),
    OpDef("depthwise_dx", "srcs dy, w -> dx[in_shape]: a transposed depthwise conv of dy", WindowDx,
          _dx_shape("depthwise"), _depthwise_dx, _lower(kernels.lower_depthwise_dx), _dx_flops(True),
          backward=True, epilogue=True),
    OpDef("depthwise_dw", "srcs x, dy -> dw[w_shape]: per channel, x's windows times dy summed over b,oh,ow",
          WindowDw, _dw_shape("depthwise"), _depthwise_dw, _lower(kernels.lower_depthwise_dw),
          _dw_flops(True), backward=True, scratch=kernels.depthwise_dw_scratch),
    OpDef("dense_dx", "srcs dy[B,U], w[F,U] -> dy @ w.T, [B,F]", NoAttrs, _dense_dx_shape,
          lambda a, shape, dy, w: dy @ w.T, _lower(kernels.lower_grad_matmul),
          lambda s, shape, a: 2 * math.prod(s[0]) * s[1][0], backward=True,
          scratch=_matmul_scratch("DENSE_DX")),
    OpDef("dense_dw", "srcs x[B,F], dy[B,U] -> x.T @ dy, [F,U]", NoAttrs, _dense_dw_shape,
          lambda a, shape, x, dy: x.T @ dy, _lower(kernels.lower_grad_matmul),
          lambda s, shape, a: 2 * math.prod(s[0]) * s[1][1], backward=True,
          scratch=_matmul_scratch("DENSE_DW"), sums_bias=True),
]}
