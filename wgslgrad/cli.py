"""`wgslgrad check|ir|wgsl|summary|run|train|gradcheck|overfit|preview FILE`: the pipeline stages and tips.

Results go to stdout (or -o), messages to stderr; exit 1 on a spec or data error, 2 on a usage error.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .compiler.errors import SpecErrors
from .compiler.frontend import load_spec
from .compiler.ir import Graph, fmt_shape, print_graph


class UserError(Exception):
    """A problem with the user's files or arguments: printed as one line, exit 1."""


def _graph(args: argparse.Namespace) -> Graph:
    return load_spec(args.file, batch=args.batch)


def cmd_check(args: argparse.Namespace) -> None:
    g = _graph(args)
    params = sum(g.nodes[i].size for i in g.params.values())
    print(f"{args.file}: ok ({len(g.nodes)} nodes, {len(g.params)} parameter tensors, {params:,} parameters)",
          file=sys.stderr)


def cmd_ir(args: argparse.Namespace) -> None:
    _write(args, print_graph(_graph(args)))


def cmd_wgsl(args: argparse.Namespace) -> None:
    from .compiler.lower import lower
    program = lower(_graph(args))
    if args.json:
        _write(args, program.to_json())
    elif args.output and Path(args.output).suffix == "":
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        for i, k in enumerate(program.kernels):
            (out / f"{i:03d}_{k.name}.wgsl").write_text(k.wgsl)
        print(f"wrote {len(program.kernels)} kernels to {out}/", file=sys.stderr)
    else:
        _write(args, "".join(f"// ---- kernel {i}: {k.name} workgroups={tuple(k.workgroups)}\n{k.wgsl}\n"
                             for i, k in enumerate(program.kernels)))


def cmd_summary(args: argparse.Namespace) -> None:
    from .compiler.summary import format_summary
    _write(args, format_summary(_graph(args)) + "\n")


def _load_inputs(path: str | None, g: Graph, rng: np.random.Generator,
                 needed: set[str] | None = None) -> dict[str, np.ndarray]:
    """Inputs from an .npz (the first `batch` samples), or random normal ones; `needed` must be there."""
    if path is None:
        return {name: rng.standard_normal(g.nodes[i].shape).astype(np.float32) for name, i in g.inputs.items()}
    from .runtime.data import DataError
    from .runtime.npz import read_npz
    notes: list[str] = []
    try:
        arrays = read_npz(path, g.inputs, sorted(set(g.inputs) if needed is None else needed), notes)
    except DataError as e:
        raise UserError(str(e)) from None
    for line in notes:
        print(f"note: {line}", file=sys.stderr)
    for name, a in arrays.items():
        want = g.nodes[g.inputs[name]].shape
        if a.shape[1:] != want[1:] or len(a) < want[0]:
            raise UserError(f"{path}: array '{name}' has shape {fmt_shape(a.shape)}, the spec's Input needs "
                            f"{fmt_shape(want)} (at least {want[0]} samples for batch {want[0]})")
    return {k: v[: g.batch] for k, v in arrays.items()}


