"""Slicing, indexing and stack: x[:, 3], x[:, 2:5], negative indices and stack([...], axis=) on any axis,
with their gradients. Shapes and positioned errors from the builder; the backward rules in float64 against
finite differences; the kernels (forward, and a training step's gradients) on the GPU against float64."""
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


def shape(body: str, expr: str) -> tuple[int, ...]:
    g = compile_spec(f"x = Input(5, 6, 7)\ny = {expr}\nOutput(y)\n{body}", "t.py")
    return g.nodes[g.outputs["y"]].shape


@pytest.mark.parametrize("expr,want", [
    ("x[:, 3]", (1, 6, 7)), ("x[:, 2:5]", (1, 3, 6, 7)), ("x[:, -1]", (1, 6, 7)), ("x[:, :, -2:]", (1, 5, 2, 7)),
    ("x[:, 1, 2:4, -3]", (1, 2)), ("x[:, :, :, 0]", (1, 5, 6)), ("x[:, 1:100]", (1, 4, 6, 7)),
    ("stack([x, x], axis=1)", (1, 2, 5, 6, 7)), ("stack([x[:, 0], x[:, 4], x[:, 2]], axis=-1)", (1, 6, 7, 3)),
    ("stack([x[:, :, 0]], axis=2)", (1, 5, 1, 7)),
])
def test_shapes(expr, want):
    assert shape("", expr) == want


def test_slices_and_indices_pick_numpys_elements():
    """Every subscript form against NumPy's own indexing of the same array (numpy_ref evaluates the IR)."""
    rng = fresh_rng()
    forms = ["x[:, 3]", "x[:, 2:5]", "x[:, -1]", "x[:, :, -2:]", "x[:, 1, 2:4, -3]", "x[:, -4:-1, 5]",
             "x[:, :2, :, 1:3]"]
    src = "x = Input(5, 6, 7)\n" + "".join(f"Output({f}, name='y{k}')\n" for k, f in enumerate(forms))
    g = compile_spec(src, "t.py", batch=2)
    x = rng.standard_normal((2, 5, 6, 7))
    vals = evaluate(g, {"x": x}, {})
    for k, f in enumerate(forms):
        np.testing.assert_array_equal(vals[g.outputs[f"y{k}"]], eval(f, {"x": x}), err_msg=f)
    g = compile_spec("x = Input(5, 6, 7)\nOutput(stack([x[:, 0], x[:, 3]], axis=2), name='s')\n", "t.py", batch=2)
    np.testing.assert_array_equal(evaluate(g, {"x": x}, {})[g.outputs["s"]], np.stack([x[:, 0], x[:, 3]], axis=2))


OUT = "Output(y)\n"


@pytest.mark.parametrize("src,line,col,msg", [
    ("x = Input(5, 6)\ny = x[:, 5]\n" + OUT, 2, 10, "index 5 is out of range for axis 1 of size 5 (shape [1,5,6])"),
    ("x = Input(5, 6)\ny = x[:, -6]\n" + OUT, 2, 10, "index -6 is out of range for axis 1 of size 5 (shape [1,5,6])"),
    ("x = Input(5, 6)\ny = x[:, :, 6:]\n" + OUT, 2, 13,
     "slice 6: selects nothing from axis 2 of size 6 (shape [1,5,6])"),
    ("x = Input(5, 6)\ny = x[:, ::2]\n" + OUT, 2, 10, "slices of tensors take no step (or step 1), got step 2"),
    ("x = Input(5, 6)\ny = x[0]\n" + OUT, 2, 7,
     "axis 0 is the batch, which cannot be indexed: write x[:, ...] to index the axes after it"),
    ("x = Input(5, 6)\ny = x[:, 1, 2, 3]\n" + OUT, 2, 7, "too many indices (4) for a tensor of shape [1,5,6]"),
    ("x = Input(5, 6)\ny = x[:, 1.5]\n" + OUT, 2, 10,
     "a tensor index must be an int or a slice such as 2:5 or :, got float"),
    ("x = Input(5, 6)\ny = x[:, 'a':]\n" + OUT, 2, 10, "a slice bound must be an int or None, got str"),
    ("x = Input(5, 6)\ny = stack([x, x[:, 1:]], axis=1)\n" + OUT, 2, 11,
     "stack() needs tensors of one shape, but tensor 0 has shape [1,5,6] and tensor 1 has [1,4,6]"),
    ("x = Input(5, 6)\ny = stack([x, x], axis=4)\n" + OUT, 2, 19,
     "stack() argument 'axis' must be in [-4, 3] for tensors of rank 3, got 4"),
    ("x = Input(5, 6)\ny = stack([x, x], axis=0)\n" + OUT, 2, 19,
     "stack() argument 'axis' cannot be 0, the batch axis: stack along axis 1 or later"),
    ("x = Input(5, 6)\ny = x[]\n" + OUT, 2, 7, "expected an index or a slice inside '[]', got ']'"),
    ("x = Input(5, 6)\ny = x[:, ::0]\n" + OUT, 2, 10, "a slice step must not be zero"),
    ("x = Input(5, 6)\ny = stack([x, 3], axis=1)\n" + OUT, 2, 11,
     "stack() argument 'tensors' must be a list of tensors, got a int in it"),
])
def test_errors_are_positioned(src, line, col, msg):
    check_one(src, line, col, msg)


