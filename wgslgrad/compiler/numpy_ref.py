"""A NumPy interpreter of the IR, forward and backward ops: the reference every WGSL kernel is tested against.

Clarity first, then speed: window ops (conv, depthwise, pools and their grads) loop over the kernel taps and
do one vectorised slice per tap, so a 2x17x17x8 conv is a handful of small matmuls. Computation is in
`dtype` (float64 for gradient checks, float32 to mimic the GPU).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from .ir import Graph, Node, Op

Array = np.ndarray


def evaluate(graph: Graph, inputs: dict[str, Array], params: dict[str, Array],
             dtype: type = np.float64,
             override: dict[int, Callable[..., Array]] | None = None) -> list[Array]:
    """The value of every node of `graph`, indexed by node id.

    `inputs` and `params` are keyed by the names in `graph.inputs` and `graph.params` (falling back to a
    node's arg["name"]); their shapes must equal the nodes' shapes, batch included. `override` maps a node
    id to a function(node, *src values) used instead of the op's (gradcheck freezes ReLU masks this way).
    """
    override = override or {}
    names = {i: k for k, i in graph.inputs.items()} | {i: k for k, i in graph.params.items()}
    vals: list[Array] = []
    for i, n in enumerate(graph.nodes):
        v: Array
        if n.op in (Op.INPUT, Op.PARAM):
            table, kind = (inputs, "input") if n.op is Op.INPUT else (params, "parameter")
            name = names.get(i, n.arg.get("name"))
            if name not in table:
                raise KeyError(f"no value for {kind} {name!r}")
            v = np.asarray(table[name], dtype=dtype)
            if v.shape != n.shape:
                raise ValueError(f"{kind} {name!r} has shape {v.shape}, the graph expects {n.shape}")
        elif n.op is Op.CONST:
            v = np.asarray(n.arg["value"], dtype=dtype)
            v = np.full(n.shape, v.item(), dtype) if v.size == 1 else v.reshape(n.shape)
        else:
            fn = override.get(i, EVAL[n.op])
            v = np.asarray(fn(n, *(vals[s] for s in n.srcs)), dtype=dtype)
        assert v.shape == n.shape, f"numpy_ref: node %{i} {n.op.name} gave {v.shape}, expected {n.shape}"
        vals.append(v)
    return vals


# ---- window helpers: taps over a zero-padded NHWC tensor ----

def pad_nhwc(x: Array, pad: tuple[int, int, int, int], value: float = 0.0) -> Array:
    t, b, l, r = pad
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)


def _taps(n: Node, ksize: Sequence[int], out_hw: Sequence[int]) -> Iterator[tuple[int, int, tuple]]:
    """(i, j, index) per kernel tap, row-major; index selects the padded input cells that tap (i, j) reads
    for every output position: padded[:, oh*sh + i, ow*sw + j, :]."""
    (sh, sw), (oh, ow) = n.arg["stride"], out_hw
    for i in range(ksize[0]):
        for j in range(ksize[1]):
            rows, cols = slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw)
            yield i, j, (slice(None), rows, cols)


def _crop(xp: Array, pad: tuple[int, int, int, int], shape: tuple[int, ...]) -> Array:
    t, _, l, _ = pad
    return xp[:, t:t + shape[1], l:l + shape[2], :]


def _padded_zeros(shape: tuple[int, ...], pad: tuple[int, int, int, int], dtype: np.dtype) -> Array:
    t, b, l, r = pad
    return np.zeros((shape[0], shape[1] + t + b, shape[2] + l + r, shape[3]), dtype)


# ---- forward ops ----

def _conv2d(n: Node, x: Array, w: Array, bias: Array | None = None) -> Array:
    xp, out = pad_nhwc(x, n.arg["pad"]), np.zeros(n.shape, x.dtype)
    for i, j, idx in _taps(n, w.shape[:2], n.shape[1:3]):
        out += xp[idx] @ w[i, j]                       # [B,OH,OW,Ci] @ [Ci,Co]
    return out if bias is None else out + bias


def _depthwise(n: Node, x: Array, w: Array, bias: Array | None = None) -> Array:
    xp, out = pad_nhwc(x, n.arg["pad"]), np.zeros(n.shape, x.dtype)
    for i, j, idx in _taps(n, w.shape[:2], n.shape[1:3]):
        out += (xp[idx][..., None] * w[i, j]).reshape(n.shape)   # channel c*M + m
    return out if bias is None else out + bias


def _dense(n: Node, x: Array, w: Array, bias: Array | None = None) -> Array:
    return x @ w if bias is None else x @ w + bias


def _max_pool(n: Node, x: Array) -> Array:
    xp = pad_nhwc(x, n.arg["pad"], -np.inf)            # padding never wins a max
    taps = [xp[idx] for _, _, idx in _taps(n, n.arg["size"], n.shape[1:3])]
    return np.maximum.reduce(taps)


def _pool_counts(n: Node, in_shape: Sequence[int], out_hw: Sequence[int]) -> Array:
    """How many non-padding cells each output window covers, shape [1,OH,OW,1]."""
    ones = pad_nhwc(np.ones((1, in_shape[1], in_shape[2], 1)), n.arg["pad"])
    counts = sum(ones[idx] for _, _, idx in _taps(n, n.arg["size"], out_hw))
    assert np.all(counts > 0), "a pooling window lies entirely in the padding"
    return counts


def _avg_pool(n: Node, x: Array) -> Array:
    xp = pad_nhwc(x, n.arg["pad"])
    total = sum(xp[idx] for _, _, idx in _taps(n, n.arg["size"], n.shape[1:3]))
    return total / _pool_counts(n, x.shape, n.shape[1:3])


def _softmax(x: Array) -> Array:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(x: Array) -> Array:
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _sigmoid(x: Array) -> Array:
    e = np.exp(-np.abs(x))                             # never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _leaky_relu(x: Array, alpha: float) -> Array:
    """x where x >= 0 or NaN, else alpha * x; alpha = 0 is relu (0 for -inf, where alpha * x is NaN)."""
    return np.where(x < 0, alpha * x if alpha else 0.0, x)


def _softmax_ce(n: Node, logits: Array, labels: Array) -> Array:
    return -(labels * _log_softmax(logits)).sum(axis=-1).mean()


def _sigmoid_ce(n: Node, x: Array, z: Array) -> Array:
    return (np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))).mean()


# ---- backward ops (semantics documented on the Op enum in ir.py) ----

def _conv2d_dx(n: Node, dy: Array, w: Array) -> Array:
    dxp = _padded_zeros(n.shape, n.arg["pad"], dy.dtype)
    for i, j, idx in _taps(n, w.shape[:2], dy.shape[1:3]):
        dxp[idx] += dy @ w[i, j].T                     # [B,OH,OW,Co] @ [Co,Ci]
    return _crop(dxp, n.arg["pad"], n.shape)


def _conv2d_dw(n: Node, x: Array, dy: Array) -> Array:
    xp, dw = pad_nhwc(x, n.arg["pad"]), np.zeros(n.shape, x.dtype)
    for i, j, idx in _taps(n, n.shape[:2], dy.shape[1:3]):
        dw[i, j] = np.einsum("bhwc,bhwo->co", xp[idx], dy)
    return dw


def _depthwise_dx(n: Node, dy: Array, w: Array) -> Array:
    dxp = _padded_zeros(n.shape, n.arg["pad"], dy.dtype)
    dy5 = dy.reshape(dy.shape[:3] + w.shape[2:])       # [B,OH,OW,C,M]
    for i, j, idx in _taps(n, w.shape[:2], dy.shape[1:3]):
        dxp[idx] += (dy5 * w[i, j]).sum(axis=-1)
    return _crop(dxp, n.arg["pad"], n.shape)


def _depthwise_dw(n: Node, x: Array, dy: Array) -> Array:
    xp, dw = pad_nhwc(x, n.arg["pad"]), np.zeros(n.shape, x.dtype)
    dy5 = dy.reshape(dy.shape[:3] + n.shape[2:])
    for i, j, idx in _taps(n, n.shape[:2], dy.shape[1:3]):
        dw[i, j] = np.einsum("bhwc,bhwcm->cm", xp[idx], dy5)
    return dw


def _reduce_to(n: Node, x: Array) -> Array:
    shape = tuple(n.arg["shape"])
    x = x.sum(axis=tuple(range(x.ndim - len(shape))))  # axes broadcasting prepended
    stretched = tuple(k for k, s in enumerate(shape) if s == 1 and x.shape[k] != 1)
    return x.sum(axis=stretched, keepdims=True).reshape(shape)


def _unary_grad(n: Node, a: Array, dy: Array) -> Array:
    fn = n.arg["fn"]
    d = {
        "relu": lambda: (a > 0).astype(a.dtype),
        "relu6": lambda: ((a > 0) & (a < 6)).astype(a.dtype),
        "leaky_relu": lambda: np.where(a > 0, 1.0, n.arg["alpha"]),
        "log": lambda: 1 / a,
        "abs": lambda: np.sign(a),
        "sigmoid": lambda: a * (1 - a),                # a is y from here on
        "tanh": lambda: 1 - a * a,
        "exp": lambda: a,
    }[fn]()
    return dy * d


def max_pool_winners(n: Node, x: Array, out_hw: Sequence[int]) -> list[tuple[tuple, Array]]:
    """(index, hit) per tap of a max pool (or its grad) node: index selects that tap's cells of the padded
    input, hit[b,oh,ow,c] says the tap holds its window's winner, the first max cell in row-major order."""
    xp = pad_nhwc(x, n.arg["pad"], -np.inf)           # padding never wins
    taps = [idx for _, _, idx in _taps(n, n.arg["size"], out_hw)]
    y = np.maximum.reduce([xp[idx] for idx in taps])
    out, taken = [], np.zeros(y.shape, bool)
    for idx in taps:
        hit = (xp[idx] == y) & ~taken
        out.append((idx, hit))
        taken |= hit
    return out


def _max_pool_grad(n: Node, x: Array, dy: Array) -> Array:
    dxp = _padded_zeros(x.shape, n.arg["pad"], dy.dtype)
    for idx, hit in max_pool_winners(n, x, dy.shape[1:3]):
        dxp[idx] += np.where(hit, dy, 0)
    return _crop(dxp, n.arg["pad"], x.shape)


def _avg_pool_grad(n: Node, dy: Array) -> Array:
    share = dy / _pool_counts(n, n.shape, dy.shape[1:3])
    dxp = _padded_zeros(n.shape, n.arg["pad"], dy.dtype)
    for _, _, idx in _taps(n, n.arg["size"], dy.shape[1:3]):
        dxp[idx] += share                               # the padding's share is cropped away
    return _crop(dxp, n.arg["pad"], n.shape)


def _lstm_cell(z: Array, c_prev: Array | None = None) -> tuple[Array, ...]:
    """h, c and the activated gates i, f, g, o of one LSTM step (Keras' gate order)."""
    u = z.shape[1] // 4
    i, f, o = (_sigmoid(z[:, k * u:(k + 1) * u]) for k in (0, 1, 3))
    g = np.tanh(z[:, 2 * u:3 * u])
    c = i * g if c_prev is None else f * c_prev + i * g
    return o * np.tanh(c), c, i, f, g, o


def _lstm_cell_grad(n: Node, z: Array, *rest: Array) -> Array:
    *c_prev, dout = rest
    h, c, i, f, g, o = _lstm_cell(z, *c_prev)
    u = h.shape[1]
    dh, dc_out = dout[:, :u], dout[:, u:]
    tc = np.tanh(c)
    dc = dc_out + dh * o * (1 - tc * tc)
    dzf = dc * c_prev[0] * f * (1 - f) if c_prev else np.zeros_like(f)
    parts = [dc * g * i * (1 - i), dzf, dc * i * (1 - g * g), dh * tc * o * (1 - o)]
    return np.concatenate(parts + ([dc * f] if c_prev else []), axis=1)


def _embedding_dw(n: Node, ids: Array, dy: Array) -> Array:
    out = np.zeros(n.shape, dy.dtype)
    np.add.at(out, ids.astype(np.int64).ravel(), dy.reshape(-1, n.shape[1]))
    return out


def _slice_grad(n: Node, dy: Array) -> Array:
    out = np.zeros(n.shape, dy.dtype)
    axis, start = n.arg["axis"], n.arg["start"]
    index = [slice(None)] * dy.ndim
    index[axis] = slice(start, start + dy.shape[axis])
    out[tuple(index)] = dy
    return out


def _softmax_ce_grad(n: Node, logits: Array, labels: Array, dl: Array) -> Array:
    p = _softmax(logits) * labels.sum(axis=-1, keepdims=True)
    return (p - labels) * dl / (logits.size // logits.shape[-1])


EVAL: dict[Op, Callable[..., Array]] = {
    Op.CONV2D: _conv2d,
    Op.DEPTHWISE: _depthwise,
    Op.DENSE: _dense,
    Op.ADD: lambda n, a, b: a + b,
    Op.SUB: lambda n, a, b: a - b,
    Op.MUL: lambda n, a, b: a * b,
    Op.DIV: lambda n, a, b: a / b,
    Op.CONCAT: lambda n, *xs: np.concatenate(xs, axis=-1),
    Op.SLICE: lambda n, x: np.take(x, np.arange(n.arg["start"], n.arg["stop"]), axis=n.arg["axis"]),
    Op.STACK: lambda n, *xs: np.stack(xs, axis=n.arg["axis"]),
    Op.RELU: lambda n, x: np.maximum(x, 0),
    Op.RELU6: lambda n, x: np.clip(x, 0, 6),
    Op.LEAKY_RELU: lambda n, x: _leaky_relu(x, n.arg["alpha"]),
    Op.SIGMOID: lambda n, x: _sigmoid(x),
    Op.TANH: lambda n, x: np.tanh(x),
    Op.EXP: lambda n, x: np.exp(x),
    Op.LOG: lambda n, x: np.log(x),
    Op.ABS: lambda n, x: np.abs(x),
    Op.NEG: lambda n, x: -x,
    Op.SOFTMAX: lambda n, x: _softmax(x),
    Op.MAX_POOL: _max_pool,
    Op.AVG_POOL: _avg_pool,
    Op.GLOBAL_AVG_POOL: lambda n, x: x.mean(axis=(1, 2)),
    Op.RESHAPE: lambda n, x: x.reshape(n.shape),
    Op.SUM: lambda n, x: x.sum(),
    Op.EMBEDDING: lambda n, ids, table: table[ids.astype(np.int64)],
    Op.LSTM_CELL: lambda n, z, *c: np.concatenate(_lstm_cell(z, *c)[:2], axis=1),
    Op.SUM_AXES: lambda n, x: x.sum(axis=tuple(n.arg["axes"]), keepdims=True),
    Op.MEAN: lambda n, x: x.mean(),
    Op.MSE: lambda n, a, b: ((a - b) ** 2).mean(),
    Op.SOFTMAX_CE: _softmax_ce,
    Op.SIGMOID_CE: _sigmoid_ce,
    # backward ops
    Op.CONV2D_DX: _conv2d_dx,
    Op.CONV2D_DW: _conv2d_dw,
    Op.DEPTHWISE_DX: _depthwise_dx,
    Op.DEPTHWISE_DW: _depthwise_dw,
    Op.DENSE_DX: lambda n, dy, w: dy @ w.T,
    Op.DENSE_DW: lambda n, x, dy: x.T @ dy,
    Op.REDUCE_TO: _reduce_to,
    Op.BROADCAST: lambda n, x: np.broadcast_to(x, n.shape) * n.arg["scale"],
    Op.UNARY_GRAD: _unary_grad,
    Op.SOFTMAX_GRAD: lambda n, y, dy: y * (dy - (dy * y).sum(axis=-1, keepdims=True)),
    Op.MAX_POOL_GRAD: _max_pool_grad,
    Op.AVG_POOL_GRAD: _avg_pool_grad,
    Op.SLICE_LAST: lambda n, x: x[..., n.arg["start"]:n.arg["stop"]],
    Op.SLICE_GRAD: _slice_grad,
    Op.EMBEDDING_DW: _embedding_dw,
    Op.LSTM_CELL_GRAD: _lstm_cell_grad,
    Op.MSE_GRAD: lambda n, a, b, dl: 2 * (a - b) * dl / a.size,
    Op.SOFTMAX_CE_GRAD: _softmax_ce_grad,
    Op.SIGMOID_CE_GRAD: lambda n, x, z, dl: (_sigmoid(x) - z) * dl / x.size,
}
