"""Training data: one .npz array per spec Input, checked against the spec, batched with a shuffle per epoch."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..compiler.ir import Graph, fmt_shape
from ..compiler.program import embedding_ids
from .npz import DataError, as_float32, read_npz

__all__ = ["DataError", "bad_ids", "batches", "check_arrays", "load_npz", "num_samples", "random_inputs",
           "shape_error", "split", "take"]


def load_npz(path: str | Path, graph: Graph, notes: list[str] | None = None) -> dict[str, np.ndarray]:
    """Read the arrays named after the spec's inputs (see runtime.npz for what is accepted); every array
    has the same number of samples. Conversions worth a word (booleans to 0/1) are appended to `notes`."""
    return check_arrays(read_npz(path, graph.inputs, notes=notes), graph, str(path))


def check_arrays(arrays: dict[str, np.ndarray], graph: Graph, where: str = "data",
                 notes: list[str] | None = None) -> dict[str, np.ndarray]:
    """Keep the arrays the spec's inputs name, as float32; shapes must match [N, ...input shape]."""
    missing = [k for k in graph.inputs if k not in arrays]
    if missing:
        raise DataError(f"{where}: no array named {', '.join(missing)} (has {', '.join(arrays) or 'none'})")
    out, n = {}, None
    for name, i in graph.inputs.items():
        want = graph.nodes[i].shape[1:]
        a = np.asarray(arrays[name])
        if a.shape[1:] != want or a.ndim == 0:
            raise shape_error(where, name, a, want)
        if n is not None and len(a) != n:
            raise DataError(f"{where}: array '{name}' has {len(a)} samples, the others {n}")
        n = len(a)
        out[name] = as_float32(a, name, where, notes)
        bad = ~np.isfinite(out[name])
        if bad.any():
            first = int(np.argwhere(bad)[0][0])
            raise DataError(f"{where}: array '{name}' holds {int(bad.sum()):,} NaN or Inf values (the first in "
                            f"sample {first})")
    for name, vocab in embedding_ids(graph).items():
        bad = bad_ids(out[name], vocab)
        if bad:
            raise DataError(f"{where}: array '{name}' {bad}")
    if not n:
        raise DataError(f"{where}: no samples")
    return out


def shape_error(where: str, name: str, a: np.ndarray, want: tuple[int, ...]) -> DataError:
    """The error for array `a` (as the user gave it) where the Input takes samples of shape `want`, with a
    hint for the two usual slips: class labels as whole numbers for a one-hot Input, a missing last axis."""
    message = (f"{where}: array '{name}' has shape {fmt_shape(a.shape)} but the spec's Input is "
               f"{fmt_shape(('N', *want))}")  # type: ignore[arg-type]
    if a.ndim == 1 and len(want) == 1 and want[0] > 1 and len(a) and a.dtype.kind in "biuf":
        with np.errstate(invalid="ignore"):
            whole = bool(np.all(np.isfinite(a)) and np.all(a == np.round(a)) and a.min() >= 0 and a.max() < want[0])
        if whole:
            message += (f": class labels as whole numbers? The Input takes them one-hot: "
                        f"np.eye({want[0]})[labels]")
    elif a.shape[1:] + (1,) == want and a.ndim >= 1:
        message += f": one channel? add the last axis: x[..., None] (shape {fmt_shape((*a.shape, 1))})"
    return DataError(message)


def random_inputs(graph: Graph, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One batch of stand-in inputs, float32: standard normal, except embedding ids (whole numbers below the
    vocabulary size)."""
    ids = embedding_ids(graph)
    return {name: (rng.integers(0, ids[name], graph.nodes[i].shape) if name in ids
                   else rng.standard_normal(graph.nodes[i].shape)).astype(np.float32)
            for name, i in graph.inputs.items()}


def bad_ids(arr: np.ndarray, vocab: int) -> str | None:
    """What is wrong with embedding ids `arr` (floats that must be whole numbers in [0, vocab)), naming the
    first bad one, or None: the kernel would clamp such an id, a silently wrong row."""
    bad = ~((arr == np.round(arr)) & (arr >= 0) & (arr < vocab))
    if not bad.any():
        return None
    at = tuple(int(k) for k in np.argwhere(bad)[0])
    return f"holds {float(arr[at])!r} at {list(at)}: embedding ids must be whole numbers in [0, {vocab})"


def take(arrays: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[index] for k, v in arrays.items()}


def num_samples(arrays: dict[str, np.ndarray]) -> int:
    return len(next(iter(arrays.values())))


def batches(arrays: dict[str, np.ndarray], batch: int, rng: np.random.Generator | None) -> Iterator[dict[str, np.ndarray]]:
    """One epoch of full batches, shuffled when `rng` is given. The last batch is completed with samples
    from the start of this epoch's order, so every sample is seen and the compiled batch size holds."""
    n = num_samples(arrays)
    order = rng.permutation(n) if rng is not None else np.arange(n)
    steps = -(-n // batch)
    order = np.resize(order, steps * batch)  # np.resize repeats the order to fill the last batch
    for s in range(steps):
        yield take(arrays, order[s * batch:(s + 1) * batch])


def split(arrays: dict[str, np.ndarray], fraction: float, seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A seeded random split into (train, held-out) with `fraction` of the samples held out."""
    n = num_samples(arrays)
    order = np.random.default_rng(seed).permutation(n)
    k = int(round(n * fraction))
    if not 0 < k < n:
        left = "nothing to hold out" if k == 0 else "no samples to train on"
        raise DataError(f"holding out {fraction:g} of {n} samples leaves {left}")
    return take(arrays, order[k:]), take(arrays, order[:k])