# ---- gradients in float64 against finite differences ----

@pytest.mark.parametrize("axis,start,stop", [(0, 1, 3), (1, 0, 1), (2, 2, 5), (2, 4, 5), (1, 0, 4)])
def test_slice_grads(axis, start, stop):
    net = Net(fresh_rng())
    x = net.param("x", net.rng.standard_normal((3, 4, 5)))
    check_grads(net, net.linear_loss(net.op(Op.SLICE, x, axis=axis, start=start, stop=stop)))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_stack_grads(axis):
    net = Net(fresh_rng())
    a, b = net.param("a", net.rng.standard_normal((3, 4))), net.param("b", net.rng.standard_normal((3, 4)))
    c = net.input("c", net.rng.standard_normal((3, 4)))   # an input: no gradient wanted for it
    grads = check_grads(net, net.linear_loss(net.op(Op.STACK, a, c, b, a, axis=axis)))
    assert set(grads) == {"a", "b"}   # a is stacked twice: its two slices of dy are summed


# A spec that slices time steps out of a sequence, mixes them and stacks them back.
SEQ = """
x = Input(4, 3)           # [batch, time, features]
target = Input(4, 5)

def step(t):
    h = dense(x[:, t], 5, name="step", share=True)
    if t > 0:
        h = h + x[:, t - 1, -1:] * x[:, -1, 1:3][:, 0:1]
    return tanh(h)

y = stack([step(0, name="rnn"), step(1, name="rnn"), step(2, name="rnn"), step(3, name="rnn")], axis=1)
Output(y)
Train(loss=mse(y[:, 1:], target[:, 1:]) + mean(y[:, :, 2]), batch=3)
"""


def test_spec_gradients_against_finite_differences():
    g = compile_spec(SEQ, "seq.py")
    assert sorted(g.params) == ["rnn/step/bias", "rnn/step/weights"]
    rng = fresh_rng()
    inputs = {k: rng.standard_normal(g.nodes[i].shape) for k, i in g.inputs.items()}
    params = {k: rng.standard_normal(g.nodes[i].shape) for k, i in g.params.items()}
    assert g.loss is not None
    for r in check_gradients(g, g.loss, inputs, params, seed=int(rng.integers(2**31))):
        assert r.rel_error < 1e-6, (r.name, r.rel_error)


# ---- kernels on the GPU against float64 ----

@pytest.mark.parametrize("shape,axis,start,stop", [((2, 5, 6, 7), 1, 2, 5), ((2, 5, 6, 7), 3, 6, 7),
                                                   ((3, 300), 1, 17, 290), ((2, 5, 6), 2, 0, 1)])
def test_slice_and_its_gradient_on_gpu(device, shape, axis, start, stop):
    g = Graph(batch=shape[0])
    x = inp(g, "x", shape)
    y = g.add(Op.SLICE, (x,), op_attrs(Op.SLICE, axis=axis, start=start, stop=stop))
    g.outputs["y"] = y
    g.outputs["dx"] = g.add(Op.SLICE_GRAD, (y,),
                            op_attrs(Op.SLICE_GRAD, axis=axis, start=start, size=shape[axis]))
    compare_on_gpu(device, g, normal(g, g.inputs, fresh_rng()))


@pytest.mark.parametrize("count,axis", [(3, 1), (2, 3), (11, 2), (1, 1)])
def test_stack_on_gpu(device, count, axis):
    """Eleven separate inputs need more storage buffers than one kernel binds: the stack is split."""
    g = Graph(batch=2)
    xs = [inp(g, f"x{k}", (2, 4, 5)) for k in range(count)]
    g.outputs["y"] = g.add(Op.STACK, tuple(xs), op_attrs(Op.STACK, axis=axis))
    compare_on_gpu(device, g, normal(g, g.inputs, fresh_rng()))


def test_training_step_gradients_on_gpu(device):
    g = compile_spec(SEQ, "seq.py")
    rng = fresh_rng()
    inputs, params = normal(g, g.inputs, rng), normal(g, g.params, rng)
    compare_on_gpu(device, g, inputs, params)
    compare_gradients_on_gpu(device, lower(g, training=True), g, inputs, params)
