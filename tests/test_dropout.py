"""dropout(x, rate): the counter-based mask (compiler/dropout.py) in NumPy, in WGSL through wgpu and in the JS
bundle through Dawn; its gradient (the same mask, recomputed); the identity at inference."""
from __future__ import annotations

import numpy as np
import pytest
from gpu_check import fresh_rng, inp, param
from test_bundle import plain, rel_err, run_node

from wgslgrad.compiler import numpy_ref
from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.compiler.gradcheck import check_gradients
from wgslgrad.compiler.ir import Graph, Op, op_attrs
from wgslgrad.compiler.lower import lower
from wgslgrad.export.bundle import write_bundle
from wgslgrad.ops import dropout
from wgslgrad.runtime.init import init_params
from wgslgrad.runtime.session import Session

SPEC = """
image = Input(5, 5, 2)
label = Input(3)
h = dropout(relu(batch_norm(conv2d(image, 4, kernel=3, use_bias=False), momentum=0.5)), 0.4)
logits = dense(dropout(flatten(h), 0.25), 3)
Output(logits)
Train(loss=softmax_cross_entropy(logits, label), batch=2)
"""


def within(frac: float, rate: float, n: int) -> bool:
    """|frac - rate| within 5 standard deviations of a binomial fraction (a false alarm once in 10^6 runs)."""
    return abs(frac - rate) <= 5 * np.sqrt(rate * (1 - rate) / n)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.85])
def test_mask_rate_within_statistical_bounds(rate):
    n = 200_000
    rng = fresh_rng()
    seed, salt = int(rng.integers(0, dropout.MAX_SEED)), int(rng.integers(0, 2**32))
    masks = [dropout.keep_mask((n,), rate, salt, seed, step) for step in (1, 2)]
    for m in masks:
        assert within(1 - m.mean(), rate, n), 1 - m.mean()
    # two steps (and two layers) draw independent masks: they agree as often as chance says
    chance = rate**2 + (1 - rate) ** 2
    assert within(np.mean(masks[0] == masks[1]), chance, n)
    other = dropout.keep_mask((n,), rate, salt + 1, seed, 1)
    assert within(np.mean(masks[0] == other), chance, n)
    # and within one mask, neighbours are independent too (no stripes along the element counter)
    assert within(np.mean(masks[0][1:] == masks[0][:-1]), chance, n - 1)


def test_hash_wraps_as_wgsl_u32():
    """The NumPy hash equals the paper's pcg_hash written with Python integers masked to 32 bits, the way
    WGSL's u32 arithmetic wraps (so NumPy's uint32 arrays must not widen or saturate anywhere)."""
    def pcg_int(v: int) -> int:
        state = (v * 747796405 + 2891336453) & 0xFFFFFFFF
        word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & 0xFFFFFFFF
        return (word >> 22) ^ word

    values = [0, 1, 2**31, 2**32 - 1, *fresh_rng().integers(0, 2**32, 200).tolist()]
    assert dropout.pcg(np.array(values, np.uint32)).tolist() == [pcg_int(v) for v in values]


def _dropout_graph(n: int, rate: float) -> Graph:
    """loss = sum(dropout(w) * x): d(loss)/dw = keep * x / (1 - rate), the mask itself when x = 1."""
    g = Graph(batch=1)
    x, w = inp(g, "x", (1, n)), param(g, "w", (n,))
    d = g.add(Op.DROPOUT, (w,), op_attrs(Op.DROPOUT, rate=rate, salt=dropout.salt("dropout_0")))
    g.loss = g.add(Op.SUM, (g.add(Op.MUL, (d, x)),))
    return g


