"""The values a spec computes with at compile time, the environments that hold them, and the registry
of builtins (filled by builtins.py)."""
from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import ast
from .errors import SpecError
from .ir import Pos, Shape

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


BUILTINS: dict[str, Builtin] = {}   # name -> builtin, registered by builtins.py


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


def did_you_mean(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


_PATH = re.compile(r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*")


def check_path(v: Any, pos: Pos, what: str) -> str:
    if not isinstance(v, str):
        raise SpecError(pos, f"{what} must be a str, got {kind(v)}")
    if not _PATH.fullmatch(v):
        raise SpecError(pos, f"{what} must be a name or a path like 'dense0/conv1', got {v!r}")
    return v
