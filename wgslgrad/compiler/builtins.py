"""The spec's builtins: declarations (Input, Output, Train, Adam), layers, ops, losses and a few Python
functions. Each is a plain function `fn(c, ...)` put in this module's BUILTINS table by @builtin; its Python
signature is the one calls are checked against, and `c` (a BuiltinCall) gives checked access to the arguments
and the graph. The builder (build.py) looks names up in BUILTINS and calls through the Builder protocol below,
so this module never imports build.py."""
from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, NoReturn, Protocol

from ..ops.elementwise import BINARY_ROWS, UNARY_ROWS, Unary
from ..ops.registry import OPS as FAMILY_OPS
from . import ast
from .errors import SpecError
from .ir import Graph, InputAttrs, Op, Pos, Shape, ShapeError, conv_out, fmt_shape, op_attrs
from .values import (
    F32_BELOW_1,
    F32_MAX,
    F32_TINY,
    MAX_CONCAT,
    MAX_EPOCHS,
    MAX_LIST,
    MAX_NODES,
    MAX_RANK,
    MAX_WINDOW,
    Arg,
    Builtin,
    Optimizer,
    Scope,
    Tensor,
    check_path,
    check_tensor_name,
    did_you_mean,
    is_num,
    kind,
    number_text,
)

BUILTINS: dict[str, Builtin] = {}   # name -> builtin, filled by @builtin below


class Builder(Protocol):
    """What builtins use of the spec builder (build.py's _Builder)."""
    g: Graph
    scope: Scope
    output_pos: dict[str, Pos]
    train_pos: Pos | None
    train_batch: int | None

    def report(self, e: SpecError) -> None: ...
    def tick(self, work: int = 1) -> None: ...
    def binop(self, op: str, a: Any, b: Any, pos: Pos) -> Any: ...
    def node(self, op: Op, srcs: Sequence[Tensor], attrs: Any, pos: Pos, scope: str) -> Tensor: ...
    def leaf(self, op: Op, shape: Shape, attrs: Any, pos: Pos, scope: str, batched: bool) -> Tensor: ...
    def const(self, v: Any, pos: Pos, scope: str) -> Tensor: ...
    def param(self, pos: Pos, scope: str, leaf: str, shape: Shape, fans: tuple[int, int], trainable: bool,
              share: bool = False) -> Tensor: ...


# ---- builtins