def cmd_run(args: argparse.Namespace) -> None:
    from .compiler.lower import lower
    from .runtime.device import get_device
    from .runtime.session import Session

    g = _graph(args)
    t0 = time.perf_counter()
    program = lower(g)
    t1 = time.perf_counter()
    needed = {n for out, names in program.requires.items() if out not in program.optional_outputs for n in names}
    inputs = _load_inputs(args.input, g, np.random.default_rng(args.seed), needed)  # before the GPU: fail fast
    device, adapter = get_device()
    print(f"adapter: {adapter}", file=sys.stderr)
    session = Session(program, device)
    t2 = time.perf_counter()
    session.init_params(seed=args.seed)
    outputs = session.run(inputs)
    t3 = time.perf_counter()
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        session.run(inputs)
        times.append(time.perf_counter() - t)
    for name, value in outputs.items():
        flat = value.reshape(-1)
        print(f"{name}: {fmt_shape(value.shape)} mean {flat.mean():.6g} std {flat.std():.6g} "
              f"first {np.array2string(flat[:4], precision=5)}")
    stats = session.stats()
    print(f"compile {1e3 * (t1 - t0):.0f} ms, pipelines {1e3 * (t2 - t1):.0f} ms, first run {1e3 * (t3 - t2):.0f} ms, "
          f"run {1e3 * float(np.median(times)):.2f} ms (median of {args.repeat}), "
          f"{stats.get('dispatches', '?')} dispatches, {stats.get('total_bytes', 0) / 2**20:.1f} MiB on the GPU",
          file=sys.stderr)
    if args.output:
        from .runtime.npz import save_npz
        try:  # a dict, not keyword arguments: an Output may be named `file`
            save_npz(args.output, outputs)
        except ValueError as e:
            raise UserError(str(e)) from None


def _train_session(g: Graph, seed: int):
    from .compiler.lower import lower_train
    from .runtime.device import get_device
    from .runtime.train_session import TrainSession

    if g.loss is None:
        raise UserError("the spec has no Train(loss=...): nothing to train")
    device, adapter = get_device()
    print(f"adapter: {adapter}", file=sys.stderr)
    session = TrainSession(lower_train(g), device)
    session.init_params(seed=seed)
    return session


def _data(path: str, g: Graph) -> dict[str, np.ndarray]:
    from .runtime.data import DataError, load_npz
    notes: list[str] = []
    try:
        data = load_npz(path, g, notes)
    except DataError as e:
        raise UserError(str(e)) from None
    for line in notes:
        print(f"note: {line}", file=sys.stderr)
    return data


def cmd_train(args: argparse.Namespace) -> None:
    from .runtime.checkpoint import CheckpointError, check_params, load_checkpoint
    from .runtime.data import DataError, split
    from .runtime.trainer import Diverged, FitConfig, evaluate, fit

    g = _graph(args)
    data = _data(args.data, g)
    val = _data(args.val, g) if args.val else None
    if val is None and args.val_split:
        try:
            data, val = split(data, args.val_split, args.seed)
        except DataError as e:
            raise UserError(f"{args.data}: --val-split {e}") from None
    # Everything that can be refused is checked before the GPU is set up: the checkpoint to resume from
    # (another spec's is refused naming the first differing parameter), the --init weights, the --out folder.
    if args.resume:
        try:
            check_params(args.resume, load_checkpoint(args.resume)[0],
                         {name: g.nodes[i].shape for name, i in g.params.items()})
        except CheckpointError as e:
            raise UserError(str(e)) from None
    init = _weights(args.init, g, args.map, allow_missing=True) if args.init else None
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    session = _train_session(g, args.seed)
    if init is not None:
        session.set_params(init)
    cfg = FitConfig(epochs=args.epochs or int(g.train.get("epochs", 10)), lr=args.lr or float(g.train.get("lr", 0.001)),
                    schedule=args.schedule, seed=args.seed, out=Path(args.out) if args.out else None,
                    resume=Path(args.resume) if args.resume else None, progress=not args.no_progress and sys.stderr.isatty())
    try:
        fit(session, g, data, cfg, val)
    except KeyboardInterrupt:
        print("stopped by Ctrl-C" + (f"; checkpoint saved in {cfg.out}" if cfg.out else ""), file=sys.stderr)
        raise SystemExit(130) from None
    except (CheckpointError, Diverged) as e:
        raise UserError(str(e)) from None
    if val is not None:
        result = evaluate(session, g, val)
        print("held-out: " + ", ".join(f"{k} {v:.4f}" for k, v in result.items()))
    if cfg.out:
        print(f"saved {cfg.out}/checkpoint.safetensors, history.json and loss.png", file=sys.stderr)


