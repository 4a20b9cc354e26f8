"""Autodiff and the NumPy reference interpreter (no GPU).

Every forward op's backward rule is checked in float64 against central finite differences, along random
directions (JAX's check_vjp) and element by element, on tiny graphs built directly with Graph.add. The
forward ops are checked against straightforward loop implementations written here, independently of
numpy_ref. Inputs are fresh random values each run; a failing test prints its seed.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, replace

import numpy as np
import pytest
from op_rows import UNARY_OPS, row, unary_x_off_kinks

from wgslgrad.compiler import numpy_ref
from wgslgrad.compiler.autodiff import RULES, THROUGH_CONSUMER, grad
from wgslgrad.compiler.gradcheck import check_gradients
from wgslgrad.compiler.ir import (
    BACKWARD,
    LEAVES,
    OPTIMIZERS,
    ConstAttrs,
    Graph,
    InputAttrs,
    Op,
    ParamAttrs,
    Pos,
    conv_out,
    op_attrs,
    print_graph,
    verify,
)
from wgslgrad.compiler.numpy_ref import evaluate
from wgslgrad.ops.base import NoAttrs
from wgslgrad.ops.elementwise import UnaryGradAttrs

EPS = 1e-6     # finite-difference step (float64)
RTOL = 1e-6    # agreement asked of autodiff and finite differences


@pytest.fixture
def rng() -> np.random.Generator:
    seed = int(np.random.SeedSequence().entropy % 2**63)   # fresh each run
    print(f"rng seed {seed}")                               # pytest shows it when the test fails
    return np.random.default_rng(seed)


class Net:
    """A tiny graph built with Graph.add, with the values of its inputs and parameters."""

    def __init__(self, rng: np.random.Generator):
        self.g, self.rng = Graph(), rng
        self.inputs: dict[str, np.ndarray] = {}
        self.params: dict[str, np.ndarray] = {}

    def param(self, name: str, value: np.ndarray, trainable: bool = True) -> int:
        value = np.asarray(value, np.float64)
        attrs = ParamAttrs(name, "zeros", fan_in=1, fan_out=1, trainable=trainable)
        i = self.g.add(Op.PARAM, (), attrs, shape=value.shape, scope=name.rsplit("/", 1)[0])
        self.g.params[name], self.params[name] = i, value
        return i

    def input(self, name: str, value: np.ndarray) -> int:
        value = np.asarray(value, np.float64)
        i = self.g.add(Op.INPUT, (), InputAttrs(name), shape=value.shape)
        self.g.inputs[name], self.inputs[name] = i, value
        return i

    def const(self, value: np.ndarray) -> int:
        value = np.asarray(value, np.float64)
        return self.g.add(Op.CONST, (), ConstAttrs(tuple(value.ravel().tolist())), shape=value.shape)

    def op(self, op: Op, *srcs: int, scope: str = "", **arg: object) -> int:
        return self.g.add(op, srcs, op_attrs(op, **arg), scope=scope)

    def linear_loss(self, out: int) -> int:
        """SUM(out * W) with fixed random W: every element of `out` gets its own random gradient."""
        weights = self.const(self.rng.standard_normal(self.g.nodes[out].shape))
        return self.op(Op.SUM, self.op(Op.MUL, out, weights))

    def value(self, i: int) -> np.ndarray:
        return evaluate(self.g, self.inputs, self.params)[i]


def away(rng: np.random.Generator, shape: tuple[int, ...], lo: float, hi: float) -> np.ndarray:
    """Random values with |v| in [lo, hi] and random signs: kept off the kinks at 0."""
    return rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


def distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values at least 0.09 apart, so no finite-difference step changes which cell wins a max."""
    n = math.prod(shape)
    return ((rng.permutation(n) - n / 2) * 0.1 + rng.uniform(0, 0.01, n)).reshape(shape)


def check_grads(net: Net, loss: int, elementwise_max: int = 400) -> dict[str, np.ndarray]:
    """Autodiff vs central differences: two random directions per parameter, and every element of each
    parameter of at most `elementwise_max` elements. Returns the gradients."""
    g = replace(net.g, nodes=list(net.g.nodes))
    grads = grad(g, loss)
    verify(g)
    vals = evaluate(g, net.inputs, net.params)
    forward = replace(net.g, nodes=net.g.nodes[: loss + 1])

    def loss_at(name: str, value: np.ndarray) -> float:
        return float(evaluate(forward, net.inputs, {**net.params, name: value})[loss])

    # rounding noise of a central difference (absolute): a derivative near zero is compared to it
    noise = 64 * np.finfo(np.float64).eps * max(abs(float(vals[loss])), 1.0) / EPS
    for name, gi in grads.items():
        p, dp = net.params[name], vals[gi]
        assert dp.shape == p.shape, name
        for _ in range(2):
            v = net.rng.standard_normal(p.shape)
            analytic = float(np.sum(dp * v))
            numeric = (loss_at(name, p + EPS * v) - loss_at(name, p - EPS * v)) / (2 * EPS)
            assert abs(analytic - numeric) <= RTOL * max(abs(analytic), abs(numeric)) + noise, \
                f"{name}: <grad, v> = {analytic!r}, finite difference {numeric!r}"
        if p.size <= elementwise_max:
            fd = np.empty_like(p)
            for k in np.ndindex(p.shape):
                e = np.zeros_like(p)
                e[k] = EPS
                fd[k] = (loss_at(name, p + e) - loss_at(name, p - e)) / (2 * EPS)
            np.testing.assert_allclose(dp, fd, rtol=RTOL, atol=RTOL * np.abs(fd).max() + noise,
                                       err_msg=f"element-wise gradient of {name}")
    return {name: vals[gi] for name, gi in grads.items()}


