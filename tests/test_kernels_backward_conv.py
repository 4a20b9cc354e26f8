"""The conv2d, depthwise and dense gradient kernels (ops/linear_kernels.py) in float32 on the GPU against the
NumPy float64 interpreter of the IR (numpy_ref), on fresh random data at odd sizes, strides 1 and 2, TF 'same'
(asymmetric) and 'valid' pads, and reductions long enough to be split into several chunks."""
from __future__ import annotations

import pytest
from gpu_check import (
    compare_gradients_on_gpu,
    compare_on_gpu,
    fresh_rng,
    inp,
    normal,
    pads,
    param,
    phase_taps,
)

from wgslgrad.compiler.ir import Graph, Op, op_attrs
from wgslgrad.compiler.lower import lower
from wgslgrad.ops.linear_kernels import DW_ROWS, DX_ROWS, conv_dx_phases, split

gpu = pytest.mark.gpu
RTOL = 1e-4


def check(device, g: Graph, **lower_args):
    """Run every output of `g` on the GPU and compare with numpy_ref: max|gpu - ref| <= RTOL * max|ref|.
    Inputs are standard normal, from a fresh seed (printed, to replay a failure)."""
    return compare_on_gpu(device, g, normal(g, g.inputs, fresh_rng()), rtol=RTOL, **lower_args)


def conv_arg(shape: tuple[int, ...], k: int, s: int, padding: str) -> dict:
    return {"stride": (s, s), "pad": pads(shape[1], shape[2], k, s, padding)}


def grad_graph(op_dx: Op, op_dw: Op, shape: tuple[int, ...], w_shape: tuple[int, ...], arg: dict) -> Graph:
    """dx and dw of one conv (or depthwise) from inputs x, dy and w, as outputs "dx" and "dw"."""
    fwd = Op.CONV2D if op_dx is Op.CONV2D_DX else Op.DEPTHWISE
    g = Graph(batch=shape[0])
    x, w = inp(g, "x", shape), inp(g, "w", w_shape)
    y = g.add(fwd, (x, w), op_attrs(fwd, **arg))   # only for its shape: not an output, so not lowered
    dy = inp(g, "dy", g.nodes[y].shape)
    g.outputs["dx"] = g.add(op_dx, (dy, w), op_attrs(op_dx, **arg | {"in_shape": shape}))
    g.outputs["dw"] = g.add(op_dw, (x, dy), op_attrs(op_dw, **arg | {"w_shape": w_shape}))
    return g


# ---- unit: the index maps and the split plan (no GPU) ----

@pytest.mark.parametrize("size,k,s,pad", [
    (9, 3, 2, 1), (8, 3, 2, 0), (10, 5, 2, 1), (7, 1, 2, 0), (9, 3, 1, 1), (10, 3, 2, 0), (6, 5, 3, 2)])
def test_conv_dx_phases_cover_every_tap_once(size, k, s, pad):
    """Along one axis: the phases enumerate exactly the (h, ky, oy) with h = oy*s + ky - pad, each once."""
    out = (size + 2 * pad - k) // s + 1
    phases = conv_dx_phases((1, size, 1, 1), (k, 1, 1, 1), (s, 1), (pad, pad, 0, 0))
    got = phase_taps(phases, size, k, s, pad)
    assert all(p["rows"] == p["hp"] for p in phases)
    want = {(oy * s + ky - pad, ky, oy) for oy in range(out) for ky in range(k)
            if 0 <= oy * s + ky - pad < size}
    assert sorted(got) == sorted(want)
    assert sum(p["hp"] for p in phases) == size     # every input row belongs to one phase


def test_split_plan():
    assert split(100, 1, 10, 256, 16) == (1, 100)              # short: one chunk
    chunks, size = split(2 * 17 * 17, 1, 75 * 33, 256, 16)
    assert chunks == 3 and size % 16 == 0 and (chunks - 1) * size < 578 <= chunks * size
    assert split(10**6, 1, 10, 256, 16)[0] == 256               # MAX_CHUNKS
    assert split(4000, 600, 10, 256, 16) == (1, 4000)           # the tiles alone are enough workgroups ...
    assert split(10**6, 600, 10, 256, 16)[0] == 245             # ... but a chunk walks at most LONG_CHUNK
    assert split(10**6, 1, 1 << 21, 256, 16)[0] == 2            # MAX_SCRATCH
    # past MAX_CHUNKS chunks of LONG_CHUNK: chunks of about LONG_CHUNK (a first conv's dw at batch 16 of 416x416)
    chunks, size = split(16 * 414 * 414, 1, 27 * 16, 256, 8)
    assert chunks == 670 and size == 4096 and (chunks - 1) * size < 16 * 414 * 414 <= chunks * size
    assert split(10**9, 1, 10, 256, 16)[0] == 4096             # MAX_LONG_CHUNKS


