"""Tiled products without workgroup memory (lower(shared_tiles=False), the Programs a bundle runs on CPU
adapters such as SwiftShader): convs, dense layers and their input, filter and bias gradients in float32 on
the GPU against the NumPy float64 interpreter of the IR, on fresh random data at odd sizes."""
from __future__ import annotations

import pytest
from gpu_check import compare_gradients_on_gpu, compare_on_gpu, fresh_rng, inp, normal, pads, param
from test_kernels_backward_conv import conv_arg, grad_graph

from wgslgrad.compiler.ir import Graph, Op, op_attrs
from wgslgrad.compiler.lower import lower

pytestmark = pytest.mark.gpu
RTOL = 1e-4
PRODUCTS = ("matmul", "conv2d", "dense", "_dx", "_dw")


def no_workgroup_memory(program) -> None:
    """No kernel stages tiles, and every product is the register-block one (dense_rows.wgsl)."""
    tiled = [k for k in program.kernels if "var<workgroup> As" in k.wgsl or "Bs[" in k.wgsl]
    assert not tiled, [k.name for k in tiled]
    products = [k for k in program.kernels if k.op in ("conv2d", "dense", "conv2d_dx", "conv2d_dw", "dense_dx",
                                                       "dense_dw") and "the second stage of a split" not in k.wgsl]
    assert products and all("the CPU Programs' product" in k.wgsl for k in products), [k.name for k in products]


@pytest.mark.parametrize("shape,k,s,padding,co", [
    ((2, 17, 17, 5), 3, 2, "same", 7),       # asymmetric TF pads
    ((2, 12, 12, 20), 3, 1, "same", 67),     # 64x64 tiles, two column tiles
    ((2, 9, 9, 8), 1, 1, "same", 36),        # pointwise; M = 162 ends inside a tile
    ((1, 13, 11, 3), 5, 2, "valid", 6),      # 5x5 windows, stride 2 with a last row and column no window meets
    ((3, 6, 7, 4), 1, 2, "same", 5),         # 1x1 at stride 2: dx zero at the gaps
    ((2, 5, 6, 9), 3, 1, "valid", 3),        # N = 3, fewer columns than a block
])
def test_conv2d_and_grads_direct(device, shape, k, s, padding, co):
    g = Graph(batch=shape[0])
    x, w = inp(g, "x", shape), param(g, "w", (k, k, shape[3], co))
    g.outputs["y"] = g.add(Op.CONV2D, (x, w, param(g, "b", (co,))),
                           op_attrs(Op.CONV2D, stride=(s, s), pad=pads(shape[1], shape[2], k, s, padding)))
    rng = fresh_rng()
    program, _ = compare_on_gpu(device, g, normal(g, g.inputs, rng), normal(g, g.params, rng), rtol=RTOL,
                                shared_tiles=False)
    no_workgroup_memory(program)
    gg = grad_graph(Op.CONV2D_DX, Op.CONV2D_DW, shape, (k, k, shape[3], co), conv_arg(shape, k, s, padding))
    program, _ = compare_on_gpu(device, gg, normal(gg, gg.inputs, fresh_rng()), rtol=RTOL, shared_tiles=False)
    no_workgroup_memory(program)


# 600: dw's K split into chunks; 3: fewer rows than a block (dx), 5 columns: one past a block (y, dx, dw)
@pytest.mark.parametrize("b,f,u", [(70, 100, 130), (600, 33, 17), (3, 10, 5)])
def test_dense_and_grads_direct(device, b, f, u):
    g = Graph(batch=b)
    x, w, dy = inp(g, "x", (b, f)), inp(g, "w", (f, u)), inp(g, "dy", (b, u))
    g.outputs["y"] = g.add(Op.DENSE, (x, w))
    g.outputs["dx"] = g.add(Op.DENSE_DX, (dy, w))
    g.outputs["dw"] = g.add(Op.DENSE_DW, (x, dy))
    program, _ = compare_on_gpu(device, g, normal(g, g.inputs, fresh_rng()), rtol=RTOL, shared_tiles=False)
    no_workgroup_memory(program)
    assert any(k.name.endswith("_partial") for k in program.kernels) == (b == 600)


