"""`wgslgrad bench FILE`: time a spec's training step in wgslgrad and in its peers (PyTorch, TF.js in Node).

One row per (backend, batch): train-step ms (forward + backward + Adam), images/s, batch-1 inference ms,
and for wgslgrad GPU memory, dispatches per step, compile ms and pipeline-creation ms; `speedup` is the
peer's train-step time over wgslgrad's at the same batch (above 1: wgslgrad is faster).

wgslgrad steps are timed as on a real training loop: `steps` calls of step() (one submit each, no wait),
then drain(), which waits for the last loss; the peers synchronise per step (torch.cuda.synchronize on CUDA).
Every backend gets `warmup` untimed steps first. Inputs are random and uploaded by every wgslgrad step.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..compiler.frontend import load_spec
from ..compiler.ir import Op
from ..compiler.limits import binding_argument
from ..runtime.init import init_params
from .common import LOSSES, random_inputs, spec_lr, text_table

DEFAULT_BATCHES = (1, 16)   # small enough for lavapipe on a 2-core CPU; ask for 64, 256 on a GPU
PEERS = ("torch", "tfjs")
VARIANTS = {                        # wgslgrad lowered without one optimisation: its gain, in the same run
    "unfused": {"fused": False},    # every node its own kernel (no epilogues, no bias sums in filter gradients)
    "scalar": {"vec4": False},      # every load of the tiled products one float
    "direct": {"shared_tiles": False},   # the CPU Programs: register-block products (bundles use them on SwiftShader)
}
KNOWN_PEERS = (*PEERS, *VARIANTS)


@dataclass
class Row:
    model: str
    batch: int
    backend: str
    train_ms: float | None = None        # one training step, median (peers) or mean over `steps` (wgslgrad)
    images_per_s: float | None = None
    infer_ms: float | None = None        # batch-1 inference latency, median
    gpu_bytes: int | None = None         # wgslgrad: all live GPU buffers (Session.stats total_bytes)
    dispatches: int | None = None        # wgslgrad: compute dispatches per training step
    compile_ms: float | None = None      # wgslgrad: spec -> Program (parse, build, autodiff, lower)
    pipeline_ms: float | None = None     # wgslgrad: creating shader modules and pipelines
    speedup: float | None = None         # this backend's train_ms / wgslgrad's at the same batch
    note: str = ""


def _median_ms(fn: Any, n: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


# ---- wgslgrad ----

def bench_wgslgrad(spec: Path, batches: Sequence[int], steps: int, warmup: int, infer_steps: int,
                   variant: str = "", max_binding: int | None = None) -> list[Row]:
    """wgslgrad's rows, or those of a VARIANTS entry (max_binding: as load_spec's, for every bench_ function)."""
    from ..compiler.lower import lower
    from ..runtime.device import get_device
    from ..runtime.session import Session

    device, adapter = get_device()
    rows = []
    for batch in batches:
        t = time.perf_counter()
        graph = load_spec(spec, batch, max_binding)
        program = lower(graph, training=True, **VARIANTS.get(variant, {}))
        compile_ms = (time.perf_counter() - t) * 1e3
        session = Session(program, device)
        session.set_params(init_params(graph, seed=0))
        inputs, lr = random_inputs(graph), spec_lr(graph)
        for _ in range(warmup):
            session.step(inputs, lr)
        session.drain()
        t = time.perf_counter()
        for _ in range(steps):
            session.step(inputs, lr)
        losses = session.drain()
        ms = (time.perf_counter() - t) * 1e3 / steps
        stats = session.stats()
        note = "" if all(math.isfinite(loss) for _, loss in losses) else "non-finite loss"
        rows.append(Row(spec.stem, batch, f"wgslgrad{' ' + variant if variant else ''} ({adapter})", ms, batch * 1e3 / ms,
                        gpu_bytes=stats.get("total_bytes"), dispatches=stats.get("dispatches"),
                        compile_ms=compile_ms, pipeline_ms=1e3 * stats.get("pipeline_seconds", math.nan),
                        note=note))
        del session
    graph = load_spec(spec, 1, max_binding)
    program = lower(graph, **VARIANTS.get(variant, {}))
    infer = Session(program, device)
    infer.set_params(init_params(graph, seed=0))
    need = {k for o in program.outputs if o not in program.optional_outputs for k in program.requires.get(o, [])}
    x = {k: v for k, v in random_inputs(graph).items() if k in need}
    infer_ms = _median_ms(lambda: infer.run(x), infer_steps, warmup)
    for r in rows:
        r.infer_ms = infer_ms
    return rows


# ---- peers ----

def bench_torch(spec: Path, batches: Sequence[int], steps: int, warmup: int, infer_steps: int,
                device: str | None = None, threads: int | None = None, max_binding: int | None = None) -> list[Row]:
    import torch

    from .torch_peer import median_ms, torch_infer_fn, torch_step_fn

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if threads:
        torch.set_num_threads(threads)
    name = (f"torch {torch.__version__} CUDA ({torch.cuda.get_device_name()})" if device == "cuda"
            else f"torch {torch.__version__} CPU ({torch.get_num_threads()} threads)")
    rows = []
    for batch in batches:
        graph = load_spec(spec, batch, max_binding)
        step = torch_step_fn(graph, init_params(graph, seed=0), random_inputs(graph), device)
        ms = median_ms(step, device, steps, warmup)
        rows.append(Row(spec.stem, batch, name, ms, batch * 1e3 / ms, note="fp32, channels-last"))
        del step
    graph = load_spec(spec, 1, max_binding)
    infer = torch_infer_fn(graph, init_params(graph, seed=0), random_inputs(graph), device)
    infer_ms = median_ms(infer, device, infer_steps, warmup)
    for r in rows:
        r.infer_ms = infer_ms
    return rows


def bench_tfjs(spec: Path, batches: Sequence[int], steps: int, warmup: int, infer_steps: int,
               backend: str = "wasm", max_binding: int | None = None) -> list[Row]:
    from .tfjs_peer import tfjs_bench

    graph = load_spec(spec, batches[0], max_binding)
    res = tfjs_bench(graph, init_params(graph, seed=0), batches, steps, warmup, infer_steps, backend)
    name = f"tfjs {res['tfjs']} {res['backend']} (node)"
    if res["backend"] == "wasm":
        name = name[:-1] + (", SIMD" if res.get("wasm_simd") else "") + (", threads)" if res.get("wasm_threads")
                                                                         else ", 1 thread)")
    has_max_pool = any(n.op is Op.MAX_POOL for n in graph.nodes)
    shimmed = [k for k in res.get("shimmed_from_cpu", []) if k != "MaxPoolGrad" or has_max_pool]
    note = f"{', '.join(shimmed)} on the cpu backend" if shimmed else ""
    return [Row(spec.stem, r["batch"], name, r["train_step_ms"], r["images_per_s"], res["infer_ms"], note=note)
            for r in res["rows"]]


# ---- all together ----

def bench(spec_path: str | Path, batches: Sequence[int] = DEFAULT_BATCHES, steps: int = 5, warmup: int = 2,
          infer_steps: int = 10, peers: Sequence[str] = PEERS, wgslgrad: bool = True,
          torch_device: str | None = None, tfjs_backend: str = "wasm", torch_threads: int | None = None,
          max_binding: int | None = None) -> list[Row]:
    """Benchmark `spec_path` at each batch size in wgslgrad and the chosen peers ("torch", "tfjs"), compiled for
    `max_binding` (load_spec's).

    A peer that is not installed (or fails) is reported on stderr and left out; wgslgrad errors propagate.
    """
    spec = Path(spec_path)
    rows: list[Row] = (bench_wgslgrad(spec, batches, steps, warmup, infer_steps, max_binding=max_binding)
                       if wgslgrad else [])
    for peer in peers:
        try:
            if peer == "torch":
                rows += bench_torch(spec, batches, steps, warmup, infer_steps, torch_device, torch_threads,
                                    max_binding)
            elif peer == "tfjs":
                rows += bench_tfjs(spec, batches, steps, warmup, infer_steps, tfjs_backend, max_binding)
            elif peer in VARIANTS:
                rows += bench_wgslgrad(spec, batches, steps, warmup, infer_steps, peer, max_binding)
            else:
                raise ValueError(f"unknown peer {peer!r} (known: {', '.join(KNOWN_PEERS)})")
        except (ImportError, RuntimeError) as e:
            print(f"bench: skipping {peer}: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                  file=sys.stderr)
    base = {r.batch: r.train_ms for r in rows if r.backend.startswith("wgslgrad (") and r.train_ms}
    for r in rows:
        ours = base.get(r.batch)
        if r.train_ms and ours:
            r.speedup = r.train_ms / ours
    return rows


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def format_table(rows: Sequence[Row]) -> str:
    """A fixed-width text table, one line per row."""
    head = ["model", "batch", "backend", "train ms", "img/s", "infer ms", "GPU MiB", "dispatch",
            "compile ms", "pipeline ms", "speedup", "note"]
    body = [[r.model, str(r.batch), r.backend, _fmt(r.train_ms), _fmt(r.images_per_s, 1), _fmt(r.infer_ms, 3),
             _fmt(r.gpu_bytes / 2**20 if r.gpu_bytes is not None else None, 1), _fmt(r.dispatches),
             _fmt(r.compile_ms, 0), _fmt(r.pipeline_ms, 0), _fmt(r.speedup), r.note] for r in rows]
    return text_table(head, body, left={0, 2, 11})


def _batches(text: str) -> list[int]:
    try:
        out = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--batch expects comma-separated integers, got {text!r}") from None
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError("--batch expects positive batch sizes")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The `bench` options (shared by `python -m wgslgrad.bench.run` and the CLI's `bench` command)."""
    p.add_argument("file", help="the model spec")
    p.add_argument("--batch", type=_batches, default=list(DEFAULT_BATCHES),
                   help="comma-separated batch sizes (default %(default)s)")
    p.add_argument("--max-binding", type=binding_argument, default=None, metavar="SIZE",
                   help="compile for devices whose one buffer binding holds this much, e.g. 1GiB (default 128MiB, "
                        "what every WebGPU device binds): big batches of big images need more")
    p.add_argument("--steps", type=int, default=5, help="timed training steps per batch (default 5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--infer-steps", type=int, default=10, help="timed batch-1 inference runs (default 10)")
    p.add_argument("--peers", default=",".join(PEERS),
                   help="comma-separated peers to run, from torch,tfjs,unfused,scalar,direct (the last three: wgslgrad "
                        "without kernel fusion, without vec4 loads, the CPU Programs of bundles); "
                        "empty for none (default %(default)s)")
    p.add_argument("--no-wgslgrad", action="store_true", help="run only the peers")
    p.add_argument("--torch-device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--torch-threads", type=int, default=None,
                   help="CPU threads for PyTorch (default: its own choice; 1 is steadier on a busy machine)")
    p.add_argument("--tfjs-backend", default="wasm", choices=["wasm", "cpu"], help="TF.js backend (default wasm)")
    p.add_argument("--profile", action="store_true",
                   help="also time each kernel of one training step (at the first batch size) alone: "
                        "time per op kind and the slowest kernels")
    p.add_argument("-o", "--output", help="also write the rows as JSON to this file")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--browser", action="store_true",
                       help="instead: the exported JS bundle beside TF.js (same net, same weights) in headless "
                            "Chromium, interleaved; inference and training-step medians, ready times, ratios")
    where.add_argument("--node", action="store_true",
                       help="the same comparison in Node (WebGPU from the webgpu package, Dawn)")
    p.add_argument("--systems", default="wgslgrad,tfjs-webgpu,tfjs-wasm",
                   help="with --browser/--node: what to compare, from wgslgrad,tfjs-webgpu,tfjs-wasm,wgslgrad-shared,"
                        "wgslgrad-direct (the last two: the bundle forced to tiled products with or without "
                        "workgroup memory; wgslgrad itself picks by adapter); default %(default)s")
    p.add_argument("--rounds", type=int, default=3,
                   help="with --browser/--node: interleaved rounds, each timing --steps training steps and "
                        "--infer-steps inferences per system and batch size (default 3)")
    p.add_argument("--infer-only", action="store_true",
                   help="with --browser/--node: no training steps (a spec without a loss has none anyway)")
    p.add_argument("--loss", choices=list(LOSSES), default=None,
                   help="with --browser/--node: for specs without Train(loss=...), e.g. detectors, so that a training "
                        "step can be timed: both systems train this loss of the spec's one output against a random "
                        "input 'target' of its shape (Adam, lr 0.001); a spec with a loss of its own is refused "
                        "(exit 2)")
    p.add_argument("--timeout", type=float, default=900,
                   help="with --browser/--node: seconds for the whole comparison; a system still running then is "
                        "left out (default 900)")