@pytest.mark.gpu
def test_gpu_mask_and_gradient_match_numpy(device):
    """The WGSL mask is the NumPy one bit for bit: d(loss)/dw = keep * x / (1 - rate) (float64 reference with
    the same hash), its drop rate within bounds; another step draws another mask, the same step the same."""
    n, rate = 65_536, 0.3
    rng = fresh_rng()
    g = _dropout_graph(n, rate)
    inputs = {"x": rng.uniform(0.5, 2.0, (1, n)).astype(np.float32)}
    params = {"w": rng.standard_normal(n).astype(np.float32)}
    session = Session(lower(g, training=True), device)
    session.set_params(params)
    session.seed = int(rng.integers(0, dropout.MAX_SEED))
    for step in (1, 2, 1):
        got = session.gradients(inputs, step=step)["w"]
        keep = dropout.keep_mask((n,), rate, g.nodes[2].attrs.salt, session.seed, step)
        want = np.where(keep, inputs["x"][0].astype(np.float64) / (1 - rate), 0.0)
        assert np.array_equal(got != 0, keep), f"step {step}: {np.sum((got != 0) != keep)} elements differ"
        assert np.max(np.abs(got - want)) <= 1e-6 * np.max(np.abs(want))
        ref = numpy_ref.evaluate(g, inputs, params, seed=session.seed, step=step)
        want_loss = np.sum(np.where(keep, params["w"].astype(np.float64) / (1 - rate), 0) * inputs["x"][0])
        assert abs(ref[g.loss] - want_loss) <= 1e-9 * np.sum(np.abs(params["w"] * inputs["x"][0]))
        assert within(1 - keep.mean(), rate, n)
    masks = [session.gradients(inputs, step=s)["w"] != 0 for s in (1, 2)]
    assert not np.array_equal(masks[0], masks[1])


def test_autodiff_matches_finite_differences():
    """float64: autodiff through two dropouts (and a relu) against central differences, masks frozen by the
    seed and step."""
    g = compile_spec(SPEC, "spec.py", 2)
    rng = fresh_rng()
    inputs = {"image": rng.standard_normal((2, 5, 5, 2)), "label": np.eye(3)[[0, 2]]}
    for row in check_gradients(g, g.loss, inputs, init_params(g, 3)):
        assert row.rel_error < 1e-6, row[:2]


@pytest.mark.gpu
def test_training_step_gradients_match_float64(device):
    g = compile_spec(SPEC, "spec.py", 2)
    rng = fresh_rng()
    inputs = {"image": rng.standard_normal((2, 5, 5, 2)).astype(np.float32),
              "label": np.eye(3, dtype=np.float32)[[0, 2]]}
    params = init_params(g, 3)
    session = Session(lower(g, training=True), device)
    session.set_params(params)
    session.seed = 77
    got = session.gradients(inputs, step=5)
    from dataclasses import replace

    from wgslgrad.compiler.autodiff import grad
    gg = replace(g, nodes=list(g.nodes), params=dict(g.params))
    grads = grad(gg, gg.loss)
    vals = numpy_ref.evaluate(gg, inputs, params, seed=77, step=5)
    for name, i in grads.items():
        assert np.max(np.abs(got[name] - vals[i])) <= 1e-5 * np.max(np.abs(vals[i])), name


@pytest.mark.gpu
def test_identity_at_inference(device):
    """lower() (inference, what the bundle's predict runs) has no dropout kernel: the same kernels as without
    dropout, and the output is the input's exactly."""
    g = compile_spec(SPEC, "spec.py", 2)
    plain_spec = SPEC.replace("dropout(", "(").replace(", 0.4)", ")").replace(", 0.25)", ")")
    program = lower(g)
    assert not any("dropout" in k.op for k in program.kernels)
    assert len(program.kernels) == len(lower(compile_spec(plain_spec, "plain.py", 2)).kernels)
    n = 1000
    gi = Graph(batch=1)
    gi.outputs["y"] = gi.add(Op.DROPOUT, (inp(gi, "x", (1, n)),), op_attrs(Op.DROPOUT, rate=0.5, salt=1))
    x = fresh_rng().standard_normal((1, n)).astype(np.float32)
    session = Session(lower(gi), device)
    assert np.array_equal(session.run({"x": x})["y"], x)


