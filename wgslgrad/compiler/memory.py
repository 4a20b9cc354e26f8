"""Arena planning: give each value an offset so that values alive at the same time never overlap.

A value is alive from the step that writes it to the last step that reads it, both included, so a
kernel's outputs never share memory with its inputs. Values are placed in order of their first step,
each into the smallest gap between the blocks still alive that fits it (best fit), else above them.
"""
from __future__ import annotations

from dataclasses import dataclass

ALIGN = 4  # f32 elements: offsets stay 16-byte aligned so kernels may use vec4 access


@dataclass(frozen=True)
class Interval:
    size: int    # f32 elements
    start: int   # first step that writes it
    end: int     # last step that reads it (>= start)


def align(n: int, a: int = ALIGN) -> int:
    return -(-n // a) * a


def plan(values: list[Interval]) -> tuple[list[int], int]:
    """Offsets for `values` (same order) and the arena size, both in f32 elements."""
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
            gap = lo - cursor
            if gap >= size and (best_gap is None or gap < best_gap):
                best, best_gap = cursor, gap
            cursor = max(cursor, hi)
        offsets[i] = cursor if best is None else best
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
