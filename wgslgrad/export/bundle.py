"""The JavaScript bundle: one ES module (model.js) that runs the model through WebGPU, plus its weights.

    write_bundle(out_dir, graph, params, quantize=None, train=False)

writes into out_dir
- model.js : the JS runtime (export/runtime.js, inlined unchanged), the inference Program (and, with
  train=True, the training Program) as JSON, the distinct WGSL shaders, and `export function createModel(options)`.
  The shaders go in without their comments, as skeletons (the text with each number that differs among the
  shaders of its form a '#', each distinct skeleton inlined once as a template literal) plus each shader's
  numbers: kernels of one template differ mostly in their sizes and offsets. The Programs for CPU adapters
  (SwiftShader) go further: kernels that differ only in numbers share one shader, each kernel's numbers bound
  as a uniform (export/param_shaders.py), so landmark68's inference and training need 78 pipelines, not 165;
- model.json + group1-shard*.bin : the weights in the TF.js format (export/tfjs_weights.write_weights),
  quantized if asked; model.json also records the shards' SHA-256, which keys the bundle's IndexedDB cache.

In a page or in Node (navigator.gpu from the `webgpu` package):

    import { createModel } from './model.js';
    const model = await createModel();                  // weights from ./model.json beside model.js
    const { logits } = await model.predict({ pixels: new Float32Array(2 * 8 * 8) });
    const loss = await model.trainStep({ pixels, label }, 0.001);   // bundles exported with train=True

See runtime.js for the whole API (predictImage, getWeights, saveWeights, load, fetchCached).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..compiler.lower import lower
from .param_shaders import share
from .tfjs_weights import MODEL_JSON, write_weights

if TYPE_CHECKING:
    from ..compiler.ir import Graph
    from ..compiler.program import Program

RUNTIME_JS = Path(__file__).with_name("runtime.js")
MODEL_JS = "model.js"
# What a runtime needs from a kernel; the rest (IR node ids, FLOPs, bytes) is for summaries.
_KERNEL_KEYS = ("name", "bindings", "workgroups", "serves")
# Which numbers the shared shaders of CPU Programs read from their uniform (param_shaders.share): "tight": no
# divisor, and in loops and helper functions only offsets. Measured on landmark68 at batch 16 (BENCHMARKS.md):
# 78 pipelines for inference and training instead of 165, inference in Chromium on SwiftShader as fast;
# reading divisors outside loops too ("lean") makes 64 pipelines, inference about 8% slower there.
SHARE_DIVISORS = "tight"
_PROGRAM_KEYS = ("buffers", "inputs", "outputs", "params", "batch", "buffer_data", "requires",
                 "optional_outputs", "phases", "optimizer", "ids")


def write_bundle(out_dir: str | os.PathLike[str], graph: Graph, params: Mapping[str, np.ndarray],
                 quantize: str | None = None, train: bool = False) -> dict[str, Any]:
    """Write model.js, model.json and the weight shards for `graph` with weights `params` into `out_dir`.

    params: name -> array for every parameter of the graph (e.g. a Session's get_params()).
    quantize: None, "uint8", "uint16" or "float16" (see export/quantize.py); the JS runtime dequantizes
    exactly as TF.js and export/quantize.dequantize do.
    train: also inline the training Program (lower(graph, training=True): forward, backward, fused Adam), for
    model.trainStep(); the spec needs a Train(loss=...).
    Returns {"files": {name: bytes}, "kernels", "shaders", "skeletons", "train", "binding"}; binding: (bytes,
    name) of the largest buffer of any of its Programs, what the device must bind (the runtime checks it).
    """
    out = Path(out_dir)
    program = lower(graph)
    train_program = lower(graph, training=True) if train else None
    if train_program is not None:
        _check_same_params(program, train_program)
    missing = [n for n in program.params if n not in params]
    if missing:
        raise ValueError(f"no value for parameter {', '.join(missing)}")
    for name, p in program.params.items():
        if tuple(np.shape(params[name])) != tuple(p.shape):
            raise ValueError(f"parameter {name} has shape {tuple(np.shape(params[name]))}, the spec wants {p.shape}")
    manifest = write_weights(out, {n: np.asarray(params[n], np.float32) for n in program.params}, quantize)
    _add_sha256(out, manifest)

    shaders: list[str] = []
    programs = {"program": _program_data(program, shaders),
                "train": _program_data(train_program, shaders) if train_program else None}
    programs["cpu"] = _cpu_programs(graph, program, train_program, shaders)
    skeletons, table = _skeletons(shaders)
    text = _render(programs, skeletons, table, manifest)
    tmp = out / f".{MODEL_JS}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out / MODEL_JS)
    files = [MODEL_JS, MODEL_JSON] + manifest[0]["paths"]
    datas = [d for d in (programs["program"], programs["train"], *(programs["cpu"] or {}).values()) if d]
    binding = max((4 * size, name) for d in datas for name, size in d["buffers"].items())
    return {"files": {f: (out / f).stat().st_size for f in files}, "kernels": len(program.kernels),
            "shaders": len(shaders), "skeletons": len(skeletons), "train": train_program is not None,
            "binding": binding}


def _cpu_programs(graph: Graph, program: Program, train_program: Program | None,
                  shaders: list[str]) -> dict[str, Any] | None:
    """The CPU Programs (lower(shared_tiles=False)): every product a 4x4 register block a thread, no workgroup
    memory or barriers. SwiftShader (Chrome without a GPU) compiles zero-initialised workgroup memory slowly,
    about 1 s per 1,024 floats of a kernel, runs barriers slowly and gains nothing from shared tiles; the
    register blocks run its products 3-5x faster. None when no kernel differs."""
    cpu = lower(graph, shared_tiles=False)
    cpu_train = lower(graph, training=True, shared_tiles=False) if train_program is not None else None
    if [k.wgsl for k in cpu.kernels] == [k.wgsl for k in program.kernels] and (
            cpu_train is None or [k.wgsl for k in cpu_train.kernels] == [k.wgsl for k in train_program.kernels]):
        return None
    _check_same_params(program, cpu)
    unshared: list[str] = []   # the kernels' own texts: _share_numbers picks the shaders they run
    data = {"program": _program_data(cpu, unshared),
            "train": _program_data(cpu_train, unshared) if cpu_train else None}
    _share_numbers([data["program"]] + ([data["train"]] if data["train"] else []),
                   [cpu] + ([cpu_train] if cpu_train else []), shaders)
    return data


def _share_numbers(datas: list[dict[str, Any]], programs: list[Program], shaders: list[str]) -> None:
    """Kernels of these Programs that differ only in numbers share one shader (export/param_shaders.py),
    their numbers bound as a uniform (`nums`: u32 bits, 256-byte aligned blocks): fewer pipelines to compile.
    Both Programs at once, so the training Program reuses the inference one's pipelines."""
    kernels = [(d, i, _strip(k.wgsl), len(k.bindings))
               for d, p in zip(datas, programs) for i, k in enumerate(p.kernels)]
    bindings: dict[str, int] = {}   # each distinct text, in order, and its kernels' binding count
    for _, _, text, n in kernels:
        bindings.setdefault(text, n)
    merged, uses = share(list(bindings), list(bindings.values()), divisors=SHARE_DIVISORS)
    at = {}
    for text, use in zip(bindings, uses):
        shader = merged[use.shader]
        if shader not in shaders:
            shaders.append(shader)
        at[text] = (shaders.index(shader), use.nums)
    for d, i, text, _ in kernels:
        index, nums = at[text]
        d["kernels"][i]["shader"] = index
        if nums:
            d["kernels"][i]["nums"] = list(nums)


def _check_same_params(program: Program, train_program: Program) -> None:
    """The bundle binds one `params` buffer in both Programs, so a step updates what predict() reads."""
    same = (program.buffers["params"] == train_program.buffers["params"]
            and {n: p.offset for n, p in program.params.items()}
            == {n: p.offset for n, p in train_program.params.items()})
    assert same, "the inference and training Programs placed the parameters differently"


def _add_sha256(out: Path, manifest: list[dict[str, Any]]) -> None:
    """Record the shards' hash in model.json: the bundle caches shards in IndexedDB under a key derived from
    model.json's text, which then changes whenever the bytes do (float32 manifests alone would not)."""
    digest = hashlib.sha256()
    for group in manifest:
        for p in group["paths"]:
            digest.update((out / p).read_bytes())
    doc = json.loads((out / MODEL_JSON).read_text(encoding="utf-8"))
    doc["weightsSha256"] = digest.hexdigest()
    tmp = out / f".{MODEL_JSON}.tmp"
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    os.replace(tmp, out / MODEL_JSON)


def _program_data(program: Program, shaders: list[str]) -> dict[str, Any]:
    """The Program as the JS runtime reads it; each kernel names its WGSL by index into `shaders`, which
    collects the distinct shaders of every Program in the bundle."""
    d = program.as_dict()
    data = {k: d[k] for k in _PROGRAM_KEYS}
    if "step_loss" in d:   # a spec with dropout or batch norm: the training step's loss (program.py)
        data["step_loss"] = d["step_loss"]
    data["kernels"] = []
    for k in program.kernels:
        if k.wgsl not in shaders:
            shaders.append(k.wgsl)
        kd = asdict(k)
        data["kernels"].append({**{key: kd[key] for key in _KERNEL_KEYS}, "shader": shaders.index(k.wgsl)})
    return data


# A number in WGSL: digits not inside a name (acc0_1, vec4 keep theirs); "0.5" is two, "1e-5" is two.
_NUMBER = re.compile(r"(?<!\w)\d+")


def _strip(wgsl: str) -> str:
    """The shader without its comments and blank lines (WGSL has no strings), each 4 spaces of indentation a
    tab: a third less text to ship, as readable."""
    lines = (line.split("//")[0].rstrip() for line in wgsl.split("\n"))
    return "\n".join(_tabs(line) for line in lines if line.strip())


def _tabs(line: str) -> str:
    body = line.lstrip(" ")
    spaces = len(line) - len(body)
    return "\t" * (spaces // 4) + " " * (spaces % 4) + body


def _skeletons(shaders: list[str]) -> tuple[list[str], list[list[Any]]]:
    """The shaders, comments dropped, as distinct skeletons and, per shader, [its skeleton's index, its
    numbers joined by ',']; runtime.js's shaderTexts() puts them back. A skeleton is the text with each number
    that differs among the shaders of its form replaced by '#' (those all its shaders share stay written), or
    by '$j' where that number is, in every shader of the form, the j-th of its list again (an offset an
    unrolled epilogue repeats is listed once)."""
    texts = [_strip(w) for w in shaders]
    assert not any("#" in t or "$" in t for t in texts), "a shader uses '#' or '$', which the skeletons reserve"
    forms: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        forms.setdefault(_NUMBER.sub("#", text), []).append(i)
    skeletons: list[str] = []
    table: list[list[Any]] = [[]] * len(texts)
    for form, members in forms.items():
        numbers = [_NUMBER.findall(texts[i]) for i in members]
        columns = list(zip(*numbers))
        listed: dict[tuple[str, ...], int] = {}   # a varying column -> its place in each shader's list
        marks = []
        for col in columns:
            if len(set(col)) == 1:
                marks.append(col[0])
            elif col in listed:
                marks.append(f"${listed[col]}")
            else:
                listed[col] = len(listed)
                marks.append("#")
        parts = form.split("#")
        skeleton = parts[0] + "".join(m + p for m, p in zip(marks, parts[1:]))
        for k, i in enumerate(members):
            table[i] = [len(skeletons), ",".join(col[k] for col in listed)]
        skeletons.append(skeleton)
    return skeletons, table


def _js_string(text: str) -> str:
    """A template literal when the text allows one (WGSL stays readable in model.js), else a JSON string."""
    if "`" in text or "${" in text or "\\" in text:
        return json.dumps(text)
    return "`" + text + "`"


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _render(programs: dict[str, Any], skeletons: list[str], table: list[list[Any]],
            manifest: list[dict[str, Any]]) -> str:
    runtime = RUNTIME_JS.read_text(encoding="utf-8")
    return "\n".join([
        "// model.js: generated by wgslgrad (export/bundle.py); do not edit. The runtime comes first,",
        "// then the Program(s), the WGSL shaders and createModel().",
        runtime,
        "// ------------------------------------------------------------------------------- the model",
        "const SHADERS = shaderTexts([",
        *[f"// skeleton {i}\n{_js_string(s)}," for i, s in enumerate(skeletons)],
        f"], {_compact(table)});",
        f"const PROGRAM = {_compact(programs['program'])};",
        f"const TRAIN_PROGRAM = {_compact(programs['train'])};",
        "// the same Programs with products that use no workgroup memory or barriers, for CPU adapters (SwiftShader)",
        f"const CPU_PROGRAMS = {_compact(programs['cpu'])};",
        f"const MANIFEST = {_compact(manifest)};",
        "const BUNDLE = { program: PROGRAM, train: TRAIN_PROGRAM, cpu: CPU_PROGRAMS, shaders: SHADERS, manifest: MANIFEST };",
        "",
        "/** The model on a WebGPU device. options: device (else one is requested), weightsUrl (default: the",
        " *  model.json beside this file), weights (ArrayBuffers or {manifest, data} instead of a URL; null: none),",
        " *  cache (false: no IndexedDB), onLoss(loss, step), tiles ('auto': Programs without workgroup tiles on",
        " *  SwiftShader and other CPU adapters; 'shared' or 'direct' to choose). */",
        "export function createModel(options = {}) {",
        "  const weightsUrl = options.weightsUrl ?? new URL('model.json', import.meta.url).href;",
        "  return createModelFrom(BUNDLE, { ...options, weightsUrl });",
        "}",
        "export { PROGRAM as program, TRAIN_PROGRAM as trainProgram };",
        "export default createModel;",
        "",
    ])
