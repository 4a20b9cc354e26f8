"""How fast the examples' WGSL compiles in headless Chromium (WebGPU on SwiftShader, no GPU needed).

    python3 scripts/browser_bench.py [--budget S] [--write BENCHMARKS.md] [--label TEXT] [--tiles direct|shared]

Measures, each in a fresh browser (tests/js/run_chromium.mjs: playwright-core and /usr/bin/chromium):
- time to ready of landmark68's inference bundle (createModel) and training bundle (createModel +
  prepareTraining), exported with write_bundle, and their WGSL sizes (the distinct shaders, in bytes);
- each distinct kernel of every example's inference and training Programs compiled alone (shader module +
  createComputePipelineAsync, awaited one at a time), within --budget seconds: the slowest ten, the total.
  --tiles direct (the default): the Programs a bundle runs on SwiftShader (lower(shared_tiles=False));
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wgslgrad.compiler.frontend import load_spec
from wgslgrad.compiler.lower import lower
from wgslgrad.export.bundle import write_bundle
from wgslgrad.runtime.init import init_params

EXAMPLES = ["landmark68", "landmark68_tiny", "tiny_face_detector", "digits", "face_feature_extractor",
            "digits_backbone", "digits_head"]
JS_DIR = ROOT / "tests" / "js"


def kernels(shared_tiles: bool) -> list[dict[str, str]]:
    """The distinct kernels of every example (inference and training), first seen first."""
    seen: dict[str, str] = {}
    for ex in EXAMPLES:
        g = load_spec(ROOT / "examples" / f"{ex}.py")
        programs = [lower(g, shared_tiles=shared_tiles)] + (
            [lower(g, training=True, shared_tiles=shared_tiles)] if g.loss is not None else [])
        for p in programs:
            for k in p.kernels:
                seen.setdefault(k.wgsl, f"{ex}:{k.name}")
    return [{"name": n, "wgsl": w} for w, n in seen.items()]


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", type=float, default=300, help="seconds for the per-kernel pass (and each ready)")
    ap.add_argument("--write", help="append the Markdown rows to this file")
    ap.add_argument("--label", default="", help="a label for the rows (e.g. before / after)")
    ap.add_argument("--tiles", choices=["direct", "shared"], default="direct",
                    help="which tiled products the per-kernel pass compiles (default: direct, as bundles on SwiftShader)")
    args = ap.parse_args()
    lines = [f"### Chromium pipeline compile times {args.label}".rstrip(), "",
             "`python3 scripts/browser_bench.py " + " ".join(sys.argv[1:]) + "` "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, headless Chromium, WebGPU on SwiftShader)",
             ""]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "bench.html").write_bytes((ROOT / "scripts" / "browser_bench.html").read_bytes())
        g = load_spec(ROOT / "examples" / "landmark68.py")
        params = init_params(g, 0)
        sizes, raw = {}, {}
        shared = args.tiles == "shared"
        infer_wgsl = {k.wgsl for k in lower(g, shared_tiles=shared).kernels}
        raw["infer"] = sum(len(w.encode()) for w in infer_wgsl)
        raw["train"] = sum(len(w.encode()) for w in infer_wgsl | {
            k.wgsl for k in lower(g, training=True, shared_tiles=shared).kernels})
        for name, train in (("infer", False), ("train", True)):
            write_bundle(root / name, g, params, train=train)
            text = (root / name / "model.js").read_text()
            sizes[name] = len(text[text.index("const SHADERS ="):text.index("const PROGRAM =")].encode())
        ks = kernels(shared)
        (root / "kernels.json").write_text(json.dumps({"kernels": ks, "budget_ms": args.budget * 1000}))
        handler = functools.partial(_QuietHandler, directory=str(root))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        try:
            ready = {name: chromium(root, port, f"mode=ready&tiles={args.tiles}&bundle={name}"
                                    + ("&train=1" if name == "train" else ""),
                                    args.budget) for name in ("infer", "train")}
            timed = chromium(root, port, "mode=kernels", args.budget + 120)
        finally:
            server.shutdown()
    lines += ["| landmark68 bundle | ready (s) | pipelines | WGSL in model.js (KB) | WGSL of its kernels (KB) |",
              "|---|---:|---:|---:|---:|"]
    for name in ("infer", "train"):
        r = ready[name]
        ms = None if r is None else r["trainMs"] if name == "train" else r["inferMs"]
        s = f"> {args.budget:.0f}" if ms is None else f"{ms / 1000:.1f}"
        n = "" if r is None else r["stats"].get("trainPipelines" if name == "train" else "pipelines", "")
        lines.append(f"| {'inference' if name == 'infer' else 'training (createModel + prepareTraining)'} | {s} "
                     f"| {n} | {sizes[name] / 1000:.0f} | {raw[name] / 1000:.0f} |")
    times = (timed or {}).get("times", [])
    rows = sorted(zip(times, (k["name"] for k in ks)), reverse=True)
    summary = (f"Distinct kernels of all examples: {len(ks)}, compiled alone: {len(times)} in "
               f"{sum(times) / 1000:.1f} s (median {statistics.median(times) if times else 0:.0f} ms). Slowest ten:")
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
