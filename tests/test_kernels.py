"""Each forward kernel in float32 on the GPU against the NumPy float64 interpreter of the IR (numpy_ref),
on fresh random data at odd sizes, strides, paddings and channel counts."""
from pathlib import Path

import numpy as np
import pytest
from gpu_check import compare_gradients_on_gpu, compare_on_gpu, fresh_rng, inp, pads, param
from op_rows import UNARY_OPS, row

from wgslgrad.compiler.frontend import compile_spec, load_spec
from wgslgrad.compiler.inference import inference_form
from wgslgrad.compiler.ir import ConstAttrs, Graph, Op, op_attrs
from wgslgrad.compiler.lower import grid, lower
from wgslgrad.ops.elementwise import UNARY_ROWS
from wgslgrad.ops.linear_kernels import FWD_ROWS

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytestmark = pytest.mark.gpu
RTOL = 1e-4


def check(device, g, positive=(), unit=(), **lower_args):
    """Run every output of `g` on the GPU and compare with numpy_ref: max|gpu - ref| <= RTOL * max|ref|.

    Inputs and parameters are standard normal, except `positive` names (in [0.5, 2]) and `unit` names
    (in [0, 1], rows of a rank-2 one normalised to sum to 1)."""
    rng = fresh_rng()

    def value(name, shape):
        if name in positive:
            return rng.uniform(0.5, 2.0, shape)
        if name in unit:
            v = rng.uniform(0.0, 1.0, shape)
            return v / v.sum(-1, keepdims=True) if len(shape) == 2 else v
        return rng.standard_normal(shape)

    inputs = {k: value(k, g.nodes[i].shape).astype(np.float32) for k, i in g.inputs.items()}
    params = {k: value(k, g.nodes[i].shape).astype(np.float32) for k, i in g.params.items()}
    return compare_on_gpu(device, g, inputs, params, RTOL, **lower_args)


CONVS = [  # (input shape, kernel, stride, padding, out channels, bias)
    ((1, 7, 9, 3), 3, 1, "same", 5, True),
    ((2, 17, 17, 5), 3, 2, "same", 7, True),       # asymmetric TF pads (0, 1)
    ((1, 8, 10, 3), 5, 1, "valid", 4, False),
    ((2, 9, 9, 6), 1, 1, "same", 70, True),        # pointwise: the image is A directly; two column tiles
    ((1, 11, 13, 4), 1, 2, "same", 3, False),
    ((2, 12, 12, 20), 3, 1, "same", 67, True),     # 64x64 tiles, K = 180 over 12 steps
    ((1, 16, 16, 3), 3, 2, "valid", 16, True),
    ((2, 12, 11, 8), 3, 2, "same", 12, True),      # channels in multiples of 4: A and w loaded as vec4
    ((2, 9, 9, 8), 1, 1, "same", 36, False),       # pointwise, vec4; M = 162 ends inside a tile
]


@pytest.mark.parametrize("shape,k,s,padding,co,bias", CONVS)
def test_conv2d(device, shape, k, s, padding, co, bias):
    g = Graph(batch=shape[0])
    x, w = inp(g, "x", shape), param(g, "w", (k, k, shape[3], co))
    srcs = (x, w, param(g, "b", (co,))) if bias else (x, w)
    g.outputs["y"] = g.add(Op.CONV2D, srcs,
                           op_attrs(Op.CONV2D, stride=(s, s), pad=pads(shape[1], shape[2], k, s, padding)))
    check(device, g)


