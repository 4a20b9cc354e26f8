"""Graphs the peer tests run: a small one with every forward op, one with the sequence family's, and
examples/digits.py; random inputs and parameters for them."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from op_rows import other_attrs

from wgslgrad.compiler.ir import ConstAttrs, Graph, InputAttrs, Op, ParamAttrs, conv_out, op_attrs
from wgslgrad.ops.elementwise import BINARY_ROWS, UNARY_ROWS

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def every_op_graph(batch: int = 2) -> Graph:
    """A small graph holding every forward op, with asymmetric TF 'same' pads and a depthwise multiplier."""
    g = Graph(batch=batch)
    B = batch

    def param(name: str, shape: tuple[int, ...], trainable: bool = True) -> int:
        i = g.add(Op.PARAM, (),
                  ParamAttrs(name, trainable=trainable), shape=shape)
        g.params[name] = i
        return i

    def inp(name: str, shape: tuple[int, ...]) -> int:
        i = g.add(Op.INPUT, (), InputAttrs(name), shape=(B, *shape))
        g.inputs[name] = i
        return i

    def same(size: int, k: int, s: int) -> tuple[int, int]:
        _, a, b = conv_out(size, k, s, "same")
        return a, b

    x = inp("image", (9, 10, 3))
    y = inp("label", (5,))
    z = inp("bits", (2, 3, 4))
    c = g.add(Op.CONST, (), ConstAttrs((0.5, -1.0, 2.0)), shape=(3,))
    x = g.add(Op.MUL, (g.add(Op.SUB, (x, c)), c))
    # conv 3x3 stride 2 'same': 9 -> 5 pads (1,1), 10 -> 5 pads (0,1): asymmetric
    pad = same(9, 3, 2) + same(10, 3, 2)
    h = g.add(Op.CONV2D, (x, param("conv/filters", (3, 3, 3, 6)), param("conv/bias", (6,))),
              op_attrs(Op.CONV2D, stride=(2, 2), pad=pad))
    h = g.add(Op.LEAKY_RELU, (h,), op_attrs(Op.LEAKY_RELU, alpha=0.2))
    # batch norm on the batch statistics (a training step), before the depthwise only
    mm, mv = param("bn/moving_mean", (6,), False), param("bn/moving_variance", (6,), False)
    stats = g.add(Op.BN_STATS, (h, mm, mv), op_attrs(Op.BN_STATS, momentum=0.9))
    hb = g.add(Op.BATCH_NORM, (h, param("bn/gamma", (6,)), param("bn/beta", (6,)), mm, mv, stats),
               op_attrs(Op.BATCH_NORM, epsilon=1e-3))
    # depthwise 2x2 (multiplier 2) stride 1 'same': pads (0,1,0,1)
    d = g.add(Op.DEPTHWISE, (hb, param("dw/depthwise_filter", (2, 2, 6, 2)), param("dw/bias", (12,), False)),
              op_attrs(Op.DEPTHWISE, stride=(1, 1), pad=(0, 1, 0, 1)))
    d = g.add(Op.RELU6, (d,))
    p = g.add(Op.CONV2D, (d, param("pw/filters", (1, 1, 12, 4))),
              op_attrs(Op.CONV2D, stride=(1, 1), pad=(0, 0, 0, 0)))
    p = g.add(Op.TANH, (p,))
    s = g.add(Op.SIGMOID, (g.add(Op.CONV2D, (h, param("side/filters", (3, 3, 6, 4))),
                                 op_attrs(Op.CONV2D, stride=(1, 1), pad=(1, 1, 1, 1))),))
    cat = g.add(Op.CONCAT, (p, s, g.add(Op.RELU, (h,))))                       # [B,5,5,14]
    mp = g.add(Op.MAX_POOL, (cat,),
               op_attrs(Op.MAX_POOL, size=(2, 2), stride=(2, 2), pad=(0, 1, 0, 1)))   # 5 -> 3
    ap = g.add(Op.AVG_POOL, (cat,),
               op_attrs(Op.AVG_POOL, size=(3, 3), stride=(2, 2), pad=(1, 1, 1, 1)))   # 5 -> 3
    ap2 = g.add(Op.AVG_POOL, (cat,),
                op_attrs(Op.AVG_POOL, size=(2, 2), stride=(2, 2), pad=(0, 1, 0, 1)))  # 5 -> 3
    pooled = g.add(Op.ADD, (g.add(Op.ADD, (mp, ap)), ap2))
    gap = g.add(Op.GLOBAL_AVG_POOL, (pooled,))                                # [B,14]
    flat = g.add(Op.RESHAPE, (pooled,), op_attrs(Op.RESHAPE, shape=(B, 3 * 3 * 14)))
    flat = g.add(Op.DROPOUT, (flat,), op_attrs(Op.DROPOUT, rate=0.25, salt=7))
    f = g.add(Op.DENSE, (flat, param("fc/weights", (126, 14)), param("fc/bias", (14,))))
    f = g.add(Op.ADD, (f, gap))
    pos = g.add(Op.EXP, (g.add(Op.NEG, (g.add(Op.ABS, (f,)),)),))            # in (0, 1]
    c2 = g.add(Op.CONST, (), ConstAttrs((1.5,)), shape=())
    f = g.add(Op.DIV, (g.add(Op.LOG, (g.add(Op.ADD, (pos, c2)),)),
                       g.add(Op.ADD, (pos, c2))))
    logits = g.add(Op.DENSE, (f, param("out/weights", (14, 5))))
    probs = g.add(Op.SOFTMAX, (logits,))
    zz = g.add(Op.DENSE, (logits, param("bits/weights", (5, 24)), param("bits/bias", (24,))))
    zz = g.add(Op.RESHAPE, (zz,), op_attrs(Op.RESHAPE, shape=(B, 2, 3, 4)))
    # two overlapping slices of an inner axis, stacked on a new one (one of them twice): [B,2,3,2,4]
    sa, sb = (g.add(Op.SLICE, (zz,), op_attrs(Op.SLICE, axis=2, start=k, stop=k + 2)) for k in (0, 1))
    st = g.add(Op.STACK, (sa, sb, sa), op_attrs(Op.STACK, axis=2))
    losses = [g.add(Op.SOFTMAX_CE, (logits, y)), g.add(Op.SIGMOID_CE, (zz, z)), g.add(Op.MSE, (probs, y)),
              g.add(Op.MEAN, (g.add(Op.MUL, (logits, logits)),)), g.add(Op.SUM, (g.add(Op.MUL, (probs, probs)),)),
              g.add(Op.MEAN, (g.add(Op.SUM_AXES, (g.add(Op.MUL, (zz, zz)),),
                                    op_attrs(Op.SUM_AXES, axes=(1, 3))),)),
              g.add(Op.MEAN, (g.add(Op.MUL, (st, g.add(Op.TANH, (st,)))),))]
    total = losses[0]
    for l in losses[1:]:
        total = g.add(Op.ADD, (total, l))
    g.outputs.update({"logits": logits, "probabilities": probs, "bits": zz})
    g.loss = total
    g.train = {"lr": 0.001}
    return g


def elementwise_graph(batch: int = 2) -> Graph:
    """Every elementwise row (ops/elementwise.py) with a trainable weight before it, so both peers run its
    forward op and its gradient: each unary op at default attributes on values in its domain (and one with
    attributes at other values too), each binary op on two of those results (dividing by a positive one)."""
    g = Graph(batch=batch)

    def param(name: str, shape: tuple[int, ...]) -> int:
        g.params[name] = g.add(Op.PARAM, (), ParamAttrs(name), shape=shape)
        return g.params[name]

    def const(v: float) -> int:
        return g.add(Op.CONST, (), ConstAttrs((v,)), shape=())

    x = g.add(Op.INPUT, (), InputAttrs("x"), shape=(batch, 3, 4))
    g.inputs["x"] = x
    w = param("w", (4,))
    spread = g.add(Op.MUL, (g.add(Op.SUB, (x, const(0.5))), g.add(Op.MUL, (w, const(8.0)))))   # about +-4
    positive = g.add(Op.ADD, (g.add(Op.MUL, (x, g.add(Op.MUL, (w, w)))), const(0.5)))          # >= 0.5
    ys = {op: g.add(op, (positive if UNARY_ROWS[op.name.lower()].positive else spread,)) for op in
          [Op[name.upper()] for name in UNARY_ROWS]}
    for k, name in enumerate(BINARY_ROWS):
        a = list(ys.values())[k]
        ys[Op[name.upper()]] = g.add(Op[name.upper()], (a, positive))
    outputs = {op.name.lower(): y for op, y in ys.items()}
    for name, r in UNARY_ROWS.items():   # a row with attributes also at other values (op_rows.other_attrs)
        if dataclasses.fields(r.attrs):
            outputs[f"{name}_other_attrs"] = g.add(Op[name.upper()], (spread,), other_attrs(r))
    total = None
    for y in outputs.values():
        m = g.add(Op.MEAN, (y,))
        total = m if total is None else g.add(Op.ADD, (total, m))
    g.outputs.update(outputs)
    g.loss = total
    g.train = {"lr": 0.001}
    return g


def sequence_graph(batch: int = 2) -> Graph:
    """The sequence family's forward ops (ops/sequence.py) by hand, without the shape ops: an embedding of ids
    [B,3] feeding the gates of a first LSTM step (no c_prev) and of a second (with one), then a first GRU step
    (a recurrent part of one row, no h_prev) and a second (with both)."""
    g = Graph(batch=batch)

    def param(name: str, shape: tuple[int, ...]) -> int:
        g.params[name] = g.add(Op.PARAM, (), ParamAttrs(name), shape=shape)
        return g.params[name]

    ids = g.add(Op.INPUT, (), InputAttrs("ids"), shape=(batch, 3))
    g.inputs["ids"] = ids
    e = g.add(Op.EMBEDDING, (ids, param("emb/embeddings", (5, 2))))                     # [B,3,2]
    flat = g.add(Op.RESHAPE, (e,), op_attrs(Op.RESHAPE, shape=(batch, 6)))
    hc1 = g.add(Op.LSTM_CELL, (g.add(Op.DENSE, (flat, param("z1/weights", (6, 12)))),))  # u = 3: [B,6]
    c_prev = g.add(Op.DENSE, (hc1, param("c/weights", (6, 3))))
    hc2 = g.add(Op.LSTM_CELL, (g.add(Op.DENSE, (hc1, param("z2/weights", (6, 12)))), c_prev))
    h1 = g.add(Op.GRU_CELL, (g.add(Op.DENSE, (hc2, param("x1/weights", (6, 6)))), param("r1/bias", (6,))))  # u = 2
    h2 = g.add(Op.GRU_CELL, (g.add(Op.DENSE, (flat, param("x2/weights", (6, 6)))),
                             g.add(Op.DENSE, (h1, param("r2/weights", (2, 6)))), h1))
    g.outputs.update({"hc": hc2, "h": h2})
    g.loss = g.add(Op.ADD, (g.add(Op.MEAN, (g.add(Op.MUL, (hc2, hc2)),)), g.add(Op.MEAN, (h2,))))
    g.train = {"lr": 0.001}
    return g


def random_inputs(g: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs for every graph input; an input fed to a loss as labels holds probabilities (rows sum to 1), one
    fed to an embedding whole-number ids below its vocabulary."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, i in g.inputs.items():
        shape = g.nodes[i].shape
        v = rng.uniform(0, 1, shape)
        if len(shape) == 2 and any(n.op is Op.SOFTMAX_CE and n.srcs[1] == i for n in g.nodes):
            v = v / v.sum(axis=-1, keepdims=True)
        vocab = [g.nodes[n.srcs[1]].shape[0] for n in g.nodes if n.op is Op.EMBEDDING and n.srcs[0] == i]
        if vocab:
            v = np.floor(v * min(vocab))
        out[name] = v * (16 if name == "pixels" else 1)
    return out


def random_params(g: Graph, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {name: rng.normal(0, 0.5, g.nodes[i].shape) for name, i in g.params.items()}
    return {k: np.abs(v) + 0.5 if k.endswith("moving_variance") else v for k, v in out.items()}   # positive


def digits_graph(batch: int) -> Graph:
    from wgslgrad.compiler.frontend import load_spec
    return load_spec(str(EXAMPLES / "digits.py"), batch)


GRAPHS = {"every_op": lambda: every_op_graph(2), "digits": lambda: digits_graph(3),
          "elementwise": lambda: elementwise_graph(2), "sequence": lambda: sequence_graph(2)}


# The same ops through the spec language (no depthwise multiplier or NEG there; 'same' pads asymmetric).
SPEC = '''
image = Input(9, 10, 3)
label = Input(5)
bits = Input(2, 3, 4)
x = (image - [0.5, -1.0, 2.0]) * [0.5, -1.0, 2.0]
h = conv2d(x, 6, kernel=3, stride=2, activation="leaky_relu")
d = depthwise_conv2d(h, kernel=2, activation="relu6", trainable=False)
s = separable_conv2d(h, 4, kernel=3, activation="tanh")
c = concat([sigmoid(s), d, relu(h), leaky_relu(h, alpha=0.1)])
p = max_pool(c, 2, padding="same") + avg_pool(c, 3, stride=2, padding="same")
f = dense(flatten(p), 22) + global_avg_pool(p)
f = log(exp(0 - abs(f)) + 1.5) / (exp(0 - abs(f)) + 1.5)
logits = dense(f, 5, use_bias=False)
probs = softmax(logits)
z = reshape(dense(logits, 24), [2, 3, 4])
Output(logits)
Output(probs, name="probabilities")
Output(z, name="bits")
loss = softmax_cross_entropy(logits, label) + sigmoid_cross_entropy(z, bits) + mse(probs, label)
q = separable_conv2d(x, 5, kernel=3, stride=2) + depthwise_conv2d(conv2d(x, 5, kernel=3, stride=2), kernel=4)
loss = loss + mean(q * q) + mean(logits * logits) + sum(probs * probs) - mean(tanh(h))
Train(loss=loss, optimizer=Adam(lr=0.01), batch=2)
'''


def spec_graph(batch: int) -> Graph:
    from wgslgrad.compiler.frontend import compile_spec
    return compile_spec(SPEC, "every_op_spec.py", batch)


GRAPHS["every_op_spec"] = lambda: spec_graph(2)


# Dropout and batch norm, as a training step runs them (dropout's masks of seed 0, step 0; batch statistics).
NORM_SPEC = '''
image = Input(6, 5, 3)
label = Input(4)
h = relu(batch_norm(conv2d(image, 6, kernel=3, stride=2, use_bias=False), momentum=0.9))
h = dropout(h, 0.3)
f = batch_norm(dense(flatten(h), 7, use_bias=False), name="dense_bn")   # a bias there would learn nothing
logits = dense(dropout(relu(f), 0.5), 4)
Output(logits)
Train(loss=softmax_cross_entropy(logits, label), batch=4)
'''


def norm_graph(batch: int) -> Graph:
    from wgslgrad.compiler.frontend import compile_spec
    return compile_spec(NORM_SPEC, "norm_spec.py", batch)


GRAPHS["norm_spec"] = lambda: norm_graph(4)


# The recurrent layers as a character model builds them (examples/char_lstm.py with lstm or gru): the per-step
# slices, the [B*T, F] reshapes around the dense at every position, and the GRU's bias rows (slice, reshape).
SEQ_SPEC = '''
chars = Input(4)
next_chars = Input(4, 7)
x = embedding(chars, 7, 3)
h = gru(x, 3, return_sequences=True)
h = concat([h, lstm(x, 2, return_sequences=True)])
logits = dense(h, 7, flatten=False)
Output(logits)
Train(loss=softmax_cross_entropy(logits, next_chars) + mean(gru(h, 2) * lstm(h, 2)), batch=2)
'''


def seq_graph(batch: int) -> Graph:
    from wgslgrad.compiler.frontend import compile_spec
    return compile_spec(SEQ_SPEC, "seq_spec.py", batch)


GRAPHS["seq_spec"] = lambda: seq_graph(2)
