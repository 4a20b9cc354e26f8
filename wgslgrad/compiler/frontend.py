"""The front end in one call: spec text -> parse -> build -> verified forward IR Graph."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from . import ir
from .build import build
from .errors import SpecErrors
from .limits import check_binding
from .parse import MAX_SOURCE, parse_recovering


def compile_spec(source: str, filename: str = "<spec>", batch: int | None = None,
                 max_binding: int | None = None) -> ir.Graph:
    """Compile spec source to its forward graph; raises SpecErrors listing every problem found: the syntax
    errors, and the check errors of the lines that parsed.

    `batch` overrides the spec's Train(batch=...) (default 1 when the spec has none). `max_binding`: the bytes
    one GPU buffer binding may hold on the devices the graph is for (default 128 MiB, what every WebGPU device
    binds; limits.check_binding says what is allowed); a tensor, or the parameters together, over it is an error."""
    max_binding = check_binding(max_binding)
    parsed = parse_recovering(source, filename)   # text -> AST (syntax errors; resumes where it can)
    if parsed.module is None:
        raise SpecErrors(parsed.errors, parsed.text)
    failed, declared = parsed.skipped_names()   # bound by lines with syntax errors: not "unknown" later
    if parsed.errors:   # a spec still being written: no "has no Output" on top of its syntax errors
        declared |= {"Output"}
    try:                                          # AST -> IR (names, arguments, shapes)
        graph = build(parsed.module, parsed.text, filename, batch, failed, declared, max_binding)
    except SpecErrors as e:
        raise SpecErrors(parsed.errors + e.errors, parsed.text) from None
    if parsed.errors:
        raise SpecErrors(parsed.errors, parsed.text)
    ir.verify(graph)                              # compiler-bug checks only
    return graph


def load_spec(path: str | Path, batch: int | None = None, max_binding: int | None = None) -> ir.Graph:
    """Read and compile a spec file (compile_spec's batch and max_binding). A file that cannot be read (missing,
    not a regular file, not UTF-8, over MAX_SOURCE characters) raises OSError naming the path."""
    max_binding = check_binding(max_binding)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):   # a FIFO or a device would block or never end
            raise OSError(f"cannot read spec '{path}': it is not a regular file")
        with open(path, "rb") as f:
            data = f.read(4 * MAX_SOURCE + 1)          # UTF-8 takes at most 4 bytes a character
        if len(data) > 4 * MAX_SOURCE:
            raise OSError(f"cannot read spec '{path}': it is larger than {4 * MAX_SOURCE:,} bytes (a spec is at "
                          f"most {MAX_SOURCE:,} characters)")
        source = data.decode("utf-8")
    except UnicodeDecodeError:
        raise OSError(f"cannot read spec '{path}': it is not UTF-8 text") from None
    except OSError as e:
        if str(e).startswith("cannot read spec"):
            raise
        raise OSError(f"cannot read spec '{path}': {e.strerror or e}") from None
    return compile_spec(source, str(path), batch, max_binding)