@pytest.mark.parametrize("kind,batch,size", [("conv", 4, 32), ("dense", 600, 40)])
def test_training_step_direct(device, kind, batch, size):
    """A training step's gradients, the bias sums of the (split) filter-gradient kernels included."""
    g = Graph(batch=batch)
    if kind == "conv":
        shape = (batch, size, size, 8)
        y = g.add(Op.CONV2D, (inp(g, "x", shape), param(g, "w", (3, 3, 8, 8)), param(g, "b", (8,))),
                  op_attrs(Op.CONV2D, **conv_arg(shape, 3, 1, "same")))
    else:
        y = g.add(Op.DENSE, (inp(g, "x", (batch, size)), param(g, "w", (size, 72)), param(g, "b", (72,))))
    g.loss = g.add(Op.MSE, (y, inp(g, "t", g.nodes[y].shape)))
    program = lower(g, training=True, shared_tiles=False)
    no_workgroup_memory(program)
    rng = fresh_rng()
    compare_gradients_on_gpu(device, program, g, normal(g, g.inputs, rng), normal(g, g.params, rng), RTOL)


def test_bias_sums_apart_from_filter_gradient_direct(device):
    """A dense layer whose weights are computed (relu(w0)): dw goes to the arena, the bias sums fused into its
    kernel to the gradient buffer, a second binding."""
    g = Graph(batch=5)
    w = g.add(Op.RELU, (param(g, "w0", (19, 10)),))
    y = g.add(Op.DENSE, (inp(g, "x", (5, 19)), w, param(g, "b", (10,))))
    g.loss = g.add(Op.MSE, (y, inp(g, "t", g.nodes[y].shape)))
    program = lower(g, training=True, shared_tiles=False)
    no_workgroup_memory(program)
    dw = [k for k in program.kernels if k.op == "dense_dw"]
    assert len(dw) == 1 and "bsum" in dw[0].wgsl and "arena" in dw[0].wgsl and "grads" in dw[0].wgsl, dw
    rng = fresh_rng()
    compare_gradients_on_gpu(device, program, g, normal(g, g.inputs, rng), normal(g, g.params, rng), RTOL)


@pytest.mark.parametrize("shape,k,s,split", [((2, 7, 7, 5), 3, 1, False), ((2, 17, 17, 33), 5, 1, True),
                                             ((2, 9, 8, 64), 3, 2, False)])
def test_reductions_with_64_lanes(device, shape, k, s, split):
    """Without shared tiles the reductions' workgroups have 64 lanes (one, for 64 channels): the second stage
    of the depthwise filter gradients (blocks without workgroup memory, split into chunks or not), bias sums, a
    global average pool and a mean squared error, all in one training step against float64."""
    g = Graph(batch=shape[0])
    x = inp(g, "x", shape)
    y = g.add(Op.DEPTHWISE, (x, param(g, "w", (k, k, shape[3], 1)), param(g, "b", (shape[3],))),
              op_attrs(Op.DEPTHWISE, **conv_arg(shape, k, s, "same")))
    pooled = g.add(Op.GLOBAL_AVG_POOL, (y,))
    g.outputs["pooled"] = pooled
    g.loss = g.add(Op.MSE, (pooled, inp(g, "t", g.nodes[pooled].shape)))
    program = lower(g, training=True, shared_tiles=False)
    names = [k.name for k in program.kernels]
    assert any(n.endswith("_partial") for n in names if n.startswith("depthwise_dw")) == split, names
    assert all("var<workgroup> part: array<f32, 256>" not in k.wgsl for k in program.kernels)
    rng = fresh_rng()
    compare_gradients_on_gpu(device, program, g, normal(g, g.inputs, rng), normal(g, g.params, rng), RTOL)
    compare_on_gpu(device, g, normal(g, g.inputs, rng), normal(g, g.params, rng), rtol=RTOL, shared_tiles=False)


