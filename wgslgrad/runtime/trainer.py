"""The training loop: epochs of shuffled batches through a training Session, with checkpoints, a loss
history and plot, learning-rate schedules, resume, NaN/Inf detection and a clean Ctrl-C.

The loss of each step is read back asynchronously by the session, so this loop never waits on the GPU
inside an epoch; it drains the outstanding losses at the end of each epoch, before anything is saved.
"""
from __future__ import annotations

import math
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from ..compiler.ir import Graph
from .checkpoint import CheckpointError, check_params, checkpoint_bytes, load_checkpoint
from .data import batches, num_samples
from .history import History
from .metrics import batch_metric, metric_kind
from .run_folder import CHECKPOINT, HISTORY, PLOT, save_run
from .schedule import parse_schedule


class StopRequest:
    """Ctrl-C asks training to stop at the next step boundary, so that no GPU call is cut in half; a second
    Ctrl-C stops at once. Off the main thread (where Python delivers no signals) it does nothing."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt


class SessionLike(Protocol):
    def step(self, inputs: dict[str, np.ndarray], lr: float) -> int: ...
    def poll(self) -> list[tuple[int, float]]: ...
    def drain(self) -> list[tuple[int, float]]: ...
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...
    def get_params(self) -> dict[str, np.ndarray]: ...
    def set_params(self, params: dict[str, np.ndarray]) -> None: ...
    def optimizer_state(self) -> dict[str, np.ndarray]: ...
    def set_optimizer_state(self, state: dict[str, np.ndarray]) -> None: ...


class Diverged(Exception):
    """The loss became NaN or Inf; the last good checkpoint is kept as it was."""

    def __init__(self, step: int, loss: float, checkpoint: Path | None):
        kept = f"; the last good checkpoint is {checkpoint}" if checkpoint else ""
        super().__init__(f"training stopped: the loss is {loss} at step {step}{kept}")
        self.step, self.loss = step, loss


@dataclass
class FitConfig:
    epochs: int = 10
    lr: float = 0.001
    schedule: str | None = None     # none | step:EVERY[:FACTOR] | plateau:PATIENCE[:FACTOR]
    seed: int = 0
    out: Path | None = None         # folder for checkpoint.safetensors, history.json, loss.png
    resume: Path | None = None      # a checkpoint to start from (its step and epoch carry on)
    progress: bool = True
    shuffle: bool = True


def evaluate(session: SessionLike, graph: Graph, data: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean loss and the metric of runtime.metrics (accuracy or mae) over `data`, in batches of the compiled
    size; the last batch is padded by repeating samples, so its loss (a batch mean) is approximate."""
    n, b = num_samples(data), graph.batch
    kind = metric_kind(graph, data)
    losses, values = [], []
    for start in range(0, n, b):
        idx = np.resize(np.arange(start, min(start + b, n)), b)  # pad the last batch by repeating samples
        real = min(b, n - start)
        batch = {k: v[idx] for k, v in data.items()}
        out = session.run(batch)
        if "loss" in out:
            losses.append((float(out["loss"]), real))
        value = batch_metric(graph, kind, {k: v[:real] for k, v in out.items() if v.ndim},
                             {k: v[:real] for k, v in batch.items()})
        if value is not None:
            values.append((value, real))
    result: dict[str, float] = {}
    if losses:
        result["loss"] = sum(l * r for l, r in losses) / n
    if values and kind:
        result[kind] = sum(a * r for a, r in values) / n
    return result