class BuiltinCall:
    """What a builtin sees of its call: checked access to the arguments and the graph."""

    def __init__(self, b: Builder, name: str, pos: Pos, args: dict[str, Arg], extra: list[Arg],
                 target: str | None) -> None:
        self.b, self.name, self.pos, self.args, self.extra, self.target = b, name, pos, args, extra, target

    def at(self, arg: str | None) -> Pos:
        return self.args[arg].pos if arg in self.args else self.pos  # type: ignore[index]

    def fail(self, arg: str | None, msg: str) -> NoReturn:
        raise SpecError(self.at(arg), f"{self.name}() {msg}")

    def want(self, arg: str, what: str, v: Any) -> NoReturn:
        self.fail(arg, f"argument '{arg}' must be {what}, got {kind(v)}")

    def tensor(self, v: Any, arg: str) -> Tensor:
        if not isinstance(v, Tensor):
            self.want(arg, "a tensor", v)
        return v

    def tensor_list(self, v: Any, arg: str) -> list[Tensor]:
        """A non-empty list of at most MAX_CONCAT tensors (concat, stack)."""
        if not isinstance(v, (list, tuple)) or not v:
            self.want(arg, "a non-empty list of tensors", v)
        if len(v) > MAX_CONCAT:
            self.fail(arg, f"joins at most {MAX_CONCAT} tensors, got {len(v):,}")
        for t in v:
            if not isinstance(t, Tensor):
                self.fail(arg, f"argument '{arg}' must be a list of tensors, got a {kind(t)} in it")
        return list(v)

    def fail_extra(self, msg: str) -> NoReturn:
        """An error at the first argument past the ones the builtin takes."""
        raise SpecError(self.extra[0].pos, f"{self.name}() {msg}")

    def image(self, v: Any, arg: str) -> Tensor:
        t = self.tensor(v, arg)
        if len(t.shape) != 4:
            raise SpecError(self.pos, f"{self.name}() expects an NHWC input of rank 4, got {fmt_shape(t.shape)}")
        return t

    def integer(self, v: Any, arg: str, low: int = 1, pos: Pos | None = None) -> int:
        if not isinstance(v, int) or isinstance(v, bool):
            raise SpecError(pos or self.at(arg), f"{self.name}() argument '{arg}' must be an int, got {kind(v)}")
        if v < low:
            raise SpecError(pos or self.at(arg), f"{self.name}() argument '{arg}' must be at least {low}, got {v}")
        return v

    def number(self, v: Any, arg: str) -> float:
        """A number that reaches a kernel: it must fit a float32 (finite, at most F32_MAX in size)."""
        if not is_num(v):
            self.want(arg, "a number", v)
        if not abs(v) <= F32_MAX:   # NaN fails this too
            self.fail(arg, f"argument '{arg}' must be a finite number that fits a 32-bit float (at most "
                           f"{F32_MAX:.4g} in size), got {number_text(v)}")
        return float(v)

    def flag(self, v: Any, arg: str) -> bool:
        if not isinstance(v, bool):
            self.want(arg, "True or False", v)
        return v

    def pair(self, v: Any, arg: str) -> tuple[int, int]:
        """A window's size or stride: an int or a pair, each at least 1 and at most MAX_WINDOW."""
        if isinstance(v, (list, tuple)) and len(v) == 2:
            out = self.integer(v[0], arg), self.integer(v[1], arg)
        elif not isinstance(v, int) or isinstance(v, bool):
            self.want(arg, "an int or a pair of ints", v)
        else:
            out = (self.integer(v, arg),) * 2
        if max(out) > MAX_WINDOW:
            self.fail(arg, f"argument '{arg}' must be at most {MAX_WINDOW:,}, got {max(out):,}")
        return out[0], out[1]

    def choice(self, v: Any, arg: str, options: Sequence[str]) -> str:
        if v not in options or not isinstance(v, str):
            allowed = ", ".join(f"'{o}'" for o in options)
            got = repr(v) if isinstance(v, str) else kind(v)
            self.fail(arg, f"argument '{arg}' must be one of {allowed}, got {got}"
                      + (did_you_mean(v, options) if isinstance(v, str) else ""))
        return v

    def each(self, *checks: Callable[[], Any]) -> list[Any]:
        """The values of every argument check, run in order; when several fail, each is reported (not only
        the first), then the first is raised."""
        out, errors = [], []
        for check in checks:
            try:
                out.append(check())
            except SpecError as e:
                errors.append(e)
                out.append(None)
        if errors:
            for e in errors[1:]:
                self.b.report(e)
            raise errors[0]
        return out

    def activation(self, v: Any) -> str | None:
        if isinstance(v, str) and v in _NOT_ACTIVATIONS:
            self.fail("activation", f"argument 'activation' cannot be {v!r}: {_NOT_ACTIVATIONS[v]}")
        if isinstance(v, Builtin) and v.name in _ACTIVATIONS:
            self.fail("activation", f"argument 'activation' takes a name: write activation='{v.name}'")
        return None if v is None else self.choice(v, "activation", list(_ACTIVATIONS))

    def layer_name(self, v: Any) -> str | None:
        return None if v is None else check_path(v, self.at("name"), f"{self.name}() argument 'name'")

    def padding(self, x: Tensor, k: tuple[int, int], s: tuple[int, int], padding: Any) -> tuple[int, ...]:
        """(top, bottom, left, right), exactly as TensorFlow pads ('same' is asymmetric when odd)."""
        mode = self.choice(padding, "padding", ("same", "valid"))
        try:
            _, t, b = conv_out(x.shape[1], k[0], s[0], mode)
            _, l, r = conv_out(x.shape[2], k[1], s[1], mode)
        except ShapeError as e:
            raise SpecError(self.pos, f"{self.name}(): {e}") from None
        return (t, b, l, r)

    def scope(self, name: str | None = None) -> str:
        return self.b.scope.child(self.name, name)

    def node(self, op: Op | str, srcs: Sequence[Tensor], scope: str, **attrs: Any) -> Tensor:
        """A node of `op` (an Op, or its name: the op families' builtins are below the IR); the keywords are
        its attributes (the fields of ir.attrs_type(op))."""
        op = Op[op.upper()] if isinstance(op, str) else op
        return self.b.node(op, srcs, op_attrs(op, **attrs), self.pos, scope)

    def param(self, scope: str, leaf: str, shape: Shape, fans: tuple[int, int], trainable: bool,
              share: bool = False) -> Tensor:
        return self.b.param(self.pos, scope, leaf, shape, fans, trainable, share)

    def unroll(self, arg: str, steps: int, per_step: int, fixed: int = 8) -> None:
        """Fail unless `steps` time steps of `per_step` graph nodes each, and `fixed` more, fit the nodes a spec
        may make (a recurrent layer unrolls)."""
        room = (MAX_NODES - len(self.b.g.nodes) - fixed) // per_step
        if steps > room:
            self.fail(arg, f"unrolls each of the {steps:,} time steps into {per_step} graph nodes, more than the "
                           f"{MAX_NODES:,} a spec may make: use sequences of at most {max(room, 0):,} steps here")

    def shared(self, share: Any, name: Any) -> bool:
        """share=True: reuse the weights of an earlier call with the same name= (it needs name=, since a
        call-site name is never repeated)."""
        share = self.flag(share, "share")
        if share and name is None:
            self.fail("share", "argument 'share=True' needs name= to say whose weights to reuse (the same "
                               "name= at every call that shares them)")
        return share

    def activate(self, y: Tensor, activation: Any, scope: str) -> Tensor:
        act = self.activation(activation)
        if act is None:
            return y
        op, attrs = _ACTIVATIONS[act]
        return self.b.node(op, [y], attrs, self.pos, scope)


