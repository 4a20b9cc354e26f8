"""The elementwise rows (wgslgrad/ops/elementwise.py) as the tests sweep them: every row's op, and inputs in
its domain. The kernel, gradient and peer tests take their op lists from here, so a new row is tested by
all of them; tests/test_ops.py checks that they do."""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from wgslgrad.compiler.ir import Op
from wgslgrad.ops.elementwise import BINARY_ROWS, UNARY_ROWS, Unary

UNARY_OPS = [Op[r.name.upper()] for r in UNARY_ROWS.values()]
BINARY_OPS = [Op[r.name.upper()] for r in BINARY_ROWS.values()]
# the ops whose gradient is a UNARY_GRAD node (neg, linear, is applied to dy instead)
UNARY_GRAD_FNS = [r.name for r in UNARY_ROWS.values() if not r.linear]


def row(op: Op) -> Unary:
    return UNARY_ROWS[op.name.lower()]


def unary_x(r: Unary, rng: np.random.Generator, shape: tuple[int, ...], at_kinks: float = 0.0) -> np.ndarray:
    """Inputs for op `r`: in [0.5, 2] for an op defined on positive numbers, else 4 * standard normal (reaching
    relu6's 6 and tanh's flat tails); a share `at_kinks` of them exactly on the op's kinks (relu's 0, ...)."""
    x = rng.uniform(0.5, 2.0, shape) if r.positive else 4 * rng.standard_normal(shape)
    if r.kinks and at_kinks:
        x = np.where(rng.random(shape) < at_kinks, rng.choice(r.kinks, shape), x)
    return x


def unary_x_off_kinks(r: Unary, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Inputs at least 0.1 from every kink and on both sides of each (so finite differences never step across
    one): positive ops in [0.3, 3]; ops with kinks a kink plus or minus [0.1, 2]; others +-[0.1, 2]."""
    if r.positive:
        return rng.uniform(0.3, 3.0, shape)
    base = rng.choice(r.kinks, shape) if r.kinks else 0.0
    return base + rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def saved_value(r: Unary, x: np.ndarray) -> np.ndarray:
    """What the op's UNARY_GRAD reads for input x at default attributes: its output or x itself."""
    attrs = r.attrs()
    return r.ref(x, attrs) if r.saves_output(attrs) else x


def other_attrs(r: Unary) -> Any:
    """The row's attributes each at a value other than its default (0.5, or 0.3 where 0.5 is the default),
    so the sweeps also run the `{alpha}` path of a row whose default is special (elu's 1: TF.js's tf.elu)."""
    return r.attrs(**{f.name: 0.3 if f.default == 0.5 else 0.5 for f in dataclasses.fields(r.attrs)})
