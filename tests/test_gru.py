"""gru(x, units, return_sequences=...): Keras' GRU in TF2's default reset_after=True form (kernel [F,3u],
recurrent_kernel [u,3u], bias [2,3u] = input and recurrent bias, gates z, r, h), composed from slicing, dense, the
fused GRU_CELL and stack. Checked against PyTorch's nn.GRU on the same weights (the same reset_after form; its
gates are r, z, n, so the columns are reordered, and its bias_ih and bias_hh are Keras' two bias rows), in float64
through the NumPy reference and in float32 on the GPU; its gradients through time against finite differences, a
training step's gradients on the GPU against float64, and a short training run on the GPU that learns to recall
the first step of a sequence. TF.js's tf.layers.gru is not a peer here: its GRUCell has only the reset_after=False
form (it throws for resetAfter: true, checked below), a different function."""
import json
import subprocess

import numpy as np
import pytest
import torch
from gpu_check import compare_gradients_on_gpu, compare_on_gpu, fresh_rng, normal
from test_autodiff import Net, check_grads
from test_bundle import JS_DIR, _run, node_env
from test_errors import check_one
from test_tfjs_weights import TFJS_DIR, _tfjs_ready

import wgslgrad
from wgslgrad import text
from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.compiler.gradcheck import check_gradients
from wgslgrad.compiler.ir import Op
from wgslgrad.compiler.lower import lower
from wgslgrad.compiler.numpy_ref import evaluate
from wgslgrad.runtime.session import Session


