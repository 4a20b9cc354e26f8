"""Checkpoints: safetensors files written atomically, with a checksum so corruption is refused by path.

A checkpoint holds the parameters by name, the optimizer state (`adam/m`, `adam/v`, flat) and JSON
metadata (step, epoch, learning rate, loss history length...). Writes go to a temporary file in the same
folder (mode 0666 less the umask, as any tool's output), are fsynced, then renamed over the target: a crash leaves either the old file or the new one.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import struct
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

FORMAT = "wgslgrad-checkpoint-1"


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message names its path."""


def _digest(tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], np.float32)
        h.update(name.encode() + b"\0" + repr(a.shape).encode() + b"\0" + a.tobytes())
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
    header = {"format": FORMAT, "sha256": _digest(tensors), "meta": json.dumps(meta or {})}
    atomic_write(path, st_save(tensors, metadata=header))


def _read_header(path: Path, data: bytes) -> dict[str, str]:
    if len(data) < 8:
        raise CheckpointError(f"{path}: not a checkpoint (file is {len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise CheckpointError(f"{path}: corrupt checkpoint (header runs past the end of the file)")
    try:
        header = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{path}: corrupt checkpoint (unreadable header)") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a wgslgrad checkpoint")
    return meta


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """(params, optimizer state, meta); raises CheckpointError naming `path` if missing or corrupt."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read checkpoint: {e.strerror}") from None
    header = _read_header(path, data)
    try:
        tensors = st_load(data)
    except Exception as e:  # safetensors raises its own error types for malformed files
        raise CheckpointError(f"{path}: corrupt checkpoint ({e})") from None
    if _digest(tensors) != header.get("sha256"):
        raise CheckpointError(f"{path}: corrupt checkpoint (checksum mismatch)")
    params = {k[len("param/"):]: v for k, v in tensors.items() if k.startswith("param/")}
    state = {k[len("state/"):]: v for k, v in tensors.items() if k.startswith("state/")}
    return params, state, json.loads(header.get("meta", "{}"))
