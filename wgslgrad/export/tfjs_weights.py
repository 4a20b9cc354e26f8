"""Weights in the TF.js weights-manifest format: write, read, and map onto a spec's parameters.

A folder written here holds
- group1-shard1ofN.bin ... : the tensors' bytes (little-endian) concatenated in manifest order and cut
  into 4 MiB shards (the browsers' cache limit the TF.js converter also uses);
- weights_manifest.json : [{"paths": [...], "weights": [{name, shape, dtype, quantization?}]}], the file
  tf.io.loadWeights(manifest, folderUrl) takes;
- model.json : {"format", "generatedBy", "weightsManifest"} with no modelTopology, which
  tf.io.http(url).load() accepts (it needs a topology or a manifest) and turns into weightSpecs and
  weightData for tf.io.decodeWeights.
tests/tfjs/load_weights.mjs loads both through TF.js itself.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..runtime.files import open_regular, read_regular
from .quantize import BYTES_PER_VALUE, QMAX, QUANT_DTYPES, dequantize
from .quantize import quantize as quantize_tensor

if TYPE_CHECKING:
    from ..compiler.ir import Graph

SHARD_BYTES = 4 * 1024 * 1024
MODEL_JSON = "model.json"
MANIFEST_JSON = "weights_manifest.json"
FORMAT = "weights-manifest"   # informational: TF.js's loaders do not read it
GENERATED_BY = "wgslgrad"


class WeightsError(Exception):
    """A weights file, its manifest or a name mapping that cannot be used; the message names the path."""


class UnusedWeightsWarning(UserWarning):
    """Tensors in a weights file that no spec parameter takes."""


# ---------------------------------------------------------------------------------------------- write
def write_weights(folder: str | os.PathLike[str], params: Mapping[str, np.ndarray],
                  quantize: str | None = None, model_json: bool = True,
                  *, shard_bytes: int = SHARD_BYTES) -> list[dict[str, Any]]:
    """Write `params` (name -> array) as TF.js weights into `folder`; returns the manifest.

    quantize: None (float32 as is), "uint8", "uint16" or "float16"; like the converter, only float32
    tensors are quantized (int32 ones are written as they are). float64 arrays are stored as float32.
    Shards are written before the manifest, each file atomically, so a manifest never names a shard
    that is not complete.
    """
    if quantize is not None and quantize not in QUANT_DTYPES:
        raise ValueError(f"quantize must be None or one of {', '.join(QUANT_DTYPES)}, not {quantize!r}")
    if shard_bytes <= 0:
        raise ValueError("shard_bytes must be positive")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries, chunks = [], []
    for name, value in params.items():
        entry, data = _encode(name, value, quantize)
        entries.append(entry)
        chunks.append(data)
    blob = b"".join(chunks)
    count = math.ceil(len(blob) / shard_bytes)
    paths = [f"group1-shard{i + 1}of{count}.bin" for i in range(count)]
    for i, p in enumerate(paths):
        _write_atomic(folder / p, blob[i * shard_bytes:(i + 1) * shard_bytes])
    manifest = [{"paths": paths, "weights": entries}]
    _write_atomic(folder / MANIFEST_JSON, json.dumps(manifest).encode())
    if model_json:
        doc = {"format": FORMAT, "generatedBy": GENERATED_BY, "weightsManifest": manifest}
        _write_atomic(folder / MODEL_JSON, json.dumps(doc).encode())
    return manifest


def _encode(name: str, value: np.ndarray, quantize: str | None) -> tuple[dict[str, Any], bytes]:
    """One manifest entry and its bytes."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"weight names must be non-empty strings, got {name!r}")
    a = np.asarray(value)
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    elif a.dtype == np.int64:
        if a.size and (a.min() < -2**31 or a.max() >= 2**31):
            raise ValueError(f"{name}: int64 values do not fit int32")
        a = a.astype(np.int32)
    if a.dtype.name not in ("float32", "int32"):
        raise ValueError(f"{name}: cannot write dtype {a.dtype.name}; expected float32 or int32")
    entry: dict[str, Any] = {"name": name, "shape": list(a.shape), "dtype": a.dtype.name}
    if quantize is None or a.dtype != np.float32:
        return entry, a.astype(a.dtype.newbyteorder("<")).tobytes()
    q, meta = quantize_tensor(a, quantize)
    # Key order as the converter writes it: dtype, min, scale, original_dtype.
    entry["quantization"] = {"dtype": quantize, **(meta or {}), "original_dtype": "float32"}
    return entry, q.astype(q.dtype.newbyteorder("<")).tobytes()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------- read
