"""`wgslgrad bench FILE --browser` / `--node`: the exported bundle beside TF.js running the same net.

The bundle (export.write_bundle, one per batch size, with its training Program when the spec has a loss) and
TF.js 4.22 (the peer in tfjs_peer/: the same graph from tf.* ops, the same weights) run in headless Chromium
(one page each, WebGPU on SwiftShader when the machine has no GPU) or in Node (one process each, WebGPU from
the `webgpu` package, Dawn), driven by tfjs_peer/compare.mjs: interleaved rounds, one system at a time.
Reported: the median inference and training-step times per batch size, the time from nothing to the first
inference result and to the first training step's loss, and each TF.js backend's time over wgslgrad's (above
1: wgslgrad is faster). The batch-1 outputs on one random input are compared first; a disagreement is an error.
A spec without Train(loss=...) (a detector) gets training steps too with `loss="mse"` (`bench --loss mse`):
both systems then train the mean squared error of its one output against a random input 'target'
(common.add_loss).
"""
from __future__ import annotations

import functools
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from ..compiler.frontend import load_spec
from ..compiler.ir import Graph
from ..export.bundle import write_bundle
from ..runtime.init import init_params
from .common import HasLoss, add_loss
from .tfjs_peer import HERE as PEER_DIR
from .tfjs_peer import write_model

MODES = ("browser", "node")
SYSTEMS = ("wgslgrad", "tfjs-webgpu", "tfjs-wasm", "wgslgrad-shared", "wgslgrad-direct")
DEFAULT_SYSTEMS = SYSTEMS[:3]   # wgslgrad-shared / -direct: the bundle with one kind of tiled product forced
SWIFTSHADER_ICD = Path("/usr/lib/chromium/vk_swiftshader_icd.json")
# TF.js's browser builds, served to the pages from tf/
TF_FILES = {"tf.min.js": "@tensorflow/tfjs/dist/tf.min.js",
            "tf-backend-webgpu.min.js": "@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js",
            "tf-backend-wasm.min.js": "@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js",
            **{w: f"@tensorflow/tfjs-backend-wasm/dist/{w}" for w in
               ("tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm-threaded-simd.wasm")}}
PAGE_FILES = ("host.html", "systems.mjs", "peer_model.js", "wasm_grads.js")
# outputs agree when |a - b| <= ATOL * max(1, max |b|) + RTOL * |b| everywhere (float32, different algorithms)
RTOL, ATOL = 1e-3, 1e-4


class CompareError(RuntimeError):
    """The comparison could not run (a missing browser or package, a peer that failed); the message says why."""


class LossOptionError(CompareError):
    """`loss` given for a spec that trains a loss already: a usage error (`bench --loss`, exit status 2)."""


@dataclass
class Comparison:
    """What compare() measured; table() prints it."""
    model: str
    mode: str
    systems: list[str]
    batches: list[int]
    train: bool
    raw: dict[str, Any]                     # compare.mjs's JSON
    agreement: dict[str, float] = field(default_factory=dict)   # system -> max |diff| / scale vs wgslgrad
    disagree: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def median(self, system: str, what: str, batch: int) -> float | None:
        s = self.raw["systems"].get(system, {})
        if what in ("infer", "train"):
            xs = s.get(what, {}).get(str(batch))
            return statistics.median(xs) if xs else None
        r = s.get("ready", {}).get(str(batch))
        v = r and r.get(what)
        return None if v is None else v

    def rows(self) -> list[dict[str, Any]]:
        """One row per (what, batch): each system's value (ms) and the TF.js / wgslgrad ratios."""
        out = []
        kinds = [("infer", "inference (ms)"), *([("train", "training step (ms)")] if self.train else [])]
        cells = [(k, label, b) for k, label in kinds for b in self.batches]
        first = self.batches[0]
        cells += [("readyMs", "ready to infer (ms)", first)]
        if self.train:
            cells += [("trainReadyMs", "ready to train (ms)", first)]
        for what, label, batch in cells:
            values = {s: self.median(s, what, batch) for s in self.systems}
            ours = values.get("wgslgrad")
            ratios = {s: (v / ours if v and ours else None) for s, v in values.items() if s != "wgslgrad"}
            out.append({"what": label, "batch": batch, "ms": values, "ratio": ratios})
        return out

    def table(self) -> str:
        from .common import text_table

        peers = [s for s in self.systems if s != "wgslgrad"]
        head = ["model", "what", "batch", *self.systems, *(f"{p} / wgslgrad" for p in peers)]
        body = []
        for r in self.rows():
            body.append([self.model, r["what"], str(r["batch"]), *(_ms(r["ms"][s]) for s in self.systems),
                         *(_ratio(r["ratio"][p]) for p in peers)])
        return text_table(head, body, left={0, 1})

    def describe(self) -> str:
        """The machine line and the notes: adapters, versions, agreement, errors."""
        lines = []
        for s in self.systems:
            info = self.raw["systems"].get(s, {}).get("info") or {}
            extra = ", ".join(f"{k}={v}" for k, v in info.items() if k != "system" and v not in (None, "", []))
            lines.append(f"{s}: {extra}" if extra else s)
            for e in self.raw["systems"].get(s, {}).get("errors", []):
                lines.append(f"  {s} error: {e.splitlines()[0][:300]}")
        for s, d in self.agreement.items():
            lines.append(f"outputs at batch 1, {s} vs wgslgrad: max |diff| = {d:.2g} of the outputs' scale"
                         + (" (DISAGREE)" if s in self.disagree else ""))
        lines += self.notes
        return "\n".join(lines)