def _weights(path: str, g: Graph, mapping: str | None = None, allow_missing: bool = False) -> dict[str, np.ndarray]:
    """Parameters from a wgslgrad checkpoint (.safetensors) or TF.js weights (model.json / a manifest)."""
    from .export import WeightsError, import_weights, read_weights
    from .runtime.checkpoint import CheckpointError, load_checkpoint

    try:
        if path.endswith(".safetensors"):
            loaded = load_checkpoint(path)[0]
        else:
            loaded = read_weights(path)
        unused: list[str] = []
        params = import_weights(g, loaded, mapping, allow_missing=allow_missing, report=unused)
    except (CheckpointError, WeightsError) as e:
        raise UserError(str(e)) from None
    if allow_missing and g.params and not params:
        first, i = next(iter(g.params.items()))
        raise UserError(f"{path}: none of the spec's {len(g.params)} parameters is in these weights (the first: "
                        f"{first} {fmt_shape(g.nodes[i].shape)}): weights of another spec? --map names them")
    for line in unused:
        print(f"note: {line}", file=sys.stderr)
    return params


def cmd_export(args: argparse.Namespace) -> None:
    from .runtime.init import init_params

    g = _graph(args)
    if args.weights:
        params = _weights(args.weights, g, args.map)
    else:
        print("note: no --weights given: exporting freshly initialised weights", file=sys.stderr)
        params = init_params(g, seed=0)
    out = Path(args.output)
    if args.js:
        from .export.bundle import write_bundle
        info = write_bundle(out, g, params, args.quantize, train=args.train)
        sizes = info["files"]
    else:
        from .export import write_weights
        manifest = write_weights(out, params, args.quantize)
        sizes = {f: (out / f).stat().st_size for f in ["model.json"] + manifest[0]["paths"]}
    weight_bytes = sum(v for k, v in sizes.items() if k.endswith(".bin") or "shard" in k)
    f32 = 4 * sum(int(np.prod(v.shape)) for v in params.values())
    for name, size in sizes.items():
        print(f"{out / name}  {size:,} bytes")
    print(f"weights: {weight_bytes:,} bytes ({weight_bytes / f32:.0%} of float32)", file=sys.stderr)


def cmd_import(args: argparse.Namespace) -> None:
    from .runtime.checkpoint import save_checkpoint

    g = _graph(args)
    params = _weights(args.weights, g, args.map)
    save_checkpoint(args.output, params, meta={"imported_from": args.weights})
    print(f"wrote {args.output}: {len(params)} tensors for {args.file}", file=sys.stderr)


def cmd_gradcheck(args: argparse.Namespace) -> None:
    from .compiler.gradcheck import check_gradients
    from .runtime.init import init_params

    g = _graph(args)
    if g.loss is None:
        raise UserError("the spec has no Train(loss=...): no loss to check")
    rng = np.random.default_rng(args.seed)
    inputs = _data(args.data, g) if args.data else _load_inputs(None, g, rng)
    inputs = {k: v[: g.batch] for k, v in inputs.items()}
    params = init_params(g, seed=args.seed)
    session = _train_session(g, args.seed)
    session.set_params(params)
    gpu = session.gradients(inputs)
    worst = 0.0
    print(f"{'parameter':48s} {'finite diff (f64)':>18s} {'GPU vs f64':>12s}")
    for name, fd_err, ref in check_gradients(g, g.loss, inputs, params, eps=args.eps):
        gpu_err = float(np.max(np.abs(gpu[name] - ref)) / max(np.max(np.abs(ref)), 1e-12))
        worst = max(worst, gpu_err if np.isfinite(gpu_err) else np.inf)
        flag = "" if fd_err < 1e-5 and gpu_err < args.tol else "  <-- too large"
        print(f"{name:48s} {fd_err:18.2e} {gpu_err:12.2e}{flag}")
        if flag:
            worst = np.inf
    if not worst < np.inf:
        raise UserError("gradient check failed")
    print(f"gradient check passed: autodiff matches finite differences, GPU matches float64 within {args.tol:g}")


