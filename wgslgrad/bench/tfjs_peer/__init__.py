"""TF.js in Node as a benchmark peer: export an IR graph to JSON + float32 weights, run bench.js on it.

The Node side needs `npm ci --prefix wgslgrad/bench/tfjs_peer` (@tensorflow/tfjs and its wasm backend; the
.wasm files ship inside the npm package). @tensorflow/tfjs-node is not used: its install script downloads
libtensorflow from outside the npm registry.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...compiler.ir import BACKWARD, Graph, Op, attrs_items
from ...compiler.training import adam_settings
from ...ops import dropout
from ...ops.elementwise import BINARY_ROWS, UNARY_ROWS
from ...ops.registry import OPS as FAMILY_OPS

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "bench.js"


class TfjsUnavailable(RuntimeError):
    """Node.js or the peer's npm packages are missing; the message says how to install them."""


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (np.generic,)):
        return v.item()
    return v


def export_graph(graph: Graph) -> dict[str, Any]:
    """The forward graph as JSON-able data: nodes (op, shape, srcs, attrs, batched), the name tables and Adam.

    `batched` marks nodes that derive from an Input, whose first dimension is the batch; bench.js replaces it
    to run the same graph at other batch sizes.
    """
    batched: list[bool] = []
    nodes = []
    for n in graph.nodes:
        if n.op not in _FORWARD:
            raise ValueError(f"the TF.js peer runs forward graphs only, got {n.op.name}")
        batched.append(n.op is Op.INPUT or any(batched[s] for s in n.srcs))
        attrs = attrs_items(n.attrs)
        if n.op is Op.DROPOUT:   # the mask's integer threshold, exactly as the kernels compare with it
            attrs["threshold"] = dropout.threshold(n.attrs.rate)
        nodes.append({"op": n.op.name.lower(), "shape": list(n.shape), "srcs": list(n.srcs),
                      "attrs": _jsonable(attrs), "batched": batched[-1]})
    elementwise = {"unary": {r.name: r.tfjs for r in UNARY_ROWS.values()},   # how bench.js runs each row
                   "binary": {r.name: r.tfjs for r in BINARY_ROWS.values()}}
    return {"nodes": nodes, "inputs": dict(graph.inputs), "params": dict(graph.params),
            "outputs": dict(graph.outputs), "loss": graph.loss, "batch": graph.batch, "adam": adam_settings(graph.train),
            "elementwise": elementwise,
            "ops": {name: d.tfjs for name, d in FAMILY_OPS.items() if d.tfjs is not None}}   # bench.js evals them


# the forward ops the peer's JavaScript implements: all of them
_FORWARD = set(Op) - BACKWARD


def write_model(directory: Path, graph: Graph, params: Mapping[str, np.ndarray],
                inputs: Mapping[str, np.ndarray] | None = None) -> Path:
    """Write model.json, weights.bin (float32, graph.params order) and, given inputs, inputs.bin."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.json").write_text(json.dumps(export_graph(graph)))
    _write_f32(directory / "weights.bin", [params[k] for k in graph.params], [graph.nodes[i].shape
                                                                             for i in graph.params.values()])
    if inputs is not None:
        _write_f32(directory / "inputs.bin", [inputs[k] for k in graph.inputs],
                   [graph.nodes[i].shape for i in graph.inputs.values()])
    return directory


def _write_f32(path: Path, arrays: Sequence[np.ndarray], shapes: Sequence[tuple[int, ...]]) -> None:
    parts = []
    for a, shape in zip(arrays, shapes):
        a = np.asarray(a, np.float32)
        assert a.shape == shape, f"{path.name}: shape {a.shape}, expected {shape}"
        parts.append(a.ravel())
    np.concatenate(parts or [np.zeros(0, np.float32)]).tofile(path)


def check_installed() -> str:
    """The node executable, or TfjsUnavailable saying what is missing."""
    node = shutil.which("node")
    if node is None:
        raise TfjsUnavailable("Node.js is not installed (the TF.js peer runs in node)")
    if not (HERE / "node_modules" / "@tensorflow" / "tfjs-backend-wasm").is_dir():
        raise TfjsUnavailable(f"TF.js is not installed: run `npm ci --prefix {HERE}`")
    return node


def _node(directory: Path, args: list[str], timeout: float) -> dict[str, Any]:
    node = check_installed()
    proc = subprocess.run([node, str(SCRIPT), str(directory), *args], capture_output=True, text=True, check=False,
                          timeout=timeout)
    if proc.returncode != 0:
        err = proc.stderr.strip()
        # the JavaScript error on the first line, which is all `wgslgrad bench` shows when it skips the peer
        first = next((ln.strip() for ln in err.splitlines() if "Error" in ln), "")
        raise RuntimeError(f"bench.js failed ({proc.returncode}): {first}\n{err}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def tfjs_check(graph: Graph, params: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray],
               backend: str = "wasm", timeout: float = 300) -> dict[str, Any]:
    """Evaluate the graph in TF.js on `inputs` (batch = graph.batch): outputs, loss and parameter gradients
    as NumPy arrays of the IR's shapes (TF.js layouts), plus the backend used."""
    with tempfile.TemporaryDirectory(prefix="wgslgrad-tfjs-") as d:
        res = _node(write_model(Path(d), graph, params, inputs), ["--check", "--backend", backend], timeout)
    res["outputs"] = {k: np.asarray(v, np.float32).reshape(graph.nodes[graph.outputs[k]].shape)
                      for k, v in res["outputs"].items()}
    res["grads"] = {k: np.asarray(v, np.float32).reshape(graph.nodes[graph.params[k]].shape)
                    for k, v in res["grads"].items()}
    return res


def tfjs_bench(graph: Graph, params: Mapping[str, np.ndarray], batches: Sequence[int], steps: int = 5,
               warmup: int = 2, infer_steps: int = 10, backend: str = "wasm",
               timeout: float = 1800) -> dict[str, Any]:
    """Time a training step per batch size and batch-1 inference in TF.js on random inputs.

    Returns bench.js's JSON: backend, tfjs version, shimmed_from_cpu (kernels the wasm backend lacks),
    rows [{batch, train_step_ms, images_per_s}], infer_ms.
    """
    with tempfile.TemporaryDirectory(prefix="wgslgrad-tfjs-") as d:
        write_model(Path(d), graph, params)
        return _node(Path(d), ["--backend", backend, "--batches", ",".join(map(str, batches)),
                               "--steps", str(steps), "--warmup", str(warmup),
                               "--infer-steps", str(infer_steps)], timeout)