def same_pad(size: int, k: int, s: int) -> tuple[int, int, int]:
    """TensorFlow 'same': out = ceil(size/s), total padding split with the extra cell after. Written
    here again so the tests do not trust ir.conv_out."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def window_arg(h: int, w: int, k: tuple[int, int], s: tuple[int, int], padding: str) -> dict:
    if padding == "valid":
        pad = (0, 0, 0, 0)
    else:
        (_, t, b), (_, l, r) = same_pad(h, k[0], s[0]), same_pad(w, k[1], s[1])
        pad = (t, b, l, r)
    return {"stride": s, "pad": pad}


def backward_ops(g: Graph, first: int) -> list[Op]:
    return [n.op for n in g.nodes[first:]]


# ---- the rule table ----

def test_every_forward_op_has_a_rule():
    # optimizer updates come after the gradients; the batch statistics are differentiated by their consumer's
    # (batch norm's) rule
    forward = set(Op) - LEAVES - BACKWARD - OPTIMIZERS - THROUGH_CONSUMER
    assert set(RULES) == forward


# ---- gradients, op by op ----

CONV_CASES = [  # B, H, W, C, kh, kw, stride, padding, bias
    (2, 7, 7, 3, 3, 3, (2, 2), "same", True),     # 7 -> 4, pads (1,1)
    (2, 8, 9, 2, 3, 3, (2, 2), "same", True),     # 8 -> 4 pads (0,1): asymmetric; 9 -> 5 pads (1,1)
    (1, 6, 5, 2, 2, 3, (2, 1), "same", False),    # even kernel: pads (0,0) / (1,1)
    (2, 8, 7, 3, 3, 3, (2, 2), "valid", True),    # the last row is read by no window: zero gradient
    (1, 5, 6, 2, 1, 1, (1, 1), "same", True),     # pointwise
    (1, 5, 5, 2, 3, 3, (3, 2), "same", True),     # stride 3, pads (1,1) / (1,1)
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_grads(rng, case):
    b, h, w, c, kh, kw, stride, padding, bias = case
    net = Net(rng)
    x = net.param("x", rng.standard_normal((b, h, w, c)))
    f = net.param("conv/filters", rng.standard_normal((kh, kw, c, 3)))
    srcs = (x, f, net.param("conv/bias", rng.standard_normal(3))) if bias else (x, f)
    y = net.op(Op.CONV2D, *srcs, **window_arg(h, w, (kh, kw), stride, padding))
    grads = check_grads(net, net.linear_loss(y))
    if padding == "valid" and (h - kh) % stride[0]:
        assert np.all(grads["x"][:, -1] == 0)


@pytest.mark.parametrize("mult", [1, 2])
@pytest.mark.parametrize("case", CONV_CASES)
def test_depthwise_grads(rng, case, mult):
    b, h, w, c, kh, kw, stride, padding, bias = case
    net = Net(rng)
    x = net.param("x", rng.standard_normal((b, h, w, c)))
    f = net.param("dw/depthwise_filter", rng.standard_normal((kh, kw, c, mult)))
    srcs = (x, f, net.param("dw/bias", rng.standard_normal(c * mult))) if bias else (x, f)
    y = net.op(Op.DEPTHWISE, *srcs, **window_arg(h, w, (kh, kw), stride, padding))
    check_grads(net, net.linear_loss(y))


@pytest.mark.parametrize("bias", [True, False])
def test_dense_grads(rng, bias):
    net = Net(rng)
    x = net.param("x", rng.standard_normal((3, 5)))
    w = net.param("dense/weights", rng.standard_normal((5, 4)))
    srcs = (x, w, net.param("dense/bias", rng.standard_normal(4))) if bias else (x, w)
    check_grads(net, net.linear_loss(net.op(Op.DENSE, *srcs)))


def test_dense_on_a_reshaped_rank4_input(rng):
    net = Net(rng)
    x = net.param("x", rng.standard_normal((2, 3, 3, 2)))
    flat = net.op(Op.RESHAPE, x, shape=(2, 18))
    w, b = net.param("dense/weights", rng.standard_normal((18, 4))), net.param("dense/bias", np.zeros(4))
    grads = check_grads(net, net.linear_loss(net.op(Op.DENSE, flat, w, b)))
    assert grads["x"].shape == (2, 3, 3, 2)


BROADCAST_SHAPES = [((2, 3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((2, 3), (2, 3)),
                    ((1, 3, 1), (2, 1, 4)), ((2, 3, 4), (2, 1, 1))]


@pytest.mark.parametrize("op", [Op.ADD, Op.SUB, Op.MUL, Op.DIV])
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES)
def test_binary_broadcasting_grads(rng, op, shapes):
    net = Net(rng)
    a = net.param("a", rng.standard_normal(shapes[0]))
    b = net.param("b", away(rng, shapes[1], 0.5, 2.0))     # a divisor away from 0
    grads = check_grads(net, net.linear_loss(net.op(op, a, b)))
    assert grads["a"].shape == shapes[0] and grads["b"].shape == shapes[1]


@pytest.mark.parametrize("op", [Op.ADD, Op.SUB, Op.MUL, Op.DIV])
def test_binary_grads_with_one_side_fixed(rng, op):
    """A CONST or INPUT operand is never differentiated: no REDUCE_TO toward its shape."""
    net = Net(rng)
    a = net.param("a", away(rng, (2, 3), 0.5, 2.0))      # the divisor of c / a
    c = net.input("c", away(rng, (4, 2, 3), 0.5, 2.0))
    y = net.op(op, c, a) if op in (Op.SUB, Op.DIV) else net.op(op, a, c)
    check_grads(net, net.linear_loss(y))
    g = replace(net.g, nodes=list(net.g.nodes))
    first = len(g.nodes)
    grad(g, len(g.nodes) - 1)
    assert all(n.shape != (4, 2, 3) for n in g.nodes[first:] if n.op is Op.REDUCE_TO)


def test_concat_grads(rng):
    net = Net(rng)
    a = net.param("a", rng.standard_normal((2, 3, 2)))
    b = net.param("b", rng.standard_normal((2, 3, 3)))
    c = net.param("c", rng.standard_normal((2, 3, 1)))
    y = net.op(Op.CONCAT, a, b, a, c)        # `a` twice: its two slices add up
    grads = check_grads(net, net.linear_loss(y))
    assert grads["a"].shape == (2, 3, 2)


def test_concat_of_one_tensor(rng):
    net = Net(rng)
    a = net.param("a", rng.standard_normal((2, 3)))
    check_grads(net, net.linear_loss(net.op(Op.CONCAT, a)))


def _unary_values(rng: np.random.Generator, op: Op, shape: tuple[int, ...]) -> np.ndarray:
    """Inputs off every kink of the op (op_rows.unary_x_off_kinks); softmax's anywhere."""
    return unary_x_off_kinks(row(op), rng, shape) if op in UNARY_OPS else away(rng, shape, 0.1, 2.0)


