"""The sequence family: EMBEDDING with its gradient EMBEDDING_DW, and the recurrent cells LSTM_CELL and GRU_CELL
with their gradients LSTM_CELL_GRAD and GRU_CELL_GRAD, each declared once (OpDef: builtin, typed attributes,
shape rule, float64 reference, gradient rule, lowering, FLOPs, PyTorch and TF.js peers); `lstm` and `gru` build
their layers from DENSE, SLICE, the cell and STACK nodes. Like every module of this package it imports nothing from the rest of wgslgrad (IR nodes, the Lowering,
autodiff's NodeGrad and the builtins' BuiltinCall are typed loosely, ops named).

Keras' layouts and names: Embedding's `embeddings` [vocab, dim]; LSTM's kernel [F,4u], recurrent_kernel [u,4u] and
bias [4u], gates i, f, c, o (sigmoid gates, tanh cell); GRU's (reset_after=True, TF2's default and PyTorch's
nn.GRU form) kernel [F,3u], recurrent_kernel [u,3u] and bias [2,3u] (input bias, recurrent bias), gates z, r, h;
zero initial state. TF.js's tf.layers.gru has only the reset_after=False form (GRUCell throws for resetAfter),
whose bias is [3u] and whose candidate multiplies r into h before the recurrent matmul (two matmuls a step).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import WORKGROUP, Array, NoAttrs, OpDef, Shape, ShapeError, fmt_shape
from .elementwise import sigmoid


@dataclass(frozen=True)
class Vocab:
    """EMBEDDING_DW's attribute: the table's rows (its only sources are the ids and dy)."""
    vocab: int


# ---- builtins (`c` is the builtins' BuiltinCall) ----

def embedding(c: Any, ids: Any, vocab: Any, dim: Any, trainable: Any = True, name: Any = None, *,
              share: Any = False) -> Any:
    """Keras' Embedding: row ids[...] of `embeddings` [vocab, dim]; ids are an Input of whole numbers in
    [0, vocab) stored as floats (checked when data arrives)."""
    ids, v, d, train, lname = c.each(
        lambda: c.tensor(ids, "ids"), lambda: c.integer(vocab, "vocab"), lambda: c.integer(dim, "dim"),
        lambda: c.flag(trainable, "trainable"), lambda: c.layer_name(name))
    if c.b.g.nodes[ids.id].op.name != "INPUT":
        c.fail("ids", "argument 'ids' must be an Input holding whole-number ids (ids are data: they cannot be "
                      "computed, and have no gradient)")
    scope, sh = c.scope(lname), c.shared(share, name)
    table = c.param(scope, "embeddings", (v, d), (v, d), train, sh)
    return c.node("embedding", [ids, table], scope)


_LSTM_NODES_PER_STEP = 7   # 2 to pick z_t, 2 for h @ recurrent_kernel, the cell, its h and c (and 8 more at most)


def _sequence(c: Any, x: Any, units: Any, return_sequences: Any, trainable: Any, name: Any,
              per_step: int, fixed: int) -> tuple[Any, int, bool, bool, str | None]:
    """The checked arguments of a recurrent layer over x [batch, time, features]."""
    x, u, seqs, train, lname = c.each(
        lambda: c.tensor(x, "x"), lambda: c.integer(units, "units"),
        lambda: c.flag(return_sequences, "return_sequences"), lambda: c.flag(trainable, "trainable"),
        lambda: c.layer_name(name))
    if len(x.shape) != 3 or not x.batched:
        c.fail("x", f"expects an input [batch, time, features] (from an Input of 2 dimensions), got "
                    f"{fmt_shape(x.shape)}")
    c.unroll("x", x.shape[1], per_step, fixed)
    return x, u, seqs, train, lname


def lstm(c: Any, x: Any, units: Any, return_sequences: Any = False, trainable: Any = True, name: Any = None, *,
         share: Any = False) -> Any:
    """Keras' LSTM (TF.js names and layouts: kernel [F,4u], recurrent_kernel [u,4u], bias [4u], gates i, f, c,
    o; sigmoid gates, tanh cell; zero initial state) over x [batch, time, features], unrolled: x @ kernel for
    every step in one matmul, then per step one matmul by recurrent_kernel and one LSTM_CELL kernel for the
    gates (slices give its h and c). Returns the last h [batch, units], or every h
    [batch, time, units] with return_sequences=True."""
    x, u, seqs, train, lname = _sequence(c, x, units, return_sequences, trainable, name, _LSTM_NODES_PER_STEP, 8)
    b, steps, f = x.shape
    scope, sh = c.scope(lname), c.shared(share, name)
    kernel = c.param(scope, "kernel", (f, 4 * u), (f, 4 * u), train, sh)
    recurrent = c.param(scope, "recurrent_kernel", (u, 4 * u), (u, 4 * u), train, sh)
    bias = c.param(scope, "bias", (4 * u,), (4 * u, 4 * u), train, sh)
    flat = c.node("reshape", [x], scope, shape=(b * steps, f))
    zx = c.node("reshape", [c.node("dense", [flat, kernel, bias], scope)], scope, shape=(b, steps, 4 * u))

    h: Any = None
    cell: Any = None
    hs = []
    for t in range(steps):
        z = c.node("reshape", [c.node("slice", [zx], scope, axis=1, start=t, stop=t + 1)], scope, shape=(b, 4 * u))
        if h is not None:
            z = c.node("add", [z, c.node("dense", [h, recurrent], scope)], scope)
        hc = c.node("lstm_cell", [z] if cell is None else [z, cell], scope)   # the gates in one kernel: [h | c]
        h = c.node("slice", [hc], scope, axis=1, start=0, stop=u)
        cell = c.node("slice", [hc], scope, axis=1, start=u, stop=2 * u)
        hs.append(h)
    assert h is not None
    return c.node("stack", hs, scope, axis=1) if seqs else h


_GRU_NODES_PER_STEP = 4   # 2 to pick x_t's gates, h @ recurrent_kernel (+ the recurrent bias), the cell
# and 12 more at most: 3 weights, 4 to split the bias, 3 for x @ kernel, the stack


def gru(c: Any, x: Any, units: Any, return_sequences: Any = False, trainable: Any = True, name: Any = None, *,
        share: Any = False) -> Any:
    """Keras' GRU in its TF2 default form, reset_after=True (names and layouts: kernel [F,3u], recurrent_kernel
    [u,3u], bias [2,3u] = the input bias and the recurrent bias; gates z, r, h; sigmoid gates, tanh candidate;
    h_t = z * h_{t-1} + (1 - z) * tanh(x_h + r * (h_{t-1} @ recurrent_kernel_h + recurrent_bias_h)); zero
    initial state) over x [batch, time, features], unrolled: x @ kernel for every step in one matmul, then per
    step one matmul by recurrent_kernel and one GRU_CELL kernel. Returns the last h [batch, units], or every h
    [batch, time, units] with return_sequences=True."""
    x, u, seqs, train, lname = _sequence(c, x, units, return_sequences, trainable, name, _GRU_NODES_PER_STEP, 12)
    b, steps, f = x.shape
    scope, sh = c.scope(lname), c.shared(share, name)
    kernel = c.param(scope, "kernel", (f, 3 * u), (f, 3 * u), train, sh)
    recurrent = c.param(scope, "recurrent_kernel", (u, 3 * u), (u, 3 * u), train, sh)
    bias = c.param(scope, "bias", (2, 3 * u), (3 * u, 3 * u), train, sh)
    b_in, b_rec = (c.node("reshape", [c.node("slice", [bias], scope, axis=0, start=k, stop=k + 1)], scope,
                          shape=(3 * u,)) for k in (0, 1))
    flat = c.node("reshape", [x], scope, shape=(b * steps, f))
    zx = c.node("reshape", [c.node("dense", [flat, kernel, b_in], scope)], scope, shape=(b, steps, 3 * u))

    h: Any = None
    hs = []
    for t in range(steps):
        xg = c.node("reshape", [c.node("slice", [zx], scope, axis=1, start=t, stop=t + 1)], scope, shape=(b, 3 * u))
        if h is None:   # h_0 = 0: its recurrent part is the recurrent bias alone
            h = c.node("gru_cell", [xg, b_rec], scope)
        else:
            h = c.node("gru_cell", [xg, c.node("dense", [h, recurrent, b_rec], scope), h], scope)
        hs.append(h)
    assert h is not None
    return c.node("stack", hs, scope, axis=1) if seqs else h


# ---- shape rules ----

def _embedding_shape(shapes: list[Shape], a: NoAttrs) -> Shape:
    ids, table = shapes
    if len(table) != 2:
        raise ShapeError(f"an embedding table is [vocab, dim], got {fmt_shape(table)}")
    return ids + (table[1],)


def _embedding_dw_shape(shapes: list[Shape], a: Vocab) -> Shape:
    ids, dy = shapes
    assert dy[:-1] == ids, "EMBEDDING_DW shapes"
    return (a.vocab, dy[-1])


def _lstm_shape(shapes: list[Shape], a: NoAttrs) -> Shape:
    z = shapes[0]
    if len(z) != 2 or z[1] % 4 or (len(shapes) > 1 and shapes[1] != (z[0], z[1] // 4)):
        raise ShapeError(f"an LSTM cell takes z [B,4u] and c [B,u], got {', '.join(map(fmt_shape, shapes))}")
    return (z[0], z[1] // 2)


def _lstm_grad_shape(shapes: list[Shape], a: NoAttrs) -> Shape:
    z, dout = shapes[0], shapes[-1]
    assert _lstm_shape(shapes[:-1], a) == dout, "LSTM_CELL_GRAD dout"
    return (z[0], z[1] + (z[1] // 4 if len(shapes) == 3 else 0))


def _gru_shape(shapes: list[Shape], a: NoAttrs) -> Shape:
    xg, rest = shapes[0], shapes[1:]
    u = xg[1] // 3 if len(xg) == 2 and xg[1] % 3 == 0 else 0
    first = len(rest) == 1 and rest[0] in (xg, xg[1:])          # no h_prev: hg per row or one row for all
    later = len(rest) == 2 and rest[0] == xg and rest[1] == (xg[0], u)
    if not u or not (first or later):
        raise ShapeError(f"a GRU cell takes xg [B,3u], hg [B,3u] (or [3u] without h) and h [B,u], got "
                         f"{', '.join(map(fmt_shape, shapes))}")
    return (xg[0], u)


def _gru_grad_shape(shapes: list[Shape], a: NoAttrs) -> Shape:
    xg, dh = shapes[0], shapes[-1]
    assert _gru_shape(shapes[:-1], a) == dh, "GRU_CELL_GRAD dh"
    return (xg[0], 2 * xg[1] + (xg[1] // 3 if len(shapes) == 4 else 0))


# ---- float64 references ----

def _embedding(a: NoAttrs, shape: Shape, ids: Array, table: Array) -> Array:
    return table[ids.astype(np.int64)]


def _embedding_dw(a: Vocab, shape: Shape, ids: Array, dy: Array) -> Array:
    out = np.zeros(shape, dy.dtype)
    np.add.at(out, ids.astype(np.int64).ravel(), dy.reshape(-1, shape[1]))
    return out


def lstm_step(z: Array, c_prev: Array | None = None) -> tuple[Array, ...]:
    """h, c and the activated gates i, f, g, o of one LSTM step (Keras' gate order)."""
    u = z.shape[1] // 4
    i, f, o = (sigmoid(z[:, k * u:(k + 1) * u]) for k in (0, 1, 3))
    g = np.tanh(z[:, 2 * u:3 * u])
    c = i * g if c_prev is None else f * c_prev + i * g
    return o * np.tanh(c), c, i, f, g, o


def _lstm_cell(a: NoAttrs, shape: Shape, z: Array, *c_prev: Array) -> Array:
    return np.concatenate(lstm_step(z, *c_prev)[:2], axis=1)


def _lstm_cell_grad(a: NoAttrs, shape: Shape, z: Array, *rest: Array) -> Array:
    *c_prev, dout = rest
    h, c, i, f, g, o = lstm_step(z, *c_prev)
    u = h.shape[1]
    dh, dc_out = dout[:, :u], dout[:, u:]
    tc = np.tanh(c)
    dc = dc_out + dh * o * (1 - tc * tc)
    dzf = dc * c_prev[0] * f * (1 - f) if c_prev else np.zeros_like(f)
    parts = [dc * g * i * (1 - i), dzf, dc * i * (1 - g * g), dh * tc * o * (1 - o)]
    return np.concatenate(parts + ([dc * f] if c_prev else []), axis=1)


def gru_step(xg: Array, hg: Array, h_prev: Array | None = None) -> tuple[Array, ...]:
    """h and the activated gates z, r and the candidate n of one GRU step (Keras' reset_after form, gate order
    z, r, h); hg is h_prev @ recurrent_kernel + recurrent bias, one row for every row when it is 1-D."""
    u = xg.shape[1] // 3
    z = sigmoid(xg[:, :u] + hg[..., :u])
    r = sigmoid(xg[:, u:2 * u] + hg[..., u:2 * u])
    n = np.tanh(xg[:, 2 * u:] + r * hg[..., 2 * u:])
    h = (1 - z) * n if h_prev is None else z * h_prev + (1 - z) * n
    return h, z, r, n


def _gru_cell(a: NoAttrs, shape: Shape, xg: Array, hg: Array, *h_prev: Array) -> Array:
    return gru_step(xg, hg, *h_prev)[0]


def _gru_cell_grad(a: NoAttrs, shape: Shape, xg: Array, hg: Array, *rest: Array) -> Array:
    """[dxg | dhg (per row) | dh_prev]."""
    *h_prev, dh = rest
    _, z, r, n = gru_step(xg, hg, *h_prev)
    u = n.shape[1]
    hp = h_prev[0] if h_prev else 0.0
    dn = dh * (1 - z) * (1 - n * n)
    dz = dh * (hp - n) * z * (1 - z)
    dr = dn * np.broadcast_to(hg[..., 2 * u:], n.shape) * r * (1 - r)
    return np.concatenate([dz, dr, dn, dz, dr, dn * r] + ([dh * z] if h_prev else []), axis=1)


# ---- gradients (autodiff's NodeGrad c) ----

def _embedding_grad(c: Any) -> list[int | None]:
    """ids are data (an Input): no gradient."""
    return [None, c.add("embedding_dw", (c.src(0), c.dy), Vocab(c.shape(1)[0])) if c.need[1] else None]


def _lstm_cell_dz(c: Any) -> list[int | None]:
    """One kernel gives [dz | dc_prev]; each source takes its part."""
    g = c.add("lstm_cell_grad", (*c.node.srcs, c.dy))
    if len(c.need) == 1:
        return [g]
    four_u = c.shape(0)[1]
    return [c.add("slice", (g,), axis=1, start=0, stop=four_u) if c.need[0] else None,
            c.add("slice", (g,), axis=1, start=four_u, stop=four_u + four_u // 4) if c.need[1] else None]


def _gru_cell_grads(c: Any) -> list[int | None]:
    """One kernel gives [dxg | dhg | dh_prev]; each source takes its part (hg's summed over the rows where it
    is one row for all: the first step's recurrent bias)."""
    g = c.add("gru_cell_grad", (*c.node.srcs, c.dy))
    three_u = c.shape(0)[1]
    spans = [(0, three_u), (three_u, 2 * three_u), (2 * three_u, 2 * three_u + three_u // 3)]
    out = [c.add("slice", (g,), axis=1, start=start, stop=stop) if need else None
           for need, (start, stop) in zip(c.need, spans)]
    if out[1] is not None:
        out[1] = c.reduce_to(out[1], 1)
    return out


# ---- lowerings (the Lowering ctx) ----

def _lower_embedding(ctx: Any, i: int) -> list[Any]:
    """Ids out of [0, vocab) are clamped into it (no read outside the table); the runtime refuses them first."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    ids, table, out = kb.read(node.srcs[0]), kb.read(node.srcs[1]), kb.write(i)
    vocab, dim = g.nodes[node.srcs[1]].shape
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "embedding.wgsl", wg, [i], comment=ctx.comment(i), ids=ids, table=table,
                      out=out, vocab=vocab, dim=dim, n=node.size, wg=WORKGROUP, gx=gx)]


def _lower_embedding_dw(ctx: Any, i: int) -> list[Any]:
    """One thread per table entry, scanning every id: no float atomics in WGSL, and no write races."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    ids, dy, out = kb.read(node.srcs[0]), kb.read(node.srcs[1]), kb.write(i)
    vocab, dim = node.shape
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "embedding_dw.wgsl", wg, [i], comment=ctx.comment(i), ids=ids, dy=dy,
                      out=out, vocab=vocab, dim=dim, count=g.nodes[node.srcs[0]].size, n=node.size,
                      wg=WORKGROUP, gx=gx)]


def _lower_lstm_cell(ctx: Any, i: int) -> list[Any]:
    """One LSTM step (or its gradient) in one kernel, one thread per (row, unit): the gates never leave
    registers."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    grad = node.op.name == "LSTM_CELL_GRAD"
    z = kb.read(node.srcs[0])
    rows, four_u = g.nodes[node.srcs[0]].shape
    has_c = len(node.srcs) == (3 if grad else 2)
    c = kb.read(node.srcs[1]) if has_c else None
    values = {"dout": kb.read(node.srcs[-1]), "width": node.shape[1]} if grad else {}
    out = kb.write(i)
    n = rows * (four_u // 4)
    wg, gx = ctx.elementwise_groups(n)
    return [kb.kernel(ctx.kernel_name(i), "lstm_cell_grad.wgsl" if grad else "lstm_cell.wgsl", wg, [i],
                      comment=ctx.comment(i), z=z, c=c, out=out, rows=rows, u=four_u // 4, n=n, wg=WORKGROUP,
                      gx=gx, **values)]


def _lower_gru_cell(ctx: Any, i: int) -> list[Any]:
    """One GRU step (or its gradient) in one kernel, one thread per (row, unit): the gates never leave
    registers."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    grad = node.op.name == "GRU_CELL_GRAD"
    xg, hg = kb.read(node.srcs[0]), kb.read(node.srcs[1])
    rows, three_u = g.nodes[node.srcs[0]].shape
    has_h = len(node.srcs) == (4 if grad else 3)
    h = kb.read(node.srcs[2]) if has_h else None
    values = {"dout": kb.read(node.srcs[-1]), "width": node.shape[1]} if grad else {}
    out = kb.write(i)
    n = rows * (three_u // 3)
    wg, gx = ctx.elementwise_groups(n)
    return [kb.kernel(ctx.kernel_name(i), "gru_cell_grad.wgsl" if grad else "gru_cell.wgsl", wg, [i],
                      comment=ctx.comment(i), xg=xg, hg=hg, hg_rows=len(g.nodes[node.srcs[1]].shape) == 2, h=h,
                      out=out, rows=rows, u=three_u // 3, n=n, wg=WORKGROUP, gx=gx, **values)]


# ---- FLOPs ----

def _reads(shapes: list[Shape], shape: Shape, a: Any) -> int:
    """A gradient op's: one per element read."""
    return sum(math.prod(s) for s in shapes)


# ---- peers ----

def _torch_lstm_cell(h: Any, a: NoAttrs, xs: list[Any], const: Any) -> Any:
    z, *c_prev = xs
    i, f, g, o = z.chunk(4, dim=1)
    c = h.torch.sigmoid(i) * h.torch.tanh(g)
    if c_prev:
        c = c + h.torch.sigmoid(f) * c_prev[0]
    return h.torch.cat([h.torch.sigmoid(o) * h.torch.tanh(c), c], dim=1)


# one-hot rows times the table (not tf.gather: the wasm backend has no kernel for its gradient)
_TFJS_EMBEDDING = """(n, ids, table) => {
  const [vocab, dim] = table.shape;
  const hot = tf.cast(tf.oneHot(tf.cast(tf.reshape(ids, [-1]), 'int32'), vocab), 'float32');
  return tf.reshape(tf.matMul(hot, table), [...ids.shape, dim]);
}"""
_TFJS_LSTM_CELL = """(n, z, cPrev) => {
  const [i, f, g, o] = tf.split(z, 4, 1);
  let c = tf.mul(tf.sigmoid(i), tf.tanh(g));
  if (cPrev) c = tf.add(c, tf.mul(tf.sigmoid(f), cPrev));
  return tf.concat([tf.mul(tf.sigmoid(o), tf.tanh(c)), c], 1);
}"""


def _torch_gru_cell(h: Any, a: NoAttrs, xs: list[Any], const: Any) -> Any:
    xg, hg, *h_prev = xs
    xz, xr, xh = xg.chunk(3, dim=-1)
    hz, hr, hh = hg.chunk(3, dim=-1)
    z, r = h.torch.sigmoid(xz + hz), h.torch.sigmoid(xr + hr)
    n = h.torch.tanh(xh + r * hh)
    return (1 - z) * n + (z * h_prev[0] if h_prev else 0)


_TFJS_GRU_CELL = """(n, xg, hg, hPrev) => {
  const [xz, xr, xh] = tf.split(xg, 3, -1);
  const [hz, hr, hh] = tf.split(hg, 3, -1);
  const z = tf.sigmoid(tf.add(xz, hz));
  const cand = tf.tanh(tf.add(xh, tf.mul(tf.sigmoid(tf.add(xr, hr)), hh)));
  const h = tf.mul(tf.sub(1, z), cand);
  return hPrev ? tf.add(h, tf.mul(z, hPrev)) : h;
}"""


OPS: dict[str, OpDef] = {d.name: d for d in [
    OpDef("embedding", "srcs ids[...] (an Input of whole numbers in [0, V)), table[V,D] -> table[ids], "
          "ids.shape + (D,)", NoAttrs, _embedding_shape, _embedding, _lower_embedding,
          lambda shapes, shape, a: 0, grad=_embedding_grad, builtin=embedding,
          torch=lambda t, a, xs, const: xs[1][xs[0].long()],
          tfjs=_TFJS_EMBEDDING),
    OpDef("lstm_cell", "srcs z[B,4u] (gates i, f, c, o before activation), (c_prev[B,u]) -> [B,2u] = [h | c]: "
          "c = sigmoid(f) * c_prev + sigmoid(i) * tanh(g), h = sigmoid(o) * tanh(c)", NoAttrs, _lstm_shape,
          _lstm_cell, _lower_lstm_cell,
          # per unit: three sigmoids, two tanh, three multiplies and an add, each one (two outputs per unit)
          lambda shapes, shape, a: 5 * math.prod(shape),
          grad=_lstm_cell_dz, builtin=lstm, torch=_torch_lstm_cell, tfjs=_TFJS_LSTM_CELL),
    OpDef("gru_cell", "srcs xg[B,3u] (x_t @ kernel + input bias, gates z, r, h), hg[B,3u] (h_prev @ "
          "recurrent_kernel + recurrent bias; [3u] on the first step), (h_prev[B,u]) -> h[B,u] = z * h_prev + "
          "(1 - z) * tanh(xg_h + r * hg_h), z = sigmoid(xg_z + hg_z), r = sigmoid(xg_r + hg_r) (Keras' "
          "reset_after form)", NoAttrs, _gru_shape, _gru_cell, _lower_gru_cell,
          # per unit: two sigmoids and a tanh, five adds or subtracts and three multiplies, each one
          lambda shapes, shape, a: 11 * math.prod(shape),
          grad=_gru_cell_grads, builtin=gru, torch=_torch_gru_cell, tfjs=_TFJS_GRU_CELL),
    OpDef("embedding_dw", "srcs ids[...], dy[..., D]; attrs vocab -> [V,D]: row v sums dy where ids == v", Vocab,
          _embedding_dw_shape, _embedding_dw, _lower_embedding_dw,
          lambda shapes, shape, a: math.prod(shape) * math.prod(shapes[0]),   # every entry scans every id
          backward=True),
    OpDef("lstm_cell_grad", "srcs z, (c_prev), dout[B,2u] -> [dz | dc_prev]: [B,5u] ([B,4u] without c_prev)",
          NoAttrs, _lstm_grad_shape, _lstm_cell_grad, _lower_lstm_cell, _reads, backward=True),
    OpDef("gru_cell_grad", "srcs xg, hg, (h_prev), dh[B,u] -> [dxg | dhg | dh_prev]: [B,7u] ([B,6u] without "
          "h_prev; dhg per row)", NoAttrs, _gru_grad_shape, _gru_cell_grad, _lower_gru_cell, _reads,
          backward=True),
]}
