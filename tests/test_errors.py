"""Every error kind: `file:line:col: error: msg`, the source line, a caret under the column; all reported together."""
import pytest

from wgslgrad.compiler.errors import SpecError, SpecErrors
from wgslgrad.compiler.frontend import compile_spec, load_spec
from wgslgrad.compiler.ir import Pos
from wgslgrad.ops.elementwise import UNARY_ROWS

# the activation= names, in the order the error lists them: the elementwise rows marked activation
ACTIVATIONS = ", ".join(f"'{r.name}'" for r in UNARY_ROWS.values() if r.activation)
OUT = "Output(Input(1))\n"   # keeps specs that test something else from also lacking an Output


def errors_of(src: str) -> SpecErrors:
    with pytest.raises(SpecErrors) as info:
        compile_spec(src, "model.py")
    return info.value


def assert_points(text: str, src: str, line: int, col: int, msg: str) -> None:
    """`text` reports `msg` at line:col, quoting that source line with a caret under the column."""
    lines = text.split("\n")
    head = f"model.py:{line}:{col}: error: {msg}"
    assert head in lines, f"{head!r} not in:\n{text}"
    i = lines.index(head)
    assert lines[i + 1] == f" {line:>4} | {src.split(chr(10))[line - 1]}".rstrip()
    assert lines[i + 2] == " " * 6 + "| " + " " * (col - 1) + "^"


def check_one(src: str, line: int, col: int, msg: str) -> None:
    e = errors_of(src)
    assert len(e.errors) == 1, str(e)
    assert_points(str(e), src, line, col, msg)


# ---- rendering


def test_format_of_one_error():
    src = "x = Input(3)\ndef f(x):\n    y = reul(x)\n    return y\n"
    e = SpecErrors([SpecError(Pos("model.py", 3, 9), "unknown name 'reul'")], src)
    assert str(e) == ("model.py:3:9: error: unknown name 'reul'\n"
                      "    3 |     y = reul(x)\n"
                      "      |         ^")
    assert str(SpecError(Pos("model.py", 3, 9), "boom")) == "model.py:3:9: error: boom"


def test_errors_sorted_counted_and_tabs_aligned():
    src = "a = 1\n\tb = c\n"
    e = SpecErrors([SpecError(Pos("m.py", 2, 6), "second"), SpecError(Pos("m.py", 1, 5), "first")], src)
    assert [x.msg for x in e.errors] == ["first", "second"]
    lines = str(e).split("\n")
    assert lines[3] == "m.py:2:6: error: second"
    assert lines[4] == "    2 |         b = c" and lines[5] == "      |             ^"   # tab is 8 columns
    assert lines[-1] == "2 errors"


def test_position_past_the_end_still_renders():
    e = SpecErrors([SpecError(Pos("m.py", 9, 1), "at the end")], "x = 1\n")
    assert str(e) == "m.py:9:1: error: at the end"


# ---- syntax errors (parsing resumes on the next line, so each spec here has one)


@pytest.mark.parametrize("src,line,col,msg", [
    ("x = 1 2\n", 1, 7, "unexpected number 2"),
    ("def f(x)\n    return x\n", 1, 9, "expected ':', got end of line"),
    ("if x == 1\n    y = 2\n", 1, 10, "expected ':', got end of line"),
    ("if x = 1:\n    pass\n", 1, 6, "expected ':', got '=' (compare with '==')"),
    ("for i range(3):\n    pass\n", 1, 7, "expected 'in', got name 'range'"),
    ("y = a if b\n", 1, 11, "expected 'else', got end of line"),
    ("x = [1 2]\n", 1, 8, "expected ',' or ']', got number 2"),
    ("x = f(a b)\n", 1, 9, "expected ',' or ')', got name 'b'"),
    ("x = \n", 1, 5, "expected an expression, got end of line"),
    ("x = (1,\n     2\n", 1, 5, "'(' was never closed"),
    ("x = conv2d(a, 3\ny = 2\n", 1, 11, "'(' was never closed"),
    ("x = 1\n)\n", 2, 1, "unmatched ')'"),
    ("if x:\ny = 1\n", 2, 1, "expected an indented block, got name 'y'"),
    ("def f():\n", 1, 9, "expected an indented block, got end of file"),
    ("x = 1\n    y = 2\n", 2, 5, "unexpected indent"),
    ("  x = 1\n", 1, 3, "unexpected indent"),
    ("if x:\n    y = 1\n  z = 2\n", 3, 3, "unindent does not match any outer indentation level"),
    ("x = 'abc\n", 1, 5, "unterminated string"),
    ("x = y.shape\n", 1, 6, "attribute access ('.') is not supported in a spec"),
    ("x = {}\n", 1, 5, "unexpected character '{' (dicts and sets are not supported)"),
    ("x = a $ b\n", 1, 7, "unexpected character '$'"),
    ("x += 1\n", 1, 3, "augmented assignment ('+=') is not supported; write 'x = x + ...'"),
    ("f(a+b=1)\n", 1, 6, "expected ',' or ')', got '=' (a keyword argument needs a plain name before '=')"),
    ("while x:\n    pass\n", 1, 1, "'while' loops are not supported; use 'for ... in range(n)'"),
    ("import numpy as np\n", 1, 1, "'import' is not supported: a spec is parsed, never executed"),
    ("f = lambda x: x\n", 1, 5, "'lambda' is not supported; use 'def'"),
    ("y = x is None\n", 1, 7, "'is' is not supported; use '==' or '!='"),
])
def test_syntax_errors(src, line, col, msg):
    check_one(src, line, col, msg)