def torch_gru(x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Every h of PyTorch's nn.GRU, [B, T, u], in float64, on the Keras weights: Keras' gate columns z, r, h
    become PyTorch's rows r, z, n."""
    f, three_u = kernel.shape
    u = three_u // 3
    order = np.r_[u:2 * u, 0:u, 2 * u:3 * u]
    m = torch.nn.GRU(f, u, batch_first=True).double()
    with torch.no_grad():
        m.weight_ih_l0.copy_(torch.from_numpy(kernel[:, order].T.copy()))
        m.weight_hh_l0.copy_(torch.from_numpy(recurrent[:, order].T.copy()))
        m.bias_ih_l0.copy_(torch.from_numpy(bias[0, order].copy()))
        m.bias_hh_l0.copy_(torch.from_numpy(bias[1, order].copy()))
        out, _ = m(torch.from_numpy(x))
    return out.numpy()


SPEC = "x = Input({t}, {f})\nseq = gru(x, {u}, return_sequences=True, name='gru_1')\nOutput(seq)\n" \
       "last = gru(x, {u}, name='gru_1', share=True)\nOutput(last)\n"
NAMES = ("kernel", "recurrent_kernel", "bias")


def weights(g, rng, scale: float = 0.5) -> dict[str, np.ndarray]:
    return {k: scale * rng.standard_normal(g.nodes[i].shape) for k, i in g.params.items()}


@pytest.mark.parametrize("b,t,f,u", [(2, 5, 3, 4), (1, 1, 2, 3), (3, 7, 6, 8)])
def test_matches_pytorch_in_float64(b, t, f, u):
    g = compile_spec(SPEC.format(t=t, f=f, u=u), "t.py", batch=b)
    assert list(g.params) == [f"gru_1/{k}" for k in NAMES]
    assert [g.nodes[i].shape for i in g.params.values()] == [(f, 3 * u), (u, 3 * u), (2, 3 * u)]
    rng = fresh_rng()
    x, params = rng.standard_normal((b, t, f)), weights(g, rng)
    vals = evaluate(g, {"x": x}, params)
    want = torch_gru(x, *(params[f"gru_1/{k}"] for k in NAMES))
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
    want = torch_gru(x.astype(np.float64), *(params[f"gru_1/{k}"] for k in NAMES))
    np.testing.assert_allclose(out["seq"], want, atol=2e-6)
    np.testing.assert_allclose(out["last"], want[:, -1], atol=2e-6)


def test_tensorflow_js_has_no_reset_after_form(tmp_path):
    """Why TF.js is no peer of gru(), and what its weights would need (docs/dsl.md says so): TF.js's own
    tf.layers.gru refuses resetAfter: true, and its one form has a [3u] bias, not Keras' [2,3u]. Should a TF.js
    release add the form, this fails, and tf.layers.gru can become a peer here as tf.layers.lstm is in test_lstm.py."""
    _tfjs_ready()
    run = subprocess.run(["node", str(TFJS_DIR / "gru_forms.mjs"), str(tmp_path / "out.json")], check=False,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    got = json.loads((tmp_path / "out.json").read_text())
    assert got["reset_after_error"] and "reset_after" in got["reset_after_error"], got
    assert [(n.split("/")[-1], s) for n, s in got["weights"]] == [("kernel", [4, 9]), ("recurrent_kernel", [3, 9]),
                                                                 ("bias", [9])]


@pytest.mark.parametrize("with_h", [False, True])
def test_cell_gradients_against_finite_differences(with_h):
    """The fused step GRU_CELL and its gradient GRU_CELL_GRAD (the first step: no h_prev, and the recurrent
    part one row, the recurrent bias, for every row)."""
    net = Net(fresh_rng())
    xg = net.param("xg", net.rng.standard_normal((3, 6)))
    if with_h:
        srcs = [xg, net.param("hg", net.rng.standard_normal((3, 6))), net.param("h", net.rng.standard_normal((3, 2)))]
    else:
        srcs = [xg, net.param("hg", net.rng.standard_normal(6))]
    check_grads(net, net.linear_loss(net.op(Op.GRU_CELL, *srcs)))


TRAIN = """
x = Input(6, 3)
t = Input(6, 4)
seq = gru(x, 4, return_sequences=True)
y = dense(gru(seq, 5), 4)
Output(y)
Train(loss=mse(seq, t) + mean(y * y), batch=3)
"""


def test_gradients_through_time_against_finite_differences():
    g = compile_spec(TRAIN, "t.py")
    rng = fresh_rng()
    inputs = {k: rng.standard_normal(g.nodes[i].shape) for k, i in g.inputs.items()}
    assert g.loss is not None
    results = check_gradients(g, g.loss, inputs, weights(g, rng), seed=int(rng.integers(2**31)))
    assert {r.name.split("/")[-1] for r in results} >= set(NAMES)
    for r in results:
        assert r.rel_error < 1e-6, (r.name, r.rel_error)


def test_training_step_gradients_on_gpu(device):
    g = compile_spec(TRAIN, "t.py")
    rng = fresh_rng()
    inputs, params = normal(g, g.inputs, rng), normal(g, g.params, rng, 0.5)
    compare_on_gpu(device, g, inputs, params)
    compare_gradients_on_gpu(device, lower(g, training=True), g, inputs, params)


RECALL = """
x = Input(5, 1)
first = Input(1)
y = dense(gru(x, 8), 1)
Output(y)
Train(loss=mse(y, first), optimizer=Adam(lr=0.02), batch=32)
"""


def test_training_learns_to_recall_the_first_step(device):
    """A GRU trained here (Adam, 150 steps on the GPU) learns to output the first of five random +-1 inputs:
    the mean squared error falls from about 1 (no memory) to well below it."""
    g = compile_spec(RECALL, "recall.py")
    rng = fresh_rng()
    session = Session(lower(g, training=True), device)
    session.init_params(seed=int(rng.integers(2**31)))

    def batch() -> dict[str, np.ndarray]:
        x = rng.choice([-1.0, 1.0], (32, 5, 1)).astype(np.float32)
        return {"x": x, "first": x[:, 0].copy()}

    for _ in range(150):
        session.step(batch())
    losses = [loss for _, loss in session.drain()]
    assert losses[0] > 0.5, losses[:3]
    test = batch()
    mse = float(np.mean((session.run({"x": test["x"]})["y"] - test["first"]) ** 2))
    print(f"first loss {losses[0]:.3f}, last {losses[-1]:.3f}, held-out mse {mse:.4f}")
    assert mse < 0.1 and np.mean(losses[-10:]) < 0.1


@pytest.mark.parametrize("src,line,col,msg", [
    ("x = Input(4)\ny = gru(x, 3)\nOutput(y)\n", 2, 9,
     "gru() expects an input [batch, time, features] (from an Input of 2 dimensions), got [1,4]"),
    ("x = Input(4, 2)\ny = gru(x, 0)\nOutput(y)\n", 2, 12, "gru() argument 'units' must be at least 1, got 0"),
    ("x = Input(600, 2)\ny = gru(x, 3)\nOutput(y)\n", 2, 9,
     ("gru() unrolls each of the 600 time steps into 4 graph nodes, more than the 2,000 a spec may make: use "
     "sequences of at most 496 steps here")),
])
def test_errors_are_positioned(src, line, col, msg):
    check_one(src, line, col, msg)


def test_summary_names_the_gru_layer():
    from wgslgrad.compiler.summary import summarize
    g = compile_spec("x = Input(5, 3)\nh = gru(x, 4)\nOutput(h)\n", "s.py")
    rows = [r for r in summarize(g) if r.layer.startswith("gru")]
    assert [r.kind for r in rows] == ["gru"] and rows[0].params == 3 * 12 + 4 * 12 + 2 * 12, rows


def test_character_model_generates_the_same_text_in_python_and_node(tmp_path):
    """examples/char_lstm.py with gru for lstm (small): wgslgrad.text and the bundle's text.js (Node, Dawn)
    write the same characters for the same seed, greedy picks are the float64 reference's, and a prompt with
    an unknown character or longer than the context is refused in both."""
    t = 6
    spec = tmp_path / "char_gru.py"
    spec.write_text(f"chars = Input({t})\nnext_chars = Input({t}, 96)\n"
                    "h = gru(embedding(chars, 96, 8), 12, return_sequences=True)\n"
                    "logits = dense(h, 96, flatten=False)\nOutput(logits)\n"
                    "Train(loss=softmax_cross_entropy(logits, next_chars), batch=4)\n")
    model = wgslgrad.compile(spec)
    rng = fresh_rng()   # weights far from the initial ones, so that the logits are well apart
    model.set_weights({k: rng.normal(0, 0.8, v.shape) for k, v in model.get_weights().items()})
    greedy = text.generate(model, "def", 2, temperature=0)
    g, params = model._graph(1), model.get_weights()
    for k, prompt in enumerate(["def", "def" + greedy[0]]):
        window = np.zeros((1, t))
        window[0, :len(prompt)] = text.encode(prompt)
        logits = evaluate(g, {"chars": window, "next_chars": np.zeros((1, t, 96))}, params)
        assert greedy[k] == text.ASCII[int(np.argmax(logits[g.outputs["logits"]][0, len(prompt) - 1]))]
    with pytest.raises(text.TextError, match="unknown character 'é' \\(U\\+00E9\\) at position 1"):
        text.generate(model, "té", 3)
    with pytest.raises(text.TextError, match=f"the prompt is {t + 1} characters long, more than the model's "
                                             f"context of {t}"):
        text.generate(model, "a" * (t + 1), 3)
    web = tmp_path / "web"
    model.export(web, js=True, batch=1)
    text.write_web_files(web)
    asks = [{"prompt": "The ", "n": 12, "temperature": 0.8, "seed": 3},
            {"prompt": "", "n": 8, "temperature": 0, "seed": 0}]
    (web / "request.json").write_text(json.dumps({"generate": asks,
                                                  "errors": [{"prompt": "über"}, {"prompt": "z" * (t + 1)}]}))
    run = _run(["node", "run_text.mjs", str(web), str(web / "request.json"), str(web / "result.json")],
               cwd=JS_DIR, env=dict(node_env()), timeout=300)
    assert run.returncode == 0, f"run_text.mjs failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    result = json.loads((web / "result.json").read_text())
    for a, got in zip(asks, result["texts"], strict=True):
        assert got == text.generate(model, a["prompt"], a["n"], temperature=a["temperature"], seed=a["seed"])
    assert result["errors"][0].startswith('unknown character "ü" (U+00FC) at position 0'), result["errors"]
    assert result["errors"][1].startswith(f"the prompt is {t + 1} characters long"), result["errors"]
