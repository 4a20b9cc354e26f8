"""Spec text -> AST (ast.Module). The only module that touches lark: its exceptions become SpecErrors here."""
from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, VisitError
from lark.indenter import Indenter

from . import ast
from .errors import SpecError, SpecErrors
from .ir import Pos

# Python words a spec cannot use; a syntax error right after one of them names it instead.
UNSUPPORTED_KEYWORDS = {
    "while": "'while' loops are not supported; use 'for ... in range(n)'",
    "lambda": "'lambda' is not supported; use 'def'",
    "import": "'import' is not supported: a spec is parsed, never executed",
    "from": "'import' is not supported: a spec is parsed, never executed",
    "class": "'class' is not supported in a spec",
    "with": "'with' is not supported in a spec",
    "try": "'try' is not supported in a spec", "except": "'except' is not supported in a spec",
    "finally": "'finally' is not supported in a spec", "raise": "'raise' is not supported in a spec",
    "global": "'global' is not supported in a spec", "nonlocal": "'nonlocal' is not supported in a spec",
    "del": "'del' is not supported in a spec", "assert": "'assert' is not supported in a spec",
    "yield": "'yield' is not supported in a spec", "async": "'async' is not supported in a spec",
    "await": "'await' is not supported in a spec", "is": "'is' is not supported; use '==' or '!='",
    "break": "'break' is not supported in a spec", "continue": "'continue' is not supported in a spec",
}

MAX_SOURCE = 100_000      # characters of a spec (landmark68's: 1,228); lark takes seconds per 100,000
MAX_PARSED = 3 * MAX_SOURCE   # characters parsed in all while resuming after syntax errors
MAX_SYNTAX_ERRORS = 20    # syntax errors reported from one spec (parsing resumes on the next line)
MAX_NESTING = 100         # brackets, calls, operators and blocks inside one another
MAX_INT_DIGITS = 310      # an int literal's digits: 1024 bits, as the builder's arithmetic allows

# How terminals read in messages; string terminals not listed read as their text in quotes.
_TERMINAL_TEXT = {
    "_NEWLINE": "end of line", "$END": "end of file", "_INDENT": "an indented block", "_DEDENT": "end of block",
    "NAME": "a name", "DEC_NUMBER": "a number", "HEX_NUMBER": "a number", "FLOAT_NUMBER": "a number",
    "STRING": "a string", "LONG_STRING": "a string",
}
_EXPR_START = {"NAME", "DEC_NUMBER", "HEX_NUMBER", "FLOAT_NUMBER", "STRING", "LONG_STRING", "LPAR", "LSQB"}
_CLOSERS = {"RPAR": "')'", "RSQB": "']'"}


class _IndentError(Exception):
    def __init__(self, line: int, col: int) -> None:
        self.line, self.col = line, col


class _Indenter(Indenter):
    """lark's Indenter, but it remembers open brackets (for "'(' was never closed") and reports bad
    dedents with a position."""
    NL_type = "_NEWLINE"
    OPEN_PAREN_types = ["LPAR", "LSQB"]  # noqa: RUF012 (lark's type)  no braces: no dicts or sets
    CLOSE_PAREN_types = ["RPAR", "RSQB"]  # noqa: RUF012
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        self.open: list[Token] = []
        self.indent_level = [0]
        return self._tokens(stream)

    def _tokens(self, stream: Iterator[Token]) -> Iterator[Token]:
        token = None
        for token in stream:
            if token.type == self.NL_type:
                if not self.open:   # newlines inside brackets are whitespace
                    yield from self._newline(token)
                continue
            yield token
            if token.type in self.OPEN_PAREN_types:
                self.open.append(token)
            elif token.type in self.CLOSE_PAREN_types and self.open:
                self.open.pop()
        while len(self.indent_level) > 1:
            self.indent_level.pop()
            yield Token.new_borrow_pos(self.DEDENT_type, "", token) if token else Token(self.DEDENT_type, "")

    def _newline(self, token: Token) -> Iterator[Token]:
        yield token
        indent_str = token.rsplit("\n", 1)[1]
        indent = indent_str.count(" ") + indent_str.count("\t") * self.tab_len
        if indent > self.indent_level[-1]:
            self.indent_level.append(indent)
            yield Token.new_borrow_pos(self.INDENT_type, indent_str, token)
            return
        while indent < self.indent_level[-1]:
            self.indent_level.pop()
            yield Token.new_borrow_pos(self.DEDENT_type, indent_str, token)
        if indent != self.indent_level[-1]:
            raise _IndentError(int(token.end_line or 1), int(token.end_column or 1))


