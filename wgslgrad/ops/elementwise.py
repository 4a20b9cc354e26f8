"""The elementwise ops, one row each (see ops/__init__.py).

WGSL expressions: a unary op's is over `v` (its input); a binary op's over `va`, `vb`. A unary op's gradient
is over `va` (the value it saved: its output y where f' is cheapest in y, or where the test on x reads the same
on y, so the pre-activation need not be kept and the kernel that makes it can apply the activation in its
epilogue; else its input x) and `vb` (the gradient of its output). `{name}` fills in an attribute as a WGSL
f32 literal. A NaN passes through every expression, as in the float64 reference (max, min and clamp may drop
a NaN: WGSL leaves that to the driver, and lavapipe's max(NaN, 0.0) is 0), so NaN weights cannot hide behind
a relu.

Peers: `torch` is a Python expression over `x` (binary: `a`, `b`) and `attrs`, with `torch` and `F`
(torch.nn.functional) in scope; `tfjs` a JavaScript expression over the same names and `tf`.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .base import WORKGROUP, NoAttrs, OpDef, Shape, f32
from .kernels import broadcast_axes

Array = np.ndarray


@dataclass(frozen=True)
class LeakyReluAttrs:
    alpha: float = 0.2   # the slope below zero; 0 is relu


@dataclass(frozen=True)
class EluAttrs:
    alpha: float = 1.0   # the value approached as x -> -inf is -alpha


@dataclass(frozen=True)
class Unary:
    """A unary elementwise op: y = f(x), same shape."""
    name: str                                   # the DSL builtin and the IR op (upper case)
    doc: str                                    # one line, for docs and errors
    wgsl: str | Callable[[Any], str]            # over `v`; a function of the attributes where they change it
    grad: str                                   # dx over `va` (the saved value) and `vb` (dy)
    ref: Callable[[Array, Any], Array]          # float64 y from x and the attributes
    ref_grad: Callable[[Array, Any], Array]     # f' from the saved value and the attributes
    torch: str
    tfjs: str
    attrs: type = NoAttrs
    from_output: bool | Callable[[Any], bool] = False   # the gradient reads y (else x)
    flops: int = 1                              # per element
    builtin: bool = True                        # a DSL function of that name (neg is the `-x` operator)
    activation: bool = False                    # allowed as a layer's activation= (default attributes)
    numbers: Callable[[float], float] | None = None   # what it does to a plain number at compile time
    linear: bool = False                        # its gradient is itself applied to dy (no saved value)
    piecewise: Callable[[Array, Any], tuple[Array, Array | float]] | None = None
    #   a piecewise-linear op: (slope, offset) at x, so gradcheck can freeze the piece each x is on
    kinks: tuple[float, ...] = ()               # where f' jumps: tests keep their inputs away from them
    positive: bool = False                      # defined for x > 0 only (tests draw positive inputs)

    def saves_output(self, attrs: Any) -> bool:
        return self.from_output(attrs) if callable(self.from_output) else self.from_output

    def wgsl_of(self, attrs: Any) -> str:
        return self.wgsl(attrs) if callable(self.wgsl) else self.wgsl


@dataclass(frozen=True)
class Binary:
    """A binary elementwise op with NumPy broadcasting; its gradient rule builds graph nodes (autodiff's
    NodeGrad `c`: c.dy, c.src(k), c.need[k], c.add(op name, srcs), c.reduce_to(x, k))."""
    name: str
    symbol: str                                 # the Python operator that makes it
    wgsl: str                                   # over `va`, `vb`
    ref: Callable[[Array, Array], Array]
    grad: Callable[[Any], list[int | None]]
    torch: str
    tfjs: str
    flops: int = 1


def sigmoid(x: Array) -> Array:
    """1 / (1 + exp(-x)) in any float dtype, without overflow (the losses' and the LSTM's reference use it too)."""
    e = np.exp(-np.abs(x))                      # never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _leaky_relu(x: Array, alpha: float) -> Array:
    """x where x >= 0 or NaN, else alpha * x; alpha = 0 is relu (0 for -inf, where alpha * x is NaN)."""
    return np.where(x < 0, alpha * x if alpha else 0.0, x)


_RELU_WGSL = "select(v, 0.0, v < 0.0)"

# gelu, tanh form: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3). Where |u| > 15, tanh(u) is +-1 to
# float64's last bits, so it is x or 0 (and its derivative 1 or 0): that branch also keeps x^3's overflow and
# tanh of a huge argument (NaN on some drivers) out of the result.
_GELU_C = math.sqrt(2 / math.pi)
_GELU_U = f"({_GELU_C!r} * ({{x}} + 0.044715 * {{x}} * {{x}} * {{x}}))"


def _gelu_wgsl(x: str, formula: str, big: str) -> str:
    u = _GELU_U.format(x=x)
    return f"select({formula.replace('U', u)}, {big}, abs({u}) > 15.0)"


def _gelu(x: Array, derivative: bool = False) -> Array:
    with np.errstate(over="ignore", invalid="ignore"):
        u = _GELU_C * (x + 0.044715 * x ** 3)
        t = np.tanh(u)
        if derivative:
            inner = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * x * x)
            return np.where(np.abs(u) > 15, np.where(x > 0, 1.0, 0.0), inner)
        return np.where(np.abs(u) > 15, np.where(x > 0, x, 0.0), 0.5 * x * (1 + t))

# softplus: max(x, 0) + log1p(e), e = exp(-|x|) in (0, 1], so exp never overflows. WGSL has no log1p, and
# log(1.0 + e) loses e below float32's epsilon (softplus(-20) would be 0, not 2.1e-9), so log1p(e) is
# 2 atanh(s) = 2 (s + s^3/3 + ... + s^11/11), s = e / (2 + e) <= 1/3: within 1.5e-7 of log1p, relative, and
# no subtraction anywhere.
_SOFTPLUS_E = "exp(-abs({x}))"


def _log1p_wgsl(e: str) -> str:
    s = f"({e} / (2.0 + {e}))"
    poly = "1.0"
    for k in (11, 9, 7, 5, 3):
        poly = f"(1.0 / {k}.0 + {s} * {s} * {poly})" if k != 11 else f"(1.0 / {k}.0)"
    return f"2.0 * {s} * (1.0 + {s} * {s} * {poly})"


def _softplus(x: Array) -> Array:
    """log(1 + e^x) in float64, without overflow (NumPy's logaddexp)."""
    return np.logaddexp(0.0, x)


# elu: x above zero, else alpha (e^x - 1). WGSL has no expm1, and exp(x) - 1.0 keeps only about 6e-8 / |x| of
# its relative precision near zero (1e-3 off at x = -1e-4), so below |x| = 0.25 it is the Taylor series to x^6
# (within 5e-7 there, relative), exp(x) - 1.0 elsewhere; the select keeps exp's overflow for x > 0 out.
# alpha = 0 is relu's expression: a compiler may fold 0.0 * e to 0, losing a NaN (as leaky_relu's alpha = 0).
_EXPM1_WGSL = ("select(exp(v) - 1.0, v * (1.0 + v * (1.0 / 2.0 + v * (1.0 / 6.0 + v * (1.0 / 24.0 + v * "
               "(1.0 / 120.0 + v * (1.0 / 720.0)))))), abs(v) < 0.25)")

# TF.js's tf.elu has alpha 1 only; another alpha as Keras' backend does it: alpha * elu(x) below zero, written
# relu(x) + alpha * min(elu(x), 0) (tf.where would ask for tf.greater's gradient, which TF.js lacks).
_ELU_TFJS = "attrs.alpha === 1 ? tf.elu(x) : tf.add(tf.relu(x), tf.mul(attrs.alpha, tf.minimum(tf.elu(x), 0)))"


def _elu(x: Array, alpha: float, derivative: bool = False) -> Array:
    """Keras' and PyTorch's elu (or its derivative, at x) in float64; exp only of x <= 0, so it never overflows."""
    neg = np.minimum(x, 0.0)
    if derivative:
        return np.where(x > 0, 1.0, alpha * np.exp(neg))
    return np.where(x > 0, x, alpha * np.expm1(neg))


UNARY_ROWS: dict[str, Unary] = {r.name: r for r in [
    Unary("relu", "max(x, 0)", _RELU_WGSL, "select(0.0, vb, va > 0.0)",
          ref=lambda x, a: np.maximum(x, 0), ref_grad=lambda y, a: (y > 0).astype(y.dtype),
          torch="torch.relu(x)", tfjs="tf.relu(x)", from_output=True, activation=True,
          piecewise=lambda x, a: (x > 0, 0.0), kinks=(0.0,)),
    Unary("relu6", "min(max(x, 0), 6)", "select(select(v, 6.0, v > 6.0), 0.0, v < 0.0)",
          "select(0.0, vb, va > 0.0 && va < 6.0)",
          ref=lambda x, a: np.clip(x, 0, 6), ref_grad=lambda y, a: ((y > 0) & (y < 6)).astype(y.dtype),
          torch="F.relu6(x)", tfjs="tf.relu6(x)", from_output=True, activation=True,
          piecewise=lambda x, a: ((x > 0) & (x < 6), 6.0 * (x >= 6)), kinks=(0.0, 6.0)),
    Unary("leaky_relu", "x, or alpha * x below zero",
          lambda a: _RELU_WGSL if a.alpha == 0 else "select(v, v * {alpha}, v < 0.0)",  # -inf * 0.0 is NaN
          "select(vb * {alpha}, vb, va > 0.0)",
          ref=lambda x, a: _leaky_relu(x, a.alpha), ref_grad=lambda v, a: np.where(v > 0, 1.0, a.alpha),
          torch="F.leaky_relu(x, attrs.alpha)", tfjs="tf.leakyRelu(x, attrs.alpha)", attrs=LeakyReluAttrs,
          from_output=lambda a: a.alpha >= 0, activation=True,   # y > 0 exactly when x > 0, if alpha >= 0
          piecewise=lambda x, a: (np.where(x > 0, 1.0, a.alpha), 0.0), kinks=(0.0,)),
    Unary("sigmoid", "1 / (1 + exp(-x))", "1.0 / (1.0 + exp(-v))",   # exp(-v) = inf for v << 0: 1/inf = 0
          "vb * (va * (1.0 - va))",
          ref=lambda x, a: sigmoid(x), ref_grad=lambda y, a: y * (1 - y),
          torch="torch.sigmoid(x)", tfjs="tf.sigmoid(x)", from_output=True, activation=True),
    Unary("tanh", "tanh(x)", "select(tanh(v), sign(v), abs(v) > 15.0)",   # tanh from exp can give NaN for big v
          "vb * (1.0 - va * va)",
          ref=lambda x, a: np.tanh(x), ref_grad=lambda y, a: 1 - y * y,
          torch="torch.tanh(x)", tfjs="tf.tanh(x)", from_output=True, activation=True),
    Unary("exp", "e^x", "exp(v)", "vb * va",
          ref=lambda x, a: np.exp(x), ref_grad=lambda y, a: y,
          torch="torch.exp(x)", tfjs="tf.exp(x)", from_output=True, numbers=math.exp),
    Unary("log", "natural logarithm", "log(v)", "vb / va",
          ref=lambda x, a: np.log(x), ref_grad=lambda x, a: 1 / x,
          torch="torch.log(x)", tfjs="tf.log(x)", numbers=math.log, positive=True),
    Unary("abs", "|x|", "abs(v)", "vb * sign(va)",   # sign(0) = 0
          ref=lambda x, a: np.abs(x), ref_grad=lambda x, a: np.sign(x),
          torch="torch.abs(x)", tfjs="tf.abs(x)", numbers=abs,
          piecewise=lambda x, a: (np.sign(x), 0.0), kinks=(0.0,)),
    Unary("gelu", "x * Phi(x), tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
          _gelu_wgsl("v", "0.5 * v * (1.0 + tanh(U))", "select(0.0, v, v > 0.0)"),
          "vb * " + _gelu_wgsl("va", f"0.5 * (1.0 + tanh(U)) + 0.5 * va * (1.0 - tanh(U) * tanh(U)) * {_GELU_C!r} * "
                                     "(1.0 + 0.134145 * va * va)", "select(0.0, 1.0, va > 0.0)"),
          ref=lambda x, a: _gelu(x), ref_grad=lambda x, a: _gelu(x, derivative=True),
          torch="F.gelu(x, approximate='tanh')", tfjs="tf.layers.activation({activation: 'gelu_new'}).apply(x)",
          flops=10, activation=True),
    Unary("silu", "x * sigmoid(x)", "v / (1.0 + exp(-v))",   # exp(-v) = inf for v << 0: v/inf = 0
          "vb * ((1.0 / (1.0 + exp(-va))) * (1.0 + va * (1.0 - 1.0 / (1.0 + exp(-va)))))",
          ref=lambda x, a: x * sigmoid(x), ref_grad=lambda x, a: sigmoid(x) * (1 + x * (1 - sigmoid(x))),
          torch="F.silu(x)", tfjs="tf.layers.activation({activation: 'swish'}).apply(x)",
          flops=4, activation=True),
    Unary("softplus", "log(1 + exp(x))",
          "max(v, 0.0) + " + _log1p_wgsl(_SOFTPLUS_E.format(x="v")),   # NaN: abs, exp and + keep it
          "vb * (1.0 / (1.0 + exp(-va)))",   # f' = sigmoid(x), from x: 1 - exp(-y) would cancel for y << 1
          ref=lambda x, a: _softplus(x), ref_grad=lambda x, a: sigmoid(x),
          torch="F.softplus(x)", tfjs="tf.softplus(x)", flops=20, activation=True),
    Unary("elu", "x, or alpha * (exp(x) - 1) below zero",
          lambda a: _RELU_WGSL if a.alpha == 0 else "select({alpha} * " + _EXPM1_WGSL + ", v, v > 0.0)",
          "select(vb * {alpha} * exp(va), vb, va > 0.0)",   # from x: alpha < 0 makes y > 0 below zero too
          ref=lambda x, a: _elu(x, a.alpha), ref_grad=lambda x, a: _elu(x, a.alpha, derivative=True),
          torch="F.elu(x, attrs.alpha)", tfjs=_ELU_TFJS, attrs=EluAttrs, flops=10, activation=True),
    Unary("neg", "-x", "-v", "-vb",
          ref=lambda x, a: -x, ref_grad=lambda x, a: -np.ones_like(x),
          torch="-x", tfjs="tf.neg(x)", builtin=False, linear=True),
]}


def _add(c: Any) -> list[int | None]:
    return [c.reduce_to(c.dy, k) if c.need[k] else None for k in (0, 1)]


def _sub(c: Any) -> list[int | None]:
    db = c.add("neg", (c.reduce_to(c.dy, 1),)) if c.need[1] else None   # negate after reducing: never larger
    return [c.reduce_to(c.dy, 0) if c.need[0] else None, db]


def _mul(c: Any) -> list[int | None]:
    a, b = c.src(0), c.src(1)
    da = c.reduce_to(c.add("mul", (c.dy, b)), 0) if c.need[0] else None
    db = c.reduce_to(c.add("mul", (c.dy, a)), 1) if c.need[1] else None
    return [da, db]


def _div(c: Any) -> list[int | None]:
    # y = a / b:  da = dy / b,  db = -dy * a / b^2 = -(dy * y) / b
    b = c.src(1)
    da = c.reduce_to(c.add("div", (c.dy, b)), 0) if c.need[0] else None
    db = None
    if c.need[1]:
        t = c.add("div", (c.add("mul", (c.dy, c.id)), b))
        db = c.add("neg", (c.reduce_to(t, 1),))
    return [da, db]


BINARY_ROWS: dict[str, Binary] = {r.name: r for r in [
    Binary("add", "+", "va + vb", lambda a, b: a + b, _add, torch="a + b", tfjs="tf.add(a, b)"),
    Binary("sub", "-", "va - vb", lambda a, b: a - b, _sub, torch="a - b", tfjs="tf.sub(a, b)"),
    Binary("mul", "*", "va * vb", lambda a, b: a * b, _mul, torch="a * b", tfjs="tf.mul(a, b)"),
    Binary("div", "/", "va / vb", lambda a, b: a / b, _div, torch="a / b", tfjs="tf.div(a, b)"),
]}


# ---- the gradient of a unary row: one backward op for every row ----

@dataclass(frozen=True)
class UnaryGradAttrs:
    fn: str                         # the forward op's row (its name)
    attrs: Any                      # the forward node's attrs (leaky_relu: alpha)


def expr(name: str, attrs: Any) -> str:
    """The WGSL body of an elementwise op from its row: over `v` for a unary op, over `va`, `vb` for a
    binary op or a unary op's gradient (unary_grad), attributes filled in as f32 literals. Backward and
    fused kernels use it too."""
    if name in BINARY_ROWS:
        return BINARY_ROWS[name].wgsl
    if name == "unary_grad":
        row, attrs = UNARY_ROWS[attrs.fn], attrs.attrs
        text = row.grad
    else:
        row = UNARY_ROWS[name]
        text = row.wgsl_of(attrs)
    return text.format(**{k: f32(v) for k, v in asdict(attrs).items()})


# ---- lowerings: one kernel a node (unless fused into its producer's epilogue: compiler/fuse.py) ----

def lower_unary(ctx: Any, i: int) -> list[Any]:
    node = ctx.graph.nodes[i]
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "unary.wgsl", wg, [i], comment=ctx.comment(i), x=x, out=out,
                      expr=expr(node.op.name.lower(), node.attrs), n=node.size, wg=WORKGROUP, gx=gx)]