@pytest.mark.gpu
def test_training_programs_inference_phase_is_the_inference_form(device):
    """A training Program's inference phase (evaluation during fit) runs what lower() runs: no dropout, the batch
    norm on its moving statistics (fused into its conv), the same kernels; its step runs the training form and
    reads its own loss (step_loss)."""
    g = compile_spec(SPEC, "spec.py", 2)
    params = init_params(g, 5)
    rng = fresh_rng()
    inputs = {"image": rng.standard_normal((2, 5, 5, 2)).astype(np.float32),
              "label": np.eye(3, dtype=np.float32)[[0, 1]]}
    infer, train = lower(g), lower(g, training=True)
    assert [train.kernels[k].op for k in train.phases["inference"]] == [k.op for k in infer.kernels]
    assert train.step_loss is not None and train.step_loss != train.outputs["loss"]
    assert not {"dropout", "bn_stats"} & {train.kernels[k].op for k in train.phases["inference"]}
    assert {"dropout", "bn_stats"} <= {train.kernels[k].op for k in train.phases["forward"]}
    a, b = Session(infer, device), Session(train, device)
    a.set_params(params)
    b.set_params(params)
    want, got = a.run(inputs), b.run(inputs)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6, atol=1e-6)
    b.seed = 3
    b.step(inputs, 0.0)   # lr 0: the weights stay, the moving statistics move
    step_loss = b.drain()[0][1]
    ref = numpy_ref.evaluate(g, inputs, params, seed=3, step=1)
    assert abs(step_loss - float(ref[g.loss])) <= 1e-5 * abs(float(ref[g.loss]))


def test_rate_zero_is_no_op():
    g = compile_spec("x = Input(3)\nOutput(dropout(x, 0.0), name='y')\n", "spec.py", 1)
    assert not any(n.op is Op.DROPOUT for n in g.nodes)


@pytest.mark.gpu
@pytest.mark.e2e
def test_bundle_draws_the_same_masks(device, tmp_path):
    """One training step in Node (the exported bundle, Dawn) with seed S gives the weights (the batch norm's moving
    statistics included) one Session step with seed S gives; with seed S + 1 the masks, and so the loss,
    differ. predict() is the inference pass (no dropout, moving statistics) in both."""
    g = compile_spec(SPEC, "spec.py", 2)
    params = init_params(g, 4)
    rng = fresh_rng()
    inputs = {"image": rng.standard_normal((2, 5, 5, 2)).astype(np.float32),
              "label": np.eye(3, dtype=np.float32)[[1, 2]]}
    write_bundle(tmp_path, g, params, train=True)
    seed, lr = int(rng.integers(0, dropout.MAX_SEED)), 0.01
    result = run_node(tmp_path, {"seed": seed, "predict": plain({"image": inputs["image"]}),
                                 "train": {"inputs": plain(inputs), "lr": lr, "steps": 1}})
    infer = Session(lower(g), device)
    infer.set_params(params)
    assert rel_err(result["outputs"]["logits"], infer.run({"image": inputs["image"]})["logits"]) < 1e-4

    def python_step(s: int) -> tuple[float, dict[str, np.ndarray]]:
        session = Session(lower(g, training=True), device)
        session.set_params(params)
        session.seed = s
        session.step(inputs, lr)
        return session.drain()[0][1], session.get_params()

    loss, trained = python_step(seed)
    assert abs(result["losses"][0] - loss) <= 1e-4 * abs(loss)
    for name, value in trained.items():
        assert np.max(np.abs(np.float32(result["trainedWeights"][name]) - value.reshape(-1))) < 1e-3 * lr, name
    other_loss, _ = python_step(seed + 1)
    assert abs(other_loss - loss) > 1e-3 * abs(loss)   # another seed: other masks, another loss
