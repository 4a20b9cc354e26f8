"""The JavaScript bundle (export/bundle.py + export/runtime.js), run for real: in Node through Dawn (the npm
package `webgpu`) and in headless Chromium (playwright-core driving the system's chromium, WebGPU on
SwiftShader), each compared with the Python runtime on the same weights and inputs.

Needs node and npm (the first run installs tests/js/node_modules, a few MB; no browser download) and, for
Chromium, /usr/bin/chromium (installed with apt-get when missing and this runs as root). Dawn rejects
Debian 12's lavapipe (Mesa 22.3 lacks shaderUniform*ArrayDynamicIndexing), so when Dawn finds no adapter
the Node runs use the SwiftShader Vulkan driver that Chromium ships.
"""
import functools
import gzip
import json
import os
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from wgslgrad.compiler.frontend import compile_spec, load_spec
from wgslgrad.compiler.lower import lower
from wgslgrad.export import read_weights, write_weights
from wgslgrad.export.bundle import RUNTIME_JS, write_bundle
from wgslgrad.runtime.init import init_params
from wgslgrad.runtime.session import Session

ROOT = Path(__file__).parent.parent
JS_DIR = Path(__file__).parent / "js"
CHROMIUM = Path("/usr/bin/chromium")
SWIFTSHADER_ICD = Path("/usr/lib/chromium/vk_swiftshader_icd.json")
TOLERANCE = 1e-4

# Several ops the digits example lacks: RGB input, depthwise, concat, mul, sigmoid, tanh, leaky relu, relu6,
# both pools, flatten, softmax.
SMALL_SPEC = """
image = Input(6, 6, 3)
target = Input(4)
x = (image - 128) / 255
a = conv2d(x, 8, kernel=3, stride=2, activation="relu")
b = leaky_relu(depthwise_conv2d(a, kernel=3), alpha=0.1)
c = concat([a * b, sigmoid(b), tanh(a)])
p = max_pool(c, 2, padding="same")
q = avg_pool(separable_conv2d(c, 6, kernel=3, activation="relu6"), 3)
y = dense(concat([flatten(p), flatten(q)]), 4)
Output(y, name="y")
Output(softmax(y), name="probs")
Train(loss=mse(y, target), batch=2)
"""

# A training step small enough to compile quickly on SwiftShader: digits' backward pass holds a depthwise
# filter-gradient kernel (36 workgroup barriers) that SwiftShader takes minutes to compile.
TRAIN_SPEC = """
x = Input(4, 4, 2)
label = Input(3)
h = conv2d(x, 4, kernel=3, activation="relu")
logits = dense(flatten(h), 3)
Output(logits)
Train(loss=softmax_cross_entropy(logits, label), batch=2)
"""


def rel_err(got, want) -> float:
    """Largest difference relative to the largest reference value (per-element ratios explode near 0)."""
    got, want = np.asarray(got, np.float64).reshape(-1), np.asarray(want, np.float64).reshape(-1)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))


def random_params(graph, seed: int) -> dict[str, np.ndarray]:
    """Glorot weights and small random (rather than zero) biases, so that every term is exercised."""
    rng = np.random.default_rng(seed)
    params = init_params(graph, seed)
    return {k: (v + rng.normal(0, 0.1, v.shape) if not v.any() else v).astype(np.float32) for k, v in params.items()}


# ----------------------------------------------------------------------------------- Node and Chromium
def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)


@functools.cache
def npm_ready() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not on PATH; the bundle tests need Node.js")
    if not all((JS_DIR / "node_modules" / p).is_dir() for p in ("webgpu", "playwright-core", "esbuild")):
        # The first run only (pinned by package-lock.json; node_modules is git-ignored). playwright-core
        # downloads no browser.
        npm = _run(["npm", "install", "--no-audit", "--no-fund"], cwd=JS_DIR, timeout=600)
        assert npm.returncode == 0, f"npm install in {JS_DIR} failed:\n{npm.stderr}"


@functools.cache
def ensure_chromium() -> None:
    """Debian's chromium (WebGPU on SwiftShader); installed with apt-get (1-2 minutes) when missing."""
    if CHROMIUM.exists():
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip(f"{CHROMIUM} is missing and cannot be installed here (apt-get install chromium needs root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = _run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"], env=env, timeout=900)
    if apt.returncode != 0:   # a stale package list
        _run(["apt-get", "update"], env=env, timeout=600)
        apt = _run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"], env=env, timeout=900)
    if apt.returncode != 0 or not CHROMIUM.exists():
        pytest.skip(f"apt-get install chromium failed:\n{apt.stderr[-2000:]}")


