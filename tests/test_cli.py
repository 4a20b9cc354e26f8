"""The command line: each stage's output, exit codes, and error messages that point at the source."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wgslgrad.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wgslgrad", *args], capture_output=True, text=True, timeout=600)


def test_summary_reports_face_landmark_parameter_count(capsys):
    assert main(["summary", str(EXAMPLES / "landmark68.py")]) == 0
    out = capsys.readouterr().out
    assert "parameters: 356,840 (356,840 trainable)" in out
    assert "dense0/conv0" in out and "separable_conv2d" in out and "[16,7,7,256]" in out


def test_summary_rows_of_the_digits_cnn(capsys):
    assert main(["summary", str(EXAMPLES / "digits.py"), "--batch", "1"]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[2:10]}
    assert rows["conv2d_1"] == ["conv2d", "[1,8,8,32]", "4,640", "18.56KB", "593.92K"]  # 2*8*8*32*(3*3*16) + bias
    assert rows["flatten_0"][:3] == ["reshape", "[1,512]", "0"]
    assert rows["dense_0"][:3] == ["dense", "[1,64]", "32,832"]


def test_check_ir_and_wgsl(capsys, tmp_path):
    spec = EXAMPLES / "digits.py"
    assert main(["check", str(spec)]) == 0
    assert "ok" in capsys.readouterr().err
    assert main(["ir", str(spec), "--batch", "2"]) == 0
    ir = capsys.readouterr().out
    assert "conv2d[pad=(1,1,1,1),stride=(1,1)]" in ir and ": f32[2,8,8,32]" in ir and "loss = %" in ir
    assert main(["wgsl", str(spec), "--batch", "2", "-o", str(tmp_path / "k")]) == 0
    files = sorted((tmp_path / "k").glob("*.wgsl"))
    assert files and all("@compute" in f.read_text() for f in files)
    assert main(["wgsl", str(spec), "--batch", "2", "--train"]) == 0
    headers = [line for line in capsys.readouterr().out.splitlines() if line.startswith("// ---- kernel")]
    phases = [line.rsplit(" phase=", 1)[1] for line in headers]
    assert len(headers) > len(files) and phases[-1] == "optimizer" and "adam" in headers[-1]
    first = phases.index("backward")   # the softmax output is computed for evaluation only (inference)
    assert set(phases[:first]) == {"forward", "inference"} and set(phases[first:-1]) == {"backward"}


def test_wgsl_train_needs_a_loss(tmp_path, capsys):
    spec = tmp_path / "plain.py"
    spec.write_text("x = Input(4)\nOutput(dense(x, 2))\n")
    assert main(["wgsl", str(spec), "--train"]) == 1
    assert "no Train(loss=...)" in capsys.readouterr().err
    assert main(["export", str(spec), "--js", "--train", "-o", str(tmp_path / "web")]) == 1
    assert "wgslgrad: error: the spec has no Train(loss=...): there is no training step to export" in capsys.readouterr().err
    assert not (tmp_path / "web").exists()


def test_spec_errors_exit_1_with_caret(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("x = Input(8, 8, 3)\ny = conv2d(x, 4)\nz = dense(y, 10) + Input(3)\nOutput(z)\n")
    r = run_cli("check", str(bad))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"{bad}:3:18: error:" in r.stderr and "[1,10]" in r.stderr and "[1,3]" in r.stderr
    lines = r.stderr.splitlines()
    caret = next(i for i, line in enumerate(lines) if line.strip().endswith("^"))
    assert "dense(y, 10) + Input(3)" in lines[caret - 1]


def test_usage_errors_exit_2_and_missing_file_exits_1(tmp_path):
    assert run_cli().returncode == 2
    assert run_cli("summary").returncode == 2
    r = run_cli("summary", str(tmp_path / "nope.py"))
    assert r.returncode == 1 and "nope.py" in r.stderr and "Traceback" not in r.stderr
    assert run_cli("run", str(EXAMPLES / "digits.py"), "--batch", "0").returncode == 2


@pytest.mark.gpu
def test_run_forward_on_gpu(tmp_path):
    out = tmp_path / "out.npz"
    r = run_cli("run", str(EXAMPLES / "digits.py"), "--batch", "3", "--repeat", "1", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "adapter:" in r.stderr and "logits: [3,10]" in r.stdout
    probs = np.load(out)["probabilities"]
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.gpu
def test_run_with_bad_input_file_is_refused(tmp_path):
    data = tmp_path / "in.npz"
    np.savez(data, pixels=np.zeros((3, 8, 8, 2)))
    r = run_cli("run", str(EXAMPLES / "digits.py"), "--batch", "3", "--input", str(data))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "has shape [3,8,8,2] but the spec's Input is [N,8,8,1]" in r.stderr


def test_export_quantized_then_import_round_trips(tmp_path, capsys):
    spec = str(EXAMPLES / "digits.py")
    assert main(["export", spec, "--quantize", "uint8", "-o", str(tmp_path / "w")]) == 0
    assert "(25% of float32)" in capsys.readouterr().err
    ckpt = tmp_path / "c.safetensors"
    assert main(["import", spec, "--weights", str(tmp_path / "w" / "model.json"), "-o", str(ckpt)]) == 0
    from wgslgrad.export import read_weights
    from wgslgrad.runtime.checkpoint import load_checkpoint
    imported, exported = load_checkpoint(ckpt)[0], read_weights(tmp_path / "w" / "model.json")
    assert imported.keys() == exported.keys()
    for k in imported:
        np.testing.assert_array_equal(imported[k], exported[k])


def test_import_refuses_a_spec_mismatch_naming_both_shapes(tmp_path):
    from wgslgrad.export import write_weights
    write_weights(tmp_path / "w", {"conv2d_0/filters": np.zeros((3, 3, 1, 8), np.float32)})
    r = run_cli("import", str(EXAMPLES / "digits.py"), "--weights", str(tmp_path / "w" / "model.json"),
                "-o", str(tmp_path / "c.safetensors"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "[3,3,1,16]" in r.stderr and "[3,3,1,8]" in r.stderr and not (tmp_path / "c.safetensors").exists()


# -- the API's verbs on the command line (issue 10) ----------------------------------------------------------
TINY = """x = Input(6)
target = Input(3)
h = dense(x, 8, activation="relu", name="backbone/fc"{frozen})
y = dense(h, 3, name="head")
Output(y)
Train(loss=mse(y, target), optimizer=Adam(lr=0.01), batch=4, epochs=2)
"""


def tiny(tmp_path: Path, frozen: bool = False) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    spec, data = tmp_path / "tiny.py", tmp_path / "tiny.npz"
    spec.write_text(TINY.format(frozen=", trainable=False" if frozen else ""))
    x = rng.standard_normal((10, 6)).astype(np.float32)
    np.savez(data, x=x, target=np.tanh(x[:, :3]))
    return spec, data


@pytest.mark.gpu
def test_train_epochs_0_trains_nothing_and_frozen_layers_warn(tmp_path, capsys):
    spec, data = tiny(tmp_path, frozen=True)
    assert main(["train", str(spec), "--data", str(data), "--epochs", "0", "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "note: --epochs 0: no training" in err and "epoch 1" not in err
    assert not (tmp_path / "run").exists()
    assert ("wgslgrad: warning: 2 frozen parameters (trainable=False, e.g. backbone/fc/weights) keep their random "
            "initial values: load trained weights first (load_weights, or --init)") in err


@pytest.mark.gpu
def test_run_weights_any_number_of_samples_one_array_per_output(tmp_path, capsys):
    import wgslgrad
    spec = str(EXAMPLES / "digits.py")
    rng = np.random.default_rng()
    model = wgslgrad.compile(spec, seed=int(rng.integers(1 << 30)))
    model.save_weights(tmp_path / "w.safetensors")
    pixels = rng.uniform(0, 16, (37, 8, 8, 1)).astype(np.float32)   # 37: one batch of 32 and 5 more
    np.savez(tmp_path / "in.npz", pixels=pixels)
    assert main(["run", spec, "--weights", str(tmp_path / "w.safetensors"), "--input", str(tmp_path / "in.npz"),
                 "--repeat", "0", "-o", str(tmp_path / "out.npz")]) == 0
    assert "logits: [37,10]" in capsys.readouterr().out
    with np.load(tmp_path / "out.npz") as out:
        assert sorted(out.files) == ["logits", "probabilities"]
        want = model.predict(pixels)
        for k in out.files:
            np.testing.assert_allclose(out[k], want[k], rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
def test_run_with_o_times_nothing_unless_repeat_is_given(tmp_path, capsys):
    argv = ["run", str(EXAMPLES / "digits.py"), "--batch", "2"]
    assert main([*argv, "-o", str(tmp_path / "o.npz")]) == 0
    err = capsys.readouterr().err
    assert "first run" in err and "median of" not in err and (tmp_path / "o.npz").exists()
    assert main([*argv, "-o", str(tmp_path / "o.npz"), "--repeat", "2"]) == 0
    assert "a batch (median of 2)" in capsys.readouterr().err
    assert main(argv) == 0
    assert "a batch (median of 5)" in capsys.readouterr().err


@pytest.mark.gpu
def test_predict_images_prints_top_classes_and_evaluate_prints_metrics(tmp_path, capsys):
    from PIL import Image

    import wgslgrad
    spec = str(EXAMPLES / "digits.py")
    model = wgslgrad.compile(spec, seed=3)
    model.save_weights(tmp_path / "w.safetensors")
    rng = np.random.default_rng()
    paths = []
    for i, size in enumerate((8, 24)):           # any size: resized to the Input's 8x8
        paths.append(tmp_path / f"img{i}.png")
        Image.fromarray(rng.integers(0, 17, (size, size), dtype=np.uint8)).save(paths[-1])
    argv = ["predict", spec, "--weights", str(tmp_path / "w.safetensors"), *map(str, paths)]
    assert main([*argv, "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{paths[0]}: ") and lines[0].count("%)") == 2
    assert main([*argv, "--scale", "0.5", "-o", str(tmp_path / "p.npz")]) == 0
    with np.load(tmp_path / "p.npz") as out:
        pixels = 0.5 * np.asarray(Image.open(paths[0]), np.float32)[None, ..., None]
        np.testing.assert_allclose(out["probabilities"][0], model.predict(pixels)["probabilities"][0], rtol=1e-5)
    assert main([*argv, "--scale", "16/255", "-o", str(tmp_path / "p.npz")]) == 0   # a fraction, as README says
    with np.load(tmp_path / "p.npz") as out:
        pixels = 16 / 255 * np.asarray(Image.open(paths[0]), np.float32)[None, ..., None]
        np.testing.assert_allclose(out["probabilities"][0], model.predict(pixels)["probabilities"][0], rtol=1e-5)
    r = run_cli(*argv, "--scale", "16/0")
    assert r.returncode == 2 and r.stderr.endswith("error: argument --scale: a number or a fraction A/B, not '16/0'\n")
    (tmp_path / "notes.txt").write_text("not an image")
    r = run_cli("predict", spec, "--weights", str(tmp_path / "w.safetensors"), str(tmp_path / "notes.txt"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"{tmp_path / 'notes.txt'}: not an image that can be read" in r.stderr

    test = tmp_path / "test.npz"
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 45)]
    np.savez(test, pixels=rng.uniform(0, 16, (45, 8, 8, 1)).astype(np.float32), label=labels)
    assert main(["evaluate", spec, "--weights", str(tmp_path / "w.safetensors"), "--data", str(test)]) == 0
    out = capsys.readouterr().out
    got = model.evaluate(str(test))
    assert out.strip() == f"{test}: 45 samples: loss {got['loss']:.4f}, accuracy {got['accuracy']:.4f}"


def test_evaluate_with_another_models_weights_says_so_first(tmp_path, capsys):
    import wgslgrad
    other = tmp_path / "lm68_tiny.safetensors"
    wgslgrad.compile(str(EXAMPLES / "landmark68_tiny.py")).save_weights(other)
    data = tmp_path / "d.npz"
    np.savez(data, pixels=np.zeros((2, 8, 8, 1)), label=np.eye(10)[:2])
    assert main(["evaluate", str(EXAMPLES / "digits.py"), "--weights", str(other), "--data", str(data)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"wgslgrad: error: {other} holds none of this spec's 8 parameters: it looks like another "
                          "model's weights (the spec's first: conv2d_0/filters [3,3,1,16]; the file holds ")
    assert f"\n{other}: cannot import the weights:\n  conv2d_0/filters: not in the weights" in err
    assert "Traceback" not in err


def test_import_map_prefix_skip_and_what_the_weights_hold(tmp_path, capsys):
    import wgslgrad
    from wgslgrad.export import write_weights
    spec, _ = tiny(tmp_path)
    weights = {k.replace("backbone/", "features_0/"): v for k, v in wgslgrad.compile(str(spec)).get_weights().items()}
    weights["head/weights"] = np.zeros((8, 7), np.float32)
    write_weights(tmp_path / "w", weights)
    ckpt = str(tmp_path / "c.safetensors")
    assert main(["import", str(spec), "--weights", str(tmp_path / "w"), "-o", ckpt]) == 1
    err = capsys.readouterr().err
    assert "backbone/fc/weights: not in the weights" in err
    assert ("the weights hold 4 tensors:\n  features_0/fc/weights [6,8]\n  features_0/fc/bias [8]\n"
            "  head/weights [8,7]") in err
    assert "map spec names onto the weights' names with --map" in err and "--skip NAME" in err
    assert main(["import", str(spec), "--weights", str(tmp_path / "w"), "--map", '{"backbone/": "features_0/"}',
                 "--skip", "head", "-o", ckpt]) == 0
    assert "note: head/weights: skipped, keeps its initial value" in capsys.readouterr().err
    from wgslgrad.runtime.checkpoint import load_checkpoint
    np.testing.assert_array_equal(load_checkpoint(ckpt)[0]["backbone/fc/weights"], weights["features_0/fc/weights"])


def test_export_js_warns_about_the_batch_and_lists_the_manifest(tmp_path, capsys):
    spec = str(EXAMPLES / "digits.py")
    assert main(["export", spec, "--js", "-o", str(tmp_path / "web")]) == 0
    captured = capsys.readouterr()
    assert ("wgslgrad: warning: the bundle is compiled for batch 32: a page's predict() must pass 32 samples at "
            "once (export with batch=1, or --batch 1, for one image at a time)") in captured.err
    assert f"{tmp_path / 'web' / 'weights_manifest.json'}  " in captured.out
    assert main(["export", spec, "--batch", "1", "--js", "-o", str(tmp_path / "web1")]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["export", spec, "-o", str(tmp_path / "w")]) == 0
    assert f"{tmp_path / 'w' / 'weights_manifest.json'}  " in capsys.readouterr().out



def test_export_js_knn_writes_knn_js_beside_the_bundle(tmp_path, capsys):
    from wgslgrad.export.knn_js import render_knn_js
    spec, web = str(EXAMPLES / "digits.py"), tmp_path / "web"
    assert main(["export", spec, "--batch", "1", "--js", "--train", "--knn", "-o", str(web)]) == 0
    out = capsys.readouterr().out
    assert f"{web / 'knn.js'}  {(web / 'knn.js').stat().st_size:,} bytes" in out
    assert f"{web / 'model.js'}  " in out
    assert (web / "knn.js").read_text(encoding="utf-8") == render_knn_js()
    assert "export class KNNClassifier" in (web / "knn.js").read_text(encoding="utf-8")
    assert "trainStep" in (web / "model.js").read_text(encoding="utf-8")
    for flag in ("--knn", "--train"):  # they add to the bundle: without --js, a usage error before any file
        assert main(["export", spec, flag, "-o", str(tmp_path / "w")]) == 2
        assert f"wgslgrad: error: {flag} needs --js" in capsys.readouterr().err
        assert not (tmp_path / "w").exists()


@pytest.mark.gpu
def test_preview_labels_each_image_from_the_one_hot_input(tmp_path, capsys):
    from PIL import Image
    rng = np.random.default_rng()
    data = tmp_path / "d.npz"
    np.savez(data, pixels=rng.uniform(0, 16, (5, 8, 8, 1)), label=np.eye(10)[[3, 1, 4, 1, 5]])
    for name, arrays in (("plain", {"pixels": rng.uniform(0, 16, (5, 8, 8, 1)), "label": np.full((5, 10), 0.1)}),
                         ("labelled", None)):
        path = data if arrays is None else tmp_path / f"{name}.npz"
        if arrays is not None:
            np.savez(path, **arrays)
        assert main(["preview", str(EXAMPLES / "digits.py"), "--data", str(path), "-o", str(tmp_path / f"{name}.png")]) == 0
    err = capsys.readouterr().err
    assert "labelled from 'label'" in err and err.count("labelled from") == 1
    plain = np.asarray(Image.open(tmp_path / "plain.png"))
    labelled = np.asarray(Image.open(tmp_path / "labelled.png"))[..., :3]
    assert labelled.shape[0] == plain.shape[0] + 14            # one band for the labels under the row
    band = labelled[80:94, : plain.shape[1] // 5]   # under the first image: 8x8 tiles at 8x with a 16-px pad
    assert band.max() > 200                                    # white text on the dark background
    import stat
    assert stat.S_IMODE((tmp_path / "labelled.png").stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    import os
    mask = os.umask(0)
    os.umask(mask)
    return mask
