"""Parameter initialisation without a GPU: Glorot-normal weights and zero biases, as Keras does.

Keras's glorot_normal draws from a normal truncated at two standard deviations, with the standard deviation
divided by 0.8796 so that the truncated values keep the variance 2 / (fan_in + fan_out).
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..compiler.ir import Graph, Op
from ..compiler.program import ParamSlot, Program

TRUNCATED_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


def truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    """Normal(0, std) values redrawn until they lie within two standard deviations."""
    out = rng.standard_normal(math.prod(shape))
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return (out * std).reshape(shape)


def param_specs(source: Graph | Program) -> Iterable[tuple[str, ParamSlot]]:
    if isinstance(source, Program):
        return source.params.items()
    specs = []
    for name, i in source.params.items():
        n = source.nodes[i]
        assert n.op is Op.PARAM
        a = n.attrs
        specs.append((name, ParamSlot(0, n.shape, a.init, a.fan_in, a.fan_out, a.trainable)))
    return specs


def init_params(source: Graph | Program, seed: int = 0) -> dict[str, np.ndarray]:
    """float32 initial values for every parameter, by name; the same for a Graph and its Program."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, p in param_specs(source):
        if p.init == "zeros":
            out[name] = np.zeros(p.shape, np.float32)
        elif p.init == "ones":   # batch norm's gamma and moving_variance
            out[name] = np.ones(p.shape, np.float32)
        elif p.init == "glorot_normal":
            std = math.sqrt(2.0 / max(p.fan_in + p.fan_out, 1))
            out[name] = truncated_normal(rng, p.shape, std / TRUNCATED_STD).astype(np.float32)
        else:
            raise ValueError(f"parameter {name}: unknown initialiser {p.init!r}")
    return out
