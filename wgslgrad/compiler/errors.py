"""User-facing spec errors: `file:line:col: error: msg`, the source line, and a caret under the column."""
from __future__ import annotations

from .ir import Pos

_WIDTH = 120   # characters of a source line quoted in a message


class SpecError(Exception):
    """One problem in a spec, at a position. `note` adds context, e.g. the user-function call it happened in."""

    def __init__(self, pos: Pos, msg: str, note: str = "") -> None:
        super().__init__(pos, msg, note)   # all fields in args, so the error pickles
        self.pos = pos
        self.msg = msg
        self.note = note

    def __str__(self) -> str:
        return f"{self.pos}: error: {self.msg}"

    def format(self, source: str | None = None) -> str:
        """The message, then (given the source text) the line and a caret under the column."""
        out = [f"{self.pos}: error: {self.msg}"]
        lines = (source or "").split("\n")
        if source is not None and 1 <= self.pos.line <= len(lines):
            line = lines[self.pos.line - 1].rstrip("\r")
            # Expand tabs on both lines alike so the caret stays under the right character.
            col = len(line[: max(self.pos.col - 1, 0)].expandtabs(8))
            shown = line.expandtabs(8)
            if len(shown) > _WIDTH:   # a long line: the part around the column, '...' where cut
                start = max(0, min(col - _WIDTH // 2, len(shown) - _WIDTH))
                cut = shown[start: start + _WIDTH]
                shown = ("..." if start else "") + cut + ("..." if start + _WIDTH < len(shown) else "")
                col = col - start + (3 if start else 0)
            gutter = str(self.pos.line)
            out.append(f" {gutter:>4} | {shown}".rstrip())
            out.append(f" {'':>4} | {' ' * col}^")
        if self.note:
            out.append(f" {'':>4} = note: {self.note}")
        return "\n".join(out)


class SpecErrors(Exception):
    """Every error found in one spec, sorted by position, with the source text to quote lines from."""

    def __init__(self, errors: list[SpecError], source: str = "") -> None:
        super().__init__(errors, source)
        self.errors = sorted(errors, key=lambda e: (e.pos.file, e.pos.line, e.pos.col))
        self.source = source

    def format(self) -> str:
        """All errors rendered with their source lines, then a count when there are several."""
        parts = [e.format(self.source) for e in self.errors]
        if len(self.errors) > 1:
            parts.append(f"{len(self.errors)} errors")
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.format()
