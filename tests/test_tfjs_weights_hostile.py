"""TF.js weights from an untrusted folder: only regular files inside the model folder are read (links
resolved), hostile JSON and non-finite weights are refused naming the file and tensor."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wgslgrad.export import WeightsError, read_weights, tfjs_weights, write_weights

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _model(folder: Path, quantize: str | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng()
    params = {"a": rng.standard_normal((3, 4)).astype(np.float32), "b": rng.standard_normal(5).astype(np.float32)}
    write_weights(folder, params, quantize)
    return params


def test_a_shard_linked_out_of_the_folder_is_refused_and_not_read(tmp_path):
    model, elsewhere = tmp_path / "model", tmp_path / "secret"
    _model(model)
    elsewhere.mkdir()
    shard = model / "group1-shard1of1.bin"
    (elsewhere / "key.bin").write_bytes(shard.read_bytes())   # same size: only the link gives it away
    shard.unlink()
    shard.symlink_to(elsewhere / "key.bin")
    with pytest.raises(WeightsError, match=rf"{shard}: a link to {elsewhere / 'key.bin'}, outside the model folder "
                                           rf"{model}: refused \(shards are read from the model's own folder only\)"):
        read_weights(model)


def test_links_inside_the_folder_are_followed(tmp_path):
    params = _model(tmp_path / "model")
    shard = tmp_path / "model" / "group1-shard1of1.bin"
    shard.rename(tmp_path / "model" / "real.bin")
    shard.symlink_to("real.bin")
    got = read_weights(tmp_path / "model" / "model.json")
    assert all(np.array_equal(got[k], params[k]) for k in params)


def test_a_model_json_linked_out_of_the_folder_is_refused(tmp_path):
    _model(tmp_path / "real")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").symlink_to(tmp_path / "real" / "model.json")
    for given in (tmp_path / "model", tmp_path / "model" / "model.json"):
        with pytest.raises(WeightsError, match=r"model\.json: a link to .*real/model\.json, outside the model folder"):
            read_weights(given)


def test_fifo_shard_and_json_are_refused_without_blocking(tmp_path):
    _model(tmp_path)
    (tmp_path / "group1-shard1of1.bin").unlink()
    os.mkfifo(tmp_path / "group1-shard1of1.bin")
    signal.alarm(20)  # a regression would block on the FIFO forever: fail instead
    try:
        with pytest.raises(WeightsError, match=r"group1-shard1of1\.bin: cannot read shard: not a regular file \(a FIFO\)"):
            read_weights(tmp_path)
        (tmp_path / "weights_manifest.json").unlink()
        os.mkfifo(tmp_path / "weights_manifest.json")
        with pytest.raises(WeightsError, match=r"weights_manifest\.json: cannot read weights: not a regular file"):
            read_weights(tmp_path / "weights_manifest.json")
    finally:
        signal.alarm(0)


@pytest.mark.parametrize("text, message", [
    ('[{"paths": [], "weights": [{"name": "a", "shape": [' + "9" * 5000 + '], "dtype": "float32"}]}]',
     r"not valid JSON \(a whole number of 5,000 digits\)"),
    ("[" * 100_000 + "]" * 100_000, r"not a weights file \(JSON nested too deeply\)"),
    ('[{"paths": [], "weights": [{"name": "a", "shape": [1e5000], "dtype": "float32"}]}]',
     r"'shape' must be a list of non-negative integers, got \[inf\]"),
], ids=["5000-digit-int", "nested", "huge-float"])
def test_hostile_json_is_a_clear_error(tmp_path, text, message):
    (tmp_path / "weights_manifest.json").write_text(text)
    with pytest.raises(WeightsError, match=rf"{tmp_path / 'weights_manifest.json'}: .*{message}"):
        read_weights(tmp_path)


def test_an_oversized_json_is_refused_before_reading(tmp_path, monkeypatch):
    _model(tmp_path)
    monkeypatch.setattr(tfjs_weights, "MAX_JSON_BYTES", 100)
    with pytest.raises(WeightsError, match=r"model\.json: cannot read weights: .* is more than the 100 bytes accepted"):
        read_weights(tmp_path)


def _requantize(folder: Path, name: str, **quant) -> None:
    doc = json.loads((folder / "model.json").read_text())
    entry = next(w for w in doc["weightsManifest"][0]["weights"] if w["name"] == name)
    entry["quantization"].update(quant)
    (folder / "model.json").write_text(json.dumps(doc))


def test_a_huge_quantization_scale_is_refused_naming_the_tensor(tmp_path):
    _model(tmp_path, "uint8")
    _requantize(tmp_path, "b", scale=1e38, min=-1e38)   # finite, but 255 * 1e38 is not a float32
    with pytest.raises(WeightsError, match=r"model\.json: weight 'b' holds [0-9]+ NaN or infinite values after "
                                           r"dequantization \(min -1e\+38, scale 1e\+38\)"):
        read_weights(tmp_path)


def test_nan_and_inf_float32_weights_are_refused(tmp_path):
    rng = np.random.default_rng()
    bad = rng.standard_normal(6).astype(np.float32)
    bad[[1, 4]] = [np.nan, np.inf]
    write_weights(tmp_path, {"ok": rng.standard_normal(2).astype(np.float32), "bad": bad})
    with pytest.raises(WeightsError, match=r"weight 'bad' holds 2 NaN or infinite values$"):
        read_weights(tmp_path)


def test_int32_codes_beyond_int32_range_are_refused(tmp_path):
    doc = [{"paths": ["w.bin"], "weights": [{"name": "n", "shape": [2], "dtype": "int32",
                                             "quantization": {"dtype": "uint8", "min": 0, "scale": 1e12}}]}]
    (tmp_path / "weights_manifest.json").write_text(json.dumps(doc))
    (tmp_path / "w.bin").write_bytes(bytes([1, 2]))
    with pytest.raises(WeightsError, match=r"weight 'n': its quantization \(min 0, scale 1e\+12\) gives int32 values "
                                           r"beyond int32's range"):
        read_weights(tmp_path)


@pytest.mark.parametrize("mapping, message", [
    ('{"a": ' + "1" * 5000 + "}", r"not valid JSON \(a whole number of 5,000 digits\)"),
    ("{" + '"a": {' * 50_000, r"JSON nested too deeply"),
], ids=["5000-digits", "nested"])
def test_hostile_mapping_text_and_file_are_clear_errors(tmp_path, mapping, message):
    from wgslgrad.compiler.ir import Graph
    with pytest.raises(WeightsError, match=message):
        tfjs_weights.import_weights(Graph(), {}, mapping)
    (tmp_path / "map.json").write_text(mapping)
    with pytest.raises(WeightsError, match=rf"map\.json: .*{message}"):
        tfjs_weights.import_weights(Graph(), {}, tmp_path / "map.json")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wgslgrad", *args], check=False, capture_output=True, text=True,
                          timeout=300)


def test_import_command_refuses_a_linked_shard_with_exit_1(tmp_path):
    spec = str(EXAMPLES / "digits.py")
    r = _cli("export", spec, "-o", str(tmp_path / "w"))
    assert r.returncode == 0, r.stderr
    shard = next((tmp_path / "w").glob("*.bin"))
    (tmp_path / "outside.bin").write_bytes(shard.read_bytes())
    shard.unlink()
    shard.symlink_to(tmp_path / "outside.bin")
    out = tmp_path / "c.safetensors"
    r = _cli("import", spec, "--weights", str(tmp_path / "w" / "model.json"), "-o", str(out))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"wgslgrad: error: {shard}: a link to {tmp_path / 'outside.bin'}, outside the model folder" in r.stderr
    assert not out.exists()