def cmd_overfit(args: argparse.Namespace) -> None:
    from .runtime.data import take

    g = load_spec(args.file, batch=args.samples)
    data = take(_data(args.data, g), np.arange(args.samples))
    session = _train_session(g, args.seed)
    lr = args.lr or float(g.train.get("lr", 0.001))
    losses: list[tuple[int, float]] = []
    for _ in range(args.steps):
        session.step(data, lr)
        losses += session.poll()
    losses += session.drain()
    first, last = losses[0][1], losses[-1][1]
    for s, l in losses[:: max(1, len(losses) // 10)] + [losses[-1]]:
        print(f"step {s:5d}  loss {l:.6g}")
    ratio = last / first if first else float("nan")
    print(f"loss {first:.4g} -> {last:.4g} ({ratio:.2%} of the start) on {args.samples} samples, {args.steps} steps")
    if not ratio < args.target:
        raise UserError(f"the loss did not fall below {args.target:.0%} of its start: check the model, the "
                        "labels and the learning rate before training on everything")


def cmd_preview(args: argparse.Namespace) -> None:
    from .runtime.preview import preview_inputs

    g = _graph(args)
    data = _data(args.data, g)
    out = args.output or "preview.png"
    shown = preview_inputs(g, data, out, count=args.count)
    print(f"wrote {out}: {shown}", file=sys.stderr)


def _exit_status(code: int) -> None:
    if code:
        raise SystemExit(code)


def _write(args: argparse.Namespace, text: str) -> None:
    if getattr(args, "output", None):
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wgslgrad",
        description="Compile a model spec (a Python-syntax DSL, parsed and never executed) into WGSL compute "
                    "shaders, and run them on the GPU through wgpu.",
        epilog="examples:\n  wgslgrad summary examples/landmark68.py\n  wgslgrad run examples/digits.py --batch 8\n"
               "  wgslgrad wgsl examples/digits.py -o kernels/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable[[argparse.Namespace], None], help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("file", metavar="FILE", help="model spec (.py)")
        sp.add_argument("--batch", type=int, default=None, help="batch size (default: the spec's Train batch, else 1)")
        sp.set_defaults(fn=fn)
        return sp

    add("check", cmd_check, "parse and type-check a spec; report every error")
    add("ir", cmd_ir, "print the IR graph").add_argument("-o", "--output", help="write to this file")
    sp = add("wgsl", cmd_wgsl, "print the generated WGSL kernels")
    sp.add_argument("-o", "--output", help="a file, or a directory (no suffix) for one .wgsl file per kernel")
    sp.add_argument("--json", action="store_true", help="print the whole Program (kernels, buffers, slots) as JSON")
    add("summary", cmd_summary, "per-layer output shapes, parameters, bytes and FLOPs").add_argument(
        "-o", "--output", help="write to this file")
    sp = add("run", cmd_run, "run the forward pass on the GPU with initialised weights")
    sp.add_argument("--input", help=".npz with one array per Input (default: random normal)")
    sp.add_argument("--seed", type=int, default=0, help="seed for weights and random inputs")
    sp.add_argument("--repeat", type=int, default=5, help="timed runs after the first")
    sp.add_argument("-o", "--output", help="save the outputs to this .npz")

    sp = add("train", cmd_train, "train on the GPU: shuffled batches, Adam, checkpoints, loss history and plot")
    sp.add_argument("--data", required=True, help=".npz with one array per Input, samples first")
    sp.add_argument("--val", help="held-out .npz, evaluated after each epoch")
    sp.add_argument("--val-split", type=float, default=0.0, help="hold out this fraction of --data instead")
    sp.add_argument("--epochs", type=int, help="epochs (default: the spec's Train epochs)")
    sp.add_argument("--lr", type=float, help="learning rate (default: the spec's Adam lr); with --resume, the new rate")
    sp.add_argument("--schedule", help="none, step:EVERY[:FACTOR] or plateau:PATIENCE[:FACTOR] (per epoch)")
    sp.add_argument("--out", help="folder for checkpoint.safetensors, history.json and loss.png")
    sp.add_argument("--resume", help="a checkpoint to continue from (weights, Adam state, step)")
    sp.add_argument("--overwrite", action="store_true", help="replace the run already in --out (without it, "
                    "an --out folder holding a run is refused unless --resume is given)")
    sp.add_argument("--init", help="start from these weights: a checkpoint or TF.js model.json (transfer learning; "
                    "layers it lacks keep their initial weights)")
    sp.add_argument("--map", help="JSON object: spec parameter path -> name in the --init weights")
    sp.add_argument("--seed", type=int, default=0, help="seed for weights and shuffling")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar (there is none when stderr is not a terminal)")

    sp = add("export", cmd_export, "write weights in the TF.js format (model.json + 4 MiB shards), optionally "
             "quantized, or with --js a self-contained WebGPU ES-module bundle")
    sp.add_argument("--weights", help="a checkpoint (.safetensors) or TF.js model.json (default: initial weights)")
    sp.add_argument("--map", help="JSON object: spec parameter path -> name in the --weights file")
    sp.add_argument("--quantize", choices=["uint8", "uint16", "float16"], help="per-tensor quantization as TF.js")
    sp.add_argument("--js", action="store_true", help="also write model.js (WGSL and runtime inlined)")
    sp.add_argument("--train", action="store_true", help="with --js: include the training step")
    sp.add_argument("-o", "--output", required=True, help="output folder")

    sp = add("import", cmd_import, "read TF.js weights (model.json or a weights manifest, quantized or not) "
             "into a checkpoint for this spec")
    sp.add_argument("--weights", required=True, help="TF.js model.json or weights manifest")
    sp.add_argument("--map", help="JSON object: spec parameter path -> TF.js weight name")
    sp.add_argument("-o", "--output", required=True, help="checkpoint to write (.safetensors)")

    sp = add("gradcheck", cmd_gradcheck, "check the spec's loss gradients: autodiff vs finite differences "
             "(float64) and the GPU vs float64")
    sp.add_argument("--data", help=".npz inputs (default: random normal)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--eps", type=float, default=1e-6, help="finite-difference step")
    sp.add_argument("--tol", type=float, default=1e-3, help="largest relative GPU error accepted")

    sp = add("overfit", cmd_overfit, "train on a few samples only: the loss should fall to almost nothing")
    sp.add_argument("--data", required=True, help=".npz with one array per Input")
    sp.add_argument("--samples", type=int, default=16, help="how many samples (also the batch)")
    sp.add_argument("--steps", type=int, default=200)
    sp.add_argument("--lr", type=float)
    sp.add_argument("--target", type=float, default=0.1, help="pass when the loss ends below this fraction of its start")
    sp.add_argument("--seed", type=int, default=0)

    sp = add("preview", cmd_preview, "save the image inputs as the network sees them (after the spec's "
             "preprocessing) as a PNG grid")
    sp.add_argument("--data", required=True, help=".npz with one array per Input")
    sp.add_argument("--count", type=int, default=32, help="how many samples")
    sp.add_argument("-o", "--output", help="PNG path (default preview.png)")

    from .bench.run import add_arguments, run_args
    sp = sub.add_parser("bench", help="time training steps and inference beside PyTorch and TF.js, as a table",
                        description="Time a training step (forward+backward+Adam), images/s, inference latency, "
                                    "GPU memory and dispatches, with the same model in PyTorch and TF.js in the "
                                    "same run; ratios are against wgslgrad.")
    add_arguments(sp)
    sp.set_defaults(fn=lambda a: _exit_status(run_args(a)))
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 spec/data/input error, 2 usage error, 130 Ctrl-C)."""
    try:
        args = build_parser().parse_args(argv)
        problem = validate(args)
        if problem:
            print(f"wgslgrad: error: {problem}", file=sys.stderr)
            return 2
        args.fn(args)
    except KeyboardInterrupt:
        print("wgslgrad: interrupted", file=sys.stderr)
        return 130
    except SpecErrors as e:
        print(e, file=sys.stderr)
        return 1
    except (UserError, OSError) as e:
        print(f"wgslgrad: error: {e}", file=sys.stderr)
        return 1
    return 0


def _positive_int(v: object) -> bool:
    return isinstance(v, int) and v >= 1


def _positive_float(v: object) -> bool:
    return isinstance(v, float) and math.isfinite(v) and v > 0


# dest -> (test, what the value must be); checked when the command has the option and it was given
_CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {
    "batch": (_positive_int, "a whole number, at least 1"),
    "epochs": (_positive_int, "a whole number, at least 1"),
    "repeat": (_positive_int, "a whole number, at least 1"),
    "samples": (_positive_int, "a whole number, at least 1"),
    "steps": (_positive_int, "a whole number, at least 1"),
    "count": (_positive_int, "a whole number, at least 1"),
    "seed": (lambda v: isinstance(v, int) and 0 <= v < 2**63, "a whole number from 0 to 2**63-1"),
    "lr": (_positive_float, "a positive number (not inf or nan)"),
    "eps": (_positive_float, "a positive number (not inf or nan)"),
    "tol": (_positive_float, "a positive number (not inf or nan)"),
    "target": (lambda v: _positive_float(v) and v <= 1, "a fraction of the start loss, in (0, 1]"),
    "val_split": (lambda v: isinstance(v, float) and 0 <= v < 1, "a fraction in (0, 1), or 0 for none"),
}


def validate(args: argparse.Namespace) -> str | None:
    """The first problem with the arguments themselves (exit status 2), found before any file, data or GPU
    is touched; None when there is none."""
    if args.command == "bench":
        return None
    for dest, (ok, what) in _CHECKS.items():
        value = getattr(args, dest, None)
        if value is not None and not ok(value):
            return f"--{dest.replace('_', '-')} must be {what}, not {value}"
    if getattr(args, "schedule", None):
        from .runtime.schedule import parse_schedule
        try:
            parse_schedule(args.schedule, 1.0)
        except ValueError as e:
            return f"--schedule: {e}"
    if getattr(args, "val", None) and getattr(args, "val_split", 0):
        return "give --val or --val-split, not both"
    if getattr(args, "out", None):
        from .runtime.run_folder import CHECKPOINT, holds_a_run
        out = Path(args.out)
        if _blocking_file(out):
            return f"--out {out}: {_blocking_file(out)} is a file, not a folder"
        if holds_a_run(out) and not args.resume and not args.overwrite:
            return (f"--out {out} already holds a run: add --resume {out / CHECKPOINT} to continue it, or "
                    "--overwrite to replace it")
    output = getattr(args, "output", None)
    if output:
        folder = args.command == "export" or (args.command == "wgsl" and not args.json and not Path(output).suffix)
        if folder and _blocking_file(Path(output)):
            return f"-o {output}: {_blocking_file(Path(output))} is a file, not a folder"
        if not folder and Path(output).is_dir():
            return f"-o {output} is a folder; name a file"
        if not folder and _blocking_file(Path(output).parent):
            return f"-o {output}: {_blocking_file(Path(output).parent)} is a file, not a folder"
    return None


def _blocking_file(folder: Path) -> Path | None:
    """`folder` or the first of its parents that exists as something other than a folder, if any."""
    for p in (folder, *folder.parents):
        if p.exists() or p.is_symlink():
            return None if p.is_dir() else p
    return None



