"""Helpers the bench commands share (run.py's tables, profile.py's step, compare.py): stand-in inputs, the
spec's learning rate, a stand-in loss for specs without one, and fixed-width text tables."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..compiler.ir import Graph, InputAttrs, Op


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


# `bench --loss`: the losses a spec without Train(loss=...) can be given, to time a training step
LOSSES = {"mse": Op.MSE}


class HasLoss(ValueError):
    """add_loss on a graph that trains a loss of its own."""


def add_loss(graph: Graph, kind: str = "mse") -> str:
    """Give a graph without a loss (a detector's spec, which has no Train(loss=...)) one, so that a training
    step can be timed: `kind` (a LOSSES key) of its one output against a new input of the output's shape,
    named 'target' (or 'target_2', ... where that name is taken). Adam keeps its defaults (lr 0.001, as
    spec_lr says). Returns the new input's name; HasLoss (a ValueError) for a graph that already has a loss,
    ValueError for one without exactly one output or an unknown `kind`."""
    if kind not in LOSSES:
        raise ValueError(f"unknown loss {kind!r} (known: {', '.join(LOSSES)})")
    if graph.loss is not None:
        raise HasLoss("the spec already trains a loss (its Train(loss=...))")
    if len(graph.outputs) != 1:
        names = ", ".join(graph.outputs) or "none"
        raise ValueError(f"a {kind} loss needs a spec with exactly one Output, this one has {len(graph.outputs)} "
                         f"({names})")
    (out,) = graph.outputs.values()
    name = next(n for n in ("target", *(f"target_{k}" for k in range(2, len(graph.inputs) + 3)))
                if n not in graph.inputs)
    graph.inputs[name] = graph.add(Op.INPUT, (), InputAttrs(name), shape=graph.nodes[out].shape)
    graph.loss = graph.add(LOSSES[kind], (out, graph.inputs[name]))
    return name


def text_table(head: Sequence[str], body: Sequence[Sequence[str]], left: set[int]) -> str:
    """Fixed-width columns: those in `left` left-aligned, the others (numbers) right-aligned."""
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(c.ljust(w) if k in left else c.rjust(w) for k, (c, w) in enumerate(zip(line, widths)))
             for line in [head, *body]]
    return "\n".join(x.rstrip() for x in lines)