def read_weights(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read TF.js weights: a model.json, a bare weights manifest, or a folder holding either.

    Shards are looked up next to the JSON file. Returns name -> array of the manifest's shape: float32
    for float32 weights (quantized ones dequantized as TF.js does), int32 for int32 weights.
    Raises WeightsError naming the file for a bad manifest or a missing, short or long shard.
    """
    json_path = _find_json(Path(path))
    manifest = _load_manifest(json_path)
    out: dict[str, np.ndarray] = {}
    for gi, group in enumerate(manifest):
        specs = [_check_entry(json_path, gi, wi, w) for wi, w in enumerate(group["weights"])]
        blob = _read_shards(json_path, gi, group["paths"], sum(s[3] for s in specs))
        offset = 0
        for name, shape, dtype, nbytes, quant in specs:
            if name in out:
                raise WeightsError(f"{json_path}: weight {name!r} appears twice")
            with np.errstate(over="ignore", invalid="ignore"):
                out[name] = _decode(blob[offset:offset + nbytes], shape, dtype, quant)
            _check_finite(json_path, name, out[name], quant)
            offset += nbytes
    return out


def _inside(path: Path, folder: Path, what: str) -> Path:
    """`path` with every link resolved, refused unless it lies inside `folder` (resolved): files a
    manifest names are read from the model's folder only, never through a link out of it."""
    try:
        real, root = path.resolve(strict=True), folder.resolve(strict=True)
    except (OSError, RuntimeError) as e:  # RuntimeError: a link loop (Python < 3.13)
        raise WeightsError(f"{path}: cannot read {what}: {getattr(e, 'strerror', None) or e}") from None
    if not real.is_relative_to(root):
        raise WeightsError(f"{path}: a link to {real}, outside the model folder {root}: refused ({what} are read "
                           "from the model's own folder only)")
    return real


def _find_json(path: Path) -> Path:
    if path.is_dir():
        for candidate in (MODEL_JSON, MANIFEST_JSON):
            if os.path.lexists(path / candidate):
                return _inside(path / candidate, path, "weights")
        raise WeightsError(f"{path}: no {MODEL_JSON} or {MANIFEST_JSON} in this folder")
    if not os.path.lexists(path):
        raise WeightsError(f"{path}: no such file")
    return _inside(path, path.parent, "weights")


MAX_JSON_BYTES = 64 * 2**20   # a model.json with its topology is a few MB; more is not a model file
MAX_INT_DIGITS = 20           # a shape dimension or count past 10**20 bytes is no real tensor


def parse_json(text: str | bytes, where: object) -> Any:
    """JSON from an untrusted file: refuses numbers of thousands of digits and deep nesting with a
    WeightsError naming `where` (json.loads would raise ValueError or RecursionError)."""
    def parse_int(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_INT_DIGITS:
            raise ValueError(f"a whole number of {len(digits.lstrip('-')):,} digits")
        return int(digits)
    try:
        return json.loads(text, parse_int=parse_int)
    except RecursionError:
        raise WeightsError(f"{where}: not a weights file (JSON nested too deeply)") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise WeightsError(f"{where}: not valid JSON ({e})") from None


def _load_manifest(json_path: Path) -> list[dict[str, Any]]:
    """The list of groups from a model.json or a bare manifest, checked for structure."""
    raw = read_regular(json_path, WeightsError, "weights", MAX_JSON_BYTES)
    try:   # JSON holds no NUL byte and is UTF-8 text
        if b"\0" in raw:
            raise UnicodeDecodeError("utf-8", raw, 0, 1, "a NUL byte")
        raw.decode("utf-8")
    except UnicodeDecodeError:   # binary: most likely one of the shards the manifest names
        beside = sorted(p.name for p in json_path.parent.glob("*.json"))
        raise WeightsError(f"{json_path}: binary data, not JSON: it looks like a weights shard; pass the "
                           f"{MANIFEST_JSON} or {MODEL_JSON} beside it" +
                           (f" (that folder holds {', '.join(beside[:4])})" if beside else "")) from None
    doc = parse_json(raw, json_path)
    manifest = doc.get("weightsManifest") if isinstance(doc, dict) else doc
    if not isinstance(manifest, list):
        raise WeightsError(f"{json_path}: expected a weights manifest (a list of groups) "
                           "or a model.json with a 'weightsManifest' list")
    for gi, group in enumerate(manifest):
        if not (isinstance(group, dict) and isinstance(group.get("paths"), list)
                and isinstance(group.get("weights"), list)
                and all(isinstance(p, str) for p in group["paths"])):
            raise WeightsError(f"{json_path}: group {gi + 1} needs a 'paths' list of strings "
                               "and a 'weights' list")
    return manifest


def _check_entry(json_path: Path, gi: int, wi: int, w: Any) -> tuple[str, tuple[int, ...], str, int, Any]:
    """(name, shape, dtype, byte length, quantization) of one manifest entry, or WeightsError."""
    where = f"{json_path}: group {gi + 1} weight {wi + 1}"
    if not isinstance(w, dict) or not isinstance(w.get("name"), str):
        raise WeightsError(f"{where}: needs a 'name' string")
    where = f"{json_path}: weight {w['name']!r}"
    shape = w.get("shape")
    if not (isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                            for d in shape)):
        raise WeightsError(f"{where}: 'shape' must be a list of non-negative integers, got {shape!r}")
    dtype = w.get("dtype")
    if dtype not in ("float32", "int32"):
        raise WeightsError(f"{where}: unsupported dtype {dtype!r}; expected float32 or int32")
    quant = w.get("quantization")
    stored = dtype
    if quant is not None:
        if not isinstance(quant, dict) or quant.get("dtype") not in QUANT_DTYPES:
            raise WeightsError(f"{where}: quantization dtype must be one of {', '.join(QUANT_DTYPES)}")
        stored = quant["dtype"]
        if stored == "float16" and dtype != "float32":
            raise WeightsError(f"{where}: float16 quantization only holds float32 weights, not {dtype}")
        if stored != "float16" and not all(isinstance(quant.get(k), (int, float)) and
                                           math.isfinite(quant[k]) for k in ("min", "scale")):
            raise WeightsError(f"{where}: {stored} quantization needs finite 'min' and 'scale' numbers")
    return w["name"], tuple(shape), dtype, math.prod(shape) * BYTES_PER_VALUE[stored], quant


def _read_shards(json_path: Path, gi: int, paths: list[str], need: int) -> bytes:
    """One group's shards concatenated; exactly `need` bytes or WeightsError naming the shards."""
    files = []
    for p in paths:
        # Manifest paths are URLs relative to the JSON; refuse ones that leave its folder.
        if p.startswith(("/", "\\")) or ".." in Path(p).parts or ":" in p:
            raise WeightsError(f"{json_path}: shard path {p!r} must be relative to the manifest's folder")
        f = json_path.parent / p
        if not os.path.lexists(f):
            raise WeightsError(f"{f}: shard missing (group {gi + 1} of {json_path})")
        _inside(f, json_path.parent, "shards")
        files.append(f)
    with contextlib.ExitStack() as stack:
        opened = [stack.enter_context(open_regular(f, WeightsError, "shard")) for f in files]
        sizes = [os.fstat(h.fileno()).st_size for h in opened]
        if sum(sizes) != need:
            held = ", ".join(f"{f} ({n} bytes)" for f, n in zip(files, sizes)) or "no shards"
            what = "truncated" if sum(sizes) < need else "longer than the manifest describes"
            raise WeightsError(f"{files[-1] if files else json_path}: group {gi + 1} of {json_path} is {what}: "
                               f"its weights need {need} bytes, the shards hold {sum(sizes)}: {held}")
        return b"".join(h.read() for h in opened)


def _check_finite(json_path: Path, name: str, value: np.ndarray, quant: dict[str, Any] | None) -> None:
    """Refuse a tensor holding NaN or Inf, or (int32) codes dequantized beyond int32's range."""
    if value.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(value)))
        if bad:
            how = ""
            if quant and quant["dtype"] != "float16":
                how = f" after dequantization (min {quant['min']:g}, scale {quant['scale']:g})"
            raise WeightsError(f"{json_path}: weight {name!r} holds {bad:,} NaN or infinite values{how}")
    elif quant and quant["dtype"] != "float16":
        top = quant["min"] + quant["scale"] * (QMAX[quant["dtype"]])
        if not (-2**31 <= quant["min"] and top < 2**31):
            raise WeightsError(f"{json_path}: weight {name!r}: its quantization (min {quant['min']:g}, scale "
                               f"{quant['scale']:g}) gives int32 values beyond int32's range")


