"""The command line against careless and hostile arguments and files: each a one-line message and the
promised exit status (1 spec/data/input, 2 usage, 130 Ctrl-C), found before data or the GPU are touched."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from wgslgrad.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DIGITS = str(EXAMPLES / "digits.py")
OTHER_SPEC = """pixels = Input(8, 8, 1)
label = Input(10)
logits = dense(flatten(pixels), 10, name="head")
Output(logits)
Train(loss=softmax_cross_entropy(logits, label), batch=4)
"""


def cli(capsys, *args: str) -> tuple[int, str]:
    """Exit status and stderr of one in-process command; never a traceback."""
    code = main(list(args))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.fixture
def data(tmp_path) -> Path:
    rng = np.random.default_rng()
    path = tmp_path / "d.npz"
    np.savez(path, pixels=rng.integers(0, 17, (10, 8, 8, 1)).astype(np.float32),
             label=np.eye(10, dtype=np.float32)[rng.integers(0, 10, 10)])
    return path


@pytest.mark.parametrize("args, message", [
    (["--epochs", "-1"], "--epochs must be a whole number, 0 or more, not -1"),
    (["--lr", "-1"], "--lr must be a positive number (not inf or nan), not -1.0"),
    (["--lr", "nan"], "--lr must be a positive number (not inf or nan), not nan"),
    (["--lr", "inf"], "--lr must be a positive number (not inf or nan), not inf"),
    (["--schedule", "step"], "--schedule: bad schedule 'step': use none, step:EVERY[:FACTOR] or plateau:PATIENCE[:FACTOR]"),
    (["--schedule", "step:x"], "--schedule: bad schedule 'step:x': numbers expected after the colon"),
    (["--schedule", "plateau:0.5"], "--schedule: bad schedule 'plateau:0.5': PATIENCE is a whole number of epochs, at least 1"),
    (["--schedule", "step:2:nan"], "--schedule: bad schedule 'step:2:nan': FACTOR must be a positive number"),
    (["--val-split", "1.0"], "--val-split must be a fraction in (0, 1), or 0 for none, not 1.0"),
    (["--val-split", "-0.5"], "--val-split must be a fraction in (0, 1), or 0 for none, not -0.5"),
    (["--val-split", "0.2", "--val", "v.npz"], "give --val or --val-split, not both"),
    (["--seed", "-1"], "--seed must be a whole number from 0 to 2**63-1, not -1"),
    (["--patience", "0"], "--patience must be a whole number of epochs, at least 1, not 0"),
    (["--batch", "0"], "--batch must be a whole number, at least 1, not 0"),
])
def test_bad_train_arguments_exit_2_before_the_data_is_read(capsys, tmp_path, args, message):
    fifo = tmp_path / "d.npz"
    os.mkfifo(fifo)   # reading the data first would block: the arguments are checked before it
    code, err = cli(capsys, "train", DIGITS, "--data", str(fifo), *args)
    assert (code, err) == (2, f"wgslgrad: error: {message}\n")


@pytest.mark.parametrize("command, message", [
    (["overfit", DIGITS, "--data", "d.npz", "--steps", "0"], "--steps must be a whole number, at least 1, not 0"),
    (["overfit", DIGITS, "--data", "d.npz", "--target", "2"], "--target must be a fraction of the start loss, in (0, 1]"),
    (["gradcheck", DIGITS, "--eps", "0"], "--eps must be a positive number (not inf or nan), not 0.0"),
    (["preview", DIGITS, "--data", "d.npz", "--count", "0"], "--count must be a whole number, at least 1, not 0"),
    (["run", DIGITS, "--repeat", "-1"], "--repeat must be a whole number, 0 or more, not -1"),
])
def test_bad_arguments_of_other_commands_exit_2(capsys, command, message):
    code, err = cli(capsys, *command)
    assert code == 2 and err.startswith(f"wgslgrad: error: {message}")


def test_out_on_a_file_or_a_run_folder_is_refused_before_training(capsys, tmp_path, data):
    (tmp_path / "file").write_text("x")
    code, err = cli(capsys, "train", DIGITS, "--data", str(data), "--out", str(tmp_path / "file" / "run"))
    assert (code, err) == (2, (f"wgslgrad: error: --out {tmp_path / 'file' / 'run'}: {tmp_path / 'file'} is a file, "
                              "not a folder\n"))
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.json").write_text("{}")
    code, err = cli(capsys, "train", DIGITS, "--data", str(data), "--out", str(run))
    assert (code, err) == (2, (f"wgslgrad: error: --out {run} already holds a run: add --resume "
                              f"{run / 'checkpoint.safetensors'} to continue it, or --overwrite to replace it\n"))
    code, err = cli(capsys, "export", DIGITS, "-o", str(tmp_path / "file"))
    assert (code, err) == (2, f"wgslgrad: error: -o {tmp_path / 'file'}: {tmp_path / 'file'} is a file, not a folder\n")
    code, err = cli(capsys, "summary", DIGITS, "-o", str(tmp_path))
    assert (code, err) == (2, f"wgslgrad: error: -o {tmp_path} is a folder; name a file\n")


@pytest.mark.parametrize("make, message", [
    (lambda p: np.save(p, np.zeros((4, 8, 8, 1))), "a .npy file (one unnamed array), but the data must be an .npz"),
    (lambda p: np.savez(p, pixels=np.full((4, 8, 8, 1), "x"), label=np.zeros((4, 10))),
     "array 'pixels' ([4,8,8,1], dtype <U1) holds text, not numbers"),
    (lambda p: np.savez(p, pixels=np.zeros((4, 8, 8, 1), [("a", "f4")]), label=np.zeros((4, 10))),
     "holds records (a structured dtype)"),
    (lambda p: np.savez(p, pixels=np.zeros((4, 8, 8, 1), complex), label=np.zeros((4, 10))), "holds complex numbers"),
    (lambda p: np.savez(p, pixels=np.zeros((4, 8, 8, 1), "S1"), label=np.zeros((4, 10))), "holds bytes, not numbers"),
    (lambda p: np.savez(p, pixels=np.zeros((4, 8, 8, 1), "M8[D]"), label=np.zeros((4, 10))), "holds dates"),
    (lambda p: os.mkfifo(p), "cannot read data: not a regular file (a FIFO)"),
], ids=["npy", "str", "structured", "complex", "bytes", "datetime", "fifo"])
def test_bad_data_files_exit_1_before_the_gpu(capsys, tmp_path, make, message):
    path = tmp_path / "d.npz"
    make(path)
    path = path if path.exists() else tmp_path / "d.npz.npy"
    code, err = cli(capsys, "train", DIGITS, "--data", str(path))
    assert code == 1 and err.startswith(f"wgslgrad: error: {path}: ") and message in err and "adapter" not in err


def test_a_header_claiming_233_tib_exits_1(capsys, tmp_path):
    import io
    import zipfile
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False,
                                               "shape": (233 * 2**40 // 512, 8, 8, 1)})
    with zipfile.ZipFile(tmp_path / "d.npz", "w") as zf:
        zf.writestr("pixels.npy", buf.getvalue() + b"\0" * 64)
        zf.writestr("label.npy", b"")
    code, err = cli(capsys, "train", DIGITS, "--data", str(tmp_path / "d.npz"))
    assert code == 1 and "its header claims shape [500363689984,8,8,1] of float64 (233.0 TiB)" in err


def test_booleans_are_read_with_a_note(capsys, tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, pixels=np.ones((4, 8, 8, 1), bool), label=np.eye(10, dtype=bool)[:4])
    code, err = cli(capsys, "preview", DIGITS, "--data", str(path), "-o", str(tmp_path / "p.png"))
    assert code == 0, err
    assert f"note: {path}: array 'pixels' is boolean: read as 0.0 (False) and 1.0 (True)" in err


def test_val_split_leaving_no_training_samples_exits_1(capsys, data):
    code, err = cli(capsys, "train", DIGITS, "--data", str(data), "--val-split", "0.99")
    assert (code, err) == (1, (f"wgslgrad: error: {data}: --val-split holding out 0.99 of 10 samples leaves no "
                              "samples to train on\n"))


def _other_checkpoint(tmp_path) -> Path:
    import wgslgrad
    (tmp_path / "other.py").write_text(OTHER_SPEC)
    path = tmp_path / "other.safetensors"
    wgslgrad.compile(tmp_path / "other.py").save_weights(path)
    return path


def test_resume_or_init_from_another_specs_checkpoint_exits_1_before_the_gpu(capsys, tmp_path, data):
    other = _other_checkpoint(tmp_path)
    code, err = cli(capsys, "train", DIGITS, "--data", str(data), "--resume", str(other))
    assert (code, err) == (1, (f"wgslgrad: error: {other}: has no parameter conv2d_0/filters [3,3,1,16], which the "
                              "spec has (a checkpoint of another spec?)\n"))
    code, err = cli(capsys, "train", DIGITS, "--data", str(data), "--init", str(other))
    assert code == 1 and "adapter" not in err
    assert err == (f"wgslgrad: error: {other} holds none of this spec's 8 parameters: it looks like another model's "
                   "weights (the spec's first: conv2d_0/filters [3,3,1,16]; the file holds head/bias, head/weights; "
                   "if only the names differ, --map (map=) names them)\n")


def test_resume_from_a_checkpoint_missing_a_parameter_or_with_flipped_metadata_exits_1(capsys, tmp_path, data):
    import wgslgrad
    from wgslgrad.runtime.checkpoint import load_checkpoint, save_checkpoint
    full = tmp_path / "full.safetensors"
    wgslgrad.compile(DIGITS).save_weights(full)
    params, _, meta = load_checkpoint(full)
    del params["dense_1/bias"]
    save_checkpoint(tmp_path / "part.safetensors", params, meta=meta)
    code, err = cli(capsys, "train", DIGITS, "--data", str(data), "--resume", str(tmp_path / "part.safetensors"))
    assert code == 1 and "has no parameter dense_1/bias [10], which the spec has" in err
    flipped = full.read_bytes().replace(b"digits.py", b"digits.pz")
    (tmp_path / "flipped.safetensors").write_bytes(flipped)
    code, err = cli(capsys, "train", DIGITS, "--data", str(data), "--resume", str(tmp_path / "flipped.safetensors"))
    assert (code, err) == (1, (f"wgslgrad: error: {tmp_path / 'flipped.safetensors'}: corrupt checkpoint (checksum "
                              "mismatch: the tensors or the metadata changed since it was written)\n"))


def test_history_json_never_holds_a_bare_nan():
    from wgslgrad.runtime.history import History
    h = History([(1, 0.5)], [{"epoch": 1, "step": 1, "loss": float("nan"), "val_loss": float("inf")}])
    text = h.to_json().decode()
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in history.json"))["epochs"][0] == {
        "epoch": 1, "step": 1, "loss": None, "val_loss": None}


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["file", "allow_pickle"])
def test_run_saves_an_output_named_like_a_savez_parameter(tmp_path, name, capsys):
    spec = tmp_path / "s.py"
    spec.write_text(f'x = Input(4)\nOutput(dense(x, 3), name="{name}")\n')
    code, err = cli(capsys, "run", str(spec), "--repeat", "0", "-o", str(tmp_path / "out.npz"))
    assert code == 0, err
    with np.load(tmp_path / "out.npz") as f:
        assert f.files == [name] and f[name].shape == (1, 3)


@pytest.mark.gpu
def test_run_refuses_an_output_name_that_leaves_the_folder(tmp_path, capsys):
    spec = tmp_path / "s.py"
    spec.write_text('x = Input(4)\nOutput(dense(x, 3), name="../up")\n')
    code, err = cli(capsys, "run", str(spec), "--repeat", "0", "-o", str(tmp_path / "out.npz"))
    if code == 1 and f"{spec}:2:" in err:
        return   # the spec itself refuses the name (the compiler's own check): fine too
    assert (code, err.splitlines()[-1]) == (1, (f"wgslgrad: error: cannot save an array named '../up' in "
                                               f"{tmp_path / 'out.npz'}: names are letters, digits, _ - . and / "
                                               "between parts, with no '.' or '..' part"))
    assert not (tmp_path / "out.npz").exists()


def test_ctrl_c_during_start_up_exits_130_with_one_line(tmp_path, data):
    """SIGINT at several moments of start-up (imports, spec, data): 130 and one line, or for the earliest,
    before Python's handler exists, death by SIGINT (which a shell reports as 130 too); never a traceback."""
    seen = []
    for delay in (0.2, 0.4, 0.7, 1.0, 1.6):
        p = subprocess.Popen([sys.executable, "-m", "wgslgrad", "train", DIGITS, "--data", str(data), "--epochs", "50",
                              "--no-progress"], stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
        seen.append((delay, p.returncode))
        if "Fatal Python error: init_import_site" in err:
            continue   # CPython's own start-up (the site module), before any code of this package runs
        assert p.returncode in (130, -signal.SIGINT), (delay, p.returncode, err)
        assert "Traceback" not in err, err
        last = err.strip().splitlines()[-1:] or [""]
        assert last[0] in ("", "wgslgrad: interrupted") or last[0].startswith("stopped by Ctrl-C"), err
    print(f"(delay s, exit status): {seen}")