@pytest.mark.parametrize("shape,k,s,padding,mult,bias", [
    ((1, 7, 9, 3), 3, 1, "same", 1, True),
    ((2, 17, 17, 5), 3, 2, "same", 1, True),
    ((1, 8, 10, 3), 5, 1, "valid", 1, False),
    ((2, 6, 7, 3), 3, 2, "same", 2, True),         # channel multiplier 2: output channel c*2 + m
])
def test_depthwise(device, shape, k, s, padding, mult, bias):
    g = Graph(batch=shape[0])
    x, w = inp(g, "x", shape), param(g, "w", (k, k, shape[3], mult))
    srcs = (x, w, param(g, "b", (shape[3] * mult,))) if bias else (x, w)
    g.outputs["y"] = g.add(Op.DEPTHWISE, srcs,
                           op_attrs(Op.DEPTHWISE, stride=(s, s), pad=pads(shape[1], shape[2], k, s, padding)))
    check(device, g)


@pytest.mark.parametrize("b,f,u,bias", [(3, 37, 19, True), (70, 100, 130, False), (1, 256, 136, True),
                                        (20, 64, 40, True), (63, 33, 70, False), (64, 37, 19, True)])
def test_dense(device, b, f, u, bias):
    """Below FWD_ROWS rows the kernel without workgroup memory or barriers (4x4 outputs a thread), from it on
    the tiled one."""
    g = Graph(batch=b)
    x, w = inp(g, "x", (b, f)), param(g, "w", (f, u))
    g.outputs["y"] = g.add(Op.DENSE, (x, w, param(g, "b", (u,))) if bias else (x, w))
    program, _ = check(device, g)
    assert ("workgroupBarrier" in program.kernels[0].wgsl) == (b >= FWD_ROWS)


@pytest.mark.parametrize("b,f,u,act", [(1, 5, 3, "tanh"), (5, 13, 7, "relu"), (2, 1, 1, "sigmoid"),
                                       (17, 66, 10, "gelu"), (63, 9, 130, "leaky_relu")])
def test_dense_few_rows_with_fused_epilogue(device, b, f, u, act):
    """A dense layer on few rows at sizes that cut the 4x4 blocks short (1 row, 1 column, odd rows and
    columns), with its bias, activation and inference batch norm fused into its one kernel, and another whose
    value is an output and goes on to a sum that is one too (a stored value inside the chain); against
    float64."""
    g = compile_spec(f'x = Input({f})\nt = Input({u})\nz = dense(x, {u})\n'
                     f'y = batch_norm(dense(x, {u}, activation="{act}"))\n'
                     f'Output(y)\nOutput(z, name="z")\nOutput(z + t, name="zt")\n', "rows.py", batch=b)
    g = inference_form(g)      # batch norm on its moving statistics, as a per-channel scale and shift
    program, _ = check(device, g, positive=[k for k in g.params if "var" in k])
    dense = [k for k in program.kernels if k.op == "dense"]
    assert len(dense) == 2 and not any("workgroupBarrier" in k.wgsl for k in dense)
    assert {k.op for k in program.kernels} == {"dense"}, [k.name for k in program.kernels]


def views(kernel) -> int:
    """How many of a kernel's bindings are second (vec4) views of a buffer it already binds."""
    return len(kernel.bindings) - len({b.buffer for b in kernel.bindings})


@pytest.mark.parametrize("vec4", [True, False])
def test_vec4_loads_where_the_channels_allow(device, vec4):
    """A conv with 8 input and 12 output channels loads its image and filter 4 floats at a time (a read-only
    vec4 view of each buffer: the input's and the parameters'); one on a 3-channel image only its filter;
    vec4=False none. All three against float64."""
    g = Graph(batch=2)
    x, rgb = inp(g, "x", (2, 10, 10, 8)), inp(g, "rgb", (2, 10, 10, 3))
    g.outputs["y"] = g.add(Op.CONV2D, (x, param(g, "w", (3, 3, 8, 12))),
                           op_attrs(Op.CONV2D, stride=(1, 1), pad=(1, 1, 1, 1)))
    g.outputs["z"] = g.add(Op.CONV2D, (rgb, param(g, "v", (3, 3, 3, 12))),
                           op_attrs(Op.CONV2D, stride=(2, 2), pad=(0, 1, 0, 1)))
    program, _ = check(device, g, vec4=vec4)
    assert [views(k) for k in program.kernels] == ([2, 1] if vec4 else [0, 0])


