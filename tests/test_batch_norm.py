"""batch_norm(x): Keras/TF.js names and layouts (gamma, beta, moving_mean, moving_variance), batch statistics and
moving averages in training, moving statistics at inference (fused into the conv/dense kernel before it).
Checked in float64 (NumPy reference) against PyTorch's nn.BatchNorm2d and finite differences, on the GPU against
float64, and against TensorFlow.js's own tf.layers.batchNormalization (Node, tests/tfjs/batch_norm.mjs) on the
same weights, in training (output, moving statistics after one step, gradients) and in inference."""
from __future__ import annotations

import json
import subprocess
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from gpu_check import fresh_rng, inp, param
from test_tfjs_weights import TFJS_DIR, _tfjs_ready

from wgslgrad.compiler import numpy_ref
from wgslgrad.compiler.autodiff import grad
from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.compiler.gradcheck import check_gradients
from wgslgrad.compiler.inference import inference_form
from wgslgrad.compiler.ir import Graph, Op, op_attrs
from wgslgrad.compiler.lower import lower
from wgslgrad.export import read_weights, write_weights
from wgslgrad.ops.batch_norm import Norm, Stats, moving_update
from wgslgrad.runtime.init import init_params
from wgslgrad.runtime.session import Session

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["gamma", "beta", "moving_mean", "moving_variance"]
ZERO_GRADIENT = ("dense_0/bias",)
NET = """
image = Input(6, 6, 3)
label = Input(4)
x = conv2d(image, 8, kernel=3, stride={stride}, use_bias=False)
x = relu(batch_norm(x, momentum=0.9, name="bn0"))
x = depthwise_conv2d(x, kernel=3, use_bias=False)
x = relu(batch_norm(x, trainable={frozen_trainable}, name="bn1"))
y = relu(batch_norm(x * x, name="bn2"))   # not right after a conv: a kernel of its own
h = relu(batch_norm(dense(flatten(y), 5), name="bn3"))
logits = dense(h, 4)
Output(logits)
Train(loss=softmax_cross_entropy(logits, label), batch=4)
"""
# Biases a batch norm follows have gradient 0 (the batch mean takes them away): dense_0's, checked as such.


def net(stride: int = 1, frozen: bool = False) -> Graph:
    return compile_spec(NET.format(stride=stride, frozen_trainable=not frozen), "net.py", 4)


def bn_params(g: Graph, rng: np.random.Generator, seed: int = 1) -> dict[str, np.ndarray]:
    """Initial weights with batch norm parameters away from their 1/0 defaults (so each one matters)."""
    params = init_params(g, seed)
    for name, i in g.params.items():
        leaf, c = name.split("/")[-1], g.nodes[i].shape
        if leaf in ("gamma", "moving_variance"):
            params[name] = rng.uniform(0.5, 1.5, c).astype(np.float32)
        elif leaf in ("beta", "moving_mean"):
            params[name] = rng.normal(0, 0.5, c).astype(np.float32)
    return params


def data(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"image": rng.standard_normal((4, 6, 6, 3)).astype(np.float32),
            "label": np.eye(4, dtype=np.float32)[rng.integers(0, 4, 4)]}


def test_keras_names_layout_and_defaults():
    g = compile_spec("x = Input(4, 4, 3)\nOutput(batch_norm(x), name='y')\n", "t.py", 2)
    assert list(g.params) == [f"batch_norm_0/{k}" for k in NAMES]
    assert [g.nodes[i].attrs.trainable for i in g.params.values()] == [True, True, False, False]
    assert [g.nodes[i].attrs.init for i in g.params.values()] == ["ones", "zeros", "zeros", "ones"]
    bn = next(n for n in g.nodes if n.op is Op.BATCH_NORM)
    stats = next(n for n in g.nodes if n.op is Op.BN_STATS)
    assert bn.attrs == Norm(epsilon=1e-3) and stats.attrs == Stats(momentum=0.99)
    assert all(g.nodes[i].shape == (3,) for i in g.params.values())
    params = init_params(g)
    assert params["batch_norm_0/gamma"].tolist() == [1, 1, 1] and params["batch_norm_0/moving_mean"].tolist() == [0] * 3


# ---- float64 against PyTorch --------------------------------------------------------------------------------

