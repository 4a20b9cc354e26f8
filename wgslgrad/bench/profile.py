"""`wgslgrad bench FILE --profile`: where a training step's time goes, kernel by kernel.

Each kernel is dispatched alone, in its own submit, and waited for (Session.profile), so every time includes
one submit and wait: the times add up to more than a step, and small kernels look slower than they are.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..compiler.frontend import load_spec
from ..compiler.lower import lower
from ..runtime.device import get_device
from ..runtime.init import init_params
from ..runtime.session import Session
from .common import random_inputs, spec_lr, text_table


def profile_step(spec: Path, batch: int, repeat: int = 3, top: int = 10, max_binding: int | None = None) -> str:
    """Two tables: milliseconds per op kind (forward ops and their gradients apart), and the `top` slowest kernels
    (`max_binding`: load_spec's)."""
    graph = load_spec(spec, batch, max_binding)
    session = Session(lower(graph, training=True), get_device()[0])
    session.set_params(init_params(graph, seed=0))
    session.step(random_inputs(graph), spec_lr(graph))   # realistic buffer contents
    session.drain()
    times = session.profile(repeat=repeat)
    kernels = session.program.kernels
    total = sum(t for _, t in times)
    per_op: dict[str, list[float]] = defaultdict(list)
    for i, t in times:
        per_op[kernels[i].op].append(t)
    ops = sorted(per_op.items(), key=lambda kv: -sum(kv[1]))
    by_op = text_table(["op", "kernels", "ms", "share"],
                       [[op, str(len(ts)), f"{1e3 * sum(ts):.2f}", f"{100 * sum(ts) / total:.1f}%"] for op, ts in ops],
                       left={0})
    slow = sorted(times, key=lambda it: -it[1])[:top]
    slowest = text_table(["kernel", "scope", "workgroups", "ms", "GFLOP/s"],
                         [[kernels[i].name, kernels[i].scope, "x".join(map(str, kernels[i].workgroups)), f"{1e3 * t:.2f}",
                           f"{kernels[i].flops / t / 1e9:.2f}"] for i, t in slow], left={0, 1})
    return (f"{spec.stem}, batch {batch}: {len(kernels)} kernels, {1e3 * total:.1f} ms dispatched one at a time\n\n"
            f"{by_op}\n\nslowest kernels\n{slowest}")
