"""TF.js weight files (wgslgrad/export/tfjs_weights.py): write/read, corrupt files, import into a spec,
and a cross-check that TensorFlow.js's own loader decodes our files to the same float32 bits."""
import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from wgslgrad.compiler.ir import Graph, Op, ParamAttrs
from wgslgrad.export import (
    UnusedWeightsWarning,
    WeightsError,
    dequantize,
    import_weights,
    quantize,
    read_weights,
    write_weights,
)

TFJS_DIR = Path(__file__).parent / "tfjs"


def random_params(rng, big: bool = False) -> dict[str, np.ndarray]:
    params = {
        "dense0/conv0/filters": rng.normal(size=(3, 3, 3, 32)),
        "dense0/conv0/bias": rng.normal(size=(32,)) * 0.1,
        "dense0/conv1/depthwise_filter": rng.normal(size=(3, 3, 32, 1)) + 0.5,
        "odd/size": rng.uniform(1, 2, size=(7,)),        # odd byte counts misalign what follows
        "constant": np.full((5,), rng.normal()),
        "fc/weights": rng.normal(size=(256, 136)) * 0.05,
    }
    if big:
        params["big"] = rng.normal(size=(1100, 1000))   # 4.4 MB as float32: a second shard
    return {k: v.astype(np.float32) for k, v in params.items()}


def test_float32_round_trip_is_exact_across_two_shards(tmp_path):
    params = random_params(np.random.default_rng(), big=True)
    manifest = write_weights(tmp_path, params)
    assert manifest[0]["paths"] == ["group1-shard1of2.bin", "group1-shard2of2.bin"]
    assert (tmp_path / "group1-shard1of2.bin").stat().st_size == 4 * 1024 * 1024
    total = sum(v.nbytes for v in params.values())
    assert (tmp_path / "group1-shard2of2.bin").stat().st_size == total - 4 * 1024 * 1024
    for source in (tmp_path, tmp_path / "model.json", tmp_path / "weights_manifest.json"):
        back = read_weights(source)
        assert list(back) == list(params)
        for name, value in params.items():
            assert back[name].dtype == np.float32 and back[name].tobytes() == value.tobytes()


def test_manifest_layout(tmp_path):
    write_weights(tmp_path, {"w": np.float32([[-1, 0.5], [2, 3]]), "n": np.int32([1, -2])}, quantize="uint8")
    model = json.loads((tmp_path / "model.json").read_text())
    assert model["generatedBy"] == "wgslgrad" and "format" in model and "modelTopology" not in model
    manifest = json.loads((tmp_path / "weights_manifest.json").read_text())
    assert model["weightsManifest"] == manifest
    w, n = manifest[0]["weights"]
    assert w["name"] == "w" and w["shape"] == [2, 2] and w["dtype"] == "float32"
    assert list(w["quantization"]) == ["dtype", "min", "scale", "original_dtype"]
    assert w["quantization"]["dtype"] == "uint8" and w["quantization"]["original_dtype"] == "float32"
    assert n == {"name": "n", "shape": [2], "dtype": "int32"}   # int32 is never quantized
    assert (tmp_path / "group1-shard1of1.bin").stat().st_size == 4 + 8
    assert read_weights(tmp_path)["n"].tolist() == [1, -2]


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float16"])
def test_quantized_round_trip(tmp_path, dtype):
    params = random_params(np.random.default_rng())
    write_weights(tmp_path, params, quantize=dtype, model_json=False)
    assert not (tmp_path / "model.json").exists()
    back = read_weights(tmp_path)
    for name, x in params.items():
        q, meta = quantize(x, dtype)
        assert back[name].tobytes() == dequantize(q, meta).tobytes()
        bound = meta["scale"] / 2 if meta else float(np.abs(x).max()) * 2.0**-11
        assert np.abs(back[name] - x).max() <= bound + float(np.abs(x).max()) * 2.0**-23
    size = {"uint8": 1, "uint16": 2, "float16": 2}[dtype]
    assert (tmp_path / "group1-shard1of1.bin").stat().st_size == size * sum(x.size for x in params.values())


