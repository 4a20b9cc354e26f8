"""The IR: one node type, shapes inferred on construction, a deterministic printer.

A Graph is a list of Nodes in topological order; a node's srcs are indices into that list.
Shapes are concrete tuples and include the batch dimension (chosen at compile time) first
for every tensor that derives from an Input; parameters and constants have no batch dimension.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any

from ..ops.base import NoAttrs, ShapeError, broadcast, fmt_shape
from ..ops.elementwise import BINARY_ROWS, UNARY_ROWS, Binary, Unary
from ..ops.registry import BACKWARD as FAMILY_BACKWARD
from ..ops.registry import FORWARD as FAMILY_FORWARD
from ..ops.registry import OPS as FAMILY_OPS
from ..ops.registry import OPTIMIZER as FAMILY_OPTIMIZER

# Every op by name, in this order. The elementwise ops come from their rows in ops/elementwise.py (one row
# each: the WGSL, gradient, reference and peers' expressions), the op families' from their OpDefs
# (ops/registry.py: linear and conv, pools, losses, reductions, dropout, batch norm, the optimizer, shape,
# sequences); the others are declared here. A node's attributes (`Node.attrs`) are an instance of its op's
# frozen dataclass (`attrs_type`): the family's OpDef.attrs, the row's attrs, or one of the IR's own below.
_OP_NAMES = [
    "INPUT",  # attrs: InputAttrs (name)
    "PARAM",  # attrs: ParamAttrs (name, init: 'glorot_normal' | 'zeros' | 'ones', fan_in, fan_out, trainable)
    "CONST",  # attrs: ConstAttrs (value: a tuple of floats, row-major for shape)
    *(r.name.upper() for r in BINARY_ROWS.values()),   # ops/elementwise.py: add, sub, mul, div (broadcasting)
    *(r.name.upper() for r in UNARY_ROWS.values()),    # ops/elementwise.py: relu, sigmoid, ... (leaky_relu: alpha)
    *(name.upper() for name in FAMILY_FORWARD),   # ops/registry.py: conv2d, depthwise, dense, pools, losses, ...

    # ---- backward ops: appended by autodiff.grad, one GPU kernel each; numpy_ref.py is their spec ----
    *(name.upper() for name in FAMILY_BACKWARD),  # ops/registry.py: the families' gradient ops

    # ---- the optimizer update: appended by compiler.training after the backward nodes ----
    *(name.upper() for name in FAMILY_OPTIMIZER),  # ops/optimizer.py: adam (srcs: the gradient of each trainable
    #                        parameter; attrs: size, lr, beta1, beta2, eps -> params[0:size] after one Adam step,
    #                        updated in place with its moments; shape (size,))
]
Op = Enum("Op", _OP_NAMES)   # type: ignore[misc]  (members from the rows; `Op.RELU` etc. as with a class)


UNARY = {Op[r.name.upper()] for r in UNARY_ROWS.values()}
BINARY = {Op[r.name.upper()] for r in BINARY_ROWS.values()}
ELEMENTWISE = UNARY | BINARY


def unary_row(op: Op) -> Unary:
    """The row of a unary elementwise op in ops/elementwise.py."""
    return UNARY_ROWS[op.name.lower()]


def binary_row(op: Op) -> Binary:
    return BINARY_ROWS[op.name.lower()]

POOLS = {Op.MAX_POOL, Op.AVG_POOL}
CONVS = {Op.CONV2D, Op.DEPTHWISE}
REDUCE = {Op.SUM, Op.MEAN}
LOSSES = {Op.MSE, Op.SOFTMAX_CE, Op.SIGMOID_CE}
LEAVES = {Op.INPUT, Op.PARAM, Op.CONST}
# backward ops (autodiff): the ops that only autodiff.grad creates
BACKWARD = {Op[name.upper()] for name in FAMILY_BACKWARD}
OPTIMIZERS = {Op[name.upper()] for name in FAMILY_OPTIMIZER}   # parameter updates: they write `params` in place

Shape = tuple[int, ...]


# ---- the attributes of the IR's own ops (the families' and rows' are declared beside them in ops/) ----

@dataclass(frozen=True)
class InputAttrs:
    name: str                       # the Input's name: the key of the value a run is given


@dataclass(frozen=True)
class ParamAttrs:
    name: str                       # the parameter's path, e.g. "conv2d_0/filters"
    init: str = "glorot_normal"     # 'glorot_normal' | 'zeros' | 'ones'
    fan_in: int = 0                 # Glorot's fans: std sqrt(2 / (fan_in + fan_out)) (runtime/init.py)
    fan_out: int = 0
    trainable: bool = True          # False: a frozen layer's, or a moving statistic (no gradient, no Adam)


@dataclass(frozen=True)
class ConstAttrs:
    value: tuple[float, ...]        # row-major for the node's shape


_IR_ATTRS: dict[Op, type] = {Op.INPUT: InputAttrs, Op.PARAM: ParamAttrs, Op.CONST: ConstAttrs}


def attrs_type(op: Op) -> type:
    """The frozen dataclass of `op`'s attributes: its family's OpDef.attrs, its row's, or the IR's own
    (binary ops have none: NoAttrs)."""
    family = FAMILY_OPS.get(op.name.lower())
    if family is not None:
        return family.attrs
    if op in UNARY:
        return unary_row(op).attrs
    return _IR_ATTRS.get(op, NoAttrs)


def op_attrs(op: Op, **kw: Any) -> Any:
    """`op`'s attributes from keywords; a wrong name is a TypeError (a compiler bug)."""
    return attrs_type(op)(**kw)


