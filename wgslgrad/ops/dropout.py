"""Dropout, everything but its kernel (compiler/lower_norm.py) and its inference form (compiler/inference.py):
the counter-based random bits, the float64 reference and the gradient rule. Like every module of this package
it imports nothing from the rest of wgslgrad (IR nodes and autodiff's NodeGrad are typed loosely, ops named).

Training: y = x * keep / (1 - rate) (inverted dropout, as Keras and TF.js scale), with
    keep = bits(seed, step, salt, element) >= threshold(rate),   threshold = round(rate * 2^32)
where `bits` hashes its counters with the PCG hash (Jarzynski and Olano, "Hash Functions for GPU Rendering",
JCGT 2020): no state, so the backward pass recomputes the very mask the forward pass drew (no mask is stored),
the same in NumPy, in WGSL on any GPU and in the browser bundle. `seed` and `step` come from the `step`
uniform that the runtime writes before each training step (program.py), `salt` (a CRC-32 of the layer path)
tells two dropout layers apart. At inference dropout is the identity (inference.py makes it a no-op view).
"""
from __future__ import annotations

import zlib
from typing import Any

import numpy as np

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


def reference(n: Any, x: np.ndarray, seed: int, step: int) -> np.ndarray:
    """The training forward pass in x's dtype (float64 for the references)."""
    rate = n.arg["rate"]
    return np.where(keep_mask(x.shape, rate, n.arg["salt"], seed, step), x / (1.0 - rate), 0.0)


def grad_rule(c: Any) -> list[int | None]:
    """dx = dy * keep / (1 - rate): the same op on dy, with the same salt, so the same mask. `c` is autodiff's
    NodeGrad (typed loosely: autodiff imports this module, as it does the op rows)."""
    return [c.add("dropout", (c.dy,), dict(c.node.arg))]
