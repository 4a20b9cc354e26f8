""".npz files read as untrusted input and written safely: numbers only, sizes checked before allocating.

`np.load` trusts a file's headers: a header claiming 233 TiB allocates (or fails) before any check, a FIFO
blocks it forever, and text, complex or date arrays reach `astype(float32)` as tracebacks or silent
conversions. Here each member's .npy header is read first and checked (dtype, shape against the bytes the
member holds, the total against this machine's memory); only then are the arrays read and made float32.

Accepted dtypes: floats (float16/32/64/longdouble) and integers, converted to float32; booleans become 0.0
and 1.0, with a note. Refused, each with its own message: complex, text (str/bytes), Python objects (they
would need pickle, which can run code), structured records, datetime/timedelta.
"""
from __future__ import annotations

import io
import math
import os
import re
import zipfile
from collections.abc import Collection, Mapping
from pathlib import Path

import numpy as np

from . import files
from .checkpoint import atomic_write
from .files import fmt_bytes, open_regular


class DataError(Exception):
    """Data that cannot be used; the message names the file (and the array)."""


_REFUSED_KINDS = {
    "c": "complex numbers; save the real part (or real and imaginary parts as channels) instead",
    "U": "text, not numbers",
    "S": "bytes, not numbers",
    "O": "Python objects (reading them needs pickle, which can run code: refused)",
    "V": "records (a structured dtype); save each field as its own array",
    "M": "dates (datetime64); convert them to numbers first",
    "m": "time spans (timedelta64); convert them to numbers first",
}


def read_npz(path: str | os.PathLike[str], names: Collection[str], required: Collection[str] | None = None,
             notes: list[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of `names` that the .npz holds, as float32 (C order).

    Every name in `required` (default: all of `names`) must be there. Conversions worth a word (booleans)
    are appended to `notes`. Raises DataError naming the file and array for anything else: not a regular
    file, not an .npz (a .npy or a pickle are told apart), a dtype that is not numbers, a header that does
    not match the member's size, or arrays needing more than this machine's memory."""
    required = names if required is None else required
    with open_regular(path, DataError, "data") as f:
        _check_signature(path, f.read(8))
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as zf:
                headers = _headers(path, zf)
                missing = [k for k in required if k not in headers]
                if missing:
                    raise DataError(f"{path}: no array named {', '.join(missing)} "
                                    f"(has {', '.join(headers) or 'none'})")
                chosen = {k: headers[k] for k in names if k in headers}
                for name, (_, shape, _, dtype, _) in chosen.items():
                    _check_dtype(path, name, dtype, shape)
                need = sum(h[4] + 4 * math.prod(h[1]) for h in chosen.values())
                if need > files.memory_limit():
                    raise DataError(f"{path}: the arrays {', '.join(chosen)} need {fmt_bytes(need)}, more than "
                                    f"this machine's memory ({fmt_bytes(files.memory_limit())})")
                return {name: _read(path, zf, name, h, notes) for name, h in chosen.items()}
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError) as e:
            raise DataError(f"{path}: cannot read data: a corrupt .npz ({e})") from None


def _check_signature(path: str | os.PathLike[str], head: bytes) -> None:
    if head.startswith(b"\x93NUMPY"):
        raise DataError(f"{path}: a .npy file (one unnamed array), but the data must be an .npz with one array "
                        "per Input, named after it: np.savez(path, image=images, label=labels)")
    if head[:1] == b"\x80":
        raise DataError(f"{path}: a pickle, not an .npz; pickles are refused (loading one can run code)")
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise DataError(f"{path}: not an .npz file (no zip signature); save the data with np.savez")


Header = tuple[zipfile.ZipInfo, tuple[int, ...], bool, np.dtype, int]  # member, shape, fortran order, dtype, bytes


def _headers(path: str | os.PathLike[str], zf: zipfile.ZipFile) -> dict[str, Header]:
    """Every .npy member's header (read without reading its data), by array name."""
    out: dict[str, Header] = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            continue
        name = info.filename[:-4]
        with zf.open(info) as m:
            try:
                version = np.lib.format.read_magic(m)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(m)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(m)
                else:
                    raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
            except (ValueError, SyntaxError, TypeError, EOFError) as e:
                raise DataError(f"{path}: array '{name}': unreadable .npy header ({e})") from None
            nbytes = math.prod(shape) * dtype.itemsize
            held = info.file_size - m.tell()
        if nbytes != held and not dtype.hasobject:  # (object arrays are pickles, refused when asked for)
            raise DataError(f"{path}: array '{name}': its header claims shape {_fmt(shape)} of {dtype} "
                            f"({fmt_bytes(nbytes)}) but the file holds {fmt_bytes(max(held, 0))} for it: a corrupt "
                            "or forged file")
        out[name] = (info, shape, fortran, dtype, nbytes)
    return out


def _check_dtype(path: str | os.PathLike[str], name: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    if dtype.kind in _REFUSED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        why = _REFUSED_KINDS.get(dtype.kind, _REFUSED_KINDS["V"])
        raise DataError(f"{path}: array '{name}' ({_fmt(shape)}, dtype {dtype}) holds {why}")


def _read(path: str | os.PathLike[str], zf: zipfile.ZipFile, name: str, h: Header,
          notes: list[str] | None) -> np.ndarray:
    info, shape, fortran, dtype, nbytes = h
    with zf.open(info) as m:
        version = np.lib.format.read_magic(m)
        (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)(m)
        data = m.read(nbytes)
    if len(data) != nbytes:
        raise DataError(f"{path}: array '{name}' is truncated ({len(data):,} of {nbytes:,} bytes)")
    src = np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")
    return as_float32(src, name, str(path), notes)


def as_float32(a: np.ndarray, name: str, where: str, notes: list[str] | None = None) -> np.ndarray:
    """`a` as C-ordered float32, refusing what is not numbers and values beyond float32's range."""
    _check_dtype(where, name, a.dtype, a.shape)
    if a.dtype.kind == "b" and notes is not None:
        notes.append(f"{where}: array '{name}' is boolean: read as 0.0 (False) and 1.0 (True)")
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(a, np.float32)
    if a.dtype.kind == "f" and a.dtype.itemsize > 4:
        over = np.isinf(out) & np.isfinite(a)
        if over.any():
            first = int(np.argwhere(over)[0][0]) if out.ndim else 0
            raise DataError(f"{where}: array '{name}' holds {int(over.sum()):,} values beyond float32's range "
                            f"(±3.4e38; the first in sample {first})")
    return out


_MEMBER = re.compile(r"[A-Za-z0-9_\-.]+(/[A-Za-z0-9_\-.]+)*")


def save_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> Path:
    """Write `arrays` as an .npz (".npz" added when missing, as np.savez does), atomically; returns the path.

    Unlike np.savez(path, **arrays), any name works as a key (np.savez's own parameter names `file` and
    `allow_pickle` included), and a name that would make a member outside the archive's folder when it
    is extracted ("..", an absolute path) is refused with ValueError."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    for name in arrays:
        if not _MEMBER.fullmatch(name) or any(p in (".", "..") for p in name.split("/")):
            raise ValueError(f"cannot save an array named {name!r} in {path}: names are letters, digits, _ - . "
                             "and / between parts, with no '.' or '..' part")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, value in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as m:
                np.lib.format.write_array(m, np.asanyarray(value), allow_pickle=False)
    atomic_write(path, buf.getvalue())
    return path


def _fmt(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"
