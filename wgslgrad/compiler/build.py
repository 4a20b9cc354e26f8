"""AST -> forward IR Graph. The spec is interpreted at compile time, never eval'd or exec'd.

Values are Python ints, floats, bools, strs, None, lists and tuples, plus Tensor (a node of the graph),
Function (a user `def`, inlined at each call), Builtin and Optimizer. Every error is collected with its
position and reported together at the end; a failed expression evaluates to POISON, which later uses pass
along silently so one mistake gives one message.
"""
from __future__ import annotations

import difflib
import inspect
import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from . import ast
from .errors import SpecError, SpecErrors
from .ir import Graph, Op, Pos, Shape, ShapeError, conv_out, fmt_shape
from .parse import UNSUPPORTED_KEYWORDS

MAX_DEPTH = 50            # nested user-function calls
MAX_STEPS = 200_000       # statements and calls executed while unrolling
MAX_LIST = 100_000        # longest range() a loop may unroll


# ---- values


@dataclass(frozen=True)
class Tensor:
    id: int
    shape: Shape
    batched: bool   # derives from an Input, so its first axis is the batch


class _Poison:
    def __repr__(self) -> str:
        return "<error>"


POISON: Any = _Poison()


@dataclass(frozen=True)
class Arg:
    value: Any
    pos: Pos
    expr: ast.Expr | None = None


@dataclass(frozen=True, eq=False)
class Function:
    defn: ast.FuncDef
    defaults: dict[str, Arg]   # evaluated where the def runs, as in Python
    env: Env


@dataclass(frozen=True, eq=False)
class Builtin:
    name: str
    fn: Callable[..., Any]
    params: tuple[str, ...]
    defaults: dict[str, Any]
    varargs: str | None
    kwonly: tuple[str, ...]


@dataclass(frozen=True)
class Optimizer:
    name: str
    lr: float
    beta1: float
    beta2: float
    eps: float


def kind(v: Any) -> str:
    """The type name used in messages."""
    if isinstance(v, Tensor):
        return "tensor"
    if isinstance(v, (Function, Builtin)):
        return "function"
    if isinstance(v, Optimizer):
        return "optimizer"
    return "None" if v is None else type(v).__name__


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def has_poison(v: Any) -> bool:
    return v is POISON or (isinstance(v, (list, tuple)) and any(has_poison(x) for x in v))


class Env:
    """Variables of the module or of one function call; lookups fall back to the defining scope."""

    def __init__(self, parent: Env | None = None) -> None:
        self.vars: dict[str, Any] = {}
        self.parent = parent

    def lookup(self, name: str) -> Any:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        if name in BUILTINS:
            return BUILTINS[name]
        raise KeyError(name)

    def visible(self) -> list[str]:
        names = set(BUILTINS)
        env: Env | None = self
        while env is not None:
            names |= env.vars.keys()
            env = env.parent
        return sorted(names)


@dataclass
class Scope:
    """A layer path; `child` names the next call of `op` in it: `op_K`, or the name= given."""
    path: str
    counts: dict[str, int] = field(default_factory=dict)

    def child(self, op: str, name: str | None = None) -> str:
        k = self.counts.get(op, 0)
        self.counts[op] = k + 1
        part = name if name is not None else f"{op}_{k}"
        return f"{self.path}/{part}" if self.path else part


class _Poisoned(Exception):
    """Errors were already reported; the expression's value is POISON."""


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class _TooDeep(Exception):
    """The recursion limit was hit (and reported); unwinds to the outermost user-function call."""


class _Abort(Exception):
    """Stop building: the spec would not finish unrolling."""


# ---- entry point


def build(module: ast.Module, source: str, filename: str, batch: int | None = None) -> Graph:
    """Interpret the spec and return its forward graph, or raise SpecErrors listing every problem.

    The batch is `batch` if given, else Train(batch=...) (found by a pre-scan, since shapes need it before
    Train runs at the end), else 1."""
    chosen = batch or _prescan_batch(module) or 1
    b = _Builder(filename, chosen)
    b.run(module)
    if batch is None and not b.errors and b.train_batch not in (None, chosen):
        # Train's batch was not a top-level literal: build again now that it is known.
        b = _Builder(filename, b.train_batch)  # type: ignore[arg-type]
        b.run(module)
    if b.errors:
        raise SpecErrors(b.errors, source)
    return b.g


def _prescan_batch(module: ast.Module) -> int | None:
    """The batch of a top-level `Train(..., batch=<int literal>)`, if there is one."""
    for s in module.body:
        call = s.value if isinstance(s, ast.ExprStmt) else None
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Train":
            for k in call.keywords:
                if k.name == "batch" and isinstance(k.value, ast.Num) and isinstance(k.value.value, int):
                    return k.value.value if k.value.value >= 1 else None
    return None


# ---- the interpreter


