"""Checkpoints round-trip, are written atomically, and corrupt files are refused by path."""
import os

import numpy as np
import pytest

from wgslgrad.runtime import checkpoint
from wgslgrad.runtime.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def _params(rng):
    return {"dense0/conv0/filters": rng.standard_normal((3, 3, 3, 8)).astype(np.float32),
            "fc/bias": rng.standard_normal(136).astype(np.float32)}


def test_round_trip(tmp_path):
    rng = np.random.default_rng()
    params, state = _params(rng), {"m": rng.standard_normal(10), "v": rng.random(10)}
    save_checkpoint(tmp_path / "c.safetensors", params, state, {"step": 7, "lr": 0.001})
    p, s, meta = load_checkpoint(tmp_path / "c.safetensors")
    assert meta == {"step": 7, "lr": 0.001}
    assert p.keys() == params.keys() and s.keys() == state.keys()
    for k in params:
        np.testing.assert_array_equal(p[k], params[k])
    np.testing.assert_array_equal(s["m"], state["m"].astype(np.float32))


@pytest.mark.parametrize("damage", ["flip_data", "truncate", "garbage", "empty", "header_len"])
def test_corrupt_checkpoint_is_refused_with_its_path(tmp_path, damage):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, _params(np.random.default_rng()), meta={"step": 1})
    data = bytearray(path.read_bytes())
    if damage == "flip_data":
        data[-5] ^= 0x40
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytearray(b"not a checkpoint at all, just text" * 3)
    elif damage == "empty":
        data = bytearray()
    else:
        data[:8] = (10**12).to_bytes(8, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=str(path).replace(".", r"\.")):
        load_checkpoint(path)


def test_missing_checkpoint_names_path(tmp_path):
    with pytest.raises(CheckpointError, match="nope.safetensors"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_failed_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    old = _params(np.random.default_rng())
    save_checkpoint(path, old, meta={"step": 1})

    def crash(*args):
        raise OSError("disk full")
    monkeypatch.setattr(checkpoint.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _params(np.random.default_rng()), meta={"step": 2})
    p, _, meta = load_checkpoint(path)
    assert meta["step"] == 1
    np.testing.assert_array_equal(p["fc/bias"], old["fc/bias"])
    assert os.listdir(tmp_path) == ["c.safetensors"]  # no temporary file left behind


# ---- the SHA-256 covers the metadata; older checkpoints; another spec's checkpoint --------------------------
def _header_span(data: bytes) -> range:
    return range(8, 8 + int.from_bytes(data[:8], "little"))


def test_every_flipped_header_byte_is_refused_or_changes_nothing(tmp_path):
    """Each byte of the safetensors header (tensor table and metadata) flipped in turn: the load either
    refuses with the path or returns exactly what was saved; never a traceback, never a silent change."""
    rng = np.random.default_rng()
    params, state = _params(rng), {"m": rng.standard_normal(5), "t": np.array([3.0])}
    meta = {"step": 12, "epoch": 3, "lr": 0.001, "history": {"steps": [[11, 0.5], [12, 0.25]],
                                                             "epochs": [{"epoch": 3, "loss": 0.3}]}}
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, params, state, meta)
    good = path.read_bytes()
    refused = unchanged = 0
    for i in _header_span(good):
        for bit in (0x01, 0x20):
            data = bytearray(good)
            data[i] ^= bit
            path.write_bytes(bytes(data))
            try:
                p, s, m = load_checkpoint(path)
            except CheckpointError as e:
                assert str(e).startswith(f"{path}: "), e
                refused += 1
                continue
            assert m == meta and p.keys() == params.keys() and s.keys() == state.keys()
            assert all(np.array_equal(p[k], params[k]) for k in p)
            unchanged += 1
    print(f"{refused} flips refused, {unchanged} harmless (JSON spacing)")
    assert refused > 0.95 * 2 * len(_header_span(good))


def test_renamed_metadata_key_is_refused(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, _params(np.random.default_rng()), meta={"step": 7, "epoch": 2})
    path.write_bytes(path.read_bytes().replace(b'\\"step\\"', b'\\"stap\\"'))
    with pytest.raises(CheckpointError, match=r"c\.safetensors: corrupt checkpoint \(checksum mismatch: the tensors "
                                              r"or the metadata changed since it was written\)"):
        load_checkpoint(path)