@pytest.mark.parametrize("src,line,col,msg", [
    ("f(x) = 3\n", 1, 1, "cannot assign to a function call"),
    ("a[0] = 3\n", 1, 1, "cannot assign to an item (lists cannot be changed)"),
    ("x = f'{a}'\n", 1, 5, "f-strings are not supported in a spec"),
    ("def f(a=0, b=0):\n    pass\nf(a=1, 2)\n", 3, 8, "positional argument follows keyword argument"),
    ("def f(a=0):\n    pass\nf(a=1, a=2)\n", 3, 8, "keyword argument 'a' repeated"),
    ("def f(a, a):\n    pass\n", 1, 10, "duplicate parameter 'a' in function definition"),
    ("def f(a=1, b):\n    pass\n", 1, 12, "parameter 'b' without a default follows one with a default"),
    ("if True:\n    return 1\n", 2, 5, "'return' outside a function"),
])
def test_structural_syntax_errors(src, line, col, msg):
    check_one(src, line, col, msg)


def test_structural_syntax_errors_are_reported_together():
    src = "f(x) = 1\ny = f'{x}'\nreturn y\n"
    e = errors_of(src)
    assert [(x.pos.line, x.pos.col) for x in e.errors] == [(1, 1), (2, 5), (3, 1)]


# ---- build errors