@pytest.mark.parametrize("op", [*UNARY_OPS, Op.SOFTMAX])
def test_unary_grads(rng, op):
    net = Net(rng)
    x = net.param("x", _unary_values(rng, op, (2, 3, 5)))
    y = net.op(op, x)
    check_grads(net, net.linear_loss(y))


@pytest.mark.parametrize("op", [op for op in UNARY_OPS if "alpha" in asdict(row(op).attrs())])
@pytest.mark.parametrize("alpha", [0.0, -0.5, 0.5])
def test_alpha_rows_grads_any_alpha(rng, op, alpha):
    """leaky_relu's slope, elu's scale: zero and negative too."""
    net = Net(rng)
    x = net.param("x", _unary_values(rng, op, (2, 3, 5)))
    check_grads(net, net.linear_loss(net.op(op, x, alpha=alpha)))


@pytest.mark.parametrize("op, alpha, reads", [(Op.RELU, None, "y"), (Op.RELU6, None, "y"), (Op.LEAKY_RELU, 0.2, "y"),
                                              (Op.LEAKY_RELU, -0.5, "x"), (Op.LOG, None, "x"), (Op.ABS, None, "x"),
                                              (Op.SIGMOID, None, "y")])
def test_unary_grad_reads_the_output_where_it_tells_the_same(rng, op, alpha, reads):
    """relu's pre-activation need not be kept for the backward pass (so a fused kernel never stores it)."""
    net = Net(rng)
    x = net.param("x", _unary_values(rng, op, (2, 3)))
    y = net.op(op, x, **({} if alpha is None else {"alpha": alpha}))
    grad(net.g, net.linear_loss(y))
    (ug,) = [n for n in net.g.nodes if n.op is Op.UNARY_GRAD]
    assert ug.srcs[0] == {"x": x, "y": y}[reads]


@pytest.mark.parametrize("op", [op for op in UNARY_OPS if row(op).kinks])
def test_inputs_cover_every_piece_off_the_kinks(rng, op):
    """The gradient checks' inputs fall on every piece of a piecewise op (below, between and above its kinks)
    and at least 0.1 away from each kink."""
    kinks = sorted(row(op).kinks)
    v = _unary_values(rng, op, (1000,))
    edges = [-np.inf, *kinks, np.inf]
    assert all(((v > lo) & (v < hi)).any() for lo, hi in itertools.pairwise(edges))
    assert all(np.abs(v - k).min() >= 0.1 - 1e-12 for k in kinks)


