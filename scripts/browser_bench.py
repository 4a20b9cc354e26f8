"""How fast the examples' WGSL compiles in headless Chromium (WebGPU on SwiftShader, no GPU needed).

    python3 scripts/browser_bench.py [--budget S] [--write BENCHMARKS.md] [--label TEXT] [--tiles direct|shared]
                                     [--against GIT_REF] [--rounds N] [--no-kernels]

Measures, each in a fresh browser (tests/js/run_chromium.mjs: playwright-core and /usr/bin/chromium):
- time to ready of landmark68's inference bundle (createModel) and training bundle (createModel +
  prepareTraining), exported with write_bundle, and their WGSL sizes (the distinct shaders, in bytes), split
  into the module's import, the device, the pipelines; then the first inference and training step. --rounds
  times each that often (medians); --against REF exports the same bundles with the code of git ref REF too
  (git archive into a temporary folder) and times both, alternating, in each round;
- each distinct shader the examples' bundles compile on SwiftShader, compiled alone (shader module +
  createComputePipelineAsync, awaited one at a time), within --budget seconds: the slowest ten, the total.
  --tiles direct (the default): the shaders of the Programs a bundle runs on SwiftShader
  (lower(shared_tiles=False), kernels differing only in numbers sharing one shader: export/param_shaders.py);
  shared: the default Programs, with workgroup-memory tiles.
Prints the rows as Markdown; --write appends them to a file.
"""
from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wgslgrad.compiler.frontend import load_spec
from wgslgrad.compiler.lower import lower
from wgslgrad.export.bundle import SHARE_DIVISORS, _strip
from wgslgrad.export.param_shaders import share

EXAMPLES = ["landmark68", "landmark68_tiny", "tiny_face_detector", "digits", "face_feature_extractor",
            "digits_backbone", "digits_head"]
JS_DIR = ROOT / "tests" / "js"


def kernels(shared_tiles: bool) -> list[dict[str, str]]:
    """The distinct shaders of every example's bundle (inference and training Programs), first seen first;
    without shared tiles, those kernels that differ only in numbers share one, as bundles do."""
    seen: dict[str, str] = {}
    for ex in EXAMPLES:
        g = load_spec(ROOT / "examples" / f"{ex}.py")
        programs = [lower(g, shared_tiles=shared_tiles)] + (
            [lower(g, training=True, shared_tiles=shared_tiles)] if g.loss is not None else [])
        texts = {_strip(k.wgsl): f"{ex}:{k.name}" for p in programs for k in p.kernels[::-1]}
        texts = dict(reversed(texts.items()))
        if shared_tiles:
            shaders = list(texts.items())
        else:
            bindings = {_strip(k.wgsl): len(k.bindings) for p in programs for k in p.kernels}
            merged, uses = share(list(texts), [bindings[t] for t in texts], divisors=SHARE_DIVISORS)
            shaders = [(merged[u.shader], name) for u, name in zip(uses, texts.values())]
        for wgsl, name in shaders:
            seen.setdefault(wgsl, name)
    return [{"name": n, "wgsl": w} for w, n in seen.items()]


# Exports landmark68's two bundles with the code of the tree at argv[1] (that tree first on sys.path) into
# argv[2]/infer and argv[2]/train; prints the WGSL bytes in each model.js.
_EXPORT = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from wgslgrad.compiler.frontend import load_spec
from wgslgrad.export.bundle import write_bundle
from wgslgrad.runtime.init import init_params
g = load_spec(Path(sys.argv[1]) / "examples" / "landmark68.py")
params, sizes = init_params(g, 0), {}
for name, train in (("infer", False), ("train", True)):
    write_bundle(Path(sys.argv[2]) / name, g, params, train=train)
    text = (Path(sys.argv[2]) / name / "model.js").read_text()
    sizes[name] = len(text[text.index("const SHADERS ="):text.index("const PROGRAM =")].encode())
