"""Transfer learning end to end (examples/transfer_digits.py): a backbone trained on digits 0-6, then the
unseen digits 7-9 from 6 examples each (--shots 6) through a KNN head on its features and through a dense head trained
with the backbone frozen; both must beat chance (1/3) by a wide margin on the held-out 7-9 digits."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import wgslgrad
from wgslgrad.datasets import digits
from wgslgrad.knn import KNNClassifier

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.gpu
@pytest.mark.e2e
def test_transfer_digits_knn_and_frozen_dense_head(tmp_path, device):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp")}
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "transfer_digits.py"), str(tmp_path), "--quick",
                        "--shots", "6"],
                       capture_output=True, text=True, timeout=900, env=env, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    results = {line.split()[1]: float(line.split()[2]) for line in r.stdout.splitlines() if line.startswith("RESULT ")}
    print(results)
    assert results["knn_7-9"] >= 0.6, r.stdout
    assert results["dense_head_7-9"] >= 0.6, r.stdout
    assert results["backbone_unchanged"] == 1.0    # trainable=False: fit() left the loaded backbone as it was
    assert results["backbone_0-6"] > 0.4            # 20 steps on 0-6: well above its chance (1/7)
    assert {"model.js", "model.json", "knn.js"} <= {f.name for f in (tmp_path / "web").iterdir()}
    assert "trainStep" in (tmp_path / "web" / "head" / "model.js").read_text()   # knn.html's "Train head" bundle
    knn = KNNClassifier.load(tmp_path / "digits_7-9.knn", device)
    assert knn.class_example_count() == {7: 6, 8: 6, 9: 6}   # "--shots 6" is read as 6
    assert "6 examples per new digit" in r.stdout

    # The page's half: the exported knn.js loads the same examples file and gives the same answers on the
    # backbone's features of the held-out 7-9 digits.
    from test_bundle import JS_DIR, node_env
    backbone = wgslgrad.compile(ROOT / "examples" / "digits_backbone.py")
    backbone.load_weights(tmp_path / "backbone.safetensors")
    _, test = digits()
    pixels = test["pixels"][np.isin(test["label"].argmax(-1), [7, 8, 9])][:40]
    feats = backbone.features(pixels, output="features")
    ops = [{"op": "load", "path": str(tmp_path / "digits_7-9.knn")}]
    ops += [{"op": "predict", "x": [float(v) for v in f], "k": 3} for f in feats]
    (tmp_path / "ops.json").write_text(json.dumps(ops))
    run = subprocess.run(["node", "run_knn.mjs", str(tmp_path / "web" / "knn.js"), str(tmp_path / "ops.json"),
                          str(tmp_path / "js.json")], cwd=JS_DIR, env=dict(node_env()), capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads((tmp_path / "js.json").read_text())["results"]
    want = knn.predict_class(feats, 3)
    assert got[0] is None and len(got) == len(want) + 1
    for g, w in zip(got[1:], want):
        assert g == {"label": str(w["label"]), "classIndex": w["class_index"],
                     "confidences": {str(k): v for k, v in w["confidences"].items()}}


def test_features_from_any_output(device):
    model = wgslgrad.compile(ROOT / "examples" / "digits_backbone.py", batch=4, seed=3)
    x = np.random.default_rng(0).uniform(0, 16, (6, 8, 8, 1)).astype(np.float32)
    out = model.predict(x)
    feats = model.features(x, output="features")
    assert feats.shape == (6, 64) and np.array_equal(feats, out["features"])
    assert np.array_equal(model.features(x[0], output="probabilities"), out["probabilities"][:1])
    with pytest.raises(ValueError, match="say which with output="):
        model.features(x)
    with pytest.raises(ValueError, match="no Output named 'nope': the spec's Outputs are features, logits"):
        model.features(x, output="nope")


def test_frozen_backbone_trains_with_fewer_dispatches():
    """trainable=False: no gradient kernels for the frozen layers, in Python and in the bundle (which runs the
    same training Program): 11 dispatches per step instead of 23 for the digits backbone."""
    from wgslgrad.compiler.frontend import load_spec
    from wgslgrad.compiler.lower import lower
    whole = lower(load_spec(ROOT / "examples" / "digits_backbone.py", batch=15), training=True).kernels
    frozen = lower(load_spec(ROOT / "examples" / "digits_head.py", batch=15), training=True).kernels
    print(f"dispatches per training step: {len(whole)} trainable, {len(frozen)} with the backbone frozen")
    assert len(frozen) < len(whole) / 2
    grads = [k.name for k in frozen if "_dw_" in k.name or "_dx_" in k.name]
    assert grads == ["dense_dw_25"], grads   # the head's weights only: no backbone gradient, no dx at all


def test_transfer_digits_options_both_forms_and_usage_errors():
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from transfer_digits import parse_args
    finally:
        sys.path.remove(str(ROOT / "examples"))
    for argv in (["--quick", "--shots", "3"], ["--quick", "--shots=3"]):
        args = parse_args(argv)
        assert (args.out, args.shots, args.quick, args.seed) == (None, 3, True, 0)
    args = parse_args(["run", "--seed", "2"])
    assert (args.out, args.shots, args.seed) == (Path("run"), 5, 2)
    for argv, message in [(["--shots", "x"], "argument --shots: invalid whole number value: 'x'"),
                          (["--shots", "0"], "argument --shots: must be 1 or more, not 0"),
                          (["--bogus"], "unrecognized arguments: --bogus")]:
        r = subprocess.run([sys.executable, str(ROOT / "examples" / "transfer_digits.py"), *argv],
                           capture_output=True, text=True, timeout=120, check=False)
        assert (r.returncode, r.stdout) == (2, "") and r.stderr.endswith(f"error: {message}\n"), r.stderr
