"""From photo to faces: wgslgrad/vision/faces.py, examples/face_demo.py and the page (examples/web/faces.html
with faces.js and two exported bundles) against face-api.js's own pipeline (tests/faceapi/face_pipeline.mjs:
@vladmandic/face-api in Node, its published weights).

- face-api's real nets on skimage's astronaut: its detector input, raw grid, crops and raw landmark outputs
  are recorded; Python and faces.js, given the same raw numbers, must prepare the same net inputs and find
  the same boxes and landmark positions.
- Random raw grids and landmark outputs (fresh seed, printed) on non-square random images, where many boxes
  pass the threshold and overlap: face-api's decoding, non-max suppression, cropping and scaling, run on
  those numbers, against ours.
- The demo script on the astronaut, with wgslgrad's nets on the GPU and face-api's imported weights, finds
  face-api's face and landmarks; the page, in headless Chromium, finds the demo's (a screenshot is kept).
The 416x416 detector runs once per consumer: face-api in Node, the demo, the page (and the demo once more on
a photo with no face). Needs node and npm (the first run installs tests/faceapi/node_modules: face-api,
tfjs; weights included) and, for the page, /usr/bin/chromium (see test_bundle.py).
"""
import functools
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from gpu_check import fresh_rng
from test_bundle import _QuietHandler, ensure_chromium, npm_ready

from wgslgrad.vision import faces as F

ROOT = Path(__file__).parent.parent
FACEAPI_DIR = Path(__file__).parent / "faceapi"
JS_DIR = Path(__file__).parent / "js"


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)


@functools.cache
def faceapi_ready() -> None:
    """tests/faceapi/node_modules (face-api.js and tfjs from npm, pinned by package-lock.json)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not on PATH; face-api.js runs in Node")
    if not (FACEAPI_DIR / "node_modules" / "@vladmandic" / "face-api" / "model").is_dir():
        npm = _run(["npm", "ci", "--no-audit", "--no-fund"], cwd=FACEAPI_DIR, timeout=600)
        assert npm.returncode == 0, f"npm ci in {FACEAPI_DIR} failed:\n{npm.stderr}"


def run_faceapi(cases: list[dict], where: Path) -> None:
    faceapi_ready()
    request = where / "faceapi_request.json"
    request.write_text(json.dumps(cases))
    run = _run(["node", "face_pipeline.mjs", str(request)], cwd=FACEAPI_DIR, timeout=600)
    assert run.returncode == 0, f"face_pipeline.mjs failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    print(run.stdout.strip())


def run_faces_js(cases: list[dict], where: Path) -> None:
    request = where / "js_request.json"
    request.write_text(json.dumps(cases))
    run = _run(["node", "faces_decode.mjs", str(request)], cwd=JS_DIR, timeout=300)
    assert run.returncode == 0, f"faces_decode.mjs failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"


def f32(path: Path) -> np.ndarray:
    return np.fromfile(path, np.float32)


def astronaut() -> np.ndarray:
    import skimage.data
    return skimage.data.astronaut()


def write_png(path: Path, image: np.ndarray) -> Path:
    from PIL import Image
    Image.fromarray(image).save(path)
    return path


def random_grid(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A raw 13x13x25 grid with about one anchor in ten above the score threshold, many of them
    overlapping; cells outside the image's part of the padded square get a low score, as a real net's
    would (face-api would crop nothing for a box wholly in the padding, and then misalign its results)."""
    g = rng.normal(0, 0.7, (13, 13, 5, 5))
    g[..., 4] = rng.normal(-2, 1.5, (13, 13, 5))
    rh, rw = F.reshaped_size(height, width)
    rows, cols = np.arange(13)[:, None], np.arange(13)[None, :]
    outside = ((rows + 1) * 416 / 13 > rh) | ((cols + 1) * 416 / 13 > rw)
    g[outside, :, 4] = -10
    return g.astype(np.float32)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """face-api.js's pipeline on the astronaut (real nets) and on random grids (given numbers), and
    faces.js on the same numbers; yields the case list with each case's files."""
    where = tmp_path_factory.mktemp("faces")
    rng = fresh_rng()
    cases = []
    image = astronaut()
    (where / "astronaut.rgb").write_bytes(image.tobytes())
    cases.append({"image": str(where / "astronaut.rgb"), "height": 512, "width": 512, "out": str(where / "astronaut")})
    for i, (h, w) in enumerate([(240, 320), (450, 270), (201, 201)]):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        (where / f"random{i}.rgb").write_bytes(img.tobytes())
        random_grid(rng, h, w).tofile(where / f"grid{i}.f32")
        rng.uniform(-0.1, 1.1, (13 * 13 * 5, 136)).astype(np.float32).tofile(where / f"landmarks{i}.f32")
        cases.append({"image": str(where / f"random{i}.rgb"), "height": h, "width": w, "out": str(where / f"random{i}"),
                      "grid": str(where / f"grid{i}.f32"), "landmarks": str(where / f"landmarks{i}.f32")})
    run_faceapi(cases, where)
    # faces.js takes face-api's recorded grid and raw landmark outputs for the astronaut
    out = Path(cases[0]["out"])
    n = json.loads((out / "result.json").read_text())["landmarkRuns"]
    np.concatenate([f32(out / f"landmarks_raw_{i}.f32") for i in range(n)]).tofile(out / "landmarks_raw.f32")
    js_cases = [{**c, "grid": c.get("grid", str(out / "grid.f32")),
                 "landmarks": c.get("landmarks", str(out / "landmarks_raw.f32"))} for c in cases]
    run_faces_js(js_cases, where)
    return cases


