"""Learning-rate schedules, stepped once per epoch with that epoch's loss."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Constant:
    lr: float

    def next(self, epoch_loss: float) -> float:
        return self.lr


@dataclass
class StepDecay:
    """Multiply the rate by `factor` every `every` epochs."""
    lr: float
    every: int
    factor: float = 0.5
    epoch: int = 0

    def next(self, epoch_loss: float) -> float:
        self.epoch += 1
        if self.epoch % self.every == 0:
            self.lr *= self.factor
        return self.lr


@dataclass
class ReduceOnPlateau:
    """Multiply the rate by `factor` when the loss has not improved for `patience` epochs."""
    lr: float
    patience: int = 3
    factor: float = 0.5
    min_lr: float = 1e-6
    best: float = math.inf
    waited: int = 0

    def next(self, epoch_loss: float) -> float:
        if epoch_loss < self.best * (1 - 1e-4):
            self.best, self.waited = epoch_loss, 0
        else:
            self.waited += 1
            if self.waited >= self.patience:
                self.lr, self.waited = max(self.lr * self.factor, self.min_lr), 0
        return self.lr


Schedule = Constant | StepDecay | ReduceOnPlateau


def parse_schedule(text: str | None, lr: float) -> Schedule:
    """`none`, `step:EVERY[:FACTOR]` or `plateau:PATIENCE[:FACTOR]` (the CLI's --schedule): EVERY and
    PATIENCE whole numbers of epochs (at least 1), FACTOR a positive finite number (default 0.5)."""
    if not text or text == "none":
        return Constant(lr)
    kind, *nums = text.split(":")
    usage = "use none, step:EVERY[:FACTOR] or plateau:PATIENCE[:FACTOR]"
    if kind not in ("step", "plateau") or not 1 <= len(nums) <= 2:
        raise ValueError(f"bad schedule {text!r}: {usage}")
    try:
        values = [float(x) for x in nums]
    except ValueError:
        raise ValueError(f"bad schedule {text!r}: numbers expected after the colon") from None
    every = "EVERY" if kind == "step" else "PATIENCE"
    if not (math.isfinite(values[0]) and values[0] >= 1 and values[0] == int(values[0])):
        raise ValueError(f"bad schedule {text!r}: {every} is a whole number of epochs, at least 1")
    if len(values) == 2 and not (math.isfinite(values[1]) and values[1] > 0):
        raise ValueError(f"bad schedule {text!r}: FACTOR must be a positive number")
    cls = StepDecay if kind == "step" else ReduceOnPlateau
    return cls(lr, int(values[0]), *values[1:])
