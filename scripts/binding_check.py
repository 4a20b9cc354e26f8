"""tiny_face_detector at batch 16 compiled for 1 GiB bindings (its arena one 230.8 MiB buffer) against the same
weights at batch 1 with the default 128 MiB bindings through wgpu-py, sample by sample.

    python3 scripts/binding_check.py [--weights MANIFEST]          # batch 16 through wgpu-py too: needs a
                                                                  # device that binds 1 GiB (a GPU; not lavapipe)
    python3 scripts/binding_check.py --node [--weights MANIFEST]   # batch 16 as a bundle in Node (Dawn; on a
                                                                  # CPU-only machine SwiftShader, which binds 1 GiB)

The weights default to face-api's, from tests/faceapi's npm install (scripts/setup.sh). Prints the device's
limits, the largest difference (the two Programs add in the same order: expect 0) and, through wgpu-py, the
time of a batch-16 predict.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import wgslgrad
from wgslgrad.runtime.device import get_device

WEIGHTS = ROOT / "tests/faceapi/node_modules/@vladmandic/face-api/model/tiny_face_detector_model-weights_manifest.json"
SPEC = ROOT / "examples/tiny_face_detector.py"
SWIFTSHADER = "/usr/lib/chromium/vk_swiftshader_icd.json"


def node_predict(model: wgslgrad.Model, x: np.ndarray) -> np.ndarray:
    """`model`'s batch-16 bundle run in Node (tests/js/run_bundle.mjs) on `x`."""
    with tempfile.TemporaryDirectory() as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wgslgrad.BatchWarning)   # batch 16 is the point here
            model.export(tmp, js=True)
        (Path(tmp) / "request.json").write_text(json.dumps({"predict": {"image": x.reshape(-1).tolist()}}))
        env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
        if Path(SWIFTSHADER).exists():
            env.setdefault("VK_ICD_FILENAMES", SWIFTSHADER)
        t = time.perf_counter()
        run = subprocess.run(["node", "run_bundle.mjs", tmp, f"{tmp}/request.json", f"{tmp}/result.json"],
                             cwd=ROOT / "tests/js", env=env, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            sys.exit(f"node run_bundle.mjs failed:\n{run.stderr[-2000:]}")
        print(f"Node: created the model and ran batch 16 in {time.perf_counter() - t:.0f} s")
        out = json.loads((Path(tmp) / "result.json").read_text())["outputs"]
    return np.asarray(next(iter(out.values())), np.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(WEIGHTS), help="a weights manifest for the spec")
    p.add_argument("--node", action="store_true", help="run batch 16 as a bundle in Node instead of wgpu-py")
    args = p.parse_args()
    dev, name = get_device()
    print(f"wgpu-py: {name}: binds {dev.limits['max-storage-buffer-binding-size']:,} bytes of one buffer")
    seed = 5
    print(f"seed {seed}")
    x = np.random.default_rng(seed).uniform(0, 255, (16, 416, 416, 3)).astype(np.float32)
    big = wgslgrad.compile(SPEC, batch=16, max_binding=2**30)
    one = wgslgrad.compile(SPEC, batch=1)
    for m in (big, one):
        m.load_weights(args.weights)
    want = one.predict(x, batch_size=1)
    got = node_predict(big, x).reshape(want.shape) if args.node else big.predict(x)
    diff = float(np.abs(got - want).max())
    print(f"batch 16 (1 GiB bindings) against batch 1: max abs difference {diff} (mean |output| "
          f"{float(np.abs(want).mean()):.3f})")
    assert diff <= 1e-4 * float(np.abs(want).max())
    if not args.node:
        n = 20
        t = time.perf_counter()
        for _ in range(n):
            big.predict(x)
        print(f"batch-16 predict, host to host: {1e3 * (time.perf_counter() - t) / n:.1f} ms")


if __name__ == "__main__":
    main()
