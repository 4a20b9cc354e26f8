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
        """Training loss per step (faint), per epoch (bold) and held-out loss, log scale; accuracy (or mean
        absolute error) per epoch on a second axis when measured; a dotted line where the learning rate
        changed, labelled with the new rate."""
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
            losses = [math.nan if e.get("loss") is None else e["loss"] for e in self.epochs]  # null: no step ended
            ax.plot(ends, losses, "o-", color="tab:blue", label="epoch loss")
        val = [(e["step"], e["val_loss"]) for e in self.epochs if e.get("val_loss") is not None]
        if val:
            ax.plot(*zip(*val), "s-", color="tab:orange", label="held-out loss")
        if self.steps and min(l for _, l in self.steps) > 0:
            ax.set_yscale("log")
        for step, lr in self.lr_changes():
            ax.axvline(step, color="gray", ls=":", lw=1)
            ax.annotate(f"lr {lr:.3g}", (step, 1), xycoords=("data", "axes fraction"), xytext=(2, -10),
                        textcoords="offset points", fontsize=7, color="dimgray")
        handles, labels = ax.get_legend_handles_labels()
        metric = self.metric()
        if metric:
            ax2 = ax.twinx()
            for key, style, color, label in ((metric, "^--", "tab:green", metric.replace("_", " ")),
                                             (f"val_{metric}", "v-", "tab:red", f"held-out {metric}")):
                points = [(e["step"], e[key]) for e in self.epochs if e.get(key) is not None]
                if points:
                    ax2.plot(*zip(*points), style, color=color, label=label)
            ax2.set_ylabel(metric)
            if metric == "accuracy":
                ax2.set_ylim(0, 1.02)
            h2, l2 = ax2.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if handles:
            ax.legend(handles, labels, fontsize=8, loc="center right")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        return buf.getvalue()

    def metric(self) -> str | None:
        """"accuracy" or "mae" when an epoch row holds it (held out or not), else None."""
        for name in ("accuracy", "mae"):
            if any(e.get(name) is not None or e.get(f"val_{name}") is not None for e in self.epochs):
                return name
        return None

    def lr_changes(self) -> list[tuple[int, float]]:
        """(first step at the new rate, new rate) wherever an epoch's rate differs from the one before."""
        out = []
        for before, after in zip(self.epochs, self.epochs[1:]):
            if after.get("lr") is not None and before.get("lr") is not None and after["lr"] != before["lr"]:
                out.append((int(before["step"]), float(after["lr"])))
        return out
