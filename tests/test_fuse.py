"""Epilogue fusion: which nodes a conv/dense/depthwise kernel absorbs and stores, and that fused programs
compute what the NumPy float64 interpreter and the unfused programs compute, forward and backward."""
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from gpu_check import compare_gradients_on_gpu, compare_on_gpu, fresh_rng, inp, normal, param

from wgslgrad.compiler import fuse
from wgslgrad.compiler.frontend import load_spec
from wgslgrad.compiler.ir import Graph, Op, op_attrs
from wgslgrad.compiler.lower import lower
from wgslgrad.ops.base import NoAttrs
from wgslgrad.ops.elementwise import UnaryGradAttrs
from wgslgrad.runtime.session import Session

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SAME3 = {"stride": (1, 1), "pad": (1, 1, 1, 1)}
POINTWISE = {"stride": (1, 1), "pad": (0, 0, 0, 0)}


def residual_net(batch: int = 2) -> Graph:
    """dense-block shapes: c0 = relu(conv(x)); c1 = pointwise(depthwise(c0)); out = relu(c0 + c1), plus
    a sub with the chain on the right, a div, sigmoid and tanh, and a chain value that is also an output."""
    g = Graph(batch=batch)
    x = inp(g, "x", (batch, 6, 5, 3))
    c0 = g.add(Op.CONV2D, (x, param(g, "w0", (3, 3, 3, 4)), param(g, "b0", (4,))),
               op_attrs(Op.CONV2D, **SAME3))
    r0 = g.add(Op.RELU, (c0,))
    d = g.add(Op.DEPTHWISE, (r0, param(g, "dw", (3, 3, 4, 1))), op_attrs(Op.DEPTHWISE, **SAME3))
    c1 = g.add(Op.CONV2D, (d, param(g, "pw", (1, 1, 4, 4)), param(g, "b1", (4,))),
               op_attrs(Op.CONV2D, **POINTWISE))
    s = g.add(Op.ADD, (c0, c1))
    g.outputs["block"] = g.add(Op.RELU, (s,))
    e = g.add(Op.SUB, (r0, g.add(Op.SIGMOID, (g.add(Op.DEPTHWISE, (s, param(g, "dw2", (3, 3, 4, 1))),
                                                    op_attrs(Op.DEPTHWISE, **SAME3)),))))
    g.outputs["mid"] = e
    q = g.add(Op.DIV, (g.add(Op.TANH, (e,)), g.add(Op.ADD, (g.add(Op.ABS, (c0,)), g.add(Op.EXP, (r0,))))))
    flat = g.add(Op.RESHAPE, (q,), op_attrs(Op.RESHAPE, shape=(batch, 6 * 5 * 4)))
    g.outputs["y"] = g.add(Op.LEAKY_RELU, (g.add(Op.DENSE, (flat, param(g, "wd", (120, 7)), param(g, "bd", (7,)))),),
                           op_attrs(Op.LEAKY_RELU, alpha=0.1))
    return g


def test_landmark68_groups_keep_only_what_is_read_again():
    g = load_spec(EXAMPLES / "landmark68.py", batch=2)
    needed = range(len(g.nodes))
    groups = fuse.plan(g, needed, list(g.outputs.values()), len(g.nodes))
    by_scope = {g.nodes[p].scope: grp for p, grp in groups.items()}
    conv0 = by_scope["dense0/conv0"]              # c0 = conv + bias, r0 = relu(c0): only r0 is read again
    assert [g.nodes[c].op for c in conv0.chain] == [Op.RELU] and conv0.stored == {conv0.chain[-1]}
    conv1 = by_scope["dense0/conv1"]              # pointwise(c1) + r0, relu: the pointwise output stays in registers
    assert [g.nodes[c].op for c in conv1.nodes] == [Op.CONV2D, Op.ADD, Op.RELU]
    assert conv1.stored == set(conv1.chain)
    last = by_scope["dense3/conv3"]                # relu(c0 + c1 + c2 + c3): only the relu is stored
    assert [g.nodes[c].op for c in last.nodes] == [Op.CONV2D, Op.ADD, Op.RELU] and last.stored == {last.chain[-1]}
    assert all(g.nodes[p].op is not Op.DEPTHWISE for p in groups)   # a depthwise feeds a pointwise conv directly
    fused, plain = lower(g), lower(g, fused=False)
    # preprocessing sub, div; conv0+relu; 15 separable convs (depthwise, pointwise+add+relu); avg_pool; fc; mse
    assert len(fused.kernels) == 2 + 1 + 15 * 2 + 3 == 36
    # unfused, each dense block adds 3 sums and 4 relus: 2 + 4 * (4 convs + 3 depthwise + 7) + 3 (dense0's conv0 is not separable)
    assert len(plain.kernels) == 2 + 4 * 14 + 3 + 3 == 64
    # fewer values are stored; the peak can be higher (a group's input and all its stored values are alive
    # at once: for landmark68 inference 1.8 MiB instead of 1.4 MiB at batch 1; training keeps activations
    # for the backward pass anyway, and its arena is within 1%)
    assert fused.activation_elements < plain.activation_elements
    train_fused, train_plain = lower(g, training=True), lower(g, training=True, fused=False)
    assert train_fused.buffers["arena"] < 1.01 * train_plain.buffers["arena"]
    # 28 fewer forward kernels; every conv's bias gradient is summed by its filter gradient's kernels; each
    # depthwise input gradient applies the relu gradient and the residual gradient sums after it: only the
    # relu gradient after the head's avg_pool gradient is a kernel of its own
    plain_ops = Counter(k.op for k in train_plain.kernels)
    fused_ops = Counter(k.op for k in train_fused.kernels)
    assert (fused_ops["reduce_to"], fused_ops["unary_grad"], fused_ops["add"]) == (0, 1, 0)
    assert plain_ops["reduce_to"] >= 16 and plain_ops["unary_grad"] == 16 and plain_ops["add"] == 24
    assert len(train_fused.kernels) == len(train_plain.kernels) - 28 - plain_ops["reduce_to"] - 15 - 12


