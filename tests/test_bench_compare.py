"""`wgslgrad bench FILE --browser / --node` end to end on a tiny net: the exported bundle beside TF.js 4.22
(webgpu and wasm backends) in headless Chromium (WebGPU on SwiftShader) and in Node (Dawn), every row of the
table filled, and the batch-1 outputs of every system agreeing with wgslgrad's. Nothing about speed is
asserted (the benchmark itself is `wgslgrad bench examples/X.py --browser`, see BENCHMARKS.md)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_bundle import ensure_chromium

from wgslgrad.bench.common import add_loss
from wgslgrad.bench.compare import ATOL, PEER_DIR, CompareError, check_installed
from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.compiler.ir import Op
from wgslgrad.compiler.numpy_ref import evaluate
from wgslgrad.runtime.init import init_params

SPEC = """\
pixels = Input(6, 6, 1)
label = Input(3)
x = conv2d(pixels, 4, kernel=3, activation="relu")
x = max_pool(x, 2)
logits = dense(flatten(x), 3)
Output(logits)
Train(loss=softmax_cross_entropy(logits, label), optimizer=Adam(lr=0.01))
"""
DEFAULT = ["wgslgrad", "tfjs-webgpu", "tfjs-wasm"]


def packages_ready(mode: str) -> None:
    """The peer's npm packages (scripts/setup.sh installs them; a fresh checkout gets them here)."""
    try:
        check_installed(mode)
        return
    except CompareError:
        pass
    npm = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(PEER_DIR)], capture_output=True,
                         text=True, timeout=900, check=False)
    assert npm.returncode == 0, f"npm ci in {PEER_DIR} failed:\n{npm.stderr[-3000:]}"
    check_installed(mode)


@pytest.mark.parametrize("mode", ["browser", "node"])
def test_bench_compare_tiny(mode: str, tmp_path: Path) -> None:
    """In Node also the bundle forced to its workgroup-tiled products (SwiftShader gets the direct ones)."""
    systems = DEFAULT + (["wgslgrad-shared"] if mode == "node" else [])
    ensure_chromium()   # the browser, and in Node Dawn's SwiftShader where the system has no Vulkan for it
    packages_ready(mode)
    spec = tmp_path / "tiny.py"
    spec.write_text(SPEC)
    out = tmp_path / "rows.json"
    run = subprocess.run([sys.executable, "-m", "wgslgrad", "bench", str(spec), f"--{mode}", "--batch", "1,2",
                          "--steps", "1", "--infer-steps", "1", "--rounds", "1", "--warmup", "0", "--timeout", "300",
                          "--systems", ",".join(systems), "-o", str(out)],
                         capture_output=True, text=True, timeout=600, check=False)
    print(run.stdout, run.stderr[-3000:])
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    head = next(line for line in lines if line.startswith("model"))
    assert all(s in head for s in systems), head
    doc = json.loads(out.read_text())
    cells = {(r["what"], r["batch"]) for r in doc["rows"]}
    assert cells == {("inference (ms)", 1), ("inference (ms)", 2), ("training step (ms)", 1),
                     ("training step (ms)", 2), ("ready to infer (ms)", 1), ("ready to train (ms)", 1)}, cells
    for r in doc["rows"]:
        for s in systems:
            assert r["ms"][s] is not None and r["ms"][s] > 0, (r, s)
        assert set(r["ratio"]) == set(systems[1:])
        assert any(r["what"] in line and f" {r['batch']} " in line for line in lines), r
    assert set(doc["agreement"]) == set(systems[1:])
    for s, diff in doc["agreement"].items():
        assert diff <= 10 * ATOL, (s, diff)
    # each system really ran where it says
    infos = {s: doc["raw"]["systems"][s]["info"] for s in systems}
    assert infos["tfjs-webgpu"]["backend"] == "webgpu" and infos["tfjs-wasm"]["backend"] == "wasm", infos
    if "wgslgrad-shared" in systems:
        assert infos["wgslgrad-shared"]["tiles"] == "shared", infos
    assert infos["tfjs-webgpu"]["tfjs"] == "4.22.0"
    assert all(not doc["raw"]["systems"][s]["errors"] for s in systems), {s: doc["raw"]["systems"][s]["errors"]
                                                                        for s in systems}


