"""KNN head benchmarks (issue 14, item 4): classify one 256-d query against 1,000 and 10,000 stored examples.

Run: pytest tests/bench/test_knn_bench.py --benchmark-enable -s
- test_python_classify: wgslgrad.knn.KNNClassifier on whatever adapter wgpu finds (lavapipe on a CPU).
- test_bundle_beside_tfjs: tests/knn/bench/bench.mjs in Node (its packages, ~460 MB, installed on first use): the bundle's knn.js beside knn-classifier on TF.js's
  WebGPU, wasm and cpu backends (WebGPU from the webgpu package: Dawn, SwiftShader on a CPU), with whether
  every answer agreed; printed as JSON rows and kept in benchmark.extra_info.
- test_bundle_beside_tfjs_in_chromium: tests/knn/bench/chromium.mjs: the same in headless Chromium (WebGPU on
  SwiftShader), knn.js and knn-classifier on TF.js's webgpu and wasm backends interleaved round by round.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from wgslgrad.knn import KNNClassifier

TESTS = Path(__file__).resolve().parents[1]
SIZES = [1000, 10000]


@pytest.mark.parametrize("n", SIZES)
def test_python_classify(benchmark: Any, device: Any, n: int) -> None:
    rng = np.random.default_rng(0)
    knn = KNNClassifier(device)
    x = rng.standard_normal((n, 256)).astype(np.float32)
    for c in range(10):
        knn.add_example(x[c::10], c)
    q = rng.standard_normal(256).astype(np.float32)
    benchmark.group = f"KNN classify, {n} x 256 stored"
    result = benchmark.pedantic(lambda: knn.predict_class(q, 3), rounds=20, iterations=1, warmup_rounds=2)
    assert sum(result["confidences"].values()) == pytest.approx(1.0)


def bench_packages() -> Path:
    """tests/knn/bench with its node_modules (npm ci on first use)."""
    bench_dir = TESTS / "knn" / "bench"
    if not (bench_dir / "node_modules" / "webgpu").is_dir():
        npm = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=bench_dir, capture_output=True,
                             text=True, timeout=900, check=False)
        assert npm.returncode == 0, f"npm ci in {bench_dir} failed:\n{npm.stderr[-2000:]}"
    return bench_dir


def test_bundle_beside_tfjs(benchmark: Any, tmp_path: Path) -> None:
    sys.path.insert(0, str(TESTS))
    from test_bundle import node_env

    from wgslgrad.export.knn_js import write_knn_js
    bench_dir = bench_packages()
    knn_js = write_knn_js(tmp_path)
    out = tmp_path / "rows.json"

    def run() -> None:
        r = subprocess.run(["node", "bench.mjs", str(knn_js), "--sizes=" + ",".join(map(str, SIZES)), "--runs=20",
                            f"--json={out}"], cwd=bench_dir, env=dict(node_env()), capture_output=True,
                           text=True, timeout=1800, check=False)
        assert r.returncode == 0, r.stderr[-3000:]

    benchmark.pedantic(run, rounds=1, iterations=1)
    rows = json.loads(out.read_text())
    print("\n".join(json.dumps(row) for row in rows))
    benchmark.extra_info["rows"] = rows
    assert all(row.get(f"{b}_agree", True) for row in rows for b in ("webgpu", "wasm", "cpu"))


def test_bundle_beside_tfjs_in_chromium(benchmark: Any, tmp_path: Path) -> None:
    sys.path.insert(0, str(TESTS))
    from test_bundle import ensure_chromium, npm_ready

    from wgslgrad.export.knn_js import write_knn_js
    npm_ready()        # tests/js: playwright-core
    ensure_chromium()
    bench_dir = bench_packages()
    knn_js = write_knn_js(tmp_path)
    out = tmp_path / "chromium.json"

    def run() -> None:
        r = subprocess.run(["node", "chromium.mjs", str(knn_js), "--sizes=" + ",".join(map(str, SIZES)), "--rounds=5",
                            "--per=8", "--perWebgpu=2", f"--json={out}"], cwd=bench_dir, capture_output=True,
                           text=True, timeout=3600, check=False)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
        print(r.stdout)

    benchmark.pedantic(run, rounds=1, iterations=1)
    result = json.loads(out.read_text())
    benchmark.extra_info["rows"] = [{k: v for k, v in row.items() if k != "samples"} for row in result["rows"]]
    assert all(row[f"{b}_agree"] for row in result["rows"] for b in ("webgpu", "wasm"))