class _Builder:
    def __init__(self, filename: str, batch: int) -> None:
        self.file = filename
        self.g = Graph(batch=batch)
        self.errors: list[SpecError] = []
        self._seen: set[tuple[Pos, str]] = set()
        self.globals = Env()
        self.scope = Scope("")
        self.calls: list[tuple[str, Pos]] = []   # user-function calls in progress, for error notes
        self.steps = 0
        self.param_pos: dict[str, Pos] = {}
        self.output_pos: dict[str, Pos] = {}
        self.declared: set[str] = set()          # Output/Train were called (even with bad arguments)
        self.train_pos: Pos | None = None
        self.train_batch: int | None = None

    def report(self, e: SpecError) -> None:
        if (e.pos, e.msg) in self._seen:
            return
        self._seen.add((e.pos, e.msg))
        if not e.note and self.calls:
            e = SpecError(e.pos, e.msg, _call_note(self.calls))
        self.errors.append(e)

    def run(self, module: ast.Module) -> None:
        for s in module.body:
            try:
                self.exec_block([s], self.globals)
            except _Abort:
                self.report(SpecError(s.pos, f"the spec takes more than {MAX_STEPS:,} steps to unroll; is a "
                                             "loop or a recursion too long?"))
                return
            except RecursionError:
                pos = self.calls[-1][1] if self.calls else s.pos
                self.report(SpecError(pos, "the spec nests expressions or calls too deeply"))
                return
        if "Output" not in self.declared:
            pos = module.body[-1].pos if module.body else module.pos
            self.report(SpecError(pos, "the spec has no Output(...); add Output(tensor) to name the model's "
                                       "result"))

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _Abort()

    # statements

    def exec_block(self, body: Sequence[ast.Stmt], env: Env) -> None:
        for s in body:
            try:
                self.exec_stmt(s, env)
            except SpecError as e:
                self.report(e)
                self.poison_assigned([s], env)
            except _Poisoned:
                self.poison_assigned([s], env)

    def exec_stmt(self, s: ast.Stmt, env: Env) -> None:
        self.tick()
        if isinstance(s, ast.Assign):
            target = s.target.id if isinstance(s.target, ast.Name) else None
            self.assign(s.target, self.eval(s.value, env, target), env)
        elif isinstance(s, ast.ExprStmt):
            self.eval(s.value, env)
        elif isinstance(s, ast.Return):
            raise _Return(None if s.value is None else self.eval(s.value, env))
        elif isinstance(s, ast.FuncDef):
            defaults = {p.name: Arg(self.eval(p.default, env), p.default.pos, p.default)
                        for p in s.params if p.default is not None}
            env.vars[s.name] = Function(s, defaults, env)
        elif isinstance(s, ast.If):
            cond = self.eval(s.test, env)
            if cond is POISON:
                self.poison_assigned(s.body + s.orelse, env)
            else:
                self.exec_block(s.body if self.truth(cond, s.test.pos, "an if condition") else s.orelse, env)
        elif isinstance(s, ast.For):
            items = self.eval(s.iter, env)
            if items is POISON:
                self.poison_assigned([s], env)
                return
            if not isinstance(items, (list, tuple)):
                raise SpecError(s.iter.pos, f"a for loop needs a list, a tuple or range(...), got {kind(items)}")
            for item in items:
                self.tick()
                self.assign(s.target, item, env)
                self.exec_block(s.body, env)
        else:
            assert isinstance(s, ast.Pass), s

    def assign(self, target: ast.Expr, value: Any, env: Env) -> None:
        if isinstance(target, ast.Name):
            env.vars[target.id] = value
            return
        assert isinstance(target, (ast.TupleExpr, ast.ListExpr)), target
        if value is POISON:
            values = [POISON] * len(target.elts)
        elif not isinstance(value, (list, tuple)):
            raise SpecError(target.pos, f"cannot unpack {kind(value)} into {len(target.elts)} names")
        elif len(value) != len(target.elts):
            raise SpecError(target.pos, f"cannot unpack {len(value)} values into {len(target.elts)} names")
        else:
            values = list(value)
        for t, v in zip(target.elts, values):
            self.assign(t, v, env)

    def poison_assigned(self, body: Sequence[ast.Stmt], env: Env) -> None:
        """After a statement fails (or an if/for cannot run), the names it would set become POISON,
        so later uses do not add 'unknown name' errors."""
        def names(t: ast.Expr) -> list[str]:
            if isinstance(t, ast.Name):
                return [t.id]
            return [n for x in getattr(t, "elts", ()) for n in names(x)]
        for s in body:
            if isinstance(s, ast.Assign):
                targets = names(s.target)
            elif isinstance(s, ast.For):
                targets = names(s.target)
                self.poison_assigned(s.body, env)
            elif isinstance(s, ast.If):
                targets = []
                self.poison_assigned(s.body + s.orelse, env)
            else:
                targets = [s.name] if isinstance(s, ast.FuncDef) else []
            for n in targets:
                env.vars[n] = POISON

    # expressions

    def eval(self, e: ast.Expr, env: Env, target: str | None = None) -> Any:
        """The value of `e`; an error is reported and gives POISON."""
        try:
            return self._eval(e, env, target)
        except SpecError as err:
            self.report(err)
        except _Poisoned:
            pass
        return POISON

    def _eval(self, e: ast.Expr, env: Env, target: str | None) -> Any:
        if isinstance(e, (ast.Num, ast.Str, ast.Const)):
            return e.value
        if isinstance(e, ast.Name):
            try:
                return env.lookup(e.id)
            except KeyError:
                raise SpecError(e.pos, _unknown(e.id, env.visible())) from None
        if isinstance(e, ast.ListExpr):
            return [self.eval(x, env) for x in e.elts]
        if isinstance(e, ast.TupleExpr):
            return tuple(self.eval(x, env) for x in e.elts)
        if isinstance(e, ast.Call):
            return self.call(e, env, target)
        if isinstance(e, ast.BinOp):
            return self.binop(e.op, self.eval(e.left, env), self.eval(e.right, env), e.pos)
        if isinstance(e, ast.UnaryOp):
            return self.unary(e.op, self.eval(e.operand, env), e.operand.pos, e.pos)
        if isinstance(e, ast.BoolOp):
            v: Any = None
            for x in e.values:   # short-circuit, returning the deciding operand, as Python does
                v = self.eval(x, env)
                if v is POISON or self.truth(v, x.pos, f"an operand of '{e.op}'") == (e.op == "or"):
                    return v
            return v
        if isinstance(e, ast.Compare):
            return self.compare(e, env)
        if isinstance(e, ast.IfExp):
            cond = self.eval(e.test, env)
            if cond is POISON:
                return POISON
            return self.eval(e.body if self.truth(cond, e.test.pos, "a condition") else e.orelse, env)
        assert isinstance(e, ast.Subscript), e
        return self.subscript(self.eval(e.value, env), self.eval(e.index, env), e)

    def truth(self, v: Any, pos: Pos, what: str) -> bool:
        if isinstance(v, Tensor):
            raise SpecError(pos, f"{what} must be a compile-time constant (a number, bool, string, None or "
                                 f"list), got a tensor")
        return bool(v)

    def subscript(self, v: Any, i: Any, e: ast.Subscript) -> Any:
        if v is POISON or i is POISON:
            return POISON
        if isinstance(v, Tensor):
            raise SpecError(e.pos, "tensors cannot be indexed")
        if not isinstance(v, (list, tuple, str)):
            raise SpecError(e.pos, f"{kind(v)} cannot be indexed")
        if not isinstance(i, int) or isinstance(i, bool):
            raise SpecError(e.index.pos, f"an index must be an int, got {kind(i)}")
        if not -len(v) <= i < len(v):
            raise SpecError(e.index.pos, f"index {i} is out of range for a {kind(v)} of length {len(v)}")
        return v[i]

    def compare(self, e: ast.Compare, env: Env) -> Any:
        left = self.eval(e.left, env)
        for op, right_e in zip(e.ops, e.comparators):
            right = self.eval(right_e, env)
            if left is POISON or right is POISON:
                return POISON
            if isinstance(left, Tensor) or isinstance(right, Tensor):
                raise SpecError(e.pos, "tensors cannot be compared: comparisons are worked out at compile time")
            try:
                ok = _COMPARE[op](left, right)
            except TypeError:
                raise SpecError(e.pos, f"cannot compare {kind(left)} and {kind(right)} with '{op}'") from None
            if not ok:
                return False
            left = right
        return True

    def unary(self, op: str, v: Any, operand_pos: Pos, pos: Pos) -> Any:
        if v is POISON:
            return POISON
        if op == "not":
            return not self.truth(v, operand_pos, "the operand of 'not'")
        if isinstance(v, Tensor):
            return v if op == "+" else self.node(Op.NEG, [v], {}, pos, self.scope.child("neg"))
        if not isinstance(v, (int, float)):
            raise SpecError(pos, f"bad operand type for unary '{op}': {kind(v)}")
        return -v if op == "-" else +v

    def binop(self, op: str, a: Any, b: Any, pos: Pos) -> Any:
        """Numbers follow Python; a tensor on either side builds an ADD/SUB/MUL/DIV node."""
        if a is POISON or b is POISON:
            return POISON
        if isinstance(a, Tensor) or isinstance(b, Tensor):
            return self.tensor_binop(op, a, b, pos)
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            if op == "+" and isinstance(a, str) and isinstance(b, str):
                raise SpecError(pos, "string concatenation with '+' is not supported")
            raise SpecError(pos, f"unsupported operand types for '{op}': {kind(a)} and {kind(b)}")
        if op == "**" and isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1 \
                and b * abs(a).bit_length() > 1024:
            raise SpecError(pos, "number too large")
        try:
            r = _ARITH[op](a, b)
        except ZeroDivisionError:
            raise SpecError(pos, "division by zero") from None
        except OverflowError:
            raise SpecError(pos, "number too large") from None
        if isinstance(r, complex):
            raise SpecError(pos, "the result is a complex number")
        if isinstance(r, int) and r.bit_length() > 1024:
            raise SpecError(pos, "number too large")
        return r

    def tensor_binop(self, op: str, a: Any, b: Any, pos: Pos) -> Tensor:
        if op not in _TENSOR_OPS:
            raise SpecError(pos, f"operator '{op}' is not supported on tensors (only + - * /)")
        for v in (a, b):
            if not (isinstance(v, Tensor) or is_num(v) or _is_num_list(v)):
                raise SpecError(pos, f"unsupported operand types for '{op}': {kind(a)} and {kind(b)} (a tensor "
                                     "combines with a tensor, a number or a list of numbers)")
        name, ir_op = _TENSOR_OPS[op]
        scope = self.scope.child(name)
        ta, tb = (v if isinstance(v, Tensor) else self.const(v, pos, scope) for v in (a, b))
        return self.node(ir_op, [ta, tb], {}, pos, scope)

    # calls

    def call(self, e: ast.Call, env: Env, target: str | None) -> Any:
        f = self.eval(e.func, env)
        args = [Arg(self.eval(a, env), a.pos, a) for a in e.args]
        kwargs = {k.name: Arg(self.eval(k.value, env), k.pos, k.value) for k in e.keywords}
        self.tick()
        if f is POISON:
            return POISON
        if isinstance(f, Builtin):
            return self.call_builtin(f, args, kwargs, e, target)
        if isinstance(f, Function):
            return self.call_function(f, args, kwargs, e)
        raise SpecError(e.pos, f"{kind(f)} is not callable")

    def bind(self, fname: str, params: Sequence[str], defaults: dict[str, Arg], varargs: str | None,
             kwonly: Sequence[str], args: list[Arg], kwargs: dict[str, Arg], pos: Pos) -> tuple[dict[str, Arg], list[Arg]]:
        """Match arguments to parameters as Python does; every mismatch is reported, then _Poisoned."""
        errors = []
        bound = dict(zip(params, args))
        extra = args[len(params):]
        if extra and not varargs:
            required = sum(p not in defaults for p in params)
            takes = (f"{len(params)} positional argument{'s' * (len(params) != 1)}" if required == len(params)
                     else f"from {required} to {len(params)} positional arguments")
            errors.append(SpecError(extra[0].pos, f"{fname}() takes {takes} but {len(args)} were given"))
        for k, a in kwargs.items():
            if k not in params and k not in kwonly:
                errors.append(SpecError(a.pos, f"{fname}() got an unexpected keyword argument '{k}'"
                                               + _did_you_mean(k, [*params, *kwonly])))
            elif k in bound:
                errors.append(SpecError(a.pos, f"{fname}() got multiple values for argument '{k}'"))
            else:
                bound[k] = a
        for p in (*params, *kwonly):
            if p not in bound and p in defaults:
                bound[p] = defaults[p]
        missing = [f"'{p}'" for p in (*params, *kwonly) if p not in bound]
        if missing:
            names = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
            errors.append(SpecError(pos, f"{fname}() missing required argument{'s' * (len(missing) > 1)} {names}"))
        if errors:
            for err in errors:
                self.report(err)
            raise _Poisoned()
        return bound, extra

    def call_builtin(self, f: Builtin, args: list[Arg], kwargs: dict[str, Arg], call: ast.Call,
                     target: str | None) -> Any:
        defaults = {k: Arg(v, call.pos) for k, v in f.defaults.items()}
        bound, extra = self.bind(f.name, f.params, defaults, f.varargs, f.kwonly, args, kwargs, call.pos)
        if f.name in ("Output", "Train"):
            self.declared.add(f.name)
        if any(has_poison(a.value) for a in [*bound.values(), *extra]):
            return POISON
        c = Ctx(self, f.name, call.pos, bound, extra, target)
        return f.fn(c, *(bound[p].value for p in f.params), *(a.value for a in extra),
                    **{k: bound[k].value for k in f.kwonly})

    def call_function(self, f: Function, args: list[Arg], kwargs: dict[str, Arg], call: ast.Call) -> Any:
        params = [p.name for p in f.defn.params]
        scope_name = None
        if "name" in kwargs and "name" not in params:   # name= renames the call's scope
            a = kwargs.pop("name")
            scope_name = _check_path(a.value, a.pos, f"{f.defn.name}() argument 'name'")
        bound, _ = self.bind(f.defn.name, params, f.defaults, None, (), args, kwargs, call.pos)
        if len(self.calls) >= MAX_DEPTH:
            self.report(SpecError(call.pos, f"recursion too deep: more than {MAX_DEPTH} nested calls of user "
                                            f"functions (calling {f.defn.name}())"))
            raise _TooDeep()
        env = Env(f.env)
        env.vars.update({k: a.value for k, a in bound.items()})
        outer = self.scope
        self.scope = Scope(outer.child(f.defn.name, scope_name))
        self.calls.append((f.defn.name, call.pos))
        try:
            self.exec_block(f.defn.body, env)
            return None
        except _Return as r:
            return r.value
        except _TooDeep:   # unwind the whole recursion: its outermost call gives POISON
            if len(self.calls) > 1:
                raise
            raise _Poisoned() from None
        finally:
            self.calls.pop()
            self.scope = outer

    # graph

    def node(self, op: Op, srcs: Sequence[Tensor], arg: dict[str, Any], pos: Pos, scope: str) -> Tensor:
        try:
            i = self.g.add(op, tuple(t.id for t in srcs), arg, pos=pos, scope=scope)
        except ShapeError as e:
            raise SpecError(pos, str(e)) from None
        return Tensor(i, self.g.nodes[i].shape, any(t.batched for t in srcs))

    def leaf(self, op: Op, shape: Shape, arg: dict[str, Any], pos: Pos, scope: str, batched: bool) -> Tensor:
        i = self.g.add(op, (), arg, pos=pos, scope=scope, shape=shape)
        return Tensor(i, tuple(shape), batched)

    def const(self, v: Any, pos: Pos, scope: str) -> Tensor:
        """A number (shape ()) or a flat list of numbers (shape (n,)) as a CONST node."""
        values = tuple(float(x) for x in v) if isinstance(v, (list, tuple)) else (float(v),)
        shape = (len(values),) if isinstance(v, (list, tuple)) else ()
        return self.leaf(Op.CONST, shape, {"value": values}, pos, scope, False)

    def param(self, pos: Pos, scope: str, leaf: str, shape: Shape, fans: tuple[int, int],
              trainable: bool) -> Tensor:
        path = f"{scope}/{leaf}"
        if path in self.param_pos:
            first = self.param_pos[path]
            raise SpecError(pos, f"parameter '{path}' is already defined (at {first}); give this call a "
                                 f"different name=")
        self.param_pos[path] = pos
        init = "zeros" if leaf == "bias" else "glorot_normal"
        t = self.leaf(Op.PARAM, shape, {"name": path, "init": init, "fan_in": fans[0], "fan_out": fans[1],
                                        "trainable": trainable}, pos, scope, False)
        self.g.params[path] = t.id
        return t


