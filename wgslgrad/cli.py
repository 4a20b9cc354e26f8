"""`wgslgrad COMMAND FILE`: the pipeline stages (check, ir, wgsl, summary), the Python API's verbs on the
command line (run, predict, evaluate, train, gradcheck, export, import, generate) and the training tips
(overfit, preview, bench).

The commands that use weights are thin layers over wgslgrad.model.Model. Results go to stdout (or -o),
messages to stderr; exit 1 on a spec, data or weights error, 2 on a usage error.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from .compiler.errors import SpecErrors
from .compiler.frontend import load_spec
from .compiler.ir import Graph, fmt_shape, print_graph
from .compiler.limits import binding_argument
from .model import GradcheckError, Model
from .model import compile as compile_model


class UserError(Exception):
    """A problem with the user's files or arguments: printed as one line, exit 1."""


def _graph(args: argparse.Namespace) -> Graph:
    return load_spec(args.file, batch=args.batch, max_binding=args.max_binding)


def cmd_check(args: argparse.Namespace) -> None:
    g = _graph(args)
    params = sum(g.nodes[i].size for i in g.params.values())
    print(f"{args.file}: ok ({len(g.nodes)} nodes, {len(g.params)} parameter tensors, {params:,} parameters)",
          file=sys.stderr)


def cmd_ir(args: argparse.Namespace) -> None:
    _write(args, print_graph(_graph(args)))


def cmd_wgsl(args: argparse.Namespace) -> None:
    from .compiler.lower import lower
    from .compiler.program import TRAINING_STEP
    g = _graph(args)
    if args.train and g.loss is None:
        raise UserError("the spec has no Train(loss=...): there is no training step to lower")
    program = lower(g, training=args.train)
    if args.json:
        _write(args, program.to_json())
    elif args.output and Path(args.output).suffix == "":
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        for i, k in enumerate(program.kernels):
            (out / f"{i:03d}_{k.name}.wgsl").write_text(k.wgsl)
        print(f"wrote {len(program.kernels)} kernels to {out}/", file=sys.stderr)
    else:   # a training Program's kernels say which phase of the step runs them (inference: evaluation only)
        phase = {k: f" phase={name}" for name in TRAINING_STEP for k in program.phases.get(name, [])}
        tail = " phase=inference" if args.train else ""
        _write(args, "".join(f"// ---- kernel {i}: {k.name} workgroups={tuple(k.workgroups)}{phase.get(i, tail)}\n"
                             f"{k.wgsl}\n" for i, k in enumerate(program.kernels)))


def cmd_summary(args: argparse.Namespace) -> None:
    from .compiler.summary import format_summary
    _write(args, format_summary(_graph(args)) + "\n")


def _load_inputs(path: str | None, g: Graph, rng: np.random.Generator,
                 needed: set[str] | None = None) -> dict[str, np.ndarray]:
    """Inputs from an .npz (every sample), or one batch of random ones (data.random_inputs); `needed` must be
    there."""
    if path is None:
        from .runtime.data import random_inputs
        return random_inputs(g, rng)
    from .runtime.data import shape_error
    from .runtime.npz import read_npz
    notes: list[str] = []
    arrays = read_npz(path, g.inputs, sorted(set(g.inputs) if needed is None else needed), notes)  # or DataError
    for line in notes:
        print(f"note: {line}", file=sys.stderr)
    for name, a in arrays.items():
        want = g.nodes[g.inputs[name]].shape
        if a.ndim == 0 or a.shape[1:] != want[1:] or len(a) < 1:
            raise shape_error(path, name, a, want[1:])
    return arrays


def _train_session(g: Graph, seed: int):
    from .compiler.lower import lower
    from .runtime.device import get_device
    from .runtime.session import Session

    if g.loss is None:
        raise UserError("the spec has no Train(loss=...): nothing to train")
    device, adapter = get_device()
    print(f"adapter: {adapter}", file=sys.stderr)
    session = Session(lower(g, training=True), device)
    session.init_params(seed=seed)
    return session


