"""Reverse-mode autodiff over the IR: one backward rule per forward op, in one table (RULES).

`grad` appends the backward nodes to the graph itself, so the later passes (schedule, lower) see one graph
holding forward and backward. Only nodes on a path from a trainable parameter to the loss are
differentiated, and a rule builds a source's gradient only when that source leads to a trainable parameter,
so frozen layers and inputs cost no backward kernels.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..ops.registry import OPS as FAMILY_OPS
from .ir import BINARY, UNARY, Graph, Node, Op, Shape, binary_row, unary_row

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

    def add(self, op: Op | str, srcs: tuple[int, ...], arg: dict[str, Any] | None = None) -> int:
        """Append a backward node under the forward node's scope + "/grad", at its source position; `op` may
        be given by name (the elementwise rows' rules do: they are below the IR)."""
        op = Op[op.upper()] if isinstance(op, str) else op
        return self.g.add(op, srcs, arg, **_where(self.node))

    def reduce_to(self, x: int, k: int) -> int:
        """Sum `x` back to source k's shape where the forward op broadcast it (no node when equal)."""
        shape = self.shape(k)
        return x if self.g.nodes[x].shape == shape else self.add(Op.REDUCE_TO, (x,), {"shape": shape})

    def broadcast(self, x: int, shape: Shape, scale: float = 1.0) -> int:
        return self.add(Op.BROADCAST, (x,), {"shape": tuple(shape), "scale": float(scale)})


Rule = Callable[[NodeGrad], Grads]


# ---- rules: one gradient (or None) per source ----

def _conv(dx_op: Op, dw_op: Op) -> Rule:
    def rule(c: NodeGrad) -> Grads:
        win = {"stride": c.node.arg["stride"], "pad": c.node.arg["pad"]}
        x, w = c.src(0), c.src(1)
        dx = c.add(dx_op, (c.dy, w), {**win, "in_shape": c.shape(0)}) if c.need[0] else None
        dw = c.add(dw_op, (x, c.dy), {**win, "w_shape": c.shape(1)}) if c.need[1] else None
        bias = [c.reduce_to(c.dy, 2) if c.need[2] else None] if len(c.need) > 2 else []
        return [dx, dw, *bias]
    return rule


def _dense(c: NodeGrad) -> Grads:
    x, w = c.src(0), c.src(1)
    dx = c.add(Op.DENSE_DX, (c.dy, w)) if c.need[0] else None
    dw = c.add(Op.DENSE_DW, (x, c.dy)) if c.need[1] else None
    bias = [c.reduce_to(c.dy, 2) if c.need[2] else None] if len(c.need) > 2 else []
    return [dx, dw, *bias]


def _concat(c: NodeGrad) -> Grads:
    out: list[int | None] = []
    start = 0
    for k, need in enumerate(c.need):
        stop = start + c.shape(k)[-1]
        if not need:
            out.append(None)
        elif len(c.need) == 1:
            out.append(c.dy)
        else:
            out.append(c.add(Op.SLICE_LAST, (c.dy,), {"start": start, "stop": stop}))
        start = stop
    return out


def _slice(c: NodeGrad) -> Grads:
    arg = c.node.arg
    return [c.add(Op.SLICE_GRAD, (c.dy,), {"axis": arg["axis"], "start": arg["start"],
                                           "size": c.shape(0)[arg["axis"]]})]


def _stack(c: NodeGrad) -> Grads:
    """Source k's gradient is dy's k-th entry along the stacked axis, that axis dropped."""
    axis = c.node.arg["axis"]
    return [c.add(Op.RESHAPE, (c.add(Op.SLICE, (c.dy,), {"axis": axis, "start": k, "stop": k + 1}),),
                  {"shape": c.shape(k)}) if need else None for k, need in enumerate(c.need)]


def _unary(c: NodeGrad) -> Grads:
    """dx = dy * f'(a) in one UNARY_GRAD node, a being the value the op's row says (its output where that
    tells f' as well, so the pre-activation need not be kept); a linear op (neg) applied to dy instead."""
    row = unary_row(c.node.op)
    if row.linear:
        return [c.add(c.node.op, (c.dy,))]
    attrs = row.attrs_of(c.node.arg)
    a = c.id if row.saves_output(attrs) else c.src(0)
    return [c.add(Op.UNARY_GRAD, (a, c.dy), {"fn": row.name, **asdict(attrs)})]


RULES: dict[Op, Rule] = {
    Op.CONV2D: _conv(Op.CONV2D_DX, Op.CONV2D_DW),
    Op.DEPTHWISE: _conv(Op.DEPTHWISE_DX, Op.DEPTHWISE_DW),
    Op.DENSE: _dense,
    **{op: binary_row(op).grad for op in BINARY},     # ops/elementwise.py: each row's rule
    **{op: _unary for op in UNARY},
    Op.CONCAT: _concat,
    Op.SLICE: _slice,
    Op.STACK: _stack,
    **{Op[name.upper()]: d.grad for name, d in FAMILY_OPS.items() if d.grad},   # ops/registry.py's families
    Op.RESHAPE: lambda c: [c.add(Op.RESHAPE, (c.dy,), {"shape": c.shape(0)})],
}

# Ops whose gradient their one consumer's rule already includes (OpDef.through_consumer: the batch statistics,
# the batch norm's rule differentiates through them), so autodiff never walks into them.
THROUGH_CONSUMER = {Op[name.upper()] for name, d in FAMILY_OPS.items() if d.through_consumer}


# ---- the pass ----

def trainable(n: Node) -> bool:
    return n.op is Op.PARAM and bool(n.arg.get("trainable", True))


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
        grads[loss] = g.add(Op.CONST, (), {"value": (1.0,)}, shape=(), **_where(g.nodes[loss]))
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
    zero = g.add(Op.CONST, (), {"value": (0.0,)}, shape=(), **_where(n))
    return g.add(Op.BROADCAST, (zero,), {"shape": n.shape, "scale": 1.0}, **_where(n))
