"""The IR: one node type, shapes inferred on construction, a deterministic printer.

A Graph is a list of Nodes in topological order; a node's srcs are indices into that list.
Shapes are concrete tuples and include the batch dimension (chosen at compile time) first
for every tensor that derives from an Input; parameters and constants have no batch dimension.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..ops.base import ShapeError, broadcast, fmt_shape
from ..ops.elementwise import BINARY_ROWS, UNARY_ROWS, Binary, Unary
from ..ops.registry import BACKWARD as FAMILY_BACKWARD
from ..ops.registry import FORWARD as FAMILY_FORWARD
from ..ops.registry import OPS as FAMILY_OPS
from ..ops.registry import OPTIMIZER as FAMILY_OPTIMIZER

# Every op by name, in this order. The elementwise ops come from their rows in ops/elementwise.py (one row
# each: the WGSL, gradient, reference and peers' expressions), the op families' from their OpDefs
# (ops/registry.py: pools, losses, reductions, dropout, batch norm, the optimizer, sequences); the others are declared here.
_OP_NAMES = [
    "INPUT",  # arg: name
    "PARAM",  # arg: name, init ('glorot_normal' | 'zeros' | 'ones'), fan_in, fan_out, trainable
    "CONST",  # arg: value (tuple of floats, row-major for shape)
    "CONV2D",  # srcs: x[B,H,W,Ci], w[kh,kw,Ci,Co] (HWIO), (bias[Co]); arg: stride, pad (t,b,l,r)
    "DEPTHWISE",  # srcs: x[B,H,W,C], w[kh,kw,C,1] (HWC1), (bias[C]); arg: stride, pad
    "DENSE",  # srcs: x[B,F], w[F,U] (IO), (bias[U])
    *(r.name.upper() for r in BINARY_ROWS.values()),   # ops/elementwise.py: add, sub, mul, div (broadcasting)
    "CONCAT",  # any number of srcs, joined on the last axis
    "SLICE",  # srcs: x; arg: axis, start, stop -> x[..., start:stop, ...] along axis (0 <= start < stop)
    "STACK",  # any number of srcs of one shape; arg: axis -> np.stack(srcs, axis)
    *(r.name.upper() for r in UNARY_ROWS.values()),    # ops/elementwise.py: relu, sigmoid, ... (leaky_relu: alpha)
    *(name.upper() for name in FAMILY_FORWARD),   # ops/registry.py: pools, losses, reductions, dropout, batch norm, ...
    "RESHAPE",  # arg: shape; the same bytes, a new shape

    # ---- backward ops: appended by autodiff.grad, one GPU kernel each; numpy_ref.py is their spec ----
    # Window ops index the zero-padded input as h = oh*sh + i - t, w = ow*sw + j - l (taps i<kh, j<kw);
    # cells outside [0,H)x[0,W) are padding. Depthwise output channel is c*M + m (TF), M = w[3].
    "CONV2D_DX",  # srcs: dy[B,OH,OW,Co], w[kh,kw,Ci,Co]; arg: stride, pad, in_shape (B,H,W,Ci)
    #                        dx[b,h,w,ci] = sum_{i,j,co: h=oh*sh+i-t, w=ow*sw+j-l} dy[b,oh,ow,co]*w[i,j,ci,co]
    "CONV2D_DW",  # srcs: x[B,H,W,Ci], dy[B,OH,OW,Co]; arg: stride, pad, w_shape (kh,kw,Ci,Co)
    #                        dw[i,j,ci,co] = sum_{b,oh,ow} x[b,oh*sh+i-t,ow*sw+j-l,ci] * dy[b,oh,ow,co]
    "DEPTHWISE_DX",  # srcs: dy[B,OH,OW,C*M], w[kh,kw,C,M]; arg: stride, pad, in_shape (B,H,W,C)
    #                        dx[b,h,w,c] = sum_{i,j,m: h=oh*sh+i-t, ...} dy[b,oh,ow,c*M+m] * w[i,j,c,m]
    "DEPTHWISE_DW",  # srcs: x[B,H,W,C], dy[B,OH,OW,C*M]; arg: stride, pad, w_shape (kh,kw,C,M)
    #                        dw[i,j,c,m] = sum_{b,oh,ow} x[b,oh*sh+i-t,ow*sw+j-l,c] * dy[b,oh,ow,c*M+m]
    "DENSE_DX",  # srcs: dy[B,U], w[F,U] -> dy @ w.T, [B,F]
    "DENSE_DW",  # srcs: x[B,F], dy[B,U] -> x.T @ dy, [F,U]
    "UNARY_GRAD",  # srcs: a, dy (same shape); arg: fn (the forward op's name) and its attributes (leaky_relu:
    #                        alpha) -> dx = dy * f'(a), a the value the op's row says its gradient reads: its output y
    #                        (relu, sigmoid, tanh, ...) or its input x (log, abs); the expression is its row's `grad`
    *(name.upper() for name in FAMILY_BACKWARD),  # ops/registry.py: the families' gradient ops
    "SLICE_LAST",  # srcs: x; arg: start, stop -> x[..., start:stop] (concat grad)
    "SLICE_GRAD",  # srcs: dy; arg: axis, start, size -> zeros with `size` along axis, dy placed at
    #                        [start, start + dy's extent) on it (SLICE's gradient)

    # ---- the optimizer update: appended by compiler.training after the backward nodes ----
    *(name.upper() for name in FAMILY_OPTIMIZER),  # ops/optimizer.py: adam (srcs: the gradient of each trainable
    #                        parameter; arg: size, lr, beta1, beta2, eps -> params[0:size] after one Adam step,
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
BACKWARD = {Op.CONV2D_DX, Op.CONV2D_DW, Op.DEPTHWISE_DX, Op.DEPTHWISE_DW, Op.DENSE_DX, Op.DENSE_DW,
            Op.UNARY_GRAD, *(Op[name.upper()] for name in FAMILY_BACKWARD),
            Op.SLICE_LAST, Op.SLICE_GRAD}
OPTIMIZERS = {Op[name.upper()] for name in FAMILY_OPTIMIZER}   # parameter updates: they write `params` in place

Shape = tuple[int, ...]


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
    arg: dict[str, Any] = field(default_factory=dict)
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


def infer(op: Op, shapes: list[Shape], arg: dict[str, Any]) -> Shape:
    """The output shape of `op` on inputs of `shapes`, or ShapeError."""
    family = FAMILY_OPS.get(op.name.lower())
    if family is not None:   # declared in an ops family module: its shape rule
        return family.shape(shapes, family.attrs_of(arg))
    if op in UNARY:
        return shapes[0]
    if op in BINARY:
        return broadcast(shapes[0], shapes[1])
    if op in CONVS:
        x, w = shapes[0], shapes[1]
        if len(x) != 4:
            raise ShapeError(f"{op.name.lower()} expects an NHWC input of rank 4, got {fmt_shape(x)}")
        if op is Op.CONV2D and w[2] != x[3]:
            raise ShapeError(f"conv2d filters {fmt_shape(w)} expect {w[2]} input channels, got {fmt_shape(x)}")
        if op is Op.DEPTHWISE and w[2] != x[3]:
            raise ShapeError(f"depthwise filters {fmt_shape(w)} expect {w[2]} channels, got {fmt_shape(x)}")
        (sh, sw), (t, b, l, r) = arg["stride"], arg["pad"]
        h = (x[1] + t + b - w[0]) // sh + 1
        wd = (x[2] + l + r - w[1]) // sw + 1
        return (x[0], h, wd, w[3] if op is Op.CONV2D else x[3] * w[3])
    if op is Op.DENSE:
        x, w = shapes[0], shapes[1]
        if len(x) != 2 or x[1] != w[0]:
            raise ShapeError(f"dense weights {fmt_shape(w)} expect {w[0]} features, got {fmt_shape(x)}")
        return (x[0], w[1])
    if op is Op.CONCAT:
        first = shapes[0]
        for s in shapes[1:]:
            if len(s) != len(first) or s[:-1] != first[:-1]:
                raise ShapeError(f"concat needs equal shapes but the last axis, got {fmt_shape(first)} and {fmt_shape(s)}")
        return first[:-1] + (sum(s[-1] for s in shapes),)
    if op is Op.SLICE:
        x, axis, start, stop = shapes[0], arg["axis"], arg["start"], arg["stop"]
        if not 0 <= axis < len(x) or not 0 <= start < stop <= x[axis]:
            raise ShapeError(f"slice {start}:{stop} of axis {axis} is out of range for shape {fmt_shape(x)}")
        return x[:axis] + (stop - start,) + x[axis + 1:]
    if op is Op.STACK:
        first, axis = shapes[0], arg["axis"]
        for s in shapes[1:]:
            if s != first:
                raise ShapeError(f"stack needs tensors of one shape, got {fmt_shape(first)} and {fmt_shape(s)}")
        if not 0 <= axis <= len(first):
            raise ShapeError(f"stack axis {axis} is out of range for shape {fmt_shape(first)}")
        return first[:axis] + (len(shapes),) + first[axis:]
    if op is Op.RESHAPE:
        new = tuple(arg["shape"])
        if math.prod(new) != math.prod(shapes[0]):
            raise ShapeError(f"cannot reshape {fmt_shape(shapes[0])} to {fmt_shape(new)}")
        return new
    if op in BACKWARD:
        return _infer_backward(op, shapes, arg)
    raise AssertionError(f"no shape rule for {op}")


# ---- backward ops: shapes. Only autodiff creates these, so a mismatch is a compiler bug (assert). ----
def _infer_backward(op: Op, shapes: list[Shape], arg: dict[str, Any]) -> Shape:
    if op in (Op.CONV2D_DX, Op.DEPTHWISE_DX):
        dy, w = shapes
        fwd = Op.CONV2D if op is Op.CONV2D_DX else Op.DEPTHWISE
        assert infer(fwd, [tuple(arg["in_shape"]), w], arg) == dy, f"{op.name}: dy {dy} does not fit"
        return tuple(arg["in_shape"])
    if op in (Op.CONV2D_DW, Op.DEPTHWISE_DW):
        x, dy = shapes
        fwd = Op.CONV2D if op is Op.CONV2D_DW else Op.DEPTHWISE
        assert infer(fwd, [x, tuple(arg["w_shape"])], arg) == dy, f"{op.name}: dy {dy} does not fit"
        return tuple(arg["w_shape"])
    if op is Op.DENSE_DX:
        (b, u), (f, u2) = shapes
        assert u == u2, "DENSE_DX units"
        return (b, f)
    if op is Op.DENSE_DW:
        (b, f), (b2, u) = shapes
        assert b == b2, "DENSE_DW batch"
        return (f, u)
    if op is Op.UNARY_GRAD:
        assert shapes[0] == shapes[1], f"{op.name} shapes"
        return shapes[1]
    if op is Op.SLICE_LAST:
        assert 0 <= arg["start"] < arg["stop"] <= shapes[0][-1], "SLICE_LAST bounds"
        return shapes[0][:-1] + (arg["stop"] - arg["start"],)
    if op is Op.SLICE_GRAD:
        dy, axis, start, size = shapes[0], arg["axis"], arg["start"], arg["size"]
        assert 0 <= axis < len(dy) and 0 <= start and start + dy[axis] <= size, "SLICE_GRAD bounds"
        return dy[:axis] + (size,) + dy[axis + 1:]
    raise AssertionError(f"no shape rule for {op}")


@dataclass
class Graph:
    """Nodes in topological order plus the names that matter to users."""
    nodes: list[Node] = field(default_factory=list)
    inputs: dict[str, int] = field(default_factory=dict)    # input name -> node id
    params: dict[str, int] = field(default_factory=dict)    # parameter path -> node id
    outputs: dict[str, int] = field(default_factory=dict)   # output name -> node id
    loss: int | None = None                                 # node id of the training loss
    batch: int = 1
    train: dict[str, Any] = field(default_factory=dict)     # Train(...) settings: optimizer, lr, batch, ...

    def add(self, op: Op, srcs: tuple[int, ...], arg: dict[str, Any] | None = None,
            pos: Pos | None = None, scope: str = "", shape: Shape | None = None) -> int:
        """Append a node, inferring its shape (leaves pass `shape`); returns its id."""
        arg = arg or {}
        if shape is None:
            shape = infer(op, [self.nodes[s].shape for s in srcs], arg)
        self.nodes.append(Node(op, tuple(shape), "f32", tuple(srcs), arg, pos, scope))
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
            assert infer(n.op, [g.nodes[s].shape for s in n.srcs], n.arg) == n.shape, f"node %{i} shape"
    for table in (g.inputs, g.params, g.outputs):
        for name, i in table.items():
            assert 0 <= i < len(g.nodes), f"{name} names no node"


def _fmt_arg(v: Any) -> str:
    if isinstance(v, tuple):
        return "(" + ",".join(_fmt_arg(x) for x in v) + ")"
    if isinstance(v, float):
        return repr(round(v, 6))
    return str(v)


def print_graph(g: Graph) -> str:
    """A deterministic text form: `%3 = conv2d[pad=(0,1,0,1),stride=(2,2)] %1 %2 : f32[8,56,56,32]`."""
    lines = []
    for i, n in enumerate(g.nodes):
        arg = {k: v for k, v in n.arg.items() if not (n.op is Op.CONST and k == "value")}
        if n.op is Op.CONST and n.size <= 4:
            arg["value"] = n.arg["value"]
        a = ",".join(f"{k}={_fmt_arg(v)}" for k, v in sorted(arg.items()))
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
