"""DROPOUT, declared once (OpDef): typed attributes, shape rule, the counter-based random bits, the float64
reference, the gradient rule, the lowering (one thread per element), FLOPs and the peers; its inference form is
compiler/inference.py's. Like every module of this package it imports nothing from the rest of wgslgrad (IR
nodes, the Lowering and autodiff's NodeGrad are typed loosely, ops named).

Training: y = x * keep / (1 - rate) (inverted dropout, as Keras and TF.js scale), with
    keep = bits(seed, step, salt, element) >= threshold(rate),   threshold = round(rate * 2^32)
where `bits` hashes its counters with the PCG hash (Jarzynski and Olano, "Hash Functions for GPU Rendering",
JCGT 2020): no state, so the backward pass recomputes the very mask the forward pass drew (no mask is stored),
the same in NumPy, in WGSL on any GPU and in the browser bundle. `seed` and `step` come from the `step`
uniform that the runtime writes before each training step (program.py), `salt` (a CRC-32 of the layer path)
tells two dropout layers apart. At inference dropout is the identity (inference.py makes it a no-op view).
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import WORKGROUP, Array, OpDef, Shape, f32
from .optimizer import STEP, STEP_FIELDS, step_fields

MAX_SEED = 2**24   # the seed and the step travel as float32 in the `step` uniform: exact below 2^24

# The same hash in WGSL (prepended to the dropout kernel) and NumPy (pcg below).
WGSL_HASH = """fn pcg(v: u32) -> u32 {
    let s = v * 747796405u + 2891336453u;
    let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
    return (w >> 22u) ^ w;
}"""


def salt(scope: str) -> int:
    """A dropout layer's own stream of bits: a CRC-32 of its layer path (the same in every compile, at every
    batch size)."""
    return zlib.crc32(scope.encode())


def threshold(rate: float) -> int:
    """Elements whose 32 random bits are below this are dropped: a fraction `rate` of all bit patterns."""
    return min(round(rate * 2**32), 2**32 - 1)


def pcg(v: np.ndarray) -> np.ndarray:
    """The PCG hash of uint32 values (wrapping arithmetic, as in WGSL)."""
    s = np.asarray(v, np.uint32) * np.uint32(747796405) + np.uint32(2891336453)
    w = ((s >> ((s >> np.uint32(28)) + np.uint32(4))) ^ s) * np.uint32(277803737)
    return (w >> np.uint32(22)) ^ w


def key(seed: int, step: int, salt_: int) -> np.uint32:
    """The per-step, per-layer key: pcg(seed ^ pcg(step ^ pcg(salt)))."""
    k = pcg(np.array([salt_], np.uint32))
    k = pcg(np.array([step], np.uint32) ^ k)
    return np.uint32(pcg(np.array([seed], np.uint32) ^ k)[0])


def keep_mask(shape: tuple[int, ...], rate: float, salt_: int, seed: int, step: int) -> np.ndarray:
    """Which elements (row-major) a training step keeps: pcg(key + element) >= threshold(rate)."""
    n = int(np.prod(shape, dtype=np.int64))
    bits = pcg(np.arange(n, dtype=np.uint32) + key(seed, step, salt_))
    return (bits >= np.uint32(threshold(rate))).reshape(shape)


@dataclass(frozen=True)
class Dropout:
    """DROPOUT's attributes: the fraction dropped, and the layer's salt (salt(scope))."""
    rate: float = 0.5
    salt: int = 0


def dropout(c: Any, x: Any, rate: Any, name: Any = None) -> Any:
    """Inverted dropout while training (kept values scaled by 1 / (1 - rate), as Keras), the identity at
    inference."""
    x, r, lname = c.each(lambda: c.tensor(x, "x"), lambda: c.number(rate, "rate"), lambda: c.layer_name(name))
    if not 0 <= r < 1:
        c.fail("rate", f"argument 'rate' (the fraction dropped) must be in [0, 1), got {r}")
    scope = c.scope(lname)
    if r == 0:
        return x
    return c.node("dropout", [x], scope, rate=r, salt=salt(scope))


def _shape(shapes: list[Shape], a: Dropout) -> Shape:
    return shapes[0]


def _ref(a: Dropout, shape: Shape, x: Array, seed: int = 0, step: int = 0) -> Array:
    """The training forward pass in x's dtype (float64 for the references), the masks of `seed` and `step`."""
    return np.where(keep_mask(x.shape, a.rate, a.salt, seed, step), x / (1.0 - a.rate), 0.0)


def _grad(c: Any) -> list[int | None]:
    """dx = dy * keep / (1 - rate): the same op on dy, with the same salt, so the same mask. `c` is autodiff's
    NodeGrad."""
    return [c.add("dropout", (c.dy,), c.node.attrs)]


def _lower(ctx: Any, i: int) -> list[Any]:
    """One thread per element; its mask from the `step` uniform's seed and step (training only: the inference
    form has no dropout)."""
    node = ctx.graph.nodes[i]
    a: Dropout = node.attrs
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    fields = step_fields(kb.uniform(STEP, len(STEP_FIELDS) // 4))
    wg, gx = ctx.elementwise_groups(node.size)
    salt_hash = int(pcg([a.salt])[0])
    return [kb.kernel(ctx.kernel_name(i), "dropout.wgsl", wg, [i], comment=ctx.comment(i), x=x, out=out,
                      t=fields["t"], seed=fields["seed"],
                      hash=WGSL_HASH, rate=a.rate, salt=a.salt, salt_hash=salt_hash,
                      threshold=threshold(a.rate), scale=f32(1.0 / (1.0 - a.rate)), n=node.size,
                      wg=WORKGROUP, gx=gx)]


def _flops(shapes: list[Shape], shape: Shape, a: Dropout) -> int:
    return math.prod(shape)   # a multiply per element


def _torch(h: Any, a: Dropout, xs: list[Any], const: Any) -> Any:
    """In training mode (h.training) wgslgrad's masks from h.seed and h.step, as the kernels draw them; in eval
    mode the identity."""
    x = xs[0]
    if not h.training:
        return x
    keep = keep_mask(tuple(x.shape), a.rate, a.salt, h.seed, h.step)
    return x * h.torch.as_tensor(keep, dtype=x.dtype, device=x.device) / (1.0 - a.rate)


OPS: dict[str, OpDef] = {d.name: d for d in [
    OpDef("dropout", "x * keep / (1 - rate) while training, keep = hash(seed, step, salt, element) >= threshold(rate)",
          Dropout, _shape, _ref, _lower, _flops, grad=_grad, builtin=dropout, torch=_torch,
          # wgslgrad's masks at seed 0, step 0 (numpy_ref's default): peer_model.js's dropoutScale
          tfjs="(n, x) => tf.mul(x, dropoutScale(n, x.shape))"),
]}
