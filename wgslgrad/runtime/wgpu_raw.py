"""The hot path of a run or a training step, in direct calls to wgpu-native: recording dispatches and mapping
a staging buffer for reading.

wgpu-py 0.32 (pyproject pins 0.32.x) wraps each C call in Python that captures errors, and maps a buffer
through a promise, a new cffi callback and its per-device poll thread. That is about 3 us of Python per call,
three calls per dispatch, so a training step of landmark68 (122 dispatches) spends a millisecond of host
time recording; and each mapping wakes the poll thread, whose blocking device poll holds the fence lock that
the next queue.submit needs (wgpu-core 29, gfx-rs/wgpu#9470, fixed after it), so a step in flight stalls
the next one's submit. Here the same C functions are called on the handles wgpu-py holds (`_internal`):
three plain calls per dispatch, and mappings through one module-wide callback, finished by polling the
device from the calling thread: on a GPU first without blocking, for up to SPIN_S (a thread parked in a
blocking poll wakes tens of microseconds after the GPU is done, which matters for a sub-millisecond
inference), then blocking; on a CPU adapter (lavapipe) blocking at once, leaving the cores to its kernels. Errors in a pass still surface when wgpu-py ends the pass or finishes the encoder (wgpu-core
reports pass errors there); a failed mapping raises here.

Where wgpu-py's internals are not as expected (another version), `RAW` is False and everything goes
through wgpu-py's public API instead: slower, same results.
"""
from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any

try:
    from wgpu.backends.wgpu_native._api import ffi, lib

    _set_pipeline = lib.wgpuComputePassEncoderSetPipeline
    _set_bind_group = lib.wgpuComputePassEncoderSetBindGroup
    _dispatch = lib.wgpuComputePassEncoderDispatchWorkgroups
    _map_async = lib.wgpuBufferMapAsync
    _mapped_range = lib.wgpuBufferGetMappedRange
    _unmap = lib.wgpuBufferUnmap
    _poll = lib.wgpuDevicePoll
    _MAP_READ = lib.WGPUMapMode_Read
    _SUCCESS = lib.WGPUMapAsyncStatus_Success
    _ALLOW_PROCESS_EVENTS = lib.WGPUCallbackMode_AllowProcessEvents
    RAW = True
except (ImportError, AttributeError, TypeError):   # another wgpu-py: the public API only
    RAW = False

Dispatch = tuple[Any, Any, tuple[int, ...]]       # (pipeline, bind group, workgroups), wgpu-py objects

# mapping id -> (status, message), set by the callback; an id is popped when its mapping is read
_mapped: dict[int, tuple[int, str]] = {}
_ids = itertools.count(1)
_MAX_WAITS = 10_000   # blocking device polls before a mapping that never finishes is reported
SPIN_S = 0.002        # on a GPU, a wait polls without blocking for this long, then blocks
_spin: dict[int, float] = {}   # id(device) -> its spin seconds


if RAW:
    # One callback for the whole process, never freed: wgpu-native may call it after a session (and its
    # buffers) are gone, when a mapping still in flight is aborted.
    @ffi.callback("void(WGPUMapAsyncStatus, WGPUStringView, void *, void *)")
    def _on_mapped(status: int, message: Any, userdata1: Any, _userdata2: Any) -> None:
        text = ffi.string(message.data, message.length).decode(errors="replace") if message.data else ""
        _mapped[int(ffi.cast("intptr_t", userdata1))] = (int(status), text)


def raw_dispatches(dispatches: Sequence[Dispatch]) -> list[tuple[Any, ...]] | None:
    """The C handles of each dispatch (pipeline, bind group, x, y, z), for record(); None without RAW. The
    wgpu-py objects in `dispatches` must outlive them (they own the handles)."""
    if not RAW:
        return None
    return [(p._internal, b._internal, *groups, *(1,) * (3 - len(groups))) for p, b, groups in dispatches]


