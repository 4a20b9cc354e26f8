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


# ---- the interpreter's work is bounded: list sizes, range sizes and list items count, not only statements


def test_a_list_doubled_in_a_loop_stops_at_the_size_limit():
    src = "a = [1]\nfor i in range(30):\n    a = [a, a]\n" + OUT
    assert_error(src, 3, 9, "this list would hold 196,606 items (those of the lists in it included), more than "
                            "100,000")


def test_ranges_made_in_a_loop_count_their_items():
    src = "for i in range(60000):\n    r = range(100000)\n" + OUT
    assert_error(src, 1, 1, "the spec takes more than 200,000 steps to unroll; is a loop, a recursion or a list "
                            "too long?")


def test_passing_a_big_list_again_and_again_counts_its_items():
    src = "a = range(90000)\nfor i in range(100):\n    n = len(a) + max(a)\n" + OUT
    assert "more than 200,000 steps" in str(errors_of(src))


def test_lists_nest_at_most_100_deep():
    src = "a = 1\nfor i in range(1000):\n    a = [a]\n" + OUT
    assert_error(src, 3, 9, "lists nest more than 100 deep here")


def test_a_loop_making_too_many_nodes_stops_with_one_error():
    src = "x = Input(4)\nfor i in range(10000):\n    x = relu(x + 1.0)\nOutput(x)\n"
    e = errors_of(src)
    assert len(e.errors) == 1
    assert_error(src, 3, 16, "the spec makes more than 2,000 graph nodes; is a loop too long?")


def test_a_huge_unknown_name_is_clipped_and_not_compared():
    name = "q" * 90_000
    text = assert_error(f"x = Input(3)\nOutput({name})\n", 2, 8, f"unknown name '{'q' * 40}...'")
    assert len(text) < 1000          # the quoted line is clipped around the column too
    assert "did you mean" not in text


# ---- accepted by check, then a traceback or invalid WGSL later: now refused with a position


@pytest.mark.parametrize("src,line,col,msg", [
    ("x = Input(3)\nOutput(concat([mean(x), mean(x)]))\n", 2, 15,
     "concat() joins tensors along their last axis, but one in the list is a scalar (shape [])"),
    ("x = Input(3)\nOutput(softmax(mean(x)))\n", 2, 16,
     "softmax() normalises the last axis, so it needs a tensor of rank 1 or more, got a scalar (shape [])"),
    ("x = Input(3)\nOutput(leaky_relu(x, alpha=1e39))\n", 2, 22,
     ("leaky_relu() argument 'alpha' must be a finite number that fits a 32-bit float (at most 3.403e+38 in "
     "size), got 1e+39")),
    ("x = Input(3)\nOutput(leaky_relu(x, alpha=float('inf')))\n", 2, 22,
     ("leaky_relu() argument 'alpha' must be a finite number that fits a 32-bit float (at most 3.403e+38 in "
     "size), got inf")),
    ("x = Input(3)\nOutput(leaky_relu(x, alpha=float('nan')))\n", 2, 22,
     ("leaky_relu() argument 'alpha' must be a finite number that fits a 32-bit float (at most 3.403e+38 in "
     "size), got nan")),
    ("x = Input(3)\nOutput(x * 1e39)\n", 2, 10,
     "the number 1e+39 does not fit a 32-bit float (finite, at most 3.403e+38 in size)"),
    ("x = Input(3)\nOutput(x + [1, float('nan'), 2])\n", 2, 10,
     "the number nan does not fit a 32-bit float (finite, at most 3.403e+38 in size)"),
    ("x = Input(3)\nOutput(x)\nTrain(loss=mean(x), optimizer=Adam(lr=float('nan')))\n", 3, 36,
     "Adam() argument 'lr' must be a finite number that fits a 32-bit float (at most 3.403e+38 in size), got nan"),
    ("x² = Input(3)\nOutput(relu(x²))\n", 1, 6,
     ("Input() name must be ASCII letters, digits and '_' (not starting with a digit, at most 64 characters), "
     "got 'x²' (taken from the variable; pass name= to choose another)")),
    ("x = Input(3)\nOutput(x, name='../evil')\n", 2, 11,
     ("Output() argument 'name' must be ASCII letters, digits and '_' (not starting with a digit, at most 64 "
     "characters), got '../evil'")),
    ("x = Input(3, name='a/b')\nOutput(x)\n", 1, 14,
     ("Input() argument 'name' must be ASCII letters, digits and '_' (not starting with a digit, at most 64 "
     "characters), got 'a/b'")),
    ("x = Input(3)\nOutput(dense(x, 2, name='../w'))\n", 2, 20,
     "dense() argument 'name' must be a name or a path like 'dense0/conv1', got '../w'"),
    ("x = Input(3)\nloss = mean(x)\nOutput(loss)\nTrain(loss=mse(dense(x, 3), x))\n", 3, 1,
     "an Output named 'loss' is not the Train loss, which training reports as 'loss': rename this Output"),
])
def test_refused_at_check(src, line, col, msg):
    assert_error(src, line, col, msg)


