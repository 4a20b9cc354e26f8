"""Arena planning: give each value an offset so that values alive at the same time never overlap.

A value is alive from the step that writes it to the last step that reads it, both included, so a
kernel's outputs never share memory with its inputs. Values are placed in order of their first step,
each into the smallest gap between the blocks still alive that fits it (best fit), else above them.

With a `chunk` size, no value straddles a multiple of `chunk`: the arena can then be cut into buffers of
at most `chunk` elements each (WebGPU binds at most 128 MiB of one storage buffer by default), and every
value lies whole inside one of them.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ops.base import ALIGN  # f32 elements: offsets stay 16-byte aligned so kernels may use vec4 access


@dataclass(frozen=True)
class Interval:
    size: int    # f32 elements
    start: int   # first step that writes it
    end: int     # last step that reads it (>= start)


def align(n: int, a: int = ALIGN) -> int:
    return -(-n // a) * a


def _fit(lo: int, size: int, chunk: int | None) -> int:
    """The first offset >= lo where `size` elements do not cross a multiple of `chunk`."""
    if chunk is not None and lo // chunk != (lo + size - 1) // chunk:
        return -(-lo // chunk) * chunk
    return lo


def plan(values: list[Interval], chunk: int | None = None) -> tuple[list[int], int]:
    """Offsets for `values` (same order) and the arena size, both in f32 elements."""
    assert chunk is None or (chunk % ALIGN == 0 and all(align(max(v.size, 1)) <= chunk for v in values))
    offsets = [0] * len(values)
    placed: list[int] = []   # indices of values already given an offset
    top = 0
    for i in sorted(range(len(values)), key=lambda j: (values[j].start, -values[j].size)):
        v = values[i]
        size = align(max(v.size, 1))
        live = sorted((offsets[j], offsets[j] + align(max(values[j].size, 1))) for j in placed
                      if values[j].end >= v.start)
        best, best_gap, cursor = None, None, 0
        for lo, hi in live:
            start = _fit(cursor, size, chunk)
            gap = lo - cursor
            if lo - start >= size and (best_gap is None or gap < best_gap):
                best, best_gap = start, gap
            cursor = max(cursor, hi)
        offsets[i] = _fit(cursor, size, chunk) if best is None else best
        placed.append(i)
        top = max(top, offsets[i] + size)
    return offsets, top


def check(values: list[Interval], offsets: list[int]) -> None:
    """Compiler-bug check: no two values that are alive at one step overlap."""
    for i, a in enumerate(values):
        for j in range(i):
            b = values[j]
            if a.start <= b.end and b.start <= a.end:
                assert offsets[i] + a.size <= offsets[j] or offsets[j] + b.size <= offsets[i], \
                    f"arena values {j} and {i} overlap"


def split(offsets: list[int], sizes: list[int], chunk: int) -> tuple[list[tuple[int, int]], list[int]]:
    """(chunk index, offset inside it) of each value planned with `chunk`, and the size each chunk needs."""
    where = [(off // chunk, off % chunk) for off in offsets]
    tops = [0] * (max((k for k, _ in where), default=0) + 1)
    for (k, off), size in zip(where, sizes):
        tops[k] = max(tops[k], off + align(max(size, 1)))
    return where, tops
