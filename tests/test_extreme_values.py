"""Kernels on extreme values against the float64 reference rounded to float32 (numpy_ref): NaN where it has NaN,
the same infinities, finite values close. What is right where the two could differ:
- NaN propagates through every elementwise op, relu and its kin included (the float64 reference's np.maximum
  does; WGSL's max may drop it), so NaN weights cannot hide behind an activation;
- leaky_relu(alpha=0) is relu: 0 for -inf (alpha * x would be NaN);
- finite logits give a finite softmax cross-entropy wherever the true value is a float32: the max the
  log-sum-exp subtracts starts at the row's first element, so logits below -3.4e38 no longer give -inf, and a
  zero label ignores its logit even where that logit minus the max overflows.
Denormals are left out: WGSL lets a driver flush them to zero.
WGSL also lets an implementation assume that no NaN or infinity occurs. The kernels' select()s keep NaN on
lavapipe (CI), but NVIDIA's Vulkan driver (an H200, 2026-11-26) evaluates `NaN < 0.0` as the other branch and
gives relu(NaN) = 0: for the activations that choose between branches (NAN_MAY_BECOME) a NaN input may give NaN
or one of the op's branch values, which WGSL allows; every other op must give NaN.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fuzz_specs import assert_close
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from wgslgrad.compiler import numpy_ref
from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.compiler.lower import lower
from wgslgrad.ops.elementwise import UNARY_ROWS
from wgslgrad.runtime.session import Session

pytestmark = pytest.mark.gpu

F32_MAX = float(np.finfo(np.float32).max)
FINITE = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 6.0, 7.0, -7.0, 15.5, -15.5, 88.0, 89.0, -88.0, -104.0, 1e-30, -1e-30,
          1e30, -1e30, 1e38, -1e38, 3.4e38, -3.4e38, F32_MAX, -F32_MAX]
EXTREME = FINITE + [np.nan, np.inf, -np.inf]
SETTINGS = settings(max_examples=15, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck))


def run(device: Any, source: str, inputs: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(GPU outputs, float64 reference outputs) of the spec's outputs and loss."""
    g = compile_spec(source)
    got = Session(lower(g), device).run(inputs)
    with np.errstate(all="ignore"):
        vals = numpy_ref.evaluate(g, inputs, {}, np.float64)
    wanted = dict(g.outputs) | ({"loss": g.loss} if g.loss is not None else {})
    return got, {k: vals[i] for k, i in wanted.items()}


ELEMENTWISE = ["relu(x)", "relu6(x)", "leaky_relu(x, alpha=0)", "leaky_relu(x, alpha=0.2)",
               "leaky_relu(x, alpha=-0.5)", "elu(x, alpha=0)", "elu(x, alpha=-0.5)", "sigmoid(x)", "tanh(x)",
               "exp(x)", "log(x)", "abs(x)", "-x"]
ELEMENTWISE += [f"{r.name}(x)" for r in UNARY_ROWS.values() if r.builtin and f"{r.name}(x)" not in ELEMENTWISE]
# (Not binary arithmetic: WGSL lets an implementation assume that no NaN or infinity occurs, and lavapipe's
# LLVM folds x - x to 0 even for NaN; what the kernels decide, the tests check.)


# What a NaN input may become where a driver assumes no NaN (see the docstring): a branch's value.
NAN_MAY_BECOME = {"relu(x)": [0.0], "relu6(x)": [0.0, 6.0], "leaky_relu(x, alpha=0)": [0.0], "gelu(x)": [0.0],
                  "elu(x, alpha=0)": [0.0]}


def nan_or(got: float, expr: str) -> bool:
    return bool(np.isnan(got)) or got in NAN_MAY_BECOME.get(expr, [])


@pytest.mark.parametrize("expr", ELEMENTWISE)
def test_elementwise_on_every_extreme(device: Any, expr: str) -> None:
    x = np.array([EXTREME], np.float32)
    got, ref = run(device, f"x = Input({x.size})\nOutput({expr}, name='y')\n", {"x": x})
    nan = np.isnan(x[0])
    assert_close(got["y"][:, ~nan], ref["y"][:, ~nan], 1e-5, expr)
    assert all(nan_or(v, expr) for v in got["y"][0, nan]), f"{expr}: NaN input gave {got['y'][0, nan]}"


def test_leaky_relu_alpha_zero_keeps_nan_and_zeroes_minus_inf(device: Any) -> None:
    x = np.array([[np.nan, -np.inf, -2.0, 3.0]], np.float32)
    got, _ = run(device, "x = Input(4)\nOutput(leaky_relu(x, alpha=0), name='y')\n", {"x": x})
    assert nan_or(got["y"][0, 0], "leaky_relu(x, alpha=0)") and got["y"][0, 1:].tolist() == [0.0, 0.0, 3.0]