def test_an_output_named_loss_that_is_the_loss_is_fine():
    g = compile_spec("x = Input(3)\nloss = mse(dense(x, 3), x)\nOutput(loss)\nTrain(loss=loss)\n", "m.py")
    assert g.outputs["loss"] == g.loss


# ---- what the compiler will allocate and generate is bounded before lowering


@pytest.mark.parametrize("src,line,col,msg", [
    ("x = Input(10**200, 10**200)\nOutput(x)\n", 1, 5,
     ("this tensor [1,10^200,10^200] would take about 10^391 GiB, more than one GPU buffer binds (128.0 MiB): use "
     "a smaller Input")),
    ("x = Input(4000, 4000, 3)\nOutput(x)\nTrain(loss=mean(x), batch=2)\n", 1, 5,
     ("this tensor [2,4000,4000,3] would take 366.2 MiB, more than one GPU buffer binds (128.0 MiB): use a "
     "smaller batch or a smaller Input, or compile for devices that bind 366.2 MiB or more (--max-binding "
     "367MiB; max_binding=367 * 2**20 in Python)")),
    ("x = Input(64, 64, 3)\nOutput(conv2d(x, 12000))\n", 2, 8,
     ("this tensor [1,64,64,12000] would take 187.5 MiB, more than one GPU buffer binds (128.0 MiB): use smaller "
     "layers, or compile for devices that bind 187.5 MiB or more (--max-binding 188MiB; "
     "max_binding=188 * 2**20 in Python)")),
    ("x = Input(4)\nOutput(dense(x, 40000000))\n", 2, 8,   # was "use a smaller batch" after lowering
     ("the parameters would take 610.4 MiB in all with 'dense_0/weights' [4,40000000], more than one GPU buffer "
     "binds (128.0 MiB): use fewer or smaller layers, or compile for devices that bind 610.4 MiB or more "
     "(--max-binding 611MiB; max_binding=611 * 2**20 in Python)")),
    ("x = Input(2000, 2000)\nfor i in range(600):\n    x = relu(x)\nOutput(x)\n", 3, 9,
     ("the model's tensors would take more than 8.0 GiB in all (the sum of every value's size) from here on: use "
     "smaller layers")),
    ("x = Input(1, 1, 1, 1, 1, 1, 1, 1)\nOutput(x)\n", 1, 5,
     "Input() takes at most 7 dimensions (the batch makes 8), got 8"),
    ("x = Input(4)\nOutput(reshape(x, [" + "1, " * 10 + "-1]))\n", 2, 19,
     "reshape() argument 'dims' takes at most 7 sizes (the batch makes 8), got 11"),
    ("x = Input(4)\nOutput(concat([" + "x, " * 300 + "]))\n", 2, 15, "concat() joins at most 256 tensors, got 300"),
    ("x = Input(8, 8, 3)\nOutput(depthwise_conv2d(x, kernel=100000))\n", 2, 28,
     "depthwise_conv2d() argument 'kernel' must be at most 65,536, got 100,000"),
    ("x = Input(8, 8, 3)\nOutput(max_pool(x, 2, stride=2**32 + 1))\n", 2, 23,
     "max_pool() argument 'stride' must be at most 65,536, got 4,294,967,297"),
    ("x = Input(8, 8, 3)\ny = conv2d(conv2d(x, 4), 4, stride=10**9)\nOutput(y)\nTrain(loss=mean(y))\n", 2, 29,
     "conv2d() argument 'stride' must be at most 65,536, got 1,000,000,000"),
    ("x = Input(8, 8, 3)\ny = conv2d(x, 2, kernel=2**20)\nOutput(y)\nTrain(loss=mean(y))\n", 2, 18,
     "conv2d() argument 'kernel' must be at most 65,536, got 1,048,576"),
    ("x = Input(8, 8, 3)\ny = conv2d(x, 2, kernel=4000)\nOutput(y)\n", 2, 5,
     ("the parameters would take 366.2 MiB in all with 'conv2d_0/filters' [4000,4000,3,2], more than one GPU "
     "buffer binds (128.0 MiB): use fewer or smaller layers, or compile for devices that bind 366.2 MiB or more "
     "(--max-binding 367MiB; max_binding=367 * 2**20 in Python)")),
    ("x = Input(64, 64, 3)\ny = conv2d(conv2d(x, 4), 4, stride=32)\nOutput(y)\nTrain(loss=mean(y))\n", 2, 5,
     ("training through this conv2d (stride (32, 32) on [1,64,64,4]) needs 1,024 stride phases, more than 256: use "
     "strides of at most 16")),
])
def test_costs_over_the_limits(src, line, col, msg):
    assert_error(src, line, col, msg)


