"""The front end in one call: spec text -> parse -> build -> verified forward IR Graph."""
from __future__ import annotations

from pathlib import Path

from . import ir
from .build import build
from .parse import parse


def compile_spec(source: str, filename: str = "<spec>", batch: int | None = None) -> ir.Graph:
    """Compile spec source to its forward graph; raises SpecErrors listing every problem found.

    `batch` overrides the spec's Train(batch=...) (default 1 when the spec has none)."""
    module = parse(source, filename)              # text -> AST (syntax errors)
    graph = build(module, source, filename, batch)  # AST -> IR (names, arguments, shapes)
    ir.verify(graph)                              # compiler-bug checks only
    return graph


def load_spec(path: str | Path, batch: int | None = None) -> ir.Graph:
    """Read and compile a spec file. A file that cannot be read raises OSError naming the path."""
    try:
        source = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise OSError(f"cannot read spec '{path}': it is not UTF-8 text") from None
    except OSError as e:
        raise OSError(f"cannot read spec '{path}': {e.strerror or e}") from None
    return compile_spec(source, str(path), batch)