def lower_binary(ctx: Any, i: int) -> list[Any]:
    """Broadcasting binary ops and a unary op's gradient (dx = dy * f'(a): its operands have one shape)."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    a, b, out = kb.read(node.srcs[0]), kb.read(node.srcs[1]), kb.write(i)
    axes = broadcast_axes(node.shape, g.nodes[node.srcs[0]].shape, g.nodes[node.srcs[1]].shape)
    name = node.op.name.lower()
    wg, gx = ctx.elementwise_groups(node.size)
    suffix = "_" + node.attrs.fn if name == "unary_grad" else ""
    return [kb.kernel(ctx.kernel_name(i, suffix), "binary.wgsl", wg, [i], comment=ctx.comment(i), a=a, b=b,
                      out=out, axes=axes, expr=expr(name, node.attrs), n=node.size, wg=WORKGROUP, gx=gx)]


def _unary_grad_shape(shapes: list[Shape], a: UnaryGradAttrs) -> Shape:
    assert shapes[0] == shapes[1], "UNARY_GRAD shapes"   # made by autodiff only: a mismatch is a compiler bug
    return shapes[1]


def _unary_grad_ref(a: UnaryGradAttrs, shape: Shape, saved: Array, dy: Array) -> Array:
    """dy * f'(a): the forward op's row gives f' at its saved value (its output or its input)."""
    return dy * UNARY_ROWS[a.fn].ref_grad(saved, a.attrs)


OPS = {"unary_grad": OpDef(
    "unary_grad", "dx = dy * f'(a) of a unary row: srcs a (the value the row saves: its output or its input) "
    "and dy, one shape; the expression is the row's `grad`",
    UnaryGradAttrs, _unary_grad_shape, _unary_grad_ref, lower_binary,
    lambda shapes, shape, a: sum(math.prod(s) for s in shapes), backward=True)}
