"""Parser unit tests: every statement and expression form, positions, and lexical details."""

import pytest
from example_files import SPECS

from wgslgrad.compiler import ast
from wgslgrad.compiler.ast import dump
from wgslgrad.compiler.ir import Pos
from wgslgrad.compiler.parse import parse


def stmts(src: str) -> list[str]:
    return [dump(s) for s in parse(src, "m.py").body]


def expr(src: str) -> str:
    (s,) = parse(f"x = {src}\n", "m.py").body
    assert isinstance(s, ast.Assign)
    return dump(s.value)


# ---- statements


def test_assignments_and_expression_statements():
    assert stmts("x = 1\na, b = f()\n[c, (d, e)] = g\nOutput(x)\npass\n") == [
        "Assign(Name('x'), Num(1))",
        "Assign(TupleExpr([Name('a'), Name('b')]), Call(Name('f'), [], []))",
        "Assign(ListExpr([Name('c'), TupleExpr([Name('d'), Name('e')])]), Name('g'))",
        "ExprStmt(Call(Name('Output'), [Name('x')], []))",
        "Pass()",
    ]


def test_def_with_defaults_and_return():
    src = "def f(a, b=2, first=False,):\n    '''doc'''\n    return a\n\ndef g():\n    return\n"
    assert stmts(src) == [
        ("FuncDef('f', [Param('a', None), Param('b', Num(2)), Param('first', Const(False))], "
        "[ExprStmt(Str('doc')), Return(Name('a'))])"),
        "FuncDef('g', [], [Return(None)])",
    ]


def test_if_elif_else_nests_like_python():
    src = "if a:\n    x = 1\nelif b:\n    x = 2\nelif c: x = 3\nelse:\n    pass\n"
    assert stmts(src) == [
        ("If(Name('a'), [Assign(Name('x'), Num(1))], [If(Name('b'), [Assign(Name('x'), Num(2))], "
        "[If(Name('c'), [Assign(Name('x'), Num(3))], [Pass()])])])")]
    assert stmts("if a: pass\n") == ["If(Name('a'), [Pass()], [])"]


def test_for_loops():
    assert stmts("for i in range(3):\n    y = i\n") == [
        "For(Name('i'), Call(Name('range'), [Num(3)], []), [Assign(Name('y'), Name('i'))])"]
    assert stmts("for a, b in [(1, 2)]: pass\n") == [
        "For(TupleExpr([Name('a'), Name('b')]), ListExpr([TupleExpr([Num(1), Num(2)])]), [Pass()])"]


def test_nested_blocks_and_dedents():
    src = "def f(x):\n    for i in [1]:\n        if i:\n            x = x\n    return x\ny = 1\n"
    assert stmts(src) == [
        ("FuncDef('f', [Param('x', None)], [For(Name('i'), ListExpr([Num(1)]), [If(Name('i'), "
        "[Assign(Name('x'), Name('x'))], [])]), Return(Name('x'))])"),
        "Assign(Name('y'), Num(1))"]


def test_comments_blank_lines_and_continuations():
    src = ("# header\n\nx = (1 +   # inside brackets\n     2)\n    # an indented comment line\n"
           "y = [\n  3,\n\n  4,\n]\nz = 1 + \\\n    2\n")
    assert stmts(src) == [
        "Assign(Name('x'), BinOp('+', Num(1), Num(2)))",
        "Assign(Name('y'), ListExpr([Num(3), Num(4)]))",
        "Assign(Name('z'), BinOp('+', Num(1), Num(2)))"]


def test_line_endings_tabs_and_missing_final_newline():
    assert stmts("x = 1\r\ny = 2") == ["Assign(Name('x'), Num(1))", "Assign(Name('y'), Num(2))"]
    assert stmts("if a:\n\tx = 1\n\ty = 2\n") == [
        "If(Name('a'), [Assign(Name('x'), Num(1)), Assign(Name('y'), Num(2))], [])"]
    assert stmts("") == [] and stmts("# only a comment") == []


# ---- expressions


def test_precedence_and_associativity():
    assert expr("1 + 2 * 3 - 4") == "BinOp('-', BinOp('+', Num(1), BinOp('*', Num(2), Num(3))), Num(4))"
    assert expr("a / b // c % d") == "BinOp('%', BinOp('//', BinOp('/', Name('a'), Name('b')), Name('c')), Name('d'))"
    assert expr("-2 ** 2") == "UnaryOp('-', BinOp('**', Num(2), Num(2)))"
    assert expr("2 ** 3 ** 2") == "BinOp('**', Num(2), BinOp('**', Num(3), Num(2)))"
    assert expr("2 ** -1") == "BinOp('**', Num(2), UnaryOp('-', Num(1)))"
    assert expr("+a") == "UnaryOp('+', Name('a'))"
    assert expr("(1 + 2) * 3") == "BinOp('*', BinOp('+', Num(1), Num(2)), Num(3))"