def test_training_keeps_what_the_backward_pass_reads():
    g = residual_net()
    loss_target = inp(g, "t", (2, 7))
    g.loss = g.add(Op.MSE, (g.outputs["y"], loss_target))
    fused, plain = lower(g, training=True), lower(g, training=True, fused=False)
    assert len(fused.kernels) < len(plain.kernels)
    assert fused.phases["forward"] and max(fused.phases["forward"]) < min(fused.phases["backward"])


@pytest.mark.gpu
def test_chain_stops_at_the_storage_buffer_limit(device):
    """conv(x) + x1 + ... + x6, each x_k its own input buffer: a kernel binds at most 8 buffers."""
    g = Graph(batch=1)
    x = inp(g, "x", (1, 4, 4, 2))
    t = g.add(Op.CONV2D, (x, param(g, "w", (1, 1, 2, 3)), param(g, "b", (3,))),
              op_attrs(Op.CONV2D, **POINTWISE))
    for k in range(1, 7):
        t = g.add(Op.ADD, (t, inp(g, f"x{k}", (1, 4, 4, 3))))
    g.outputs["y"] = g.add(Op.RELU, (t,))
    groups = fuse.plan(g, range(len(g.nodes)), [g.outputs["y"]], len(g.nodes))
    (grp,) = groups.values()
    assert len(grp.chain) == 2
    rng = fresh_rng()
    program, _ = compare_on_gpu(device, g, normal(g, g.inputs, rng), normal(g, g.params, rng))
    assert all(len(k.bindings) <= 8 for k in program.kernels)


def test_backward_chain_counts_the_forward_value_each_gradient_reads():
    """depthwise_dx(dy, w) then relu gradients against y1, y2, ...: each reads a buffer of its own, so the
    chain stops as the forward chain of sums does (end=0: every node is a backward one here)."""
    g = Graph(batch=1)
    dy, w = inp(g, "dy", (1, 4, 4, 3)), inp(g, "w", (3, 3, 3, 1))
    t = g.add(Op.DEPTHWISE_DX, (dy, w),
              op_attrs(Op.DEPTHWISE_DX, stride=(1, 1), pad=(1, 1, 1, 1), in_shape=(1, 4, 4, 3)))
    for k in range(1, 7):
        t = g.add(Op.UNARY_GRAD, (inp(g, f"y{k}", (1, 4, 4, 3)), t), UnaryGradAttrs("relu", NoAttrs()))
    (grp,) = fuse.plan(g, range(len(g.nodes)), [t], 0).values()
    assert len(grp.chain) == 2


@pytest.mark.gpu
@pytest.mark.parametrize("batch", [2, 17, 64])   # the dense layer: 4x4 blocks a thread below 64 rows, tiles from 64
def test_fused_forward_matches_reference_and_unfused(device, batch):
    g = residual_net(batch)
    rng = fresh_rng()
    inputs, params = normal(g, g.inputs, rng), normal(g, g.params, rng, 0.5)
    program, fused = compare_on_gpu(device, g, inputs, params)
    assert len(program.kernels) < len(lower(g, fused=False).kernels)
    plain = Session(lower(g, fused=False), device)
    plain.set_params(params)
    for name, v in plain.run(inputs).items():
        np.testing.assert_allclose(fused[name], v, rtol=1e-6, atol=1e-6 * np.abs(v).max())


@pytest.mark.gpu
def test_fused_training_step_matches_reference_gradients(device):
    g = residual_net()
    g.loss = g.add(Op.MSE, (g.outputs["y"], inp(g, "t", (2, 7))))
    rng = fresh_rng()
    inputs, params = normal(g, g.inputs, rng), normal(g, g.params, rng, 0.5)
    backward_groups = [k.nodes for k in lower(g, training=True).kernels if k.op in ("depthwise_dx", "conv2d_dw", "dense_dw")]
    # depthwise_dx + relu gradient (+ a sum: the binding count is conservative, every operand its own
    # buffer); filter gradients + bias sum
    assert [len(nodes) for nodes in backward_groups] == [2, 2, 2, 3, 2]
    for fused in (True, False):
        compare_gradients_on_gpu(device, lower(g, training=True, fused=fused), g, inputs, params, note=f" (fused={fused})")


def test_fusing_ops_are_the_ones_their_declarations_say() -> None:
    """fuse.py takes its producers and filter gradients from the OpDefs (ops/linear.py: epilogue, sums_bias)."""
    assert fuse.PRODUCERS == {Op.CONV2D, Op.DEPTHWISE, Op.DENSE}
    assert fuse.BACKWARD_PRODUCERS == {Op.DEPTHWISE_DX}
    assert fuse.FILTER_GRADIENTS == {Op.CONV2D_DW, Op.DENSE_DW}
