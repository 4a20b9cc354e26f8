"""The spec's syntax tree: one small frozen dataclass per construct, each with its source position.

Built by parse.py from lark's parse tree and interpreted by build.py. Separate from the IR on purpose:
the AST says what was written, the IR what it computes.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from .ir import Pos

# ---- expressions


@dataclass(frozen=True)
class Name:
    id: str
    pos: Pos


@dataclass(frozen=True)
class Num:
    value: int | float
    pos: Pos


@dataclass(frozen=True)
class Str:
    value: str
    pos: Pos


@dataclass(frozen=True)
class Const:
    """True, False or None."""
    value: bool | None
    pos: Pos


@dataclass(frozen=True)
class ListExpr:
    elts: tuple[Expr, ...]
    pos: Pos


@dataclass(frozen=True)
class TupleExpr:
    elts: tuple[Expr, ...]
    pos: Pos


@dataclass(frozen=True)
class UnaryOp:
    op: str          # '-', '+' or 'not'
    operand: Expr
    pos: Pos


@dataclass(frozen=True)
class BinOp:
    """`left op right`; pos is the operator's, so an error in `a + b + c` points at the right '+'."""
    op: str          # '+', '-', '*', '/', '//', '%', '**'
    left: Expr
    right: Expr
    pos: Pos


@dataclass(frozen=True)
class BoolOp:
    op: str          # 'and' or 'or'
    values: tuple[Expr, ...]
    pos: Pos


@dataclass(frozen=True)
class Compare:
    """A comparison chain `a < b <= c`; pos is the first operator's."""
    left: Expr
    ops: tuple[str, ...]
    comparators: tuple[Expr, ...]
    pos: Pos


@dataclass(frozen=True)
class IfExp:
    test: Expr
    body: Expr
    orelse: Expr
    pos: Pos


@dataclass(frozen=True)
class Keyword:
    name: str
    value: Expr
    pos: Pos


@dataclass(frozen=True)
class Call:
    func: Expr
    args: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]
    pos: Pos


@dataclass(frozen=True)
class Slice:
    """`lower:upper:step` inside a subscript; a bound left out is None."""
    lower: Expr | None
    upper: Expr | None
    step: Expr | None
    pos: Pos


@dataclass(frozen=True)
class Subscript:
    value: Expr
    index: Expr
    pos: Pos


Expr = Name | Num | Str | Const | ListExpr | TupleExpr | UnaryOp | BinOp | BoolOp | Compare | IfExp | Call | Subscript | Slice

# ---- statements


@dataclass(frozen=True)
class Assign:
    """`target = value`; target is a Name or a TupleExpr/ListExpr of targets."""
    target: Expr
    value: Expr
    pos: Pos


@dataclass(frozen=True)
class ExprStmt:
    value: Expr
    pos: Pos


@dataclass(frozen=True)
class Pass:
    pos: Pos


@dataclass(frozen=True)
class Return:
    value: Expr | None
    pos: Pos


@dataclass(frozen=True)
class If:
    """`elif` is an If alone in the orelse of the one before it, as in Python's ast."""
    test: Expr
    body: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    pos: Pos


@dataclass(frozen=True)
class For:
    target: Expr     # a Name or a TupleExpr of Names
    iter: Expr
    body: tuple[Stmt, ...]
    pos: Pos


@dataclass(frozen=True)
class Param:
    name: str
    default: Expr | None
    pos: Pos


@dataclass(frozen=True)
class FuncDef:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    pos: Pos


Stmt = Assign | ExprStmt | Pass | Return | If | For | FuncDef


@dataclass(frozen=True)
class Module:
    body: tuple[Stmt, ...]
    pos: Pos


Node = Expr | Stmt | Keyword | Param | Module


def dump(node: object) -> str:
    """A compact position-free form for tests and debugging: `BinOp('+', Name('x'), Num(1))`."""
    if isinstance(node, tuple):
        return "[" + ", ".join(dump(x) for x in node) + "]"
    if not hasattr(node, "__dataclass_fields__"):
        return repr(node)
    parts = [dump(getattr(node, f.name)) for f in fields(node) if f.name != "pos"]  # type: ignore[arg-type]
    return f"{type(node).__name__}({', '.join(parts)})"
