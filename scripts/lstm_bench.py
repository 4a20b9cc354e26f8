"""Issue 15's LSTM benchmark: one training step (forward, backward, Adam) of examples/char_lstm.py's model
(embedding 96 -> 32, lstm 256 units over every step, dense 96 at every position, cross-entropy per character)
at batch 1 and 32 and sequence 64 and 256, in wgslgrad and in PyTorch (nn.Embedding + nn.LSTM + nn.Linear, the
same sizes, torch.optim.Adam) on the CPU, and on CUDA when it sees a GPU. Prints a Markdown table; -o writes
the rows as JSON.

    python3 scripts/lstm_bench.py                          # every size, wgslgrad and torch CPU
    python3 scripts/lstm_bench.py --sizes 1x64,32x64 --steps 3 --peers torch
    python3 scripts/lstm_bench.py --no-wgslgrad --torch-threads 1

wgslgrad's time: `steps` step() calls then one drain(), divided by `steps`, after `warmup` steps (as
`wgslgrad bench`); PyTorch's: the median step, synchronised. Dispatches and pipelines are per training step.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VOCAB, EMBED, UNITS = 96, 32, 256


def spec(t: int, b: int, units: int = UNITS) -> str:
    return (f"chars = Input({t})\nnext_chars = Input({t}, {VOCAB})\nx = embedding(chars, {VOCAB}, {EMBED})\n"
            f"h = lstm(x, {units}, return_sequences=True)\nlogits = dense(h, {VOCAB}, flatten=False)\n"
            f"Output(logits)\nTrain(loss=softmax_cross_entropy(logits, next_chars), batch={b})\n")


def data(t: int, b: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, VOCAB, (b, t + 1))
    return {"chars": ids[:, :-1].astype(np.float32), "next_chars": np.eye(VOCAB, dtype=np.float32)[ids[:, 1:]]}


def bench_wgslgrad(t: int, b: int, steps: int, warmup: int, units: int) -> dict[str, Any]:
    from wgslgrad.compiler.frontend import compile_spec
    from wgslgrad.compiler.lower import lower
    from wgslgrad.runtime.device import get_device
    from wgslgrad.runtime.init import init_params
    from wgslgrad.runtime.session import Session

    device, adapter = get_device()
    t0 = time.perf_counter()
    graph = compile_spec(spec(t, b, units), "char_lstm.py")
    program = lower(graph, training=True)
    compile_s = time.perf_counter() - t0
    session = Session(program, device)
    session.set_params(init_params(graph, seed=0))
    inputs = data(t, b)
    for _ in range(warmup):
        session.step(inputs, 1e-3)
    session.drain()
    t0 = time.perf_counter()
    for _ in range(steps):
        session.step(inputs, 1e-3)
    losses = session.drain()
    ms = (time.perf_counter() - t0) * 1e3 / steps
    stats = session.stats()
    return {"backend": f"wgslgrad ({adapter})", "batch": b, "seq": t, "train_ms": ms,
            "chars_per_s": b * t * 1e3 / ms, "dispatches": stats.get("dispatches"), "pipelines": stats.get("pipelines"),
            "pipeline_s": stats.get("pipeline_seconds"), "compile_s": compile_s,
            "loss": float(losses[-1][1]) if losses else None}


def bench_torch(t: int, b: int, steps: int, warmup: int, units: int, device: str, threads: int | None) -> dict[str, Any]:
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(device)
    embed = torch.nn.Embedding(VOCAB, EMBED).to(dev)
    lstm = torch.nn.LSTM(EMBED, units, batch_first=True).to(dev)
    head = torch.nn.Linear(units, VOCAB).to(dev)
    params = [*embed.parameters(), *lstm.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3, eps=1e-7)
    d = data(t, b)
    ids = torch.from_numpy(d["chars"].astype(np.int64)).to(dev)
    target = torch.from_numpy(d["next_chars"].argmax(-1)).to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        h, _ = lstm(embed(ids))
        loss = torch.nn.functional.cross_entropy(head(h).reshape(-1, VOCAB), target.reshape(-1))
        loss.backward()
        opt.step()
        return float(loss.detach())

    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    ms = statistics.median(times) * 1e3
    name = f"torch {dev.type}" + (f", {torch.get_num_threads()} threads" if dev.type == "cpu" else
                                  f" ({torch.cuda.get_device_name()})")
    return {"backend": name, "batch": b, "seq": t, "train_ms": ms, "chars_per_s": b * t * 1e3 / ms}


def table(rows: list[dict[str, Any]]) -> str:
    head = "| batch | seq | backend | train ms | chars/s | dispatches/step | pipelines | pipeline s |"
    lines = [head, "|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        pipe = f"{r['pipeline_s']:.1f}" if r.get("pipeline_s") is not None else ""
        lines.append(f"| {r['batch']} | {r['seq']} | {r['backend']} | {r['train_ms']:.3g} | {r['chars_per_s']:,.0f} | "
                     f"{r.get('dispatches') or ''} | {r.get('pipelines') or ''} | {pipe} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1x64,32x64,1x256,32x256", help="BATCHxSEQ,... (default all four)")
    p.add_argument("--units", type=int, default=UNITS, help=f"LSTM units (default {UNITS})")
    p.add_argument("--steps", type=int, default=5, help="timed steps (default 5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--peers", default="torch", help="torch, torch-cuda (also added when CUDA is there), or empty")
    p.add_argument("--no-wgslgrad", action="store_true", help="run only the peers")
    p.add_argument("--torch-threads", type=int, default=None, help="CPU threads for PyTorch (default its own)")
    p.add_argument("-o", "--output", help="also write the rows as JSON here")
    args = p.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",") if s]
    peers = {s for s in args.peers.split(",") if s}
    if "torch" in peers:
        import torch
        if torch.cuda.is_available():
            peers.add("torch-cuda")
    rows = []
    for b, t in sizes:
        if not args.no_wgslgrad:
            rows.append(bench_wgslgrad(t, b, args.steps, args.warmup, args.units))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        for peer, dev in (("torch", "cpu"), ("torch-cuda", "cuda")):
            if peer in peers:
                rows.append(bench_torch(t, b, args.steps, args.warmup, args.units, dev, args.torch_threads))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(table(rows))
    if args.output:
        Path(args.output).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
