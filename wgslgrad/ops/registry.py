"""Every op family's declarations (OpDef) in one table, by op name; the elementwise rows are in
elementwise.py (its one OpDef: unary_grad, the gradient of every unary row). The passes look an op up
here by its IR name (`OPS[op.name.lower()]`)."""
from __future__ import annotations

from . import (
    batch_norm,
    dropout,
    elementwise,
    linear,
    losses,
    optimizer,
    pooling,
    reductions,
    sequence,
    shape,
)
from .base import OpDef

FAMILIES = [elementwise, linear, pooling, losses, reductions, dropout, batch_norm, optimizer, shape, sequence]
OPS: dict[str, OpDef] = {name: d for family in FAMILIES for name, d in family.OPS.items()}
FORWARD = [name for name, d in OPS.items() if not (d.backward or d.optimizer)]
BACKWARD = [name for name, d in OPS.items() if d.backward]
OPTIMIZER = [name for name, d in OPS.items() if d.optimizer]
