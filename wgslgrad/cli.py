"""`wgslgrad check|ir|wgsl|summary|run FILE`: one command per pipeline stage.

Results go to stdout (or -o), messages to stderr; exit 1 on a spec or data error, 2 on a usage error.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

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


def _load_inputs(path: str | None, g: Graph, rng: np.random.Generator) -> dict[str, np.ndarray]:
    if path is None:
        return {name: rng.standard_normal(g.nodes[i].shape).astype(np.float32) for name, i in g.inputs.items()}
    try:
        with np.load(path) as data:
            arrays = {k: np.asarray(data[k], np.float32) for k in data.files}
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: cannot read inputs: {e}") from None
    missing = [k for k in g.inputs if k not in arrays]
    if missing:
        raise UserError(f"{path}: no array named {', '.join(missing)} (has {', '.join(arrays) or 'none'})")
    return {k: arrays[k][: g.batch] for k in g.inputs}


def cmd_run(args: argparse.Namespace) -> None:
    from .compiler.lower import lower
    from .runtime.device import get_device
    from .runtime.session import Session

    g = _graph(args)
    t0 = time.perf_counter()
    program = lower(g)
    t1 = time.perf_counter()
    device, adapter = get_device()
    print(f"adapter: {adapter}", file=sys.stderr)
    session = Session(program, device)
    t2 = time.perf_counter()
    session.init_params(seed=args.seed)
    inputs = _load_inputs(args.input, g, np.random.default_rng(args.seed))
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
        np.savez(args.output, **outputs)


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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "batch", None) is not None and args.batch < 1:
        print("wgslgrad: error: --batch must be at least 1", file=sys.stderr)
        return 2
    try:
        args.fn(args)
    except SpecErrors as e:
        print(e, file=sys.stderr)
        return 1
    except (UserError, OSError) as e:
        print(f"wgslgrad: error: {e}", file=sys.stderr)
        return 1
    return 0