@pytest.mark.parametrize("shape,k,s,pad,mult,fused", [
    ((1, 9, 19, 6), 3, 1, (1, 1, 1, 1), 1, True),    # 3 channels x 4 columns a thread; 19 columns: a part block
    ((2, 13, 21, 5), 3, 2, (1, 1, 1, 1), 2, False),  # multiplier 2: 10 channels in blocks of 2; 11 columns
    ((1, 10, 10, 8), 5, 1, (2, 2, 2, 2), 1, True),   # 5x5; 10 columns: a part block
    ((1, 8, 9, 3), 5, 1, (3, 1, 1, 3), 1, False),    # pads on all four sides, uneven; blocks of 3 columns
    ((1, 9, 21, 12), 3, 1, (0, 0, 0, 0), 1, True),   # valid: no masks, but the part block reads past the row
    ((2, 12, 21, 4), 7, 2, (3, 3, 3, 3), 2, True),   # 49 taps: a loop over them too; 8 channels; a part block
    ((1, 6, 6, 3), 11, 1, (5, 5, 5, 5), 1, False),   # the window larger than the image
    ((1, 5, 6, 2), 3, 1, (1, 1, 1, 1), 3, True),     # multiplier 3: blocks of 3 channels, one x channel
    ((1, 5, 5, 1), 3, 2, (1, 1, 1, 1), 8, False),    # multiplier 8: blocks of 4 channels of one x channel
    ((1, 3, 2, 7), 3, 1, (1, 1, 1, 1), 1, True),     # 7 channels: blocks of 1; 2 columns
])
def test_depthwise_blocks_direct(device, shape, k, s, pad, mult, fused):
    """DEPTHWISE without shared tiles: each thread a block of up to 4 channels x 4 output columns, window
    columns outside the image read clamped and masked; with `fused` a bias, an added input and a relu after it."""
    g = Graph(batch=shape[0])
    x, w = inp(g, "x", shape), param(g, "w", (k, k, shape[3], mult))
    co = shape[3] * mult
    srcs = (x, w, param(g, "b", (co,))) if fused else (x, w)
    y = d = g.add(Op.DEPTHWISE, srcs, op_attrs(Op.DEPTHWISE, stride=(s, s), pad=pad))
    if fused:
        y = g.add(Op.RELU, (g.add(Op.ADD, (d, inp(g, "r", g.nodes[d].shape))),))
    g.outputs["y"] = y
    rng = fresh_rng()
    program, _ = compare_on_gpu(device, g, normal(g, g.inputs, rng), normal(g, g.params, rng), rtol=RTOL,
                                shared_tiles=False)
    assert [k.name for k in program.kernels] == [f"depthwise_{d}"]
    assert "each thread a block of" in program.kernels[0].wgsl


@pytest.mark.parametrize("shape,k,s,pad,mult", [
    ((1, 9, 19, 6), 3, 1, (1, 1, 1, 1), 1),     # 3 channels x 4 columns a thread; 19 columns: a part block
    ((2, 13, 21, 5), 3, 2, (0, 1, 0, 1), 2),    # stride 2 (TF's same pads), multiplier 2; 1 channel a thread
    ((1, 10, 10, 8), 5, 1, (2, 2, 2, 2), 1),    # 5x5; 10 columns: a part block
    ((1, 8, 9, 3), 5, 2, (3, 1, 1, 3), 1),      # pads on all four sides, uneven; stride 2: part block
    ((1, 9, 21, 12), 3, 1, (0, 0, 0, 0), 1),    # valid: no masks
    ((2, 12, 21, 4), 7, 2, (3, 3, 3, 3), 2),    # 49 taps: a loop over them too
    ((1, 6, 6, 3), 11, 1, (5, 5, 5, 5), 1),     # the window larger than the image
    ((1, 7, 11, 2), 3, 3, (1, 1, 1, 1), 3),     # stride 3: blocks of 3 columns; multiplier 3
    ((1, 3, 2, 7), 3, 1, (1, 1, 1, 1), 1),      # 7 channels: blocks of 1; 2 columns
])
def test_depthwise_grads_blocks_direct(device, shape, k, s, pad, mult):
    """DEPTHWISE_DX without shared tiles: each thread a block of up to 4 channels x up to 4 columns of dx (a
    multiple of the stride), dy columns outside dy read clamped and masked; DEPTHWISE_DW beside it."""
    w_shape = (k, k, shape[3], mult)
    gg = grad_graph(Op.DEPTHWISE_DX, Op.DEPTHWISE_DW, shape, w_shape, {"stride": (s, s), "pad": pad})
    program, _ = compare_on_gpu(device, gg, normal(gg, gg.inputs, fresh_rng()), rtol=RTOL, shared_tiles=False)
    assert "each thread a block of" in next(k.wgsl for k in program.kernels if k.name.startswith("depthwise_dx"))


