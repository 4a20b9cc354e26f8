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
    from wgslgrad.compiler.lower import lower_train
    from wgslgrad.runtime.train_session import TrainSession

    graph = load_spec(EXAMPLES / f"{model}.py", batch)
    session = TrainSession(lower_train(graph), device)
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
