"""A NumPy interpreter of the IR, forward and backward ops: the reference every WGSL kernel is tested against.

Clarity first, then speed: window ops (conv, depthwise and their grads) loop over the kernel taps and
do one vectorised slice per tap, so a 2x17x17x8 conv is a handful of small matmuls. Computation is in
`dtype` (float64 for gradient checks, float32 to mimic the GPU). The elementwise ops' and the op families'
references live with their declarations (wgslgrad/ops/); this module interprets the graph and holds the rest.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..ops.base import OpDef
from ..ops.registry import OPS as FAMILY_OPS
from .ir import BINARY, OPTIMIZERS, UNARY, Graph, Node, Op, binary_row, unary_row

Array = np.ndarray


def evaluate(graph: Graph, inputs: dict[str, Array], params: dict[str, Array],
             dtype: type = np.float64,
             override: dict[int, Callable[..., Array]] | None = None, seed: int = 0, step: int = 0,
             optimizer_state: Mapping[str, Any] | None = None) -> list[Array]:
    """The value of every node of `graph`, indexed by node id.

    `inputs` and `params` are keyed by the names in `graph.inputs` and `graph.params` (falling back to a
    node's attrs.name); their shapes must equal the nodes' shapes, batch included. `override` maps a node
    id to a function(node, *src values) used instead of the op's (gradcheck freezes ReLU masks this way).
    `seed` and `step` draw dropout's masks as the `step` uniform does for the kernels (ops/dropout.py; step 0, before
    any step, is what Session.gradients uses on a fresh session). An optimizer update (a training graph's ADAM
    node) is evaluated from `optimizer_state`: the flat trainable slice before the step as `params`, the moments
    `m` and `v` (as Session.optimizer_state gives them) and the step number `t` (1-based), optionally `lr`;
    the value is params[0 : size] after the step (ops/optimizer.py). The graph
    is evaluated as it is: as built, in training mode; inference.inference_form(graph) gives the other.
    """
    override = override or {}
    names = {i: k for k, i in graph.inputs.items()} | {i: k for k, i in graph.params.items()}
    vals: list[Array] = []
    for i, n in enumerate(graph.nodes):
        v: Array
        if n.op in (Op.INPUT, Op.PARAM):
            table, kind = (inputs, "input") if n.op is Op.INPUT else (params, "parameter")
            name = names.get(i, n.attrs.name)
            if name not in table:
                raise KeyError(f"no value for {kind} {name!r}")
            v = np.asarray(table[name], dtype=dtype)
            if v.shape != n.shape:
                raise ValueError(f"{kind} {name!r} has shape {v.shape}, the graph expects {n.shape}")
        elif n.op is Op.CONST:
            v = np.asarray(n.attrs.value, dtype=dtype)
            v = np.full(n.shape, v.item(), dtype) if v.size == 1 else v.reshape(n.shape)
        elif n.op is Op.DROPOUT and i not in override:   # its masks from seed and step (ops/dropout.py)
            v = np.asarray(EVAL[n.op](n, vals[n.srcs[0]], seed=seed, step=step), dtype=dtype)
        elif n.op in OPTIMIZERS and i not in override:
            if optimizer_state is None:
                raise ValueError(f"node %{i} ({n.op.name.lower()}) is an optimizer update: evaluating it needs "
                                 "optimizer_state (params, m, v, t)")
            v = np.asarray(EVAL[n.op](n, *(vals[s] for s in n.srcs), **optimizer_state), dtype=dtype)
        else:
            fn = override.get(i, EVAL[n.op])
            v = np.asarray(fn(n, *(vals[s] for s in n.srcs)), dtype=dtype)
        assert v.shape == n.shape, f"numpy_ref: node %{i} {n.op.name} gave {v.shape}, expected {n.shape}"
        vals.append(v)
    return vals


def _unary(n: Node, x: Array) -> Array:
    row = unary_row(n.op)
    return row.ref(x, n.attrs)


def _family(d: OpDef) -> Callable[..., Array]:
    # state: an optimizer's (params, m, v, t), dropout's (seed, step)
    return lambda n, *xs, **state: d.ref(n.attrs, n.shape, *xs, **state)


def _binary(ref: Callable[[Array, Array], Array]) -> Callable[..., Array]:
    return lambda n, a, b: ref(a, b)


EVAL: dict[Op, Callable[..., Array]] = {
    **{op: _binary(binary_row(op).ref) for op in BINARY},   # ops/elementwise.py: each row's reference
    **{op: _unary for op in UNARY},
    **{Op[name.upper()]: _family(d) for name, d in FAMILY_OPS.items()},   # ops/registry.py's families
}