def test_depthwise_training_step_blocks_direct(device):
    """Two depthwise layers with a relu between them: the second's input gradient (blocks) with the relu's
    gradient fused after it feeds the first's filter and bias gradients, all against float64."""
    g = Graph(batch=2)
    x = inp(g, "x", (2, 11, 13, 6))
    h = g.add(Op.DEPTHWISE, (x, param(g, "w1", (3, 3, 6, 1)), param(g, "b1", (6,))),
              op_attrs(Op.DEPTHWISE, stride=(1, 1), pad=(1, 1, 1, 1)))
    h = g.add(Op.RELU, (h,))
    y = g.add(Op.DEPTHWISE, (h, param(g, "w2", (3, 3, 6, 2)), param(g, "b2", (12,))),
              op_attrs(Op.DEPTHWISE, stride=(2, 2), pad=(1, 1, 1, 1)))
    g.loss = g.add(Op.MSE, (y, inp(g, "t", g.nodes[y].shape)))
    program = lower(g, training=True, shared_tiles=False)
    dx = [k for k in program.kernels if k.name.startswith("depthwise_dx")]
    assert len(dx) == 1 and "each thread a block of" in dx[0].wgsl, [k.name for k in program.kernels]
    assert "then %" in dx[0].wgsl.splitlines()[0] and "unary_grad" in dx[0].wgsl.splitlines()[0]   # relu's, fused
    rng = fresh_rng()
    compare_gradients_on_gpu(device, program, g, normal(g, g.inputs, rng), normal(g, g.params, rng), RTOL)


@pytest.mark.parametrize("shape,k,s,pad,mult", [
    ((2, 9, 19, 8), 3, 1, (1, 1, 1, 1), 1),     # 19 columns: a part segment
    ((2, 40, 41, 8), 3, 2, (0, 1, 0, 1), 1),    # stride 2, 21 columns: a part segment; 2 chunks
    ((2, 13, 21, 5), 3, 2, (0, 1, 0, 1), 2),    # stride 2 (TF's same pads), multiplier 2: blocks of 2 channels
    ((1, 10, 10, 6), 5, 1, (2, 2, 2, 2), 1),    # 5x5: two channels a thread
    ((2, 11, 12, 4), 7, 2, (3, 3, 3, 3), 2),    # 7x7: one channel a thread; multiplier 2
    ((1, 8, 9, 3), 4, 2, (3, 1, 1, 3), 1),      # pads on all four sides, uneven
    ((1, 9, 21, 12), 3, 1, (0, 0, 0, 0), 1),    # valid: no masks
    ((1, 7, 11, 2), 3, 3, (1, 1, 1, 1), 3),     # stride 3, multiplier 3
    ((4, 30, 30, 16), 3, 1, (1, 1, 1, 1), 1),   # 3600 positions: 15 chunks
])
def test_depthwise_filter_grad_blocks_direct(device, shape, k, s, pad, mult):
    """DEPTHWISE_DW without shared tiles: each thread one window row's taps of up to 4 channels in registers
    over runs of 4-position row segments, no workgroup memory, the chunks summed by a second kernel."""
    w_shape = (k, k, shape[3], mult)
    gg = grad_graph(Op.DEPTHWISE_DX, Op.DEPTHWISE_DW, shape, w_shape, {"stride": (s, s), "pad": pad})
    program, _ = compare_on_gpu(device, gg, normal(gg, gg.inputs, fresh_rng()), rtol=RTOL, shared_tiles=False)
    dw = [k for k in program.kernels if k.name.startswith("depthwise_dw")]
    assert "each thread sums the" in dw[0].wgsl and "var<workgroup>" not in dw[0].wgsl, [k.name for k in dw]
    assert dw[0].name.endswith("_partial") == (shape[0] * shape[1] > 60), [k.name for k in dw]