def test_reads_a_face_api_style_bare_manifest(tmp_path):
    # face-api.js ships NAME-weights_manifest.json with shards named without ".bin".
    x = np.random.default_rng().normal(size=(4, 3)).astype(np.float32)
    q, meta = quantize(x, "uint8")
    (tmp_path / "face_model-shard1").write_bytes(q.tobytes())
    manifest = [{"paths": ["face_model-shard1"], "weights": [
        {"name": "fc/weights", "shape": [4, 3], "dtype": "float32",
         "quantization": {"dtype": "uint8", **meta}}]}]
    (tmp_path / "face_model-weights_manifest.json").write_text(json.dumps(manifest))
    back = read_weights(tmp_path / "face_model-weights_manifest.json")
    assert back["fc/weights"].tobytes() == dequantize(q, meta).tobytes()


# ---- corrupt files: each error names the file at fault
@pytest.fixture
def written(tmp_path):
    write_weights(tmp_path, random_params(np.random.default_rng(), big=True), quantize=None)
    return tmp_path


def test_truncated_shard(written):
    shard = written / "group1-shard2of2.bin"
    shard.write_bytes(shard.read_bytes()[:-3])
    with pytest.raises(WeightsError, match="truncated") as e:
        read_weights(written)
    assert str(shard) in str(e.value)


def test_long_shard(written):
    shard = written / "group1-shard2of2.bin"
    shard.write_bytes(shard.read_bytes() + b"\0")
    with pytest.raises(WeightsError, match="longer than the manifest") as e:
        read_weights(written)
    assert str(shard) in str(e.value)


def test_missing_shard(written):
    (written / "group1-shard1of2.bin").unlink()
    with pytest.raises(WeightsError, match="shard missing") as e:
        read_weights(written / "weights_manifest.json")
    assert str(written / "group1-shard1of2.bin") in str(e.value)


def test_a_shard_given_for_the_manifest_is_named_a_shard(written, capsys):
    zeros = written / "zeros.bin"
    zeros.write_bytes(bytes(64))   # valid UTF-8, but no JSON holds a NUL byte
    for shard in (written / "group1-shard1of2.bin", zeros):
        with pytest.raises(WeightsError) as e:
            read_weights(shard)
        assert str(e.value) == (f"{shard}: binary data, not JSON: it looks like a weights shard; pass the "
                                "weights_manifest.json or model.json beside it (that folder holds model.json, "
                                "weights_manifest.json)")
    from wgslgrad.cli import main
    assert main(["import", str(Path(__file__).resolve().parent.parent / "examples" / "digits.py"), "--weights", str(zeros), "-o",
                 str(written / "c.safetensors")]) == 1
    assert capsys.readouterr().err.startswith(f"wgslgrad: error: {zeros}: binary data, not JSON: it looks like a "
                                              "weights shard")


def test_bad_json(written):
    (written / "model.json").write_text('{"weightsManifest": [')
    with pytest.raises(WeightsError, match="not valid JSON") as e:
        read_weights(written)
    assert str(written / "model.json") in str(e.value)


