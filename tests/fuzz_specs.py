"""Spec fuzzing shared by tests/test_fuzz.py (about a minute in CI) and tests/bench/test_fuzz_bench.py (longer).

Three generators of hostile or careless specs:
- `grammar_specs`: hypothesis's `from_lark` on the statement rules of the spec grammar (grammar.lark: def,
  if/elif/else, for, return, assignments, suites), the indentation tokens it %declares rendered as real
  indentation, with expressions of bounded depth over builtin and variable names, extreme numbers and odd
  strings (drawn uniformly from the grammar, its precedence chain nests without bound);
- `layered_specs`: networks of realistic shapes built from the builtins (so that most compile, lower and run),
  with now and then an extreme argument (0, -1, 2**31, 1e39, nan, ...);
- `mutated_examples`: examples/*.py with lines deleted, duplicated or swapped, numbers made extreme, names
  changed, text truncated.

`run_spec` takes one spec through `check` (the CLI, in-process), the front end, lower (both Programs) and, when
the program is small, a forward run and a training step's gradients on the GPU adapter. It returns how far the
spec got; anything but success or a clean user error (SpecErrors, or the CLI's exit 1 with a message) raises
`Crash`: another exception type, a traceback printed by the CLI, a stage running past its time bound (`Hang`, from
a watchdog timer: a hang in Python code is interrupted, so the run goes on), the compiler's Python heap peaking
past its memory bound (tracemalloc) or the process's resident memory past its bound after a GPU run. Only small
programs run on the GPU, so that a native compiler (naga, LLVM) cannot blow up out of reach of these bounds.
"""
from __future__ import annotations

import contextlib
import io
import re
import resource
import signal
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from wgslgrad import cli
from wgslgrad.compiler import ir
from wgslgrad.compiler.build import build
from wgslgrad.compiler.errors import SpecErrors
from wgslgrad.compiler.lower import lower
from wgslgrad.compiler.parse import parse
from wgslgrad.compiler.program import Program

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if p.name != "make_data.py")
GRAMMAR = ROOT / "wgslgrad" / "compiler" / "grammar.lark"

# Bounds per input, generous because a 2-core CI box is shared with other jobs: a digits variant that runs in
# 3.4 s alone took over 30 s on the GPU (lavapipe) at a load average of 9.
SECONDS = 60.0                    # check and lowering (the slowest seen alone: about 2 s)
GPU_SECONDS = 120.0               # building the pipelines and running them
PEAK_BYTES = 512 * 2**20          # the compiler's Python heap (tracemalloc), check + lowering
RSS_BYTES = 4 * 2**30             # the whole process's resident memory after a GPU run (lavapipe included)
# What counts as small enough to run on the GPU adapter (lavapipe runs on the CPU).
RUN_ELEMENTS = 1 << 18            # f32 elements over all buffers
RUN_KERNELS = 40                  # kernels over the forward and training programs (lavapipe compiles each
#                                   pipeline with LLVM, 0.1 s or more): the training step is left out past it

NUMBERS = ["0", "1", "2", "3", "4", "8", "16", "-1", "2**31", "2**32 + 1", "10**9", "1e39", "-3.4e38", "0.5",
           'float("nan")', 'float("inf")', "10**200", "1e-45", "0x10", "0x_"]
BUILTIN_NAMES = ["Input", "Output", "Train", "Adam", "conv2d", "depthwise_conv2d", "separable_conv2d", "dense",
                 "relu", "relu6", "leaky_relu", "sigmoid", "tanh", "exp", "log", "abs", "softmax", "max_pool",
                 "avg_pool", "global_avg_pool", "reshape", "flatten", "concat", "add", "sub", "mul", "div", "mean",
                 "sum", "mse", "softmax_cross_entropy", "sigmoid_cross_entropy", "range", "len", "min", "max",
                 "int", "float"]
VAR_NAMES = ["x", "y", "a", "b", "i", "n", "f", "kernel", "stride", "padding", "activation", "name", "alpha",
             "units", "filters", "size", "dims", "loss", "optimizer", "batch", "lr"]
STRINGS = ['"same"', '"valid"', '"relu"', '"leaky_relu"', '"x"', "'y'", '""', '"a/b"', '"../x"', '"loss"',
           '"x\\u00b2"', '"\\x"', '"\\U00110000"', 'f"x"', 'b"x"', '"file"']