@pytest.mark.parametrize("spec", ["digits.py", "landmark68.py"])
def test_a_buffer_bound_twice_is_never_written(spec):
    """WebGPU refuses a dispatch that binds a buffer it writes more than once (Dawn: writable aliasing);
    wgpu-native lets it pass, so the lowering must keep to the rule itself. Views are still used."""
    g = load_spec(EXAMPLES / spec, batch=2)
    kernels = lower(g).kernels + lower(g, training=True).kernels
    for k in kernels:
        for b in k.bindings:
            twice = sum(c.buffer == b.buffer for c in k.bindings) > 1
            assert not (twice and b.access != "read"), f"{k.name} binds {b.buffer} twice and writes it"
    assert any(views(k) for k in kernels)


@pytest.mark.parametrize("op,a,b", [
    (Op.ADD, (2, 5, 7, 3), (3,)),
    (Op.SUB, (2, 5, 7, 3), (2, 1, 7, 1)),
    (Op.MUL, (4, 1, 6), (5, 1)),
    (Op.DIV, (2, 3), ()),
    (Op.ADD, (3, 1, 5), (3, 4, 5)),
])
def test_binary_broadcast(device, op, a, b):
    g = Graph(batch=a[0])
    x, y = inp(g, "a", a), param(g, "b", b)
    g.outputs["y"] = g.add(op, (x, y))
    g.outputs["y_swapped"] = g.add(op, (y, x))
    check(device, g, positive={"b"} if op is Op.DIV else set())


def test_binary_with_constant(device):
    g = Graph(batch=2)
    x = inp(g, "x", (2, 4, 3))
    scale = g.add(Op.CONST, (), ConstAttrs((0.5, -2.0, 3.0)), shape=(3,))
    one = g.add(Op.CONST, (), ConstAttrs((1.0,)), shape=())
    g.outputs["y"] = g.add(Op.SUB, (g.add(Op.MUL, (x, scale)), one))
    check(device, g)


def unary_graph() -> Graph:
    """Every unary row (ops/elementwise.py) at default attributes on inputs in its domain, and leaky_relu at
    another slope."""
    g = Graph(batch=2)
    x, p = inp(g, "x", (2, 5, 7, 3)), inp(g, "p", (2, 33))
    four = g.add(Op.CONST, (), ConstAttrs((4.0,)), shape=())
    big = g.add(Op.MUL, (x, four))  # reach relu6's 6 and tanh's tails
    for op in UNARY_OPS:
        g.outputs[op.name.lower()] = g.add(op, (p if row(op).positive else big,))
    g.outputs["leaky_relu_0.1"] = g.add(Op.LEAKY_RELU, (x,), op_attrs(Op.LEAKY_RELU, alpha=0.1))
    return g


def test_unary(device):
    check(device, unary_graph(), positive={"p"})


def test_concat(device):
    g = Graph(batch=2)
    a, b = inp(g, "a", (2, 5, 5, 3)), inp(g, "b", (2, 5, 5, 4))
    c = g.add(Op.RELU, (inp(g, "c", (2, 5, 5, 1)),))
    g.outputs["y"] = g.add(Op.CONCAT, (g.add(Op.NEG, (a,)), b, c, a))
    check(device, g)


def test_concat_of_many_buffers_splits_kernels(device):
    """Nine inputs are nine buffers: more than 8 storage buffers cannot be bound by one kernel."""
    g = Graph(batch=2)
    srcs = tuple(inp(g, f"x{i}", (2, 3, 1 + i % 3)) for i in range(9))
    g.outputs["y"] = g.add(Op.CONCAT, srcs)
    program, _ = check(device, g)
    assert len(program.kernels) == 2 and all(len(k.bindings) <= 8 for k in program.kernels)