def test_the_examples_stay_within_the_limits():
    from wgslgrad.compiler.frontend import load_spec
    g = load_spec("examples/landmark68.py", batch=256)    # the benchmark's largest batch
    assert sum(n.size for n in g.nodes) < 2**31


def test_summary_and_lowering_of_a_stride_beyond_the_input():
    """Within the limits, a stride larger than the image trains (one phase per row/column residue)."""
    from wgslgrad.compiler.lower import lower
    from wgslgrad.compiler.summary import format_summary
    g = compile_spec("x = Input(8, 8, 3)\ny = conv2d(conv2d(x, 4), 4, stride=60000)\nOutput(y)\n"
                     "Train(loss=mean(y))\n", "m.py")
    assert "[1,1,1,4]" in format_summary(g)
    assert lower(g, training=True).kernels


@pytest.mark.parametrize("src,col,msg", [
    ("Adam(beta1=0.999999999999)", 6,
     "Adam() argument 'beta1' must be at most 0.9999999403953552 (it is 1.0 as a float32), got 0.999999999999"),
    ("Adam(eps=1e-45)", 6, "Adam() argument 'eps' must be at least 1.175e-38 (the smallest normal float32), got 1e-45"),
    ("Adam(lr=1e-50)", 6, "Adam() argument 'lr' must be at least 1.175e-38 (the smallest normal float32), got 1e-50"),
])
def test_adam_settings_must_survive_float32(src, col, msg):
    assert_error(f"x = Input(3)\nOutput(x)\nTrain(loss=mean(x), optimizer=\n{src})\n", 4, col, msg)


# ---- through the command line: exit 1 with the message, never a traceback


@pytest.mark.parametrize("src,msg", [
    ("a = 0x_\n", "invalid number '0x_'"),
    ('a = "\\U00110000"\n', "bad escape in a string"),
    ("x = Input(3)\nOutput(" + "relu(" * 600 + "x" + ")" * 600 + ")\n", "more than 100 deep"),
    ("x = Input(3)\nOutput(concat([mean(x), mean(x)]))\n", "one in the list is a scalar"),
    ("x = Input(10**200, 10**200)\nOutput(x)\n", "more than one GPU buffer binds"),
    ("x = Input(3)\nloss = mean(x)\nOutput(loss)\nTrain(loss=mse(dense(x, 3), x))\n", "an Output named 'loss'"),
])
@pytest.mark.parametrize("command", ["check", "summary", "wgsl"])
def test_cli_exits_1_with_the_message(tmp_path, capsys, src, msg, command):
    from wgslgrad.cli import main
    spec = tmp_path / "model.py"
    spec.write_text(src)
    assert main([command, str(spec)]) == 1
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err


