"""The table of gpu_bench.sh's A/B run: `wgslgrad bench` rows (JSON) of an old tree ("base"), this checkout
("new") and PyTorch, medians over the interleaved rounds, side by side.

    python3 scripts/gpu_ab.py runs/gpu_bench/ab      # files MODEL_{base,new}_ROUND.json, MODEL_torch.json
"""
from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def _fmt(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def table(folder: Path) -> str:
    train: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    infer: dict[tuple[str, str], list[float]] = defaultdict(list)
    dispatches: dict[tuple[str, int, str], int] = {}
    names: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        parts = path.stem.split("_")                  # MODEL_WHO_ROUND or MODEL_torch
        who = parts[-2] if parts[-1].isdigit() else parts[-1]
        rows = json.loads(path.read_text())
        for row in rows:
            key = (row["model"], row["batch"], who)
            if row.get("train_ms") is not None:
                train[key].append(row["train_ms"])
            if row.get("dispatches") is not None:
                dispatches[key] = row["dispatches"]
            names.setdefault(who, row["backend"])
        if rows and rows[0].get("infer_ms") is not None:   # the same batch-1 figure on every row of a file
            infer[(rows[0]["model"], who)].append(rows[0]["infer_ms"])
    med = {k: statistics.median(v) for k, v in train.items()}
    imed = {k: statistics.median(v) for k, v in infer.items()}
    head = ["model", "batch", "train ms base", "new", "torch", "base/new", "torch/new", "infer ms (b1) base", "new",
            "torch", "dispatches base/new"]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for model, batch in sorted({(m, b) for m, b, _ in med}):
        base, new, torch = (med.get((model, batch, w)) for w in ("base", "new", "torch"))
        ib, inew, it = (imed.get((model, w)) for w in ("base", "new", "torch"))
        lines.append(" | ".join([
            model, str(batch), _fmt(base), _fmt(new), _fmt(torch),
            _fmt(base / new if base and new else None), _fmt(torch / new if torch and new else None),
            _fmt(ib, 3), _fmt(inew, 3), _fmt(it, 3),
            f"{dispatches.get((model, batch, 'base'), '-')}/{dispatches.get((model, batch, 'new'), '-')}"]))
    rounds = max((len(v) for k, v in train.items() if k[2] != "torch"), default=0)
    legend = "\n".join(f"  {w}: {n}" for w, n in sorted(names.items()))
    return (f"median over {rounds} interleaved rounds (train: one step, mean of the timed steps; inference: "
            f"batch 1, median)\n{legend}\n\n" + "\n".join(lines))


if __name__ == "__main__":
    print(table(Path(sys.argv[1])))
