"""lstm(x, units, return_sequences=...): Keras/TF.js names and layouts (kernel [F,4u], recurrent_kernel [u,4u],
bias [4u], gates i, f, c, o), composed from slicing, dense, stack and elementwise ops. Checked against
TensorFlow.js's own tf.layers.lstm (Node, tests/tfjs/lstm.mjs) and PyTorch's nn.LSTM on the same weights (its weight_ih is kernel.T with the gates in the same order i, f, g, o; its two
biases add up to Keras' one), in float64 through the NumPy reference and in float32 on the GPU; its gradients
through time against finite differences, and a training step's gradients on the GPU against float64."""
import json
import subprocess

import numpy as np
import pytest
import torch
from gpu_check import compare_gradients_on_gpu, compare_on_gpu, fresh_rng, normal
from test_autodiff import Net, check_grads
from test_errors import check_one
from test_tfjs_weights import TFJS_DIR, _tfjs_ready

from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.compiler.gradcheck import check_gradients
from wgslgrad.compiler.ir import Op
from wgslgrad.compiler.lower import lower
from wgslgrad.compiler.numpy_ref import evaluate
from wgslgrad.runtime.session import Session


def torch_lstm(x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Every h of PyTorch's nn.LSTM, [B, T, u], in float64, on the Keras weights (biases split in two halves
    that add up to Keras' bias, so both of PyTorch's are used)."""
    f, four_u = kernel.shape
    m = torch.nn.LSTM(f, four_u // 4, batch_first=True).double()
    with torch.no_grad():
        m.weight_ih_l0.copy_(torch.from_numpy(kernel.T.copy()))
        m.weight_hh_l0.copy_(torch.from_numpy(recurrent.T.copy()))
        m.bias_ih_l0.copy_(torch.from_numpy(0.25 * bias))
        m.bias_hh_l0.copy_(torch.from_numpy(0.75 * bias))
        out, _ = m(torch.from_numpy(x))
    return out.numpy()


SPEC = "x = Input({t}, {f})\nseq = lstm(x, {u}, return_sequences=True, name='lstm_1')\nOutput(seq)\n" \
       "last = lstm(x, {u}, name='lstm_1', share=True)\nOutput(last)\n"


def weights(g, rng, scale: float = 0.5) -> dict[str, np.ndarray]:
    return {k: scale * rng.standard_normal(g.nodes[i].shape) for k, i in g.params.items()}


@pytest.mark.parametrize("b,t,f,u", [(2, 5, 3, 4), (1, 1, 2, 3), (3, 7, 6, 8)])
def test_matches_pytorch_in_float64(b, t, f, u):
    g = compile_spec(SPEC.format(t=t, f=f, u=u), "t.py", batch=b)
    assert list(g.params) == ["lstm_1/kernel", "lstm_1/recurrent_kernel", "lstm_1/bias"]
    rng = fresh_rng()
    x, params = rng.standard_normal((b, t, f)), weights(g, rng)
    vals = evaluate(g, {"x": x}, params)
    want = torch_lstm(x, params["lstm_1/kernel"], params["lstm_1/recurrent_kernel"], params["lstm_1/bias"])
    np.testing.assert_allclose(vals[g.outputs["seq"]], want, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(vals[g.outputs["last"]], want[:, -1], rtol=1e-12, atol=1e-13)


def test_matches_pytorch_on_the_gpu(device):
    b, t, f, u = 4, 9, 5, 16
    g = compile_spec(SPEC.format(t=t, f=f, u=u), "t.py", batch=b)
    rng = fresh_rng()
    x, params = rng.standard_normal((b, t, f)).astype(np.float32), weights(g, rng)
    session = Session(lower(g), device)
    session.set_params({k: v.astype(np.float32) for k, v in params.items()})
    out = session.run({"x": x})
    want = torch_lstm(x.astype(np.float64), *(params[f"lstm_1/{k}"] for k in ("kernel", "recurrent_kernel", "bias")))
    np.testing.assert_allclose(out["seq"], want, atol=2e-6)
    np.testing.assert_allclose(out["last"], want[:, -1], atol=2e-6)


def test_matches_tensorflow_js_on_the_gpu(device, tmp_path):
    """TF.js's tf.layers.lstm (recurrentActivation 'sigmoid', Keras 2's default; TF.js defaults to
    'hardSigmoid') takes our three weights in our order and gives our outputs."""
    _tfjs_ready()
    b, t, f, u = 3, 6, 4, 5
    g = compile_spec(SPEC.format(t=t, f=f, u=u), "t.py", batch=b)
    rng = fresh_rng()
    x = rng.standard_normal((b, t, f)).astype(np.float32)
    params = {k: v.astype(np.float32) for k, v in weights(g, rng).items()}
    doc = {"x": x.tolist()} | {k.split("/")[1]: v.tolist() for k, v in params.items()}
    (tmp_path / "in.json").write_text(json.dumps(doc))
    run = subprocess.run(["node", str(TFJS_DIR / "lstm.mjs"), str(tmp_path / "in.json"), str(tmp_path / "out.json")],
                         check=False, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    got = json.loads((tmp_path / "out.json").read_text())
    assert [n.split("/")[-1] for n in got["names"]] == ["kernel", "recurrent_kernel", "bias"]
    session = Session(lower(g), device)
    session.set_params(params)
    out = session.run({"x": x})
    np.testing.assert_allclose(out["seq"], np.array(got["seq"]), atol=2e-6)
    np.testing.assert_allclose(out["last"], np.array(got["seq"])[:, -1], atol=2e-6)


@pytest.mark.parametrize("with_c", [False, True])
def test_cell_gradients_against_finite_differences(with_c):
    """The fused step LSTM_CELL and its gradient LSTM_CELL_GRAD (the first step has no previous c)."""
    net = Net(fresh_rng())
    srcs = [net.param("z", net.rng.standard_normal((3, 8)))]
    if with_c:
        srcs.append(net.param("c", net.rng.standard_normal((3, 2))))
    check_grads(net, net.linear_loss(net.op(Op.LSTM_CELL, *srcs)))


TRAIN = """
x = Input(6, 3)
t = Input(6, 4)
seq = lstm(x, 4, return_sequences=True)
y = dense(lstm(seq, 5), 4)
Output(y)
Train(loss=mse(seq, t) + mean(y * y), batch=3)
"""


def test_gradients_through_time_against_finite_differences():
    g = compile_spec(TRAIN, "t.py")
    rng = fresh_rng()
    inputs = {k: rng.standard_normal(g.nodes[i].shape) for k, i in g.inputs.items()}
    assert g.loss is not None
    for r in check_gradients(g, g.loss, inputs, weights(g, rng), seed=int(rng.integers(2**31))):
        assert r.rel_error < 1e-6, (r.name, r.rel_error)


def test_training_step_gradients_on_gpu(device):
    g = compile_spec(TRAIN, "t.py")
    rng = fresh_rng()
    inputs, params = normal(g, g.inputs, rng), normal(g, g.params, rng, 0.5)
    compare_on_gpu(device, g, inputs, params)
    compare_gradients_on_gpu(device, lower(g, training=True), g, inputs, params)


@pytest.mark.parametrize("src,line,col,msg", [
    ("x = Input(4)\ny = lstm(x, 3)\nOutput(y)\n", 2, 10,
     "lstm() expects an input [batch, time, features] (from an Input of 2 dimensions), got [1,4]"),
    ("x = Input(4, 2)\ny = lstm(x, 0)\nOutput(y)\n", 2, 13, "lstm() argument 'units' must be at least 1, got 0"),
    ("x = Input(300, 2)\ny = lstm(x, 3)\nOutput(y)\n", 2, 10,
     ("lstm() unrolls each of the 300 time steps into 7 graph nodes, more than the 2,000 a spec may make: use "
     "sequences of at most 284 steps here")),
])
def test_errors_are_positioned(src, line, col, msg):
    check_one(src, line, col, msg)


def test_summary_names_the_lstm_layer():
    from wgslgrad.compiler.summary import summarize
    g = compile_spec("x = Input(5, 3)\nh = lstm(x, 4)\nOutput(h)\n", "s.py")
    rows = [r for r in summarize(g) if r.layer.startswith("lstm")]
    assert [r.kind for r in rows] == ["lstm"], rows