# no Train(loss=...), like face-api's detectors: `--loss mse` gives it one for the training steps. Its
# 6,400 outputs make compare.mjs's result line longer than a pipe holds at once (it was cut there).
DETECTOR = """\
image = Input(32, 32, 3)
x = conv2d(image, 4, kernel=3, activation="relu")
x = max_pool(x, 2)
x = conv2d(x, 4, kernel=3, activation="leaky_relu")
boxes = conv2d(x, 25, kernel=1)
Output(boxes)
"""


def test_bench_compare_loss_mse(tmp_path: Path) -> None:
    """A spec without a loss, `--loss mse`, in Node: training rows for both systems, the outputs agreeing."""
    systems = ["wgslgrad", "tfjs-webgpu"]
    ensure_chromium()   # Dawn's SwiftShader where the system has no Vulkan for it
    packages_ready("node")
    spec = tmp_path / "detector.py"
    spec.write_text(DETECTOR)
    out = tmp_path / "rows.json"
    run = subprocess.run([sys.executable, "-m", "wgslgrad", "bench", str(spec), "--node", "--loss", "mse",
                          "--batch", "1", "--steps", "1", "--infer-steps", "1", "--rounds", "1", "--warmup", "0",
                          "--timeout", "300", "--systems", ",".join(systems), "-o", str(out)],
                         capture_output=True, text=True, timeout=600, check=False)
    print(run.stdout, run.stderr[-3000:])
    assert run.returncode == 0, run.stderr[-3000:]
    assert "mse of the output 'boxes' against a random input 'target'" in run.stdout, run.stdout
    doc = json.loads(out.read_text())
    rows = {(r["what"], r["batch"]): r for r in doc["rows"]}
    assert set(rows) == {("inference (ms)", 1), ("training step (ms)", 1), ("ready to infer (ms)", 1),
                         ("ready to train (ms)", 1)}, set(rows)
    for key in [("training step (ms)", 1), ("ready to train (ms)", 1)]:
        for s in systems:
            assert rows[key]["ms"][s] is not None and rows[key]["ms"][s] > 0, (key, s, rows[key])
    assert set(doc["agreement"]) == {"tfjs-webgpu"} and doc["agreement"]["tfjs-webgpu"] <= 10 * ATOL, doc["agreement"]
    # the bundle's batch-1 loss is the float64 MSE of the output against 'target', on compare.prepare's inputs
    # (seed 0: uniform, in the graph's input order)
    g = compile_spec(DETECTOR, batch=1)
    add_loss(g, "mse")
    rng = np.random.default_rng(0)
    inputs = {k: rng.uniform(0, 1, g.nodes[i].shape).astype(np.float32).astype(np.float64)
              for k, i in g.inputs.items()}
    ref = evaluate(g, inputs, {k: v.astype(np.float64) for k, v in init_params(g, seed=0).items()})[g.loss]
    loss = doc["raw"]["systems"]["wgslgrad"]["outputs"]["loss"][0]
    assert abs(loss - ref) <= 1e-5 * abs(ref), (loss, ref)
    assert all(not doc["raw"]["systems"][s]["errors"] for s in systems), {s: doc["raw"]["systems"][s]["errors"]
                                                                        for s in systems}