def _ms(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:.1f}" if v < 1000 else f"{v:,.0f}"


def _ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


# ---------------------------------------------------------------------------------------------- setup
def check_installed(mode: str) -> Path | None:
    """Node and the peer's npm packages (and, for the browser, Chromium); the Chromium executable or None."""
    if shutil.which("node") is None:
        raise CompareError("Node.js is not installed (the comparison runs in node)")
    need = ["@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm", "@tensorflow/tfjs-backend-webgpu",
            "playwright-core" if mode == "browser" else "webgpu"]
    missing = [p for p in need if not (PEER_DIR / "node_modules" / p).is_dir()]
    if missing:
        raise CompareError(f"npm packages missing ({', '.join(missing)}): run `npm ci --prefix {PEER_DIR}` "
                           "(scripts/setup.sh does)")
    if mode != "browser":
        return None
    chromium = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    if not chromium.exists():
        raise CompareError(f"no Chromium at {chromium}: install it (apt-get install chromium) or set $CHROMIUM")
    return chromium


def _has_gpu() -> bool:
    """Whether wgpu sees a real GPU (not a CPU driver such as lavapipe): Chromium then uses it too."""
    try:
        import wgpu
        adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
        return adapter is not None and adapter.info.get("adapter_type", "").lower() not in ("cpu", "")
    except (ImportError, RuntimeError):   # no wgpu adapter at all: let Chromium use SwiftShader
        return False


@functools.cache
def node_env() -> dict[str, str]:
    """The environment for Node hosts: Dawn with the system's drivers, else Chromium's SwiftShader."""
    env = {**os.environ}
    env.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    probe = ("const {create}=require('webgpu');create([]).requestAdapter()"
             ".then(a=>process.exit(a?0:3),()=>process.exit(3))")

    def works(env: dict[str, str]) -> bool:
        return subprocess.run(["node", "-e", probe], cwd=PEER_DIR, env=env, capture_output=True,
                              timeout=120, check=False).returncode == 0
    if works(env):
        return env
    if SWIFTSHADER_ICD.exists():
        env["VK_ICD_FILENAMES"] = str(SWIFTSHADER_ICD)
        if works(env):
            return env
    raise CompareError("the webgpu package (Dawn) finds no adapter (for SwiftShader, install chromium, whose "
                       f"{SWIFTSHADER_ICD} Dawn can use)")


class _Handler(SimpleHTTPRequestHandler):
    """Static files, cross-origin isolated (so the wasm backend may use threads, as in a real deployment)."""

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def load(spec: Path, batch: int, loss: str | None = None, max_binding: int | None = None) -> Graph:
    """The spec at `batch` (compiled for `max_binding`, load_spec's), given the stand-in loss `loss`
    (common.add_loss) where not None."""
    g = load_spec(spec, batch, max_binding)
    if loss is not None:
        add_loss(g, loss)
    return g


def prepare(root: Path, spec: Path, batches: Sequence[int], train: bool, peers: bool, seed: int = 0,
            loss: str | None = None, max_binding: int | None = None) -> None:
    """The files the hosts read: b{batch}/ bundles, peer/ (TF.js's model, weights, batch-1 inputs), and the
    page's own files; `loss` and `max_binding`: as compare()'s."""
    for b in batches:
        g = load(spec, b, loss, max_binding)
        write_bundle(root / f"b{b}", g, init_params(g, seed=seed), train=train)
    g = load(spec, 1, loss, max_binding)
    if peers:
        rng = np.random.default_rng(seed)
        print(f"bench: outputs compared on random inputs, seed {seed}", file=sys.stderr)
        inputs = {k: rng.uniform(0, 1, g.nodes[i].shape).astype(np.float32) for k, i in g.inputs.items()}
        write_model(root / "peer", g, init_params(g, seed=seed), inputs)
    else:
        (root / "peer").mkdir()
    for f in PAGE_FILES:
        shutil.copy(PEER_DIR / f, root / f)
    (root / "tf").mkdir()
    for name, rel in TF_FILES.items():
        os.symlink(PEER_DIR / "node_modules" / rel, root / "tf" / name)


