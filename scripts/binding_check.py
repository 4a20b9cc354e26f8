"""tiny_face_detector at batch 16 compiled for 1 GiB bindings (its arena one 230.8 MiB buffer) against the same
weights at batch 1 with the default 128 MiB, sample by sample, through wgpu-py; prints the device's limits and
the time of a batch-16 predict. Needs a device that binds 1 GiB (a GPU; lavapipe binds 128 MiB and refuses it).

    python3 scripts/binding_check.py [WEIGHTS_MANIFEST]   # default: face-api's, from tests/faceapi's npm install
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import wgslgrad
from wgslgrad.runtime.device import get_device

WEIGHTS = "tests/faceapi/node_modules/@vladmandic/face-api/model/tiny_face_detector_model-weights_manifest.json"


def main() -> None:
    weights = sys.argv[1] if len(sys.argv) > 1 else WEIGHTS
    dev, name = get_device()
    print(f"{name}: binds {dev.limits['max-storage-buffer-binding-size']:,} bytes of one buffer, buffers up to "
          f"{dev.limits['max-buffer-size']:,}")
    seed = 5
    print(f"seed {seed}")
    x = np.random.default_rng(seed).uniform(0, 255, (16, 416, 416, 3)).astype(np.float32)
    big = wgslgrad.compile("examples/tiny_face_detector.py", batch=16, max_binding=2**30)
    one = wgslgrad.compile("examples/tiny_face_detector.py", batch=1)
    for m in (big, one):
        m.load_weights(weights)
    got, want = big.predict(x), one.predict(x, batch_size=1)
    diff = float(np.abs(got - want).max())
    print(f"batch 16 (1 GiB bindings) against batch 1: max abs difference {diff} (mean |output| "
          f"{float(np.abs(want).mean()):.3f})")
    assert diff <= 1e-4 * float(np.abs(want).max())
    n = 20
    t = time.perf_counter()
    for _ in range(n):
        big.predict(x)
    print(f"batch-16 predict, host to host: {1e3 * (time.perf_counter() - t) / n:.1f} ms")


if __name__ == "__main__":
    main()
