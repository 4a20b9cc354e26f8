"""Opening untrusted input files: regular files only, refused before opening when they are not.

A FIFO given as a data file would block a reader forever and a device could be endless, so every path a
user or a manifest names is stat()ed first, then opened without blocking and checked again.
"""
from __future__ import annotations

import os
import stat
from typing import BinaryIO


def open_regular(path: str | os.PathLike[str], error: type[Exception], what: str) -> BinaryIO:
    """`path` opened for binary reading if it is a regular file (after following links), else
    `error("PATH: cannot read WHAT: why")`."""
    try:
        st = os.stat(path)
    except (OSError, ValueError) as e:
        raise error(f"{path}: cannot read {what}: {getattr(e, 'strerror', None) or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: cannot read {what}: not a regular file ({file_kind(st.st_mode)})")
    try:  # O_NONBLOCK: should the path have become a FIFO since the stat, opening it does not wait
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as e:
        raise error(f"{path}: cannot read {what}: {e.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise error(f"{path}: cannot read {what}: not a regular file")
    return os.fdopen(fd, "rb")


def read_regular(path: str | os.PathLike[str], error: type[Exception], what: str, limit: int | None = None) -> bytes:
    """The bytes of a regular file, refusing one larger than `limit` before reading it."""
    with open_regular(path, error, what) as f:
        size = os.fstat(f.fileno()).st_size
        if limit is not None and size > limit:
            raise error(f"{path}: cannot read {what}: {fmt_bytes(size)} is more than the {fmt_bytes(limit)} "
                        "accepted")
        try:
            return f.read()
        except OSError as e:
            raise error(f"{path}: cannot read {what}: {e.strerror}") from None


def memory_limit() -> int:
    """Bytes of physical memory: no input may need more (2**63 where the size cannot be read)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 2**63


def file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a plain file"


def fmt_bytes(n: int) -> str:
    """1,023 bytes, 1.0 KiB, ... 233.0 TiB."""
    if n < 1024:
        return f"{n:,} bytes"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        size /= 1024
        if size < 1024 or unit == "EiB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")