print(json.dumps(sizes))
"""


def export_bundles(tree: Path, out: Path) -> dict[str, int]:
    """landmark68's inference and training bundles exported by the code in `tree`; their WGSL bytes."""
    run = subprocess.run([sys.executable, "-c", _EXPORT, str(tree), str(out)], cwd=tree, capture_output=True,
                         text=True, check=False)
    if run.returncode != 0:
        raise RuntimeError(run.stderr[-3000:])
    return json.loads(run.stdout.strip().splitlines()[-1])


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def chromium(root: Path, port: int, query: str, timeout_s: float) -> dict | None:
    """One page in a fresh browser; None when it did not finish within timeout_s."""
    out = root / "result.json"
    run = subprocess.run(["node", "run_chromium.mjs", str(out), str(int(timeout_s * 1000)),
                          f"http://127.0.0.1:{port}/bench.html?{query}"], cwd=JS_DIR, capture_output=True,
                         text=True, check=False)
    if run.returncode != 0:
        if "Timeout" in run.stderr or "timeout" in run.stderr:
            return None
        raise RuntimeError(run.stderr[-3000:])
    return json.loads(out.read_text())[0]


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r is not None and r.get(key) is not None]
    return statistics.median(values) if values else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", type=float, default=300, help="seconds for the per-kernel pass (and each ready)")
    ap.add_argument("--write", help="append the Markdown rows to this file")
    ap.add_argument("--label", default="", help="a label for the rows (e.g. before / after)")
    ap.add_argument("--tiles", choices=["direct", "shared"], default="direct",
                    help="which tiled products the per-kernel pass compiles (default: direct, as bundles on SwiftShader)")
    ap.add_argument("--against", help="a git ref whose code exports the same bundles, timed alternately")
    ap.add_argument("--rounds", type=int, default=1, help="times each bundle is made ready (medians)")
    ap.add_argument("--no-kernels", action="store_true", help="skip the per-kernel pass")
    args = ap.parse_args()
    lines = [f"### Chromium pipeline compile times {args.label}".rstrip(), "",
             "`python3 scripts/browser_bench.py " + " ".join(sys.argv[1:]) + "` "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, headless Chromium, WebGPU on SwiftShader)",
             ""]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=False).stdout.strip()
    trees = {f"this tree ({head})": ROOT}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.against:
            other = root / "against"
            other.mkdir()
            archive = subprocess.run(["git", "archive", args.against], cwd=ROOT, capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(other)], input=archive.stdout, check=True)
            trees = {f"{args.against}": other, **trees}
        (root / "bench.html").write_bytes((ROOT / "scripts" / "browser_bench.html").read_bytes())
        sizes = {label: export_bundles(tree, root / f"b{i}") for i, (label, tree) in enumerate(trees.items())}
        ks = [] if args.no_kernels else kernels(args.tiles == "shared")
        (root / "kernels.json").write_text(json.dumps({"kernels": ks, "budget_ms": args.budget * 1000}))
        handler = functools.partial(_QuietHandler, directory=str(root))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        ready: dict[tuple[str, str], list[Any]] = {(t, n): [] for t in trees for n in ("infer", "train")}
        try:
            for _ in range(args.rounds):
                for i, label in enumerate(trees):
                    for name in ("infer", "train"):
                        ready[label, name].append(chromium(
                            root, port, f"mode=ready&tiles={args.tiles}&bundle=b{i}/{name}"
                            + ("&train=1" if name == "train" else ""), args.budget))
            timed = None if args.no_kernels else chromium(root, port, "mode=kernels", args.budget + 120)
        finally:
            server.shutdown()
    lines += [("| landmark68 bundle | code | ready (s) | pipelines | WGSL in model.js (KB) | import (ms) | device (ms) "
              "| pipelines (ms) | first inference (ms) | first step (ms) |"),
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in ("infer", "train"):
        for label in trees:
            rows = ready[label, name]
            ms = _median(rows, "trainMs" if name == "train" else "inferMs")
            s = f"> {args.budget:.0f}" if ms is None else f"{ms / 1000:.1f}"
            stats = [r["stats"] for r in rows if r is not None]
            n = stats[0].get("trainPipelines" if name == "train" else "pipelines", "") if stats else ""
            pipe = [st.get("pipelineMs", 0) + (st.get("trainPipelineMs", 0) if name == "train" else 0) for st in stats]
            parts = [_median(rows, k) for k in ("importMs", "deviceMs")] + [
                statistics.median(pipe) if pipe else None, _median(rows, "firstInferMs"),
                _median(rows, "firstStepMs") if name == "train" else None]
            cells = " | ".join("" if v is None else f"{v:,.0f}" for v in parts)
            lines.append(f"| {'inference' if name == 'infer' else 'training (createModel + prepareTraining)'} "
                         f"| {label} | {s} | {n} | {sizes[label][name] / 1000:.0f} | {cells} |")
    if args.rounds > 1:
        def seconds(r: dict[str, Any] | None, name: str) -> str:
            return "-" if r is None else f"{r['trainMs' if name == 'train' else 'inferMs'] / 1000:.1f}"

        lines += ["", "Ready (s), each round: " + "; ".join(
            f"{label} {name}: " + ", ".join(seconds(r, name) for r in ready[label, name])
            for name in ("infer", "train") for label in trees)]
    if not args.no_kernels:
        times = (timed or {}).get("times", [])
        rows = sorted(zip(times, (k["name"] for k in ks)), reverse=True)
        summary = (f"Distinct shaders of all examples' bundles: {len(ks)}, compiled alone: {len(times)} in "
                   f"{sum(times) / 1000:.1f} s (median {statistics.median(times) if times else 0:.0f} ms). "
                   "Slowest ten (a shared shader is named after its first kernel):")
        lines += ["", summary, "", "| kernel | ms |", "|---|---:|"]
        lines += [f"| {n} | {t:.0f} |" for t, n in rows[:10]]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        with open(args.write, "a", encoding="utf-8") as f:
            f.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