POOL_CASES = [  # H, W, size, stride, padding
    (5, 6, (2, 2), (2, 2), "valid"),   # 5 -> 2: the last row is never read
    (7, 8, (3, 3), (2, 2), "same"),    # overlapping windows; pads (1,1) and (0,1)
    (5, 5, (2, 2), (2, 2), "same"),    # pads (0,1): the last window holds one real row
    (4, 5, (3, 2), (1, 2), "same"),    # pads (1,1) / (0,1)
    (6, 6, (3, 3), (3, 3), "valid"),
]


@pytest.mark.parametrize("op", [Op.MAX_POOL, Op.AVG_POOL])
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_grads(rng, op, case):
    h, w, size, stride, padding = case
    net = Net(rng)
    x = net.param("x", distinct(rng, (2, h, w, 3)))
    y = net.op(op, x, size=size, **window_arg(h, w, size, stride, padding))
    check_grads(net, net.linear_loss(y))


def test_global_avg_pool_reshape_sum_mean_grads(rng):
    net = Net(rng)
    x = net.param("x", rng.standard_normal((2, 3, 4, 5)))
    pooled = net.op(Op.GLOBAL_AVG_POOL, x)                       # [2,5]
    r = net.op(Op.RESHAPE, pooled, shape=(5, 2))
    s = net.op(Op.SUM, net.op(Op.MUL, r, net.const(rng.standard_normal((5, 2)))))
    m = net.op(Op.MEAN, net.op(Op.MUL, x, net.const(rng.standard_normal((2, 3, 4, 5)))))
    check_grads(net, net.op(Op.ADD, s, net.op(Op.MUL, m, net.const(3.0))))


@pytest.mark.parametrize("loss_op", [Op.MSE, Op.SOFTMAX_CE, Op.SIGMOID_CE])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2)])
def test_loss_grads(rng, loss_op, shape):
    """Both sources are parameters here, so the rare target/labels gradients are checked too; the
    loss is scaled, so the upstream gradient dl is not 1."""
    if loss_op is Op.SOFTMAX_CE and len(shape) != 2:
        shape = (3, 5)
    net = Net(rng)
    logits = net.param("logits", 2 * rng.standard_normal(shape))
    labels = rng.uniform(0.0, 1.0, shape)   # softmax CE labels need not sum to 1: the rule is exact
    target = net.param("labels", labels)
    loss = net.op(loss_op, logits, target)
    check_grads(net, net.op(Op.MUL, loss, net.const(rng.uniform(0.5, 2.0))))


def test_loss_as_the_seed_with_inputs(rng):
    """The usual case: the loss op is the loss node, labels are an Input (never differentiated)."""
    net = Net(rng)
    x = net.input("x", rng.standard_normal((4, 6)))
    w = net.param("dense/weights", rng.standard_normal((6, 3)))
    labels = net.input("labels", rng.dirichlet(np.ones(3), 4))
    loss = net.op(Op.SOFTMAX_CE, net.op(Op.DENSE, x, w), labels)
    check_grads(net, loss)
    g = replace(net.g, nodes=list(net.g.nodes))
    first = len(g.nodes)
    grad(g, loss)
    assert backward_ops(g, first) == [Op.CONST, Op.SOFTMAX_CE_GRAD, Op.DENSE_DW]


def test_small_network(rng):
    """Conv, separable conv, residual adds (several contributions), concat, pools, dense and a loss;
    smooth activations, so element-wise finite differences never cross a kink."""
    net = Net(rng)
    x = net.input("image", rng.standard_normal((2, 9, 9, 3)))
    labels = net.input("labels", rng.dirichlet(np.ones(4), 2))
    c0 = net.op(Op.CONV2D, x, net.param("c0/filters", 0.5 * rng.standard_normal((3, 3, 3, 4))),
                net.param("c0/bias", 0.1 * rng.standard_normal(4)), scope="c0",
                **window_arg(9, 9, (3, 3), (2, 2), "same"))
    a0 = net.op(Op.TANH, c0)
    d1 = net.op(Op.DEPTHWISE, a0, net.param("s1/depthwise_filter", rng.standard_normal((3, 3, 4, 1))),
                **window_arg(5, 5, (3, 3), (1, 1), "same"))
    c1 = net.op(Op.CONV2D, d1, net.param("s1/pointwise_filter", 0.5 * rng.standard_normal((1, 1, 4, 4))),
                net.param("s1/bias", np.zeros(4)), stride=(1, 1), pad=(0, 0, 0, 0))
    a1 = net.op(Op.SIGMOID, net.op(Op.ADD, c0, c1))
    a2 = net.op(Op.TANH, net.op(Op.ADD, net.op(Op.ADD, c0, c1), a1))
    cat = net.op(Op.CONCAT, a2, a1)
    p = net.op(Op.AVG_POOL, cat, size=(2, 2), **window_arg(5, 5, (2, 2), (2, 2), "same"))
    feats = net.op(Op.CONCAT, net.op(Op.RESHAPE, p, shape=(2, 72)), net.op(Op.GLOBAL_AVG_POOL, cat))
    logits = net.op(Op.DENSE, feats, net.param("head/weights", 0.3 * rng.standard_normal((80, 4))),
                    net.param("head/bias", np.zeros(4)))
    loss = net.op(Op.ADD, net.op(Op.SOFTMAX_CE, logits, labels),
                  net.op(Op.MUL, net.op(Op.MEAN, net.op(Op.ABS, net.op(Op.EXP, c1))), net.const(0.01)))
    grads = check_grads(net, loss, elementwise_max=120)
    assert set(grads) == set(net.params)