# Rows that must keep their relative precision where a naive float32 formula loses it (log(1 + e) for tiny e,
# exp(x) - 1 near 0), and that must not overflow for huge x: each value within 1e-5 of its own float64 value.
PRECISE = {"softplus(x)": [-80.0, -50.0, -20.0, -17.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 80.0, 1e30, F32_MAX],
           "elu(x)": [-1e-30, -1e-6, -1e-4, -0.01, -0.2, -0.26, -1.0, -20.0, 1e-6, 89.0, F32_MAX],
           "elu(x, alpha=0.5)": [-1e-6, -0.01, -0.3, -3.0, 1.0]}


@pytest.mark.parametrize("expr", PRECISE)
def test_relative_precision_where_naive_formulas_lose_it(device: Any, expr: str) -> None:
    x = np.array([PRECISE[expr]], np.float32)
    got, ref = run(device, f"x = Input({x.size})\nOutput({expr}, name='y')\n", {"x": x})
    ok = np.abs(got["y"] - ref["y"]) <= 1e-5 * np.abs(ref["y"])
    assert ok.all(), f"{expr} at {x[~ok]}: {got['y'][~ok]}, float64 {ref['y'][~ok]}"


CE = "z = Input({k})\nt = Input({k})\nOutput(softmax(z), name='p')\nTrain(loss=softmax_cross_entropy(z, t))\n"


@pytest.mark.parametrize("logits,loss", [
    ([-F32_MAX] * 3, np.log(3.0)),            # was -inf: the max started at -3.4e38, above every logit
    ([-3.4e38, -3.4e38, -3.3e38], 1e37),
    ([3e38, -3e38, 0.0], 0.0),                # was NaN: 0 * (-3e38 - 3e38) with the zero labels
])
def test_softmax_cross_entropy_of_extreme_logits(device: Any, logits: list[float], loss: float) -> None:
    z = np.array([logits], np.float32)
    t = np.array([[1.0, 0.0, 0.0]], np.float32)
    got, ref = run(device, CE.format(k=3), {"z": z, "t": t})
    assert np.isfinite(got["loss"]) and np.isclose(got["loss"], loss, rtol=1e-5)
    assert_close(got["loss"], ref["loss"], 1e-5, "loss")
    assert_close(got["p"], ref["p"], 1e-5, "softmax")


@SETTINGS
@given(rows=st.lists(st.lists(st.sampled_from(FINITE), min_size=5, max_size=5), min_size=1, max_size=3),
       labels=st.lists(st.sampled_from([0.0, 1.0, 0.5]), min_size=5, max_size=5))
def test_softmax_and_its_cross_entropy_on_finite_extremes(device: Any, rows: list[list[float]],
                                                          labels: list[float]) -> None:
    # A row spanning more than the float32 range overflows z - max(z) (the loss is then inf or huge anyway).
    assume(all(max(r) - min(r) <= F32_MAX for r in rows))
    z = np.array(rows, np.float32)
    t = np.array([labels] * len(rows), np.float32)
    source = (f"z = Input(5)\nt = Input(5)\nOutput(softmax(z), name='p')\n"
              f"Train(loss=softmax_cross_entropy(z, t), batch={len(rows)})\n")
    got, ref = run(device, source, {"z": z, "t": t})
    assert_close(got["p"], ref["p"], 1e-5, "softmax")
    assert_close(got["loss"], ref["loss"], 1e-5, "softmax cross-entropy")


def test_mean_of_huge_terms_does_not_overflow(device: Any) -> None:
    """A batch mean of two rows whose losses are 3e38 each: 3e38 (the sum, 6e38, is past float32)."""
    z = np.array([[3e38, 0.0], [3e38, 0.0]], np.float32)
    t = np.array([[0.0, 1.0], [0.0, 1.0]], np.float32)
    got, _ = run(device, "z = Input(2)\nt = Input(2)\nOutput(z)\nTrain(loss=softmax_cross_entropy(z, t), batch=2)\n",
                 {"z": z, "t": t})
    assert np.isclose(got["loss"], 3e38, rtol=1e-6)
    got, _ = run(device, "x = Input(2)\nOutput(mean(x), name='m')\n", {"x": np.array([[3e38, 3e38]], np.float32)})
    assert np.isclose(got["m"], 3e38, rtol=1e-6)


@SETTINGS
@given(cells=st.lists(st.sampled_from(FINITE), min_size=16, max_size=16))
def test_max_pool_on_finite_extremes(device: Any, cells: list[float]) -> None:
    """The window's max, also where every cell is below -3.4e38 (the max used to start there)."""
    x = np.array(cells, np.float32).reshape(1, 4, 4, 1)
    got, ref = run(device, "x = Input(4, 4, 1)\nOutput(max_pool(x, 2), name='y')\n", {"x": x})
    assert_close(got["y"], ref["y"], 0.0, "max_pool")


def test_max_pool_below_minus_3_4e38(device: Any) -> None:
    x = np.full((1, 2, 2, 1), -F32_MAX, np.float32)
    got, _ = run(device, "x = Input(2, 2, 1)\nOutput(max_pool(x, 2), name='y')\n", {"x": x})
    assert got["y"].item() == -F32_MAX
