"""AST -> forward IR Graph. The spec is interpreted at compile time, never eval'd or exec'd.

Values are Python ints, floats, bools, strs, None, lists and tuples, plus Tensor (a node of the graph),
Function (a user `def`, inlined at each call), Builtin and Optimizer. Every error is collected with its
position and reported together at the end; a failed expression evaluates to POISON, which later uses pass
along silently so one mistake gives one message.
"""
from __future__ import annotations

import math
import operator
from collections.abc import Callable, Collection, Sequence
from typing import Any

from ..ops import batch_norm
from ..ops.elementwise import BINARY_ROWS
from . import ast, limits
from .builtins import BUILTINS, BuiltinCall
from .errors import SpecError, SpecErrors
from .ir import DEFAULT_BINDING, ConstAttrs, Graph, Op, ParamAttrs, Pos, Shape, ShapeError, op_attrs
from .parse import UNSUPPORTED_KEYWORDS
from .summary import node_flops
from .values import (
    F32_MAX,
    MAX_DEPTH,
    MAX_FLOPS,
    MAX_LIST,
    MAX_LIST_DEPTH,
    MAX_NODES,
    MAX_STEPS,
    MAX_TOTAL_ELEMENTS,
    NAME_HINTS,
    POISON,
    Arg,
    Builtin,
    Env,
    Function,
    Scope,
    Sizes,
    Tensor,
    check_path,
    clip,
    did_you_mean,
    has_poison,
    is_num,
    keyword_hint,
    kind,
    number_text,
)

MAX_ERRORS = 100    # errors reported from one spec
MAX_ERRORS_AT = 3   # errors reported at one place


class _Poisoned(Exception):
    """Errors were already reported; the expression's value is POISON."""


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class _TooDeep(Exception):
    """The recursion limit was hit (and reported); unwinds to the outermost user-function call."""


class _Abort(Exception):
    """Stop building: the spec would not finish unrolling (MAX_STEPS), or it makes too big a graph (at `pos`)."""

    def __init__(self, pos: Pos | None = None, msg: str = "") -> None:
        super().__init__(pos, msg)
        self.pos, self.msg = pos, msg


# ---- entry point


