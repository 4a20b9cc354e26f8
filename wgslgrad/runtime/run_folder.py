"""A training run's folder, whose checkpoint, loss history and plot change together in one atomic step.

    run/checkpoint.safetensors -> .state/checkpoint.safetensors     links, made once
    run/history.json           -> .state/history.json
    run/loss.png               -> .state/loss.png
    run/.state                 -> .state-<random>                   swapped by one rename per save
    run/.state-<random>/          the three files of the latest save

A save writes a new .state-<random> folder (each file and the folder fsynced), makes a link to it and
renames that link over `.state`: a kill at any moment leaves the previous three files or the new three,
never a checkpoint beside another epoch's history. Where symbolic links cannot be made (Windows without
developer mode) the files are written one after the other, each atomically.
"""
from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path

from .checkpoint import atomic_write

CHECKPOINT, HISTORY, PLOT = "checkpoint.safetensors", "history.json", "loss.png"
FILES = (CHECKPOINT, HISTORY, PLOT)
STATE = ".state"


class RunExistsError(FileExistsError):
    """A new run's folder already holds a run: continue it (resume) or replace it (overwrite)."""


def holds_a_run(folder: str | os.PathLike[str]) -> bool:
    """Whether `folder` holds a run's files (which a new run must not overwrite unasked)."""
    folder = Path(folder)
    return any(os.path.lexists(folder / name) for name in (*FILES, STATE))


def check_new_run(folder: str | os.PathLike[str], resume: bool, overwrite: bool, cli: bool = False) -> None:
    """Raise RunExistsError when `folder` holds a run and neither resuming nor overwriting was asked for;
    the one check behind `train --out` and Model.fit(out=...). cli: word the advice as options."""
    folder = Path(folder)
    if resume or overwrite or not holds_a_run(folder):
        return
    how = (f"add --resume {folder / CHECKPOINT} to continue it, or --overwrite to replace it" if cli else
           f"pass resume=\"{(folder / CHECKPOINT).as_posix()}\" to continue it, or overwrite=True to replace it")
    raise RunExistsError(f"{'--out ' if cli else ''}{folder} already holds a run: {how}")


def save_run(folder: str | os.PathLike[str], files: Mapping[str, bytes]) -> None:
    """Replace the run's files by `files` (name -> bytes, names from FILES) in one atomic step."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    new = folder / f"{STATE}-{secrets.token_hex(6)}"
    new.mkdir()
    try:
        for name, data in files.items():
            _write_synced(new / name, data)
        _fsync_dir(new)
        link = folder / f"{STATE}.{secrets.token_hex(6)}.tmp"
        os.symlink(new.name, link, target_is_directory=True)
    except (OSError, NotImplementedError) as e:
        shutil.rmtree(new, ignore_errors=True)
        if isinstance(e, OSError) and not _no_symlinks(e):
            raise
        for name, data in files.items():  # no symbolic links here: one file at a time
            atomic_write(folder / name, data)
        return
    try:
        os.replace(link, folder / STATE)  # the one atomic step
    except BaseException:
        link.unlink(missing_ok=True)
        shutil.rmtree(new, ignore_errors=True)
        raise
    _fsync_dir(folder)
    for name in files:  # links from the run's folder into .state (made once; replaces files of older versions)
        target = Path(STATE) / name
        path = folder / name
        if not (path.is_symlink() and Path(os.readlink(path)) == target):
            tmp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
            os.symlink(target, tmp)
            os.replace(tmp, path)
    _fsync_dir(folder)
    for old in folder.glob(f"{STATE}-*"):  # the previous save's folder, and any a kill left behind
        if old.name != new.name and old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
    for tmp in folder.glob(".*.tmp"):  # links a kill left before their rename
        if tmp.is_symlink():
            tmp.unlink(missing_ok=True)


def _no_symlinks(e: OSError) -> bool:
    return getattr(e, "winerror", None) == 1314 or e.errno in (1, 38, 95)  # privilege, ENOSYS, EOPNOTSUPP


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":  # folders cannot be opened (nor need fsync) on Windows
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
