"""Windows too large to unroll (issue 11): depthwise kernels loop over their taps past 5x5 instead of emitting one
branch per tap, and a trained conv2d with a stride beyond its input makes one phase per residue that holds
cells. Each in float32 on the GPU against the NumPy float64 interpreter (numpy_ref), on fresh random data."""
from __future__ import annotations

import pytest
from gpu_check import compare_on_gpu, fresh_rng, inp, normal, pads, param, phase_taps

from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.compiler.ir import Graph, Op, op_attrs
from wgslgrad.compiler.lower import lower
from wgslgrad.ops.linear_kernels import UNROLL_TAPS, conv_dx_phases

RTOL = 1e-4
gpu = pytest.mark.gpu


def arg(shape: tuple[int, ...], k: int, s: int, padding: str) -> dict:
    return {"stride": (s, s), "pad": pads(shape[1], shape[2], k, s, padding)}


def check(device, g: Graph):
    return compare_on_gpu(device, g, normal(g, g.inputs, fresh_rng()),
                          normal(g, g.params, fresh_rng()) if g.params else None, rtol=RTOL)


LOOPED = [   # shape, k, s, padding, mult: every window has more than UNROLL_TAPS taps
    ((2, 9, 8, 3), 7, 1, "same", 1),
    ((2, 11, 10, 4), 6, 2, "same", 2),     # even kernel: asymmetric 'same' pads, channel multiplier 2
    ((1, 6, 6, 3), 11, 1, "same", 1),      # the window is larger than the image
    ((2, 12, 13, 5), 7, 3, "valid", 1),
]


@gpu
@pytest.mark.parametrize("shape,k,s,padding,mult", LOOPED)
def test_depthwise_forward_loops_over_large_windows(device, shape, k, s, padding, mult):
    assert k * k > UNROLL_TAPS
    g = Graph(batch=shape[0])
    x, w = inp(g, "x", shape), param(g, "w", (k, k, shape[3], mult))
    g.outputs["y"] = g.add(Op.DEPTHWISE, (x, w, param(g, "b", (shape[3] * mult,))),
                           op_attrs(Op.DEPTHWISE, **arg(shape, k, s, padding)))
    program, _ = check(device, g)
    assert "looping over the" in program.kernels[0].wgsl


@gpu
@pytest.mark.parametrize("shape,k,s,padding,mult", LOOPED)
def test_depthwise_gradients_loop_over_large_windows(device, shape, k, s, padding, mult):
    a = arg(shape, k, s, padding)
    w_shape = (k, k, shape[3], mult)
    g = Graph(batch=shape[0])
    x, w = inp(g, "x", shape), inp(g, "w", w_shape)
    y = g.add(Op.DEPTHWISE, (x, w), op_attrs(Op.DEPTHWISE, **a))
    dy = inp(g, "dy", g.nodes[y].shape)
    g.outputs["dx"] = g.add(Op.DEPTHWISE_DX, (dy, w), op_attrs(Op.DEPTHWISE_DX, **a | {"in_shape": shape}))
    g.outputs["dw"] = g.add(Op.DEPTHWISE_DW, (x, dy), op_attrs(Op.DEPTHWISE_DW, **a | {"w_shape": w_shape}))
    program, _ = check(device, g)
    text = "".join(k.wgsl for k in program.kernels)
    assert "a loop over those taps" in text and "a loop over the" in text


def test_a_large_depthwise_window_makes_small_wgsl():
    """kernel=100 used to unroll 10,000 taps: 1.4 MB of WGSL and 22 GB of memory in `run`."""
    g = compile_spec("x = Input(8, 8, 3)\ny = depthwise_conv2d(x, kernel=100)\nOutput(y)\nTrain(loss=mean(y))\n",
                     "m.py")
    for program in (lower(g), lower(g, training=True)):
        assert max(len(k.wgsl) for k in program.kernels) < 8000


@pytest.mark.parametrize("size,k,s,pad", [(9, 3, 20, 1), (8, 1, 1000, 0), (5, 7, 6, 3), (6, 2, 65536, 0)])
def test_conv_dx_phases_with_strides_beyond_the_input(size, k, s, pad):
    """One phase per residue that holds an input row (at most `size`, however large the stride); together they
    enumerate exactly the (h, ky, oy) with h = oy*s + ky - pad, each once."""
    out = (size + 2 * pad - k) // s + 1
    phases = conv_dx_phases((1, size, 1, 1), (k, 1, 1, 1), (s, 1), (pad, pad, 0, 0))
    assert len(phases) == min(s, size)
    got = phase_taps(phases, size, k, s, pad)
    want = {(oy * s + ky - pad, ky, oy) for oy in range(out) for ky in range(k) if 0 <= oy * s + ky - pad < size}
    assert sorted(got) == sorted(want)


@gpu
def test_conv2d_input_gradient_with_a_stride_beyond_the_input(device):
    """`conv2d(y, 4, stride=10**9)` after a conv hung train's lowering (a loop over every residue of the
    stride); strides are now at most 65,536 and only residues that hold cells make a phase."""
    shape, k, s = (2, 7, 6, 3), 3, 60000
    a = arg(shape, k, s, "same")
    g = Graph(batch=shape[0])
    x, w = inp(g, "x", shape), inp(g, "w", (k, k, 3, 4))
    y = g.add(Op.CONV2D, (x, w), op_attrs(Op.CONV2D, **a))
    dy = inp(g, "dy", g.nodes[y].shape)
    g.outputs["dx"] = g.add(Op.CONV2D_DX, (dy, w), op_attrs(Op.CONV2D_DX, **a | {"in_shape": shape}))
    check(device, g)


@gpu
def test_depthwise_filter_gradient_loops_and_splits(device):
    """578 positions: the looped filter gradient writes partial sums per chunk, then they are added."""
    shape, k = (2, 17, 17, 33), 7
    a = arg(shape, k, 1, "same")
    g = Graph(batch=shape[0])
    x, w = inp(g, "x", shape), inp(g, "w", (k, k, 33, 1))
    y = g.add(Op.DEPTHWISE, (x, w), op_attrs(Op.DEPTHWISE, **a))
    dy = inp(g, "dy", g.nodes[y].shape)
    g.outputs["dw"] = g.add(Op.DEPTHWISE_DW, (x, dy),
                            op_attrs(Op.DEPTHWISE_DW, **a | {"w_shape": (k, k, 33, 1)}))
    program, _ = check(device, g)
    assert [k.name.endswith("_partial") for k in program.kernels] == [True, False]
    assert "a loop over the 7x7 taps" in program.kernels[0].wgsl