@dataclass(frozen=True)
class Pos:
    """Where a construct starts in the spec source (1-based line and column)."""
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, eq=False)
class Node:
    op: Op
    shape: Shape
    dtype: str
    srcs: tuple[int, ...]
    attrs: Any                      # an instance of attrs_type(op), frozen
    pos: Pos | None = None
    scope: str = ""   # the layer path this node was made under, e.g. "dense_block_0/conv2d_0"

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def conv_out(size: int, k: int, stride: int, padding: str) -> tuple[int, int, int]:
    """Output size and (before, after) padding, exactly as TensorFlow computes them."""
    if padding == "valid":
        if size < k:
            raise ShapeError(f"kernel {k} is larger than the input size {size} with padding 'valid'")
        return (size - k) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total // 2, total - total // 2


def infer(op: Op, shapes: list[Shape], attrs: Any) -> Shape:
    """The output shape of `op` with `attrs` on inputs of `shapes`, or ShapeError."""
    family = FAMILY_OPS.get(op.name.lower())
    if family is not None:   # declared in an ops family module: its shape rule
        return family.shape(shapes, attrs)
    if op in UNARY:
        return shapes[0]
    if op in BINARY:
        return broadcast(shapes[0], shapes[1])
    raise AssertionError(f"no shape rule for {op}")


DEFAULT_BINDING = 2**27   # bytes of one tensor, and of all parameters together, unless a graph is compiled for
#                           more: 128 MiB, what every WebGPU device binds of one buffer (maxStorageBufferBindingSize)
MAX_BINDING = 2**31       # the most a graph may be compiled for: element indices stay within i32