# ---- pruning, frozen parameters, naming ----

def _frozen_net(rng: np.random.Generator, first_trainable: bool, second_trainable: bool) -> tuple[Net, int]:
    net = Net(rng)
    x = net.input("x", rng.standard_normal((2, 6, 6, 2)))
    w1 = net.param("conv1/filters", rng.standard_normal((3, 3, 2, 3)), trainable=first_trainable)
    b1 = net.param("conv1/bias", rng.standard_normal(3), trainable=first_trainable)
    h = net.op(Op.TANH, net.op(Op.CONV2D, x, w1, b1, stride=(1, 1), pad=(1, 1, 1, 1)))
    w2 = net.param("conv2/filters", rng.standard_normal((3, 3, 3, 2)), trainable=second_trainable)
    return net, net.linear_loss(net.op(Op.CONV2D, h, w2, stride=(2, 2), pad=(0, 1, 0, 1)))


def test_frozen_layer_gets_no_gradient_and_is_pruned(rng):
    net, loss = _frozen_net(rng, first_trainable=False, second_trainable=True)
    grads = check_grads(net, loss)
    assert set(grads) == {"conv2/filters"}
    g = replace(net.g, nodes=list(net.g.nodes))
    first = len(g.nodes)
    grad(g, loss)
    # d/dh is never needed: no CONV2D_DX, no tanh grad, nothing for conv1
    assert backward_ops(g, first) == [Op.CONST, Op.BROADCAST, Op.MUL, Op.CONV2D_DW]


def test_frozen_layer_after_a_trainable_one_passes_gradients_through(rng):
    net, loss = _frozen_net(rng, first_trainable=True, second_trainable=False)
    grads = check_grads(net, loss)
    assert set(grads) == {"conv1/filters", "conv1/bias"}
    g = replace(net.g, nodes=list(net.g.nodes))
    first = len(g.nodes)
    grad(g, loss)
    ops = backward_ops(g, first)
    assert Op.CONV2D_DX in ops and ops.count(Op.CONV2D_DW) == 1   # only conv1's filters


def test_parameter_that_does_not_reach_the_loss_gets_zeros(rng):
    net = Net(rng)
    w = net.param("used", rng.standard_normal((3,)))
    unused = net.param("unused", rng.standard_normal((2, 2)))
    net.g.outputs["other"] = net.op(Op.EXP, unused)
    grads = check_grads(net, net.linear_loss(net.op(Op.TANH, w)))
    assert np.array_equal(grads["unused"], np.zeros((2, 2)))


def test_backward_nodes_carry_scope_and_position(rng):
    net = Net(rng)
    x = net.input("x", rng.standard_normal((2, 4)))
    w = net.param("dense_0/weights", rng.standard_normal((4, 3)))
    pos = Pos("model.py", 7, 5)
    y = net.g.add(Op.DENSE, (x, w), op_attrs(Op.DENSE), pos=pos, scope="block_1/dense_0")
    loss = net.linear_loss(y)
    first = len(net.g.nodes)
    grads = grad(net.g, loss)
    dw = net.g.nodes[grads["dense_0/weights"]]
    assert dw.op is Op.DENSE_DW and dw.scope == "block_1/dense_0/grad" and dw.pos == pos
    assert all(n.scope.endswith("/grad") for n in net.g.nodes[first:])


def test_backward_ir_golden(rng):
    """A small inline golden of what grad appends (dense + bias + relu + mse against an Input)."""
    net = Net(rng)
    x = net.input("x", np.zeros((2, 4)))
    w, b = net.param("d/weights", np.zeros((4, 3))), net.param("d/bias", np.zeros(3))
    y = net.op(Op.RELU, net.op(Op.DENSE, x, w, b))
    loss = net.op(Op.MSE, y, net.input("target", np.zeros((2, 3))))
    grads = grad(net.g, loss)
    assert grads == {"d/weights": 10, "d/bias": 11}
    assert print_graph(net.g).splitlines()[6:] == [
        "%6 = mse %4 %5 : f32[]",
        "%7 = const[value=(1.0)] : f32[]",
        "%8 = mse_grad %4 %5 %7 : f32[2,3]",
        "%9 = unary_grad[fn=relu] %4 %8 : f32[2,3]",   # relu reads its output: the dense output need not be kept
        "%10 = dense_dw %0 %9 : f32[4,3]",
        "%11 = reduce_to[shape=(3)] %9 : f32[3]",
    ]


# ---- the forward ops against straightforward implementations ----

