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