@pytest.mark.parametrize("shape", [(2, 3, 10), (3, 300), (1, 65)])
def test_softmax(device, shape):
    g = Graph(batch=shape[0])
    g.outputs["y"] = g.add(Op.SOFTMAX, (inp(g, "x", shape),))
    check(device, g)


@pytest.mark.parametrize("op", [Op.MAX_POOL, Op.AVG_POOL])
@pytest.mark.parametrize("shape,k,s,padding", [
    ((2, 17, 17, 5), 3, 2, "same"),
    ((1, 7, 9, 3), 2, 2, "valid"),
    ((1, 6, 7, 4), 3, 1, "same"),
    ((2, 7, 7, 10), 7, 7, "valid"),
])
def test_pool(device, op, shape, k, s, padding):
    g = Graph(batch=shape[0])
    arg = {"size": (k, k), "stride": (s, s), "pad": pads(shape[1], shape[2], k, s, padding)}
    g.outputs["y"] = g.add(op, (inp(g, "x", shape),), op_attrs(op, **arg))
    check(device, g)


def test_max_pool_padding_never_wins(device):
    """All inputs negative: a padded zero must never be the max."""
    g = Graph(batch=1)
    x = inp(g, "x", (1, 5, 5, 2))
    one = g.add(Op.CONST, (), ConstAttrs((1.0,)), shape=())
    neg = g.add(Op.SUB, (g.add(Op.NEG, (g.add(Op.ABS, (x,)),)), one))
    g.outputs["y"] = g.add(Op.MAX_POOL, (neg,),
                           op_attrs(Op.MAX_POOL, size=(3, 3), stride=(2, 2), pad=(1, 1, 1, 1)))
    _, out = check(device, g)
    assert np.all(out["y"] <= -1.0)


@pytest.mark.parametrize("shape", [(2, 7, 9, 3), (1, 16, 16, 70)])
def test_global_avg_pool(device, shape):
    g = Graph(batch=shape[0])
    g.outputs["y"] = g.add(Op.GLOBAL_AVG_POOL, (inp(g, "x", shape),))
    check(device, g)


def test_reshape_aliases_its_source(device):
    g = Graph(batch=2)
    x = inp(g, "x", (2, 3, 4, 5))
    flat = g.add(Op.RESHAPE, (g.add(Op.RELU, (x,)),), op_attrs(Op.RESHAPE, shape=(2, 60)))
    g.outputs["y"] = g.add(Op.DENSE, (flat, param(g, "w", (60, 9))))
    g.outputs["flat"] = flat
    g.outputs["x_flat"] = g.add(Op.RESHAPE, (x,), op_attrs(Op.RESHAPE, shape=(2, 3, 20)))
    program, _ = check(device, g)
    assert [k.op for k in program.kernels] == ["relu", "dense"]
    assert program.outputs["x_flat"].buffer == "input:x"


@pytest.mark.parametrize("shape", [(5, 7), (2, 100, 100)])   # 20000 elements: two stages
@pytest.mark.parametrize("op", [Op.SUM, Op.MEAN])
def test_reduce(device, op, shape):
    g = Graph(batch=shape[0])
    g.outputs["y"] = g.add(op, (inp(g, "x", shape),))
    program, _ = check(device, g, positive={"x"})   # no cancellation: a sum near 0 has no relative accuracy
    assert len(program.kernels) == (2 if len(shape) == 3 else 1)


@pytest.mark.parametrize("shape", [(4, 136), (64, 300)])
@pytest.mark.parametrize("op", [Op.MSE, Op.SIGMOID_CE])
def test_elementwise_losses(device, op, shape):
    g = Graph(batch=shape[0])
    g.loss = g.add(op, (inp(g, "pred", shape), inp(g, "target", shape)))
    check(device, g, unit={"target"} if op is Op.SIGMOID_CE else set())