def run_compare(args: argparse.Namespace) -> int:
    """`bench FILE --browser` / `--node`: prints the table; 1 when it cannot run or the outputs disagree."""
    from .compare import SYSTEMS, CompareError, LossOptionError, compare, header

    systems = [b for b in args.systems.split(",") if b]
    bad = [b for b in systems if b not in SYSTEMS]
    if bad or min(args.steps, args.infer_steps, args.rounds) < 1 or args.warmup < 0 or not args.timeout > 0:
        print(f"wgslgrad: error: --systems takes {','.join(SYSTEMS)}; --steps, --infer-steps and --rounds at least "
              "1, --warmup 0 or more, --timeout positive", file=sys.stderr)
        return 2
    if args.loss and args.infer_only:
        print("wgslgrad: error: --loss is for timing training steps, --infer-only runs none", file=sys.stderr)
        return 2
    try:
        result = compare(args.file, "browser" if args.browser else "node", args.batch, args.steps, args.infer_steps,
                         args.warmup, args.rounds, systems, args.timeout, False if args.infer_only else None,
                         args.loss, args.max_binding)
    except CompareError as e:
        print(f"wgslgrad: error: {e}", file=sys.stderr)
        return 2 if isinstance(e, LossOptionError) else 1
    print(header(result))
    print(result.table())
    print(result.describe())
    if args.output:
        Path(args.output).write_text(json.dumps({"rows": result.rows(), "agreement": result.agreement,
                                                 "raw": result.raw}, indent=1) + "\n")
    if not any(r["ms"]["wgslgrad"] for r in result.rows()):
        print("wgslgrad: error: nothing of wgslgrad's was measured (see its errors above)", file=sys.stderr)
        return 1
    if result.disagree:
        print(f"wgslgrad: error: outputs disagree with wgslgrad's: {', '.join(result.disagree)}", file=sys.stderr)
        return 1
    return 0