@pytest.mark.parametrize("src,line,col,msg", [
    # names
    ("x = Input(3)\ny = reul(x)\nOutput(y)\n", 2, 5, "unknown name 'reul' (did you mean 'relu'?)"),
    ("x = Input(3)\nOutput(xx)\n", 2, 8, "unknown name 'xx' (did you mean 'x'?)"),
    ("x = Input(3)\nOutput(x)\nbreak\n", 3, 1, "'break' is not supported in a spec"),
    # argument count, keywords, types
    ("x = Input(3)\nOutput(relu(x, 3))\n", 2, 16, "relu() takes 1 positional argument but 2 were given"),
    ("x = Input(3)\nOutput(dense(x, 3, True, None, True, 'n', 7))\n", 2, 43,
     "dense() takes from 2 to 6 positional arguments but 7 were given"),
    ("x = Input(8, 8, 3)\nOutput(conv2d(x, 3, kernal=3))\n", 2, 21,
     "conv2d() got an unexpected keyword argument 'kernal' (did you mean 'kernel'?)"),
    ("x = Input(8, 8, 3)\nOutput(conv2d(x))\n", 2, 8, "conv2d() missing required argument 'filters'"),
    ("x = Input(8, 8, 3)\nOutput(conv2d(x, 3, x=x))\n", 2, 21, "conv2d() got multiple values for argument 'x'"),
    ("def f(a, b):\n    return a\nOutput(f(1))\n", 3, 8, "f() missing required argument 'b'"),
    ("x = Input(8, 8, 3)\ny = conv2d(x, x)\nOutput(y)\n", 2, 15, "conv2d() argument 'filters' must be an int, got tensor"),
    ("x = Input(8, 8, 3)\ny = conv2d(x, 0)\nOutput(y)\n", 2, 15, "conv2d() argument 'filters' must be at least 1, got 0"),
    ("x = Input(8, 8, 3)\ny = conv2d(3, 4)\nOutput(y)\n", 2, 12, "conv2d() argument 'x' must be a tensor, got int"),
    ("x = Input(8, 8, 3)\ny = conv2d(x, 4, kernel=(3, 3, 3))\nOutput(y)\n", 2, 18,
     "conv2d() argument 'kernel' must be an int or a pair of ints, got tuple"),
    ("x = Input(8, 8, 3)\ny = conv2d(x, 4, padding='sam')\nOutput(y)\n", 2, 18,
     "conv2d() argument 'padding' must be one of 'same', 'valid', got 'sam' (did you mean 'same'?)"),
    ("x = Input(8, 8, 3)\ny = conv2d(x, 4, use_bias=1)\nOutput(y)\n", 2, 18,
     "conv2d() argument 'use_bias' must be True or False, got int"),
    ("x = Input(8, 8, 3)\ny = conv2d(x, 4, activation='rleu')\nOutput(y)\n", 2, 18,
     f"conv2d() argument 'activation' must be one of {ACTIVATIONS}, got 'rleu' (did you mean 'relu'?)"),
    ("x = Input(8, 8, 3)\ny = dense(x, 4, name='a b')\nOutput(y)\n", 2, 17,
     "dense() argument 'name' must be a name or a path like 'dense0/conv1', got 'a b'"),
    ("x = Input(3)\nx()\nOutput(x)\n", 2, 1, "tensor is not callable"),
    ("x = Input(3, 0)\nOutput(x)\n", 1, 14, "Input() argument 'dims' must be at least 1, got 0"),
    # shapes
    ("x = Input(8, 8, 3)\ny = conv2d(x, 4, stride=2) + conv2d(x, 4)\nOutput(y)\n", 2, 28,
     "shapes [1,4,4,4] and [1,8,8,4] do not broadcast"),
    ("x = Input(3)\ny = conv2d(x, 3)\nOutput(y)\n", 2, 5, "conv2d() expects an NHWC input of rank 4, got [1,3]"),
    ("x = Input(8, 8, 3)\ny = conv2d(x, 3, kernel=9, padding='valid')\nOutput(y)\n", 2, 5,
     "conv2d(): kernel 9 is larger than the input size 8 with padding 'valid'"),
    ("x = Input(8, 8, 3)\ny = reshape(x, [5, 5])\nOutput(y)\n", 2, 5, "cannot reshape [1,8,8,3] to [1,5,5]"),
    ("x = Input(8, 8, 3)\nt = Input(10)\nOutput(x)\nTrain(loss=mse(x, t))\n", 4, 19,
     "mse() needs 'pred' and 'target' of the same shape, got [1,8,8,3] and [1,10]"),
    ("x = Input(8, 8, 3)\ny = concat([x, global_avg_pool(x)])\nOutput(y)\n", 2, 5,
     "concat needs equal shapes but the last axis, got [1,8,8,3] and [1,3]"),
    ("x = Input(3)\ny = dense(mean(x), 3)\nOutput(y)\n", 2, 5,
     "dense() expects an input of rank 2 or more ([batch, features]), got []"),
    ("x = Input(3)\ny = x ** 2\nOutput(y)\n", 2, 7, "operator '**' is not supported on tensors (only + - * /)"),
    # compile-time values
    ("x = Input(3)\nif x:\n    y = x\nOutput(x)\n", 2, 4,
     "an if condition must be a compile-time constant (a number, bool, string, None or list), got a tensor"),
    ("x = Input(3)\ny = x < 1\nOutput(x)\n", 2, 7,
     "tensors cannot be compared: comparisons are worked out at compile time"),
    ("x = Input(3)\nfor v in x:\n    pass\nOutput(x)\n", 2, 10, "a for loop needs a list, a tuple or range(...), got tensor"),
    ("a, b = [1, 2, 3]\n" + OUT, 1, 1, "cannot unpack 3 values into 2 names"),
    ("n = 1 / 0\n" + OUT, 1, 7, "division by zero"),
    ("n = [1, 2][2]\n" + OUT, 1, 12, "index 2 is out of range for a list of length 2"),
    ("n = 'a' + 'b'\n" + OUT, 1, 9, "string concatenation with '+' is not supported"),
    ("n = range(10 ** 6)\n" + OUT, 1, 5, "range() of 1,000,000 numbers is too long to unroll (at most 100,000)"),
    # recursion and runaway loops
    ("def f(n):\n    return f(n + 1)\nn = f(0)\n" + OUT, 2, 12,
     "recursion too deep: more than 50 nested calls of user functions (calling f())"),
    # declarations
    ("x = Input(3)\nOutput(3)\nOutput(x)\n", 2, 8, "Output() argument 'x' must be a tensor, got int"),
    ("x = Input(3)\nOutput(x)\nOutput(relu(x), name='x')\n", 3, 17,
     "Output() name 'x' is already used by the Output at model.py:2:1"),
    ("x = Input(3)\ny = Input(3, name='x')\nOutput(x)\n", 2, 14, "Input() name 'x' is already used by another input"),
    ("x = Input(3)\nOutput(x)\nTrain(loss=x)\n", 3, 7,
     "Train() argument 'loss' must be a scalar, got shape [1,3]; reduce it with mean() or use a loss such as mse()"),
    ("x = Input(3)\nOutput(x)\nTrain(loss=mean(x), optimizer='adam')\n", 3, 21,
     "Train() argument 'optimizer' must be an optimizer such as Adam(lr=0.001), got str"),
    ("x = Input(3)\nOutput(x)\nTrain(loss=mean(x), optimizer=Adam(lr=0))\n", 3, 36,
     "Adam() argument 'lr' must be positive, got 0.0"),
    ("x = Input(3)\nOutput(x)\nTrain(loss=mean(x), batch=0)\n", 3, 21, "Train() argument 'batch' must be at least 1, got 0"),
    ("x = Input(3)\nOutput(x)\nTrain(loss=mean(x))\nTrain(loss=sum(x))\n", 4, 1,
     "Train() is already called (at model.py:3:1); a spec trains one loss"),
    ("x = Input(3)\ny = relu(x)\n", 2, 1, "the spec has no Output(...); add Output(tensor) to name the model's result"),
    ("x = Input(3)\ny = dense(x, 4, name='d')\ny = dense(y, 4, name='d')\nOutput(y)\n", 3, 5,
     ("parameter 'd/weights' is already defined (at model.py:2:5); give this call a different name=, "
     "or pass share=True to reuse its weights")),
])
def test_build_errors(src, line, col, msg):
    check_one(src, line, col, msg)


