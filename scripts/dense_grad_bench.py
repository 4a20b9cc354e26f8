"""Time the dense products alone: DENSE_DX (dy[B,U] @ w[F,U].T) and DENSE_DW (x[B,F].T @ dy[B,U]) at the
shapes of the char LSTM's recurrence and layers and of examples/digits.py, and with --forward the forward DENSE
(x[B,F] @ w[F,U] + bias, then relu fused) at theirs, each kernel dispatched alone and waited for
(Session.profile), medians of --repeat. Prints one line per product: its kernels and ms.

The wgslgrad it imports is the one on PYTHONPATH (else the installed one), so run it as
    PYTHONPATH=. python3 scripts/dense_grad_bench.py --kernels tiled,rows --rounds 3
to time the tiled and the few-row kernel in turn in one process (linear_kernels.DX_ROWS/DW_ROWS forced), or
with PYTHONPATH=<another tree> and the default --kernels auto to time what that tree's compiler picks;
    PYTHONPATH=. python3 scripts/dense_grad_bench.py --forward --kernels tiled,rows --rounds 3
times the forward DENSE with the tiled kernel and the 4x4 blocks of dense_rows.wgsl in turn
(linear_kernels.FWD_ROWS forced; at dcaeae2 a third mode, thread, timed the one thread per output that the
forward took below 16 rows before).
"""
from __future__ import annotations

import argparse

import numpy as np

import wgslgrad
from wgslgrad.compiler.ir import Graph, Op, op_attrs
from wgslgrad.compiler.lower import lower
from wgslgrad.ops import linear_kernels
from wgslgrad.runtime.device import get_device
from wgslgrad.runtime.session import Session

# (name, B, F, U): dx = dy[B,U] @ w[F,U].T is [B,F]; dw = x[B,F].T @ dy[B,U] is [F,U]
SHAPES = [
    *[("lstm recurrence", b, 256, 1024) for b in (1, 4, 8, 16, 32, 64, 128)],
    ("lstm input", 64, 32, 1024), ("lstm output", 64, 256, 96),
    *[("digits dense", b, 512, 64) for b in (1, 16, 32, 64, 128, 256)], ("digits logits", 16, 64, 10),
]
# the forward DENSE's, x[B,F] @ w[F,U]: B is batch x sequence for the LSTM's input and output layers
ROWS = (1, 4, 16, 32, 64, 128)
FORWARD = [
    *[("lstm input", b, 32, 1024) for b in ROWS], *[("lstm recurrence", b, 256, 1024) for b in ROWS],
    *[("lstm output", b, 256, 96) for b in ROWS], *[("digits dense", b, 512, 64) for b in ROWS],
    *[("digits logits", b, 64, 10) for b in ROWS],
]


def _input(g: Graph, name: str, shape: tuple[int, ...]) -> int:
    g.inputs[name] = g.add(Op.INPUT, (), op_attrs(Op.INPUT, name=name), shape=shape)
    return g.inputs[name]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", default="", help="comma-separated BxFxU to run (default all)")
    ap.add_argument("--kernels", default="auto", help="comma-separated, from auto (the compiler's choice), tiled "
                    "(always the tiled product), rows (always the 4x4 blocks of dense_rows.wgsl): each product runs "
                    "with each in turn, --rounds times (a tree without the choice has only auto)")
    ap.add_argument("--forward", action="store_true", help="time the forward DENSE (+ bias, relu) instead")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    device = get_device()[0]
    only = {s for s in args.only.split(",") if s}
    print(f"# wgslgrad from {wgslgrad.__file__}")
    rng = np.random.default_rng(0)
    modes = args.kernels.split(",")
    ops = (Op.DENSE,) if args.forward else (Op.DENSE_DX, Op.DENSE_DW)
    for name, b, f, u in FORWARD if args.forward else SHAPES:
        if only and f"{b}x{f}x{u}" not in only:
            continue
        for op, r, mode in [(op, r, m) for op in ops for r in range(args.rounds) for m in modes]:
            if mode != "auto":
                linear_kernels.DX_ROWS = linear_kernels.DW_ROWS = 1 << 30 if mode == "rows" else 0
                linear_kernels.FWD_ROWS = 1 << 30 if mode == "rows" else 0
            g = Graph(batch=b)
            if op is Op.DENSE_DX:
                srcs = (_input(g, "dy", (b, u)), _input(g, "w", (f, u)))
            elif op is Op.DENSE_DW:
                srcs = (_input(g, "x", (b, f)), _input(g, "dy", (b, u)))
            else:
                srcs = (_input(g, "x", (b, f)), _input(g, "w", (f, u)), _input(g, "bias", (u,)))
            g.outputs["out"] = g.add(op, srcs)
            if op is Op.DENSE:
                g.outputs["out"] = g.add(Op.RELU, (g.outputs["out"],))
            session = Session(lower(g), device)
            session.run({k: rng.standard_normal(g.nodes[i].shape).astype(np.float32) for k, i in g.inputs.items()})
            times = session.profile(repeat=args.repeat)
            kernels = session.program.kernels
            total = sum(t for _, t in times)
            names = "+".join(kernels[i].name.split("_")[0] + "_" + kernels[i].name.split("_")[1] for i, _ in times)
            print(f"{name:16s} {mode:5s} {op.name:8s} B={b:<4d} F={f:<4d} U={u:<5d} {1e3 * total:9.3f} ms  "
                  f"{len(kernels)} kernel(s) {names} {'x'.join(map(str, kernels[0].workgroups))}", flush=True)


if __name__ == "__main__":
    main()