@functools.cache
def node_env() -> tuple[tuple[str, str], ...]:
    """Environment for Node runs with an adapter; skips, saying why, when Dawn finds none."""
    npm_ready()
    env = {**os.environ, "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp")}

    def probe(env: dict[str, str]) -> subprocess.CompletedProcess:
        return _run(["node", "run_bundle.mjs", "--probe"], cwd=JS_DIR, env=env, timeout=120)

    first = probe(env)
    if first.returncode != 0:
        print(f"Dawn found no adapter with the system's drivers ({first.stdout.strip()} {first.stderr.strip()[-500:]}); "
              f"trying Chromium's SwiftShader ({SWIFTSHADER_ICD})")
        ensure_chromium()
        env["VK_ICD_FILENAMES"] = str(SWIFTSHADER_ICD)
        second = probe(env)
        if second.returncode != 0:
            pytest.skip("the webgpu package (Dawn) finds no adapter, not even SwiftShader:\n"
                        f"{first.stdout}{first.stderr[-1000:]}\n{second.stdout}{second.stderr[-1000:]}")
        print(f"Node adapter: {second.stdout.strip()}")
    else:
        print(f"Node adapter: {first.stdout.strip()}")
    return tuple(env.items())


def run_node(bundle: Path, request: dict) -> dict:
    (bundle / "request.json").write_text(json.dumps(request))
    result = bundle / "result.json"
    run = _run(["node", "run_bundle.mjs", str(bundle), str(bundle / "request.json"), str(result)], cwd=JS_DIR,
               env=dict(node_env()), timeout=300)
    assert run.returncode == 0, f"node run_bundle.mjs {bundle} failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    return json.loads(result.read_text())


# ------------------------------------------------------------------------------------------- bundles
def digits_inputs(rng) -> dict[str, np.ndarray]:
    return {"pixels": rng.integers(0, 17, (2, 8, 8, 1)).astype(np.float32),
            "label": np.eye(10, dtype=np.float32)[rng.integers(0, 10, 2)]}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """Four bundles in one folder (served as is to Chromium), each with its graph, weights and inputs:
    digits, digits quantized to uint8, the small spec, and the training spec exported with train=True."""
    root = tmp_path_factory.mktemp("bundles")
    rng = np.random.default_rng(0)
    digits = load_spec(ROOT / "examples" / "digits.py", batch=2)
    small = compile_spec(SMALL_SPEC, "small.py", batch=2)
    tiny = compile_spec(TRAIN_SPEC, "train.py", batch=2)
    made = {}
    for name, graph, quantize in [("digits", digits, None), ("digits_uint8", digits, "uint8"),
                                  ("small", small, None), ("train", tiny, None)]:
        params = random_params(graph, 1)
        info = write_bundle(root / name, graph, params, quantize=quantize, train=name == "train")
        if graph is digits:
            inputs = digits_inputs(rng)
        elif graph is small:
            inputs = {"image": rng.integers(0, 256, (2, 6, 6, 3)).astype(np.float32),
                      "target": rng.normal(size=(2, 4)).astype(np.float32)}
        else:
            inputs = {"x": rng.normal(size=(2, 4, 4, 2)).astype(np.float32),
                      "label": np.eye(3, dtype=np.float32)[[0, 2]]}
        made[name] = {"dir": root / name, "graph": graph, "params": params, "inputs": inputs, "info": info}
    return root, made