def naive_conv(x, w, stride, pad, bias=None, depthwise=False):
    """Loops over output cells and taps, skipping taps that fall in the padding."""
    b_, h, wd, c = x.shape
    kh, kw = w.shape[:2]
    (sh, sw), (t, b, l, r) = stride, pad
    oh, ow = (h + t + b - kh) // sh + 1, (wd + l + r - kw) // sw + 1
    co = c * w.shape[3] if depthwise else w.shape[3]
    out = np.zeros((b_, oh, ow, co))
    for n in range(b_):
        for i in range(oh):
            for j in range(ow):
                for di in range(kh):
                    for dj in range(kw):
                        hh, ww = i * sh + di - t, j * sw + dj - l
                        if 0 <= hh < h and 0 <= ww < wd:
                            v = x[n, hh, ww]
                            out[n, i, j] += (v[:, None] * w[di, dj]).ravel() if depthwise else v @ w[di, dj]
    return out if bias is None else out + bias


def naive_pool(x, size, stride, pad, kind):
    b_, h, wd, c = x.shape
    (kh, kw), (sh, sw), (t, b, l, r) = size, stride, pad
    oh, ow = (h + t + b - kh) // sh + 1, (wd + l + r - kw) // sw + 1
    out = np.zeros((b_, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            rows = [i * sh + d - t for d in range(kh) if 0 <= i * sh + d - t < h]
            cols = [j * sw + d - l for d in range(kw) if 0 <= j * sw + d - l < wd]
            cells = x[:, rows][:, :, cols]          # real cells only: padding is never counted
            out[:, i, j] = cells.max(axis=(1, 2)) if kind == "max" else cells.mean(axis=(1, 2))
    return out


def test_tf_same_padding_is_asymmetric_at_stride_2():
    assert conv_out(112, 3, 2, "same") == (56, 0, 1) == same_pad(112, 3, 2)
    assert conv_out(7, 3, 2, "same") == (4, 1, 1)
    assert conv_out(8, 3, 2, "valid") == (3, 0, 0)


def test_conv_112_to_56_pads_bottom_right_only(rng):
    x, w = rng.standard_normal((1, 112, 112, 2)), rng.standard_normal((3, 3, 2, 3))
    net = Net(rng)
    arg = window_arg(112, 112, (3, 3), (2, 2), "same")
    assert arg["pad"] == (0, 1, 0, 1)
    y = net.value(net.op(Op.CONV2D, net.input("x", x), net.param("w", w), **arg))
    assert y.shape == (1, 56, 56, 3)
    # the first window starts on the first row and column (no top/left padding) ...
    first = np.einsum("hwc,hwco->o", x[0, 0:3, 0:3], w)
    np.testing.assert_allclose(y[0, 0, 0], first, rtol=1e-10, atol=1e-12)
    # ... and the last one reads rows/cols 110..111 plus one padding row/col
    last = np.einsum("hwc,hwco->o", x[0, 110:, 110:], w[:2, :2])
    np.testing.assert_allclose(y[0, 55, 55], last, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y, naive_conv(x, w, (2, 2), (0, 1, 0, 1)), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES + [(2, 17, 17, 8, 3, 3, (2, 2), "same", True)])
@pytest.mark.parametrize("mult", [None, 1, 2])     # None: conv2d, else depthwise with that multiplier
def test_conv_forward_matches_loops(rng, case, mult):
    b, h, w, c, kh, kw, stride, padding, bias = case
    x = rng.standard_normal((b, h, w, c))
    f = rng.standard_normal((kh, kw, c, mult or 5))
    bv = rng.standard_normal(c * mult if mult else 5) if bias else None
    net = Net(rng)
    srcs = [net.input("x", x), net.param("f", f)] + ([net.param("b", bv)] if bias else [])
    arg = window_arg(h, w, (kh, kw), stride, padding)
    y = net.value(net.op(Op.DEPTHWISE if mult else Op.CONV2D, *srcs, **arg))
    want = naive_conv(x, f, stride, arg["pad"], bv, depthwise=bool(mult))
    np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES + [(17, 17, (3, 3), (2, 2), "same"),
                                                (112, 112, (2, 2), (2, 2), "same")])
def test_pool_forward_matches_loops(rng, kind, case):
    h, w, size, stride, padding = case
    x = rng.standard_normal((2, h, w, 3)) - 5.0    # all negative: a zero from padding would win a max
    net = Net(rng)
    arg = window_arg(h, w, size, stride, padding)
    y = net.value(net.op(Op.MAX_POOL if kind == "max" else Op.AVG_POOL, net.input("x", x), size=size, **arg))
    np.testing.assert_allclose(y, naive_pool(x, size, stride, arg["pad"], kind), rtol=1e-12)


def test_avg_pool_does_not_count_padding():
    net = Net(np.random.default_rng())
    x = np.ones((1, 3, 3, 1))
    y = net.value(net.op(Op.AVG_POOL, net.input("x", x), size=(2, 2), stride=(2, 2), pad=(0, 1, 0, 1)))
    assert np.array_equal(y, np.ones((1, 2, 2, 1)))


def test_elementwise_dense_and_reductions_match_numpy(rng):
    net = Net(rng)
    a, b = rng.standard_normal((2, 1, 4)), away(rng, (3, 1), 0.5, 2.0)
    x, w, bias = rng.standard_normal((3, 5)), rng.standard_normal((5, 2)), rng.standard_normal(2)
    ia, ib = net.input("a", a), net.input("b", b)
    ix, iw, ibias = net.input("x", x), net.param("w", w), net.param("bias", bias)
    ids = {op: net.op(op, ia, ib) for op in (Op.ADD, Op.SUB, Op.MUL, Op.DIV)}
    ids[Op.DENSE] = net.op(Op.DENSE, ix, iw, ibias)
    ids[Op.CONCAT] = net.op(Op.CONCAT, ix, ids[Op.DENSE])
    ids[Op.SUM], ids[Op.MEAN] = net.op(Op.SUM, ia), net.op(Op.MEAN, ia)
    ids[Op.LEAKY_RELU] = net.op(Op.LEAKY_RELU, ix, alpha=0.1)
    ids[Op.RELU6] = net.op(Op.RELU6, net.op(Op.MUL, ix, net.const(5.0)))
    ids[Op.CONST] = net.const(np.arange(6.0).reshape(2, 3))
    vals = evaluate(net.g, net.inputs, net.params)
    want = {Op.ADD: a + b, Op.SUB: a - b, Op.MUL: a * b, Op.DIV: a / b, Op.DENSE: x @ w + bias,
            Op.CONCAT: np.hstack([x, x @ w + bias]), Op.SUM: a.sum(), Op.MEAN: a.mean(),
            Op.LEAKY_RELU: np.where(x > 0, x, 0.1 * x), Op.RELU6: np.minimum(np.maximum(5 * x, 0), 6),
            Op.CONST: np.arange(6.0).reshape(2, 3)}
    for op, i in ids.items():
        np.testing.assert_allclose(vals[i], want[op], rtol=1e-12, atol=1e-14, err_msg=op.name)


def test_losses_match_naive_formulas(rng):
    net = Net(rng)
    p, t = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    labels = rng.dirichlet(np.ones(5), 4)
    z = rng.uniform(0, 1, (4, 5))
    ip, it, il, iz = net.input("p", p), net.input("t", t), net.input("l", labels), net.input("z", z)
    mse, sce = net.op(Op.MSE, ip, it), net.op(Op.SOFTMAX_CE, ip, il)
    bce, sm = net.op(Op.SIGMOID_CE, ip, iz), net.op(Op.SOFTMAX, ip)
    vals = evaluate(net.g, net.inputs, net.params)
    softmax = np.exp(p) / np.exp(p).sum(axis=1, keepdims=True)
    sig = 1 / (1 + np.exp(-p))
    assert vals[mse] == pytest.approx(np.mean((p - t) ** 2), rel=1e-12)
    assert vals[sce] == pytest.approx(np.mean(-np.sum(labels * np.log(softmax), axis=1)), rel=1e-12)
    assert vals[bce] == pytest.approx(np.mean(-z * np.log(sig) - (1 - z) * np.log(1 - sig)), rel=1e-12)
    np.testing.assert_allclose(vals[sm], softmax, rtol=1e-12)


def test_softmax_and_losses_are_stable_for_huge_logits():
    net = Net(np.random.default_rng())
    x = net.input("x", np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, 1000.0]]))
    labels = net.input("l", np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]))
    ids = [net.op(Op.SOFTMAX, x), net.op(Op.SOFTMAX_CE, x, labels), net.op(Op.SIGMOID_CE, x, labels),
           net.op(Op.SIGMOID, x)]
    grads = grad(net.g, ids[1])
    assert grads == {}
    vals = evaluate(net.g, net.inputs, net.params)
    assert all(np.all(np.isfinite(vals[i])) for i in ids)
    np.testing.assert_allclose(vals[ids[0]][0], [1.0, 0.0, 0.0])
    assert vals[ids[1]] == pytest.approx((0.0 + 2000.0) / 2)
    # sigmoid CE: max(x,0) - x*z + log1p(exp(-|x|)) is 0 or 1000 (or 2000) per element
    assert vals[ids[2]] == pytest.approx((0 + math.log(2) + 0 + 500 + 500 + 1000) / 6)