@dataclass
class Tally:
    """What a fuzzing run saw: counts per outcome, the worst time and memory, and the crashes."""
    counts: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    peak_bytes: int = 0
    crashes: list[tuple[str, str]] = field(default_factory=list)

    def line(self) -> str:
        c = self.counts
        return (f"inputs {c['inputs']}, parsed {c['parsed']}, compiled {c['compiled']}, lowered {c['lowered']}, "
                f"ran {c['ran']}, trained {c['trained']}, too big to run {c['too_big']}, clean errors "
                f"{c['clean_errors']}, crashes {c['crashes']}, hangs {c['hangs']}, slowest {self.seconds:.2f} s, "
                f"peak compiler heap {self.peak_bytes / 2**20:.1f} MiB, max RSS "
                f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB")


class Crash(Exception):
    """A spec made the compiler or runtime fail other than with a clean user error."""


class Hang(BaseException):
    """Raised by the watchdog timer; a BaseException so that no `except Exception` under test swallows it."""


@contextlib.contextmanager
def watchdog(seconds: float, what: str) -> Iterator[None]:
    def fire(signum: int, frame: Any) -> None:
        raise Hang(f"{what} ran past {seconds:g} s")
    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _check_cli(source: str, tmp: Path) -> int:
    """`wgslgrad check` in-process: exit 0, or 1 with an `error:` message and no traceback."""
    path = tmp / "spec.py"
    path.write_text(source, encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = cli.main(["check", str(path)])   # any exception escaping main() is a crash
    text = err.getvalue()
    if "Traceback" in text or rc not in (0, 1) or (rc == 1 and "error:" not in text):
        raise Crash(f"check: exit {rc}, stderr {text[-2000:]!r}")
    return rc


def _compile(source: str) -> tuple[bool, ir.Graph | None]:
    """(parsed, graph or None after a clean SpecErrors)."""
    try:
        module = parse(source, "spec.py")
    except SpecErrors as e:
        _clean(e)
        return False, None
    try:
        graph = build(module, source, "spec.py", None)
        ir.verify(graph)
    except SpecErrors as e:
        _clean(e)
        return True, None
    return True, graph


def _clean(e: SpecErrors) -> None:
    text = str(e)
    if not e.errors or "error:" not in text:
        raise Crash(f"SpecErrors without a message: {text!r}")


def resident_bytes() -> int:
    """The process's resident memory now (Linux), 0 where /proc is missing."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()
    except OSError:
        return 0


def small(program: Program) -> bool:
    return sum(program.buffers.values()) <= RUN_ELEMENTS and len(program.kernels) <= RUN_KERNELS


def random_inputs(program: Program, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {name: rng.standard_normal(tuple(slot.shape)).astype(np.float32) for name, slot in program.inputs.items()}


def run_spec(source: str, device: Any, tmp: Path, tally: Tally, seconds: float = SECONDS,
             peak_bytes: int = PEAK_BYTES) -> str:
    """Take `source` as far as it goes (see the module docstring); count the outcome in `tally` and return it:
    'syntax', 'rejected' (a clean error from check or lowering), 'lowered', 'too_big', 'ran'. Raises Crash."""
    tally.counts["inputs"] += 1
    t0 = time.perf_counter()
    try:
        outcome = _run(source, device, tmp, tally, seconds, peak_bytes)
    except Hang as e:
        tally.counts["hangs"] += 1
        tally.crashes.append((source, str(e)))
        raise Crash(str(e)) from None
    except Crash as e:
        tally.counts["crashes"] += 1
        tally.crashes.append((source, str(e)))
        raise
    except Exception as e:
        tally.counts["crashes"] += 1
        tally.crashes.append((source, f"{type(e).__name__}: {e}"))
        raise Crash(f"{type(e).__name__}: {e}") from e
    finally:
        tally.seconds = max(tally.seconds, time.perf_counter() - t0)
    if outcome in ("syntax", "rejected"):
        tally.counts["clean_errors"] += 1
    return outcome


def _run(source: str, device: Any, tmp: Path, tally: Tally, seconds: float, peak_bytes: int) -> str:
    tracemalloc.start()
    try:
        with watchdog(seconds, "check and lowering"):
            rc = _check_cli(source, tmp)
            parsed, graph = _compile(source)
            if (rc == 0) != (graph is not None):
                raise Crash(f"check exits {rc} but the front end {'accepts' if graph else 'rejects'} the spec")
            tally.counts["parsed"] += parsed
            if graph is None:
                return "syntax" if not parsed else "rejected"
            tally.counts["compiled"] += 1
            try:
                programs = [lower(graph)] + ([lower(graph, training=True)] if graph.loss is not None else [])
            except SpecErrors as e:
                _clean(e)
                return "rejected"
            tally.counts["lowered"] += 1
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        tally.peak_bytes = max(tally.peak_bytes, peak)
    if peak > peak_bytes:
        raise Crash(f"check and lowering peaked at {peak / 2**20:.0f} MiB of Python heap")
    if not small(programs[0]):
        tally.counts["too_big"] += 1
        return "too_big"
    if len(programs) > 1 and not (small(programs[1]) and sum(len(p.kernels) for p in programs) <= RUN_KERNELS):
        programs = programs[:1]
    with watchdog(GPU_SECONDS, "the GPU run"):
        _run_on_gpu(programs, device)
    rss = resident_bytes()
    if rss > RSS_BYTES:
        raise Crash(f"the process holds {rss / 2**30:.1f} GiB after the GPU run")
    tally.counts["ran"] += 1
    tally.counts["trained"] += len(programs) > 1
    return "ran"


def _run_on_gpu(programs: list[Program], device: Any) -> None:
    from wgslgrad.runtime.session import Session

    rng = np.random.default_rng(0)
    forward = Session(programs[0], device)
    forward.init_params(seed=0)
    inputs = random_inputs(programs[0], rng)
    out = forward.run(inputs)
    for name, slot in programs[0].outputs.items():
        if name in out and out[name].shape != tuple(slot.shape):
            raise Crash(f"output {name} has shape {out[name].shape}, the program says {tuple(slot.shape)}")
    if len(programs) > 1:
        train = Session(programs[1], device)
        train.init_params(seed=0)
        grads = train.gradients(random_inputs(programs[1], rng))
        if set(grads) != {n for n, p in programs[1].params.items() if p.trainable}:
            raise Crash("the training step's gradients do not match its trainable parameters")


# ---- generators


def _render_indentation(tokens: str) -> str:
    """from_lark's output with _INDENT as \\x01 and _DEDENT as \\x02 after the newlines: real indentation."""
    out, level, line_start = [], 0, True
    for ch in tokens:
        if ch == "\x01":
            level += 1
        elif ch == "\x02":
            level = max(level - 1, 0)
        elif ch == "\n":
            out.append("\n")
            line_start = True
        elif not (line_start and ch == " "):   # the indentation is ours alone
            if line_start:
                out.append("    " * level)
                line_start = False
            out.append(ch)
    return "".join(out)


OPERATORS = ["+", "-", "*", "/", "//", "%", "**", "<", ">", "==", ">=", "<=", "!=", "and", "or"]


def expressions() -> st.SearchStrategy[str]:
    """Expressions of bounded depth over the grammar's atoms and operators: calls of builtins with positional
    and keyword arguments, arithmetic, comparisons, lists, subscripts, conditionals."""
    atom = st.one_of(st.sampled_from(VAR_NAMES + BUILTIN_NAMES), st.sampled_from(NUMBERS[:-2] + ["0x10", "1."]),
                     st.sampled_from(STRINGS), st.sampled_from(["True", "False", "None", "[]", "()"]))

    def extend(e: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        kwarg = st.tuples(st.sampled_from(VAR_NAMES), e).map(lambda t: f"{t[0]}={t[1]}")
        call = st.tuples(st.sampled_from(BUILTIN_NAMES + VAR_NAMES),
                         st.lists(e, max_size=3), st.lists(kwarg, max_size=2)
                         ).map(lambda t: f"{t[0]}({', '.join(t[1] + t[2])})")
        binary = st.tuples(e, st.sampled_from(OPERATORS), e).map(lambda t: f"{t[0]} {t[1]} {t[2]}")
        return st.one_of(
            call, call, binary,
            st.tuples(st.sampled_from(["-", "+", "not "]), e).map("".join),
            st.lists(e, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
            st.tuples(e, e).map(lambda t: f"{t[0]}[{t[1]}]"),
            e.map(lambda x: f"({x})"),
            st.tuples(e, e, e).map(lambda t: f"{t[0]} if {t[1]} else {t[2]}"))
    return st.recursive(atom, extend, max_leaves=8)


def _statement_grammar() -> str:
    """grammar.lark with its expression rules replaced by one declared terminal, EXPR (drawn from
    `expressions()`): drawn uniformly, the deep precedence chain nests without bound and overruns. Simple
    statements are drawn twice as often as compound ones, for the same reason."""
    text = GRAMMAR.read_text(encoding="utf-8")
    statements, rest = text.split("// ---- expressions")
    _, tokens = rest.split("// ---- tokens")
    statements = statements.replace(
        "_stmt: _simple_stmt | _compound_stmt",
        "_stmt: _simple_stmt | _simple_again | _compound_stmt\n_simple_again: (assign | expr_stmt) _NEWLINE")
    assert "_simple_again" in statements, "grammar.lark changed: update _statement_grammar"
    return statements + '?testlist: test | test "," test\n?test: EXPR\n%declare EXPR\n// ---- tokens' + tokens


PRELUDE = "x = Input(4, 4, 2)\ny = Input(3)\n"


def grammar_specs() -> st.SearchStrategy[str]:
    """Statements drawn from grammar.lark's statement rules by from_lark (def, if/elif/else, for, return,
    assignments, suites), with the indentation tokens it %declares rendered as real indentation, keywords
    spaced so that tokens never run together, and expressions from `expressions()`; half of them between a
    prelude that defines x and y and an Output(x)."""
    lark = Lark(_statement_grammar(), parser="earley", lexer="dynamic")
    explicit: dict[str, st.SearchStrategy[str]] = {
        t.name: st.just(f" {t.pattern.value} ") for t in lark.terminals
        if t.pattern.type == "str" and not t.name.startswith("_")}
    explicit |= {
        "NAME": st.sampled_from(BUILTIN_NAMES + VAR_NAMES),
        "EXPR": expressions(),
        # Ignored terminals may come between any two tokens: a comment there would swallow the rest of the
        # line, a line continuation the indentation. (from_regex on them is slow, too.)
        "COMMENT": st.just(" "),
        "__IGNORE_0": st.just(" "),
        "__IGNORE_1": st.just(" "),
        "_NEWLINE": st.just("\n"),
        "_INDENT": st.just("\x01"),
        "_DEDENT": st.just("\x02"),
    }
    explicit = {k: v for k, v in explicit.items() if k in {t.name for t in lark.terminals} | set(lark.ignore_tokens)
                or k in ("EXPR", "_INDENT", "_DEDENT")}
    body = from_lark(lark, explicit=explicit).map(_render_indentation)
    return st.tuples(st.booleans(), body).map(lambda t: PRELUDE + t[1] + "Output(x)\n" if t[0] else t[1])


def _shape_after_window(h: int, k: int, s: int, padding: str) -> int:
    return -(-h // s) if padding == "same" else (h - k) // s + 1


@st.composite
def layered_specs(draw: st.DrawFn, hostile: float = 0.05, max_layers: int = 6, trained: bool = False) -> str:
    """A chain of layers and ops over realistic shapes, an Output, and often a Train with a loss (always, and
    a dense layer first, when `trained`); each integer argument is, with probability `hostile`, an extreme
    value instead."""
    odds = [True] * round(100 * hostile) + [False] * (100 - round(100 * hostile))  # (st.floats favours 0)

    def num(good: int | str) -> str:
        return draw(st.sampled_from(NUMBERS)) if draw(st.sampled_from(odds)) else str(good)

    lines: list[str] = []
    image = draw(st.booleans())
    if image:
        h, w, c = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 4))
        lines.append(f"x = Input({num(h)}, {num(w)}, {num(c)})")
        shape: tuple[int, ...] = (h, w, c)
    else:
        f = draw(st.integers(1, 12))
        lines.append(f"x = Input({num(f)})")
        shape = (f,)
    acts = ["None", '"relu"', '"relu6"', '"leaky_relu"', '"sigmoid"', '"tanh"']
    if trained:   # a parameter to take the gradient of
        if len(shape) == 3:
            lines.append(f"x = conv2d(x, {draw(st.integers(1, 4))}, kernel={draw(st.integers(1, 3))})")
            shape = (shape[0], shape[1], int(lines[-1].split(", ")[1]))
        else:
            u = draw(st.integers(1, 8))
            lines.append(f"x = dense(x, {u})")
            shape = (u,)
    for _ in range(draw(st.integers(0, max_layers))):
        if len(shape) == 3:
            h, w, c = shape
            op = draw(st.sampled_from(["conv2d", "depthwise_conv2d", "separable_conv2d", "max_pool", "avg_pool",
                                       "global_avg_pool", "flatten", "unary", "add", "concat", "scale"]))
            k, s = draw(st.integers(1, 3)), draw(st.integers(1, 2))
            pad = draw(st.sampled_from(["same", "valid"]))
            if op in ("conv2d", "depthwise_conv2d", "separable_conv2d", "max_pool", "avg_pool"):
                if pad == "valid" and k > min(h, w):
                    pad = "same"
                oh, ow = _shape_after_window(h, k, s, pad), _shape_after_window(w, k, s, pad)
                if op in ("max_pool", "avg_pool"):
                    lines.append(f'x = {op}(x, {num(k)}, stride={num(s)}, padding="{pad}")')
                    shape = (oh, ow, c)
                else:
                    co = c if op == "depthwise_conv2d" else draw(st.integers(1, 6))
                    filters = "" if op == "depthwise_conv2d" else f"{num(co)}, "
                    act = draw(st.sampled_from(acts))
                    lines.append(f'x = {op}(x, {filters}kernel={num(k)}, stride={num(s)}, padding="{pad}", '
                                 f"activation={act})")
                    shape = (oh, ow, co)
            elif op == "global_avg_pool":
                lines.append("x = global_avg_pool(x)")
                shape = (c,)
            elif op == "flatten":
                lines.append("x = flatten(x)")
                shape = (h * w * c,)
            elif op == "concat":
                lines.append("x = concat([x, relu(x)])")
                shape = (h, w, 2 * c)
            else:
                lines.append(_elementwise(draw, num))
        else:
            (f,) = shape
            op = draw(st.sampled_from(["dense", "dense", "unary", "add", "concat", "scale", "softmax"]))
            if op == "dense":
                u = draw(st.integers(1, 12))
                lines.append(f"x = dense(x, {num(u)}, activation={draw(st.sampled_from(acts))})")
                shape = (u,)
            elif op == "concat":
                lines.append("x = concat([x, x])")
                shape = (2 * f,)
            elif op == "softmax":
                lines.append("x = softmax(x)")
            else:
                lines.append(_elementwise(draw, num))
    lines.append("Output(x)")
    losses = ([] if trained else [None]) + ["mse", "sigmoid_cross_entropy", "mean"] + (
        ["softmax_cross_entropy"] if len(shape) == 1 else [])
    loss = draw(st.sampled_from(losses))
    if loss == "mean":
        lines.append(f"Train(loss=mean(x * x), batch={num(draw(st.integers(1, 3)))})")
    elif loss is not None:
        lines.insert(1, f"t = Input({', '.join(map(str, shape))})")
        lr = draw(st.sampled_from(["0.001", "0.1", num(1)]))
        lines.append(f"Train(loss={loss}(x, t), optimizer=Adam(lr={lr}), batch={num(draw(st.integers(1, 3)))})")
    return "\n".join(lines) + "\n"


def _elementwise(draw: st.DrawFn, num: Any) -> str:
    kind = draw(st.sampled_from(["unary", "add", "scale"]))
    if kind == "unary":
        fn = draw(st.sampled_from(["relu", "relu6", "sigmoid", "tanh", "abs", "leaky_relu"]))
        return f"x = leaky_relu(x, alpha={num('0.1')})" if fn == "leaky_relu" else f"x = {fn}(x)"
    if kind == "add":
        return "x = x + sigmoid(x)"
    return f"x = x * {num(2)} - 0.5"


_NUMBER = re.compile(r"(?<![\w.])\d[\d_]*(\.\d*)?([eE][-+]?\d+)?")
_NAME = re.compile(r"\b[A-Za-z_]\w*\b")


@st.composite
def mutated_examples(draw: st.DrawFn) -> str:
    """An example spec after one to three mutations: delete, duplicate or swap lines, make a number extreme,
    change a name, truncate the text, or insert a character."""
    # digits (small enough to run on lavapipe, at batch 2) three times as often as the two face nets
    path = draw(st.sampled_from([p for p in EXAMPLES for _ in range(3 if p.name == "digits.py" else 1)]))
    text = re.sub(r"batch=\d+", "batch=2", path.read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(1, 3))):
        lines = text.split("\n")
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "number", "name", "truncate", "insert"]))
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if op == "delete" and lines:
            del lines[i]
        elif op == "duplicate" and lines:
            lines.insert(i, lines[i])
        elif op == "swap" and len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op in ("number", "name"):
            pattern = _NUMBER if op == "number" else _NAME
            spots = list(pattern.finditer(text))
            if spots:
                m = draw(st.sampled_from(spots))
                new = draw(st.sampled_from(NUMBERS if op == "number" else BUILTIN_NAMES + VAR_NAMES + ["x²", "ß"]))
                text = text[:m.start()] + new + text[m.end():]
                continue
        elif op == "truncate":
            text = text[:draw(st.integers(0, len(text)))]
            continue
        elif op == "insert":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.sampled_from(list("()[]:,=\"'#\\\t \n") + ["    "])) + text[at:]
            continue
        text = "\n".join(lines)
    return text