@pytest.mark.parametrize("manifest, message", [
    ({"modelTopology": {}}, "weights manifest"),
    ([{"paths": "x.bin", "weights": []}], "'paths' list"),
    ([{"paths": [], "weights": [{"shape": [1], "dtype": "float32"}]}], "'name'"),
    ([{"paths": [], "weights": [{"name": "a", "shape": [-1], "dtype": "float32"}]}], "'shape'"),
    ([{"paths": [], "weights": [{"name": "a", "shape": [1], "dtype": "string"}]}], "unsupported dtype"),
    ([{"paths": [], "weights": [{"name": "a", "shape": [1], "dtype": "float32",
                                 "quantization": {"dtype": "uint8", "min": 0}}]}], "'min' and 'scale'"),
    ([{"paths": ["../outside.bin"], "weights": []}], "relative"),
])
def test_bad_manifest(tmp_path, manifest, message):
    (tmp_path / "weights_manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WeightsError, match=message) as e:
        read_weights(tmp_path)
    assert str(tmp_path / "weights_manifest.json") in str(e.value)


def test_no_weights_in_folder(tmp_path):
    with pytest.raises(WeightsError, match="no model.json or weights_manifest.json"):
        read_weights(tmp_path)


# ---- import into a spec's parameters
def graph_with(params: dict[str, tuple[tuple[int, ...], bool]]) -> Graph:
    g = Graph()
    for name, (shape, trainable) in params.items():
        g.params[name] = g.add(Op.PARAM, (), ParamAttrs(name=name, trainable=trainable), shape=shape)
    return g


SPEC = {"dense0/conv0/filters": ((3, 3, 3, 32), True), "dense0/conv0/bias": ((32,), True)}


def test_import_by_identity_reports_extras():
    rng = np.random.default_rng()
    loaded = {"dense0/conv0/filters": rng.normal(size=(3, 3, 3, 32)).astype(np.float32),
              "dense0/conv0/bias": np.zeros(32, np.float32), "extra/thing": np.zeros(2, np.float32)}
    report: list[str] = []
    out = import_weights(graph_with(SPEC), loaded, report=report)
    assert set(out) == set(SPEC) and (out["dense0/conv0/filters"] == loaded["dense0/conv0/filters"]).all()
    assert len(report) == 1 and "extra/thing" in report[0]
    with pytest.warns(UnusedWeightsWarning, match="extra/thing"):
        import_weights(graph_with(SPEC), loaded)


def test_import_through_a_mapping_file(tmp_path):
    loaded = {"tf/a": np.ones((3, 3, 3, 32), np.float32), "tf/b": np.full(32, 2, np.float32)}
    mapping = {"dense0/conv0/filters": "tf/a", "dense0/conv0/bias": "tf/b"}
    (tmp_path / "map.json").write_text(json.dumps(mapping))
    for m in (mapping, tmp_path / "map.json", str(tmp_path / "map.json")):
        out = import_weights(graph_with(SPEC), loaded, m, report=[])
        assert (out["dense0/conv0/bias"] == 2).all() and out["dense0/conv0/filters"].shape == (3, 3, 3, 32)


def test_import_names_both_shapes_and_every_problem():
    loaded = {"dense0/conv0/filters": np.zeros((3, 3, 3, 16), np.float32)}
    with pytest.raises(WeightsError) as e:
        import_weights(graph_with(SPEC), loaded, {"nope": "x"})
    text = str(e.value)
    assert "dense0/conv0/filters: the spec wants [3,3,3,32], the weights have [3,3,3,16]" in text
    assert "dense0/conv0/bias: not in the weights" in text
    assert "'nope' names no parameter" in text


def test_import_error_lists_the_names_the_weights_hold():
    """A spec whose names do not fit (here a helper's scope, sep_0/, that face-api's names lack): each
    missing parameter with the nearest unused name, then every name and shape the file holds."""
    spec = {"sep_0/conv1/depthwise_filter": ((3, 3, 16, 1), True), "sep_0/conv1/bias": ((32,), True)}
    loaded = {"conv0/bias": np.zeros(16, np.float32),
              "conv1/depthwise_filter": np.zeros((3, 3, 16, 1), np.float32), "conv1/bias": np.zeros(32, np.float32)}
    with pytest.raises(WeightsError) as e:
        import_weights(graph_with(spec), loaded)
    assert str(e.value) == (
        "cannot import the weights:\n"
        "  sep_0/conv1/depthwise_filter: not in the weights (did you mean 'conv1/depthwise_filter'?)\n"
        "  sep_0/conv1/bias: not in the weights (did you mean 'conv1/bias'?)\n"
        "  map spec names onto the weights' names with --map (Python: map=), a JSON object of spec path -> "
        "weights name; a key ending in '/' maps a prefix, e.g. {\"spec_scope/\": \"weights_scope/\"}\n"
        "the weights hold 3 tensors:\n"
        "  conv0/bias [16]\n  conv1/depthwise_filter [3,3,16,1]\n  conv1/bias [32]")
    with pytest.raises(WeightsError, match="the weights hold no tensors"):
        import_weights(graph_with(spec), {})
    many = {f"t{i}": np.zeros(1, np.float32) for i in range(150)}
    with pytest.raises(WeightsError) as e:
        import_weights(graph_with(spec), many)
    text = str(e.value)
    assert "the weights hold 150 tensors:\n  t0 [1]\n" in text and text.endswith("t99 [1]\n  ... and 50 more")


def test_import_allow_missing_only_for_trainable_parameters():
    loaded = {"dense0/conv0/filters": np.zeros((3, 3, 3, 32), np.float32)}
    report: list[str] = []
    out = import_weights(graph_with(SPEC), loaded, allow_missing=True, report=report)
    assert list(out) == ["dense0/conv0/filters"] and "dense0/conv0/bias" in report[0]
    frozen = {**SPEC, "dense0/conv0/bias": ((32,), False)}
    with pytest.raises(WeightsError, match="dense0/conv0/bias: not in the weights"):
        import_weights(graph_with(frozen), loaded, allow_missing=True)


def test_bad_mapping_file(tmp_path):
    (tmp_path / "map.json").write_text('["a"]')
    with pytest.raises(WeightsError, match="map.json"):
        import_weights(graph_with(SPEC), {}, tmp_path / "map.json")


# ---- TensorFlow.js itself
def _tfjs_ready() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not on PATH; the TF.js cross-check needs Node.js")
    if not (TFJS_DIR / "node_modules" / "@tensorflow" / "tfjs").is_dir():
        # Only the first run installs (about 300 MB, pinned by package-lock.json); node_modules is git-ignored.
        npm = subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=TFJS_DIR, check=False,
                             capture_output=True, text=True, timeout=600)
        assert npm.returncode == 0, f"npm install in {TFJS_DIR} failed:\n{npm.stderr}"


