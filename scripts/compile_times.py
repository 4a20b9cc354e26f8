"""How long Dawn (Node's `webgpu` package; SwiftShader where there is no GPU) takes to compile an example's
distinct kernels, inference and training, one at a time: the tiled products with workgroup memory (shared,
what Python and GPU adapters run) beside those without (direct, what bundles pick on CPU adapters).

    python3 scripts/compile_times.py [EXAMPLE ...] [--tiles shared,direct]

Prints per example and kind: kernels, WGSL KB, total seconds, the slowest five. Needs
`npm ci --prefix wgslgrad/bench/tfjs_peer`.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wgslgrad.bench.compare import node_env
from wgslgrad.compiler.frontend import load_spec
from wgslgrad.compiler.lower import lower


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("examples", nargs="*", default=["landmark68_tiny", "landmark68"])
    ap.add_argument("--tiles", default="shared,direct", help="comma-separated: shared, direct")
    args = ap.parse_args()
    print("| example | tiles | kernels | WGSL (KB) | compile (s) | slowest five (ms) |\n|---|---|---:|---:|---:|---|")
    for ex in args.examples:
        g = load_spec(ROOT / "examples" / f"{ex}.py")
        for tiles in args.tiles.split(","):
            shared = tiles == "shared"
            seen: dict[str, str] = {}
            for p in [lower(g, shared_tiles=shared)] + ([lower(g, training=True, shared_tiles=shared)] if g.loss is not None else []):
                for k in p.kernels:
                    seen.setdefault(k.wgsl, k.name)
            with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
                json.dump([{"name": n, "wgsl": w} for w, n in seen.items()], f)
                f.flush()
                run = subprocess.run(["node", str(ROOT / "scripts" / "compile_times.mjs"), f.name], env=node_env(),
                                     capture_output=True, text=True, check=False)
            if run.returncode != 0:
                print(run.stderr[-2000:], file=sys.stderr)
                return 1
            r = json.loads(run.stdout.strip().splitlines()[-1])
            slow = ", ".join(f"{n} {t:.0f}" for t, n in r["times"][:5])
            kb = sum(len(w.encode()) for w in seen) / 1000
            print(f"| {ex} | {tiles} | {r['n']} | {kb:.0f} | {r['total_ms'] / 1000:.1f} | {slow} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