def record(compute_pass: Any, dispatches: Sequence[Dispatch], raw: list[tuple[Any, ...]] | None,
           kernels: Sequence[int]) -> None:
    """Record dispatches[i] for each i in `kernels` into an open compute pass."""
    if raw is None:
        for i in kernels:
            pipeline, bind_group, groups = dispatches[i]
            compute_pass.set_pipeline(pipeline)
            compute_pass.set_bind_group(0, bind_group)
            compute_pass.dispatch_workgroups(*groups)
        return
    cp, null = compute_pass._internal, ffi.NULL
    set_pipeline, set_bind_group, dispatch = _set_pipeline, _set_bind_group, _dispatch
    for i in kernels:
        pipeline, bind_group, x, y, z = raw[i]
        set_pipeline(cp, pipeline)
        set_bind_group(cp, 0, bind_group, 0, null)
        dispatch(cp, x, y, z)


class PendingMap:
    """A read mapping of buffer[0:size] in flight: done() without waiting, read() waits, copies, unmaps.
    Start it after the submit whose copy into `buffer` it reads."""

    __slots__ = ("_device", "_id", "_promise", "buffer", "size")

    def __init__(self, device: Any, buffer: Any, size: int):
        self.buffer, self.size, self._device = buffer, size, device
        self._id, self._promise = 0, None
        if RAW:
            self._id = next(_ids)
            # a struct per mapping (passed by value; one shared struct would race between threads)
            info = ffi.new("WGPUBufferMapCallbackInfo *", {"mode": _ALLOW_PROCESS_EVENTS, "callback": _on_mapped,
                                                           "userdata1": ffi.cast("void *", self._id)})
            _map_async(buffer._internal, _MAP_READ, 0, size, info[0])
        else:
            # "READ_NOSYNC": a plain READ mapping makes wgpu-py submit an empty command buffer first (a
            # workaround for mapping a buffer no submit has touched, wgpu-native #305); the copy into this
            # buffer was submitted just before, as in wgpu-py's own queue.read_texture.
            self._promise = buffer.map_async("READ_NOSYNC", 0, size)

    def done(self) -> bool:
        """Whether the mapping has finished (or failed), without waiting for the GPU."""
        if not RAW:
            return _settled(self._promise)
        if self._id not in _mapped:
            _poll(self._device._internal, False, ffi.NULL)   # runs the callbacks of finished work
        return self._id in _mapped

    def read(self) -> bytes:
        """Wait for the mapping, copy buffer[0:size] out and unmap."""
        buffer, size = self.buffer, self.size
        if not RAW:
            self._promise.sync_wait()
            try:
                return bytes(buffer.read_mapped(0, size, copy=False))
            finally:
                buffer.unmap()
        if self._id not in _mapped and not _wait_mapped(self._device, self._id):
            raise RuntimeError(f"mapping buffer {buffer.label!r} did not finish")
        status, message = _mapped.pop(self._id)
        if status != _SUCCESS:
            raise RuntimeError(f"could not map buffer {buffer.label!r} for reading (status {status}: {message})")
        try:
            return bytes(ffi.buffer(_mapped_range(buffer._internal, 0, size), size))
        finally:
            _unmap(buffer._internal)


def _wait_mapped(device: Any, ticket: int) -> bool:
    """Poll `device` until mapping `ticket` has finished: on a GPU without blocking for up to SPIN_S, then
    blocking (each blocking poll waits for all work submitted so far). False if it never finishes."""
    if id(device) not in _spin:
        _spin[id(device)] = 0.0 if _adapter_type(device) == "CPU" else SPIN_S
    handle, null = device._internal, ffi.NULL
    end = time.perf_counter() + _spin[id(device)]
    while ticket not in _mapped and time.perf_counter() < end:
        _poll(handle, False, null)
    for _ in range(_MAX_WAITS):
        if ticket in _mapped:
            return True
        _poll(handle, True, null)
    return ticket in _mapped


def _adapter_type(device: Any) -> str:
    try:
        return str(device.adapter.info.get("adapter_type", ""))
    except AttributeError:
        return ""


def _settled(promise: Any) -> bool:
    """Whether a wgpu-py map_async promise has finished, without waiting.

    wgpu-py 0.32 resolves a GPUPromise either in an event loop (then/await; a plain training loop has
    none) or in sync_wait(), which blocks. Its per-device poll thread calls the map callback as soon as
    the GPU is done and sets the promise's threading.Event; checking that event is the only non-blocking
    test it offers, so we read it (a private attribute). Should a later wgpu-py rename it, this says
    "settled" and sync_wait() merely waits for the oldest loss: poll() then blocks a little, never breaks.
    """
    event = getattr(promise, "_thread_event", None)
    return event is None or event.is_set()
