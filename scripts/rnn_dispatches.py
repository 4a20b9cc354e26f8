"""Dispatches of one training step of an lstm and of a gru layer over every time step, from the lowered
Programs (no GPU needed: lowering only), with the spec of BENCHMARKS.md's LSTM table (32 features in, every h
out, mse on every h, Adam). Per time step: the growth from the shorter sequence to the longer, and which kernels
make it.

    python3 scripts/rnn_dispatches.py [--units 256] [--batch 1] [--seq 16 64]
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # this checkout's wgslgrad, not an installed one

from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.compiler.lower import lower
from wgslgrad.compiler.program import BACKWARD, FORWARD, OPTIMIZER, Program

SPEC = """
x = Input({t}, 32)
y = Input({t}, {u})
h = {layer}(x, {u}, return_sequences=True)
Output(h)
Train(loss=mse(h, y), batch={b})
"""


def _program(layer: str, t: int, units: int, batch: int) -> Program:
    return lower(compile_spec(SPEC.format(t=t, u=units, b=batch, layer=layer), f"{layer}.py"), training=True)


def _kinds(p: Program, phase: str) -> Counter[str]:
    return Counter(p.kernels[k].op for k in p.phase_kernels(phase))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--units", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, nargs=2, default=[16, 64])
    a = ap.parse_args()
    t1, t2 = a.seq
    print(f"| layer | dispatches a step, T={t1} | T={t2} | per time step: forward | backward | kernels a time step adds |")
    print("|---|---:|---:|---:|---:|---|")
    for layer in ("lstm", "gru"):
        p1, p2 = _program(layer, t1, a.units, a.batch), _program(layer, t2, a.units, a.batch)
        steps = [sum(len(p.phase_kernels(ph)) for ph in (FORWARD, BACKWARD, OPTIMIZER)) for p in (p1, p2)]
        per = {ph: (len(p2.phase_kernels(ph)) - len(p1.phase_kernels(ph))) / (t2 - t1) for ph in (FORWARD, BACKWARD)}
        grew = {ph: _kinds(p2, ph) - _kinds(p1, ph) for ph in (FORWARD, BACKWARD)}
        # (a kernel that splits in two past some size, the loss's here, grows by a fraction: left out)
        kinds = "; ".join(f"{ph}: " + ", ".join(f"{round(c / (t2 - t1))} {k}" for k, c in sorted(grew[ph].items())
                                                if c / (t2 - t1) >= 0.5) for ph in (FORWARD, BACKWARD))
        print(f"| {layer} | {steps[0]:,} | {steps[1]:,} | {per[FORWARD]:.1f} | {per[BACKWARD]:.1f} | {kinds} |")


if __name__ == "__main__":
    main()
