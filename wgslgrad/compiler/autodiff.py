"""Reverse-mode autodiff over the IR: one backward rule per forward op, in one table (RULES).

`grad` appends the backward nodes to the graph itself, so the later passes (schedule, lower) see one graph
holding forward and backward. Only nodes on a path from a trainable parameter to the loss are
differentiated, and a rule builds a source's gradient only when that source leads to a trainable parameter,
so frozen layers and inputs cost no backward kernels.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .ir import Graph, Node, Op, Shape

Grads = Sequence[int | None]


@dataclass
class Ctx:
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

    def add(self, op: Op, srcs: tuple[int, ...], arg: dict[str, Any] | None = None) -> int:
        """Append a backward node under the forward node's scope + "/grad", at its source position."""
        return self.g.add(op, srcs, arg, **_where(self.node))

    def reduce_to(self, x: int, k: int) -> int:
        """Sum `x` back to source k's shape where the forward op broadcast it (no node when equal)."""
        shape = self.shape(k)
        return x if self.g.nodes[x].shape == shape else self.add(Op.REDUCE_TO, (x,), {"shape": shape})

    def broadcast(self, x: int, shape: Shape, scale: float = 1.0) -> int:
        return self.add(Op.BROADCAST, (x,), {"shape": tuple(shape), "scale": float(scale)})


Rule = Callable[[Ctx], Grads]


# ---- rules: one gradient (or None) per source ----

def _conv(dx_op: Op, dw_op: Op) -> Rule:
    def rule(c: Ctx) -> Grads:
        win = {"stride": c.node.arg["stride"], "pad": c.node.arg["pad"]}
        x, w = c.src(0), c.src(1)
        dx = c.add(dx_op, (c.dy, w), {**win, "in_shape": c.shape(0)}) if c.need[0] else None
        dw = c.add(dw_op, (x, c.dy), {**win, "w_shape": c.shape(1)}) if c.need[1] else None
        bias = [c.reduce_to(c.dy, 2) if c.need[2] else None] if len(c.need) > 2 else []
        return [dx, dw, *bias]
    return rule


def _dense(c: Ctx) -> Grads:
    x, w = c.src(0), c.src(1)
    dx = c.add(Op.DENSE_DX, (c.dy, w)) if c.need[0] else None
    dw = c.add(Op.DENSE_DW, (x, c.dy)) if c.need[1] else None
    bias = [c.reduce_to(c.dy, 2) if c.need[2] else None] if len(c.need) > 2 else []
    return [dx, dw, *bias]


def _add(c: Ctx) -> Grads:
    return [c.reduce_to(c.dy, k) if c.need[k] else None for k in (0, 1)]


def _sub(c: Ctx) -> Grads:
    # negate after reducing: the reduced tensor is never larger
    db = c.add(Op.NEG, (c.reduce_to(c.dy, 1),)) if c.need[1] else None
    return [c.reduce_to(c.dy, 0) if c.need[0] else None, db]


def _mul(c: Ctx) -> Grads:
    a, b = c.src(0), c.src(1)
    da = c.reduce_to(c.add(Op.MUL, (c.dy, b)), 0) if c.need[0] else None
    db = c.reduce_to(c.add(Op.MUL, (c.dy, a)), 1) if c.need[1] else None
    return [da, db]


def _div(c: Ctx) -> Grads:
    # y = a / b:  da = dy / b,  db = -dy * a / b^2 = -(dy * y) / b
    b = c.src(1)
    da = c.reduce_to(c.add(Op.DIV, (c.dy, b)), 0) if c.need[0] else None
    db = None
    if c.need[1]:
        t = c.add(Op.DIV, (c.add(Op.MUL, (c.dy, c.id)), b))
        db = c.add(Op.NEG, (c.reduce_to(t, 1),))
    return [da, db]


def _concat(c: Ctx) -> Grads:
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


def _slice(c: Ctx) -> Grads:
    arg = c.node.arg
    return [c.add(Op.SLICE_GRAD, (c.dy,), {"axis": arg["axis"], "start": arg["start"],
                                           "size": c.shape(0)[arg["axis"]]})]