def test_boolean_and_comparison_operators():
    assert expr("a or b and not c") == "BoolOp('or', [Name('a'), BoolOp('and', [Name('b'), UnaryOp('not', Name('c'))])])"
    assert expr("a < b <= c") == "Compare(Name('a'), ['<', '<='], [Name('b'), Name('c')])"
    assert expr("a == b != c > d >= e") == (
        "Compare(Name('a'), ['==', '!=', '>', '>='], [Name('b'), Name('c'), Name('d'), Name('e')])")
    assert expr("not a == b") == "UnaryOp('not', Compare(Name('a'), ['=='], [Name('b')]))"


def test_conditional_expression():
    assert expr("a if c else b") == "IfExp(Name('c'), Name('a'), Name('b'))"
    assert expr("a if c else b if d else e") == "IfExp(Name('c'), Name('a'), IfExp(Name('d'), Name('b'), Name('e')))"


def test_calls_subscripts_lists_tuples():
    assert expr("f(x, 2, k=3, name='a')") == (
        "Call(Name('f'), [Name('x'), Num(2)], [Keyword('k', Num(3)), Keyword('name', Str('a'))])")
    assert expr("f(x)(y)[0][1]") == (
        "Subscript(Subscript(Call(Call(Name('f'), [Name('x')], []), [Name('y')], []), Num(0)), Num(1))")
    assert expr("[]") == "ListExpr([])"
    assert expr("[1, [2], (3,)]") == "ListExpr([Num(1), ListExpr([Num(2)]), TupleExpr([Num(3)])])"
    assert expr("()") == "TupleExpr([])"
    assert expr("(1)") == "Num(1)"
    assert expr("1, 2") == "TupleExpr([Num(1), Num(2)])"
    assert expr("f(\n  a,\n  b=1,\n)") == "Call(Name('f'), [Name('a')], [Keyword('b', Num(1))])"


@pytest.mark.parametrize("text,value", [
    ("0", 0), ("42", 42), ("1_000", 1000), ("0x1F", 31), ("1.5", 1.5), ("1.", 1.0), (".5", 0.5),
    ("1e-7", 1e-7), ("2E3", 2000.0), ("1.5e+2", 150.0)])
def test_numbers(text, value):
    (s,) = parse(f"x = {text}\n", "m.py").body
    assert isinstance(s, ast.Assign) and isinstance(s.value, ast.Num)
    assert s.value.value == value and type(s.value.value) is type(value)


def test_strings_and_constants():
    assert expr("'a\\n\\t\\'b' \"c\"") == repr("a\n\t'bc").join(["Str(", ")"])
    assert expr("r'\\n'") == "Str('\\\\n')"
    assert expr('"""multi\nline"""') == "Str('multi\\nline')"
    assert expr("'\\x41\\u00e9'") == "Str('Aé')"
    assert expr("[True, False, None]") == "ListExpr([Const(True), Const(False), Const(None)])"


def test_keywords_are_not_names_but_names_may_contain_them():
    assert expr("iffy + nothing + format") == "BinOp('+', BinOp('+', Name('iffy'), Name('nothing')), Name('format'))"


# ---- positions


def test_positions_are_one_based_and_point_at_operators():
    (s,) = parse("y = relu(a + b * c)\n", "m.py").body
    assert isinstance(s, ast.Assign) and s.pos == Pos("m.py", 1, 1)
    call = s.value
    assert isinstance(call, ast.Call) and call.pos == Pos("m.py", 1, 5)
    add = call.args[0]
    assert isinstance(add, ast.BinOp) and add.pos == Pos("m.py", 1, 12)     # the '+'
    assert isinstance(add.right, ast.BinOp) and add.right.pos == Pos("m.py", 1, 16)
    assert add.left == ast.Name("a", Pos("m.py", 1, 10))


def test_positions_of_statements_keywords_and_params():
    module = parse("def f(x, k=1):\n    return g(x, k=k)\n", "spec.py")
    (fn,) = module.body
    assert isinstance(fn, ast.FuncDef) and fn.pos == Pos("spec.py", 1, 1)
    assert [p.pos.col for p in fn.params] == [7, 10]
    ret = fn.body[0]
    assert isinstance(ret, ast.Return) and ret.pos == Pos("spec.py", 2, 5)
    assert isinstance(ret.value, ast.Call) and ret.value.keywords[0].pos == Pos("spec.py", 2, 17)


def test_examples_parse():
    for path in SPECS:
        module = parse(path.read_text(), path.name)
        assert module.body, path
