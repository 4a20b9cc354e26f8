"""Reverse-mode autodiff over the IR: one backward rule per forward op, in one table (RULES).

`grad` appends the backward nodes to the graph itself, so the later passes (schedule, lower) see one graph
holding forward and backward. Only nodes on a path from a trainable parameter to the loss are
differentiated, and a rule builds a source's gradient only when that source leads to a trainable parameter,
so frozen layers and inputs cost no backward kernels.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..ops.elementwise import UnaryGradAttrs
from ..ops.registry import OPS as FAMILY_OPS
from .ir import (
    BINARY,
    UNARY,
    ConstAttrs,
    Graph,
    Node,
    Op,
    Shape,
    binary_row,
    op_attrs,
    unary_row,
)

Grads = Sequence[int | None]


@dataclass
class NodeGrad:
    """What a rule sees: the forward node, the gradient of its output and which sources need a gradient."""
    g: Graph
    id: int                  # the forward node (its value is the forward output y)
    dy: int                  # node id of d(loss)/d(y), the same shape as y
    need: tuple[bool, ...]   # need[k]: source k leads to a trainable parameter

    @property
    def node(self) -> Node:
        return self.g.nodes[self.id]

    def src(self, k: int) -> int:
        return self.node.srcs[k]

    def shape(self, k: int) -> Shape:
        return self.g.nodes[self.node.srcs[k]].shape

    def add(self, op: Op | str, srcs: tuple[int, ...], attrs: Any = None, **kw: Any) -> int:
        """Append a backward node under the forward node's scope + "/grad", at its source position; `op` may
        be given by name (the elementwise rows' rules do: they are below the IR), its attributes as an
        instance of its attrs class or as that class's keywords."""
        op = Op[op.upper()] if isinstance(op, str) else op
        if kw:
            assert attrs is None, "attrs or keywords, not both"
            attrs = op_attrs(op, **kw)
        return self.g.add(op, srcs, attrs, **_where(self.node))

    def reduce_to(self, x: int, k: int) -> int:
        """Sum `x` back to source k's shape where the forward op broadcast it (no node when equal)."""
        shape = self.shape(k)
        return x if self.g.nodes[x].shape == shape else self.add(Op.REDUCE_TO, (x,), shape=shape)

    def broadcast(self, x: int, shape: Shape, scale: float = 1.0) -> int:
        return self.add(Op.BROADCAST, (x,), shape=tuple(shape), scale=float(scale))


Rule = Callable[[NodeGrad], Grads]


# ---- rules: one gradient (or None) per source ----





def _unary(c: NodeGrad) -> Grads:
    """dx = dy * f'(a) in one UNARY_GRAD node, a being the value the op's row says (its output where that
    tells f' as well, so the pre-activation need not be kept); a linear op (neg) applied to dy instead."""
    row = unary_row(c.node.op)
    if row.linear:
        return [c.add(c.node.op, (c.dy,))]
    attrs = c.node.attrs
    a = c.id if row.saves_output(attrs) else c.src(0)
    return [c.add(Op.UNARY_GRAD, (a, c.dy), UnaryGradAttrs(row.name, attrs))]


RULES: dict[Op, Rule] = {
    **{op: binary_row(op).grad for op in BINARY},     # ops/elementwise.py: each row's rule
    **{op: _unary for op in UNARY},
    **{Op[name.upper()]: d.grad for name, d in FAMILY_OPS.items() if d.grad},   # ops/registry.py's families
}

# Ops whose gradient their one consumer's rule already includes (OpDef.through_consumer: the batch statistics,
# the batch norm's rule differentiates through them), so autodiff never walks into them.
THROUGH_CONSUMER = {Op[name.upper()] for name, d in FAMILY_OPS.items() if d.through_consumer}


# ---- the pass ----

def trainable(n: Node) -> bool:
    return n.op is Op.PARAM and n.attrs.trainable


def _on_path(g: Graph, loss: int) -> tuple[list[bool], list[bool]]:
    """(from_param, on_path): node depends on a trainable parameter / also feeds the loss."""
    from_param = [False] * len(g.nodes)
    for i, n in enumerate(g.nodes[: loss + 1]):
        from_param[i] = n.op not in THROUGH_CONSUMER and (trainable(n) or any(from_param[s] for s in n.srcs))
    to_loss = [False] * len(g.nodes)
    to_loss[loss] = True
    for i in range(loss, -1, -1):
        if to_loss[i]:
            for s in g.nodes[i].srcs:
                to_loss[s] = True
    return from_param, [f and t for f, t in zip(from_param, to_loss)]


def grad(graph: Graph, loss: int) -> dict[str, int]:
    """Append the backward pass of scalar node `loss` to `graph`.

    Returns parameter path -> node id of d(loss)/d(param) (the parameter's shape) for every trainable
    parameter; one that cannot reach the loss gets a zero gradient (a BROADCAST of 0.0).
    """
    g = graph
    assert g.nodes[loss].shape == (), f"the loss must be a scalar, got shape {g.nodes[loss].shape}"
    from_param, on_path = _on_path(g, loss)
    grads: dict[int, int] = {}   # forward node id -> id of its gradient so far
    if on_path[loss]:
        grads[loss] = g.add(Op.CONST, (), ConstAttrs((1.0,)), shape=(), **_where(g.nodes[loss]))
    for i in range(loss, -1, -1):
        n = g.nodes[i]
        if not on_path[i] or n.op is Op.PARAM:
            continue
        assert i in grads, f"node %{i} is on the path to the loss but got no gradient"
        need = tuple(from_param[s] for s in n.srcs)
        out = RULES[n.op](NodeGrad(g, i, grads[i], need))
        assert len(out) == len(n.srcs), f"the {n.op.name} rule gave {len(out)} gradients, not {len(n.srcs)}"
        for k, (s, d) in enumerate(zip(n.srcs, out)):
            if d is None or not need[k]:
                continue
            assert g.nodes[d].shape == g.nodes[s].shape, f"{n.op.name} rule: gradient shape for %{s}"
            # a node used more than once: sum the contributions
            grads[s] = g.add(Op.ADD, (grads[s], d), **_where(n)) if s in grads else d
    return {name: grads[i] if i in grads else _zeros(g, i)
            for name, i in g.params.items() if trainable(g.nodes[i])}


def _where(n: Node) -> dict[str, Any]:
    """Backward nodes carry their forward node's position and scope + "/grad"."""
    return {"pos": n.pos, "scope": n.scope + "/grad"}


def _zeros(g: Graph, param: int) -> int:
    """A zero gradient for a trainable parameter that does not reach the loss."""
    n = g.nodes[param]
    zero = g.add(Op.CONST, (), ConstAttrs((0.0,)), shape=(), **_where(n))
    return g.add(Op.BROADCAST, (zero,), op_attrs(Op.BROADCAST, shape=n.shape, scale=1.0), **_where(n))