# ---- conv2d ----

CONVS = [  # (input shape, kernel, stride, padding, out channels)
    ((2, 7, 7, 3), 3, 1, "same", 5),
    ((2, 9, 8, 5), 3, 2, "same", 13),      # pads H (1, 1), W (0, 1): asymmetric
    ((2, 17, 17, 3), 5, 1, "same", 33),    # dw: K = 578 in 3 chunks
    ((2, 10, 9, 5), 5, 2, "same", 3),      # pads H (1, 2), W (2, 2)
    ((2, 7, 9, 13), 1, 2, "same", 5),      # 1x1 stride 2: odd rows and cols of dx get no tap (zero)
    ((2, 10, 9, 4), 3, 2, "valid", 33),    # the last row is read by no window
    ((1, 9, 9, 33), 3, 1, "valid", 70),    # dx: K = 9*70, two column tiles of dw
    ((2, 12, 11, 8), 3, 2, "same", 12),    # channels in multiples of 4: every operand loaded as vec4
    ((2, 9, 9, 16), 1, 1, "same", 8),      # pointwise, vec4: dw's K = 162 ends inside a 16-step
]


@gpu
@pytest.mark.parametrize("shape,k,s,padding,co", CONVS)
def test_conv2d_grads(device, shape, k, s, padding, co):
    g = grad_graph(Op.CONV2D_DX, Op.CONV2D_DW, shape, (k, k, shape[3], co), conv_arg(shape, k, s, padding))
    check(device, g)


@gpu
def test_conv2d_dw_split_in_many_chunks(device):
    """B*OH*OW = 4*32*32: partial sums per chunk into scratch, then one kernel adds the chunks."""
    shape = (4, 32, 32, 3)
    g = grad_graph(Op.CONV2D_DX, Op.CONV2D_DW, shape, (3, 3, 3, 8), conv_arg(shape, 3, 1, "same"))
    program, _ = check(device, g)
    names = [k.name for k in program.kernels]
    assert any(n.endswith("_partial") for n in names) and len(names) == 3, names
    assert "sum over c < 16 of partial" in program.kernels[2].wgsl    # 4096 / 256: 16 chunks


@gpu
def test_conv2d_dw_split_past_max_chunks(device):
    """K = B*OH*OW = 2*1024*600, over MAX_CHUNKS chunks of LONG_CHUNK: 300 chunks of 4,096."""
    shape = (2, 1024, 600, 1)
    g = grad_graph(Op.CONV2D_DX, Op.CONV2D_DW, shape, (3, 3, 1, 4), conv_arg(shape, 3, 1, "same"))
    program, _ = check(device, g)
    assert "sum over c < 300 of partial" in program.kernels[-1].wgsl, [k.name for k in program.kernels]


@gpu
def test_conv2d_grads_2d_dispatch(device):
    """Few workgroups per dimension: every kernel linearises a 2-D grid of workgroups."""
    shape = (2, 17, 17, 5)
    g = grad_graph(Op.CONV2D_DX, Op.CONV2D_DW, shape, (3, 3, 5, 7), conv_arg(shape, 3, 2, "same"))
    program, _ = check(device, g, max_workgroups=4)
    assert any(k.workgroups[1] > 1 for k in program.kernels)


# ---- depthwise ----

@gpu
@pytest.mark.parametrize("shape,k,s,padding,mult,split_dw", [
    ((2, 7, 7, 5), 3, 1, "same", 1, False),
    ((2, 9, 8, 3), 3, 2, "same", 2, False),       # channel multiplier 2: dy channel c*2 + m
    ((2, 17, 17, 33), 5, 1, "same", 1, True),     # dw: 578 positions in 10 chunks
    ((2, 10, 9, 13), 5, 2, "same", 1, False),     # pads H (1, 2), W (2, 2)
    ((2, 10, 9, 4), 3, 2, "valid", 3, False),
    ((1, 7, 9, 3), 1, 2, "same", 1, False),
])
def test_depthwise_grads(device, shape, k, s, padding, mult, split_dw):
    w_shape = (k, k, shape[3], mult)
    g = grad_graph(Op.DEPTHWISE_DX, Op.DEPTHWISE_DW, shape, w_shape, conv_arg(shape, k, s, padding))
    program, _ = check(device, g)
    assert any(k.name.endswith("_partial") for k in program.kernels) == split_dw