# activation= names: the elementwise rows marked activation, with their default attributes
_ACTIVATIONS: dict[str, tuple[Op, Any]] = {
    r.name: (Op[r.name.upper()], r.attrs()) for r in UNARY_ROWS.values() if r.activation}


_NOT_ACTIVATIONS = {
    "softmax": "softmax is not elementwise; apply softmax() to the layer's output, or give the layer's output "
               "(the logits) to softmax_cross_entropy(), which applies softmax itself",
    "linear": "for no activation, leave the argument out (or pass None)",
}


def builtin(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register `fn(ctx, ...)` as the spec builtin named like it (a trailing '_' dodges Python names);
    its Python signature is the one calls are checked against."""
    name = fn.__name__.rstrip("_")
    ps = list(inspect.signature(fn).parameters.values())[1:]
    BUILTINS[name] = Builtin(
        name, fn, tuple(p.name for p in ps if p.kind is p.POSITIONAL_OR_KEYWORD),
        {p.name: p.default for p in ps if p.default is not p.empty},
        next((p.name for p in ps if p.kind is p.VAR_POSITIONAL), None),
        tuple(p.name for p in ps if p.kind is p.KEYWORD_ONLY))
    return fn


# declarations

@builtin
def Input(c: BuiltinCall, *dims: Any, name: Any = None) -> Tensor:
    if not dims:
        c.fail(None, "needs at least one dimension, e.g. Input(112, 112, 3)")
    if len(dims) > MAX_RANK - 1:
        c.fail(None, f"takes at most {MAX_RANK - 1} dimensions (the batch makes {MAX_RANK}), got {len(dims)}")
    shape = tuple(c.integer(d, "dims", pos=a.pos) for d, a in zip(dims, c.extra))
    if name is None and c.target is not None:
        name = check_tensor_name(c.target, c.pos, "Input() name", derived=True)
    elif name is not None:
        name = check_tensor_name(name, c.at("name"), "Input() argument 'name'")
    else:
        name = f"input_{len(c.b.g.inputs)}"
    if name in c.b.g.inputs:
        c.fail("name", f"name '{name}' is already used by another input")
    t = c.b.leaf(Op.INPUT, (c.b.g.batch, *shape), InputAttrs(name), c.pos, name, True)
    c.b.g.inputs[name] = t.id
    return t


@builtin
def Output(c: BuiltinCall, x: Any, name: Any = None) -> None:
    t = c.tensor(x, "x")
    outputs = c.b.g.outputs
    if name is None:
        expr = c.args["x"].expr
        name = expr.id if isinstance(expr, ast.Name) else f"output_{len(outputs)}"
        name = check_tensor_name(name, c.pos, "Output() name", derived=True)
    else:
        name = check_tensor_name(name, c.at("name"), "Output() argument 'name'")
    if name in outputs:
        c.fail("name", f"name '{name}' is already used by the Output at {c.b.output_pos[name]}")
    outputs[name] = t.id
    c.b.output_pos[name] = c.pos


@builtin
def Adam(c: BuiltinCall, lr: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-7) -> Optimizer:
    def step_size(v: Any, k: str) -> float:
        v = c.number(v, k)
        if not v > 0:
            c.fail(k, f"argument '{k}' must be positive, got {v}")
        if v < F32_TINY:   # rounds to 0 (or loses its precision) in the float32 kernels
            c.fail(k, f"argument '{k}' must be at least {F32_TINY:.4g} (the smallest normal float32), got {v}")
        return v

    def beta(v: Any, k: str) -> float:
        v = c.number(v, k)
        if not 0 <= v < 1:
            c.fail(k, f"argument '{k}' must be in [0, 1), got {v}")
        if v > F32_BELOW_1:   # 1.0 in float32: Adam's bias correction would divide by zero
            c.fail(k, f"argument '{k}' must be at most {F32_BELOW_1!r} (it is 1.0 as a float32), got {v}")
        return v

    lr, b1, b2, eps = c.each(lambda: step_size(lr, "lr"), lambda: beta(beta1, "beta1"), lambda: beta(beta2, "beta2"),
                             lambda: step_size(eps, "eps"))
    return Optimizer("adam", lr, b1, b2, eps)


@builtin
def Train(c: BuiltinCall, loss: Any, optimizer: Any = None, batch: Any = None, epochs: Any = 10) -> None:
    b = c.b
    if b.train_pos is not None:
        c.fail(None, f"is already called (at {b.train_pos}); a spec trains one loss")
    b.train_pos = c.pos
    t = c.tensor(loss, "loss")
    if t.shape != ():
        c.fail("loss", f"argument 'loss' must be a scalar, got shape {fmt_shape(t.shape)}; reduce it with "
                       "mean() or use a loss such as mse()")
    opt = Optimizer("adam", 0.001, 0.9, 0.999, 1e-7) if optimizer is None else optimizer
    if not isinstance(opt, Optimizer):
        c.want("optimizer", "an optimizer such as Adam(lr=0.001)", opt)
    b.train_batch = None if batch is None else c.integer(batch, "batch")
    epochs = c.integer(epochs, "epochs")
    if epochs > MAX_EPOCHS:
        c.fail("epochs", f"argument 'epochs' must be at most {MAX_EPOCHS:,}, got {number_text(epochs)}")
    b.g.loss = t.id
    b.g.train = {"optimizer": opt.name, "lr": opt.lr, "beta1": opt.beta1, "beta2": opt.beta2, "eps": opt.eps,
                 "batch": b.g.batch, "epochs": epochs}


# layers: weights Glorot-normal with Keras' fans (kh*kw*in, kh*kw*out), biases zero
# (conv2d, depthwise_conv2d, separable_conv2d and dense are ops/linear.py's)


# other ops


def _unary_builtin(row: Unary) -> None:
    """The builtin of an elementwise row: `name(x, attr=default, ...)`; a plain number gives a number where
    the row says how (exp, log, abs); every attribute is a number that reaches a kernel (a float32)."""
    attrs = fields(row.attrs)

    def fn(c: BuiltinCall, x: Any, *values: Any) -> Any:
        if row.numbers is not None and is_num(x):
            try:
                return row.numbers(x)
            except (ValueError, OverflowError) as e:
                c.fail("x", f"cannot be computed for {x}: {e}")
        t = c.tensor(x, "x")
        checked = c.each(*(lambda v=v, f=f: c.number(v, f.name) for v, f in zip(values, attrs)))
        return c.node(Op[row.name.upper()], [t], c.scope(), **{f.name: v for f, v in zip(attrs, checked)})
    fn.__name__ = row.name
    fn.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in ("c", "x")] + [
        inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=f.default) for f in attrs])
    builtin(fn)


for _row in UNARY_ROWS.values():
    if _row.builtin:
        _unary_builtin(_row)


for _def in FAMILY_OPS.values():   # the op families' builtins (ops/registry.py): conv2d, dense, pools, losses, ...
    for _fn in (_def.builtin, *_def.more_builtins):   # separable_conv2d: depthwise's
        if _fn is not None:
            builtin(_fn)


@builtin
def reshape(c: BuiltinCall, x: Any, dims: Any) -> Tensor:
    x = c.tensor(x, "x")
    items = dims if isinstance(dims, (list, tuple)) else [dims]
    if len(items) > MAX_RANK - 1:
        c.fail("dims", f"argument 'dims' takes at most {MAX_RANK - 1} sizes (the batch makes {MAX_RANK}), got "
                       f"{len(items)}")
    shape = [c.integer(d, "dims", low=-1) for d in items]
    if 0 in shape or shape.count(-1) > 1:
        c.fail("dims", "argument 'dims' takes positive sizes and at most one -1")
    lead = x.shape[:1] if x.batched else ()
    if -1 in shape:   # the one size left to infer
        known, total = -math.prod(shape), math.prod(x.shape[len(lead):])
        if total % known:
            raise SpecError(c.pos, f"cannot reshape {fmt_shape(x.shape)} to {fmt_shape((*lead, *shape))}")
        shape[shape.index(-1)] = total // known
    return c.node(Op.RESHAPE, [x], c.scope(), shape=(*lead, *shape))


@builtin
def flatten(c: BuiltinCall, x: Any) -> Tensor:
    x = c.tensor(x, "x")
    lead = x.shape[:1] if x.batched else ()
    return c.node(Op.RESHAPE, [x], c.scope(), shape=(*lead, math.prod(x.shape[len(lead):])))


def _binary_builtin(name: str, op: str) -> None:
    def fn(c: BuiltinCall, a: Any, b: Any) -> Any:
        return c.b.binop(op, a, b, c.pos)
    fn.__name__ = name
    builtin(fn)


for _brow in BINARY_ROWS.values():
    _binary_builtin(_brow.name, _brow.symbol)


# Python builtins (compile-time numbers and lists)


@builtin
def range_(c: BuiltinCall, *args: Any) -> list[int]:
    if not 1 <= len(args) <= 3:
        c.fail(None, f"takes 1 to 3 arguments, got {len(args)}")
    for v, a in zip(args, c.extra):
        if not isinstance(v, int) or isinstance(v, bool):
            raise SpecError(a.pos, f"range() arguments must be ints, got {kind(v)}")
    if len(args) == 3 and args[2] == 0:
        c.fail(None, "step must not be zero")
    r = range(*args)
    n = max(0, -(-(r.stop - r.start) // r.step))   # len() overflows on huge ranges
    if n > MAX_LIST:
        c.fail(None, f"of {n:,} numbers is too long to unroll (at most {MAX_LIST:,})")
    c.b.tick(n)
    return list(r)


@builtin
def len_(c: BuiltinCall, x: Any) -> int:
    if not isinstance(x, (list, tuple, str)):
        c.want("x", "a list, tuple or str", x)
    return len(x)


def _extreme(c: BuiltinCall, values: tuple[Any, ...], pick: Callable[..., Any]) -> Any:
    items = values[0] if len(values) == 1 and isinstance(values[0], (list, tuple)) else values
    if not items:
        c.fail(None, "needs at least one value")
    if not all(is_num(v) or isinstance(v, bool) for v in items) and not all(isinstance(v, str) for v in items):
        c.fail(None, "works on numbers (or strings) only")
    return pick(items)


@builtin
def min_(c: BuiltinCall, *values: Any) -> Any:
    return _extreme(c, values, min)


@builtin
def max_(c: BuiltinCall, *values: Any) -> Any:
    return _extreme(c, values, max)


@builtin
def int_(c: BuiltinCall, x: Any) -> int:
    try:
        if isinstance(x, (int, float, str)):
            return int(x)
    except (ValueError, OverflowError):
        c.fail("x", f"cannot convert {x!r} to an int")
    c.want("x", "a number or a str", x)


@builtin
def float_(c: BuiltinCall, x: Any) -> float:
    try:
        if isinstance(x, (int, float, str)):
            return float(x)
    except (ValueError, OverflowError):
        c.fail("x", f"cannot convert {x!r} to a float")
    c.want("x", "a number or a str", x)