def _save_format_1(path, params, meta_text: str) -> None:
    """A checkpoint as this project wrote them before format 2 (the digest covers the tensors only)."""
    from safetensors.numpy import save
    tensors = {f"param/{k}": v for k, v in params.items()}
    header = {"format": checkpoint.OLD_FORMAT, "sha256": checkpoint._digest(tensors), "meta": meta_text}
    path.write_bytes(save(tensors, metadata=header))


def test_format_1_checkpoints_still_load(tmp_path):
    path = tmp_path / "old.safetensors"
    params = _params(np.random.default_rng())
    _save_format_1(path, params, '{"step": 5, "epoch": 1, "lr": 0.01, "history": {"steps": [[5, 1.5]], "epochs": []}}')
    p, _, meta = load_checkpoint(path)
    assert meta["step"] == 5 and np.array_equal(p["fc/bias"], params["fc/bias"])


@pytest.mark.parametrize("meta_text, problem", [
    ('{"step": "5"}', r"malformed checkpoint metadata: 'step' is '5', not a count"),
    ('{"epoch": -1}', r"malformed checkpoint metadata: 'epoch' is -1, not a count"),
    ('{"lr": NaN}', r"malformed checkpoint metadata: 'lr' is nan, not a positive number"),
    ('{"history": {"steps": [[1]], "epochs": []}}', r"malformed checkpoint metadata: a history step is \[1\], not \[step, loss\]"),
    ('{"step": 5', r"unreadable checkpoint metadata"),
    ("[" * 100_000, r"unreadable checkpoint metadata"),
    ('{"step": 1' + "0" * 5000 + "}", r"unreadable checkpoint metadata"),
], ids=["step-str", "epoch-negative", "lr-nan", "history-step", "truncated", "nested", "5000-digits"])
def test_format_1_checkpoint_with_bad_metadata_is_refused_saying_why(tmp_path, meta_text, problem):
    path = tmp_path / "old.safetensors"
    _save_format_1(path, _params(np.random.default_rng()), meta_text)
    with pytest.raises(CheckpointError, match=rf"old\.safetensors: {problem} \(a wgslgrad-checkpoint-1 checkpoint, "
                                              r"whose checksum does not cover its metadata"):
        load_checkpoint(path)


def test_unknown_format_and_other_safetensors_are_refused(tmp_path):
    from safetensors.numpy import save
    path = tmp_path / "other.safetensors"
    path.write_bytes(save({"w": np.zeros(3, np.float32)}))
    with pytest.raises(CheckpointError, match=r"other\.safetensors: not a wgslgrad checkpoint \(no wgslgrad metadata"):
        load_checkpoint(path)
    path.write_bytes(save({"w": np.zeros(3, np.float32)}, metadata={"format": "wgslgrad-checkpoint-9"}))
    with pytest.raises(CheckpointError, match=r"format 'wgslgrad-checkpoint-9'; this version reads "
                                              r"wgslgrad-checkpoint-2 and wgslgrad-checkpoint-1"):
        load_checkpoint(path)


def test_fifo_and_folder_are_refused(tmp_path):
    import signal
    os.mkfifo(tmp_path / "c.safetensors")
    signal.alarm(20)
    try:
        with pytest.raises(CheckpointError, match=r"c\.safetensors: cannot read checkpoint: not a regular file \(a FIFO\)"):
            load_checkpoint(tmp_path / "c.safetensors")
    finally:
        signal.alarm(0)
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint: not a regular file \(a folder\)"):
        load_checkpoint(tmp_path)


def test_non_finite_metadata_is_written_as_null(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, _params(np.random.default_rng()), meta={"history": {"steps": [], "epochs": [
        {"epoch": 1, "loss": float("nan"), "val_loss": float("inf")}]}})
    assert load_checkpoint(path)[2]["history"]["epochs"] == [{"epoch": 1, "loss": None, "val_loss": None}]