# ---- dense ----

@gpu
@pytest.mark.parametrize("b,f,u", [(3, 37, 19), (70, 100, 130), (600, 33, 17), (1, 5, 3), (24, 64, 36),
                                   (600, 32, 20), (1, 256, 1024), (1, 1, 1), (2, 130, 1), (5, 1, 7), (63, 67, 45),
                                   (64, 37, 19), (7, 8, 12)])
def test_dense_grads(device, b, f, u):
    """dx = dy @ w.T and dw = x.T @ dy; F and U are no multiples of the tile; B = 600 splits dw's K (with
    scalar and with vec4 loads). Below 64 rows both take the kernel without workgroup memory (4x4 outputs a
    thread: sizes that are no multiple of 4 leave blocks cut short, 1 row or column blocks of one); from 64
    on the tiled one."""
    g = Graph(batch=b)
    x, w, dy = inp(g, "x", (b, f)), inp(g, "w", (f, u)), inp(g, "dy", (b, u))
    g.outputs["dx"] = g.add(Op.DENSE_DX, (dy, w))
    g.outputs["dw"] = g.add(Op.DENSE_DW, (x, dy))
    program, _ = check(device, g)
    assert any(k.name.endswith("_partial") for k in program.kernels) == (b == 600)
    assert {k.op for k in program.kernels} == {"dense_dx", "dense_dw"}
    assert all(("workgroupBarrier" in k.wgsl) == (b >= DX_ROWS == DW_ROWS) for k in program.kernels)


@gpu
def test_dense_dw_reads_two_layouts_from_one_buffer(device):
    """In a training step dw = x.T @ dy (a batch of 65: the tiled product) reads x (100 features: 4 at a
    time) and dy (7 units: one at a time) from the arena and writes `grads`: one vec4 view of the arena, for
    x only."""
    g = Graph(batch=65)
    h = g.add(Op.RELU, (inp(g, "x", (65, 100)),))
    y = g.add(Op.DENSE, (h, param(g, "w", (100, 7))))
    g.loss = g.add(Op.MSE, (y, inp(g, "t", (65, 7))))
    program = lower(g, training=True)
    (dw,) = [k for k in program.kernels if k.op == "dense_dw"]
    assert [b.buffer for b in dw.bindings].count("arena") == 2
    rng = fresh_rng()
    compare_gradients_on_gpu(device, program, g, normal(g, g.inputs, rng), normal(g, g.params, rng), RTOL)


@gpu
@pytest.mark.parametrize("kind,batch,size,split", [("conv", 1, 8, False), ("conv", 4, 32, True),
                                                   ("dense", 9, 40, False), ("dense", 70, 40, False),
                                                   ("dense", 600, 40, True), ("dense", 1, 5, False)])
def test_filter_gradient_kernel_sums_the_bias_too(device, kind, batch, size, split):
    """A training step's conv or dense bias gradient comes from its filter gradient's kernel (no kernel of
    its own); at the larger sizes the sum over positions or rows is split into chunks, which the second
    stage adds for both; below 64 rows the dense one is the kernel without workgroup memory. All against
    float64."""
    g = Graph(batch=batch)
    if kind == "conv":
        shape = (batch, size, size, 8)        # dw: 72 x 8, two row tiles
        y = g.add(Op.CONV2D, (inp(g, "x", shape), param(g, "w", (3, 3, 8, 8)), param(g, "b", (8,))),
                  op_attrs(Op.CONV2D, **conv_arg(shape, 3, 1, "same")))
    else:                                       # 72 units: two column tiles, the second one cut short
        y = g.add(Op.DENSE, (inp(g, "x", (batch, size)), param(g, "w", (size, 72)), param(g, "b", (72,))))
    g.loss = g.add(Op.MSE, (y, inp(g, "t", g.nodes[y].shape)))   # no relu: no kink for float32 to land across
    program = lower(g, training=True)
    assert not any(k.op == "reduce_to" for k in program.kernels)
    dw = [k for k in program.kernels if k.op.endswith("_dw")]
    assert [len(k.nodes) for k in dw] == [2] * len(dw) and len(dw) == (2 if split else 1)
    if split:   # partial sums go to a buffer of their own: dy (in the arena) is read through a vec4 view
        written = {b.buffer for b in dw[0].bindings if b.access == "read_write"}
        assert written == {"arena_scratch"} and [b.buffer for b in dw[0].bindings].count("arena") == 2
    rng = fresh_rng()
    compare_gradients_on_gpu(device, program, g, normal(g, g.inputs, rng), normal(g, g.params, rng), RTOL)