@pytest.mark.parametrize("shape", [(4, 10), (50, 500)])
def test_softmax_cross_entropy(device, shape):
    g = Graph(batch=shape[0])
    logits = g.add(Op.MUL, (inp(g, "x", shape), g.add(Op.CONST, (), ConstAttrs((5.0,)), shape=())))
    g.loss = g.add(Op.SOFTMAX_CE, (logits, inp(g, "labels", shape)))
    g.outputs["logits"] = logits
    check(device, g, unit={"labels"})


def test_grid_linearises_big_dispatches():
    assert grid(10) == (10, 1, 1)
    assert grid(65535) == (65535, 1, 1)
    for count in (65536, 65535 * 3 + 1, 10**7):
        x, y, z = grid(count)
        assert max(x, y) <= 65535 and z == 1 and x * y >= count and x * (y - 1) < count
    assert grid(13, limit=4) == (4, 4, 1)


def test_two_dimensional_dispatch(device):
    """With at most 4 workgroups per dimension the kernels here need a 2-D grid and linearise it."""
    g = Graph(batch=2)
    x = inp(g, "x", (2, 9, 9, 5))
    same = pads(9, 9, 3, 1, "same")
    d = g.add(Op.DEPTHWISE, (x, param(g, "dw", (3, 3, 5, 2)), param(g, "db", (10,))),
              op_attrs(Op.DEPTHWISE, stride=(1, 1), pad=same))
    shifted = g.add(Op.ADD, (d, param(g, "s", (9, 1, 10))))
    r = g.add(Op.RELU, (shifted,))
    g.outputs["pool"] = g.add(Op.AVG_POOL, (r,), op_attrs(Op.AVG_POOL, size=(3, 3), stride=(1, 1), pad=same))
    g.outputs["concat"] = g.add(Op.CONCAT, (r, x))
    g.outputs["soft"] = g.add(Op.SOFTMAX, (g.add(Op.RESHAPE, (d,), op_attrs(Op.RESHAPE, shape=(12, 135))),))
    program, _ = check(device, g, max_workgroups=4)
    assert all(max(k.workgroups) <= 4 for k in program.kernels)
    assert {k.op for k in program.kernels if k.workgroups[1] > 1} == {"depthwise", "add", "relu", "avg_pool",
                                                                       "concat", "softmax"}

    g = Graph(batch=2)
    c = g.add(Op.CONV2D, (inp(g, "x", (2, 12, 12, 5)), param(g, "w", (3, 3, 5, 70))),
              op_attrs(Op.CONV2D, stride=(1, 1), pad=pads(12, 12, 3, 1, "same")))
    g.outputs["conv"] = c
    g.outputs["dense"] = g.add(Op.DENSE, (inp(g, "f", (70, 100)), param(g, "u", (100, 130))))
    program, _ = check(device, g, max_workgroups=4)
    assert [k.workgroups for k in program.kernels] == [(4, 3, 1), (3, 2, 1)]


@pytest.mark.parametrize("act", [r.name for r in UNARY_ROWS.values() if r.activation])
def test_activation_fused_in_conv_and_dense(device, act):
    """Every activation= row in the epilogue of a conv and a dense kernel, forward and in a training step
    (its gradient fused after the products' input gradients), against the float64 reference."""
    g = compile_spec(f'x = Input(6, 5, 3)\nt = Input(4)\nh = conv2d(x, 4, kernel=3, stride=2, activation="{act}")\n'
                     f'y = dense(h, 4, activation="{act}")\nOutput(y)\nTrain(loss=mse(y, t), batch=2)\n', "act.py")
    rng = fresh_rng()
    inputs = {k: rng.standard_normal(g.nodes[i].shape).astype(np.float32) for k, i in g.inputs.items()}
    params = {k: rng.standard_normal(g.nodes[i].shape).astype(np.float32) for k, i in g.params.items()}
    program, _ = compare_on_gpu(device, g, inputs, params, RTOL)
    assert [k.op for k in program.kernels if k.serves == ["y"] or "y" in k.serves] == ["conv2d", "dense"]
    compare_gradients_on_gpu(device, lower(g, training=True), g, inputs, params, 1e-3, note=act)
