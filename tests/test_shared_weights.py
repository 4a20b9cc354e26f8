"""Shared weights: a layer called at several sites with the same name= and share=True uses one parameter,
whose gradient is the sum over the sites. Checked on the built graph (one PARAM per path), against finite
differences in float64, and as a training step's gradients on the GPU against float64."""
import numpy as np
import pytest
from gpu_check import compare_gradients_on_gpu, compare_on_gpu, fresh_rng, normal
from test_errors import check_one

from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.compiler.gradcheck import check_gradients
from wgslgrad.compiler.ir import Op
from wgslgrad.compiler.lower import lower

# A three-step recurrent cell written as a def: every step uses the same input and recurrent weights.
RNN = """
xs = [Input(4, name="x0"), Input(4, name="x1"), Input(4, name="x2")]
target = Input(5)

def cell(x, h, first):
    z = dense(x, 5, name="wx", share=True)
    if not first:
        z = z + dense(h, 5, use_bias=False, name="wh", share=True)
    return tanh(z)

h = None
for t in range(3):
    h = cell(xs[t], h, t == 0, name="rnn")   # the same name= at every step: one scope 'rnn', one set of weights
Output(h)

a = Input(6, 6, 2)
b = Input(6, 6, 2)
fa = conv2d(a, 3, name="siamese", share=True)
fb = conv2d(b, 3, name="siamese", share=True)
Output(fa - fb, name="diff")
Train(loss=mse(h, target) + mean(tanh(fa - fb) * tanh(fa + fb)), batch=2)
"""


def test_shared_layers_make_one_parameter_each():
    g = compile_spec(RNN, "rnn.py")
    assert sorted(g.params) == ["rnn/wh/weights", "rnn/wx/bias", "rnn/wx/weights", "siamese/bias", "siamese/filters"]
    assert sum(n.op is Op.PARAM for n in g.nodes) == 5
    users = [s for n in g.nodes if n.op is Op.DENSE for s in n.srcs]
    assert users.count(g.params["rnn/wx/weights"]) == 3 and users.count(g.params["rnn/wh/weights"]) == 2


def test_shared_gradients_against_finite_differences():
    """The gradient summed over the sites, in float64, along a random direction per parameter."""
    g = compile_spec(RNN, "rnn.py")
    rng = fresh_rng()
    inputs = {k: rng.standard_normal(g.nodes[i].shape) for k, i in g.inputs.items()}
    params = {k: 0.5 * rng.standard_normal(g.nodes[i].shape) for k, i in g.params.items()}
    assert g.loss is not None
    results = check_gradients(g, g.loss, inputs, params, seed=int(rng.integers(2**31)))
    assert {r.name for r in results} == set(g.params)
    for r in results:
        assert r.rel_error < 1e-6, (r.name, r.rel_error)
        assert np.abs(r.grad).max() > 0, r.name


def test_shared_training_step_on_the_gpu(device):
    g = compile_spec(RNN, "rnn.py")
    rng = fresh_rng()
    inputs, params = normal(g, g.inputs, rng), normal(g, g.params, rng, 0.5)
    compare_on_gpu(device, g, inputs, params)
    compare_gradients_on_gpu(device, lower(g, training=True), g, inputs, params)


OUT = "Output(y)\n"


@pytest.mark.parametrize("src,line,col,msg", [
    ("x = Input(3)\ny = dense(x, 4, name='d', share=True)\ny = dense(y, 5, name='d', share=True)\n" + OUT, 3, 5,
     ("share=True reuses parameter 'd/weights' of shape [3,4] (made at model.py:2:5), but this call needs "
     "[4,5]")),
    ("x = Input(3)\ny = dense(x, 3, name='d', share=True)\ny = dense(y, 3, name='d', share=True, trainable=False)\n"
     + OUT, 3, 5, ("share=True reuses parameter 'd/weights' (made at model.py:2:5) with trainable=True, but this "
                  "call has trainable=False")),
    ("x = Input(3)\ny = dense(x, 3, share=True)\n" + OUT, 2, 17,
     ("dense() argument 'share=True' needs name= to say whose weights to reuse (the same name= at every call "
     "that shares them)")),
    ("x = Input(3)\ny = dense(x, 3, name='d', share=1)\n" + OUT, 2, 27,
     "dense() argument 'share' must be True or False, got int"),
    ("x = Input(3)\ndef f(x):\n    return dense(x, 3, name='d', share=True)\ny = f(f(x))\n" + OUT, 3, 12,
     ("share=True, but no other call uses parameter 'f_0/d/weights': give every call that shares it the same "
      "name= (a function called without name= opens a scope of its own at each call: call it with one name=)")),
])
def test_share_errors_are_positioned(src, line, col, msg):
    check_one(src, line, col, msg)