@dataclass
class Graph:
    """Nodes in topological order plus the names that matter to users. `max_binding`: the bytes one GPU buffer
    binding may hold on the devices it is compiled for; it caps each tensor, the parameters together and each
    arena buffer (compile_spec's max_binding)."""
    nodes: list[Node] = field(default_factory=list)
    inputs: dict[str, int] = field(default_factory=dict)    # input name -> node id
    params: dict[str, int] = field(default_factory=dict)    # parameter path -> node id
    outputs: dict[str, int] = field(default_factory=dict)   # output name -> node id
    loss: int | None = None                                 # node id of the training loss
    batch: int = 1
    train: dict[str, Any] = field(default_factory=dict)     # Train(...) settings: optimizer, lr, batch, ...
    max_binding: int = DEFAULT_BINDING

    def add(self, op: Op, srcs: tuple[int, ...], attrs: Any = None,
            pos: Pos | None = None, scope: str = "", shape: Shape | None = None) -> int:
        """Append a node, inferring its shape (leaves pass `shape`); returns its id. `attrs` is an instance of
        attrs_type(op) (None: that class's defaults)."""
        kind = attrs_type(op)
        attrs = kind() if attrs is None else attrs
        assert type(attrs) is kind, f"{op.name} takes {kind.__name__}, got {type(attrs).__name__}"
        if shape is None:
            shape = infer(op, [self.nodes[s].shape for s in srcs], attrs)
        self.nodes.append(Node(op, tuple(shape), "f32", tuple(srcs), attrs, pos, scope))
        return len(self.nodes) - 1

    def users(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in self.nodes]
        for i, n in enumerate(self.nodes):
            for s in n.srcs:
                out[s].append(i)
        return out


def verify(g: Graph) -> None:
    """Compiler-bug checks between passes: topological order and shapes that re-infer."""
    for i, n in enumerate(g.nodes):
        assert all(0 <= s < i for s in n.srcs), f"node %{i} uses a later node"
        if n.op not in LEAVES:
            assert infer(n.op, [g.nodes[s].shape for s in n.srcs], n.attrs) == n.shape, f"node %{i} shape"
    for table in (g.inputs, g.params, g.outputs):
        for name, i in table.items():
            assert 0 <= i < len(g.nodes), f"{name} names no node"


def _fmt_value(v: Any) -> str:
    if isinstance(v, tuple):
        return "(" + ",".join(_fmt_value(x) for x in v) + ")"
    if isinstance(v, float):
        return repr(round(v, 6))
    return str(v)


def attrs_items(attrs: Any) -> dict[str, Any]:
    """An attrs instance's fields by name, a nested one's (UNARY_GRAD's forward attrs) flattened in."""
    out: dict[str, Any] = {}
    for f in fields(attrs):
        v = getattr(attrs, f.name)
        if is_dataclass(v):
            out.update(attrs_items(v))
        elif v is not None:   # an optional field left unset (pool gradients' in_shape)
            out[f.name] = v
    return out


def print_graph(g: Graph) -> str:
    """A deterministic text form: `%3 = conv2d[pad=(0,1,0,1),stride=(2,2)] %1 %2 : f32[8,56,56,32]`."""
    lines = []
    for i, n in enumerate(g.nodes):
        attrs = attrs_items(n.attrs)
        if n.op is Op.CONST and n.size > 4:   # a long constant's values would drown the line
            del attrs["value"]
        a = ",".join(f"{k}={_fmt_value(v)}" for k, v in sorted(attrs.items()))
        srcs = " ".join(f"%{s}" for s in n.srcs)
        head = f"%{i} = {n.op.name.lower()}" + (f"[{a}]" if a else "") + (f" {srcs}" if srcs else "")
        lines.append(f"{head} : {n.dtype}{fmt_shape(n.shape)}")
    for name, i in g.outputs.items():
        lines.append(f"output {name} = %{i}")
    if g.loss is not None:
        lines.append(f"loss = %{g.loss}")
    return "\n".join(lines) + "\n"


def alias_root(g: Graph, i: int) -> int:
    """The node whose memory `i` uses: RESHAPE is a view of its source."""
    while g.nodes[i].op is Op.RESHAPE:
        i = g.nodes[i].srcs[0]
    return i


def needed_nodes(g: Graph, roots: list[int]) -> set[int]:
    """The nodes that `roots` are computed from, roots included."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            stack.extend(g.nodes[i].srcs)
    return seen
