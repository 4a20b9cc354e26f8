"""The host-side cost of one wgslgrad call through wgpu-py: what a run or a training step costs the CPU
whatever the GPU's speed, and which wgpu calls it makes.

A 2-layer MLP at batch 1 makes the GPU's work negligible, so its times are the fixed cost per call;
landmark68 at batch 1 adds the per-dispatch cost. Figures (us, medians):
    infer_cpu_us   Session.run: CPU time of the calling thread (what a call costs the host whatever the GPU;
                   other processes' load barely changes it; wgpu-py's poll thread is not counted)
    infer_host_us  Session.run less the time in queue.submit and in waits for the GPU (lavapipe does part
                   of the GPU's work inside submit)
    step_cpu_us, step_host_us   the same for Session.step alone
    encode_us      recording one training step's dispatches (encoder to finish), CPU time
    infer_us, step_us, step_drain_us   wall times (a step, and steps + drain per step), which on lavapipe
                   are mostly its CPU-bound kernels

    python3 scripts/host_cost.py                       # this checkout
    python3 scripts/host_cost.py --compare OLD_TREE    # OLD_TREE (e.g. `git archive 54a9bbd`) and this
                                                       # checkout, interleaved round by round
    python3 scripts/host_cost.py --cprofile            # plus cProfile's top functions for one MLP inference

The script imports wgslgrad from the current directory (each tree's own under --compare), so it works on
older trees too.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, os.getcwd())   # the tree run from (a script's own folder comes first otherwise)

MLP = """x = Input(64)
y = Input(10)
h = dense(x, 64, activation="relu")
logits = dense(h, 10)
Output(logits)
Train(loss=softmax_cross_entropy(logits, y), optimizer=Adam(lr=0.001), batch=1)
"""

# (class, method) pairs counted per call; names as in wgpu.backends.wgpu_native
COUNTED = {
    "GPUQueue": ("submit", "write_buffer", "read_buffer"),
    "GPUDevice": ("create_command_encoder", "create_bind_group", "create_buffer"),
    "GPUCommandEncoder": ("begin_compute_pass", "copy_buffer_to_buffer", "finish"),
    "GPUComputePassEncoder": ("dispatch_workgroups", "set_pipeline", "set_bind_group"),
    "GPUBuffer": ("map_async", "map_sync", "unmap", "read_mapped"),
}


RAW_COUNTED = ("_set_pipeline", "_set_bind_group", "_dispatch", "_map_async", "_unmap", "_poll")


def _count_calls(fn: Any, n: int) -> dict[str, float]:
    """wgpu calls per call of fn (averaged over n calls)."""
    from wgpu.backends import wgpu_native as wn

    counts: Counter[str] = Counter()
    saved = []
    for cls_name, methods in COUNTED.items():
        cls = getattr(wn, cls_name)
        for m in methods:
            orig = getattr(cls, m, None)
            if orig is None:
                continue
            saved.append((cls, m, cls.__dict__.get(m)))   # None: inherited (set_bind_group, from a mixin)

            def wrapper(*a: Any, _o: Any = orig, _k: str = f"{cls_name}.{m}", **kw: Any) -> Any:
                counts[_k] += 1
                return _o(*a, **kw)
            setattr(cls, m, wrapper)
    try:   # this tree's direct calls to wgpu-native (runtime/wgpu_raw.py), counted as raw.NAME
        from wgslgrad.runtime import wgpu_raw
    except ImportError:
        wgpu_raw = None
    for m in RAW_COUNTED if wgpu_raw is not None and getattr(wgpu_raw, "RAW", False) else ():
        orig = getattr(wgpu_raw, m, None)
        if orig is None:
            continue
        saved.append((wgpu_raw, m, orig))

        def raw_wrapper(*a: Any, _o: Any = orig, _k: str = f"raw.{m.strip('_')}") -> Any:
            counts[_k] += 1
            return _o(*a)
        setattr(wgpu_raw, m, raw_wrapper)
    try:
        for _ in range(n):
            fn()
    finally:
        for cls, m, own in saved:
            if own is None:
                delattr(cls, m)
            else:
                setattr(cls, m, own)
    return {k: v / n for k, v in sorted(counts.items())}


class _GpuTime:
    """Accumulates the time spent in queue.submit (lavapipe runs the work inside it) and in waits for the
    GPU (wgpu-py's promise waits, wgslgrad's blocking device polls), so that wall time minus it is the host's
    own cost of a call, whatever the GPU."""

    def __init__(self) -> None:
        from wgpu.backends import wgpu_native as wn
        from wgpu.backends.wgpu_native import _api

        self.seconds = 0.0
        self._saved: list[tuple[Any, str, Any]] = []
        self._wrap(wn.GPUQueue, "submit")
        self._wrap(_api.GPUPromise, "_sync_wait")
        try:
            from wgslgrad.runtime import wgpu_raw
        except ImportError:      # an older tree
            return
        if hasattr(wgpu_raw, "_wait_mapped"):
            self._wrap(wgpu_raw, "_wait_mapped")

    def _wrap(self, owner: Any, name: str) -> None:
        orig = getattr(owner, name)

        def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return orig(*a, **kw)
            finally:
                self.seconds += time.perf_counter() - t
        self._saved.append((owner, name, vars(owner).get(name)))
        setattr(owner, name, timed)

    def close(self) -> None:
        for owner, name, own in reversed(self._saved):
            if own is None:
                delattr(owner, name)
            else:
                setattr(owner, name, own)


def _median_us(fn: Any, n: int, gpu: _GpuTime | None = None) -> tuple[float, float, float]:
    """Medians of fn's wall time, host time (wall minus submit and waits) and the calling thread's CPU time
    (which other processes' load barely changes), in us."""
    walls, hosts, cpus = [], [], []
    for _ in range(n):
        before = gpu.seconds if gpu else 0.0
        c = time.thread_time()
        t = time.perf_counter()
        fn()
        wall = time.perf_counter() - t
        cpus.append(time.thread_time() - c)
        walls.append(wall)
        hosts.append(wall - ((gpu.seconds - before) if gpu else 0.0))
    return tuple(1e6 * statistics.median(v) for v in (walls, hosts, cpus))   # type: ignore[return-value]


def measure(spec: Path, batch: int, reps: int) -> dict[str, Any]:
    """Times (us) and wgpu calls per inference run and per training step of `spec` at `batch`."""
    import numpy as np

    from wgslgrad.bench.run import random_inputs
    from wgslgrad.compiler.frontend import load_spec
    from wgslgrad.compiler.lower import lower
    from wgslgrad.runtime.device import get_device
    from wgslgrad.runtime.init import init_params
    from wgslgrad.runtime.session import Session
    try:                                  # a tree from before one Session ran every phase (--compare 54a9bbd)
        from wgslgrad.compiler.lower import lower_train
        from wgslgrad.runtime.train_session import TrainSession
    except ImportError:
        def lower_train(graph: Any) -> Any:
            return lower(graph, training=True)
        TrainSession = Session

    device, few = get_device()[0], min(5, reps)   # warm-up and counted calls
    graph = load_spec(spec, batch)
    inputs = random_inputs(graph)
    params = init_params(graph, seed=0)

    program = lower(graph)
    infer = Session(program, device)
    infer.set_params(params)
    need = {k for o in program.outputs if o not in program.optional_outputs for k in program.requires.get(o, [])}
    x = {k: v for k, v in inputs.items() if k in need}
    def run() -> None:
        infer.run(x)
    for _ in range(few):
        run()
    out: dict[str, Any] = {"model": spec.stem, "batch": batch, "infer_dispatches": len(program.kernels)}
    out["infer_calls"] = _count_calls(run, few)

    tprog = lower_train(graph)
    train = TrainSession(tprog, device)
    train.set_params(params)
    def step() -> None:
        train.step(inputs, 1e-4)
    def one_step() -> None:
        step()
        train.drain()
    for _ in range(few):
        step()
    train.drain()
    out["train_dispatches"] = len(train.step_kernels)
    out["train_phases"] = {k: len(v) for k, v in tprog.phases.items()}
    out["step_calls"] = _count_calls(one_step, few)

    def encode() -> None:
        encoder = device.create_command_encoder()
        compute_pass = encoder.begin_compute_pass()
        train.record(compute_pass, train.step_kernels)
        compute_pass.end()
        encoder.finish()
    for _ in range(few):
        encode()
    out["encode_us"] = _median_us(encode, max(reps, 20))[2]   # CPU time; cheap: no GPU work

    gpu = _GpuTime()
    try:
        out["infer_us"], out["infer_host_us"], out["infer_cpu_us"] = _median_us(run, reps, gpu)
        # step() alone: the ring of loss read-backs lets RING steps queue without waiting, so time blocks
        # of 4 steps with a drain between them
        blocks = []
        for _ in range(max(1, reps // 4)):
            blocks.append(_median_us(step, 4, gpu))
            train.drain()
        out["step_us"], out["step_host_us"], out["step_cpu_us"] = (statistics.median(b[k] for b in blocks)
                                                                   for k in range(3))
    finally:
        gpu.close()
    t = time.perf_counter()
    for _ in range(reps):
        step()
    losses = train.drain()
    out["step_drain_us"] = 1e6 * (time.perf_counter() - t) / reps
    out["finite"] = bool(all(np.isfinite(v) for _, v in losses))
    return out


def _cprofile(spec: Path) -> None:
    import cProfile
    import pstats

    from wgslgrad.bench.run import random_inputs
    from wgslgrad.compiler.frontend import load_spec
    from wgslgrad.compiler.lower import lower
    from wgslgrad.runtime.init import init_params
    from wgslgrad.runtime.session import Session

    graph = load_spec(spec, 1)
    program = lower(graph)
    s = Session(program)
    s.set_params(init_params(graph, seed=0))
    x = {k: v for k, v in random_inputs(graph).items() if k in program.requires["logits"]}
    for _ in range(10):
        s.run(x)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(200):
        s.run(x)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def _mlp_path() -> Path:
    path = Path(tempfile.gettempdir()) / "wgslgrad_host_cost_mlp.py"
    path.write_text(MLP)
    return path


def _one(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = [measure(_mlp_path(), 1, args.reps)]
    if args.landmark68:
        rows.append(measure(Path(args.landmark68), 1, args.landmark68_reps or max(10, args.reps // 10)))
    return rows


def _compare(args: argparse.Namespace) -> None:
    trees = {"before": Path(args.compare).resolve(), "after": Path(__file__).resolve().parents[1]}
    me = Path(__file__).resolve()
    results: dict[str, list[list[dict[str, Any]]]] = {k: [] for k in trees}
    for r in range(args.rounds):
        for label, tree in (trees.items() if r % 2 == 0 else reversed(list(trees.items()))):
            # the tree first; the rest of PYTHONPATH stays (wheels installed beside, as gpu_bench.sh does)
            path = os.pathsep.join(x for x in (str(tree), os.environ.get("PYTHONPATH", "")) if x)
            env = dict(os.environ, PYTHONPATH=path, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
            cmd = [sys.executable, str(me), "--json", "--reps", str(args.reps), "--landmark68-reps",
                   str(args.landmark68_reps)]
            if args.landmark68:
                cmd += ["--landmark68", str(tree / "examples" / "landmark68.py")]
            res = subprocess.run(cmd, check=False, cwd=tree, env=env, capture_output=True, text=True)
            if res.returncode:
                sys.exit(f"{label} ({tree}) failed:\n{res.stderr}")
            results[label].append(json.loads(res.stdout))
    keys = ("infer_cpu_us", "infer_host_us", "step_cpu_us", "step_host_us", "encode_us", "infer_us", "step_us",
            "step_drain_us")
    print(f"median over {args.rounds} interleaved rounds, each the median of {args.reps} calls (us)")
    for i, first in enumerate(results["before"][0]):
        print(f"\n{first['model']}, batch {first['batch']}")
        for label in trees:
            vals = {k: statistics.median(rr[i].get(k, math.nan) for rr in results[label]) for k in keys}
            last = results[label][-1][i]
            print(f"  {label:6s} " + "  ".join(f"{k} {v:7.0f}" for k, v in vals.items()))
        for label in trees:
            last = results[label][-1][i]
            print(f"  {label:6s} dispatches per inference {last['infer_dispatches']}, per training step "
                  f"{last['train_dispatches']} {last['train_phases']}")
            print(f"  {label:6s} per inference: {_calls(last['infer_calls'])}")
            print(f"  {label:6s} per step+drain: {_calls(last['step_calls'])}")


def _calls(c: dict[str, float]) -> str:
    return ", ".join(f"{k if k.startswith('raw.') else k.split('.')[1]} {v:g}" for k, v in c.items())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=200, help="calls timed per measurement (default 200)")
    p.add_argument("--landmark68", nargs="?", const="examples/landmark68.py", default=None,
                   help="also measure this landmark68 spec at batch 1")
    p.add_argument("--landmark68-reps", type=int, default=0, help="calls timed for landmark68 (default reps / 10, "
                   "at least 10)")
    p.add_argument("--compare", metavar="OLD_TREE", help="also run OLD_TREE, interleaved with this checkout")
    p.add_argument("--rounds", type=int, default=4, help="interleaved rounds under --compare (default 4)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON only")
    p.add_argument("--cprofile", action="store_true", help="cProfile 200 MLP inference runs")
    args = p.parse_args()
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    if args.compare:
        _compare(args)
        return
    if args.cprofile:
        _cprofile(_mlp_path())
        return
    rows = _one(args)
    if args.json:
        print(json.dumps(rows))
        return
    for row in rows:
        print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
