"""Checkpoints: safetensors files written atomically, with a checksum so corruption is refused by path.

A checkpoint holds the parameters by name, the optimizer state (`adam/m`, `adam/v`, flat) and JSON
metadata (step, epoch, learning rate, loss history length...). Writes go to a temporary file in the same
folder (mode 0666 less the umask, as any tool's output), are fsynced, then renamed over the target: a crash leaves either the old file or the new one.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import struct
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from . import files

FORMAT = "wgslgrad-checkpoint-2"     # the SHA-256 covers the tensors and the metadata
OLD_FORMAT = "wgslgrad-checkpoint-1"  # the SHA-256 covers the tensors only: still read, its metadata checked


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message names its path."""


def _digest(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> str:
    """SHA-256 of every tensor (name, shape, float32 bytes) and, from format 2 on, of the safetensors
    metadata (every key but the digest itself), so that no byte of a checkpoint changes unnoticed."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], np.float32)
        h.update(name.encode() + b"\0" + repr(a.shape).encode() + b"\0" + a.tobytes())
    if metadata is not None:
        rest = {k: v for k, v in metadata.items() if k != "sha256"}
        h.update(b"\0metadata\0" + json.dumps(rest, sort_keys=True).encode())
    return h.hexdigest()


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    # os.open with mode 0o666 lets the umask decide, as for any tool's output (tempfile.mkstemp would make
    # the file 0600); O_EXCL refuses to write through a file or link someone else put there.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_checkpoint(path: str | os.PathLike[str], params: dict[str, np.ndarray],
                    state: dict[str, np.ndarray] | None = None, meta: dict[str, Any] | None = None) -> None:
    """Save parameters (and optimizer state) atomically; `meta` must be JSON-able."""
    tensors = {f"param/{k}": np.ascontiguousarray(v, np.float32) for k, v in params.items()}
    tensors |= {f"state/{k}": np.ascontiguousarray(v, np.float32) for k, v in (state or {}).items()}
    atomic_write(path, checkpoint_bytes(params, state, meta))


def checkpoint_bytes(params: dict[str, np.ndarray], state: dict[str, np.ndarray] | None = None,
                     meta: dict[str, Any] | None = None) -> bytes:
    """The bytes save_checkpoint writes: a safetensors file whose SHA-256 covers tensors and metadata.
    Non-finite floats in `meta` are stored as null: the metadata stays strict JSON."""
    tensors = {f"param/{k}": np.ascontiguousarray(v, np.float32) for k, v in params.items()}
    tensors |= {f"state/{k}": np.ascontiguousarray(v, np.float32) for k, v in (state or {}).items()}
    header = {"format": FORMAT, "meta": json.dumps(finite_json(meta or {}), allow_nan=False)}
    header["sha256"] = _digest(tensors, header)
    return st_save(tensors, metadata=header)


def finite_json(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None (JSON null), lists and dicts walked."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def _read_header(path: Path, data: bytes) -> dict[str, str]:
    if len(data) < 8:
        raise CheckpointError(f"{path}: not a checkpoint (file is {len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise CheckpointError(f"{path}: corrupt checkpoint (header runs past the end of the file)")
    try:
        header = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CheckpointError(f"{path}: corrupt checkpoint (unreadable header)") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"{path}: not a wgslgrad checkpoint (no wgslgrad metadata in its header)")
    if meta.get("format") not in (FORMAT, OLD_FORMAT):
        raise CheckpointError(f"{path}: not a wgslgrad checkpoint, or a corrupt one (format {meta.get('format')!r}; "
                              f"this version reads {FORMAT} and {OLD_FORMAT})")
    return meta


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """(params, optimizer state, meta); raises CheckpointError naming `path` if missing, not a regular
    file, corrupt (any byte of tensors or metadata changed) or holding malformed metadata."""
    path = Path(path)
    data = files.read_regular(path, CheckpointError, "checkpoint", files.memory_limit())
    header = _read_header(path, data)
    try:
        tensors = st_load(data)
    except Exception as e:  # safetensors raises its own error types for malformed files
        raise CheckpointError(f"{path}: corrupt checkpoint ({e})") from None
    old = header["format"] == OLD_FORMAT
    if _digest(tensors, None if old else header) != header.get("sha256"):
        what = "the tensors changed" if old else "the tensors or the metadata changed"
        raise CheckpointError(f"{path}: corrupt checkpoint (checksum mismatch: {what} since it was written)")
    bad = next((k for k, v in tensors.items() if v.dtype != np.float32 or not k.startswith(("param/", "state/"))), None)
    if bad is not None:
        raise CheckpointError(f"{path}: not a wgslgrad checkpoint (tensor {bad!r} of {tensors[bad].dtype})")
    params = {k[len("param/"):]: v for k, v in tensors.items() if k.startswith("param/")}
    state = {k[len("state/"):]: v for k, v in tensors.items() if k.startswith("state/")}
    return params, state, _meta(path, header.get("meta", "{}"), old)


def _meta(path: Path, text: str, old: bool) -> dict[str, Any]:
    """The JSON metadata, its known keys checked: in the old format no checksum vouches for it."""
    why = (f" (a {OLD_FORMAT} checkpoint, whose checksum does not cover its metadata: it was changed since "
           "it was written, or written by a broken version)") if old else " (the checksum matches: written so)"
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError):
        raise CheckpointError(f"{path}: unreadable checkpoint metadata{why}") from None
    problem = _meta_problem(meta)
    if problem:
        raise CheckpointError(f"{path}: malformed checkpoint metadata: {problem}{why}")
    return meta


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _meta_problem(meta: Any) -> str | None:
    if not isinstance(meta, dict):
        return "not a JSON object"
    for key in ("step", "epoch"):
        if key in meta and not _is_int(meta[key]):
            return f"{key!r} is {meta[key]!r}, not a count"
    if "lr" in meta and not (isinstance(meta["lr"], (int, float)) and not isinstance(meta["lr"], bool)
                             and math.isfinite(meta["lr"]) and meta["lr"] > 0):
        return f"'lr' is {meta['lr']!r}, not a positive number"
    hist = meta.get("history")
    if hist is None:
        return None
    if not (isinstance(hist, dict) and isinstance(hist.get("steps"), list) and isinstance(hist.get("epochs"), list)):
        return "'history' needs 'steps' and 'epochs' lists"
    for s in hist["steps"]:
        if not (isinstance(s, list) and len(s) == 2 and _is_int(s[0])
                and (s[1] is None or isinstance(s[1], (int, float)) and not isinstance(s[1], bool))):
            return f"a history step is {s!r}, not [step, loss]"
    if not all(isinstance(e, dict) for e in hist["epochs"]):
        return "a history epoch is not a JSON object"
    return None


def check_params(path: str | os.PathLike[str], params: dict[str, np.ndarray],
                 expected: dict[str, tuple[int, ...]]) -> None:
    """Refuse a checkpoint whose parameters are not the spec's (`expected`: name -> shape, in spec order),
    naming the first difference: a parameter missing, one of another shape, or one the spec lacks."""
    def fmt(shape: tuple[int, ...]) -> str:
        return "[" + ",".join(str(d) for d in shape) + "]"
    hint = " (a checkpoint of another spec?)"
    for name, shape in expected.items():
        if name not in params:
            raise CheckpointError(f"{path}: has no parameter {name} {fmt(shape)}, which the spec has{hint}")
        if tuple(params[name].shape) != tuple(shape):
            raise CheckpointError(f"{path}: parameter {name} is {fmt(params[name].shape)} in the checkpoint but "
                                  f"{fmt(shape)} in the spec{hint}")
    extra = next((n for n in params if n not in expected), None)
    if extra is not None:
        raise CheckpointError(f"{path}: parameter {extra} {fmt(params[extra].shape)} is not in the spec{hint}")