_lock = threading.Lock()   # the postlexer keeps state during a parse


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = (Path(__file__).parent / "grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", postlex=_Indenter(), propagate_positions=True, maybe_placeholders=False)


@dataclass
class Parsed:
    """What parsing found: the module (None when parsing could not get through), the syntax errors, the
    source as parsed (line endings normalised) and the lines replaced to resume after an error."""
    module: ast.Module | None
    errors: list[SpecError]
    text: str
    skipped: dict[int, str] = field(default_factory=dict)   # line number -> its original text

    def skipped_names(self) -> tuple[set[str], set[str]]:
        """The names that the skipped lines would have bound (assignments, defs, for targets), and the
        declarations (Output, Train) they made: the builder takes those as failed, not as missing."""
        names: set[str] = set()
        declared: set[str] = set()
        for line in self.skipped.values():
            for pattern in _BINDS:
                m = pattern.match(line)
                if m:
                    names.update(n.strip() for n in m.group(1).split(","))
            declared.update(d for d in ("Output", "Train") if re.search(rf"\b{d}\s*\(", line))
        return names, declared


_NAME_LIST = r"([^\W\d]\w*(?:\s*,\s*[^\W\d]\w*)*)"
_BINDS = [re.compile(rf"\s*\(?\s*{_NAME_LIST}\s*,?\s*\)?\s*=(?!=)"), re.compile(rf"\s*def\s+{_NAME_LIST}"),
          re.compile(rf"\s*for\s+{_NAME_LIST}")]


def parse(text: str, filename: str) -> ast.Module:
    """Parse spec source into an ast.Module, or raise SpecErrors (every error carries file:line:col)."""
    parsed = parse_recovering(text, filename)
    if parsed.module is None or parsed.errors:
        raise SpecErrors(parsed.errors, parsed.text)
    return parsed.module


def parse_recovering(text: str, filename: str) -> Parsed:
    """Parse spec source, resuming after syntax errors where it can (see _parse_recovering): the module is
    built from the lines that parsed, so that the builder can report check errors beside the syntax errors."""
    text = text.replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"
    if len(text) > MAX_SOURCE:   # lark's time and memory grow with it
        return Parsed(None, [SpecError(Pos(filename, 1, 1), f"the spec is {len(text):,} characters long, more "
                                                            f"than {MAX_SOURCE:,}")], text[:10_000])
    first = _first_indented_line(text)
    if first:
        return Parsed(None, [SpecError(Pos(filename, *first), "unexpected indent")], text)
    tree, errors, skipped = _parse_recovering(text, filename)
    if tree is None:
        return Parsed(None, errors, text)
    deep = _too_deep(tree, filename)
    if deep:
        return Parsed(None, [*errors, deep], text)
    builder = _ToAst(filename)
    too_deep = [SpecError(Pos(filename, 1, 1), "the spec is nested too deeply")]
    try:
        module = builder.transform(tree)
    except VisitError as e:   # a bug in _ToAst: raise it as itself, not as lark's wrapper
        if isinstance(e.orig_exc, RecursionError):
            return Parsed(None, too_deep, text)
        raise e.orig_exc from None
    except RecursionError:
        return Parsed(None, too_deep, text)
    errors += builder.errors + [SpecError(r.pos, "'return' outside a function") for r in _top_returns(module.body)]
    return Parsed(module, errors, text, skipped)