def run_args(args: argparse.Namespace) -> int:
    if args.browser or args.node:
        return run_compare(args)
    if args.loss:
        print("wgslgrad: error: --loss needs --browser or --node", file=sys.stderr)
        return 2
    if load_spec(args.file, 1, args.max_binding).loss is None:   # every row times training steps
        print(f"wgslgrad: error: {args.file} has no Train(loss=...): bench times training steps; time its inference "
              "with --node or --browser and --infer-only, or a training step there with --loss mse", file=sys.stderr)
        return 1
    rows = bench(args.file, args.batch, args.steps, args.warmup, args.infer_steps,
                 [p for p in args.peers.split(",") if p], not args.no_wgslgrad, args.torch_device,
                 args.tfjs_backend, args.torch_threads, args.max_binding)
    print(format_table(rows))
    if args.profile and not args.no_wgslgrad:
        from .profile import profile_step
        print()
        print(profile_step(Path(args.file), args.batch[0], max_binding=args.max_binding))
    if args.output:
        Path(args.output).write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m wgslgrad.bench.run FILE --batch 1,16 [-o rows.json]`; returns the exit status."""
    p = argparse.ArgumentParser(prog="wgslgrad bench", description=__doc__.splitlines()[0])
    add_arguments(p)
    return run_args(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