@pytest.mark.parametrize("change, message", [
    (lambda p: p.pop("fc/bias"), r"has no parameter fc/bias \[136\], which the spec has"),
    (lambda p: p.update({"fc/bias": np.zeros(10)}), r"parameter fc/bias is \[10\] in the checkpoint but \[136\] in the spec"),
    (lambda p: p.update({"head/w": np.zeros((2, 2))}), r"parameter head/w \[2,2\] is not in the spec"),
], ids=["missing", "shape", "extra"])
def test_another_specs_checkpoint_is_refused_naming_the_first_difference(tmp_path, change, message):
    from wgslgrad.runtime.checkpoint import check_params
    params = _params(np.random.default_rng())
    spec = {k: v.shape for k, v in params.items()}
    check_params("c.safetensors", params, spec)
    change(params)
    with pytest.raises(CheckpointError, match=r"c\.safetensors: " + message + r" \(a checkpoint of another spec\?\)"):
        check_params("c.safetensors", params, spec)


# ---- the run folder: checkpoint, history and plot change together ---------------------------------------------
def _trio(epoch: int) -> dict[str, bytes]:
    from wgslgrad.runtime.checkpoint import checkpoint_bytes
    from wgslgrad.runtime.history import History
    h = History([(epoch, 1.0 / (epoch + 1))], [{"epoch": epoch, "step": epoch, "loss": 1.0 / (epoch + 1)}])
    params = {"w": np.full(1000, epoch, np.float32)}
    return {"checkpoint.safetensors": checkpoint_bytes(params, meta={"epoch": epoch}), "history.json": h.to_json(),
            "loss.png": b"png %d" % epoch}


def _read_trio(folder) -> tuple[int, int, int]:
    import json
    _, _, meta = load_checkpoint(folder / "checkpoint.safetensors")
    history = json.loads((folder / "history.json").read_text())
    return meta["epoch"], history["epochs"][-1]["epoch"], int((folder / "loss.png").read_bytes().split()[1])


def test_run_folder_saves_replace_all_three_files(tmp_path):
    from wgslgrad.runtime.run_folder import holds_a_run, save_run
    run = tmp_path / "run"
    assert not holds_a_run(run)
    for epoch in (1, 2, 3):
        save_run(run, _trio(epoch))
        assert _read_trio(run) == (epoch, epoch, epoch)
    assert holds_a_run(run)
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == [
        "checkpoint.safetensors", "history.json", "loss.png"]
    assert len(list(run.glob(".state-*"))) == 1   # the previous saves' folders are gone
    mode = (run / "checkpoint.safetensors").stat().st_mode & 0o777
    assert mode == 0o666 & ~_umask(), oct(mode)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_run_folder_of_an_older_version_is_taken_over(tmp_path):
    from wgslgrad.runtime.run_folder import save_run
    for name, data in _trio(1).items():   # plain files, as earlier versions wrote them
        (tmp_path / name).write_bytes(data)
    save_run(tmp_path, _trio(2))
    assert _read_trio(tmp_path) == (2, 2, 2)
    assert (tmp_path / "history.json").is_symlink()


def test_run_folder_without_symlinks_writes_the_files_one_by_one(tmp_path, monkeypatch):
    from wgslgrad.runtime import run_folder

    def no_symlinks(*args, **kwargs):
        raise OSError(95, "Operation not supported")
    monkeypatch.setattr(run_folder.os, "symlink", no_symlinks)
    run_folder.save_run(tmp_path, _trio(4))
    assert _read_trio(tmp_path) == (4, 4, 4) and not (tmp_path / "history.json").is_symlink()
    assert not list(tmp_path.glob(".state*"))


KILLED_SAVER = """
import sys
sys.path.insert(0, {tests!r})
from test_checkpoint import _trio
from wgslgrad.runtime.run_folder import save_run
save_run({run!r}, _trio(0))
print("ready", flush=True)
epoch = 1
while True:
    save_run({run!r}, _trio(epoch))
    epoch += 1
"""


def test_kill_9_during_saves_leaves_a_matched_valid_trio(tmp_path):
    """A process saving in a loop is killed with SIGKILL at random moments: every time, the folder holds
    one save's checkpoint, history and plot together, and the next save cleans up what the kill left."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path
    seed = int(np.random.default_rng().integers(2**31))
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    run = tmp_path / "run"
    code = KILLED_SAVER.format(tests=str(Path(__file__).parent), run=str(run))
    epochs = []
    for _ in range(6):
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0, 0.3))
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
        c, h, png = _read_trio(run)
        assert c == h == png, (c, h, png)
        epochs.append(c)
    print(f"epochs found after each kill: {epochs}")
    assert len(list(run.glob(".state-*"))) <= 2   # the current one and at most one a kill left behind