_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_TENSOR_OPS = {"+": ("add", Op.ADD), "-": ("sub", Op.SUB), "*": ("mul", Op.MUL), "/": ("div", Op.DIV)}


def _is_num_list(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(is_num(x) for x in v)


def _call_note(calls: list[tuple[str, Pos]]) -> str:
    """`in f() called at a.py:3:5, in g() called at a.py:9:1`, innermost first; repeats (recursion) folded."""
    parts: list[list[Any]] = []
    for f, p in reversed(calls):
        if parts and parts[-1][:2] == [f, p]:
            parts[-1][2] += 1
        else:
            parts.append([f, p, 1])
    text = [f"in {f}() called at {p}" + (f" ({n} times)" if n > 1 else "") for f, p, n in parts[:3]]
    return ", ".join(text) + (", ..." if len(parts) > 3 else "")


def _did_you_mean(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _unknown(name: str, visible: list[str]) -> str:
    if name in UNSUPPORTED_KEYWORDS:
        return UNSUPPORTED_KEYWORDS[name]
    return f"unknown name '{name}'" + _did_you_mean(name, visible)


_PATH = re.compile(r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*")


def _check_path(v: Any, pos: Pos, what: str) -> str:
    if not isinstance(v, str):
        raise SpecError(pos, f"{what} must be a str, got {kind(v)}")
    if not _PATH.fullmatch(v):
        raise SpecError(pos, f"{what} must be a name or a path like 'dense0/conv1', got {v!r}")
    return v


# ---- builtins


class Ctx:
    """What a builtin sees of its call: checked access to the arguments and the graph."""

    def __init__(self, b: _Builder, name: str, pos: Pos, args: dict[str, Arg], extra: list[Arg],
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
        if not is_num(v):
            self.want(arg, "a number", v)
        return float(v)

    def flag(self, v: Any, arg: str) -> bool:
        if not isinstance(v, bool):
            self.want(arg, "True or False", v)
        return v

    def pair(self, v: Any, arg: str) -> tuple[int, int]:
        if isinstance(v, (list, tuple)) and len(v) == 2:
            return self.integer(v[0], arg), self.integer(v[1], arg)
        if not isinstance(v, int) or isinstance(v, bool):
            self.want(arg, "an int or a pair of ints", v)
        n = self.integer(v, arg)
        return n, n

    def choice(self, v: Any, arg: str, options: Sequence[str]) -> str:
        if v not in options or not isinstance(v, str):
            allowed = ", ".join(f"'{o}'" for o in options)
            got = repr(v) if isinstance(v, str) else kind(v)
            self.fail(arg, f"argument '{arg}' must be one of {allowed}, got {got}"
                      + (_did_you_mean(v, options) if isinstance(v, str) else ""))
        return v

    def layer_name(self, v: Any) -> str | None:
        return None if v is None else _check_path(v, self.at("name"), f"{self.name}() argument 'name'")

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

    def node(self, op: Op, srcs: Sequence[Tensor], scope: str, **arg: Any) -> Tensor:
        return self.b.node(op, srcs, arg, self.pos, scope)

    def param(self, scope: str, leaf: str, shape: Shape, fans: tuple[int, int], trainable: bool) -> Tensor:
        return self.b.param(self.pos, scope, leaf, shape, fans, trainable)

    def activate(self, y: Tensor, activation: Any, scope: str) -> Tensor:
        act = None if activation is None else self.choice(activation, "activation", list(_ACTIVATIONS))
        if act is None:
            return y
        op, arg = _ACTIVATIONS[act]
        return self.node(op, [y], scope, **arg)


BUILTINS: dict[str, Builtin] = {}
_ACTIVATIONS: dict[str, tuple[Op, dict[str, Any]]] = {
    "relu": (Op.RELU, {}), "relu6": (Op.RELU6, {}), "leaky_relu": (Op.LEAKY_RELU, {"alpha": 0.2}),
    "sigmoid": (Op.SIGMOID, {}), "tanh": (Op.TANH, {})}


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
def Input(c: Ctx, *dims: Any, name: Any = None) -> Tensor:
    if not dims:
        c.fail(None, "needs at least one dimension, e.g. Input(112, 112, 3)")
    shape = tuple(c.integer(d, "dims", pos=a.pos) for d, a in zip(dims, c.extra))
    name = c.target if name is None else _check_path(name, c.at("name"), "Input() argument 'name'")
    if name is None:
        name = f"input_{len(c.b.g.inputs)}"
    if name in c.b.g.inputs:
        c.fail("name", f"name '{name}' is already used by another input")
    t = c.b.leaf(Op.INPUT, (c.b.g.batch, *shape), {"name": name}, c.pos, name, True)
    c.b.g.inputs[name] = t.id
    return t


@builtin
def Output(c: Ctx, x: Any, name: Any = None) -> None:
    t = c.tensor(x, "x")
    outputs = c.b.g.outputs
    if name is None:
        expr = c.args["x"].expr
        name = expr.id if isinstance(expr, ast.Name) else f"output_{len(outputs)}"
    name = _check_path(name, c.at("name"), "Output() argument 'name'")
    if name in outputs:
        c.fail("name", f"name '{name}' is already used by the Output at {c.b.output_pos[name]}")
    outputs[name] = t.id
    c.b.output_pos[name] = c.pos


@builtin
def Adam(c: Ctx, lr: Any = 0.001, beta1: Any = 0.9, beta2: Any = 0.999, eps: Any = 1e-7) -> Optimizer:
    lr, b1, b2, eps = (c.number(v, k) for v, k in ((lr, "lr"), (beta1, "beta1"), (beta2, "beta2"), (eps, "eps")))
    for v, k in ((lr, "lr"), (eps, "eps")):
        if v <= 0:
            c.fail(k, f"argument '{k}' must be positive, got {v}")
    for v, k in ((b1, "beta1"), (b2, "beta2")):
        if not 0 <= v < 1:
            c.fail(k, f"argument '{k}' must be in [0, 1), got {v}")
    return Optimizer("adam", lr, b1, b2, eps)


@builtin
def Train(c: Ctx, loss: Any, optimizer: Any = None, batch: Any = None, epochs: Any = 10) -> None:
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
    b.g.loss = t.id
    b.g.train = {"optimizer": opt.name, "lr": opt.lr, "beta1": opt.beta1, "beta2": opt.beta2, "eps": opt.eps,
                 "batch": b.g.batch, "epochs": c.integer(epochs, "epochs")}


# layers: weights Glorot-normal with Keras' fans (kh*kw*in, kh*kw*out), biases zero


@builtin
def conv2d(c: Ctx, x: Any, filters: Any, kernel: Any = 3, stride: Any = 1, padding: Any = "same",
           use_bias: Any = True, activation: Any = None, trainable: Any = True, name: Any = None) -> Tensor:
    x, co, k, s = c.image(x, "x"), c.integer(filters, "filters"), c.pair(kernel, "kernel"), c.pair(stride, "stride")
    pad, bias, train = c.padding(x, k, s, padding), c.flag(use_bias, "use_bias"), c.flag(trainable, "trainable")
    scope, ci, taps = c.scope(c.layer_name(name)), x.shape[3], k[0] * k[1]
    srcs = [x, c.param(scope, "filters", (*k, ci, co), (taps * ci, taps * co), train)]
    if bias:
        srcs.append(c.param(scope, "bias", (co,), (co, co), train))
    return c.activate(c.node(Op.CONV2D, srcs, scope, stride=s, pad=pad), activation, scope)


@builtin
def depthwise_conv2d(c: Ctx, x: Any, kernel: Any = 3, stride: Any = 1, padding: Any = "same",
                     use_bias: Any = True, activation: Any = None, trainable: Any = True,
                     name: Any = None) -> Tensor:
    x, k, s = c.image(x, "x"), c.pair(kernel, "kernel"), c.pair(stride, "stride")
    pad, bias, train = c.padding(x, k, s, padding), c.flag(use_bias, "use_bias"), c.flag(trainable, "trainable")
    scope, ch, taps = c.scope(c.layer_name(name)), x.shape[3], k[0] * k[1]
    srcs = [x, c.param(scope, "depthwise_filter", (*k, ch, 1), (taps * ch, taps), train)]
    if bias:
        srcs.append(c.param(scope, "bias", (ch,), (ch, ch), train))
    return c.activate(c.node(Op.DEPTHWISE, srcs, scope, stride=s, pad=pad), activation, scope)


@builtin
def separable_conv2d(c: Ctx, x: Any, filters: Any, kernel: Any = 3, stride: Any = 1, padding: Any = "same",
                     use_bias: Any = True, activation: Any = None, trainable: Any = True,
                     name: Any = None) -> Tensor:
    x, co, k, s = c.image(x, "x"), c.integer(filters, "filters"), c.pair(kernel, "kernel"), c.pair(stride, "stride")
    pad, bias, train = c.padding(x, k, s, padding), c.flag(use_bias, "use_bias"), c.flag(trainable, "trainable")
    scope, ch, taps = c.scope(c.layer_name(name)), x.shape[3], k[0] * k[1]
    dw = c.param(scope, "depthwise_filter", (*k, ch, 1), (taps * ch, taps), train)
    pw = [c.param(scope, "pointwise_filter", (1, 1, ch, co), (ch, co), train)]
    if bias:
        pw.append(c.param(scope, "bias", (co,), (co, co), train))
    y = c.node(Op.DEPTHWISE, [x, dw], scope, stride=s, pad=pad)
    y = c.node(Op.CONV2D, [y, *pw], scope, stride=(1, 1), pad=(0, 0, 0, 0))
    return c.activate(y, activation, scope)


@builtin
def dense(c: Ctx, x: Any, units: Any, use_bias: Any = True, activation: Any = None, trainable: Any = True,
          name: Any = None) -> Tensor:
    x, u, bias, train = c.tensor(x, "x"), c.integer(units, "units"), c.flag(use_bias, "use_bias"), \
        c.flag(trainable, "trainable")
    if len(x.shape) < 2:
        raise SpecError(c.pos, f"dense() expects an input of rank 2 or more ([batch, features]), "
                               f"got {fmt_shape(x.shape)}")
    scope, f = c.scope(c.layer_name(name)), math.prod(x.shape[1:])
    srcs = [c.param(scope, "weights", (f, u), (f, u), train)]
    if bias:
        srcs.append(c.param(scope, "bias", (u,), (u, u), train))
    if len(x.shape) > 2:   # flatten first, as Keras' Dense on a feature map would need
        x = c.node(Op.RESHAPE, [x], scope, shape=(x.shape[0], f))
    return c.activate(c.node(Op.DENSE, [x, *srcs], scope), activation, scope)


# other ops


def _unary_op(name: str, op: Op, on_numbers: Callable[[float], float] | None = None) -> None:
    def fn(c: Ctx, x: Any) -> Any:
        if on_numbers is not None and is_num(x):
            try:
                return on_numbers(x)
            except (ValueError, OverflowError) as e:
                c.fail("x", f"cannot be computed for {x}: {e}")
        return c.node(op, [c.tensor(x, "x")], c.scope())
    fn.__name__ = name
    builtin(fn)


for _name, _op in (("relu", Op.RELU), ("relu6", Op.RELU6), ("sigmoid", Op.SIGMOID), ("tanh", Op.TANH),
                   ("softmax", Op.SOFTMAX)):
    _unary_op(_name, _op)
_unary_op("exp", Op.EXP, math.exp)
_unary_op("log", Op.LOG, math.log)
_unary_op("abs", Op.ABS, abs)


@builtin
def leaky_relu(c: Ctx, x: Any, alpha: Any = 0.2) -> Tensor:
    x, a = c.tensor(x, "x"), c.number(alpha, "alpha")
    return c.node(Op.LEAKY_RELU, [x], c.scope(), alpha=a)


def _pool(c: Ctx, op: Op, x: Any, size: Any, stride: Any, padding: Any) -> Tensor:
    x, k = c.image(x, "x"), c.pair(size, "size")
    s = k if stride is None else c.pair(stride, "stride")
    pad = c.padding(x, k, s, padding)
    return c.node(op, [x], c.scope(), size=k, stride=s, pad=pad)


@builtin
def max_pool(c: Ctx, x: Any, size: Any = 2, stride: Any = None, padding: Any = "valid") -> Tensor:
    return _pool(c, Op.MAX_POOL, x, size, stride, padding)


@builtin
def avg_pool(c: Ctx, x: Any, size: Any = 2, stride: Any = None, padding: Any = "valid") -> Tensor:
    return _pool(c, Op.AVG_POOL, x, size, stride, padding)


@builtin
def global_avg_pool(c: Ctx, x: Any) -> Tensor:
    return c.node(Op.GLOBAL_AVG_POOL, [c.image(x, "x")], c.scope())


@builtin
def reshape(c: Ctx, x: Any, dims: Any) -> Tensor:
    x = c.tensor(x, "x")
    items = dims if isinstance(dims, (list, tuple)) else [dims]
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
def flatten(c: Ctx, x: Any) -> Tensor:
    x = c.tensor(x, "x")
    lead = x.shape[:1] if x.batched else ()
    return c.node(Op.RESHAPE, [x], c.scope(), shape=(*lead, math.prod(x.shape[len(lead):])))


@builtin
def concat(c: Ctx, tensors: Any) -> Tensor:
    if not isinstance(tensors, (list, tuple)) or not tensors:
        c.want("tensors", "a non-empty list of tensors", tensors)
    for t in tensors:
        if not isinstance(t, Tensor):
            c.fail("tensors", f"argument 'tensors' must be a list of tensors, got a {kind(t)} in it")
    return c.node(Op.CONCAT, tensors, c.scope())


def _binary_builtin(name: str, op: str) -> None:
    def fn(c: Ctx, a: Any, b: Any) -> Any:
        return c.b.binop(op, a, b, c.pos)
    fn.__name__ = name
    builtin(fn)


for _name, _sym in (("add", "+"), ("sub", "-"), ("mul", "*"), ("div", "/")):
    _binary_builtin(_name, _sym)


@builtin
def mean(c: Ctx, x: Any) -> Tensor:
    return c.node(Op.MEAN, [c.tensor(x, "x")], c.scope())


@builtin
def sum_(c: Ctx, x: Any) -> Any:
    """A tensor sums to a scalar; a list of numbers or tensors adds up item by item."""
    if isinstance(x, (list, tuple)):
        if not x:
            return 0
        total = x[0]
        for v in x[1:]:
            total = c.b.binop("+", total, v, c.pos)
        return total
    return c.node(Op.SUM, [c.tensor(x, "x")], c.scope())


def _loss(name: str, op: Op, a: str, b: str) -> None:
    def fn(c: Ctx, x: Any, y: Any) -> Tensor:
        return c.node(op, [c.tensor(x, a), c.tensor(y, b)], c.scope())
    fn.__name__ = name
    fn.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in ("c", a, b)])
    builtin(fn)


_loss("mse", Op.MSE, "pred", "target")
_loss("softmax_cross_entropy", Op.SOFTMAX_CE, "logits", "labels")
_loss("sigmoid_cross_entropy", Op.SIGMOID_CE, "logits", "labels")


# Python builtins (compile-time numbers and lists)


@builtin
def range_(c: Ctx, *args: Any) -> list[int]:
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
    return list(r)


@builtin
def len_(c: Ctx, x: Any) -> int:
    if not isinstance(x, (list, tuple, str)):
        c.want("x", "a list, tuple or str", x)
    return len(x)


def _extreme(c: Ctx, values: tuple[Any, ...], pick: Callable[..., Any]) -> Any:
    items = values[0] if len(values) == 1 and isinstance(values[0], (list, tuple)) else values
    if not items:
        c.fail(None, "needs at least one value")
    if not all(is_num(v) or isinstance(v, bool) for v in items) and not all(isinstance(v, str) for v in items):
        c.fail(None, "works on numbers (or strings) only")
    return pick(items)


@builtin
def min_(c: Ctx, *values: Any) -> Any:
    return _extreme(c, values, min)


@builtin
def max_(c: Ctx, *values: Any) -> Any:
    return _extreme(c, values, max)


@builtin
def int_(c: Ctx, x: Any) -> int:
    try:
        if isinstance(x, (int, float, str)):
            return int(x)
    except (ValueError, OverflowError):
        c.fail("x", f"cannot convert {x!r} to an int")
    c.want("x", "a number or a str", x)


@builtin
def float_(c: Ctx, x: Any) -> float:
    try:
        if isinstance(x, (int, float, str)):
            return float(x)
    except (ValueError, OverflowError):
        c.fail("x", f"cannot convert {x!r} to a float")
    c.want("x", "a number or a str", x)