def compare(spec_path: str | Path, mode: str = "browser", batches: Sequence[int] = (1, 16), steps: int = 5,
            infer_steps: int = 10, warmup: int = 2, rounds: int = 3, systems: Sequence[str] = DEFAULT_SYSTEMS,
            timeout: float = 600, train: bool | None = None, loss: str | None = None,
            max_binding: int | None = None) -> Comparison:
    """Run the comparison; `timeout` (s) bounds the measured part (a system past it is left out). `loss`
    ("mse", for a spec without Train(loss=...)): the loss both systems train (common.add_loss); a spec with a
    loss of its own is refused (LossOptionError), one without exactly one output too (CompareError).
    `max_binding`: the bundles are compiled for it (load_spec's; TF.js asks the adapter for its largest)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    spec = Path(spec_path)
    chromium = check_installed(mode)
    graph = load_spec(spec, 1, max_binding)
    notes = []
    if loss is not None:
        try:
            target = add_loss(graph, loss)
        except HasLoss:
            raise LossOptionError(f"{spec.name} already trains a loss (its Train(loss=...)): --loss is for specs "
                                  "without one") from None
        except ValueError as e:
            raise CompareError(f"--loss {loss}: {e}") from None
        notes.append(f"training step: {loss} of the output '{next(iter(graph.outputs))}' against a random input "
                     f"'{target}' (--loss {loss}), Adam at lr 0.001")
    train = graph.loss is not None if train is None else train
    systems = ["wgslgrad", *(s for s in systems if s != "wgslgrad")]
    try:
        from .tfjs_peer import export_graph
        export_graph(graph)
    except ValueError as e:
        notes.append(f"TF.js left out: {e}")
        systems = [s for s in systems if not s.startswith("tfjs")]
    with tempfile.TemporaryDirectory(prefix="wgslgrad-compare-") as tmp:
        root = Path(tmp)
        prepare(root, spec, batches, train, any(s.startswith("tfjs") for s in systems), loss=loss,
                max_binding=max_binding)
        config = {"mode": mode, "systems": systems, "batches": list(batches), "train": train, "steps": steps,
                  "inferSteps": infer_steps, "warmup": warmup, "rounds": rounds, "timeoutMs": int(timeout * 1000),
                  "dir": str(root)}
        server = None
        env = dict(os.environ)
        if mode == "browser":
            server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
            threading.Thread(target=server.serve_forever, daemon=True).start()
            config |= {"url": f"http://127.0.0.1:{server.server_address[1]}", "chromium": str(chromium),
                       "chromiumArgs": [] if _has_gpu() else ["--use-webgpu-adapter=swiftshader"]}
        else:
            env = node_env()
        (root / "config.json").write_text(json.dumps(config))
        try:
            run = subprocess.run(["node", str(PEER_DIR / "compare.mjs"), str(root / "config.json")], env=env,
                                 cwd=PEER_DIR, capture_output=True, text=True, timeout=timeout + 180, check=False)
        except subprocess.TimeoutExpired:
            raise CompareError(f"compare.mjs did not finish within {timeout + 180:.0f} s") from None
        finally:
            if server is not None:
                server.shutdown()
    if run.returncode != 0:
        raise CompareError(f"compare.mjs failed ({run.returncode}):\n{run.stderr.strip()[-3000:]}")
    try:
        raw = json.loads(run.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError) as e:
        raise CompareError(f"compare.mjs printed no whole result line ({e}):\n{run.stderr.strip()[-3000:]}") from None
    result = Comparison(spec.stem, mode, systems, list(batches), train, raw, notes=notes)
    if raw.get("timedOut"):
        result.notes.append(f"some systems ran out of the {timeout:.0f} s budget (--timeout); their cells are '-'")
    _agreement(result)
    return result


def _agreement(result: Comparison) -> None:
    """Each other system's batch-1 outputs against wgslgrad's (those both have, the loss aside)."""
    ours = result.raw["systems"]["wgslgrad"].get("outputs")
    if not ours:
        return
    for s in result.systems[1:]:
        theirs = result.raw["systems"][s].get("outputs")
        if not theirs:
            continue
        worst = 0.0
        for name in sorted(set(ours) & set(theirs) - {"loss"}):
            a, b = np.asarray(theirs[name], np.float64), np.asarray(ours[name], np.float64)
            if a.shape != b.shape:
                worst = math.inf
                break
            scale = max(1.0, float(np.max(np.abs(b), initial=0)))
            worst = max(worst, float(np.max(np.abs(a - b), initial=0)) / scale)
            if not np.allclose(a, b, rtol=RTOL, atol=ATOL * scale):
                result.disagree.append(s)
        result.agreement[s] = worst
    result.disagree = sorted(set(result.disagree))


def header(result: Comparison) -> str:
    """The table's title line: model, where, when."""
    where = (f"headless Chromium {result.raw.get('browser', '')}".rstrip() if result.mode == "browser"
             else f"Node {result.raw.get('node', '')} (WebGPU from the webgpu package: Dawn)")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"{result.model} in {where}, {stamp}: medians; ratio = its time / wgslgrad's (above 1: wgslgrad faster)"
