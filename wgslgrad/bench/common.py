"""Helpers the bench commands share (run.py's tables and profile.py's step): stand-in inputs, the spec's
learning rate and fixed-width text tables."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..compiler.ir import Graph, Op


def random_inputs(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Uniform [0, 1) inputs; one used as softmax cross-entropy labels holds probability rows, one used as
    embedding ids whole numbers in [0, vocab)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, i in graph.inputs.items():
        v = rng.uniform(0, 1, graph.nodes[i].shape).astype(np.float32)
        if any(n.op is Op.SOFTMAX_CE and n.srcs[1] == i for n in graph.nodes):
            v /= v.sum(axis=-1, keepdims=True)
        vocab = [graph.nodes[n.srcs[1]].shape[0] for n in graph.nodes if n.op is Op.EMBEDDING and n.srcs[0] == i]
        if vocab:
            v = np.floor(v * min(vocab)).astype(np.float32)
        out[name] = v
    return out


def spec_lr(graph: Graph) -> float:
    """The learning rate of the spec's Train(optimizer=...), 0.001 by default."""
    t = dict(graph.train)
    if isinstance(t.get("optimizer"), dict):
        t.update(t["optimizer"])
    return float(t.get("lr", 1e-3))


def text_table(head: Sequence[str], body: Sequence[Sequence[str]], left: set[int]) -> str:
    """Fixed-width columns: those in `left` left-aligned, the others (numbers) right-aligned."""
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(c.ljust(w) if k in left else c.rjust(w) for k, (c, w) in enumerate(zip(line, widths)))
             for line in [head, *body]]
    return "\n".join(x.rstrip() for x in lines)
