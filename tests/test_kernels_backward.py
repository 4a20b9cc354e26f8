"""Each backward kernel (the backward OpDefs in wgslgrad/ops/) in float32 on the GPU against the NumPy
float64 interpreter of the IR (numpy_ref), on fresh random data at odd sizes, strides, paddings and channel counts."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from gpu_check import compare_on_gpu, fresh_rng, inp, pads
from op_rows import UNARY_GRAD_FNS, other_attrs, saved_value, unary_x

from wgslgrad.compiler.ir import Graph, Op, op_attrs
from wgslgrad.ops.base import NoAttrs
from wgslgrad.ops.elementwise import UNARY_ROWS, UnaryGradAttrs
from wgslgrad.ops.reductions import reduce_axes

pytestmark = pytest.mark.gpu
RTOL = 1e-5

Gen = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]


def check(device, g: Graph, gen: dict[str, Gen] | None = None, **lower_args):
    """Run every output of `g` on the GPU and compare with numpy_ref: max|gpu - ref| <= RTOL * max|ref|.
    Inputs are standard normal unless `gen` names a generator for them."""
    rng = fresh_rng()
    gen = gen or {}
    inputs = {k: np.asarray(gen.get(k, lambda r, s: r.standard_normal(s))(rng, g.nodes[i].shape), np.float32)
              for k, i in g.inputs.items()}
    return compare_on_gpu(device, g, inputs, rtol=RTOL, **lower_args)


# ---- REDUCE_TO and BROADCAST ----

def test_reduce_axes_merges_and_splits():
    assert reduce_axes((2, 5, 7, 3), (3,)) == ([{"size": 3, "stride": 1}], [{"size": 70, "stride": 3}])
    assert reduce_axes((2, 5, 7, 3), (5, 1, 1)) == ([{"size": 5, "stride": 21}],
                                                    [{"size": 21, "stride": 1}, {"size": 2, "stride": 105}])
    assert reduce_axes((4, 6), ()) == ([], [{"size": 24, "stride": 1}])


@pytest.mark.parametrize("x,shape,kernels", [
    ((2, 5, 7, 3), (3,), 1),              # a bias over B*H*W
    ((2, 5, 7, 3), (5, 1, 1), 1),          # kept and reduced axes interleaved
    ((2, 3, 1, 5), (3, 1, 5), 1),
    ((4, 6), (4, 1), 1),                   # reduced innermost: lanes run along the sum
    ((3, 4), (), 1),
    ((6, 1000), (1000,), 1),               # many outputs, a short sum
    ((8, 30, 30, 17), (17,), 2),           # a long sum: partial sums per chunk, then a second kernel
    ((4, 28, 28, 32), (1, 1, 1, 32), 2),
    ((40000,), (), 2),
    ((3, 20000), (3, 1), 2),
])
def test_reduce_to(device, x, shape, kernels):
    g = Graph(batch=x[0])
    g.outputs["y"] = g.add(Op.REDUCE_TO, (inp(g, "x", x),), op_attrs(Op.REDUCE_TO, shape=shape))
    # positive values: a sum near zero has no relative accuracy to test
    program, _ = check(device, g, {"x": lambda r, s: r.uniform(0.5, 2.0, s)})
    assert len(program.kernels) == kernels


def test_reduce_to_signed(device):
    g = Graph(batch=16)
    g.outputs["y"] = g.add(Op.REDUCE_TO, (inp(g, "x", (16, 14, 14, 24)),),
                           op_attrs(Op.REDUCE_TO, shape=(24,)))
    check(device, g, {"x": lambda r, s: r.standard_normal(s) + 0.5})


@pytest.mark.parametrize("x,shape,scale", [
    ((3,), (2, 5, 7, 3), 0.5),
    ((), (4, 6), -1.0 / 24),
    ((2, 1, 1, 5), (2, 4, 3, 5), 1.0 / 12),
    ((5, 1), (3, 5, 7), 1.0),
    ((2, 6), (2, 6), 1.0),
])
def test_broadcast(device, x, shape, scale):
    g = Graph(batch=shape[0])
    g.outputs["y"] = g.add(Op.BROADCAST, (inp(g, "x", x),), op_attrs(Op.BROADCAST, shape=shape, scale=scale))
    check(device, g)


# ---- elementwise ----

@pytest.mark.parametrize("fn", UNARY_GRAD_FNS)
def test_unary_grad(device, fn):
    """dx = dy * f'(a) for every row, a being what its gradient reads (y or x) for inputs in the op's domain,
    a tenth of them exactly on its kinks (relu's 0: the convention there, sign(0) = 0 for abs, ...)."""
    g = Graph(batch=2)
    a, dy = inp(g, "a", (2, 5, 7, 3)), inp(g, "dy", (2, 5, 7, 3))
    forward = other_attrs(UNARY_ROWS[fn])
    g.outputs["dx"] = g.add(Op.UNARY_GRAD, (a, dy), UnaryGradAttrs(fn, forward))
    r = UNARY_ROWS[fn]
    check(device, g, {"a": lambda rng, s: saved_value(r, unary_x(r, rng, s, at_kinks=0.1))})


@pytest.mark.parametrize("shape,start,stop", [((2, 5, 7), 2, 5), ((3, 10), 0, 1), ((2, 3, 3, 9), 4, 9)])
def test_slice_last(device, shape, start, stop):
    g = Graph(batch=shape[0])
    g.outputs["y"] = g.add(Op.SLICE_LAST, (inp(g, "x", shape),),
                           op_attrs(Op.SLICE_LAST, start=start, stop=stop))
    check(device, g)


@pytest.mark.parametrize("op", [Op.MSE_GRAD, Op.SIGMOID_CE_GRAD])
@pytest.mark.parametrize("shape", [(4, 136), (3, 5, 7)])
def test_elementwise_loss_grads(device, op, shape):
    g = Graph(batch=shape[0])
    g.outputs["dp"] = g.add(op, (inp(g, "pred", shape), inp(g, "target", shape), inp(g, "dl", ())))
    gen: dict[str, Gen] = {"dl": lambda r, s: r.uniform(0.5, 2.0, s)}
    if op is Op.SIGMOID_CE_GRAD:
        gen |= {"pred": lambda r, s: 6 * r.standard_normal(s), "target": lambda r, s: r.uniform(0, 1, s)}
    check(device, g, gen)


# ---- row-wise ----

@pytest.mark.parametrize("shape", [(2, 3, 10), (3, 300), (1, 65), (5, 1)])
def test_softmax_grad(device, shape):
    g = Graph(batch=shape[0])
    y = g.add(Op.SOFTMAX, (inp(g, "x", shape),))
    g.outputs["dx"] = g.add(Op.SOFTMAX_GRAD, (y, inp(g, "dy", shape)))
    check(device, g)


@pytest.mark.parametrize("shape", [(4, 10), (50, 500), (3, 64), (2, 65)])
@pytest.mark.parametrize("normalised", [True, False])
def test_softmax_cross_entropy_grad(device, shape, normalised):
    g = Graph(batch=shape[0])
    g.outputs["dz"] = g.add(Op.SOFTMAX_CE_GRAD, (inp(g, "logits", shape), inp(g, "labels", shape),
                                                 inp(g, "dl", ())))

    def labels(r, s):
        v = r.uniform(0.0, 1.0, s)
        return v / v.sum(-1, keepdims=True) if normalised else v   # unnormalised rows: the sum(labels) factor
    check(device, g, {"logits": lambda r, s: 5 * r.standard_normal(s), "labels": labels,
                      "dl": lambda r, s: r.uniform(0.5, 2.0, s)})


# ---- pools (gather: one thread per input cell) ----

POOLS = [
    ((2, 17, 17, 5), 3, 2, "same"),
    ((1, 7, 9, 3), 2, 2, "valid"),
    ((1, 6, 7, 4), 3, 1, "same"),
    ((2, 7, 7, 10), 7, 7, "valid"),
    ((1, 11, 10, 2), 2, 3, "valid"),    # stride > size: some cells are in no window
    ((2, 8, 9, 3), 4, 2, "same"),
]


@pytest.mark.parametrize("shape,k,s,padding", POOLS)
def test_avg_pool_grad(device, shape, k, s, padding):
    g = Graph(batch=shape[0])
    arg = {"size": (k, k), "stride": (s, s), "pad": pads(shape[1], shape[2], k, s, padding)}
    fwd = g.add(Op.AVG_POOL, (inp(g, "x", shape),), op_attrs(Op.AVG_POOL, **arg))
    dy = inp(g, "dy", g.nodes[fwd].shape)
    g.outputs["dx"] = g.add(Op.AVG_POOL_GRAD, (dy,), op_attrs(Op.AVG_POOL_GRAD, **arg, in_shape=shape))
    g.outputs["y"] = fwd
    check(device, g)


@pytest.mark.parametrize("shape,k,s,padding", POOLS)
@pytest.mark.parametrize("values", ["normal", "ties", "negative"])
def test_max_pool_grad(device, shape, k, s, padding, values):
    """ties: small integers, so windows have several max cells (the first in row-major order wins);
    negative: all below zero, so a padded zero would win if padding were read."""
    g = Graph(batch=shape[0])
    arg = {"size": (k, k), "stride": (s, s), "pad": pads(shape[1], shape[2], k, s, padding)}
    x = inp(g, "x", shape)
    fwd = g.add(Op.MAX_POOL, (x,), op_attrs(Op.MAX_POOL, **arg))
    g.outputs["dx"] = g.add(Op.MAX_POOL_GRAD, (x, inp(g, "dy", g.nodes[fwd].shape)),
                            op_attrs(Op.MAX_POOL_GRAD, **arg))
    gen: dict[str, Gen] = {
        "normal": {},
        "ties": {"x": lambda r, s: r.integers(-2, 3, s).astype(float)},
        "negative": {"x": lambda r, s: -1.0 - r.random(s)},
    }[values]
    check(device, g, gen | {"dy": lambda r, s: r.uniform(0.5, 2.0, s)})


# ---- big grids ----

def test_two_dimensional_dispatch(device):
    """At most 4 workgroups per dimension: the backward kernels linearise a 2-D grid."""
    g = Graph(batch=2)
    x = inp(g, "x", (2, 9, 9, 8))
    arg = {"size": (3, 3), "stride": (1, 1), "pad": pads(9, 9, 3, 1, "same")}
    dy = inp(g, "dy", (2, 9, 9, 8))
    g.outputs["max"] = g.add(Op.MAX_POOL_GRAD, (x, dy), op_attrs(Op.MAX_POOL_GRAD, **arg))
    g.outputs["avg"] = g.add(Op.AVG_POOL_GRAD, (dy,),
                             op_attrs(Op.AVG_POOL_GRAD, **arg, in_shape=(2, 9, 9, 8)))
    g.outputs["relu"] = g.add(Op.UNARY_GRAD, (x, dy), UnaryGradAttrs("relu", NoAttrs()))
    g.outputs["bias"] = g.add(Op.REDUCE_TO, (g.add(Op.ABS, (dy,)),), op_attrs(Op.REDUCE_TO, shape=(8,)))
    g.outputs["per_image"] = g.add(Op.REDUCE_TO, (g.add(Op.ABS, (dy,)),),
                                   op_attrs(Op.REDUCE_TO, shape=(2, 1, 1, 8)))
    g.outputs["bcast"] = g.add(Op.BROADCAST, (inp(g, "b", (9, 1, 8)),),
                               op_attrs(Op.BROADCAST, shape=(2, 9, 9, 8), scale=2.0))
    rows = g.add(Op.RESHAPE, (x,), op_attrs(Op.RESHAPE, shape=(12, 108)))
    dy_rows = g.add(Op.RESHAPE, (dy,), op_attrs(Op.RESHAPE, shape=(12, 108)))
    g.outputs["soft"] = g.add(Op.SOFTMAX_GRAD, (g.add(Op.SOFTMAX, (rows,)), dy_rows))
    g.outputs["slice"] = g.add(Op.SLICE_LAST, (x,), op_attrs(Op.SLICE_LAST, start=1, stop=8))
    program, _ = check(device, g, max_workgroups=4)
    assert all(max(k.workgroups) <= 4 for k in program.kernels)
    assert {k.op for k in program.kernels if k.workgroups[1] > 1} >= {"max_pool_grad", "avg_pool_grad", "unary_grad",
                                                                       "broadcast", "softmax_grad", "slice_last"}
