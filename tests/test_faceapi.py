"""The seed's nets against face-api.js itself: examples/landmark68.py, landmark68_tiny.py,
tiny_face_detector.py and face_feature_extractor.py (FaceExpressionNet's backbone and head) with face-api's
published weights must give face-api's own raw outputs on a real photo.

face-api.js (npm @vladmandic/face-api, pinned in tests/faceapi/package-lock.json, its weights under model/)
runs in Node on TF.js's pure-JS CPU backend (tests/faceapi/run_faceapi.mjs), once for all the nets, on
skimage's astronaut: no seed, the same input every run. Its weights go through wgslgrad's importer with no
name mapping; the specs then run through wgpu (lavapipe here) and, exported with `wgslgrad export --js`, in
Node through Dawn. Each output must be within 1e-4 of face-api's largest magnitude. Fine-tuning starts from
face-api's landmark weights and must lower a loss.

Needs node and npm: the first run installs tests/faceapi/node_modules (scripts/setup.sh does too).
"""
import functools
import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from test_bundle import node_env, rel_err, run_node

from wgslgrad.cli import main
from wgslgrad.compiler.frontend import load_spec
from wgslgrad.compiler.lower import lower
from wgslgrad.export import read_weights
from wgslgrad.export.tfjs_weights import WeightsError, import_weights
from wgslgrad.runtime.session import Session

ROOT = Path(__file__).resolve().parent.parent
FACEAPI_DIR = ROOT / "tests" / "faceapi"
MODEL_DIR = FACEAPI_DIR / "node_modules" / "@vladmandic" / "face-api" / "model"
TOLERANCE = 1e-4

# spec -> (face-api's weights manifest, input file, input size, output shape, parameters)
NETS = {
    "landmark68": ("face_landmark_68_model", "face", 112, (1, 136), 356_840),
    "landmark68_tiny": ("face_landmark_68_tiny_model", "face", 112, (1, 136), 77_224),
    "tiny_face_detector": ("tiny_face_detector_model", "detector", 416, (1, 13, 13, 25), 193_321),
    "face_feature_extractor": ("face_expression_model", "face", 112, (1, 256), 323_687),   # its "features"
}
# The astronaut's face: a square around the box face-api's TinyFaceDetector finds on the 512x512 photo
# (x 163..279, y 76..186), as rows and columns of the photo.
FACE_CROP = (slice(50, 210), slice(140, 300))


def manifest(net: str) -> Path:
    return MODEL_DIR / f"{NETS[net][0]}-weights_manifest.json"


def astronaut_inputs() -> dict[str, np.ndarray]:
    """skimage's astronaut (512x512 RGB, 0..255) resized to 416x416 for the detector and its face cropped
    and resized to 112x112 for the landmark nets (bilinear with anti-aliasing): float32 NHWC, batch 1."""
    from skimage import data, transform

    photo = data.astronaut().astype(np.float64)

    def resize(image: np.ndarray, size: int) -> np.ndarray:
        out = transform.resize(image, (size, size, 3), order=1, anti_aliasing=True, preserve_range=True)
        return out.astype(np.float32)[None]

    return {"detector": resize(photo, 416), "face": resize(photo[FACE_CROP], 112)}