def _lstm_cell(c: Ctx) -> Grads:
    """One kernel gives [dz | dc_prev]; each source takes its part."""
    g = c.add(Op.LSTM_CELL_GRAD, (*c.node.srcs, c.dy))
    if len(c.need) == 1:
        return [g]
    four_u = c.shape(0)[1]
    return [c.add(Op.SLICE, (g,), {"axis": 1, "start": 0, "stop": four_u}) if c.need[0] else None,
            c.add(Op.SLICE, (g,), {"axis": 1, "start": four_u, "stop": four_u + four_u // 4}) if c.need[1] else None]


def _stack(c: Ctx) -> Grads:
    """Source k's gradient is dy's k-th entry along the stacked axis, that axis dropped."""
    axis = c.node.arg["axis"]
    return [c.add(Op.RESHAPE, (c.add(Op.SLICE, (c.dy,), {"axis": axis, "start": k, "stop": k + 1}),),
                  {"shape": c.shape(k)}) if need else None for k, need in enumerate(c.need)]


# which value UNARY_GRAD reads: the forward output y where f' is cheapest in y, or where the test on x reads
# the same on y (relu: y > 0 exactly when x > 0), so that the pre-activation need not be kept: the forward
# kernel that produces it can apply the activation in its epilogue (fuse.py) and never store it.
_FROM_OUTPUT = {Op.SIGMOID, Op.TANH, Op.EXP, Op.RELU, Op.RELU6}


def _from_output(n: Node) -> bool:
    return n.op in _FROM_OUTPUT or (n.op is Op.LEAKY_RELU and n.arg["alpha"] >= 0)


def _unary(c: Ctx) -> Grads:
    op = c.node.op
    arg: dict[str, Any] = {"fn": op.name.lower()}
    if op is Op.LEAKY_RELU:
        arg["alpha"] = c.node.arg["alpha"]
    a = c.id if _from_output(c.node) else c.src(0)
    return [c.add(Op.UNARY_GRAD, (a, c.dy), arg)]


def _max_pool(c: Ctx) -> Grads:
    arg = {k: c.node.arg[k] for k in ("size", "stride", "pad")}
    return [c.add(Op.MAX_POOL_GRAD, (c.src(0), c.dy), arg)]


def _avg_pool(c: Ctx) -> Grads:
    arg = {k: c.node.arg[k] for k in ("size", "stride", "pad")}
    return [c.add(Op.AVG_POOL_GRAD, (c.dy,), {**arg, "in_shape": c.shape(0)})]


def _global_avg_pool(c: Ctx) -> Grads:
    b, h, w, ch = c.shape(0)
    dy4 = c.add(Op.RESHAPE, (c.dy,), {"shape": (b, 1, 1, ch)})
    return [c.broadcast(dy4, (b, h, w, ch), 1.0 / (h * w))]


def _mse(c: Ctx) -> Grads:
    pred, target = c.src(0), c.src(1)
    dp = c.add(Op.MSE_GRAD, (pred, target, c.dy))
    return [dp if c.need[0] else None, c.add(Op.NEG, (dp,)) if c.need[1] else None]


def _softmax_ce(c: Ctx) -> Grads:
    logits, labels = c.src(0), c.src(1)
    dlogits = c.add(Op.SOFTMAX_CE_GRAD, (logits, labels, c.dy)) if c.need[0] else None
    dlabels = None
    if c.need[1]:   # rare (labels computed from parameters): -log_softmax(logits) * dl / rows
        logp = c.add(Op.LOG, (c.add(Op.SOFTMAX, (logits,)),))
        rows = math.prod(c.shape(0)[:-1])
        dlabels = c.add(Op.MUL, (logp, c.broadcast(c.dy, c.shape(0), -1.0 / rows)))
    return [dlogits, dlabels]


def _sigmoid_ce(c: Ctx) -> Grads:
    logits, labels = c.src(0), c.src(1)
    dlogits = c.add(Op.SIGMOID_CE_GRAD, (logits, labels, c.dy)) if c.need[0] else None
    dlabels = None
    if c.need[1]:   # rare: d/dz [max(x,0) - x*z + log1p(exp(-|x|))] = -x, averaged over N
        size = c.g.nodes[c.src(0)].size
        dlabels = c.add(Op.MUL, (logits, c.broadcast(c.dy, c.shape(0), -1.0 / size)))
    return [dlogits, dlabels]


RULES: dict[Op, Rule] = {
    Op.CONV2D: _conv(Op.CONV2D_DX, Op.CONV2D_DW),
    Op.DEPTHWISE: _conv(Op.DEPTHWISE_DX, Op.DEPTHWISE_DW),
    Op.DENSE: _dense,
    Op.ADD: _add,
    Op.SUB: _sub,
    Op.MUL: _mul,
    Op.DIV: _div,
    Op.CONCAT: _concat,
    Op.SLICE: _slice,
    Op.EMBEDDING: lambda c: [None, c.add(Op.EMBEDDING_DW, (c.src(0), c.dy), {"vocab": c.shape(1)[0]})
                             if c.need[1] else None],   # ids are data (an Input): no gradient
    Op.STACK: _stack,
    Op.LSTM_CELL: _lstm_cell,
    Op.RELU: _unary,
    Op.RELU6: _unary,
    Op.LEAKY_RELU: _unary,
    Op.SIGMOID: _unary,
    Op.TANH: _unary,
    Op.EXP: _unary,
    Op.LOG: _unary,
    Op.ABS: _unary,
    Op.NEG: lambda c: [c.add(Op.NEG, (c.dy,))],
    Op.SOFTMAX: lambda c: [c.add(Op.SOFTMAX_GRAD, (c.id, c.dy))],
    Op.MAX_POOL: _max_pool,
    Op.AVG_POOL: _avg_pool,
    Op.GLOBAL_AVG_POOL: _global_avg_pool,
    Op.RESHAPE: lambda c: [c.add(Op.RESHAPE, (c.dy,), {"shape": c.shape(0)})],
    Op.SUM: lambda c: [c.broadcast(c.dy, c.shape(0))],
    Op.SUM_AXES: lambda c: [c.broadcast(c.dy, c.shape(0))],   # dy keeps the summed axes as 1s
    Op.MEAN: lambda c: [c.broadcast(c.dy, c.shape(0), 1.0 / c.g.nodes[c.src(0)].size)],
    Op.MSE: _mse,
    Op.SOFTMAX_CE: _softmax_ce,
    Op.SIGMOID_CE: _sigmoid_ce,
}


# ---- the pass ----

def trainable(n: Node) -> bool:
    return n.op is Op.PARAM and bool(n.arg.get("trainable", True))


def _on_path(g: Graph, loss: int) -> tuple[list[bool], list[bool]]:
    """(from_param, on_path): node depends on a trainable parameter / also feeds the loss."""
    from_param = [False] * len(g.nodes)
    for i, n in enumerate(g.nodes[: loss + 1]):
        from_param[i] = trainable(n) or any(from_param[s] for s in n.srcs)
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
        out = RULES[n.op](Ctx(g, i, grads[i], need))
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