def python_outputs(device, bundle: dict, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The Python runtime on the weights the bundle holds (dequantized as the JS runtime should)."""
    session = Session(lower(bundle["graph"]), device)
    session.set_params(read_weights(bundle["dir"]))
    return session.run(inputs)


def plain(arrays: dict[str, np.ndarray]) -> dict[str, list[float]]:
    return {k: np.asarray(v, np.float32).reshape(-1).tolist() for k, v in arrays.items()}


# --------------------------------------------------------------------------------------------- tests
def test_bundle_files(bundles):
    """One module plus TF.js weights; each shader inlined once; model.json readable by read_weights."""
    _, made = bundles
    digits = made["digits"]
    files = digits["info"]["files"]
    assert set(files) == {"model.js", "model.json", "group1-shard1of1.bin"}
    text = (digits["dir"] / "model.js").read_text()
    assert "export function createModel" in text
    assert not any(line.startswith("import ") for line in text.splitlines())   # self-contained
    assert text.count("@compute") == digits["info"]["skeletons"] <= digits["info"]["shaders"]
    doc = json.loads((digits["dir"] / "model.json").read_text())
    assert len(doc["weightsSha256"]) == 64
    back = read_weights(digits["dir"])
    assert all(np.array_equal(back[k], v) for k, v in digits["params"].items())
    if shutil.which("node"):
        check = _run(["node", "--check", str(digits["dir"] / "model.js")])
        assert check.returncode == 0, check.stderr


def test_write_bundle_refuses_what_cannot_run(tmp_path):
    graph = compile_spec(TRAIN_SPEC, "train.py", batch=2)
    params = random_params(graph, 0)
    first = next(iter(params))
    with pytest.raises(ValueError, match=f"no value for parameter {first}"):
        write_bundle(tmp_path, graph, {k: v for k, v in params.items() if k != first})
    with pytest.raises(ValueError, match=f"parameter {first} has shape"):
        write_bundle(tmp_path, graph, {**params, first: params[first][..., :1]})
    untrained = compile_spec("x = Input(3)\nOutput(dense(x, 2))\n", "plain.py", batch=1)
    with pytest.raises(ValueError, match="Train"):
        write_bundle(tmp_path, untrained, random_params(untrained, 0), train=True)
    assert not (tmp_path / "model.js").exists()


@pytest.mark.parametrize("quantize", ["uint8", "uint16", "float16", None])
def test_js_decodes_weights_as_read_weights(tmp_path, quantize):
    """The runtime's loader (no GPU) gives read_weights's float32 values bit for bit, across two shards."""
    npm_ready()
    rng = np.random.default_rng(3)
    params = {"w": rng.normal(size=(300, 200)).astype(np.float32), "zero": np.zeros(5, np.float32),
              "const": np.full(3, 0.7, np.float32), "pos": rng.uniform(1, 2, 7).astype(np.float32)}
    write_weights(tmp_path, params, quantize, shard_bytes=50_000)
    run = _run(["node", "decode_weights.mjs", str(tmp_path / "model.json"), str(tmp_path / "got.json")],
               cwd=JS_DIR, timeout=60)
    assert run.returncode == 0, run.stderr
    got, want = json.loads((tmp_path / "got.json").read_text()), read_weights(tmp_path)
    assert list(got) == list(want)
    for name, value in want.items():
        assert np.float32(got[name]).tobytes() == value.reshape(-1).tobytes(), name


@pytest.mark.gpu
@pytest.mark.e2e
def test_node_predict_matches_python(device, bundles):
    """predict in Node (digits, its uint8 copy, the small spec) vs Session.run on the weights the bundle
    holds; getWeights gives read_weights's values bit for bit."""
    _, made = bundles
    for name in ("digits", "digits_uint8", "small"):
        b = made[name]
        result = run_node(b["dir"], {"predict": plain(b["inputs"]), "weights": True})
        want = python_outputs(device, b, b["inputs"])
        assert set(result["outputs"]) == set(want)    # the loss too: its inputs are given
        for out, value in want.items():
            assert rel_err(result["outputs"][out], value) < TOLERANCE, (name, out)
        for p, value in read_weights(b["dir"]).items():
            assert np.float32(result["weights"][p]).tobytes() == value.reshape(-1).tobytes(), (name, p)
        b["node"] = result
        t = result["timings"]
        print(f"Node {name}: first inference {t['firstInferenceMs']:.0f} ms "
              f"({t['pipelines']} pipelines in {t['pipelineMs']:.0f} ms)")

    # uint8: a quarter of the float32 weight bytes, and outputs near the float32 model's
    f32, u8 = made["digits"], made["digits_uint8"]
    ratio = u8["info"]["files"]["group1-shard1of1.bin"] / f32["info"]["files"]["group1-shard1of1.bin"]
    assert 0.25 <= ratio < 0.26
    exact = Session(lower(f32["graph"]), device)
    exact.set_params(f32["params"])
    for out, value in exact.run(u8["inputs"]).items():
        assert rel_err(u8["node"]["outputs"][out], value) < 0.05, out


def check_training(device, b: dict, result: dict, lr: float, steps: int) -> None:
    """The JS runtime's losses and weights after `steps` trainStep calls vs as many training Session steps."""
    from wgslgrad.compiler.lower import lower
    from wgslgrad.runtime.session import Session

    session = Session(lower(b["graph"], training=True), device)
    session.set_params(b["params"])
    for _ in range(steps):
        session.step(b["inputs"], lr)
    losses = [loss for _, loss in session.drain()]
    assert rel_err(result["losses"], losses) < TOLERANCE
    for p, value in session.get_params().items():
        # Adam moves each weight by about lr per step whatever the gradient's size, so a float32 difference
        # in a tiny gradient can change a step a little: compare the weights on lr's scale.
        diff = np.max(np.abs(np.float32(result["trainedWeights"][p]) - value.reshape(-1)))
        assert diff < 1e-3 * lr, (p, diff)


@pytest.mark.gpu
@pytest.mark.e2e
def test_node_train_step_matches_python(device, bundles):
    """Two trainStep calls queued at once in Node vs two training Session steps (same weights, inputs, lr);
    then saveWeights -> load gives the trained weights back."""
    _, made = bundles
    b, lr = made["train"], 0.01
    result = run_node(b["dir"], {"train": {"inputs": plain(b["inputs"]), "lr": lr, "steps": 2}, "save": True})
    check_training(device, b, result, lr, 2)
    assert result["savedBytes"] == 4 * sum(v.size for v in b["params"].values())
    assert result["reloaded"] == result["trainedWeights"]
    t = result["timings"]
    print(f"Node training: {t['trainPipelines']} pipelines in {t['trainPipelineMs']:.0f} ms")


def image_request(b: dict, key: str, scale: float) -> dict:
    """An RGBA image of the input's size (gray for one channel) for predictImage; b["image_input"] is what
    it should become: the pixels times `scale` at batch 0, zeros after."""
    shape = b["inputs"][key].shape
    pixels = np.random.default_rng(7).integers(0, 256, shape[1:3] + (3,))
    if shape[3] == 1:
        pixels[..., 1] = pixels[..., 2] = pixels[..., 0]
    image_input = np.zeros(shape, np.float32)
    image_input[0] = (pixels[..., :shape[3]] * np.float32(scale)).astype(np.float32)
    b["image_input"] = {key: image_input}
    rgba = np.concatenate([pixels, np.full(shape[1:3] + (1,), 255)], -1)
    return {"width": shape[2], "height": shape[1], "rgba": rgba.reshape(-1).tolist(), "scale": scale, "input": key}


@pytest.mark.gpu
@pytest.mark.e2e
def test_chromium_matches_python(device, bundles):
    """The bundles in headless Chromium (WebGPU on SwiftShader) against the Python runtime: predict;
    predictImage on a canvas of the input's size; two trainStep calls; the weight shard cached in IndexedDB."""
    npm_ready()
    ensure_chromium()
    root, made = bundles
    shutil.copy(JS_DIR / "page.html", root / "page.html")
    lr, steps = 0.01, 2
    requests = {
        "digits": {"predict": plain({"pixels": made["digits"]["inputs"]["pixels"]}),
                   "image": image_request(made["digits"], "pixels", 16 / 255)},
        "small": {"predict": plain({"image": made["small"]["inputs"]["image"]}),
                  "image": image_request(made["small"], "image", 1.0)},
        "train": {"predict": plain({"x": made["train"]["inputs"]["x"]}),
                  "train": {"inputs": plain(made["train"]["inputs"]), "lr": lr, "steps": steps}},
    }
    for name, request in requests.items():
        (made[name]["dir"] / "request.json").write_text(json.dumps(request))

    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        urls = [f"http://127.0.0.1:{port}/page.html?bundle={n}" for n in requests]
        run = _run(["node", "run_chromium.mjs", str(root / "results.json"), "240000", *urls], cwd=JS_DIR,
                   timeout=400)
    finally:
        server.shutdown()
    assert run.returncode == 0, f"run_chromium.mjs failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    results = json.loads((root / "results.json").read_text())
    for (name, request), result in zip(requests.items(), results):
        b = made[name]
        assert result["adapter"]["architecture"] == "swiftshader", result["adapter"]
        assert [k.split("/")[-1].split("#")[0] for k in result["cacheKeys"]] == ["group1-shard1of1.bin"]
        assert result["shardFetches"] == 1 and result["reloadOutputs"] == result["outputs"]
        key = next(iter(request["predict"]))
        for out, value in python_outputs(device, b, {key: b["inputs"][key]}).items():
            assert rel_err(result["outputs"][out], value) < TOLERANCE, (name, out)
        if "image" in request:
            for out, value in python_outputs(device, b, b["image_input"]).items():
                assert rel_err(result["imageOutputs"][out], value) < TOLERANCE, (name, "predictImage", out)
        if "train" in request:
            check_training(device, b, result, lr, steps)
        t = result["timings"]
        print(f"Chromium {name}: first inference {t['firstInferenceMs']:.0f} ms "
              f"({t['pipelines']} pipelines in {t['pipelineMs']:.0f} ms)")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):   # silence the per-request lines
        pass


