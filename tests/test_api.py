"""The Python API (wgslgrad.compile -> Model): predict on any number of samples, evaluate, fit with callbacks,
early stopping and keep-best, weights in and out (prefix maps, skip), export, gradcheck, and its messages.
GPU results are checked against the float64 reference (compiler.numpy_ref) on fresh seeded inputs."""
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pytest

import wgslgrad
from wgslgrad.compiler import numpy_ref
from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.runtime.checkpoint import atomic_write, load_checkpoint
from wgslgrad.runtime.history import History

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

REGRESSION = """x = Input(6)
target = Input(3)
h = dense(x, 8, activation="relu", name="backbone/fc")
y = dense(h, 3, name="head")
Output(y)
Train(loss=mse(y, target), optimizer=Adam(lr=0.01), batch=4, epochs=3)
"""

CLASSIFIER = """x = Input(5)
label = Input(4)
logits = dense(dense(x, 8, activation="tanh"), 4)
Output(logits)
Output(softmax(logits), name="probs")
Train(loss=softmax_cross_entropy(logits, label), batch=4)
"""


def seeded() -> np.random.Generator:
    seed = int(np.random.SeedSequence().entropy % (1 << 31))
    print(f"seed {seed}")
    return np.random.default_rng(seed)


def regression_data(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    x = rng.standard_normal((n, 6)).astype(np.float32)
    return {"x": x, "target": np.tanh(x[:, :3] - 0.5 * x[:, 3:]).astype(np.float32)}


def reference(model: wgslgrad.Model, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output and the loss in float64, with the graph compiled at the inputs' own batch."""
    n = len(next(iter(inputs.values())))
    g = compile_spec(model.source, model.filename, n)
    given = {k: inputs.get(k, np.zeros(g.nodes[i].shape)) for k, i in g.inputs.items()}   # labels unused
    values = numpy_ref.evaluate(g, given, model.get_weights(), np.float64)
    out = {k: values[i] for k, i in g.outputs.items()}
    if g.loss is not None and all(k in inputs for k in g.inputs):
        out["loss"] = values[g.loss]
    return out


# -- no GPU -------------------------------------------------------------------------------------------------
def test_compile_from_text_or_path_describes_the_model(tmp_path, capsys):
    spec = tmp_path / "reg.py"
    spec.write_text(REGRESSION)
    for model in (wgslgrad.compile(REGRESSION), wgslgrad.compile(str(spec)), wgslgrad.compile(spec, batch=2)):
        assert model.inputs == {"x": (6,), "target": (3,)} and model.outputs == {"y": (3,)}
        assert model.needed_inputs() == ["x"]
    assert wgslgrad.compile(REGRESSION).batch == 4 and wgslgrad.compile(spec, batch=2).batch == 2
    assert wgslgrad.compile("Output(dense(Input(3), 2))").outputs == {"output_0": (2,)}   # one-line text
    text = wgslgrad.compile(REGRESSION).summary()
    assert "backbone/fc" in capsys.readouterr().out and "parameters: 83" in text   # 6*8+8 + 8*3+3
    assert set(wgslgrad.compile(REGRESSION).get_weights()) == {"backbone/fc/weights", "backbone/fc/bias",
                                                               "head/weights", "head/bias"}


def test_compile_errors_name_the_spec():
    with pytest.raises(wgslgrad.SpecErrors) as e:
        wgslgrad.compile("x = Input(3)\ny = dense(x, 4, actvation='relu')\nOutput(y)\n")
    assert "<spec>:2:" in str(e.value) and "actvation" in str(e.value)
    with pytest.raises(OSError, match="cannot read spec 'no/such/spec.py'"):
        wgslgrad.compile("no/such/spec.py")
    with pytest.raises(ValueError, match="batch must be a positive integer, not 0"):
        wgslgrad.compile(REGRESSION, batch=0)


def test_load_weights_prefix_map_skip_and_the_names_a_file_holds(tmp_path):
    rng = seeded()
    source = wgslgrad.compile(REGRESSION, seed=int(rng.integers(1 << 30)))
    renamed = {k.replace("backbone/", "features_0/"): v for k, v in source.get_weights().items()}
    renamed["head/weights"] = rng.standard_normal((8, 5)).astype(np.float32)   # a head of another shape
    renamed["head/bias"] = np.zeros(5, np.float32)
    from wgslgrad.export import write_weights
    write_weights(tmp_path / "w", renamed)

    model = wgslgrad.compile(REGRESSION, seed=1)
    with pytest.raises(wgslgrad.WeightsError) as e:
        model.load_weights(tmp_path / "w" / "model.json")
    msg = str(e.value)
    assert "backbone/fc/weights: not in the weights" in msg
    assert ("the weights hold 4 tensors:\n  features_0/fc/weights [6,8]\n  features_0/fc/bias [8]\n"
            "  head/weights [8,5]") in msg
    assert "map spec names onto the weights' names with --map (Python: map=)" in msg
    assert "a key ending in '/' maps a prefix" in msg
    assert "head/weights: the spec wants [8,3], the weights have [8,5] (skip it" in msg

    head_before = model.get_weights()["head/weights"]
    notes = model.load_weights(tmp_path / "w" / "weights_manifest.json", map='{"backbone/": "features_0/"}',
                               skip=["head"])
    got = model.get_weights()
    np.testing.assert_array_equal(got["backbone/fc/weights"], source.get_weights()["backbone/fc/weights"])
    np.testing.assert_array_equal(got["head/weights"], head_before)
    assert "head/weights: skipped, keeps its initial value" in notes
    with pytest.raises(wgslgrad.WeightsError, match="prefix 'trunk/' starts no parameter path of the spec"):
        model.load_weights(tmp_path / "w", map={"trunk/": "features_0/"}, skip=["head"])
    with pytest.raises(wgslgrad.WeightsError, match="skip 'neck' names no parameter or scope of the spec"):
        model.load_weights(tmp_path / "w", map={"backbone/": "features_0/"}, skip=["neck"])


def test_files_are_written_with_the_umask_like_any_tool_output(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a.bin", b"x")
        wgslgrad.compile(REGRESSION).save_weights(tmp_path / "c.safetensors")
        History([(1, 1.0)], [{"epoch": 1, "step": 1, "lr": 0.1, "loss": 1.0}]).save(tmp_path / "history.json")
    finally:
        os.umask(old)
    for name in ("a.bin", "c.safetensors", "history.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
    assert not list(tmp_path.glob(".*tmp"))


def test_history_marks_learning_rate_changes_and_finds_the_metric(tmp_path):
    rows = [{"epoch": e, "step": 10 * e, "lr": 0.01 if e < 3 else 0.003, "loss": 1 / e, "val_loss": 1.2 / e,
             "val_accuracy": 0.5 + e / 10} for e in range(1, 5)]
    h = History([(s, 1 / s) for s in range(1, 41)], rows)
    assert h.lr_changes() == [(20, 0.003)] and h.metric() == "accuracy"
    assert History([], [{"epoch": 1, "step": 1, "lr": 0.1, "loss": 1.0, "val_mae": 0.2}]).metric() == "mae"
    h.plot(tmp_path / "loss.png", title="t")
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- on the GPU ---------------------------------------------------------------------------------------------
@pytest.mark.gpu
def test_predict_any_number_of_samples_matches_float64(device):
    rng = seeded()
    model = wgslgrad.compile(CLASSIFIER, seed=int(rng.integers(1 << 30)))
    for n, batch_size in ((1, None), (4, None), (9, None), (9, 2), (5, 8)):
        x = rng.standard_normal((n, 5)).astype(np.float32)
        got = model.predict(x, batch_size=batch_size)
        assert set(got) == {"logits", "probs"} and got["logits"].shape == (n, 4)
        ref = reference(model, {"x": x})
        for k in got:
            np.testing.assert_allclose(got[k], ref[k], rtol=1e-4, atol=1e-5, err_msg=f"{k}, {n} samples")
    empty = model.predict(np.zeros((0, 5), np.float32))
    assert empty["probs"].shape == (0, 4)
    single = wgslgrad.compile(REGRESSION).predict({"x": np.ones((3, 6)), "target": np.ones((3, 3))})
    assert isinstance(single, np.ndarray) and single.shape == (3, 3)   # one Output: an array; labels ignored
    with pytest.raises(wgslgrad.DataError, match=r"predict: array 'x' has shape \[2,4\] but the spec's Input is "
                                                 r"\[N,5\]"):
        model.predict(np.zeros((2, 4)))
    with pytest.raises(wgslgrad.DataError, match=r"predict: no array named x \(given: pixels\)"):
        model.predict({"pixels": np.zeros((2, 5))})
    with pytest.raises(wgslgrad.DataError, match="holds 1 NaN or Inf values"):
        model.predict(np.array([[0, 1, 2, np.nan, 4]]))


@pytest.mark.gpu
def test_evaluate_is_exact_over_a_last_smaller_batch(device):
    rng = seeded()
    model = wgslgrad.compile(REGRESSION, seed=int(rng.integers(1 << 30)))
    data = regression_data(rng, 10)                         # batches of 4, 4 and 2
    got = model.evaluate(data)
    ref = reference(model, data)
    assert set(got) == {"loss", "mae"}
    assert got["loss"] == pytest.approx(float(ref["loss"]), rel=1e-4)
    assert got["mae"] == pytest.approx(float(np.mean(np.abs(ref["y"] - data["target"]))), rel=1e-4)

    clf = wgslgrad.compile(CLASSIFIER, seed=int(rng.integers(1 << 30)))
    x = rng.standard_normal((11, 5)).astype(np.float32)
    labels = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 11)]
    got = clf.evaluate((x, labels))                        # a tuple in Input order
    ref = reference(clf, {"x": x, "label": labels})
    assert got["accuracy"] == pytest.approx(float(np.mean(ref["logits"].argmax(-1) == labels.argmax(-1))))
    assert got["loss"] == pytest.approx(float(ref["loss"]), rel=1e-4)
    with pytest.raises(wgslgrad.DataError, match="evaluate: the data holds no samples"):
        clf.evaluate((x[:0], labels[:0]))
    with pytest.raises(wgslgrad.DataError, match="train: the data holds no samples"):
        clf.fit((x[:0], labels[:0]), epochs=1, verbose=False)
    with pytest.raises(wgslgrad.DataError, match="val: the data holds no samples"):
        clf.fit((x, labels), val=(x[:0], labels[:0]), epochs=1, verbose=False)


@pytest.mark.gpu
def test_fit_calls_back_with_numbers_stops_early_and_keeps_the_best(device, tmp_path):
    rng = seeded()
    model = wgslgrad.compile(REGRESSION, seed=int(rng.integers(1 << 30)))
    train, val = regression_data(rng, 32), regression_data(rng, 11)   # val: batches of 4, 4 and 3
    before = model.evaluate(val)["loss"]
    seen = []

    def record(epoch, step, loss, metrics):
        seen.append((epoch, step, loss, dict(metrics)))

    history = model.fit(train, val=val, epochs=4, callbacks=[record], keep_best=True, out=tmp_path, verbose=False)
    assert [s[:2] for s in seen] == [(1, 8), (2, 16), (3, 24), (4, 32)]
    assert all(type(s[2]) is float and set(s[3]) == {"lr", "val_loss", "val_mae"} for s in seen)
    best = min(seen, key=lambda s: s[3]["val_loss"])
    kept = load_checkpoint(tmp_path / "best.safetensors")
    assert kept[2]["epoch"] == best[0]
    for k, v in model.get_weights().items():
        np.testing.assert_array_equal(v, kept[0][k])
    assert model.evaluate(val)["loss"] == pytest.approx(best[3]["val_loss"], rel=1e-5) and best[3]["val_loss"] < before
    assert len(history.epochs) == 4 and (tmp_path / "checkpoint.safetensors").exists()

    stopped = model.fit(train, epochs=5, callbacks=[lambda e, s, l, m: e == 2], verbose=False)
    assert len(stopped.epochs) == 2                       # a callback returning True stops training
    # A rate too small to move a float32 weight, on unshuffled batches: every epoch's loss is the first one's,
    # so with patience 2 training stops after epoch 3.
    patient = model.fit(train, epochs=6, lr=1e-12, shuffle=False, patience=2, monitor="loss", verbose=False)
    assert [e["epoch"] - patient.epochs[0]["epoch"] for e in patient.epochs] == [0, 1, 2]
    assert len({e["loss"] for e in patient.epochs}) == 1
    assert model.fit(train, epochs=0, verbose=False).epochs == []


@pytest.mark.gpu
def test_load_weights_of_another_model_says_so_first_with_the_path(tmp_path):
    other = tmp_path / "other.safetensors"
    wgslgrad.compile(CLASSIFIER).save_weights(other)
    names = sorted(wgslgrad.compile(CLASSIFIER).get_weights())
    model = wgslgrad.compile(REGRESSION)
    with pytest.raises(wgslgrad.WeightsError) as e:
        model.load_weights(other)
    lead, rest = str(e.value).split("\n", 1)
    assert lead == (f"{other} holds none of this spec's 4 parameters: it looks like another model's weights (the "
                    f"spec's first: backbone/fc/weights [6,8]; the file holds {', '.join(names[:3])}...; if only "
                    "the names differ, --map (map=) names them)")
    assert rest.startswith(f"{other}: cannot import the weights:\n  backbone/fc/weights: not in the weights")
    half = tmp_path / "half"   # some names in common: the details only, with the path
    renamed = {k.replace("backbone/", "trunk/"): v for k, v in model.get_weights().items()}
    from wgslgrad.export import write_weights
    write_weights(half, renamed)
    with pytest.raises(wgslgrad.WeightsError) as e:
        model.load_weights(half)
    assert str(e.value).startswith(f"{half}: cannot import the weights:\n  backbone/fc/weights: not in the weights")


def test_shape_errors_show_the_users_own_shape_and_hint_at_the_usual_slips(device):
    model = wgslgrad.compile(EXAMPLES / "digits.py")
    x = np.zeros((5, 8, 8), np.float32)
    with pytest.raises(wgslgrad.DataError) as e:
        model.predict(x)
    assert str(e.value) == ("predict: array 'pixels' has shape [5,8,8] but the spec's Input is [N,8,8,1]: one "
                            "channel? add the last axis: x[..., None] (shape [5,8,8,1])")
    labels = np.arange(360) % 10
    with pytest.raises(wgslgrad.DataError) as e:
        model.evaluate({"pixels": np.zeros((360, 8, 8, 1)), "label": labels})
    assert str(e.value) == ("evaluate: array 'label' has shape [360] but the spec's Input is [N,10]: class labels "
                            "as whole numbers? The Input takes them one-hot: np.eye(10)[labels]")
    with pytest.raises(wgslgrad.DataError) as e:   # not class indices: no hint
        model.evaluate({"pixels": np.zeros((3, 8, 8, 1)), "label": np.array([0.5, 1, 2])})
    assert str(e.value) == "evaluate: array 'label' has shape [3] but the spec's Input is [N,10]"
    assert model.predict(np.zeros((8, 8, 1)))["probabilities"].shape == (1, 10)   # one sample, no batch axis


def test_fit_refuses_an_out_folder_holding_a_run_unless_asked(device, tmp_path):
    rng = seeded()
    model = wgslgrad.compile(REGRESSION, seed=int(rng.integers(1 << 30)))
    train = regression_data(rng, 8)
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.json").write_text('{"old": 1}')
    with pytest.raises(wgslgrad.RunExistsError) as e:
        model.fit(train, epochs=1, out=run, verbose=False)
    assert str(e.value) == (f'{run} already holds a run: pass resume="{(run / "checkpoint.safetensors").as_posix()}" '
                            "to continue it, or overwrite=True to replace it")
    assert isinstance(e.value, FileExistsError) and os.listdir(run) == ["history.json"]
    assert (run / "history.json").read_text() == '{"old": 1}' and model.history is None
    model.fit(train, epochs=1, out=run, verbose=False, overwrite=True)
    assert load_checkpoint(run / "checkpoint.safetensors")[2]["epoch"] == 1
    assert (run / "history.json").read_text() != '{"old": 1}'
    model.fit(train, epochs=1, out=run, verbose=False, resume=run / "checkpoint.safetensors")
    assert load_checkpoint(run / "checkpoint.safetensors")[2]["epoch"] == 2


def test_fit_warns_about_frozen_layers_without_weights(device, tmp_path):
    spec = REGRESSION.replace('name="backbone/fc")', 'name="backbone/fc", trainable=False)')
    model = wgslgrad.compile(spec)
    data = regression_data(seeded(), 8)
    with pytest.warns(wgslgrad.FrozenWithoutWeightsWarning, match="2 frozen parameters .* keep their random "
                                                                  "initial values: load trained weights first"):
        model.fit(data, epochs=1, verbose=False)
    frozen = model.get_weights()["backbone/fc/weights"]
    model.save_weights(tmp_path / "w.safetensors")
    again = wgslgrad.compile(spec)
    again.load_weights(tmp_path / "w.safetensors")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again.fit(data, epochs=1, verbose=False)
    np.testing.assert_array_equal(again.get_weights()["backbone/fc/weights"], frozen)


@pytest.mark.gpu
def test_weights_round_trip_export_and_gradcheck(device, tmp_path):
    rng = seeded()
    model = wgslgrad.compile(CLASSIFIER, seed=int(rng.integers(1 << 30)))
    x = rng.standard_normal((6, 5)).astype(np.float32)
    want = model.predict(x)["probs"]
    model.save_weights(tmp_path / "m.safetensors")
    written = model.save_weights(tmp_path / "tfjs", quantize="float16")
    assert [os.path.basename(p) for p in written] == ["model.json", "weights_manifest.json",
                                                      "group1-shard1of1.bin"]
    other = wgslgrad.compile(CLASSIFIER, seed=7)
    other.load_weights(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(other.predict(x)["probs"], want)
    other.load_weights(tmp_path / "tfjs")
    np.testing.assert_allclose(other.predict(x)["probs"], want, atol=2e-3)

    with pytest.warns(wgslgrad.BatchWarning, match="the bundle is compiled for batch 4"):
        files = model.export(tmp_path / "web", js=True)
    assert {"model.js", "model.json", "weights_manifest.json"} <= set(files)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.export(tmp_path / "web1", js=True, batch=1, quantize="uint8")
    assert '"batch":1' in (tmp_path / "web1" / "model.js").read_text()

    rows = model.gradcheck()
    assert len(rows) == 4 and all(fd < 1e-5 and gpu < 1e-3 for _, fd, gpu in rows)
