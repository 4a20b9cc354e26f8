"""The inference form of a graph: what the ops that act differently while training do at inference.

A graph is built in its training form. `inference_form` rewrites, node by node and keeping every node id:
  dropout      -> a reshape to its own shape: a view of its input, no kernel (dropout is off at inference)
  batch_norm   -> its batch-statistics source dropped: it normalises with the moving statistics, and
                  (fuse.py) joins the conv2d, depthwise or dense kernel before it; the BN_STATS node then
                  has no user and is not lowered
lower(graph) lowers this form; lower(graph, training=True) both: the training step the training form, the
inference phase this one, appended to the step's graph (append_inference_form).
"""
from __future__ import annotations

from dataclasses import replace

from .ir import LEAVES, Graph, Node, Op, op_attrs


def moving_statistics(g: Graph) -> set[int]:
    """The parameters (node ids) that training moves without a gradient: the moving statistics of every batch
    norm on batch statistics."""
    return {s for n in g.nodes if n.op is Op.BN_STATS for s in n.srcs[1:3]}


def has_training_behaviour(g: Graph) -> bool:
    """Whether some node acts differently while training (its outputs then differ between the forms)."""
    return any(n.op is Op.DROPOUT or (n.op is Op.BATCH_NORM and len(n.srcs) == 6) for n in g.nodes)


def _inference_node(n: Node) -> Node:
    if n.op is Op.DROPOUT:
        return replace(n, op=Op.RESHAPE, attrs=op_attrs(Op.RESHAPE, shape=n.shape))
    if n.op is Op.BATCH_NORM and len(n.srcs) == 6:
        return replace(n, srcs=n.srcs[:5])
    return n


def inference_form(g: Graph) -> Graph:
    """`g` with every node in its inference behaviour (`g` itself when nothing changes)."""
    if not has_training_behaviour(g):
        return g
    return replace(g, nodes=[_inference_node(n) for n in g.nodes], inputs=dict(g.inputs),
                   params=dict(g.params),
                   outputs=dict(g.outputs), train=dict(g.train))


def append_inference_form(g: Graph, forward_nodes: int, roots: list[int]) -> dict[int, int]:
    """Append to `g`, a training step's graph whose first `forward_nodes` nodes are the forward graph, the
    inference form of what the forward `roots` need, leaves shared; returns each copied node -> its copy. A
    training Program lowers both: its inference phase runs the copies, its training step the originals."""
    need: set[int] = set()
    stack = list(roots)
    while stack:
        i = stack.pop()
        if i not in need:
            assert i < forward_nodes, f"node %{i} is not a forward node"
            need.add(i)
            stack.extend(_inference_node(g.nodes[i]).srcs)
    copy: dict[int, int] = {}
    for i in sorted(need):
        n = g.nodes[i]
        if n.op in LEAVES:
            continue
        m = _inference_node(n)
        copy[i] = g.add(m.op, tuple(copy.get(s, s) for s in m.srcs), m.attrs, pos=n.pos, scope=n.scope)
    return copy
