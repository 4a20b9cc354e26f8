"""Gradient check: autodiff (evaluated in float64 by numpy_ref) against central finite differences.

Per trainable parameter p, along a random direction v (JAX's check_vjp): <dL/dp, v> against
(L(p + eps v) - L(p - eps v)) / (2 eps). `wgslgrad gradcheck FILE` prints the result.

The loss is only piecewise smooth: relu, relu6, leaky_relu, abs and max_pool switch pieces. A real model
has so many ReLU inputs near zero (FaceLandmark68Net: about a million at batch 2) that any step crosses
some kink, and a plain central difference then reports errors of 1e-4..1e-2 on correct gradients. So the
finite differences are taken on the piece that contains p: every mask and max-pool winner is frozen at
its value at p, which is exactly the piece autodiff differentiates.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from ..ops.registry import OPS as FAMILY_OPS
from .autodiff import grad
from .ir import UNARY, Graph, unary_row
from .numpy_ref import evaluate


class GradCheck(NamedTuple):
    name: str           # parameter path
    rel_error: float    # |autodiff - finite difference| / scale, along the random direction
    grad: np.ndarray    # the float64 autodiff gradient (a reference for the GPU's)


def check_gradients(graph: Graph, loss: int, inputs: dict[str, np.ndarray], params: dict[str, np.ndarray],
                    eps: float = 1e-6, seed: int | None = 0) -> list[GradCheck]:
    """One GradCheck per trainable parameter, in `graph.params` order; `graph` is left unchanged.

    rel_error is |a - n| / max(|a|, |n|, 1e-3 |L|) for the autodiff and finite-difference directional
    derivatives a and n: a derivative a thousand times smaller than the loss itself (a parameter that
    barely matters, or a gradient that is exactly zero) is compared to the loss instead, because there
    the finite difference is mostly rounding noise (~ machine epsilon * |L| / eps).
    """
    g = replace(graph, nodes=list(graph.nodes), params=dict(graph.params))   # grad appends nodes
    grads = grad(g, loss)
    vals = evaluate(g, inputs, params)
    forward = replace(graph, nodes=graph.nodes[: loss + 1])   # the loss alone, without backward nodes
    frozen = freeze_pieces(forward, vals)

    def loss_at(name: str, value: np.ndarray) -> float:
        return float(evaluate(forward, inputs, {**params, name: value}, override=frozen)[loss])

    rng = np.random.default_rng(seed)
    floor = 1e-3 * abs(float(vals[loss]))
    out = []
    for name, gi in grads.items():
        p = np.asarray(params[name], np.float64)
        v = rng.standard_normal(p.shape)
        analytic = float(np.sum(vals[gi] * v))
        numeric = (loss_at(name, p + eps * v) - loss_at(name, p - eps * v)) / (2 * eps)
        scale = max(abs(analytic), abs(numeric), floor)
        out.append(GradCheck(name, abs(analytic - numeric) / scale if scale > 0 else 0.0, vals[gi]))
    return out


Fn = Callable[..., np.ndarray]


def freeze_pieces(graph: Graph, vals: list[np.ndarray]) -> dict[int, Fn]:
    """numpy_ref overrides that evaluate every non-smooth node on the piece it is on at `vals`: a
    ReLU-like node becomes x * (its slope at vals), plus 6 where relu6 is saturated; a max pool reads
    the cells that won at vals. The same masks autodiff's rules use (x > 0, 0 < x < 6, first max)."""
    out: dict[int, Fn] = {}
    for i, n in enumerate(graph.nodes):
        if n.op in UNARY and unary_row(n.op).piecewise is not None:   # relu, relu6, leaky_relu, abs
            row = unary_row(n.op)
            out[i] = _times(*row.piecewise(vals[n.srcs[0]], n.attrs))
        elif (d := FAMILY_OPS.get(n.op.name.lower())) is not None and d.freeze is not None:   # max_pool
            out[i] = d.freeze(n.attrs, vals[n.srcs[0]], n.shape)
    return out


def _times(slope: np.ndarray, offset: np.ndarray | float = 0.0) -> Fn:
    return lambda n, x: x * slope + offset