def test_runaway_loops_stop_with_one_error():
    src = "for i in range(100000):\n    for j in range(100000):\n        pass\n" + OUT
    check_one(src, 1, 1, "the spec takes more than 200,000 steps to unroll; is a loop, a recursion or a list too long?")


def test_errors_in_functions_name_the_call():
    src = "x = Input(8, 8, 3)\ndef block(x, ch):\n    return conv2d(x, ch, kernal=3)\ny = block(x, 4)\nOutput(y)\n"
    text = str(errors_of(src))
    assert_points(text, src, 3, 26, "conv2d() got an unexpected keyword argument 'kernal' (did you mean 'kernel'?)")
    assert text.endswith("      = note: in block() called at model.py:4:5")


def test_several_errors_reported_together_in_order():
    src = ("image = Input(28, 28, 1)\n"
           "x = conv2d(image, 8, kernal=3)\n"
           "y = reul(image)\n"
           "z = dense(image, 'ten')\n"
           "w = conv2d(image, 4, stride=2) + conv2d(image, 4)\n"
           "Output(image)\n")
    e = errors_of(src)
    text = str(e)
    assert [(x.pos.line, x.pos.col) for x in e.errors] == [(2, 22), (3, 5), (4, 18), (5, 32)]
    assert_points(text, src, 3, 5, "unknown name 'reul' (did you mean 'relu'?)")
    assert_points(text, src, 4, 18, "dense() argument 'units' must be an int, got str")
    assert text.endswith("4 errors")


def test_a_failed_value_does_not_cascade():
    # y is poisoned by the unknown name; its uses (and the if on it) add no errors, and Output(w) counts.
    src = ("x = Input(4)\ny = undefined_thing\nz = relu(y) + x\nif y:\n    q = 1\nw = dense(z, q)\n"
           "a, b = y\nfor i in y:\n    pass\nOutput(w)\n")
    e = errors_of(src)
    assert [x.msg for x in e.errors] == ["unknown name 'undefined_thing'"]


