"""Training end to end on the GPU path: real accuracy on held-out digits, a falling landmark loss,
NaN detection that keeps the last good checkpoint, resume with a new rate, and the CLI."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from wgslgrad import datasets
from wgslgrad.compiler.frontend import load_spec
from wgslgrad.compiler.lower import lower
from wgslgrad.export import read_weights, write_weights
from wgslgrad.runtime.checkpoint import load_checkpoint
from wgslgrad.runtime.data import take
from wgslgrad.runtime.session import Session
from wgslgrad.runtime.trainer import Diverged, FitConfig, evaluate, fit

pytestmark = [pytest.mark.gpu, pytest.mark.e2e]
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def digits():
    return datasets.digits()


def _session(spec: str, device, batch: int | None = None, seed: int = 0):
    g = load_spec(EXAMPLES / spec, batch=batch)
    s = Session(lower(g, training=True), device)
    s.init_params(seed=seed)
    return g, s


def test_digits_cnn_reaches_97_percent_on_held_out_digits(digits, device, tmp_path):
    train, test = digits
    g, session = _session("digits.py", device)
    history = fit(session, g, train, FitConfig(epochs=12, lr=0.003, schedule="step:6:0.3", progress=False),
                  log=lambda s: None)
    result = evaluate(session, g, test)
    print(f"digits: held-out accuracy {result['accuracy']:.4f}, loss {result['loss']:.4f}")
    assert history.epochs[-1]["loss"] < history.epochs[0]["loss"]
    assert result["accuracy"] >= 0.97

    # The same weights after a uint8 TF.js export and read-back: report the accuracy change.
    session.set_params(read_weights_after_export(session.get_params(), tmp_path, "uint8"))
    quantized = evaluate(session, g, test)
    print(f"digits: uint8 export changes held-out accuracy by {quantized['accuracy'] - result['accuracy']:+.4f}")
    assert quantized["accuracy"] >= result["accuracy"] - 0.01


def read_weights_after_export(params, folder, quantize):
    write_weights(folder, params, quantize)
    return read_weights(folder / "model.json")


def test_landmark68_loss_falls_on_synthetic_faces(device):
    data = datasets.synthetic_landmarks(8, seed=np.random.default_rng().integers(1000))
    g, session = _session("landmark68.py", device, batch=4)
    halves = (take(data, np.arange(0, 4)), take(data, np.arange(4, 8)))

    def loss_on_all() -> float:
        return float(np.mean([session.run(b)["loss"] for b in halves]))

    before, losses = loss_on_all(), []
    for _ in range(6):
        for batch in halves:
            session.step(batch, 0.003)
        losses += [l for _, l in session.poll()]
    losses += [l for _, l in session.drain()]
    after = loss_on_all()
    print(f"landmark68: loss on 8 synthetic faces {before:.4f} -> {after:.4f} in 12 steps")
    assert len(losses) == 12 and all(np.isfinite(losses))
    assert after < 0.25 * before, losses


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(digits, device, tmp_path):
    train, _ = digits
    small = take(train, np.arange(64))
    g, session = _session("digits.py", device)
    fit(session, g, small, FitConfig(epochs=1, out=tmp_path, progress=False), log=lambda s: None)
    ckpt = tmp_path / "checkpoint.safetensors"
    before = ckpt.read_bytes()
    poisoned = {k: v.copy() for k, v in small.items()}
    poisoned["label"][40:] = np.nan   # the second batch of the epoch (unshuffled) has a NaN loss
    with pytest.raises(Diverged, match=r"the loss is nan at step 4; the last good checkpoint is .*checkpoint"):
        fit(session, g, poisoned, FitConfig(epochs=1, out=tmp_path, progress=False, shuffle=False,
                                             resume=ckpt), log=lambda s: None)
    assert ckpt.read_bytes() == before
    assert (tmp_path / "history.json").exists() and (tmp_path / "loss.png").exists()


class InterruptDuringStep:
    """A session that receives Ctrl-C in the middle of its step number `at`."""

    def __init__(self, session: Session, at: int):
        self.session, self.at, self.calls = session, at, 0

    def step(self, inputs, lr):
        self.calls += 1
        if self.calls == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        return self.session.step(inputs, lr)

    def __getattr__(self, name):
        return getattr(self.session, name)


def test_ctrl_c_finishes_the_step_in_flight_then_saves(digits, device, tmp_path):
    train, _ = digits
    small = take(train, np.arange(96))
    g, session = _session("digits.py", device)
    logs: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        fit(InterruptDuringStep(session, at=2), g, small, FitConfig(epochs=3, out=tmp_path, progress=False),
            log=logs.append)
    _, _, meta = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert meta["step"] == 2 and meta["epoch"] == 0 and [s for s, _ in meta["history"]["steps"]] == [1, 2]
    assert logs == ["interrupted: finishing the steps in flight and saving"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_resume_continues_step_count_and_weights_with_a_new_rate(digits, device, tmp_path):
    train, _ = digits
    small = take(train, np.arange(96))
    g, session = _session("digits.py", device)
    fit(session, g, small, FitConfig(epochs=2, out=tmp_path, progress=False), log=lambda s: None)
    params, state, meta = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert meta["step"] == 6 and meta["epoch"] == 2 and len(meta["history"]["epochs"]) == 2
    _, fresh = _session("digits.py", device, seed=1)
    logs: list[str] = []
    history = fit(fresh, g, small, FitConfig(epochs=1, lr=0.0005, out=tmp_path, progress=False,
                                             resume=tmp_path / "checkpoint.safetensors"), log=logs.append)
    assert "resumed" in logs[0] and "learning rate 0.0005" in logs[0]
    assert [e["epoch"] for e in history.epochs] == [1, 2, 3] and history.epochs[-1]["lr"] == 0.0005
    assert history.steps[-1][0] == 9
    _, _, meta = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert meta["step"] == 9 and meta["epoch"] == 3


def _write_digits(tmp_path, digits, n=96):
    train, test = digits
    np.savez(tmp_path / "train.npz", **take(train, np.arange(n)))
    np.savez(tmp_path / "test.npz", **take(test, np.arange(64)))


def test_train_cli_writes_checkpoint_history_and_plot(digits, tmp_path):
    _write_digits(tmp_path, digits)
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "wgslgrad", "train", str(EXAMPLES / "digits.py"), "--data",
                        str(tmp_path / "train.npz"), "--val", str(tmp_path / "test.npz"), "--epochs", "2",
                        "--out", str(out), "--no-progress"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "epoch 2:" in r.stderr and "val_accuracy" in r.stderr and "held-out: loss" in r.stdout
    shown = {p.name for p in out.iterdir() if not p.name.startswith(".")}  # (.state: see runtime/run_folder.py)
    assert shown == {"checkpoint.safetensors", "history.json", "loss.png"}
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_train_cli_refuses_bad_data_and_corrupt_checkpoint(digits, tmp_path):
    _write_digits(tmp_path, digits)
    np.savez(tmp_path / "bad.npz", pixels=np.zeros((4, 8, 8, 3)), label=np.zeros((4, 10)))
    cmd = [sys.executable, "-m", "wgslgrad", "train", str(EXAMPLES / "digits.py"), "--no-progress"]
    r = subprocess.run(cmd + ["--data", str(tmp_path / "bad.npz")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and "[4,8,8,3]" in r.stderr and "[N,8,8,1]" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    r = subprocess.run(cmd + ["--data", str(tmp_path / "train.npz"), "--resume", str(tmp_path / "broken.safetensors")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and "broken.safetensors: corrupt checkpoint" in r.stderr and "Traceback" not in r.stderr


def test_ctrl_c_saves_and_exits_cleanly(digits, tmp_path):
    _write_digits(tmp_path, digits, n=1400)
    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "wgslgrad", "train", str(EXAMPLES / "digits.py"), "--data",
                          str(tmp_path / "train.npz"), "--epochs", "50", "--out", str(out), "--no-progress"],
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    assert p.stderr is not None
    for line in p.stderr:  # wait until training is under way (the first epoch is done)
        if line.startswith("epoch 1:") or time.time() > deadline:
            break
    p.send_signal(signal.SIGINT)
    rest = p.stderr.read()
    assert p.wait(timeout=300) == 130, rest
    assert "Traceback" not in rest and "checkpoint saved" in rest
    params, _, meta = load_checkpoint(out / "checkpoint.safetensors")
    assert meta["step"] >= 44 and "dense_1/weights" in params
