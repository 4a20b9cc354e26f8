"""A training step as one graph: the spec's forward nodes, autodiff's backward nodes and the optimizer update.

    step = training_graph(graph)          # a copy; `graph` is left unchanged
      1. autodiff.grad appends the backward nodes after the forward ones
      2. each trainable parameter gets a gradient node of its own, so lowering can place it in `grads` at the
         parameter's offset in `params` (a copy node only where one cannot be: a leaf, a forward node, or one
         node that is the gradient of two parameters)
    add_update(step, params)              # once the parameters are placed (lower.place_params)
      3. one ADAM node over params[0 : trainable elements], reading every gradient: the optimizer phase

Lowering (lower.lower(graph, training=True)) then treats the whole graph alike; which kernel belongs to which
phase follows from its nodes: below `forward_nodes` the forward pass, OPTIMIZERS the update, the rest backward.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from ..ops.optimizer import Adam
from .autodiff import grad
from .ir import LEAVES, Graph, Op, alias_root, op_attrs, verify
from .program import ParamSlot

# Adam's settings and their defaults: the ADAM op's attributes (ops/optimizer.py) but the slice's size
ADAM_DEFAULTS = {f.name: f.default for f in fields(Adam) if f.name != "size"}


@dataclass
class TrainingGraph:
    graph: Graph              # forward nodes, then backward nodes, then (after add_update) the update
    forward_nodes: int        # nodes below this index are the forward pass
    loss: int
    grads: dict[str, int]     # trainable parameter -> its own gradient node
    update: int | None = None  # the ADAM node; None until add_update, or when nothing is trainable


def adam_settings(train: Mapping[str, Any]) -> dict[str, Any]:
    """Adam's settings from a graph's Train(...) (flat keys, or an 'optimizer' mapping), defaults filled in."""
    t = dict(train)
    opt = t.get("optimizer", "adam")
    if isinstance(opt, Mapping):
        t.update(opt)
        opt = opt.get("kind", opt.get("name", "adam"))
    if str(opt).lower() != "adam":
        raise NotImplementedError(f"optimizer {opt!r}: only Adam is implemented")
    return {k: float(t.get(k, v)) for k, v in ADAM_DEFAULTS.items()}


def training_graph(graph: Graph) -> TrainingGraph:
    """Steps 1 and 2: a copy of `graph` with the gradient of the loss for every trainable parameter."""
    if graph.loss is None:
        raise ValueError("the graph has no loss: a spec needs Train(loss=...) to be trained")
    if graph.outputs.get("loss", graph.loss) != graph.loss:
        raise ValueError("an output named 'loss' is not the training loss: rename it")
    adam_settings(graph.train)   # an unknown optimizer fails before any work
    g = replace(graph, nodes=list(graph.nodes), params=dict(graph.params), inputs=dict(graph.inputs),
                outputs=dict(graph.outputs), train=dict(graph.train))
    loss, forward_nodes = graph.loss, len(g.nodes)
    grads = own_gradient_nodes(g, grad(g, loss), forward_nodes)
    verify(g)
    return TrainingGraph(g, forward_nodes, loss, grads)


def add_update(step: TrainingGraph, params: Mapping[str, ParamSlot]) -> None:
    """Step 3: the ADAM node over params[0 : trainable elements] (trainable parameters are placed first), with
    Adam's settings from the spec's Train(...) as its attributes; none when nothing is trainable."""
    size = max((params[name].offset + params[name].size for name in step.grads), default=0)
    if size:
        srcs = tuple(step.grads[name] for name in sorted(step.grads, key=lambda name: params[name].offset))
        step.update = step.graph.add(Op.ADAM, srcs, Adam(size=size, **adam_settings(step.graph.train)),
                                     scope="optimizer")
        verify(step.graph)


def own_gradient_nodes(g: Graph, grads: dict[str, int], forward_nodes: int) -> dict[str, int]:
    """Parameter -> gradient node, each a distinct node computed by a backward kernel, so that it can be
    placed in `grads`; where one is not (a constant, or a node already serving another parameter), a copy
    (BROADCAST to the same shape) is appended."""
    out: dict[str, int] = {}
    taken: set[int] = set()
    for name, gi in grads.items():
        root = alias_root(g, gi)
        if g.nodes[root].op in LEAVES or root < forward_nodes or root in taken:
            p = g.nodes[g.params[name]]
            gi = g.add(Op.BROADCAST, (gi,), op_attrs(Op.BROADCAST, shape=p.shape, scale=1.0), pos=p.pos, scope=p.scope + "/grad")
            root = gi
        taken.add(root)
        out[name] = gi
    return out