def build(module: ast.Module, source: str, filename: str, batch: int | None = None,
          failed: Collection[str] = (), declared: Collection[str] = (), max_binding: int = DEFAULT_BINDING) -> Graph:
    """Interpret the spec and return its forward graph, or raise SpecErrors listing every problem.
    `failed` names and `declared` calls (Output, Train) come from lines that had syntax errors: the names
    start as failed values (no 'unknown name' for them), the calls count as made.

    The batch is `batch` if given, else Train(batch=...) (found by a pre-scan, since shapes need it before
    Train runs at the end), else 1. `max_binding`: Graph.max_binding."""
    chosen = batch or _prescan_batch(module) or 1
    b = _Builder(filename, chosen, failed, declared, max_binding)
    b.run(module)
    if batch is None and not b.errors and b.train_batch not in (None, chosen):
        # Train's batch was not a top-level literal: build again now that it is known.
        b = _Builder(filename, b.train_batch, failed, declared, max_binding)  # type: ignore[arg-type]
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
    def __init__(self, filename: str, batch: int, failed: Collection[str] = (),
                 declared: Collection[str] = (), max_binding: int = DEFAULT_BINDING) -> None:
        self.file = filename
        self.g = Graph(batch=batch, max_binding=max_binding)
        self.errors: list[SpecError] = []
        self._seen: set[tuple[Pos, str]] = set()
        self._errors_at: dict[Pos, int] = {}
        self._made: dict[tuple[Op, tuple[int, ...], str], int] = {}   # identical computed nodes, made once
        self.globals = Env(builtins=BUILTINS)
        self.globals.vars.update(dict.fromkeys(failed, POISON))
        self.scope = Scope("")
        self.calls: list[tuple[str, Pos]] = []   # user-function calls in progress, for error notes
        self.steps = 0
        self.sizes = Sizes()
        self._unknown: dict[Pos, str] = {}      # the message for an unknown name, by where it is used
        self.elements = 0          # the sum of every tensor's size so far (MAX_TOTAL_ELEMENTS)
        self.param_elements = 0    # the parameters' (one buffer: at most g.max_binding bytes)
        self.flops = 0             # of one forward pass so far (MAX_FLOPS)
        self.param_pos: dict[str, Pos] = {}
        self.shared_uses: dict[str, int] = {}   # share=True parameters: how many calls use each
        self.output_pos: dict[str, Pos] = {}
        self.declared: set[str] = set(declared)  # Output/Train were called (even with bad arguments)
        self.train_pos: Pos | None = None
        self.train_batch: int | None = None

    def report(self, e: SpecError) -> None:
        """Keep `e`, unless it repeats one already kept, or its place (a loop varies a message's numbers) or the
        spec already has enough of them (MAX_ERRORS_AT, MAX_ERRORS)."""
        at = self._errors_at.get(e.pos, 0)
        if (e.pos, e.msg) in self._seen or at >= MAX_ERRORS_AT or len(self.errors) >= MAX_ERRORS:
            return
        self._seen.add((e.pos, e.msg))
        self._errors_at[e.pos] = at + 1
        if not e.note and self.calls:
            e = SpecError(e.pos, e.msg, _call_note(self.calls))
        self.errors.append(e)

    def run(self, module: ast.Module) -> None:
        for s in module.body:
            try:
                self.exec_block([s], self.globals)
            except _Abort as e:
                self.report(SpecError(e.pos or s.pos, e.msg or f"the spec takes more than {MAX_STEPS:,} steps to "
                                      "unroll; is a loop, a recursion or a list too long?"))
                return
            except _Return:   # a 'return' outside a function: a syntax error, reported by the parser
                continue
            except RecursionError:
                pos = self.calls[-1][1] if self.calls else s.pos
                self.report(SpecError(pos, "the spec nests expressions or calls too deeply"))
                return
        if "Output" not in self.declared:
            pos = module.body[-1].pos if module.body else module.pos
            self.report(SpecError(pos, "the spec has no Output(...); add Output(tensor) to name the model's "
                                       "result"))
        reported: set[Pos] = set()
        clean = not self.errors   # a spec with other errors may not have reached the sharing calls
        for path, uses in self.shared_uses.items():
            pos = self.param_pos[path]
            if uses == 1 and pos not in reported and clean:   # share=True that shares nothing: a scope that differs per call
                reported.add(pos)
                self.report(SpecError(pos, f"share=True, but no other call uses parameter '{path}': give every "
                                           "call that shares it the same name= (a function called without name= "
                                           "opens a scope of its own at each call: call it with one name=)"))
        if not self.errors:   # what lowering will generate, estimated from the finished graph
            out_pos = next(iter(self.output_pos.values()), module.pos)
            for err in limits.generated_size(self.g, self.train_pos or out_pos):
                self.report(err)
        loss_out = self.g.outputs.get("loss")
        if self.g.loss is not None and loss_out is not None and loss_out != self.g.loss:
            self.report(SpecError(self.output_pos["loss"], "an Output named 'loss' is not the Train loss, which "
                                                           "training reports as 'loss': rename this Output"))

    def tick(self, work: int = 1) -> None:
        """Count `work` units (a statement, a call, a loop iteration, a list item); stop past MAX_STEPS."""
        self.steps += work
        if self.steps > MAX_STEPS:
            raise _Abort()

    def list_size(self, v: Any) -> int:
        """The items of a list (nested ones' too), or 0 for anything else: the work of passing it on."""
        return self.sizes.of(v)[0] if isinstance(v, (list, tuple)) else 0

    def make_list(self, items: list[Any], pos: Pos, as_tuple: bool) -> list[Any] | tuple[Any, ...]:
        """A list or tuple value, within MAX_LIST items and MAX_LIST_DEPTH levels of nesting."""
        value: list[Any] | tuple[Any, ...] = tuple(items) if as_tuple else items
        self.tick(len(items))
        size, depth = self.sizes.of(value)
        if size > MAX_LIST:
            raise SpecError(pos, f"this {kind(value)} would hold {size:,} items (those of the lists in it "
                                 f"included), more than {MAX_LIST:,}")
        if depth > MAX_LIST_DEPTH:
            raise SpecError(pos, f"lists nest more than {MAX_LIST_DEPTH} deep here")
        return value

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
                if e.pos not in self._unknown:   # a loop meets it again and again: one did-you-mean search
                    self._unknown[e.pos] = _unknown(e.id, env.visible())
                raise SpecError(e.pos, self._unknown[e.pos]) from None
        if isinstance(e, (ast.ListExpr, ast.TupleExpr)):
            return self.make_list([self.eval(x, env) for x in e.elts], e.pos, isinstance(e, ast.TupleExpr))
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
        if isinstance(e, ast.Slice):
            parts = [None if x is None else self.eval(x, env) for x in (e.lower, e.upper, e.step)]
            for x, v in zip((e.lower, e.upper, e.step), parts):
                if v is POISON:
                    return POISON
                if x is not None and v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                    raise SpecError(x.pos, f"a slice bound must be an int or None, got {kind(v)}")
            if parts[2] == 0:
                raise SpecError(e.pos, "a slice step must not be zero")
            return slice(*parts)
        assert isinstance(e, ast.Subscript), e
        return self.subscript(self.eval(e.value, env), self.eval(e.index, env), e)

    def truth(self, v: Any, pos: Pos, what: str) -> bool:
        if isinstance(v, Tensor):
            raise SpecError(pos, f"{what} must be a compile-time constant (a number, bool, string, None or "
                                 f"list), got a tensor")
        return bool(v)

    def subscript(self, v: Any, i: Any, e: ast.Subscript) -> Any:
        if v is POISON or has_poison(i):
            return POISON
        if isinstance(v, Tensor):
            items = list(i) if isinstance(i, tuple) and isinstance(e.index, ast.TupleExpr) else [i]
            idx = e.index.elts if isinstance(e.index, ast.TupleExpr) else (e.index,)
            return self.index_tensor(v, items, [x.pos for x in idx], e)
        if not isinstance(v, (list, tuple, str)):
            raise SpecError(e.pos, f"{kind(v)} cannot be indexed")
        if isinstance(i, slice):   # Python's own slicing of a compile-time list
            self.tick(len(v))
            return v[i]
        if not isinstance(i, int) or isinstance(i, bool):
            raise SpecError(e.index.pos, f"an index must be an int, got {kind(i)}")
        if not -len(v) <= i < len(v):
            raise SpecError(e.index.pos, f"index {i} is out of range for a {kind(v)} of length {len(v)}")
        return v[i]

    def index_tensor(self, x: Tensor, items: list[Any], at: list[Pos], e: ast.Subscript) -> Tensor:
        """x[i], x[a:b], x[:, 3]: items index the axes from the first (the batch is axis 0 of a batched
        tensor, and only ':' may index it); an int drops its axis, a slice (step 1) keeps it. A SLICE node
        per narrowed axis, then one RESHAPE dropping the int-indexed axes."""
        if len(items) > len(x.shape):
            raise SpecError(e.index.pos, f"too many indices ({len(items)}) for a tensor of shape "
                                         f"{limits.shape_text(x.shape)}")
        ranges: list[tuple[int, int]] = []
        dropped: list[int] = []
        for axis, (item, pos) in enumerate(zip(items, at)):
            n = x.shape[axis]
            if isinstance(item, slice):
                if item.step not in (None, 1):
                    raise SpecError(pos, f"slices of tensors take no step (or step 1), got step {item.step}")
                start, stop, _ = item.indices(n)
                if start >= stop:
                    raise SpecError(pos, f"slice {_slice_text(item)} selects nothing from axis {axis} of size {n} "
                                         f"(shape {limits.shape_text(x.shape)})")
            elif isinstance(item, int) and not isinstance(item, bool):
                if not -n <= item < n:
                    raise SpecError(pos, f"index {item} is out of range for axis {axis} of size {n} (shape "
                                         f"{limits.shape_text(x.shape)})")
                start, stop = item % n, item % n + 1
                dropped.append(axis)
            else:
                raise SpecError(pos, f"a tensor index must be an int or a slice such as 2:5 or :, got {kind(item)}")
            if axis == 0 and x.batched and ((start, stop) != (0, n) or dropped == [0]):
                raise SpecError(pos, "axis 0 is the batch, which cannot be indexed: write x[:, ...] to index "
                                     "the axes after it")
            ranges.append((start, stop))
        scope = self.scope.child("slice")
        for axis, (start, stop) in enumerate(ranges):
            if (start, stop) != (0, x.shape[axis]):
                x = self.node(Op.SLICE, [x], op_attrs(Op.SLICE, axis=axis, start=start, stop=stop), e.pos, scope)
        if dropped:
            shape = tuple(d for a, d in enumerate(x.shape) if a not in dropped)
            x = self.node(Op.RESHAPE, [x], op_attrs(Op.RESHAPE, shape=shape), e.pos, scope)
        return x

    def compare(self, e: ast.Compare, env: Env) -> Any:
        left = self.eval(e.left, env)
        for op, right_e in zip(e.ops, e.comparators):
            right = self.eval(right_e, env)
            if left is POISON or right is POISON:
                return POISON
            if isinstance(left, Tensor) or isinstance(right, Tensor):
                raise SpecError(e.pos, "tensors cannot be compared: comparisons are worked out at compile time")
            self.tick(self.list_size(left) + self.list_size(right))
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
            return v if op == "+" else self.node(Op.NEG, [v], op_attrs(Op.NEG), pos, self.scope.child("neg"))
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
        self.tick(self.list_size(a) + self.list_size(b))
        scope = self.scope.child(name)
        ta, tb = (v if isinstance(v, Tensor) else self.const(v, pos, scope) for v in (a, b))
        return self.node(ir_op, [ta, tb], op_attrs(ir_op), pos, scope)

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
                                               + keyword_hint(k, [*params, *kwonly])))
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
        self.tick(sum(self.list_size(a.value) for a in [*bound.values(), *extra]))
        if any(has_poison(a.value) for a in [*bound.values(), *extra]):
            return POISON
        c = BuiltinCall(self, f.name, call.pos, bound, extra, target)
        return f.fn(c, *(bound[p].value for p in f.params), *(a.value for a in extra),
                    **{k: bound[k].value for k in f.kwonly})

    def call_function(self, f: Function, args: list[Arg], kwargs: dict[str, Arg], call: ast.Call) -> Any:
        params = [p.name for p in f.defn.params]
        # A def that declares `name` opens no scope of its own: it passes the name on to its layers, so
        # `sep(x, 32, name="conv1")` can make face-api's flat `conv1/depthwise_filter`. Any other def opens
        # `fname_K`, which name= renames.
        own_scope = "name" not in params
        scope_name = None
        if "name" in kwargs and own_scope:
            a = kwargs.pop("name")
            scope_name = check_path(a.value, a.pos, f"{f.defn.name}() argument 'name'")
        bound, _ = self.bind(f.defn.name, params, f.defaults, None, (), args, kwargs, call.pos)
        if len(self.calls) >= MAX_DEPTH:
            self.report(SpecError(call.pos, f"recursion too deep: more than {MAX_DEPTH} nested calls of user "
                                            f"functions (calling {f.defn.name}())"))
            raise _TooDeep()
        env = Env(f.env)
        env.vars.update({k: a.value for k, a in bound.items()})
        outer = self.scope
        if own_scope:
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

    def node(self, op: Op, srcs: Sequence[Tensor], attrs: Any, pos: Pos, scope: str) -> Tensor:
        """A computed node; an identical one (same op, sources and attributes) is reused, so `c0 + c1`
        written in three expressions is computed once."""
        ids = tuple(t.id for t in srcs)
        key = (op, ids, attrs)   # frozen dataclasses of tuples: they hash
        i = self._made.get(key)
        if i is None:
            self.room_for_a_node(pos)
            try:
                i = self.g.add(op, ids, attrs, pos=pos, scope=scope)
            except ShapeError as e:
                raise SpecError(pos, str(e)) from None
            self._made[key] = i
            self.count_memory(self.g.nodes[i].shape, pos, any(t.batched for t in srcs))
            self.flops += node_flops(self.g, self.g.nodes[i])
            if self.flops > MAX_FLOPS:
                batch = " a smaller batch or" if self.g.batch > 1 else ""
                raise _Abort(pos, f"a forward pass would take more than {MAX_FLOPS:.0e} FLOPs from here on: use"
                                  f"{batch} smaller layers")
        return Tensor(i, self.g.nodes[i].shape, any(t.batched for t in srcs))

    def room_for_a_node(self, pos: Pos) -> None:
        if len(self.g.nodes) >= MAX_NODES:
            raise _Abort(pos, f"the spec makes more than {MAX_NODES:,} graph nodes; is a loop too long?")

    def leaf(self, op: Op, shape: Shape, attrs: Any, pos: Pos, scope: str, batched: bool) -> Tensor:
        self.room_for_a_node(pos)
        self.count_memory(shape, pos, batched, "a smaller Input" if op is Op.INPUT else "smaller layers")
        i = self.g.add(op, (), attrs, pos=pos, scope=scope, shape=shape)
        return Tensor(i, tuple(shape), batched)

    def count_memory(self, shape: Shape, pos: Pos, batched: bool, smaller: str = "smaller layers") -> None:
        """Refuse a tensor that one GPU buffer cannot bind, or one that takes the sum of all tensors' sizes
        past MAX_TOTAL_ELEMENTS (docs/dsl.md, "Limits")."""
        n = math.prod(shape)
        advice = f"use a smaller batch or {smaller}" if batched and self.g.batch > 1 else f"use {smaller}"
        if 4 * n > self.g.max_binding:
            raise SpecError(pos, f"this tensor {limits.shape_text(shape)} would take {limits.bytes_text(4 * n)}, more than one "
                                 f"GPU buffer binds ({limits.bytes_text(self.g.max_binding)}): {advice}"
                                 f"{limits.binding_advice(4 * n)}")
        self.elements += n
        if self.elements > MAX_TOTAL_ELEMENTS:
            raise _Abort(pos, f"the model's tensors would take more than {limits.bytes_text(4 * MAX_TOTAL_ELEMENTS)} in all "
                              f"(the sum of every value's size) from here on: {advice}")

    def const(self, v: Any, pos: Pos, scope: str) -> Tensor:
        """A number (shape ()) or a flat list of numbers (shape (n,)) as a CONST node."""
        numbers = tuple(v) if isinstance(v, (list, tuple)) else (v,)
        shape = (len(numbers),) if isinstance(v, (list, tuple)) else ()
        bad = next((x for x in numbers if not abs(x) <= F32_MAX), None)   # NaN fails the test too
        values = tuple(float(x) for x in numbers) if bad is None else ()
        if bad is not None:
            raise SpecError(pos, f"the number {number_text(bad)} does not fit a 32-bit float (finite, at most {F32_MAX:.4g} "
                                 "in size)")
        return self.leaf(Op.CONST, shape, ConstAttrs(values), pos, scope, False)

    def param(self, pos: Pos, scope: str, leaf: str, shape: Shape, fans: tuple[int, int],
              trainable: bool, share: bool = False) -> Tensor:
        """The parameter `scope/leaf`, made here; or, for a layer called with share=True, the one an earlier
        call of the same path made (same shape and trainable), so both sites use one tensor and autodiff
        sums their gradients into it."""
        path = f"{scope}/{leaf}"
        if path in self.param_pos:
            first = self.param_pos[path]
            if not share:
                raise SpecError(pos, f"parameter '{path}' is already defined (at {first}); give this call a "
                                     f"different name=, or pass share=True to reuse its weights")
            t = self.g.nodes[self.g.params[path]]
            if t.shape != tuple(shape):
                raise SpecError(pos, f"share=True reuses parameter '{path}' of shape {limits.shape_text(t.shape)} "
                                     f"(made at {first}), but this call needs {limits.shape_text(shape)}")
            if t.attrs.trainable != trainable:
                raise SpecError(pos, f"share=True reuses parameter '{path}' (made at {first}) with trainable="
                                     f"{t.attrs.trainable}, but this call has trainable={trainable}")
            self.shared_uses[path] = self.shared_uses.get(path, 1) + 1
            return Tensor(self.g.params[path], t.shape, False)
        if share:
            self.shared_uses[path] = 1
        self.param_pos[path] = pos
        self.param_elements += -(-math.prod(shape) // 4) * 4   # each 16-byte aligned in the buffer
        if 4 * self.param_elements > self.g.max_binding:
            raise SpecError(pos, f"the parameters would take {limits.bytes_text(4 * self.param_elements)} in all with "
                                 f"'{path}' {limits.shape_text(shape)}, more than one GPU buffer binds "
                                 f"({limits.bytes_text(self.g.max_binding)}): use fewer or smaller layers"
                                 f"{limits.binding_advice(4 * self.param_elements)}")
        init = "zeros" if leaf == "bias" else batch_norm.INIT.get(leaf, "glorot_normal")
        t = self.leaf(Op.PARAM, shape, ParamAttrs(path, init, fans[0], fans[1], trainable), pos, scope, False)
        self.g.params[path] = t.id
        return t


_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_TENSOR_OPS = {r.symbol: (r.name, Op[r.name.upper()]) for r in BINARY_ROWS.values()}   # ops/elementwise.py


def _is_num_list(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(is_num(x) for x in v)


def _slice_text(s: slice) -> str:
    return ":".join("" if v is None else str(v) for v in (s.start, s.stop)) + ("" if s.step is None else f":{s.step}")


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


def _unknown(name: str, visible: list[str]) -> str:
    if name in UNSUPPORTED_KEYWORDS:
        return UNSUPPORTED_KEYWORDS[name]
    if name in NAME_HINTS:
        return f"unknown name '{name}': {NAME_HINTS[name]}"
    return f"unknown name '{clip(name)}'" + did_you_mean(name, visible)
