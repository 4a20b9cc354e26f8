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
    assert "has shape [3,8,8,2], the spec's Input needs [N,8,8,1]" in r.stderr


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