# ---- differential check against the float64 reference


def assert_close(got: np.ndarray, ref: np.ndarray, rtol: float, what: str, floor: float = 1e-30) -> None:
    """NaN and infinities where the float64 reference (rounded to float32) has them; elsewhere
    max|got - ref| <= rtol * max(max|ref|, floor) over the finite entries."""
    with np.errstate(over="ignore", invalid="ignore"):
        ref32 = ref.astype(np.float32)
    assert got.shape == ref32.shape, f"{what}: shape {got.shape}, reference {ref32.shape}"
    same_nan = np.isnan(got) == np.isnan(ref32)
    assert same_nan.all(), f"{what}: NaN at {np.argwhere(~same_nan)[:4].tolist()} on one side only"
    inf = np.isinf(ref32) | np.isinf(got)
    assert (got[inf] == ref32[inf]).all(), f"{what}: infinities differ: {got[inf][:4]} vs {ref32[inf][:4]}"
    finite = ~np.isnan(ref32) & ~inf
    if finite.any():
        scale = max(float(np.max(np.abs(ref[finite]))), floor)
        err = float(np.max(np.abs(got[finite] - ref[finite]))) / scale
        assert err <= rtol, f"{what}: relative error {err:.2e} > {rtol:g}"


def differential(source: str, device: Any, seed: int, rtol: float = 1e-3) -> str:
    """Compile `source`; when it compiles and is small, compare its outputs (the loss too) from a forward run
    on the GPU, and the training step's gradients, with the float64 reference (numpy_ref) on standard-normal
    inputs and parameters from `seed`. Returns 'rejected', 'too_big', 'ran' or 'trained'."""
    from gpu_check import reference_gradients

    from wgslgrad.compiler import numpy_ref
    from wgslgrad.compiler.frontend import compile_spec
    from wgslgrad.runtime.session import Session

    try:
        graph = compile_spec(source, "spec.py")
    except SpecErrors:
        return "rejected"
    program = lower(graph)
    if not small(program):
        return "too_big"
    rng = np.random.default_rng(seed)
    leaves = {**graph.inputs, **graph.params}
    values = {k: rng.standard_normal(graph.nodes[i].shape).astype(np.float32) for k, i in leaves.items()}
    inputs = {k: values[k] for k in graph.inputs}
    params = {k: values[k] for k in graph.params}
    session = Session(program, device)
    session.set_params(params)
    got = session.run(inputs)
    with np.errstate(all="ignore"):
        ref = numpy_ref.evaluate(graph, inputs, params, np.float64)
    wanted = dict(graph.outputs) | ({"loss": graph.loss} if graph.loss is not None else {})
    for name, i in wanted.items():
        assert_close(got[name], ref[i], rtol, f"output {name} (seed {seed})")
    if graph.loss is None:
        return "ran"
    train = lower(graph, training=True)
    if not small(train) or not any(p.trainable for p in train.params.values()):
        return "ran"
    step = Session(train, device)
    step.set_params(params)
    grads = step.gradients(inputs)
    with np.errstate(all="ignore"):
        _, ref_grads = reference_gradients(graph, inputs, params)
    for name, r in ref_grads.items():
        # A gradient that is zero in exact arithmetic (a bias before a softmax, which ignores a constant shift)
        # is float32 rounding noise on the GPU: the floor makes that an absolute error.
        assert_close(grads[name], r, rtol, f"gradient of {name} (seed {seed})", floor=1e-2)
    return "trained"