def test_error_in_one_branch_of_a_loop_is_reported_once():
    src = "x = Input(4)\nfor i in range(5):\n    x = relu(x, i)\nOutput(x)\n"
    e = errors_of(src)
    assert len(e.errors) == 1 and e.errors[0].pos == Pos("model.py", 3, 17)


def test_load_spec_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.py"
    with pytest.raises(OSError, match="nope.py"):
        load_spec(missing)


def test_load_spec_reports_the_file_name(tmp_path):
    path = tmp_path / "model.py"
    path.write_text("x = Input(3)\nOutput(relu(x, 1))\n")
    with pytest.raises(SpecErrors) as info:
        load_spec(path)
    assert str(info.value).startswith(f"{path}:2:16: error: relu() takes 1 positional argument")


# ---- messages that tell a Keras or PyTorch user what to write instead (issue 10)


@pytest.mark.parametrize("src,line,col,msg", [
    ("a = Input(3)\nb = Input(3)\nOutput(concat(a, b))\n", 3, 18,
     "concat() takes one list of tensors: write concat([a, b]) with brackets, not 2 arguments"),
    ("a = Input(3)\nOutput(concat(a, a, a))\n", 2, 18,
     "concat() takes one list of tensors: write concat([a, b, ...]) with brackets, not 3 arguments"),
    ("x = Input(3)\nOutput(x)\nTrain(loss=mean(x), optimizer=Adam(learning_rate=0.01))\n", 3, 36,
     "Adam() got an unexpected keyword argument 'learning_rate' (did you mean 'lr'?)"),
    ("x = Input(8, 8, 3)\nOutput(conv2d(x, 4, kernel_size=3))\n", 2, 21,
     "conv2d() got an unexpected keyword argument 'kernel_size' (did you mean 'kernel'?)"),
    ("x = Input(8, 8, 3)\nOutput(max_pool(x, pool_size=3))\n", 2, 20,
     "max_pool() got an unexpected keyword argument 'pool_size' (did you mean 'size'?)"),
    ("x = Input(8, 8, 3)\nOutput(BatchNormalization(x))\n", 2, 8,
     "unknown name 'BatchNormalization': use batch_norm(x, momentum=0.99, epsilon=0.001)"),
    ("x = Input(3)\nOutput(Dropout(x, 0.5))\n", 2, 8, "unknown name 'Dropout': use dropout(x, rate)"),
    ("x = Input(3)\nOutput(dropout(x, 1.0))\n", 2, 19,
     "dropout() argument 'rate' (the fraction dropped) must be in [0, 1), got 1.0"),
    ("x = Input(3)\nw = dense(x, 3)\nOutput(batch_norm(w, momentum=2))\n", 3, 22,
     "batch_norm() argument 'momentum' must be in [0, 1], got 2.0"),
    ("x = Input(3)\nOutput(x)\nTrain(loss=mean(x), optimizer=SGD(lr=0.1))\n", 3, 31,
     "unknown name 'SGD': only the Adam optimizer is supported (yet): use Adam(lr=0.001)"),
    ("x = Input(3)\nOutput(Dense(x, 3))\n", 2, 8, "unknown name 'Dense': use dense(x, units)"),
    ("x = Input(3)\nOutput(dense(x, 3, activation='softmax'))\n", 2, 20,
     ("dense() argument 'activation' cannot be 'softmax': softmax is not elementwise; apply softmax() to the "
     "layer's output, or give the layer's output (the logits) to softmax_cross_entropy(), which applies softmax "
     "itself")),
    ("x = Input(4)\ny = Input(5)\nz = dense(x, 10)\nOutput(z)\nTrain(loss=softmax_cross_entropy(z, y))\n", 5, 37,
     ("softmax_cross_entropy() logits have 10 classes but labels have 5 (shapes [1,10] and [1,5]): the last layer "
     "needs one unit per class")),
    ("x = Input(4)\ny = Input(1)\nz = dense(x, 10)\nOutput(z)\nTrain(loss=softmax_cross_entropy(z, y))\n", 5, 37,
     ("softmax_cross_entropy() labels of shape [1,1] look like class indices, but it needs one-hot labels of shape "
     "[1,10], one column per class: store the labels one-hot in the data, e.g. np.eye(10)[labels]")),
    ("x = Input(4)\ny = Input(10)\nz = softmax(dense(x, 10))\nOutput(z)\nTrain(loss=softmax_cross_entropy(z, y))\n",
     5, 34, ("softmax_cross_entropy() applies softmax itself: pass the logits (what goes into softmax()), not "
            "softmax's output")),
    (("x = Input(4)\ny = Input(3)\nz = dense(x, 3, activation='sigmoid')\nOutput(z)\n"
     "Train(loss=sigmoid_cross_entropy(z, y))\n"), 5, 34,
     ("sigmoid_cross_entropy() applies the sigmoid itself: pass the logits (what goes into sigmoid()), not "
     "sigmoid's output")),
])
def test_messages_for_habits_from_other_frameworks(src, line, col, msg):
    check_one(src, line, col, msg)