@functools.cache
def faceapi_ready() -> None:
    """node and tests/faceapi/node_modules (installed by `npm ci` on the first run: face-api with its
    weights and TF.js, no native build, no other download)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not on PATH; the face-api.js checks need Node.js")
    if not (MODEL_DIR.is_dir() and (FACEAPI_DIR / "node_modules" / "@tensorflow" / "tfjs").is_dir()):
        npm = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=FACEAPI_DIR, capture_output=True,
                             text=True, timeout=900, check=False)
        assert npm.returncode == 0, f"npm ci in {FACEAPI_DIR} failed:\n{npm.stderr[-3000:]}"


@pytest.fixture(scope="module")
def faceapi(tmp_path_factory) -> dict[str, np.ndarray]:
    """face-api's raw outputs for all the nets on the astronaut (one Node run), and the inputs."""
    faceapi_ready()
    folder = tmp_path_factory.mktemp("faceapi")
    inputs = astronaut_inputs()
    for name, value in inputs.items():
        value.astype("<f4").tofile(folder / f"{name}.f32")
    t = time.perf_counter()
    run = subprocess.run(["node", "run_faceapi.mjs", str(folder)], cwd=FACEAPI_DIR, capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, f"node run_faceapi.mjs failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    info = json.loads((folder / "faceapi.json").read_text())
    print(f"face-api {info['faceapi']} on TF.js {info['tfjs']} ({info['backend']} backend): "
          f"{time.perf_counter() - t:.1f} s for the nets")
    out = {}
    for net, shape in [*((n, v[3]) for n, v in NETS.items()), ("face_expressions", (1, 7))]:
        assert tuple(info["shapes"][net]) == shape, net
        out[net] = np.fromfile(folder / f"{net}.f32", "<f4").reshape(shape)
    return {**out, **inputs}


def imported(net: str, batch: int = 1):
    """The spec's graph and face-api's weights for it, through the importer with no mapping."""
    faceapi_ready()
    g = load_spec(ROOT / "examples" / f"{net}.py", batch=batch)
    unused: list[str] = []
    params = import_weights(g, read_weights(manifest(net)), report=unused)
    assert unused == [], unused   # every tensor of face-api's file has its parameter
    return g, params


def compare(net: str, got: np.ndarray, want: np.ndarray, where: str) -> None:
    got = np.asarray(got, np.float32).reshape(want.shape)
    diff = float(np.max(np.abs(got.astype(np.float64) - want)))
    rel = rel_err(got, want)
    print(f"{where} {net}: max |wgslgrad - face-api| {diff:.3g}, relative to max |face-api| "
          f"({np.max(np.abs(want)):.4g}) {rel:.3g}")
    assert rel <= TOLERANCE, f"{where} {net}: {rel:.3g} of face-api's largest output"


# --------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("net", NETS)
def test_specs_take_faceapi_weights_by_name(net):
    """Every parameter of the spec has a tensor of the same name and shape in face-api's file, and every
    tensor of the file is used."""
    g, params = imported(net)
    assert len(params) == len(g.params) and sum(v.size for v in params.values()) == NETS[net][4]


@pytest.mark.gpu
@pytest.mark.e2e
@pytest.mark.parametrize("net", NETS)
def test_python_runtime_matches_faceapi(net, device, faceapi):
    g, params = imported(net)
    session = Session(lower(g), device)
    session.set_params(params)
    out = session.run({"image": faceapi[NETS[net][1]]})   # the landmark nets' output needs no target
    compare(net, out[next(iter(g.outputs))], faceapi[net], "Python")


@pytest.mark.gpu
@pytest.mark.e2e
@pytest.mark.parametrize("net", NETS)
def test_bundle_matches_faceapi(net, faceapi, tmp_path, capsys):
    """`wgslgrad export --js --weights <face-api's manifest>`; the bundle run in Node (Dawn) on the same
    input."""
    node_env()   # skips, saying why, when Dawn finds no adapter
    out = tmp_path / net
    with capsys.disabled():
        assert main(["export", str(ROOT / "examples" / f"{net}.py"), "--weights", str(manifest(net)),
                     "--js", "--batch", "1", "-o", str(out)]) == 0
    result = run_node(out, {"predict": {"image": faceapi[NETS[net][1]].reshape(-1).tolist()}})
    g = load_spec(ROOT / "examples" / f"{net}.py", batch=1)
    compare(net, result["outputs"][next(iter(g.outputs))], faceapi[net], "bundle (Node)")
    t = result["timings"]
    print(f"bundle (Node) {net}: first inference {t['firstInferenceMs']:.0f} ms "
          f"({t['pipelines']} pipelines in {t['pipelineMs']:.0f} ms)")


@pytest.mark.gpu
@pytest.mark.e2e
def test_face_expressions_match_faceapi(device, faceapi):
    """face_feature_extractor.py's second Output: FaceExpressionNet's 7 probabilities, face-api's own, from
    the same run as its features; its top expression is face-api's."""
    g, params = imported("face_feature_extractor")
    session = Session(lower(g), device)
    session.set_params(params)
    out = session.run({"image": faceapi["face"]})
    compare("face_expressions", out["expressions"], faceapi["face_expressions"], "Python")
    labels = ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]
    print(f"face-api's expressions for the astronaut: {dict(zip(labels, np.round(faceapi['face_expressions'][0], 4)))}")
    assert np.argmax(out["expressions"]) == np.argmax(faceapi["face_expressions"])
    assert np.all(np.asarray(out["features"]) >= 0)   # the mean of relu'd values


@pytest.mark.gpu
@pytest.mark.e2e
def test_finetuning_from_faceapi_weights_lowers_the_loss(device, faceapi):
    """Transfer learning from a real net: FaceLandmark68Net starts at face-api's answer (its first loss is
    the loss of face-api's own output) and learns landmarks moved 3 px right and down on the 112 px crop."""
    g, params = imported("landmark68")
    session = Session(lower(g, training=True), device)
    session.set_params(params)
    target = faceapi["landmark68"] + np.float32(3 / 112)
    batch = {"image": faceapi["face"], "target": target}
    before = float(session.run(batch)["loss"])
    assert abs(before - np.mean((faceapi["landmark68"] - target) ** 2)) <= 1e-3 * before
    for _ in range(5):
        session.step(batch, 1e-4)
    losses = [loss for _, loss in session.drain()]
    after = float(session.run(batch)["loss"])
    print(f"fine-tuning landmark68 from face-api's weights: loss {before:.3g} -> {after:.3g} ({losses})")
    assert losses[0] == pytest.approx(before, rel=1e-4)
    assert all(b < a for a, b in zip(losses, [*losses[1:], after])), losses   # falls at every step
    assert after < 0.75 * before


def test_weights_of_another_net_are_refused_with_the_names_they_hold(tmp_path, capsys):
    """landmark68's spec with the tiny net's weights: which parameters are missing or mis-shaped, and the
    names the file does have; `wgslgrad import` says the same and exits with status 1, writing nothing."""
    faceapi_ready()
    g = load_spec(ROOT / "examples" / "landmark68.py", batch=1)
    with pytest.raises(WeightsError) as e:
        import_weights(g, read_weights(manifest("landmark68_tiny")))
    text = str(e.value)
    print(text)
    assert "dense0/conv3/depthwise_filter: not in the weights" in text
    assert "dense3/conv0/bias: not in the weights" in text
    assert "fc/weights: the spec wants [256,136], the weights have [128,136]" in text
    assert "the weights hold 28 tensors:" in text and "dense2/conv2/pointwise_filter [1,1,128,128]" in text
    capsys.readouterr()
    out = tmp_path / "lm68.safetensors"
    spec = str(ROOT / "examples" / "landmark68.py")
    assert main(["import", spec, "--weights", str(manifest("landmark68_tiny")), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "fc/weights: the spec wants [256,136], the weights have [128,136]" in err
    assert "  fc/bias [136]" in err and "Traceback" not in err and not out.exists()
