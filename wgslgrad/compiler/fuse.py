"""Epilogue fusion: a conv2d, dense or depthwise node absorbs the elementwise ops that follow it, and in
the backward pass a depthwise input gradient does the same.

    plan(graph, needed, keep, end) -> {producer: Group}

A chain grows from the producer while its tail T has a consumer C that is
  - a unary elementwise op (relu, sigmoid, ...), or
  - a same-shape add/sub/mul/div of T and another value that is ready when the producer's kernel runs
    (an input, a parameter, or computed by an earlier kernel): the residual sums of a dense block, or
  - the gradient of a unary op with T as the incoming gradient (relu's backward: T where y > 0), or
  - a batch norm of T on its moving statistics (inference): the batch norm folded into the layer before it,
    its parameters read in the epilogue, so the weights keep their names and values (ops/batch_norm.py).
The group is one kernel, dispatched at the producer's place: each output element runs the chain in
registers. A node of the group is stored only when something outside the chain reads it (a later node,
the backward pass, an output); the last one always is. FaceLandmark68Net's `relu(c0 + c1 + pointwise(x))`
becomes one kernel that never stores the pointwise output.

    bias_sums(graph, needed, start) -> {filter gradient: Group}

In the backward pass, a conv2d or dense layer's filter gradient (CONV2D_DW, DENSE_DW: A.T @ dy) also
computes its bias gradient (REDUCE_TO: dy summed over all but the last axis), a Group whose chain is that
one node: the kernel reads each tile of dy once for both, and the bias needs no kernels of its own.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..ops.registry import OPS as FAMILY_OPS
from .ir import BINARY, LEAVES, UNARY, Graph, Op

# from the ops' declarations (ops/linear.py): filter gradients, out = A.T @ dy with dy's rows read as B
# (OpDef.sums_bias: conv2d_dw, dense_dw), and the ops whose kernel takes an epilogue (OpDef.epilogue): forward
# (conv2d, depthwise, dense) and backward (depthwise_dx: one thread per element too, so its gradient's relu and
# sums follow)
FILTER_GRADIENTS = {Op[name.upper()] for name, d in FAMILY_OPS.items() if d.sums_bias}
PRODUCERS = {Op[name.upper()] for name, d in FAMILY_OPS.items() if d.epilogue and not d.backward}
BACKWARD_PRODUCERS = {Op[name.upper()] for name, d in FAMILY_OPS.items() if d.epilogue and d.backward}
MAX_BUFFERS = 8   # WebGPU's default storage buffers per shader stage; a group binds at most this many


@dataclass
class Group:
    producer: int
    chain: list[int]    # absorbed nodes, in order; each reads the previous one (or the producer)
    stored: set[int]    # nodes of the group written to memory

    @property
    def nodes(self) -> list[int]:
        return [self.producer, *self.chain]


def plan(g: Graph, needed: Iterable[int], keep: Iterable[int], end: int,
         again: int | None = None) -> dict[int, Group]:
    """Groups by producer over the `needed` nodes: forward producers (below `end`) absorb forward nodes
    only, backward ones (a depthwise input gradient) backward nodes only, so no node changes pass;
    `keep` (outputs) are always stored. Nodes from `again` on are forward ones too (the inference form that
    a training step's graph appends after its backward nodes, inference.append_inference_form)."""
    def is_forward(i: int) -> bool:
        return i < end or (again is not None and i >= again)

    needed = sorted(needed)
    kept = set(keep)
    users: dict[int, list[int]] = {i: [] for i in needed}
    for i in needed:
        for s in set(g.nodes[i].srcs):
            users[s].append(i)
    ready_at: dict[int, int] = {}   # a node absorbed into a group is ready when its producer runs
    groups: dict[int, Group] = {}
    for p in needed:
        forward = is_forward(p)
        if g.nodes[p].op not in (PRODUCERS if forward else BACKWARD_PRODUCERS):
            continue
        chain: list[int] = []
        buffers = len(set(g.nodes[p].srcs)) + 1    # conservative: every operand its own buffer
        tail = p
        while True:
            nxt = next((c for c in users[tail] if is_forward(c) == forward and _absorbable(g, c, tail, p, ready_at)),
                       None)
            if nxt is None or buffers + 2 > MAX_BUFFERS:
                break
            chain.append(nxt)
            buffers += 1 if g.nodes[nxt].op in UNARY else 2    # its other operand (if any); its output if stored
            tail = nxt
        if not chain:
            continue
        group = Group(p, chain, set())
        for a, b in zip(group.nodes, group.nodes[1:] + [None]):
            if b is None or a in kept or any(u != b for u in users[a]):
                group.stored.add(a)
        for c in chain:
            ready_at[c] = p
        groups[p] = group
    return groups


def bias_sums(g: Graph, needed: Iterable[int], start: int) -> dict[int, Group]:
    """Groups (filter gradient, [its bias gradient]) over the `needed` nodes from `start` on: a REDUCE_TO
    of dy to its last axis joins a CONV2D_DW or DENSE_DW that reads the same dy, when nothing reads the
    sum before that kernel runs."""
    needed = sorted(i for i in needed if i >= start)
    users: dict[int, list[int]] = {i: [] for i in needed}
    for i in needed:
        for s in set(g.nodes[i].srcs):
            users.setdefault(s, []).append(i)
    groups: dict[int, Group] = {}
    for r in needed:
        node = g.nodes[r]
        dy = node.srcs[0] if node.op is Op.REDUCE_TO else None
        if dy is None or node.shape != g.nodes[dy].shape[-1:]:
            continue
        d = next((i for i in users[dy] if g.nodes[i].op in FILTER_GRADIENTS and g.nodes[i].srcs[1] == dy
                  and i not in groups), None)
        if d is not None and all(u > d for u in users[r]):
            groups[d] = Group(d, [r], {d, r})
    return groups


def _absorbable(g: Graph, c: int, tail: int, producer: int, ready_at: dict[int, int]) -> bool:
    node = g.nodes[c]
    if node.shape != g.nodes[tail].shape:
        return False
    if node.op in UNARY:
        return True
    if node.op is Op.BATCH_NORM:   # on its moving statistics (inference): a per-channel scale and shift of T
        return len(node.srcs) == 5 and node.srcs[0] == tail and all(g.nodes[s].op in LEAVES for s in node.srcs[1:])
    if node.op is Op.UNARY_GRAD and node.srcs[0] == tail:    # the chain must be the gradient (srcs[1])
        return False
    if (node.op not in BINARY and node.op is not Op.UNARY_GRAD) or node.srcs[0] == node.srcs[1]:
        return False
    other = node.srcs[1] if node.srcs[0] == tail else node.srcs[0]
    ready = g.nodes[other].op in LEAVES or ready_at.get(other, other) < producer
    return g.nodes[other].shape == node.shape and ready