def test_float32_evaluation():
    net = Net(np.random.default_rng())
    y = net.op(Op.EXP, net.input("x", np.ones((2, 2))))
    vals = evaluate(net.g, net.inputs, net.params, dtype=np.float32)
    assert vals[y].dtype == np.float32


def test_missing_or_misshapen_values_are_reported():
    net = Net(np.random.default_rng())
    net.input("x", np.ones((2, 2)))
    with pytest.raises(KeyError, match="'x'"):
        evaluate(net.g, {}, {})
    with pytest.raises(ValueError, match="shape"):
        evaluate(net.g, {"x": np.ones((3, 2))}, {})


# ---- backward ops: semantics the GPU kernels copy ----

def test_max_pool_grad_ties_go_to_the_first_cell():
    net = Net(np.random.default_rng())
    x = net.param("x", np.zeros((1, 3, 3, 1)))
    # 'same' 2x2 stride 1 on 3x3: pads (0,1,0,1); every window holds only zeros
    y = net.op(Op.MAX_POOL, x, size=(2, 2), stride=(1, 1), pad=(0, 1, 0, 1))
    grads = grad(net.g, net.op(Op.SUM, y))
    dx = evaluate(net.g, net.inputs, net.params)[grads["x"]]
    # window (i, j) starts at cell (i, j), its first real cell: each cell gets exactly one window's 1
    assert np.array_equal(dx[0, :, :, 0], np.ones((3, 3)))
    net2 = Net(np.random.default_rng())
    x2 = net2.param("x", np.zeros((1, 2, 2, 1)))
    pooled = net2.op(Op.MAX_POOL, x2, size=(2, 2), stride=(2, 2), pad=(0, 0, 0, 0))
    grads2 = grad(net2.g, net2.op(Op.SUM, pooled))
    dx2 = evaluate(net2.g, net2.inputs, net2.params)[grads2["x"]]
    assert np.array_equal(dx2[0, :, :, 0], [[1.0, 0.0], [0.0, 0.0]])


