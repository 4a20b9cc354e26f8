"""Reductions over chosen axes: sum(x, axis=..., keepdims=...) and mean(...), with their gradients.
Shapes and positioned errors from the builder, values against NumPy's own sum and mean, the gradient in
float64 against finite differences, and the kernels (forward, and a training step's gradients) on the GPU
against float64."""
import numpy as np
import pytest
from gpu_check import compare_gradients_on_gpu, compare_on_gpu, fresh_rng, inp, normal
from test_autodiff import Net, check_grads
from test_errors import check_one

from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.compiler.gradcheck import check_gradients
from wgslgrad.compiler.ir import Graph, Op, op_attrs
from wgslgrad.compiler.lower import lower
from wgslgrad.compiler.numpy_ref import evaluate

FORMS = [("sum", "1", False), ("mean", "-1", False), ("sum", "[1, 3]", True), ("mean", "(2, -1, 1)", False),
         ("mean", "2", True), ("sum", "[-3]", True)]


def test_values_and_shapes_match_numpy():
    rng = fresh_rng()
    src = "x = Input(3, 4, 5)\n" + "".join(f"Output({f}(x, axis={a}, keepdims={k}), name='y{i}')\n"
                                           for i, (f, a, k) in enumerate(FORMS))
    g = compile_spec(src, "t.py", batch=2)
    x = rng.standard_normal((2, 3, 4, 5))
    vals = evaluate(g, {"x": x}, {})
    for i, (f, a, k) in enumerate(FORMS):
        axis = eval(a)
        want = getattr(np, f)(x, axis=tuple(axis) if isinstance(axis, (list, tuple)) else axis, keepdims=k)
        assert g.nodes[g.outputs[f"y{i}"]].shape == want.shape, (f, a, k)
        np.testing.assert_allclose(vals[g.outputs[f"y{i}"]], want, rtol=1e-12, err_msg=f"{f} {a} {k}")


OUT = "Output(y)\n"


@pytest.mark.parametrize("src,line,col,msg", [
    ("x = Input(3, 4)\ny = sum(x, axis=3)\n" + OUT, 2, 12, "sum() axis 3 is out of range for a tensor of shape [1,3,4]"),
    ("x = Input(3, 4)\ny = mean(x, axis=-4)\n" + OUT, 2, 13,
     "mean() axis -4 is out of range for a tensor of shape [1,3,4]"),
    ("x = Input(3, 4)\ny = sum(x, axis=0)\n" + OUT, 2, 12,
     ("sum() cannot reduce axis 0, the batch (each example's result stays its own): leave axis out to reduce every "
     "axis to a scalar")),
    ("x = Input(3, 4)\ny = sum(x, axis=[1, -2])\n" + OUT, 2, 12, "sum() argument 'axis' repeats an axis: [1, -2]"),
    ("x = Input(3, 4)\ny = sum(x, axis=1.0)\n" + OUT, 2, 12, "sum() argument 'axis' must be an int or a list of ints, got float"),
    ("x = Input(3, 4)\ny = mean(x, keepdims=True)\n" + OUT, 2, 13,
     "mean() argument 'keepdims=True' needs axis= (with no axis it reduces to a scalar)"),
    ("x = Input(2)\ny = sum([1, 2], axis=0)\nOutput(x)\n", 2, 17, "sum() takes axis= and keepdims= for a tensor only, not a list"),
])
def test_errors_are_positioned(src, line, col, msg):
    check_one(src, line, col, msg)


@pytest.mark.parametrize("axes", [(0,), (1,), (2,), (0, 2), (1, 2), (0, 1, 2)])
def test_sum_axes_grads(axes):
    net = Net(fresh_rng())
    x = net.param("x", net.rng.standard_normal((3, 4, 5)))
    check_grads(net, net.linear_loss(net.op(Op.SUM_AXES, x, axes=axes)))


def test_spec_gradients_against_finite_differences():
    src = ("x = Input(6, 5)\nh = tanh(reshape(dense(x, 24), [6, 4]))\ny = mean(h, axis=1) * sum(h * h, axis=-1, keepdims=True)[:, 0]\n"
           "Output(y)\nTrain(loss=mean(y * y), batch=3)\n")
    g = compile_spec(src, "t.py")
    rng = fresh_rng()
    inputs = {k: rng.standard_normal(g.nodes[i].shape) for k, i in g.inputs.items()}
    params = {k: rng.standard_normal(g.nodes[i].shape) for k, i in g.params.items()}
    assert g.loss is not None
    for r in check_gradients(g, g.loss, inputs, params, seed=int(rng.integers(2**31))):
        assert r.rel_error < 1e-6, (r.name, r.rel_error)


@pytest.mark.parametrize("shape,axes", [((2, 3, 4, 5), (1,)), ((2, 3, 4, 5), (1, 3)), ((2, 3, 4, 5), (3,)),
                                        ((4, 2000, 3), (1,)), ((2, 7, 900), (2,)), ((1, 3, 5), (1, 2))])
def test_sum_axes_on_gpu(device, shape, axes):
    """Small and long sums (the long ones split into chunks and added by a second kernel)."""
    g = Graph(batch=shape[0])
    g.outputs["y"] = g.add(Op.SUM_AXES, (inp(g, "x", shape),), op_attrs(Op.SUM_AXES, axes=axes))
    compare_on_gpu(device, g, normal(g, g.inputs, fresh_rng()))


def test_training_step_gradients_on_gpu(device):
    src = ("x = Input(6, 5)\nh = tanh(reshape(dense(x, 24), [6, 4]))\ny = mean(h, axis=1) * sum(h * h, axis=-1, keepdims=True)[:, 0]\n"
           "t = Input(4)\nOutput(y)\nTrain(loss=mse(y, t) + mean(sum(h, axis=[1, 2])), batch=3)\n")
    g = compile_spec(src, "t.py")
    rng = fresh_rng()
    inputs, params = normal(g, g.inputs, rng), normal(g, g.params, rng)
    compare_on_gpu(device, g, inputs, params)
    compare_gradients_on_gpu(device, lower(g, training=True), g, inputs, params)