def _parse_recovering(text: str, filename: str) -> tuple[Tree | None, list[SpecError], dict[int, str]]:
    """The parse tree and the syntax errors found. After an error confined to one line (no bracket open
    across lines, no indentation problem), that line is replaced by `pass` (or a block header when an
    indented block follows) and parsing starts again, so that later errors are reported too, up to
    MAX_SYNTAX_ERRORS and MAX_PARSED characters parsed in all.
    The tree is None unless the parse (with the replaced lines) got through; the replaced lines come with it."""
    parser = _parser()
    errors: list[SpecError] = []
    skipped: dict[int, str] = {}
    lines = text.split("\n")
    work, parsed = text, 0
    for _ in range(MAX_SYNTAX_ERRORS):
        with _lock:
            try:
                return parser.parse(work), errors, skipped
            except _IndentError as e:
                errors.append(SpecError(Pos(filename, e.line, e.col),
                                        "unindent does not match any outer indentation level"))
                return None, errors, skipped
            except UnexpectedInput as e:
                err = _syntax_error(e, work, filename, parser)
                opened = parser.options.postlex.open  # type: ignore[union-attr]
                # brackets opened on an earlier line: the statement spans lines that cannot be told apart
                bracket_open = any(t.line != err.pos.line for t in opened)
            except RecursionError:
                errors.append(SpecError(Pos(filename, 1, 1), "the spec is nested too deeply"))
                return None, errors, skipped
        parsed += sum(len(line) + 1 for line in work.split("\n", err.pos.line)[: err.pos.line])
        recoverable = (not bracket_open and not err.msg.startswith(_UNRECOVERABLE) and parsed < MAX_PARSED
                       and (not errors or err.pos.line > errors[-1].pos.line))
        errors.append(err)
        work = _skip_line(work, err.pos.line) if recoverable else None  # type: ignore[assignment]
        if work is None:
            return None, errors, skipped
        skipped[err.pos.line] = lines[err.pos.line - 1]
    return None, errors, skipped


# Errors after which the lines that follow cannot be parsed on their own
_UNRECOVERABLE = ("unexpected indent", "expected an indented block", "unexpected end of file", "unindent",
                  "'(' was never closed", "'[' was never closed", "the spec is nested")