def test_runtime_size_minified_and_gzipped():
    """The runtime a bundle carries besides its model (esbuild --minify, then gzip -9): reported, and kept
    small enough that the weights dominate a download (budget 16 KB; the digits model's uint8 weights are 38 KB)."""
    npm_ready()
    esbuild = JS_DIR / "node_modules" / ".bin" / "esbuild"
    run = _run([str(esbuild), str(RUNTIME_JS), "--minify", "--format=esm"], timeout=120)
    assert run.returncode == 0, run.stderr
    minified = run.stdout.encode()
    size = len(gzip.compress(minified, 9))
    source = RUNTIME_JS.read_bytes()
    print(f"runtime.js: {len(source):,} bytes source, {len(minified):,} minified, {size:,} minified + gzipped")
    assert "createModel" in run.stdout and 0 < size < len(minified) < len(source)
    assert size < 16_000


@pytest.mark.gpu
@pytest.mark.e2e
def test_example_page_runs_the_digits_bundle(tmp_path):
    """examples/web/index.html as shipped, with a digits bundle in model/ (as scripts/main.sh writes it):
    it loads, answers "Random input", and answers a stroke drawn on its canvas with the mouse, each time as
    the top class and a labelled bar per class from the probabilities Output (a screenshot is kept)."""
    npm_ready()
    ensure_chromium()
    shutil.copy(ROOT / "examples" / "web" / "index.html", tmp_path / "index.html")
    g = load_spec(ROOT / "examples" / "digits.py", batch=1)
    write_bundle(tmp_path / "model", g, init_params(g, seed=0), "uint8")
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html?scale=0.0627&labels={','.join(names)}"
        run = _run(["node", "run_page.mjs", url, "240000", str(tmp_path / "digits_page.png")], cwd=JS_DIR, timeout=400)
    finally:
        server.shutdown()
    assert run.returncode == 0, f"run_page.mjs failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    page = json.loads(run.stdout.strip().splitlines()[-1])
    assert page["errors"] == [] and page["status"].startswith("ready in"), page
    assert "pixels [1,8,8,1]" in page["status"], page["status"]
    print(f"example page: {page['status']}; screenshot {tmp_path / 'digits_page.png'}")
    assert page["drawn"]["out"] != page["random"]["out"]
    for shown in (page["random"], page["drawn"]):
        lines = shown["out"].splitlines()
        assert lines[0].startswith("logits [1,10]:") and lines[1].startswith("probabilities [1,10]:"), shown
        probabilities = np.array(lines[1].split(":")[1].split(), float)  # the raw dump, 4 decimals
        assert probabilities.shape == (10,) and abs(probabilities.sum() - 1) < 1e-3
        bars = shown["classes"]
        assert [b["label"] for b in bars] == names, bars
        p = np.array([b["p"] for b in bars])
        np.testing.assert_allclose(p, probabilities, atol=6e-5)  # the bars show the probabilities Output
        np.testing.assert_allclose([b["width"] for b in bars], p, atol=0.01)
        assert [b["shown"] for b in bars] == [f"{100 * v:.1f}%" for v in p]
        best = int(np.argmax(p))
        assert [b["best"] for b in bars] == [i == best for i in range(10)]
        assert shown["top"] == f"{names[best]} ({100 * p[best]:.0f}%)", shown["top"]
    from PIL import Image
    shot = np.asarray(Image.open(tmp_path / "digits_page.png").convert("RGB")).astype(int)
    green = np.abs(shot - [0x33, 0xaa, 0x77]).sum(axis=2) < 10  # the top class's bar (#3a7) is drawn
    assert green.sum() > 10, "no top-class bar in the screenshot"