def test_bench_compare_loss_errors(tmp_path: Path) -> None:
    """--loss: an unknown choice, a spec with a loss of its own, --infer-only or no --node/--browser exit 2;
    a spec with several outputs exits 1, saying why; none with a traceback."""
    detector, trained, two = tmp_path / "detector.py", tmp_path / "tiny.py", tmp_path / "two.py"
    detector.write_text(DETECTOR)
    trained.write_text(SPEC)
    two.write_text(DETECTOR + "Output(x, name='features')\n")
    for spec, args, status, says in [(detector, ["--node", "--loss", "l1"], 2, "invalid choice: 'l1'"),
                                     (trained, ["--node", "--loss", "mse"], 2, "already trains a loss"),
                                     (detector, ["--node", "--loss", "mse", "--infer-only"], 2, "--infer-only"),
                                     (detector, ["--loss", "mse"], 2, "--loss needs --browser or --node"),
                                     (two, ["--node", "--loss", "mse"], 1, "has 2 (boxes, features)")]:
        run = subprocess.run([sys.executable, "-m", "wgslgrad", "bench", str(spec), *args],
                             capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == status and says in run.stderr and "Traceback" not in run.stderr, \
            (args, run.returncode, run.stderr)


def test_add_loss_graph() -> None:
    """common.add_loss: MSE of the one output against a new input of its shape, named clear of the spec's own."""
    g = compile_spec(DETECTOR.replace("image = Input", "target = Input").replace("(image,", "(target,"), batch=2)
    assert add_loss(g, "mse") == "target_2"
    loss = g.nodes[g.loss]
    assert loss.op is Op.MSE and loss.shape == () and loss.srcs == (g.outputs["boxes"], g.inputs["target_2"])
    assert g.nodes[g.inputs["target_2"]].shape == g.nodes[g.outputs["boxes"]].shape == (2, 16, 16, 25)
    with pytest.raises(ValueError, match="already trains a loss"):
        add_loss(g, "mse")


def test_bench_compare_usage_errors(tmp_path: Path) -> None:
    """Bad options exit 2 before anything runs; a missing spec exits 1, saying so."""
    spec = tmp_path / "tiny.py"
    spec.write_text(SPEC)
    for args, status, says in [(["--systems", "wgslgrad,pytorch"], 2, "--systems takes"),
                               (["--rounds", "0"], 2, "at least 1"),
                               (["--browser", "--node"], 2, "not allowed with"),
                               (["--timeout", "-1"], 2, "--timeout positive")]:
        run = subprocess.run([sys.executable, "-m", "wgslgrad", "bench", str(spec), "--node", *args],
                             capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == status and says in run.stderr, (args, run.returncode, run.stderr)
    run = subprocess.run([sys.executable, "-m", "wgslgrad", "bench", str(tmp_path / "missing.py"), "--browser"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 1 and "missing.py" in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_comparison_table_from_raw_results() -> None:
    """The table's medians, ratios and '-' for a cell a system did not finish (no browser needed)."""
    from wgslgrad.bench.compare import Comparison

    raw = {"systems": {
        "wgslgrad": {"ready": {"1": {"readyMs": 100.0, "trainReadyMs": 400.0}}, "infer": {"1": [2.0, 4.0, 3.0]},
                     "train": {"1": [10.0, 30.0, 20.0]}, "errors": [], "info": {"system": "wgslgrad"}},
        "tfjs-webgpu": {"ready": {"1": {"readyMs": 300.0, "trainReadyMs": None}}, "infer": {"1": [6.0]},
                        "train": {}, "errors": ["out of time"], "info": None}}}
    c = Comparison("m", "browser", ["wgslgrad", "tfjs-webgpu"], [1], True, raw)
    rows = {(r["what"], r["batch"]): r for r in c.rows()}
    assert rows["inference (ms)", 1]["ms"] == {"wgslgrad": 3.0, "tfjs-webgpu": 6.0}
    assert rows["inference (ms)", 1]["ratio"] == {"tfjs-webgpu": 2.0}
    assert rows["training step (ms)", 1]["ms"]["tfjs-webgpu"] is None
    assert rows["ready to infer (ms)", 1]["ratio"] == {"tfjs-webgpu": 3.0}
    table = c.table()
    assert "2.00x" in table and "3.00x" in table and " - " in table, table
    assert "tfjs-webgpu error: out of time" in c.describe()