def fit(session: SessionLike, graph: Graph, data: dict[str, np.ndarray], cfg: FitConfig,
        val: dict[str, np.ndarray] | None = None, log: Callable[[str], None] | None = None,
        on_step: Callable[[int, float], None] | None = None,
        on_epoch: Callable[[dict[str, Any]], bool | None] | None = None,
        evaluator: Callable[[dict[str, np.ndarray]], dict[str, float]] | None = None) -> History:
    """Train for cfg.epochs epochs; returns the loss history (also saved under cfg.out).

    on_step(step, loss) is called for each loss as it comes back (a few steps late: read-back is
    asynchronous); on_epoch(row) after each epoch's row (epoch, step, lr, loss, val_...) is saved, and
    training stops there when it returns True (early stopping). evaluator(val) gives the held-out figures
    (default: evaluate() below, which pads the last batch)."""
    say = log or (lambda s: print(s, file=sys.stderr))
    history, step, first_epoch = History(), 0, 0
    lr = cfg.lr
    if cfg.resume:
        params, state, meta = load_checkpoint(cfg.resume)
        check_params(cfg.resume, params, {name: graph.nodes[i].shape for name, i in graph.params.items()})
        session.set_params(params)
        if state:
            try:
                session.set_optimizer_state(state)
            except (ValueError, KeyError, IndexError) as e:
                raise CheckpointError(f"{cfg.resume}: its optimizer state does not fit this spec: {e}") from None
        step, first_epoch = int(meta.get("step", 0)), int(meta.get("epoch", 0))
        if meta.get("history"):
            history = History([tuple(s) for s in meta["history"]["steps"]], meta["history"]["epochs"])  # type: ignore[misc]
        say(f"resumed from {cfg.resume} at epoch {first_epoch}, step {step}, learning rate {lr:g}")
    schedule = parse_schedule(cfg.schedule, lr)
    ckpt = cfg.out / CHECKPOINT if cfg.out else None
    saved: Path | None = ckpt if ckpt and ckpt.exists() else None
    rng = np.random.default_rng(cfg.seed + first_epoch)
    steps_per_epoch = -(-num_samples(data) // graph.batch)

    def record(done: list[tuple[int, float]]) -> None:
        for s, loss in done:
            if not math.isfinite(loss):
                raise Diverged(s, loss, saved)
            history.steps.append((s, loss))
            if on_step is not None:
                on_step(s, loss)

    def save(epoch: int) -> None:
        nonlocal saved
        if ckpt is None:
            return
        meta: dict[str, Any] = {"step": step, "epoch": epoch, "lr": lr,
                                "history": {"steps": history.steps, "epochs": history.epochs}}
        # Checkpoint, history and plot change together (run_folder): a kill never pairs one epoch's
        # checkpoint with another's history.
        save_run(ckpt.parent, {CHECKPOINT: checkpoint_bytes(session.get_params(), session.optimizer_state(), meta),
                               HISTORY: history.to_json(), PLOT: history.plot_png(f"{ckpt.parent.name}: loss")})
        saved = ckpt

    epoch = first_epoch
    with StopRequest() as stop:
        try:
            for epoch in range(first_epoch, first_epoch + cfg.epochs):
                bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}", unit="step", leave=False,
                           disable=not cfg.progress, file=sys.stderr)
                start = len(history.steps)
                for batch in batches(data, graph.batch, rng if cfg.shuffle else None):
                    step = session.step(batch, lr)
                    record(session.poll())
                    if len(history.steps) > start:
                        bar.set_postfix(loss=f"{history.steps[-1][1]:.4g}", lr=f"{lr:.3g}")
                    bar.update()
                    stop.check()
                record(session.drain())
                bar.close()
                epoch_losses = [l for _, l in history.steps[start:]]
                row: dict[str, Any] = {"epoch": epoch + 1, "step": step, "lr": lr,
                                       "loss": float(np.mean(epoch_losses)) if epoch_losses else float("nan")}
                if val is not None:
                    held = evaluator(val) if evaluator is not None else evaluate(session, graph, val)
                    row.update({f"val_{k}": v for k, v in held.items()})
                history.epochs.append(row)
                say(f"epoch {epoch + 1}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                        for k, v in row.items() if k != "epoch"))
                lr = schedule.next(row["loss"])
                save(epoch + 1)
                if on_epoch is not None and on_epoch(row):
                    break
        except KeyboardInterrupt:
            say("interrupted: finishing the steps in flight and saving")
            record(session.drain())
            save(epoch)
            raise
    return history