def _skip_line(text: str, line: int) -> str | None:
    """`text` with line `line` replaced by `pass` at its indentation (`if True:` when the next line with code is
    indented deeper), or None where that cannot help: a line continued from the one before, or past the end."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines) or (line > 1 and lines[line - 2].rstrip().endswith("\\")):
        return None
    old = lines[line - 1]
    if sum(old.count(c) for c in "([") > sum(old.count(c) for c in ")]"):
        return None   # a bracket that stays open: the next lines belong to this statement
    indent = old[: len(old) - len(old.lstrip(" \t"))]
    following = next((s for s in lines[line:] if s.strip() and not s.lstrip().startswith("#")), "")
    deeper = len(following) - len(following.lstrip(" \t")) > len(indent)
    block = "def _():" if old.lstrip().startswith("def") else "if True:"   # a def's body may return
    lines[line - 1] = indent + (block if deeper else "pass")
    return "\n".join(lines)


def _too_deep(tree: Tree, filename: str) -> SpecError | None:
    """An error at the first construct nested more than MAX_NESTING deep (brackets, calls, operators and
    blocks alike), found without recursion: the later passes recurse along the nesting."""
    stack: list[tuple[Any, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            meta = node.meta if isinstance(node, Tree) else node
            line, col = getattr(meta, "line", 1), getattr(meta, "column", 1)
            return SpecError(Pos(filename, line or 1, col or 1),
                             f"the spec nests expressions or blocks more than {MAX_NESTING} deep here")
        if isinstance(node, Tree):
            stack.extend((c, depth + 1) for c in node.children)
    return None


def _top_returns(body: tuple[ast.Stmt, ...]) -> Iterator[ast.Return]:
    """Return statements outside any def (inside if/for bodies too): a syntax error, as in Python."""
    for s in body:
        if isinstance(s, ast.Return):
            yield s
        elif isinstance(s, ast.If):
            yield from _top_returns(s.body + s.orelse)
        elif isinstance(s, ast.For):
            yield from _top_returns(s.body)


def _first_indented_line(text: str) -> tuple[int, int] | None:
    """Where the first statement starts if it is indented (lark would silently skip that whitespace)."""
    for i, line in enumerate(text.split("\n"), 1):
        stripped = line.lstrip(" \t\f")
        if stripped and not stripped.startswith("#"):
            return (i, len(line) - len(stripped) + 1) if stripped != line else None
    return None


# ---- syntax errors


def _syntax_error(e: UnexpectedInput, text: str, filename: str, parser: Lark) -> SpecError:
    lines = text.split("\n")
    if isinstance(e, UnexpectedCharacters):
        return SpecError(Pos(filename, e.line, e.column), _bad_character(e.char, lines[e.line - 1], e.column))
    token: Token | None = getattr(e, "token", None)
    expected = set(getattr(e, "accepts", None) or getattr(e, "expected", None) or ())
    open_brackets: list[Token] = list(parser.options.postlex.open)  # type: ignore[union-attr]
    if token is None or token.type == "$END" or token.line is None:
        last = max((i for i, s in enumerate(lines, 1) if s.strip()), default=1)
        eof = Pos(filename, last, len(lines[last - 1]) + 1)
        if open_brackets:
            return _never_closed(open_brackets[-1], filename)
        if "_INDENT" in expected:
            return SpecError(eof, "expected an indented block, got end of file")
        return SpecError(eof, "unexpected end of file" + _expected_suffix(expected))
    # _INDENT borrows the newline's position; point at the indented line instead
    line_no, col = (token.end_line, token.end_column) if token.type == "_INDENT" else (token.line, token.column)
    pos = Pos(filename, int(line_no or 1), int(col or 1))
    return (_unclosed_before(open_brackets, lines, pos)
            or _unsupported_keyword(token, lines[pos.line - 1], pos)
            or _augmented_assignment(token, lines[pos.line - 1], pos)
            or SpecError(pos, _token_message(token, expected, open_brackets, lines, pos)))


def _unclosed_before(open_brackets: list[Token], lines: list[str], pos: Pos) -> SpecError | None:
    """An unclosed bracket shows up as an error at the start of a later line, dedented to the statement."""
    if not open_brackets or lines[pos.line - 1][: pos.col - 1].strip():
        return None
    opener = open_brackets[-1]
    opener_line = lines[int(opener.line or 1) - 1]
    if int(opener.line or 1) < pos.line and pos.col <= len(opener_line) - len(opener_line.lstrip()) + 1:
        return _never_closed(opener, pos.file)
    return None


def _augmented_assignment(token: Token, line: str, pos: Pos) -> SpecError | None:
    """`x += 1` fails at the '=' after the operator; point at the operator and suggest the long form."""
    if token.type != "EQUAL" or pos.col < 2 or line[pos.col - 2] not in "+-*/%":
        return None
    n = 3 if line[max(pos.col - 3, 0): pos.col - 1] in ("//", "**") else 2
    op = line[pos.col - n: pos.col]
    return SpecError(Pos(pos.file, pos.line, pos.col - n + 1),
                     f"augmented assignment ('{op}') is not supported; write 'x = x {op[:-1]} ...'")


def _token_message(token: Token, expected: set[str], open_brackets: list[Token], lines: list[str],
                   pos: Pos) -> str:
    kind, got = token.type, _describe(token)
    if kind == "_INDENT":
        return "unexpected indent"
    if kind in _CLOSERS and not open_brackets:
        return f"unmatched '{token.value}'"
    if kind == "EQUAL" and "COLON" in expected:
        return "expected ':', got '=' (compare with '==')"
    if kind == "EQUAL" and open_brackets and _is_call(open_brackets[-1], lines) and "RPAR" in expected:
        return "expected ',' or ')', got '=' (a keyword argument needs a plain name before '=')"
    if "_INDENT" in expected:
        return f"expected an indented block, got {got}"
    if kind == "RSQB" and "COLON" in expected and expected & _EXPR_START:
        return "expected an index or a slice inside '[]', got ']'"
    for name, what in (("COLON", "':'"), ("ELSE", "'else'"), ("IN", "'in'")):
        if name in expected:
            return f"expected {what}, got {got}"
    for name, what in _CLOSERS.items():
        if name in expected:
            return f"expected ',' or {what}, got {got}" if "COMMA" in expected else f"expected {what}, got {got}"
    if expected & _EXPR_START and kind not in _EXPR_START:
        return f"expected an expression, got {got}"
    return f"unexpected {got}"


def _unsupported_keyword(token: Token, line: str, pos: Pos) -> SpecError | None:
    """A Python keyword the spec language lacks: the error token itself, the word before it, or the
    word that starts the line (`while(x):` fails at the ':')."""
    if token.type == "NAME" and token.value in UNSUPPORTED_KEYWORDS:
        return SpecError(pos, UNSUPPORTED_KEYWORDS[token.value])
    for m in (re.search(r"(\w+)\s*$", line[: pos.col - 1]), re.match(r"\s*(\w+)\b", line)):
        if m and m.group(1) in UNSUPPORTED_KEYWORDS:
            return SpecError(Pos(pos.file, pos.line, m.start(1) + 1), UNSUPPORTED_KEYWORDS[m.group(1)])
    return None


def _is_call(opener: Token, lines: list[str]) -> bool:
    before = lines[opener.line - 1][: opener.column - 1].rstrip()  # type: ignore[operator]
    return opener.type == "LPAR" and bool(before) and (before[-1].isalnum() or before[-1] in "_)]")


def _never_closed(opener: Token, filename: str) -> SpecError:
    return SpecError(Pos(filename, int(opener.line or 1), int(opener.column or 1)), f"'{opener.value}' was never closed")


def _bad_character(char: str, line: str, col: int) -> str:
    if char in "\"'":
        return "unterminated string"
    if char == "." and col > 1 and (line[col - 2].isalnum() or line[col - 2] in "_)]"):
        return "attribute access ('.') is not supported in a spec"
    if char in "{}":
        return f"unexpected character '{char}' (dicts and sets are not supported)"
    if char == "\t":
        return "unexpected tab"
    return f"unexpected character {char!r}"


def _describe(token: Token) -> str:
    if token.type in ("NAME",):
        return f"name '{token.value}'"
    if token.type in ("DEC_NUMBER", "HEX_NUMBER", "FLOAT_NUMBER"):
        return f"number {token.value}"
    if token.type in _TERMINAL_TEXT:
        return _TERMINAL_TEXT[token.type]
    return f"'{token.value}'"


def _expected_suffix(expected: set[str]) -> str:
    if "COLON" in expected:
        return ", expected ':'"
    if expected & _EXPR_START:
        return ", expected an expression"
    return ""


# ---- lark tree -> AST


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"', "\n": "",
            "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


_HEX_DIGITS = {"x": 2, "u": 4, "U": 8}


def _unescape(body: str) -> str:
    """Python's backslash escapes, decoded without eval (\\xNN, \\uNNNN, \\UNNNNNNNN and the
    single-character ones); a bad one raises ValueError with Python's wording."""
    def one(m: re.Match[str]) -> str:
        s = m.group(1)
        if s[0] in _HEX_DIGITS:
            want = _HEX_DIGITS[s[0]]
            if len(s) != 1 + want:
                raise ValueError(f"truncated \\{s[0]}{'X' * want} escape")
            code = int(s[1:], 16)
            if code > 0x10FFFF:
                raise ValueError(f"\\{s} is not a Unicode character (the largest is \\U0010ffff)")
            return chr(code)
        return _ESCAPES.get(s, "\\" + s)
    return re.sub(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.|\n)", one, body)


