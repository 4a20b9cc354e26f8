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


@pytest.mark.parametrize("b,f,u", [(70, 100, 130), (600, 33, 17)])   # 600: dw's K split into chunks
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


@pytest.mark.parametrize("shape,k,s,split", [((2, 7, 7, 5), 3, 1, False), ((2, 17, 17, 33), 5, 1, True),
                                             ((2, 9, 8, 64), 3, 2, False)])
def test_reductions_with_64_lanes(device, shape, k, s, split):
    """Without shared tiles the reductions' workgroups have 64 lanes (one, for 64 channels): depthwise filter
    gradients (split into chunks or not, with the second stage), bias sums, a global average pool and a mean
    squared error, all in one training step against float64."""
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
