"""Hostile and careless specs (issue 11): every one is a clean, positioned error or a correct program, and the
compiler's cost is bounded before any work: no traceback, hang or unbounded memory."""
import pytest

from wgslgrad.compiler.errors import SpecErrors
from wgslgrad.compiler.frontend import compile_spec

OUT = "Output(Input(1))\n"


def errors_of(src: str) -> SpecErrors:
    with pytest.raises(SpecErrors) as info:
        compile_spec(src, "model.py")
    return info.value


def assert_error(src: str, line: int, col: int, msg: str) -> str:
    """The spec fails with `msg` at line:col (among its errors), quoting the line with a caret; returns the text."""
    text = str(errors_of(src))
    head = f"model.py:{line}:{col}: error: {msg}"
    lines = text.split("\n")
    assert head in lines, f"{head!r} not in:\n{text}"
    i = lines.index(head)
    assert lines[i + 2].endswith("^") and lines[i + 2].index("^") - 8 == col - 1, text
    return text


# ---- literals and nesting that used to raise Python exceptions from `check`


@pytest.mark.parametrize("src,col,msg", [
    ("a = 0x_\n", 5, "invalid number '0x_' ('_' goes between digits only)"),
    ("a = 1__0\n", 5, "invalid number '1__0' ('_' goes between digits only)"),
    ("a = 1_.5\n", 5, "invalid number '1_.5' ('_' goes between digits only)"),
    ("a = " + "9" * 5000 + "\n", 5, "number too large: an int literal has at most 310 digits (1024 bits)"),
    ("a = 0x" + "f" * 300 + "\n", 5, "number too large: an int literal has at most 310 digits (1024 bits)"),
    ("a = 1e400\n", 5, "number too large: '1e400' does not fit a float"),
    ('a = "\\U00110000"\n', 5, ("bad escape in a string: \\U00110000 is not a Unicode character (the largest is "
                                "\\U0010ffff)")),
    ('a = "\\x"\n', 5, "bad escape in a string: truncated \\xXX escape"),
    ('a = "ab\\u12"\n', 5, "bad escape in a string: truncated \\uXXXX escape"),
])
def test_bad_literals(src, col, msg):
    assert_error(src + OUT, 1, col, msg)


def test_literals_python_accepts_still_parse():
    g = compile_spec("a = 1_000 + 0x_ff + 0X1F + 1_0.5e10 + 0\nb = '\\x41\\u00e9\\U0001F600'\n" + OUT, "m.py")
    assert g.inputs


def test_deep_nesting_is_an_error_not_a_recursion_error():
    for depth in (150, 600, 5000):
        src = "x = Input(3)\nOutput(" + "relu(" * depth + "x" + ")" * depth + ")\n"
        text = str(errors_of(src))
        assert "error: the spec nests expressions or blocks more than 100 deep here" in text
    src = "x = " + "-" * 3000 + "1\n" + OUT
    assert "more than 100 deep" in str(errors_of(src))
    compile_spec("x = Input(3)\nOutput(" + "relu(" * 60 + "x" + ")" * 60 + ")\n", "m.py")   # 60 is fine