# Python's rules: '_' only between digits (after the base prefix too)
_INT_LITERAL = re.compile(r"0(_?0)*|[1-9](_?\d)*|0[xX](_?[\da-fA-F])+")
_DIGITS = r"\d(_?\d)*"
_FLOAT_LITERAL = re.compile(rf"(({_DIGITS})?\.{_DIGITS}|{_DIGITS}\.?)([eE][-+]?{_DIGITS})?")


def _clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n] + "..."


@v_args(meta=True)
class _ToAst(Transformer):  # type: ignore[type-arg]
    """Builds ast nodes bottom-up. Problems lark cannot see (bad assignment targets, f-strings,
    duplicate parameters) are collected in `errors` so several are reported together."""

    def __init__(self, filename: str) -> None:
        super().__init__()
        self.file = filename
        self.errors: list[SpecError] = []

    def _pos(self, meta: Any) -> Pos:
        return Pos(self.file, meta.line, meta.column)

    def _tpos(self, tok: Token) -> Pos:
        return Pos(self.file, tok.line, tok.column)  # type: ignore[arg-type]

    def _fail(self, pos: Pos, msg: str) -> None:
        self.errors.append(SpecError(pos, msg))

    # statements
    def start(self, meta: Any, c: list[Any]) -> ast.Module:
        return ast.Module(tuple(c), Pos(self.file, 1, 1))

    def assign(self, meta: Any, c: list[Any]) -> ast.Stmt:
        target, value = c
        if not self._check_target(target):
            return ast.ExprStmt(value, self._pos(meta))
        return ast.Assign(target, value, self._pos(meta))

    def _check_target(self, t: ast.Expr) -> bool:
        if isinstance(t, ast.Name):
            return True
        if isinstance(t, (ast.TupleExpr, ast.ListExpr)) and t.elts:
            return all([self._check_target(x) for x in t.elts])  # noqa: C419 (report every bad target)
        what = {ast.Call: "a function call", ast.Subscript: "an item (lists cannot be changed)",
                ast.Num: "a number", ast.Str: "a string", ast.Const: "a constant"}.get(type(t), "an expression")
        self._fail(t.pos, f"cannot assign to {what}")
        return False

    def expr_stmt(self, meta: Any, c: list[Any]) -> ast.ExprStmt:
        return ast.ExprStmt(c[0], self._pos(meta))

    def pass_stmt(self, meta: Any, c: list[Any]) -> ast.Pass:
        return ast.Pass(self._pos(meta))

    def return_stmt(self, meta: Any, c: list[Any]) -> ast.Return:
        return ast.Return(c[0] if c else None, self._pos(meta))

    def funcdef(self, meta: Any, c: list[Any]) -> ast.FuncDef:
        name, *params, body = c
        seen: set[str] = set()
        defaulted = False
        for p in params:
            if p.name in seen:
                self._fail(p.pos, f"duplicate parameter '{p.name}' in function definition")
            elif p.default is None and defaulted:
                self._fail(p.pos, f"parameter '{p.name}' without a default follows one with a default")
            seen.add(p.name)
            defaulted = defaulted or p.default is not None
        return ast.FuncDef(str(name), tuple(params), body, self._pos(meta))

    def param(self, meta: Any, c: list[Any]) -> ast.Param:
        return ast.Param(str(c[0]), c[1] if len(c) > 1 else None, self._tpos(c[0]))

    def if_stmt(self, meta: Any, c: list[Any]) -> ast.If:
        test, body, *rest = c
        orelse: tuple[ast.Stmt, ...] = ()
        if rest and not isinstance(rest[-1], ast.If):   # an else clause: a tuple of statements
            orelse = rest.pop()
        for clause in reversed(rest):   # elif clauses, nested innermost last
            orelse = (ast.If(clause.test, clause.body, orelse, clause.pos),)
        return ast.If(test, body, orelse, self._pos(meta))

    def elif_clause(self, meta: Any, c: list[Any]) -> ast.If:
        return ast.If(c[0], c[1], (), self._pos(meta))

    def else_clause(self, meta: Any, c: list[Any]) -> tuple[ast.Stmt, ...]:
        return c[0]  # type: ignore[no-any-return]

    def for_stmt(self, meta: Any, c: list[Any]) -> ast.For:
        return ast.For(c[0], c[1], c[2], self._pos(meta))

    def for_target(self, meta: Any, c: list[Any]) -> ast.Expr:
        names = tuple(ast.Name(str(t), self._tpos(t)) for t in c)
        trailing_comma = len(c) == 1 and meta.end_column > c[0].end_column
        return names[0] if len(names) == 1 and not trailing_comma else ast.TupleExpr(names, self._pos(meta))

    def suite(self, meta: Any, c: list[Any]) -> tuple[ast.Stmt, ...]:
        return tuple(c)

    # expressions
    def tuple_expr(self, meta: Any, c: list[Any]) -> ast.TupleExpr:
        return ast.TupleExpr(tuple(c), self._pos(meta))

    def empty_tuple(self, meta: Any, c: list[Any]) -> ast.TupleExpr:
        return ast.TupleExpr((), self._pos(meta))

    def list_expr(self, meta: Any, c: list[Any]) -> ast.ListExpr:
        return ast.ListExpr(tuple(c), self._pos(meta))

    def ifexp(self, meta: Any, c: list[Any]) -> ast.IfExp:
        body, test, orelse = c
        return ast.IfExp(test, body, orelse, self._pos(meta))

    def or_test(self, meta: Any, c: list[Any]) -> ast.BoolOp:
        return ast.BoolOp("or", tuple(c), self._pos(meta))

    def and_test(self, meta: Any, c: list[Any]) -> ast.BoolOp:
        return ast.BoolOp("and", tuple(c), self._pos(meta))

    def unary(self, meta: Any, c: list[Any]) -> ast.UnaryOp:
        return ast.UnaryOp(str(c[0]), c[1], self._tpos(c[0]))

    def comparison(self, meta: Any, c: list[Any]) -> ast.Compare:
        return ast.Compare(c[0], tuple(str(t) for t in c[1::2]), tuple(c[2::2]), self._tpos(c[1]))

    def _binops(self, meta: Any, c: list[Any]) -> ast.BinOp:
        left = c[0]
        for op, right in zip(c[1::2], c[2::2]):
            left = ast.BinOp(str(op), left, right, self._tpos(op))
        return left  # type: ignore[no-any-return]

    arith_expr = term = power = _binops

    def call(self, meta: Any, c: list[Any]) -> ast.Call:
        func, *items = c
        args: list[ast.Expr] = []
        kws: list[ast.Keyword] = []
        seen: set[str] = set()
        for a in items:   # the arguments in error are left out, so the builder adds nothing about them
            if not isinstance(a, ast.Keyword):
                if kws:
                    self._fail(a.pos, "positional argument follows keyword argument")
                else:
                    args.append(a)
            elif a.name in seen:
                self._fail(a.pos, f"keyword argument '{a.name}' repeated")
            else:
                seen.add(a.name)
                kws.append(a)
        return ast.Call(func, tuple(args), tuple(kws), self._pos(meta))

    def kwarg(self, meta: Any, c: list[Any]) -> ast.Keyword:
        return ast.Keyword(str(c[0]), c[1], self._tpos(c[0]))

    def subscript(self, meta: Any, c: list[Any]) -> ast.Subscript:
        return ast.Subscript(c[0], c[1], self._pos(meta))

    def subscripts(self, meta: Any, c: list[Any]) -> ast.Expr:
        """One item is the index itself; several (x[:, 3]) are a tuple of them."""
        return c[0] if len(c) == 1 else ast.TupleExpr(tuple(c), self._pos(meta))

    def slice(self, meta: Any, c: list[Any]) -> ast.Slice:
        parts: list[Any] = [None]
        for x in c:
            if isinstance(x, Token) and x.value == ":":
                parts.append(None)
            else:
                parts[-1] = x
        lower, upper, step = (parts + [None])[:3]
        return ast.Slice(lower, upper, step, self._pos(meta))

    def name(self, meta: Any, c: list[Any]) -> ast.Name:
        return ast.Name(str(c[0]), self._pos(meta))

    def int_lit(self, meta: Any, c: list[Any]) -> ast.Num:
        text, pos = str(c[0]), self._pos(meta)
        if not _INT_LITERAL.fullmatch(text):
            self._fail(pos, f"invalid number '{_clip(text)}' ('_' goes between digits only)")
            return ast.Num(0, pos)
        digits = text.replace("_", "")
        if len(digits) > MAX_INT_DIGITS + 2 or int(digits, 0).bit_length() > 1024:
            self._fail(pos, f"number too large: an int literal has at most {MAX_INT_DIGITS} digits (1024 bits)")
            return ast.Num(0, pos)
        return ast.Num(int(digits, 0), pos)

    def float_lit(self, meta: Any, c: list[Any]) -> ast.Num:
        text, pos = str(c[0]), self._pos(meta)
        if not _FLOAT_LITERAL.fullmatch(text):
            self._fail(pos, f"invalid number '{_clip(text)}' ('_' goes between digits only)")
            return ast.Num(0.0, pos)
        value = float(text.replace("_", ""))
        if not math.isfinite(value):
            self._fail(pos, f"number too large: '{_clip(text)}' does not fit a float")
            return ast.Num(0.0, pos)
        return ast.Num(value, pos)

    def string(self, meta: Any, c: list[Any]) -> ast.Str:
        parts = []
        for tok in c:
            s = str(tok)
            prefix = s[: len(s) - len(s.lstrip("rRbBuUfF"))].lower()
            body = s[len(prefix):]
            body = body[3:-3] if body[:3] in ('"""', "'''") else body[1:-1]
            if "f" in prefix or "b" in prefix:
                what = "f-strings" if "f" in prefix else "byte strings"
                self._fail(self._tpos(tok), f"{what} are not supported in a spec")
            try:
                parts.append(body if "r" in prefix else _unescape(body))
            except ValueError as e:
                self._fail(self._tpos(tok), f"bad escape in a string: {e}")
        return ast.Str("".join(parts), self._pos(meta))

    def true(self, meta: Any, c: list[Any]) -> ast.Const:
        return ast.Const(True, self._pos(meta))

    def false(self, meta: Any, c: list[Any]) -> ast.Const:
        return ast.Const(False, self._pos(meta))

    def none(self, meta: Any, c: list[Any]) -> ast.Const:
        return ast.Const(None, self._pos(meta))
