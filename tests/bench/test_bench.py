"""Training-step benchmarks: digits and landmark68 at batch 1 and 16, wgslgrad on whatever adapter wgpu finds
(lavapipe on a CPU-only machine) and PyTorch on its default device when installed, grouped per model and batch.

Run: pytest tests/bench --benchmark-enable   (`wgslgrad bench FILE` prints a fuller table, TF.js included).
A wgslgrad round is one step() and a drain(): the synchronous time of one step, read-back included.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wgslgrad.bench.run import random_inputs
from wgslgrad.compiler.frontend import load_spec
from wgslgrad.runtime.init import init_params

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CASES = [("digits", 1), ("digits", 16), ("landmark68", 1), ("landmark68", 16)]
ROUNDS = {"digits": 20, "landmark68": 3}


def _run(benchmark: Any, fn: Callable[[], Any], model: str) -> None:
    benchmark.pedantic(fn, rounds=ROUNDS[model], iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("model,batch", CASES)
def test_wgslgrad_train_step(benchmark: Any, device: Any, model: str, batch: int) -> None:
    from wgslgrad.compiler.lower import lower
    from wgslgrad.runtime.session import Session

    graph = load_spec(EXAMPLES / f"{model}.py", batch)
    session = Session(lower(graph, training=True), device)
    session.set_params(init_params(graph, seed=0))
    inputs, lr = random_inputs(graph), float(graph.train.get("lr", 1e-3))
    benchmark.group = f"{model} train step, batch {batch}"
    benchmark.extra_info.update({k: session.stats().get(k) for k in ("total_bytes", "dispatches")})

    def step() -> None:
        session.step(inputs, lr)
        session.drain()
    _run(benchmark, step, model)


@pytest.mark.parametrize("model,batch", CASES)
def test_torch_train_step(benchmark: Any, model: str, batch: int) -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    from wgslgrad.bench.torch_peer import sync, torch_step_fn

    on = "cuda" if torch.cuda.is_available() else "cpu"
    graph = load_spec(EXAMPLES / f"{model}.py", batch)
    step = torch_step_fn(graph, init_params(graph, seed=0), random_inputs(graph), on)
    benchmark.group = f"{model} train step, batch {batch}"
    benchmark.extra_info["device"] = on

    def run() -> None:
        step()
        sync(on)
    _run(benchmark, run, model)


# -- inference over a data set: Model.predict on 10,000 digits images beside PyTorch on the CPU -------------
PREDICT_IMAGES = 10_000
PREDICT_BATCHES = [32, 256]


def _digits_images(n: int) -> Any:
    import numpy as np

    from wgslgrad.datasets import digits
    train, test = digits()
    return np.resize(np.concatenate([train["pixels"], test["pixels"]]), (n, 8, 8, 1))   # the 1,797 repeated


def _images_per_s(benchmark: Any) -> None:
    images_per_s = PREDICT_IMAGES / benchmark.stats.stats.median
    benchmark.extra_info["images_per_s"] = round(images_per_s)
    print(f"\n{benchmark.name}: {images_per_s:,.0f} images/s")


@pytest.mark.parametrize("batch", PREDICT_BATCHES)
def test_wgslgrad_predict_digits(benchmark: Any, device: Any, batch: int) -> None:
    import wgslgrad

    model = wgslgrad.compile(EXAMPLES / "digits.py", batch=batch)
    x = _digits_images(PREDICT_IMAGES)
    model.predict(x[:batch])                  # the session and its pipelines, made once, outside the timing
    benchmark.group = f"digits predict, {PREDICT_IMAGES:,} images"
    benchmark.pedantic(model.predict, args=(x,), rounds=3, iterations=1, warmup_rounds=0)
    _images_per_s(benchmark)


@pytest.mark.parametrize("batch", PREDICT_BATCHES)
def test_torch_cpu_predict_digits(benchmark: Any, batch: int) -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    import numpy as np

    from wgslgrad.bench.torch_peer import TorchModel, configure

    configure("cpu")
    graph = load_spec(EXAMPLES / "digits.py", batch)   # the graph's reshapes hold the batch: run in chunks
    model = TorchModel(graph, init_params(graph, seed=0)).eval()
    x = torch.as_tensor(_digits_images(PREDICT_IMAGES))

    def predict() -> Any:
        out = []
        with torch.inference_mode():
            for start in range(0, PREDICT_IMAGES, batch):
                idx = np.resize(np.arange(start, min(start + batch, PREDICT_IMAGES)), batch)
                logits = model({"pixels": x[idx]}, with_loss=False)[0]["probabilities"]
                out.append(logits[: min(batch, PREDICT_IMAGES - start)])
        return torch.cat(out)
    benchmark.group = f"digits predict, {PREDICT_IMAGES:,} images"
    benchmark.extra_info["device"] = "cpu"
    benchmark.pedantic(predict, rounds=3, iterations=1, warmup_rounds=1)
    _images_per_s(benchmark)