def test_syntax_errors_on_several_lines_are_reported_together():
    src = ("x = Input(3)\ny = relu(x) 2\ndef f(a)\n    return a $ 1\nz = [1 2]\nfor i range(3):\n    pass\n"
           "w = f'{x}'\nOutput(y)\n")
    e = errors_of(src)
    text = str(e)
    assert [(x.pos.line, x.pos.col) for x in e.errors] == [(2, 13), (3, 9), (4, 14), (5, 8), (6, 7), (8, 5)]
    assert_points(text, src, 3, 9, "expected ':', got end of line")
    assert_points(text, src, 6, 7, "expected 'in', got name 'range'")
    assert_points(text, src, 8, 5, "f-strings are not supported in a spec")
    assert text.endswith("6 errors")


def test_syntax_error_recovery_stops_where_lines_cannot_be_told_apart():
    # a bracket left open across lines, and a bad indent: the first error only, not a cascade
    e = errors_of("x = conv2d(a,\n  3 3)\ny = 1 2\n")
    assert [(x.pos.line, x.pos.col) for x in e.errors] == [(2, 5)]
    e = errors_of("x = 1 2\nif x:\ny = 1\nz = 3 4\n")
    assert [x.msg for x in e.errors] == ["unexpected number 2", "expected an indented block, got name 'y'"]


def test_every_bad_argument_of_a_call_is_reported():
    src = ("x = Input(8, 8, 3)\ny = conv2d(x, 'a', kernel=0, padding='sam', name='..')\nz = dense(x, 0, use_bias=1)\n"
           "Output(y)\nTrain(loss=mean(x), optimizer=Adam(lr=-1, beta1=2))\n")
    e = errors_of(src)
    assert [(x.pos.line, x.pos.col) for x in e.errors] == [(2, 15), (2, 20), (2, 30), (2, 45), (3, 14), (3, 17),
                                                           (5, 36), (5, 43)]
    assert_points(str(e), src, 2, 20, "conv2d() argument 'kernel' must be at least 1, got 0")
    assert_points(str(e), src, 5, 43, "Adam() argument 'beta1' must be in [0, 1), got 2.0")


@pytest.mark.parametrize("value,msg", [
    ("relu", "dense() argument 'activation' takes a name: write activation='relu'"),
    ("[1]", f"dense() argument 'activation' must be one of {ACTIVATIONS}, got list"),
    ("'linear'", ("dense() argument 'activation' cannot be 'linear': for no activation, leave the argument out (or "
                 "pass None)")),
])
def test_activation_values(value, msg):
    check_one(f"x = Input(3)\nOutput(dense(x, 2, activation={value}))\n", 2, 20, msg)


def test_check_errors_are_reported_beside_syntax_errors():
    """The lines that parsed are checked too; what the broken lines would define counts as failed, so it
    adds no 'unknown name' of its own, and a broken Output(...) line is not 'no Output'."""
    src = ("x = Input(3)\ny = relu(x) 2\nz = reul(x)\ndef f(a)\n    return a\nw = f(y) + z\nfor i range(3):\n"
           "    q = dense(i, 2)\nv = dense(x, 'ten')\nOutput(w) 2\n")
    e = errors_of(src)
    assert [(x.pos.line, x.pos.col) for x in e.errors] == [(2, 13), (3, 5), (4, 9), (7, 7), (9, 14), (10, 11)]
    text = str(e)
    assert_points(text, src, 3, 5, "unknown name 'reul' (did you mean 'relu'?)")
    assert_points(text, src, 9, 14, "dense() argument 'units' must be an int, got str")
    assert text.endswith("6 errors")
