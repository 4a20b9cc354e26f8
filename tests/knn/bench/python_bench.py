"""wgslgrad.knn.KNNClassifier's classify time on whatever adapter wgpu finds (for a GPU machine; the CPU run is
tests/bench/test_knn_bench.py): one 256-d query against 16 to 100,000 stored examples, k=3 (knn_scan and the
host merge) and k=17 (knn_similarity + knn_topk), median ms of 50, each answer read back; beside NumPy doing
the same (normalised matmul, top k by a stable sort) on this machine's CPU.

    PYTHONPATH=. python3 tests/knn/bench/python_bench.py          # from the repository root
"""
from __future__ import annotations

import json
import time

import numpy as np

from wgslgrad.knn import KNNClassifier
from wgslgrad.runtime.device import get_device


def median_ms(fn, queries) -> float:
    for q in queries[:5]:
        fn(q)
    times = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def row(device, rng: np.random.Generator, n: int) -> dict:
    x = rng.standard_normal((n, 256)).astype(np.float32)
    knn = KNNClassifier(device)
    for c in range(10):
        knn.add_example(x[c::10], c)
    queries = rng.standard_normal((50, 256)).astype(np.float32)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    return {"n": n, "scan_k3_ms": median_ms(lambda q: knn.predict_class(q, 3), queries),
            "topk_k17_ms": median_ms(lambda q: knn.predict_class(q, 17), queries),
            "numpy_cpu_ms": median_ms(lambda q: np.argsort(-(unit @ (q / np.linalg.norm(q))), kind="stable")[:3],
                                      queries)}


def main() -> None:
    device, adapter = get_device()
    rng = np.random.default_rng(0)
    print(json.dumps({"adapter": adapter}))
    for n in (16, 1000, 10000, 100000):
        print(json.dumps(row(device, rng, n)), flush=True)


if __name__ == "__main__":
    main()