def _decode(data: bytes, shape: tuple[int, ...], dtype: str, quant: dict[str, Any] | None) -> np.ndarray:
    stored = quant["dtype"] if quant else dtype
    codes = np.frombuffer(data, dtype=np.dtype(stored).newbyteorder("<")).reshape(shape)
    if quant is None:
        return codes.astype(dtype)  # a native-order copy, writable
    return dequantize(codes.astype(stored), quant if stored != "float16" else None, dtype)


# --------------------------------------------------------------------------------------------- import
def import_weights(graph: Graph, loaded: Mapping[str, np.ndarray],
                   mapping: Mapping[str, str] | str | os.PathLike[str] | None = None,
                   *, allow_missing: bool = False, skip: Iterable[str] = (),
                   report: list[str] | None = None) -> dict[str, np.ndarray]:
    """Values for the spec's parameters (graph.params) taken from `loaded` (e.g. read_weights's result).

    mapping: spec parameter path -> tensor name in `loaded`, or a JSON file (or JSON text) holding that
    object; a key ending in "/" is a prefix: {"backbone/": "features_0/"} takes spec parameter
    backbone/conv/filters from the tensor features_0/conv/filters. An exact key wins over a prefix, a longer
    prefix over a shorter one; parameters no entry covers keep their own name.
    skip: spec parameter paths or scope prefixes (e.g. "head" for head/weights and head/bias) that keep their
    initial values, such as a classifier head whose class count changed.
    Every problem (a missing tensor, a shape mismatch, a mapping entry naming no parameter) is reported
    together in one WeightsError; a missing tensor's message lists the names the weights do hold.
    allow_missing=True leaves trainable parameters without a tensor out of the result (they keep their
    initial values); a frozen one still needs a tensor, since training would never change its random
    initial value. Tensors no parameter takes are not an error: each becomes a line appended to `report`
    if given, else an UnusedWeightsWarning.
    """
    table, where = _load_mapping(mapping)
    exact = {k: v for k, v in table.items() if not k.endswith("/")}
    prefixes = sorted(((k, v) for k, v in table.items() if k.endswith("/")), key=lambda kv: -len(kv[0]))
    skips = [s.rstrip("/") for s in skip]
    errors = [f"{where}: {k!r} names no parameter of the spec" for k in exact if k not in graph.params]
    errors += [f"{where}: prefix {k!r} starts no parameter path of the spec" for k, _ in prefixes
               if not any(p.startswith(k) for p in graph.params)]
    errors += [f"skip {s!r} names no parameter or scope of the spec" for s in skips
               if not any(_covers(s, p) for p in graph.params)]
    out: dict[str, np.ndarray] = {}
    notes: list[str] = []
    missing = False
    used: set[str] = set()
    sources = {_source_name(p, exact, prefixes) for p in graph.params}
    unused = [name for name in loaded if name not in sources]
    for path, nid in graph.params.items():
        node = graph.nodes[nid]
        if any(_covers(s, path) for s in skips):
            notes.append(f"{path}: skipped, keeps its initial value")
            continue
        source = _source_name(path, exact, prefixes)
        used.add(source)
        label = path if source == path else f"{path} (weights {source!r})"
        if source not in loaded:
            if allow_missing and node.attrs.trainable:
                notes.append(f"{label}: not in the weights, keeps its initial value")
            else:
                frozen = "" if node.attrs.trainable else " (a frozen layer: it needs a value)"
                fits = [n for n in unused if tuple(np.shape(loaded[n])) == tuple(node.shape)]
                errors.append(f"{label}: not in the weights{frozen}{_closest(source, fits)}")
                missing = True
            continue
        value = np.asarray(loaded[source])
        if tuple(value.shape) != tuple(node.shape):
            errors.append(f"{label}: the spec wants {_fmt(node.shape)}, the weights have {_fmt(value.shape)}"
                          " (skip it to keep its initial value: --skip NAME, or skip=[NAME])")
            continue
        out[path] = np.ascontiguousarray(value, dtype=np.float32)
    if errors:
        if missing:
            errors.append(_MAP_HINT)
        raise WeightsError("cannot import the weights:\n  " + "\n  ".join(errors) + _held(loaded))
    notes += [f"{name}: in the weights but no parameter of the spec takes it"
              for name in loaded if name not in used]
    if report is not None:
        report.extend(notes)
    elif notes:
        warnings.warn("\n".join(notes), UnusedWeightsWarning, stacklevel=2)
    return out