def load_image(case: dict) -> np.ndarray:
    return np.fromfile(case["image"], np.uint8).reshape(case["height"], case["width"], 3)


def check_faces(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g["score"] == pytest.approx(w["score"], rel=1e-12, abs=1e-12)
        for k in ("x", "y", "width", "height"):
            assert g["box"][k] == pytest.approx(w["box"][k], abs=1e-9), k
        np.testing.assert_allclose(np.asarray(g["landmarks"]), np.asarray(w["landmarks"]), rtol=0, atol=1e-6)


def python_faces(case: dict) -> list[dict]:
    """faces.py on the case's image with the grid and raw landmark outputs face-api's run used."""
    out = Path(case["out"])
    h, w = case["height"], case["width"]
    detections = F.decode_detections(f32(out / "grid.f32"), h, w)
    result = []
    for i, d in enumerate(detections):
        raw = f32(out / f"landmarks_raw_{i}.f32")
        result.append({"score": d.score, "box": vars(d.box), "landmarks": F.landmark_positions(raw, d.box, h, w)})
    return result


def test_faceapi_finds_the_astronaut(cases):
    """The reference itself: face-api.js's nets find one face, on the astronaut's head, with 68 points in
    its box (so the comparisons below compare something real)."""
    faces = json.loads((Path(cases[0]["out"]) / "result.json").read_text())["faces"]
    assert len(faces) == 1 and faces[0]["score"] > 0.9
    box = faces[0]["box"]
    assert 150 < box["x"] < 200 and 50 < box["y"] < 110 and 80 < box["width"] < 160, box
    pts = np.asarray(faces[0]["landmarks"])
    assert pts.shape == (68, 2)
    assert (pts[:, 0] > box["x"] - 10).all() and (pts[:, 0] < box["x"] + box["width"] + 10).all()


def test_net_inputs_match_faceapi(cases):
    """The detector's 416x416 input (padded at the bottom/right, resized) and each face's 112x112 landmark
    input (cropped, padded on both sides, resized), from Python and from faces.js: face-api's, bit for bit."""
    for case in cases:
        out = Path(case["out"])
        image = load_image(case)
        want = f32(out / "detector_input.f32")
        np.testing.assert_array_equal(F.detector_input(image).reshape(-1), want)
        np.testing.assert_array_equal(f32(out / "js_detector_input.f32"), want)
        faces = json.loads((out / "result.json").read_text())["faces"]
        for i, face in enumerate(faces):
            want = f32(out / f"landmark_input_{i}.f32")
            got = F.landmark_input(image, F.Box(**face["box"]))
            assert got.shape == (112, 112, 3)
            np.testing.assert_array_equal(got.reshape(-1), want)
            np.testing.assert_array_equal(f32(out / f"js_landmark_input_{i}.f32"), want)


def test_decoding_matches_faceapi(cases):
    """Boxes (sigmoid offsets, exp sizes times the anchors, the padding's correction), scores, non-max
    suppression at IoU 0.4 (order included) and landmark positions in image pixels, from Python and from
    faces.js, against face-api.js on the same raw numbers."""
    counts = []
    for case in cases:
        out = Path(case["out"])
        want = json.loads((out / "result.json").read_text())["faces"]
        above = int((1 / (1 + np.exp(-f32(out / "grid.f32").reshape(-1, 5)[:, 4])) > 0.5).sum())
        counts.append(f"{case['height']}x{case['width']}: {above} boxes above 0.5 -> {len(want)} faces")
        check_faces(python_faces(case), want)
        check_faces(json.loads((out / "js_result.json").read_text())["faces"], want)
    print("; ".join(counts))
    assert sum(len(json.loads((Path(c["out"]) / "result.json").read_text())["faces"]) for c in cases[1:]) > 10


# --------------------------------------------------------------------------------- the demo and the page
MODELS = FACEAPI_DIR / "node_modules" / "@vladmandic" / "face-api" / "model"
RED, GREEN = np.array([0xFF, 0x17, 0x44]), np.array([0x00, 0xE6, 0x76])   # the points' and boxes' colours


def run_demo(*args: str) -> subprocess.CompletedProcess:
    """examples/face_demo.py as a user runs it (this checkout's wgslgrad first on the path)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp")}
    return _run([sys.executable, str(ROOT / "examples" / "face_demo.py"), *args], env=env, timeout=900)


def colour_pixels(image: np.ndarray, colour: np.ndarray) -> int:
    return int((np.abs(image[..., :3].astype(int) - colour).max(axis=-1) < 40).sum())


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo on the astronaut (a PNG): its exit status, output and faces (--json), and its picture."""
    faceapi_ready()
    where = tmp_path_factory.mktemp("demo")
    photo = write_png(where / "astronaut.png", astronaut())
    run = run_demo(str(photo), "-o", str(where / "astronaut_faces.png"), "--json", str(where / "faces.json"))
    assert run.returncode == 0, f"face_demo.py failed:\n{run.stdout}\n{run.stderr[-4000:]}"
    print(run.stdout + run.stderr)
    return {"photo": photo, "png": where / "astronaut_faces.png",
            "faces": json.loads((where / "faces.json").read_text())}


@pytest.mark.gpu
@pytest.mark.e2e
def test_demo_finds_faceapis_face(cases, demo):
    """wgslgrad's nets (face-api's weights, imported with no mapping) and faces.py on the astronaut: the face
    and 68 landmarks face-api.js finds, and a PNG showing them."""
    want = json.loads((Path(cases[0]["out"]) / "result.json").read_text())["faces"]
    got = demo["faces"]
    assert len(got) == len(want) == 1
    box_err = max(abs(got[0]["box"][k] - want[0]["box"][k]) for k in ("x", "y", "width", "height"))
    point_err = float(np.abs(np.asarray(got[0]["landmarks"]) - np.asarray(want[0]["landmarks"])).max())
    print(f"demo against face-api.js: score {got[0]['score']:.6f} ({want[0]['score']:.6f}), box within "
          f"{box_err:.2e} px, landmarks within {point_err:.2e} px")
    assert abs(got[0]["score"] - want[0]["score"]) < 1e-4 and box_err < 0.05 and point_err < 0.05
    from PIL import Image
    picture = np.asarray(Image.open(demo["png"]).convert("RGB"))
    assert picture.shape == (512, 512, 3)
    # a red dot on every landmark and the green box drawn around them
    points = np.round(np.asarray(got[0]["landmarks"])).astype(int)
    on_points = np.abs(picture[points[:, 1], points[:, 0]].astype(int) - RED).max(axis=-1) < 60
    assert on_points.mean() > 0.9, on_points.mean()
    assert colour_pixels(picture, GREEN) > 300


@pytest.mark.gpu
@pytest.mark.e2e
def test_demo_refuses_bad_input(tmp_path):
    """A photo with no face, a file that is not an image, a missing file or missing weights: exit 1 and one
    line saying which file and why, no traceback; no photo at all: a usage error, exit 2."""
    faceapi_ready()
    blank = write_png(tmp_path / "sky.png", np.tile(np.linspace(90, 200, 300, dtype=np.uint8)[None, :, None], (200, 1, 3)))
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n")
    cases = [([str(blank)], f"{blank}: no face found"), ([str(text)], f"{text}: not an image"),
             ([str(tmp_path / "missing.jpg")], f"{tmp_path / 'missing.jpg'}: no such file"),
             ([str(blank), "--models", str(tmp_path)], "face-api.js's weights are not there")]
    for args, message in cases:
        run = run_demo(*args, "-o", str(tmp_path / "out.png"))
        assert run.returncode == 1 and message in run.stderr and "Traceback" not in run.stderr, (args, run.stderr)
        assert not (tmp_path / "out.png").exists()
    run = run_demo()
    assert run.returncode == 2 and "usage" in run.stderr


def export_bundle(spec: str, manifest: str, out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = _run([sys.executable, "-m", "wgslgrad", "export", str(ROOT / "examples" / spec), "--weights",
                str(MODELS / manifest), "--js", "--batch", "1", "-o", str(out)], env=env, timeout=600)
    assert run.returncode == 0, f"wgslgrad export {spec} failed:\n{run.stderr[-4000:]}"


@pytest.mark.gpu
@pytest.mark.e2e
def test_page_finds_the_demos_faces(demo, tmp_path):
    """examples/web/faces.html with the two bundles `wgslgrad export ... --js --batch 1` writes, in headless
    Chromium (WebGPU on SwiftShader): a user uploads the astronaut and sees the demo's face with its 68
    points (within 0.5 px of Python's), drawn; a file that is not an image is refused. The screenshot is kept
    and its path printed."""
    npm_ready()
    ensure_chromium()
    site = tmp_path / "site"
    site.mkdir()
    for name in ("faces.html", "faces.js"):
        shutil.copy(ROOT / "examples" / "web" / name, site / name)
    export_bundle("tiny_face_detector.py", "tiny_face_detector_model-weights_manifest.json", site / "detector")
    export_bundle("landmark68.py", "face_landmark_68_model-weights_manifest.json", site / "landmarks")
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/faces.html"
        run = _run(["node", "run_faces_page.mjs", url, "400000", str(tmp_path / "page_"), str(demo["photo"]),
                    str(text)], cwd=JS_DIR, timeout=900)
    finally:
        server.shutdown()
    assert run.returncode == 0, f"run_faces_page.mjs failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    page = json.loads(run.stdout.strip().splitlines()[-1])
    assert page["errors"] == [] and page["status"].startswith("ready in"), page
    astro, refused = page["uploads"]
    print(f"page: {page['status']}; {astro['status']}; screenshot {astro['screenshot']}")
    assert astro["status"].startswith("1 face in astronaut.png")
    want = demo["faces"]
    assert len(astro["faces"]) == len(want) == 1
    err = float(np.abs(np.asarray(astro["faces"][0]["landmarks"]) - np.asarray(want[0]["landmarks"])).max())
    box_err = max(abs(astro["faces"][0]["box"][k] - want[0]["box"][k]) for k in ("x", "y", "width", "height"))
    print(f"page against the demo: landmarks within {err:.2e} px, box within {box_err:.2e} px")
    assert err < 0.5 and box_err < 0.5
    from PIL import Image
    shot = np.asarray(Image.open(astro["screenshot"]).convert("RGB"))
    assert colour_pixels(shot, RED) > 200 and colour_pixels(shot, GREEN) > 300   # the points and the box
    assert refused["faces"] is None and refused["status"] == "notes.png: not an image that can be read"