def test_reduce_to_and_broadcast(rng):
    net = Net(rng)
    x = rng.standard_normal((2, 3, 4))
    ix = net.input("x", x)
    r1 = net.op(Op.REDUCE_TO, ix, shape=(4,))
    r2 = net.op(Op.REDUCE_TO, ix, shape=(3, 1))
    r3 = net.op(Op.REDUCE_TO, ix, shape=())
    b1 = net.op(Op.BROADCAST, r2, shape=(5, 3, 4), scale=0.5)
    s = net.op(Op.SLICE_LAST, ix, start=1, stop=3)
    vals = evaluate(net.g, net.inputs, net.params)
    np.testing.assert_allclose(vals[r1], x.sum(axis=(0, 1)))
    np.testing.assert_allclose(vals[r2], x.sum(axis=(0, 2))[:, None])
    np.testing.assert_allclose(vals[r3], x.sum())
    np.testing.assert_allclose(vals[b1], 0.5 * np.broadcast_to(x.sum(axis=(0, 2))[:, None], (5, 3, 4)))
    np.testing.assert_array_equal(vals[s], x[..., 1:3])


# ---- gradcheck ----

def test_check_gradients_passes_and_leaves_the_graph_alone(rng):
    net, loss = _frozen_net(rng, first_trainable=True, second_trainable=True)
    before = print_graph(net.g)
    result = check_gradients(net.g, loss, net.inputs, net.params)
    assert print_graph(net.g) == before
    assert [r.name for r in result] == ["conv1/filters", "conv1/bias", "conv2/filters"]
    for name, err, ref in result:
        assert err < 1e-6, name
        assert ref.shape == net.params[name].shape


def test_check_gradients_catches_a_wrong_rule(rng, monkeypatch):
    net = Net(rng)
    w = net.param("w", rng.standard_normal((3, 4)))
    loss = net.linear_loss(net.op(Op.TANH, w))
    # a plausible bug: tanh' taken as 1 - x^2 from the input instead of 1 - y^2 from the output
    monkeypatch.setitem(RULES, Op.TANH, lambda c: [c.add(Op.UNARY_GRAD, (c.src(0), c.dy),
                                                         UnaryGradAttrs("tanh", NoAttrs()))])
    [(name, err, _)] = check_gradients(net.g, loss, net.inputs, net.params)
    assert name == "w" and err > 1e-3


def test_check_gradients_is_exact_across_kinks(rng):
    """Every relu/leaky/abs input within 1e-7 of 0, relu6 input within 1e-7 of 6 and max-pool near-ties:
    a step of 1e-6 crosses hundreds of kinks. A plain central difference is then far off; the check
    freezes the pieces at p and agrees with autodiff."""
    net = Net(rng)
    x = net.input("x", rng.uniform(-1e-7, 1e-7, (2, 6, 6, 3)))
    b = net.param("b", rng.uniform(-1e-8, 1e-8, (3,)))
    z = net.op(Op.ADD, x, b)
    parts = [net.op(Op.RELU, z), net.op(Op.LEAKY_RELU, z, alpha=0.2), net.op(Op.ABS, z),
             net.op(Op.RELU6, net.op(Op.ADD, z, net.const(6.0))),
             net.op(Op.MAX_POOL, z, size=(3, 3), stride=(2, 2), pad=(0, 1, 0, 1))]
    loss = net.op(Op.SUM, net.op(Op.CONCAT, *[net.op(Op.RESHAPE, net.linear_loss(p), shape=(1,))
                                              for p in parts]))
    [(_, err, dp)] = check_gradients(net.g, loss, net.inputs, net.params)
    assert err < 1e-6
    v = np.random.default_rng(0).standard_normal(3)
    plus = evaluate(net.g, net.inputs, {"b": net.params["b"] + EPS * v})[loss]
    minus = evaluate(net.g, net.inputs, {"b": net.params["b"] - EPS * v})[loss]
    plain = (plus - minus) / (2 * EPS)
    assert abs(plain - dp @ v) > 1e-3 * abs(dp @ v)    # what the check would say without freezing


def test_numpy_ref_covers_every_computed_op():
    # dropout's reference needs the step's seed, so evaluate() calls ops/dropout.py's itself; Adam's (ops/optimizer.py)
    # is in EVAL and evaluate() gives it the optimizer state
    assert set(numpy_ref.EVAL) | {Op.DROPOUT} == set(Op) - LEAVES
