"""Loss history: kept per step and per epoch, saved as JSON and drawn as a PNG."""
from __future__ import annotations

import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .checkpoint import atomic_write, finite_json


@dataclass
class History:
    steps: list[tuple[int, float]] = field(default_factory=list)    # (step, training loss)
    epochs: list[dict[str, Any]] = field(default_factory=list)      # epoch, loss, lr, val_loss, ...

    def save(self, path: str | Path) -> None:
        atomic_write(path, self.to_json())

    def to_json(self) -> bytes:
        """Strict JSON: a NaN or infinite loss (an epoch with no finished step) is written as null."""
        return json.dumps(finite_json(asdict(self)), indent=1, allow_nan=False).encode()

    @classmethod
    def load(cls, path: str | Path) -> History:
        data = json.loads(Path(path).read_text())
        return cls([tuple(s) for s in data["steps"]], data["epochs"])  # type: ignore[misc]

    def plot(self, path: str | Path, title: str = "") -> None:
        """Training loss per step (faint), per epoch (bold) and held-out loss, log scale."""
        atomic_write(path, self.plot_png(title))

    def plot_png(self, title: str = "") -> bytes:
        """The plot of plot() as PNG bytes."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        if self.steps:
            s, l = zip(*self.steps)
            ax.plot(s, l, color="tab:blue", alpha=0.3, lw=0.8, label="step loss")
        ends = [e["step"] for e in self.epochs]
        if self.epochs:
            ax.plot(ends, [math.nan if e.get("loss") is None else e["loss"] for e in self.epochs], "o-", color="tab:blue", label="epoch loss")
        val = [(e["step"], e["val_loss"]) for e in self.epochs if e.get("val_loss") is not None]
        if val:
            ax.plot(*zip(*val), "s-", color="tab:orange", label="held-out loss")
        if self.steps and min(l for _, l in self.steps) > 0:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        return buf.getvalue()