def _load_with_tfjs(folder: Path) -> dict[str, np.ndarray]:
    out = folder.parent / f"{folder.name}.tfjs.json"
    run = subprocess.run(["node", str(TFJS_DIR / "load_weights.mjs"), str(folder), str(out)],
                         check=False, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    doc = json.loads(out.read_text())
    assert doc["tfjs"] == "4.22.0"
    return {name: np.frombuffer(base64.b64decode(w["data"]), {"float32": "<f4", "int32": "<i4"}[w["dtype"]])
            .reshape(w["shape"]) for name, w in doc["weights"].items()}


@pytest.mark.parametrize("dtype", [None, "uint8", "uint16", "float16"])
def test_tfjs_reads_our_weights(tmp_path, dtype):
    _tfjs_ready()
    rng = np.random.default_rng()
    params = random_params(rng, big=dtype is None)   # float32: two 4 MiB shards
    params["steps"] = rng.integers(-1000, 1000, size=(3,)).astype(np.int32)
    # Quantized files get small shards so that TF.js also joins tensors across shard boundaries.
    write_weights(tmp_path / "w", params, quantize=dtype, shard_bytes=4 * 1024 * 1024 if dtype is None else 5000)
    ours = read_weights(tmp_path / "w")
    theirs = _load_with_tfjs(tmp_path / "w")
    assert list(theirs) == list(params)
    for name, x in params.items():
        expected = dequantize(*quantize(x, dtype)) if dtype and x.dtype == np.float32 else x
        # Bit-exact: TF.js computes q * scale + min in doubles and rounds once to float32, as we do.
        assert theirs[name].dtype == expected.dtype and theirs[name].shape == x.shape
        assert theirs[name].tobytes() == expected.tobytes(), name
        assert ours[name].tobytes() == expected.tobytes(), name