def _single(shape: tuple[int, ...], momentum: float, eps: float) -> tuple[Graph, dict[str, int]]:
    """y = batch_norm(x) with x a parameter (so autodiff gives dx) and loss = sum(y * r)."""
    g = Graph(batch=shape[0])
    c = shape[-1]
    x = param(g, "x", shape)
    ids = {k: param(g, k, (c,)) for k in NAMES}
    for k in ("moving_mean", "moving_variance"):
        n = g.nodes[ids[k]]
        g.nodes[ids[k]] = replace(n, attrs=replace(n.attrs, trainable=False))
    stats = g.add(Op.BN_STATS, (x, ids["moving_mean"], ids["moving_variance"]),
                  op_attrs(Op.BN_STATS, momentum=momentum))
    y = g.add(Op.BATCH_NORM, (x, *(ids[k] for k in NAMES), stats), op_attrs(Op.BATCH_NORM, epsilon=eps))
    g.outputs["y"] = y
    g.loss = g.add(Op.SUM, (g.add(Op.MUL, (y, inp(g, "r", shape))),))
    return g, {"stats": stats, "y": y}


@pytest.mark.parametrize("shape", [(4, 5, 3, 6), (2, 1, 1, 3), (16, 7)])
def test_matches_pytorch_in_float64(shape):
    """Training output, gradients of x, gamma and beta, moving statistics after the step, inference output:
    nn.BatchNorm2d (nn.BatchNorm1d for [B, C]) with momentum = 1 - Keras' momentum and the same eps, on the
    NCHW transpose. PyTorch moves running_var toward the unbiased variance (n / (n - 1) times ours), TF.js and
    Keras toward the biased one, which is what batch_norm does."""
    momentum, eps = 0.9, 1e-3
    rng = fresh_rng()
    g, at = _single(shape, momentum, eps)
    c = shape[-1]
    params = {"x": rng.standard_normal(shape) * 2 + 1, "gamma": rng.uniform(0.5, 1.5, c), "beta": rng.standard_normal(c),
              "moving_mean": rng.standard_normal(c), "moving_variance": rng.uniform(0.5, 2, c)}
    r = rng.standard_normal(shape)
    gg = replace(g, nodes=list(g.nodes), params=dict(g.params))
    grads = grad(gg, gg.loss)
    vals = numpy_ref.evaluate(gg, {"r": r}, params)

    layer = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(c, eps=eps, momentum=1 - momentum).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(params["gamma"]))
        layer.bias.copy_(torch.from_numpy(params["beta"]))
        layer.running_mean.copy_(torch.from_numpy(params["moving_mean"]))
        layer.running_var.copy_(torch.from_numpy(params["moving_variance"]))
    perm = (0, 3, 1, 2) if len(shape) == 4 else (0, 1)
    back = (0, 2, 3, 1) if len(shape) == 4 else (0, 1)
    xt = torch.from_numpy(params["x"].transpose(perm).copy()).requires_grad_(True)
    yt = layer.train()(xt)
    (yt * torch.from_numpy(r.transpose(perm).copy())).sum().backward()
    np.testing.assert_allclose(vals[at["y"]], yt.detach().numpy().transpose(back), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(vals[grads["x"]], xt.grad.numpy().transpose(back), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(vals[grads["gamma"]], layer.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(vals[grads["beta"]], layer.bias.grad.numpy(), rtol=1e-10, atol=1e-12)

    mean, var = vals[at["stats"]]
    n = params["x"].size // c
    np.testing.assert_allclose(moving_update(momentum, params["moving_mean"], mean), layer.running_mean.numpy(),
                               rtol=1e-12)
    unbiased = moving_update(momentum, params["moving_variance"], var * n / max(n - 1, 1))
    np.testing.assert_allclose(unbiased, layer.running_var.numpy(), rtol=1e-12)

    inference = numpy_ref.evaluate(inference_form(g), {"r": r}, {**params, "moving_variance": layer.running_var.numpy(),
                                                                 "moving_mean": layer.running_mean.numpy()})
    with torch.no_grad():
        want = layer.eval()(xt).numpy().transpose(back)
    np.testing.assert_allclose(inference[at["y"]], want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("stride,frozen", [(1, False), (2, True)])
def test_autodiff_matches_finite_differences(stride, frozen):
    """float64, through the batch statistics of four batch norms (one frozen: on its moving statistics)."""
    g = net(stride, frozen)
    rng = fresh_rng()
    inputs = {k: v.astype(np.float64) for k, v in data(rng).items()}
    for row in check_gradients(g, g.loss, inputs, bn_params(g, rng)):
        assert row.rel_error < 1e-6, row[:2]


# ---- GPU against float64 ------------------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("stride,frozen", [(1, False), (2, True)])
def test_training_step_on_the_gpu(device, stride, frozen):
    """Gradients of a training step (forward on batch statistics, backward through them) against float64;
    the moving statistics after gradients() and after a step against moving_update on the float64 statistics;
    a frozen batch norm's moving statistics stay put."""
    g = net(stride, frozen)
    rng = fresh_rng()
    inputs, params = data(rng), bn_params(g, rng)
    session = Session(lower(g, training=True), device)
    session.set_params(params)
    got = session.gradients(inputs)
    gg = replace(g, nodes=list(g.nodes), params=dict(g.params))
    grads = grad(gg, gg.loss)
    assert ({Op.BN_DX} if frozen else {Op.BN_DGAMMA, Op.BN_DX}) <= {n.op for n in gg.nodes}, "backward ops run"
    vals = numpy_ref.evaluate(gg, inputs, params)
    overall = max(np.max(np.abs(vals[i])) for i in grads.values())
    for name, i in grads.items():
        # a bias that a batch norm follows (on batch statistics) has gradient 0: the mean takes it away. Its
        # float32 gradient is rounding noise, held to the scale of the others' gradients.
        scale = np.max(np.abs(vals[i])) if name not in ZERO_GRADIENT else 1e-2 * overall
        assert np.max(np.abs(got[name] - vals[i])) <= 2e-5 * scale, name
    assert all(np.max(np.abs(vals[grads[k]])) < 1e-12 * overall for k in ZERO_GRADIENT)
    after = session.get_params()
    for n in g.nodes:
        if n.op is not Op.BATCH_NORM:
            continue
        mm, mv = (g.nodes[s].attrs.name for s in n.srcs[3:5])
        if len(n.srcs) == 5:   # frozen
            assert np.array_equal(after[mm], params[mm]) and np.array_equal(after[mv], params[mv])
            continue
        stats = g.nodes[n.srcs[5]]
        mean, var = vals[n.srcs[5]]
        m = stats.attrs.momentum
        np.testing.assert_allclose(after[mm], moving_update(m, params[mm], mean), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(after[mv], moving_update(m, params[mv], var), rtol=1e-5, atol=1e-6)
    session.step(inputs)
    loss = session.drain()[0][1]
    assert abs(loss - float(vals[g.loss])) <= 1e-5 * abs(float(vals[g.loss]))


@pytest.mark.gpu
def test_inference_on_the_gpu_is_fused(device):
    """lower(): moving statistics, float64's answer; a batch norm right after conv2d, depthwise or dense costs no
    kernel (the same kernels as the net without those batch norms), one after an add costs one."""
    g = net()
    rng = fresh_rng()
    inputs, params = data(rng), bn_params(g, rng)
    session = Session(lower(g), device)
    session.set_params(params)
    out = session.run(inputs)
    ref = numpy_ref.evaluate(inference_form(g), inputs, params)
    want = ref[g.outputs["logits"]]
    assert np.max(np.abs(out["logits"] - want)) <= 1e-5 * np.max(np.abs(want))
    assert abs(float(out["loss"]) - float(ref[g.loss])) <= 1e-5 * abs(float(ref[g.loss]))
    kernels = [k.op for k in lower(g).kernels]
    assert kernels.count("batch_norm") == 1, kernels
    without = NET.replace('batch_norm(x, momentum=0.9, name="bn0")', "x").replace(
        'batch_norm(x, trainable={frozen_trainable}, name="bn1")', "x").replace(
        'batch_norm(dense(flatten(y), 5), name="bn3")', "dense(flatten(y), 5)")
    assert len(kernels) == len(lower(compile_spec(without.format(stride=1, frozen_trainable=True), "w.py", 4)).kernels)


# ---- TF.js's tf.layers.batchNormalization -------------------------------------------------------------------

def _tfjs(tmp_path, doc: dict) -> dict:
    _tfjs_ready()
    (tmp_path / "in.json").write_text(json.dumps(doc))
    run = subprocess.run(["node", str(TFJS_DIR / "batch_norm.mjs"), str(tmp_path / "in.json"), str(tmp_path / "out.json")],
                         check=False, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads((tmp_path / "out.json").read_text())


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(5, 4, 3, 6), (8, 7)])
def test_matches_tensorflow_js(device, tmp_path, shape):
    """tf.layers.batchNormalization on our four weights in our order. On the GPU: its inference output (our
    inference Program, and our training Program's inference phase), its moving statistics after one training
    call (ours after one forward and backward pass), its gradients of gamma and beta for sum(y * r) in training
    mode, and that sum (our training step's loss). In float64 (the reference the GPU tests above hold our
    kernels to): its training output and its gradient of x."""
    rng = fresh_rng()
    c, momentum = shape[-1], 0.8
    spec = (f"x = Input({', '.join(map(str, shape[1:]))})\nr = Input({', '.join(map(str, shape[1:]))})\n"
            f"y = batch_norm(x, momentum={momentum}, epsilon=0.01, name='bn')\nOutput(y)\nTrain(loss=sum(y * r))\n")
    g = compile_spec(spec, "t.py", shape[0])
    x = (rng.standard_normal(shape) * 3 + 2).astype(np.float32)
    r = rng.standard_normal(shape).astype(np.float32)
    params = {"bn/gamma": rng.uniform(0.5, 1.5, c), "bn/beta": rng.standard_normal(c),
              "bn/moving_mean": rng.standard_normal(c), "bn/moving_variance": rng.uniform(0.5, 2, c)}
    params = {k: v.astype(np.float32) for k, v in params.items()}
    got = _tfjs(tmp_path, {"x": x.tolist(), "r": r.tolist(), "momentum": momentum, "epsilon": 0.01,
                           **{k.split("/")[1]: v.tolist() for k, v in params.items()}})
    assert [n.split("/")[-1] for n in got["names"]] == NAMES

    infer = Session(lower(g), device)
    infer.set_params(params)
    np.testing.assert_allclose(infer.run({"x": x})["y"], np.array(got["inference"]), rtol=1e-5, atol=1e-5)
    train = Session(lower(g, training=True), device)
    train.set_params(params)
    np.testing.assert_allclose(train.run({"x": x})["y"], np.array(got["inference"]), rtol=1e-5, atol=1e-5)
    grads_gpu = train.gradients({"x": x, "r": r})
    for k in ("gamma", "beta"):
        want = np.array(got["grads"][k])
        np.testing.assert_allclose(grads_gpu[f"bn/{k}"], want, rtol=1e-4, atol=1e-4 * np.max(np.abs(want)))
    after = train.get_params()
    for k in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(after[f"bn/{k}"], np.array(got[k]), rtol=1e-5, atol=1e-6)
    train.step({"x": x, "r": r})
    want_loss = float(np.sum(np.array(got["training"]) * r))
    assert abs(train.drain()[0][1] - want_loss) <= 1e-4 * float(np.sum(np.abs(r)))

    gx, _ = _single(shape, momentum, 0.01)
    gg = replace(gx, nodes=list(gx.nodes), params=dict(gx.params))
    grads = grad(gg, gg.loss)
    vals = numpy_ref.evaluate(gg, {"r": r}, {"x": x, **{k.split("/")[1]: v for k, v in params.items()}})
    np.testing.assert_allclose(vals[gx.outputs["y"]], np.array(got["training"]), rtol=1e-5, atol=1e-5)
    for k in ("x", "gamma", "beta"):
        want = np.array(got["grads"][k])
        np.testing.assert_allclose(vals[grads[k]], want, rtol=1e-4, atol=1e-4 * np.max(np.abs(want)))


def test_weights_keep_their_tfjs_names(tmp_path):
    """The exported weights (the fold happens in the kernel, not in the weights) read back by name, unchanged."""
    g = net()
    params = bn_params(g, fresh_rng())
    write_weights(tmp_path, params)
    back = read_weights(tmp_path)
    assert [k for k in back if k.startswith("bn0/")] == [f"bn0/{k}" for k in NAMES]
    assert all(np.array_equal(back[k], v) for k, v in params.items())


# ---- the example ---------------------------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.e2e
def test_digits_with_batch_norm_and_dropout_learns(tmp_path):
    """examples/digits_bn.py trains with Model.fit (dropout on, batch statistics, moving averages updated) and
    is evaluated at inference (dropout off, moving statistics fused into the convs): a sensible held-out
    accuracy after 3 epochs, and the exported uint8 TF.js weights keep it."""
    import wgslgrad
    from wgslgrad import datasets

    train, test = datasets.digits()
    model = wgslgrad.compile(ROOT / "examples" / "digits_bn.py", seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no FrozenWithoutWeightsWarning: training sets the moving statistics
        history = model.fit(train, val=test, epochs=3, seed=2, verbose=False)
    result = model.evaluate(test)
    print(f"digits_bn: held-out accuracy {result['accuracy']:.4f} after 3 epochs (val per epoch: "
          f"{[round(e['val_accuracy'], 4) for e in history.epochs]})")
    assert result["accuracy"] >= 0.9
    assert history.epochs[-1]["val_accuracy"] == pytest.approx(result["accuracy"])
    weights = model.get_weights()
    assert not np.allclose(weights["batch_norm_0/moving_mean"], 0)   # the moving statistics moved
    model.export(tmp_path, quantize="uint8")
    again = wgslgrad.compile(ROOT / "examples" / "digits_bn.py")
    again.load_weights(tmp_path / "model.json")
    assert again.evaluate(test)["accuracy"] >= result["accuracy"] - 0.01