def _data(path: str, g: Graph) -> dict[str, np.ndarray]:
    from .runtime.data import load_npz
    notes: list[str] = []
    data = load_npz(path, g, notes)  # or DataError
    for line in notes:
        print(f"note: {line}", file=sys.stderr)
    return data


def _model(args: argparse.Namespace, weights_required: bool = False) -> Model:
    """The spec compiled at --batch, with --weights (mapped by --map, some --skip'ped) when given."""
    model = compile_model(args.file, batch=args.batch, seed=getattr(args, "seed", 0), max_binding=args.max_binding)
    weights = getattr(args, "weights", None)
    if weights:
        _load_weights(model, weights, args)
    elif weights_required:
        raise UserError("--weights is required")
    return model


def _load_weights(model: Model, path: str, args: argparse.Namespace, partial: bool = False) -> None:
    from .export import WeightsError
    from .runtime.checkpoint import CheckpointError
    try:
        notes = model.load_weights(path, map=args.map, skip=args.skip or (), partial=partial)
    except (CheckpointError, WeightsError) as e:
        raise UserError(str(e)) from None
    for line in notes:
        print(f"note: {line}", file=sys.stderr)


def _as_dict(model: Model, result: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return result if isinstance(result, dict) else {next(iter(model.outputs)): result}


def _save_outputs(path: str, outputs: dict[str, np.ndarray]) -> None:
    from .runtime.npz import save_npz
    try:  # a dict, not keyword arguments: an Output may be named `file`
        path = str(save_npz(path, outputs))
    except ValueError as e:
        raise UserError(str(e)) from None
    print(f"wrote {path}: {', '.join(f'{k} {fmt_shape(v.shape)}' for k, v in outputs.items())}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    model = _model(args)
    if not args.weights:
        print(f"note: no --weights given: running freshly initialised weights (seed {args.seed})", file=sys.stderr)
    g = model.graph
    needed = set(model.needed_inputs())
    inputs = _load_inputs(args.input, g, np.random.default_rng(args.seed), needed)
    inputs = {k: v for k, v in inputs.items() if k in needed}
    from .runtime.device import get_device
    print(f"adapter: {get_device()[1]}", file=sys.stderr)
    t1 = time.perf_counter()
    outputs = _as_dict(model, model.predict(inputs))
    t2 = time.perf_counter()
    one = {k: v[: g.batch] for k, v in inputs.items()}
    times = []
    repeat = args.repeat if args.repeat is not None else 0 if args.output else 5
    for _ in range(repeat):
        t = time.perf_counter()
        model.predict(one)
        times.append(time.perf_counter() - t)
    n = len(next(iter(inputs.values())))
    for name, value in outputs.items():
        flat = value.reshape(-1)
        print(f"{name}: {fmt_shape(value.shape)} mean {flat.mean():.6g} std {flat.std():.6g} "
              f"first {np.array2string(flat[:4], precision=5)}")
    stats = model.stats()
    timed = f", then {1e3 * float(np.median(times)):.2f} ms a batch (median of {repeat})" if times else ""
    print(f"compile {1e3 * (t1 - t0):.0f} ms, first run {1e3 * (t2 - t1):.0f} ms for {n} samples in batches of "
          f"{g.batch} (pipelines {1e3 * stats['pipeline_seconds']:.0f} ms){timed}, {stats['dispatches']} "
          f"dispatches, {stats['total_bytes'] / 2**20:.1f} MiB on the GPU", file=sys.stderr)
    if args.output:
        _save_outputs(args.output, outputs)


def cmd_predict(args: argparse.Namespace) -> None:
    from .images import ImageError, load_images
    from .runtime.metrics import loss_pair

    model = _model(args, weights_required=True)
    g, needed = model.graph, model.needed_inputs()
    images = [k for k in needed if len(g.nodes[g.inputs[k]].shape) == 4]
    if len(images) != 1 or len(needed) != 1:
        raise UserError(f"predict takes images for a spec whose Outputs need one image Input [H,W,C]; this one "
                        f"needs {', '.join(needed)}: use `run --input DATA.npz`")
    h, w, c = model.inputs[images[0]]
    try:
        x = load_images(args.images, h, w, c) * args.scale
    except ImageError as e:
        raise UserError(str(e)) from None
    outputs = _as_dict(model, model.predict(x))
    pair = loss_pair(g)
    if args.output:
        _save_outputs(args.output, outputs)
    elif pair is not None and pair[0].name == "SOFTMAX_CE":
        logits = outputs[pair[1]].astype(np.float64)
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        for path, p in zip(args.images, probs):
            top = np.argsort(-p)[: args.top]
            print(f"{path}: " + ", ".join(f"{int(k)} ({100 * p[k]:.1f}%)" for k in top))
    else:
        for i, path in enumerate(args.images):
            print(f"{path}: " + ", ".join(f"{k} {fmt_shape(v[i].shape)} first "
                                          f"{np.array2string(v[i].reshape(-1)[:4], precision=4)}"
                                          for k, v in outputs.items()))
        print("note: not a classifier (no softmax_cross_entropy of an Output): -o OUT.npz saves every Output",
              file=sys.stderr)


def cmd_generate(args: argparse.Namespace) -> None:
    from . import text
    vocab = _vocab(args.vocab) if args.vocab else text.ASCII
    model = _model(args, weights_required=True)
    chars = text.generate_ids(model, args.prompt, args.length, temperature=args.temperature, seed=args.seed,
                              vocab=vocab, output=args.logits)
    try:
        first = next(chars, None)   # the prompt, vocabulary and spec are checked before anything is printed
    except ValueError as e:        # TextError too
        raise UserError(str(e)) from None
    sys.stdout.write(args.prompt)
    for i in _prepend(first, chars):
        sys.stdout.write(vocab[i])
        sys.stdout.flush()   # each character as it comes
    sys.stdout.write("\n")


def _prepend(first: int | None, rest: Iterator[int]) -> Iterator[int]:
    if first is not None:
        yield first
        yield from rest


def _vocab(path: str) -> str:
    """The characters by id: a JSON list of one-character strings (text.write_web_files' vocab.json) or a
    JSON string."""
    import json
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"--vocab {path}: not a JSON list of characters ({e})") from None
    if isinstance(data, list) and all(isinstance(c, str) and len(c) == 1 for c in data):
        data = "".join(data)
    if not isinstance(data, str) or not data or len(set(data)) != len(data):
        raise UserError(f"--vocab {path}: expected a JSON list of distinct single characters (the characters by "
                        "id), e.g. the vocab.json examples/train_char_lstm.py writes")
    return data


def cmd_evaluate(args: argparse.Namespace) -> None:
    model = _model(args, weights_required=True)
    if model.graph.loss is None:
        raise UserError("the spec has no Train(loss=...): nothing to evaluate")
    data = _data(args.data, model.graph)
    result = model.evaluate(data)
    n = len(next(iter(data.values())))
    print(f"{args.data}: {n} samples: " + ", ".join(f"{k} {v:.4f}" for k, v in result.items()))


def cmd_train(args: argparse.Namespace) -> None:
    from .runtime.data import DataError, split
    from .runtime.trainer import Diverged

    model = compile_model(args.file, batch=args.batch, seed=args.seed, max_binding=args.max_binding)
    g = model.graph
    if g.loss is None:
        raise UserError("the spec has no Train(loss=...): nothing to train")
    data = _data(args.data, g)
    val = _data(args.val, g) if args.val else None
    if val is None and args.val_split:
        try:
            data, val = split(data, args.val_split, args.seed)
        except DataError as e:
            raise UserError(f"{args.data}: --val-split {e}") from None
    # Refused before the GPU is set up: another spec's checkpoint to resume from (naming the first differing
    # parameter), --init weights that do not fit, an --out folder that cannot be made.
    if args.resume:
        from .runtime.checkpoint import check_params, load_checkpoint
        check_params(args.resume, load_checkpoint(args.resume)[0],
                     {name: g.nodes[i].shape for name, i in g.params.items()})
    if args.init:
        _load_weights(model, args.init, args, partial=True)
    if args.out and args.epochs != 0:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    from .runtime.device import get_device
    print(f"adapter: {get_device()[1]}", file=sys.stderr)
    out = Path(args.out) if args.out else None
    try:
        model.fit(data, val, epochs=args.epochs, lr=args.lr, schedule=args.schedule, out=out, resume=args.resume,
                  overwrite=args.overwrite,
                  seed=args.seed, patience=args.patience, keep_best=args.keep_best,
                  progress=not args.no_progress and sys.stderr.isatty())
    except KeyboardInterrupt:
        print("stopped by Ctrl-C" + (f"; checkpoint saved in {out}" if out else ""), file=sys.stderr)
        raise SystemExit(130) from None
    except Diverged as e:
        raise UserError(str(e)) from None
    if args.epochs == 0:
        print("note: --epochs 0: no training", file=sys.stderr)
    if val is not None:
        result = model.evaluate(val)
        print("held-out: " + ", ".join(f"{k} {v:.4f}" for k, v in result.items()))
    if out and model.history and model.history.epochs:
        print(f"saved {out}/checkpoint.safetensors, history.json and loss.png", file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> None:
    model = _model(args)
    if args.train and model.graph.loss is None:
        raise UserError("the spec has no Train(loss=...): there is no training step to export (drop --train)")
    if not args.weights:
        print("note: no --weights given: exporting freshly initialised weights", file=sys.stderr)
    out = Path(args.output)
    sizes = model.export(out, args.quantize, js=args.js, train=args.train, knn=args.knn)
    weight_bytes = sum(v for k, v in sizes.items() if k.endswith(".bin"))
    f32 = 4 * sum(v.size for v in model.get_weights().values())
    for name, size in sizes.items():
        print(f"{out / name}  {size:,} bytes")
    print(f"weights: {weight_bytes:,} bytes ({weight_bytes / f32:.0%} of float32)", file=sys.stderr)


def cmd_import(args: argparse.Namespace) -> None:
    from .runtime.checkpoint import save_checkpoint

    model = _model(args, weights_required=True)
    save_checkpoint(args.output, model.get_weights(), meta={"imported_from": args.weights})
    print(f"wrote {args.output}: {len(model.get_weights())} tensors for {args.file}", file=sys.stderr)


def cmd_gradcheck(args: argparse.Namespace) -> None:
    model = _model(args)
    if model.graph.loss is None:
        raise UserError("the spec has no Train(loss=...): no loss to check")
    data = _data(args.data, model.graph) if args.data else None
    try:
        rows, failed = model.gradcheck(data, eps=args.eps, tol=args.tol, seed=args.seed), False
    except GradcheckError as e:
        rows, failed = e.rows, True
    print(f"{'parameter':48s} {'finite diff (f64)':>18s} {'GPU vs f64':>12s}")
    for name, fd_err, gpu_err in rows:
        flag = "" if fd_err < 1e-5 and gpu_err < args.tol else "  <-- too large"
        print(f"{name:48s} {fd_err:18.2e} {gpu_err:12.2e}{flag}")
    if failed:
        raise UserError("gradient check failed")
    print(f"gradient check passed: autodiff matches finite differences, GPU matches float64 within {args.tol:g}")


def cmd_overfit(args: argparse.Namespace) -> None:
    from .runtime.data import take

    g = load_spec(args.file, batch=args.samples, max_binding=args.max_binding)
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
        epilog="examples:\n  wgslgrad summary examples/landmark68.py\n"
               "  wgslgrad train examples/digits.py --data train.npz --val test.npz --out runs/digits\n"
               "  wgslgrad predict examples/digits.py --weights runs/digits/checkpoint.safetensors digit.png\n"
               "  wgslgrad run examples/landmark68.py --weights model.json --input faces.npz -o out.npz\n"
               "  wgslgrad generate examples/char_lstm.py --weights runs/char_lstm/run/checkpoint.safetensors "
               "--prompt 'The ' -n 200 --temperature 0.8\n"
               "  wgslgrad wgsl examples/digits.py -o kernels/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable[[argparse.Namespace], None], help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("file", metavar="FILE", help="model spec (.py)")
        sp.add_argument("--batch", type=int, default=None, help="batch size (default: the spec's Train batch, else 1)")
        sp.add_argument("--max-binding", type=binding_argument, default=None, metavar="SIZE",
                        help="the most one GPU buffer binding may hold on the devices the model is for, e.g. 1GiB "
                             "(default 128MiB, what every WebGPU device binds; at most 2GiB): raise it for big "
                             "batches on devices that bind more (SwiftShader: 1GiB)")
        sp.set_defaults(fn=fn)
        return sp

    def weights(sp: argparse.ArgumentParser, flag: str = "--weights", required: bool = False,
                help: str = "a checkpoint (.safetensors), TF.js model.json or weights manifest") -> None:
        sp.add_argument(flag, required=required, help=help)
        sp.add_argument("--map", help=f"spec parameter path -> name in the {flag} file: a JSON file or JSON text; a "
                        'key ending in "/" maps a prefix, e.g. \'{"backbone/": "features_0/"}\'')
        sp.add_argument("--skip", action="append", metavar="NAME", help="a parameter or scope that keeps its "
                        "initial value (e.g. a head whose shape changed); repeatable")

    # -- the compiler's stages
    add("check", cmd_check, "parse and type-check a spec; report every error")
    add("ir", cmd_ir, "print the IR graph").add_argument("-o", "--output", help="write to this file")
    sp = add("wgsl", cmd_wgsl, "print the generated WGSL kernels")
    sp.add_argument("-o", "--output", help="a file, or a directory (no suffix) for one .wgsl file per kernel")
    sp.add_argument("--json", action="store_true", help="print the whole Program (kernels, buffers, slots) as JSON")
    sp.add_argument("--train", action="store_true",
                    help="the training Program: forward, backward and Adam kernels and their phases")
    add("summary", cmd_summary, "per-layer output shapes, parameters, bytes and FLOPs").add_argument(
        "-o", "--output", help="write to this file")

    # -- using a model
    sp = add("run", cmd_run, "run the forward pass on the GPU on any number of samples (default: initialised "
             "weights on one batch of random inputs)")
    weights(sp)
    sp.add_argument("--input", help=".npz with one array per Input, samples first (default: random normal)")
    sp.add_argument("--seed", type=int, default=0, help="seed for initial weights and random inputs")
    sp.add_argument("--repeat", type=int, help="timed runs of one batch after the first run (default 5, or 0 "
                    "with -o: saving outputs times nothing unasked)")
    sp.add_argument("-o", "--output", help="save the outputs to this .npz, one array per Output")

    sp = add("predict", cmd_predict, "classify images (resized to the image Input; the spec does its own "
             "preprocessing): the top classes, or every Output with -o")
    weights(sp, required=True)
    sp.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    sp.add_argument("--top", type=int, default=3, help="classes shown per image")
    sp.add_argument("--scale", type=_number_or_fraction, default=1.0, help="multiply the pixel values (0..255) by "
                    "this first, as the bundle's predictImage does: a number or a fraction A/B (default 1; "
                    "examples/digits.py, trained on 0..16, wants 16/255)")
    sp.add_argument("-o", "--output", help="save the outputs to this .npz instead, one array per Output")

    sp = add("evaluate", cmd_evaluate, "the loss and accuracy (one-hot labels) or mean absolute error on a data set")
    weights(sp, required=True)
    sp.add_argument("--data", required=True, help=".npz with one array per Input, samples first")

    sp = add("generate", cmd_generate, "sample text from a character model (an Input of character ids [T], an "
             "Output of logits [T, V]; examples/char_lstm.py): each character drawn from softmax(logits / "
             "temperature) after the prompt, printed as it comes")
    weights(sp, required=True)
    sp.add_argument("--prompt", default="", help="text to start from, at most T characters of the vocabulary "
                    "(default: none; the model starts after a newline)")
    sp.add_argument("-n", "--length", type=int, default=200, help="characters to generate (default 200)")
    sp.add_argument("--temperature", type=float, default=1.0, help="0 always picks the most likely character; "
                    "below 1 safer and more repetitive, above 1 more inventive (default 1)")
    sp.add_argument("--seed", type=int, default=0, help="seed of the draws: the same seed gives the same text, "
                    "here and in the bundle's text.js")
    sp.add_argument("--vocab", help="the characters by id, a JSON list (default: newline and the 95 printable "
                    "ASCII characters, wgslgrad.text.ASCII)")
    sp.add_argument("--logits", metavar="NAME", help="the Output to sample from (default: the one shaped [T, V])")

    # -- training
    sp = add("train", cmd_train, "train on the GPU: shuffled batches, Adam, checkpoints, loss history and plot")
    sp.add_argument("--data", required=True, help=".npz with one array per Input, samples first")
    sp.add_argument("--val", help="held-out .npz, evaluated after each epoch")
    sp.add_argument("--val-split", type=float, default=0.0, help="hold out this fraction of --data instead")
    sp.add_argument("--epochs", type=int, help="epochs (default: the spec's Train epochs; 0: no training)")
    sp.add_argument("--lr", type=float, help="learning rate (default: the spec's Adam lr); with --resume, the new rate")
    sp.add_argument("--schedule", help="none, step:EVERY[:FACTOR] or plateau:PATIENCE[:FACTOR] (per epoch)")
    sp.add_argument("--patience", type=int, help="early stopping: stop when the held-out loss (else the training "
                    "loss) has not improved for this many epochs")
    sp.add_argument("--keep-best", action="store_true", help="end with the best epoch's weights (also saved as "
                    "best.safetensors under --out)")
    sp.add_argument("--out", help="folder for checkpoint.safetensors, history.json and loss.png")
    sp.add_argument("--resume", help="a checkpoint to continue from (weights, Adam state, step)")
    sp.add_argument("--overwrite", action="store_true", help="replace the run already in --out (without it, "
                    "an --out folder holding a run is refused unless --resume is given)")
    weights(sp, "--init", help="start from these weights: a checkpoint, TF.js model.json or weights manifest "
            "(transfer learning; trainable layers it lacks keep their initial weights)")
    sp.add_argument("--seed", type=int, default=0, help="seed for weights and shuffling")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar (there is none when stderr is not a terminal)")

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
             "preprocessing) as a PNG grid, each labelled when a one-hot Input gives labels")
    sp.add_argument("--data", required=True, help=".npz with one array per Input")
    sp.add_argument("--count", type=int, default=32, help="how many samples")
    sp.add_argument("-o", "--output", help="PNG path (default preview.png)")

    # -- weights in and out
    sp = add("export", cmd_export, "write weights in the TF.js format (model.json, weights_manifest.json, 4 MiB "
             "shards), optionally quantized, and with --js a self-contained WebGPU ES-module bundle")
    weights(sp, help="a checkpoint (.safetensors), TF.js model.json or weights manifest (default: initial weights)")
    sp.add_argument("--quantize", choices=["uint8", "uint16", "float16"], help="per-tensor quantization as TF.js")
    sp.add_argument("--js", action="store_true", help="also write model.js (WGSL and runtime inlined); a page "
                    "classifying one image at a time wants --batch 1")
    sp.add_argument("--train", action="store_true", help="with --js: include the training step")
    sp.add_argument("--knn", action="store_true", help="with --js: also write knn.js, a KNN head for the page "
                    "(import { KNNClassifier } from './knn.js'; classifies features from model.js's outputs)")
    sp.add_argument("-o", "--output", required=True, help="output folder")

    sp = add("import", cmd_import, "read TF.js weights (model.json or a weights manifest, quantized or not) "
             "into a checkpoint for this spec")
    weights(sp, required=True, help="TF.js model.json or weights manifest (or a checkpoint)")
    sp.add_argument("-o", "--output", required=True, help="checkpoint to write (.safetensors)")

    from .bench.run import add_arguments, run_args
    sp = sub.add_parser("bench", help="time training steps and inference beside PyTorch and TF.js, as a table",
                        description="Time a training step (forward+backward+Adam), images/s, inference latency, "
                                    "GPU memory and dispatches, with the same model in PyTorch and TF.js in the "
                                    "same run; ratios are against wgslgrad.")
    add_arguments(sp)
    sp.set_defaults(fn=lambda a: _exit_status(run_args(a)))
    return p


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    """Warnings from the API (frozen layers without weights, a bundle's batch) as one line on stderr."""
    print(f"wgslgrad: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 spec/data/input error, 2 usage error, 130 Ctrl-C)."""
    from .export import WeightsError
    from .runtime.checkpoint import CheckpointError
    from .runtime.data import DataError
    from .runtime.device import DeviceLimitError

    previous = warnings.showwarning
    warnings.showwarning = _show_warning
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
    except (UserError, OSError, DataError, WeightsError, CheckpointError, GradcheckError, DeviceLimitError) as e:
        print(f"wgslgrad: error: {e}", file=sys.stderr)
        return 1
    finally:
        warnings.showwarning = previous
    return 0


def _positive_int(v: object) -> bool:
    return isinstance(v, int) and v >= 1


def _positive_float(v: object) -> bool:
    return isinstance(v, float) and math.isfinite(v) and v > 0


# dest -> (test, what the value must be); checked when the command has the option and it was given
_CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {
    "batch": (_positive_int, "a whole number, at least 1"),
    "epochs": (lambda v: isinstance(v, int) and v >= 0, "a whole number, 0 or more"),
    "repeat": (lambda v: isinstance(v, int) and v >= 0, "a whole number, 0 or more"),
    "samples": (_positive_int, "a whole number, at least 1"),
    "steps": (_positive_int, "a whole number, at least 1"),
    "count": (_positive_int, "a whole number, at least 1"),
    "top": (_positive_int, "a whole number, at least 1"),
    "patience": (_positive_int, "a whole number of epochs, at least 1"),
    "seed": (lambda v: isinstance(v, int) and 0 <= v < 2**63, "a whole number from 0 to 2**63-1"),
    "lr": (_positive_float, "a positive number (not inf or nan)"),
    "eps": (_positive_float, "a positive number (not inf or nan)"),
    "tol": (_positive_float, "a positive number (not inf or nan)"),
    "target": (lambda v: _positive_float(v) and v <= 1, "a fraction of the start loss, in (0, 1]"),
    "scale": (_positive_float, "a positive number (not inf or nan)"),
    "length": (lambda v: isinstance(v, int) and v >= 0, "a whole number, 0 or more"),
    "temperature": (lambda v: isinstance(v, float) and math.isfinite(v) and v >= 0,
                    "a number, 0 or more (0: always the most likely character)"),
    "val_split": (lambda v: isinstance(v, float) and 0 <= v < 1, "a fraction in (0, 1), or 0 for none"),
}


def _number_or_fraction(text: str) -> float:
    """A number, or a fraction A/B (--scale 16/255)."""
    top, slash, bottom = text.partition("/")
    try:
        return float(top) / float(bottom) if slash else float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"a number or a fraction A/B, not {text!r}") from None


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
    if args.command == "export" and not args.js and (args.train or args.knn):
        return f"--{'train' if args.train else 'knn'} needs --js (it adds to the bundle)"
    if getattr(args, "val", None) and getattr(args, "val_split", 0):
        return "give --val or --val-split, not both"
    if getattr(args, "out", None):
        from .runtime.run_folder import RunExistsError, check_new_run
        out = Path(args.out)
        if _blocking_file(out):
            return f"--out {out}: {_blocking_file(out)} is a file, not a folder"
        try:
            check_new_run(out, bool(args.resume), args.overwrite, cli=True)
        except RunExistsError as e:
            return str(e)
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