def test_a_depthwise_window_of_100_compiles_to_small_wgsl(tmp_path, capsys):
    from wgslgrad.cli import main
    spec = tmp_path / "model.py"
    spec.write_text("x = Input(8, 8, 3)\nOutput(depthwise_conv2d(x, kernel=100))\n")
    assert main(["wgsl", str(spec)]) == 0
    assert len(capsys.readouterr().out) < 10_000    # was 1.4 MB


def test_huge_ints_in_messages_are_shortened():
    assert_error("x = Input(3)\nOutput(leaky_relu(x, -10**100))\n", 2, 22,
                 "leaky_relu() argument 'alpha' must be a finite number that fits a 32-bit float (at most 3.403e+38 "
                 "in size), got about -10^100")
    assert_error("x = Input(3)\nOutput(x + 1" + "0" * 300 + ")\n", 2, 10,
                 "the number about 10^300 does not fit a 32-bit float (finite, at most 3.403e+38 in size)")


def test_a_forward_pass_is_at_most_1e13_flops():
    assert_error("x = Input(2048, 2048, 8)\nOutput(conv2d(x, 8, kernel=256))\n", 2, 8,
                 "a forward pass would take more than 1e+13 FLOPs from here on: use smaller layers")


def test_the_generated_program_is_estimated_and_bounded():
    src = "x = Input(4)\nfor i in range(400):\n    y = concat([" + "x, " * 199 + "x + i])\n    Output(y, name=names[i])\n"
    names = "names = [" + ", ".join(f"'y{i}'" for i in range(400)) + "]\n"
    assert_error(names + src, 5, 5, "the generated program would be about 40.1 MiB of WGSL (14,000 kernels), more "
                                    "than 32.0 MiB: use fewer layers or concat fewer tensors")
    # the same concats unused by any Output generate nothing
    compile_spec("x = Input(4)\nfor i in range(400):\n    y = concat([" + "x, " * 199 + "x + i])\nOutput(x)\n", "m.py")


def test_epochs_are_bounded():
    assert_error("x = Input(3)\nOutput(x)\nTrain(loss=mean(x), epochs=10**100)\n", 3, 21,
                 "Train() argument 'epochs' must be at most 1,000,000, got about 10^100")


def test_the_source_is_at_most_100_000_characters():
    src = "x = Input(3)\nOutput(x)\n" + "# padding\n" * 10_000
    assert_error(src, 1, 1, "the spec is 100,023 characters long, more than 100,000")


def test_resuming_after_syntax_errors_parses_a_bounded_amount():
    """Each resumption parses up to the next error again: at most 300,000 characters in all."""
    body = "# a comment that lark skips quickly enough\n" * 220      # 9,460 characters
    assert len(errors_of((body + "y = 1 2\n") * 3).errors) == 3
    assert len(errors_of((body + "y = 1 2\n") * 10).errors) == 8   # 9.5k + 19k + ... + 76k > 300k


def test_errors_are_capped_per_place_and_in_all():
    e = errors_of("for i in range(1000):\n    y = [1][i + 1]\n" + OUT)
    assert [x.msg for x in e.errors] == [f"index {i} is out of range for a list of length 1" for i in (1, 2, 3)]
    src = "".join(f"y{i} = [1][{i + 1}]\n" for i in range(300)) + OUT
    assert len(errors_of(src).errors) == 100


def test_load_spec_reads_only_regular_files_of_bounded_size(tmp_path):
    import os

    from wgslgrad.compiler.frontend import load_spec
    fifo = tmp_path / "fifo.py"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="it is not a regular file"):
        load_spec(fifo)
    big = tmp_path / "big.py"
    big.write_bytes(b"#" * 400_001)
    with pytest.raises(OSError, match=r"it is larger than 400,000 bytes \(a spec is at most 100,000 characters\)"):
        load_spec(big)
    with pytest.raises(OSError, match="cannot read spec '.*missing.py': No such file or directory"):
        load_spec(tmp_path / "missing.py")
