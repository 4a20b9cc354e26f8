"""The optimizer update: ADAM, one fused node over the trainable slice params[0 : size] (compiler/training.py
adds it after the backward nodes), declared once: typed attributes (Adam's settings), shape rule, the float64
reference of one update, the lowering (one fused kernel, 4 floats a thread) and FLOPs. It has no gradient and
no builtin (Train(optimizer=Adam(...)) sets its attributes), and the peers run their own Adam with the same
settings (compiler.training.adam_settings), so it has no peer facets either.

The `step` uniform's layout is defined here and only here (STEP_FIELDS): the kernels read each value by its
position, and the Program records the field names (Program.optimizer["fields"]) for the runtimes, which
write, before each step t (1-based), the value each name stands for:
    lr, beta1, beta2, eps   the learning rate of this step (a schedule may change it) and Adam's settings
    bias1, bias2            1 - beta1^t and 1 - beta2^t, computed in float64 and rounded once
    t                       the step number
    seed                    dropout's seed, an integer below 2^24 (ops/dropout.py: with t it draws the masks)
The names of the buffers the update owns (its moments and the uniform) are defined here too; compiler/program.py
takes them from here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import ALIGN, WORKGROUP, Array, OpDef, Shape

# Buffer names (compiler/program.py): Adam's first and second moments (the layout of `grads`), the uniform.
ADAM_M = "adam_m"
ADAM_V = "adam_v"
STEP = "step"

STEP_FIELDS = ("lr", "beta1", "beta2", "eps", "bias1", "bias2", "t", "seed")
assert len(STEP_FIELDS) % 4 == 0, "a uniform holds whole vec4s"


def step_fields(var: str) -> dict[str, str]:
    """Each named field of the `step` uniform bound as `var`, as a WGSL expression (`step[1].x`)."""
    return {f: f"{var}[{k // 4}].{'xyzw'[k % 4]}" for k, f in enumerate(STEP_FIELDS) if f}


@dataclass(frozen=True)
class Adam:
    """ADAM's attributes: the updated slice's length, and Adam's settings (TF.js/Keras defaults); lr is the
    default each step may override (the `step` uniform's lr)."""
    size: int = 0
    lr: float = 0.001
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-7


def _shape(shapes: list[Shape], a: Adam) -> Shape:
    # only compiler.training creates it: a mismatch is a compiler bug
    assert sum(math.prod(s) for s in shapes) <= a.size, "ADAM: the gradients exceed the updated slice"
    return (a.size,)


# ---- float64 references ----

def update(a: Adam, p: Array, g: Array, m: Array, v: Array, t: int, lr: float | None = None
           ) -> tuple[Array, Array, Array]:
    """One Adam step t (1-based) in TensorFlow's formulation (epsilon outside the bias correction), on flat
    arrays: the parameters and moments after it."""
    lr = a.lr if lr is None else lr
    m = a.beta1 * m + (1 - a.beta1) * g
    v = a.beta2 * v + (1 - a.beta2) * g * g
    return p - lr * math.sqrt(1 - a.beta2**t) / (1 - a.beta1**t) * m / (np.sqrt(v) + a.eps), m, v


def flat_grads(a: Adam, grads: tuple[Array, ...]) -> Array:
    """The gradients (the node's sources, in parameter-offset order) laid out as in `grads`: each at the next
    multiple of ALIGN (trainable parameters are placed first, each aligned), zeros in the gaps."""
    out, offset = np.zeros(a.size), 0
    for g in grads:
        out[offset:offset + g.size] = np.ravel(g)
        offset += -(-g.size // ALIGN) * ALIGN
    assert offset >= a.size, "ADAM: the gradients do not cover the updated slice"
    return out


def _ref(a: Adam, shape: Shape, *grads: Array, params: Array, m: Array, v: Array, t: int,
         lr: float | None = None) -> Array:
    """params[0 : size] after step t from the given flat state (params, moments), the gradients its sources."""
    return update(a, np.asarray(params, np.float64), flat_grads(a, grads), m, v, t, lr)[0]


# ---- lowering (the Lowering ctx) ----

def _lower_adam(ctx: Any, i: int) -> list[Any]:
    node = ctx.graph.nodes[i]
    a: Adam = node.attrs
    n = node.shape[0]
    kb = ctx.builder()
    # the update is placed in `params` itself, its sources (the gradients) in `grads`
    names = {"params": kb.vec4(ctx.slots[i].buffer, write=True), "grads": kb.vec4(ctx.slots[node.srcs[0]].buffer),
             "m": kb.vec4(ADAM_M, write=True), "v": kb.vec4(ADAM_V, write=True)}
    step = kb.uniform(STEP, len(STEP_FIELDS) // 4)
    n4 = -(-n // ALIGN) * ALIGN // 4
    wg = ctx.grid(-(-n4 // WORKGROUP))
    comment = (f"adam over {n} trainable parameters: lr {a.lr:g} (default), beta1 {a.beta1:g}, "
               f"beta2 {a.beta2:g}, eps {a.eps:g}")
    layout = ", ".join(f"[{k}] = ({', '.join(f or '0' for f in STEP_FIELDS[4 * k:4 * k + 4])})"
                       for k in range(len(STEP_FIELDS) // 4))
    # params, m and v read and written, grads read: 7 floats moved per element
    return [kb.kernel("adam", "adam.wgsl", wg, [i], flops=_flops([], node.shape, a), reads=6 * n, comment=comment,
                      n=n, n4=n4, wg=WORKGROUP, gx=wg[0], step=step, layout=layout, f=step_fields(step), **names)]


def _flops(shapes: list[Shape], shape: Shape, a: Adam) -> int:
    return 12 * shape[0]   # about 12 per element: the two moments, the square root, the step


OPS: dict[str, OpDef] = {d.name: d for d in [
    OpDef("adam", "params[0:size] after one Adam step (TensorFlow's formulation), its moments updated in place",
          Adam, _shape, _ref, _lower_adam, _flops, optimizer=True),
]}
