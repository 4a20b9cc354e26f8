"""Losses read back without stalling: a ring of small staging buffers, one per training step in flight.

A step copies its loss into a free buffer of the ring in its own command buffer, and after the submit starts
mapping it; poll() collects the losses whose mapping has finished, in step order, without waiting. Only when
every buffer is in flight does the next step wait, for the oldest. The ring is made once, so GPU memory stays
the same after any number of steps.
"""
from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

import numpy as np
import wgpu

RING = 8           # loss read-backs in flight before a step waits for the oldest
_LOSS_BYTES = 16   # one f32 loss per ring buffer, padded: map offsets must be multiples of 8, sizes of 4


class _Pending(NamedTuple):
    step: int
    slot: int          # index into the ring
    promise: Any       # the GPUPromise of its map_async


class LossRing:
    """`size` staging buffers on `device` for one f32 each."""

    def __init__(self, device: Any, size: int = RING):
        self.buffers = [device.create_buffer(label=f"loss_ring_{i}", size=_LOSS_BYTES,
                                             usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)
                        for i in range(size)]
        self._free: deque[int] = deque(range(size))
        self._pending: deque[_Pending] = deque()
        self._done: list[tuple[int, float]] = []     # read back, not yet returned by poll/drain

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def take(self) -> int:
        """A free buffer's index; waits for the oldest step in flight when there is none (its loss is kept for
        the next poll)."""
        if not self._free:
            self._done.append(self._finish(self._pending.popleft()))
        return self._free.popleft()

    def copy(self, encoder: Any, slot: int, source: Any, offset: int) -> None:
        """Record the copy of the f32 at byte `offset` of `source` into buffer `slot`."""
        encoder.copy_buffer_to_buffer(source, offset, self.buffers[slot], 0, 4)

    def start(self, step: int, slot: int) -> None:
        """Start mapping buffer `slot`, whose copy was submitted, as the loss of `step`."""
        # "READ_NOSYNC": by default wgpu-py 0.32 submits an empty command buffer before every read mapping
        # (a workaround for mapping a buffer no submit has touched yet, wgpu-native #305); here the copy
        # into this buffer was submitted just before, as in wgpu-py's own queue.read_texture, which maps
        # with "READ_NOSYNC" for the same reason. One submit per step stays one.
        promise = self.buffers[slot].map_async("READ_NOSYNC", 0, _LOSS_BYTES)
        self._pending.append(_Pending(step, slot, promise))

    def poll(self) -> list[tuple[int, float]]:
        """(step, loss) for every step whose loss has arrived since the last poll/drain, in step order;
        never waits for the GPU."""
        done, self._done = self._done, []
        while self._pending and _settled(self._pending[0].promise):
            done.append(self._finish(self._pending.popleft()))
        return done

    def drain(self) -> list[tuple[int, float]]:
        """Wait for every step in flight; (step, loss) for all not yet returned, in step order."""
        done, self._done = self._done, []
        while self._pending:
            done.append(self._finish(self._pending.popleft()))
        return done

    def _finish(self, p: _Pending) -> tuple[int, float]:
        buffer = self.buffers[p.slot]
        p.promise.sync_wait()       # returns at once when the mapping has already finished
        try:
            loss = float(np.frombuffer(buffer.read_mapped(0, _LOSS_BYTES, copy=True), np.float32)[0])
        finally:
            buffer.unmap()
            self._free.append(p.slot)
        return p.step, loss


def _settled(promise: Any) -> bool:
    """Whether a map_async promise has finished, without waiting.

    wgpu-py 0.32 resolves a GPUPromise either in an event loop (then/await; a plain training loop has
    none) or in sync_wait(), which blocks. Its per-device poll thread calls the map callback as soon as
    the GPU is done and sets the promise's threading.Event; checking that event is the only non-blocking
    test it offers, so we read it (a private attribute). Should a later wgpu-py rename it, this says
    "settled" and sync_wait() merely waits for the oldest loss: poll() then blocks a little, never breaks.
    """
    event = getattr(promise, "_thread_event", None)
    return event is None or event.is_set()
