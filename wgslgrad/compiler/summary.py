"""A per-layer model summary: output shape, parameters, parameter bytes and FLOPs (forward, per batch)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..ops.base import bytes_text
from ..ops.registry import OPS as FAMILY_OPS
from .ir import (
    DEFAULT_BINDING,
    ELEMENTWISE,
    UNARY,
    Graph,
    Node,
    Op,
    binary_row,
    fmt_shape,
    unary_row,
)


@dataclass
class Row:
    layer: str
    kind: str
    shape: tuple[int, ...]
    params: int
    flops: int


def node_flops(g: Graph, n: Node) -> int:
    """Multiply-adds count as two FLOPs; elementwise ops, pools and reductions one per tap."""
    family = FAMILY_OPS.get(n.op.name.lower())
    if family is not None:   # ops/registry.py's families
        return family.flops([g.nodes[s].shape for s in n.srcs], n.shape, n.attrs)
    if n.op in ELEMENTWISE:   # per element, as the op's row says
        return n.size * (unary_row(n.op) if n.op in UNARY else binary_row(n.op)).flops
    return 0   # the leaves


def _kind(ops: list[str]) -> str:
    """The layer's kind from the ops it made: depthwise then a 1x1 conv2d is a separable conv."""
    ops = [o for o in ops if o != "reshape"] or ops   # a layer that only reshapes (flatten) is a reshape
    if ops[:2] == ["depthwise", "conv2d"]:
        return "separable_conv2d"
    if "batch_norm" in ops:   # its statistics come first
        return "batch_norm"
    if "lstm_cell" in ops or "gru_cell" in ops:   # its input projection (a dense over every step) comes first
        return "lstm" if "lstm_cell" in ops else "gru"
    return ops[0] if ops else "param"


def summarize(g: Graph, forward_only: bool = True) -> list[Row]:
    """One row per op call in the spec (nodes grouped by scope), in execution order."""
    rows: dict[str, Row] = {}
    ops: dict[str, list[str]] = {}
    for n in g.nodes:
        if n.op in (Op.INPUT, Op.CONST) or (forward_only and n.scope.endswith("/grad")):
            continue
        key = n.scope or n.op.name.lower()
        row = rows.setdefault(key, Row(key, "", (), 0, 0))
        if n.op is Op.PARAM:
            row.params += n.size
        else:
            row.shape = n.shape
            row.flops += node_flops(g, n)
            ops.setdefault(key, []).append(n.op.name.lower())
    for key, row in rows.items():
        row.kind = _kind(ops.get(key, []))
    return [r for r in rows.values() if r.shape or r.params]


def _human(n: float, unit: str = "") -> str:
    for suffix in ("", "K", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.0f}{suffix}{unit}" if suffix == "" else f"{n:.2f}{suffix}{unit}"
        n /= 1000
    return f"{n:.2f}P{unit}"


def format_summary(g: Graph) -> str:
    rows = summarize(g)
    header = ("layer", "op", "output shape", "params", "bytes", "FLOPs")
    table = [header] + [(r.layer, r.kind, fmt_shape(r.shape), f"{r.params:,}", _human(4 * r.params, "B"),
                         _human(r.flops)) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = []
    for i, row in enumerate(table):
        lines.append("  ".join(c.ljust(w) if j < 3 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            lines.append("-" * len(lines[0]))
    params = sum(n.size for n in g.nodes if n.op is Op.PARAM)
    trainable = sum(n.size for n in g.nodes if n.op is Op.PARAM and n.attrs.trainable)
    flops = sum(r.flops for r in rows)
    inputs = ", ".join(f"{k} {fmt_shape(g.nodes[i].shape)}" for k, i in g.inputs.items())
    lines += ["-" * len(lines[0]),
              f"inputs: {inputs}   batch: {g.batch}",
              (f"parameters: {params:,} ({trainable:,} trainable), {_human(4 * params, 'B')} as float32, "
               f"{_human(params, 'B')} as uint8"),
              f"forward FLOPs per batch: {_human(flops)} ({_human(flops / max(g.batch, 1))} per example)"]
    if g.max_binding != DEFAULT_BINDING:   # say what --max-binding bought (the default's summary is unchanged)
        big = max((n for n in g.nodes if n.op is not Op.CONST), key=lambda n: n.size)
        lines.append(f"max binding: {bytes_text(g.max_binding)} (--max-binding); the largest tensor, "
                     f"{big.scope or big.op.name.lower()} {fmt_shape(big.shape)}, takes {bytes_text(4 * big.size)}")
    return "\n".join(lines)


def total_params(g: Graph) -> int:
    return sum(math.prod(g.nodes[i].shape) for i in g.params.values())