def _covers(skip: str, path: str) -> bool:
    return path == skip or path.startswith(skip + "/")


def _source_name(path: str, exact: Mapping[str, str], prefixes: list[tuple[str, str]]) -> str:
    if path in exact:
        return exact[path]
    for key, value in prefixes:
        if path.startswith(key):
            return value + path[len(key):]
    return path


_MAP_HINT = ("map spec names onto the weights' names with --map (Python: map=), a JSON object of spec path -> "
             "weights name; a key ending in '/' maps a prefix, e.g. {\"spec_scope/\": \"weights_scope/\"}")


def _load_mapping(mapping: Mapping[str, str] | str | os.PathLike[str] | None) -> tuple[dict[str, str], str]:
    """The mapping as a dict, and what to call it in messages (its file's path, or 'mapping')."""
    if mapping is None:
        return {}, "mapping"
    if isinstance(mapping, str) and mapping.lstrip().startswith("{"):
        mapping = parse_json(mapping, f"mapping {mapping[:60]!r}")
        where = "mapping"
    elif isinstance(mapping, (str, os.PathLike)):
        path = Path(mapping)
        mapping = parse_json(read_regular(path, WeightsError, "the mapping file", MAX_JSON_BYTES), path)
        where = str(path)
    else:
        where = "mapping"
    if not (isinstance(mapping, Mapping) and all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in mapping.items())):
        raise WeightsError(f"{where}: expected an object of spec parameter path -> TF.js weight name strings")
    return dict(mapping), where


LIST_HELD = 100   # tensors listed by name in an import error (face-api's largest net has 49)


def _closest(name: str, candidates: list[str]) -> str:
    """' (did you mean ...?)' when exactly one unused tensor of the right shape differs from a missing name
    by a leading scope only, e.g. the file's 'conv1/bias' for a spec's 'sep_0/conv1/bias', or the file's
    'model/conv1/bias' for 'conv1/bias'."""
    close = [c for c in candidates if c.endswith("/" + name) or name.endswith("/" + c)]
    return f" (did you mean {close[0]!r}?)" if len(close) == 1 else ""


def _held(loaded: Mapping[str, np.ndarray]) -> str:
    """The names and shapes the weights do have, for an import error."""
    lines = [f"{name} {_fmt(np.shape(value))}" for name, value in list(loaded.items())[:LIST_HELD]]
    if len(loaded) > LIST_HELD:
        lines.append(f"... and {len(loaded) - LIST_HELD} more")
    if not lines:
        return "\nthe weights hold no tensors"
    return f"\nthe weights hold {len(loaded)} tensor{'s' * (len(loaded) != 1)}:\n  " + "\n  ".join(lines)


def _fmt(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"
