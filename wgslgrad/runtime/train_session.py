"""A TrainSession runs a training Program (compiler.lower_train): one step is forward, backward and the fused
Adam update, recorded in one compute pass and sent in one submit; its loss is read back asynchronously.

Everything is created once, in the constructor: the Session's buffers, pipelines and bind groups, plus a
small ring of staging buffers for the losses. A step writes the inputs and the `step` uniform with
queue.write_buffer, submits, copies the loss into a free ring buffer and starts mapping it; `poll` collects
the losses whose mapping has finished, in step order, without waiting. GPU memory is therefore the same
after any number of steps.
"""
from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

import numpy as np
import wgpu

from ..ops.dropout import MAX_SEED
from ..compiler.program import ADAM_M, ADAM_V, GRADS, STEP, Program
from .session import Session

RING = 8           # loss read-backs in flight before step() waits for the oldest
_LOSS_BYTES = 16   # one f32 loss per ring buffer, padded: map offsets must be multiples of 8, sizes of 4


class _Pending(NamedTuple):
    step: int
    slot: int          # index into the ring
    promise: Any       # the GPUPromise of its map_async


class TrainSession(Session):
    """Trains `program` (made by lower_train) on `device` (the shared default device when None)."""

    def __init__(self, program: Program, device: Any = None, ring: int = RING):
        if not program.phases:
            raise ValueError("not a training program: lower the graph with compiler.lower.lower_train")
        super().__init__(program, device)
        phases = program.phases
        self.step_kernels = phases["forward"] + phases["backward"] + phases["optimizer"]
        self.grad_kernels = phases["forward"] + phases["backward"]
        self.loss_slot = program.outputs["loss"]
        self.loss_inputs = set(program.requires.get("loss", []))
        opt = program.optimizer
        self.beta1, self.beta2, self.eps = float(opt["beta1"]), float(opt["beta2"]), float(opt["eps"])
        self.default_lr = float(opt["lr"])
        self.trainable_elements = program.trainable_elements
        self.t = 0                                    # Adam's step count: steps taken, also the last step's number
        self.seed = 0                                 # dropout's seed (in [0, 2^24)): with t it draws each step's masks
        self._ring = [self.device.create_buffer(label=f"loss_ring_{i}", size=_LOSS_BYTES,
                                                usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)
                      for i in range(ring)]
        self._free: deque[int] = deque(range(ring))
        self._pending: deque[_Pending] = deque()
        self._done: list[tuple[int, float]] = []     # read back, not yet returned by poll/drain

    # -- one step -----------------------------------------------------------------------------------
    def step(self, inputs: dict[str, np.ndarray], lr: float | None = None) -> int:
        """Queue one training step on a full batch; returns its step number (1, 2, ...). The loss comes
        back later through poll() or drain(). Waits only when RING losses are still in flight."""
        arrays = self._step_inputs(inputs)
        if not self._free:
            self._done.append(self._finish(self._pending.popleft()))
        self.t += 1
        queue = self.device.queue
        for name, arr in arrays.items():
            queue.write_buffer(self.buffers[self.program.inputs[name].buffer], 0, arr)
        queue.write_buffer(self.buffers[STEP], 0, self._uniform(self.default_lr if lr is None else lr, self.t))
        slot = self._free.popleft()
        encoder = self.device.create_command_encoder()
        compute_pass = encoder.begin_compute_pass()
        self.record(compute_pass, self.step_kernels)
        compute_pass.end()
        encoder.copy_buffer_to_buffer(self.buffers[self.loss_slot.buffer], 4 * self.loss_slot.offset,
                                      self._ring[slot], 0, 4)
        queue.submit([encoder.finish()])
        # "READ_NOSYNC": by default wgpu-py 0.32 submits an empty command buffer before every read mapping
        # (a workaround for mapping a buffer no submit has touched yet, wgpu-native #305); here the copy
        # into this buffer was submitted just above, as in wgpu-py's own queue.read_texture, which maps
        # with "READ_NOSYNC" for the same reason. One submit per step stays one.
        promise = self._ring[slot].map_async("READ_NOSYNC", 0, _LOSS_BYTES)
        self._pending.append(_Pending(self.t, slot, promise))
        self.runs += 1
        return self.t

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
        buffer = self._ring[p.slot]
        p.promise.sync_wait()       # returns at once when the mapping has already finished
        try:
            loss = float(np.frombuffer(buffer.read_mapped(0, _LOSS_BYTES, copy=True), np.float32)[0])
        finally:
            buffer.unmap()
            self._free.append(p.slot)
        return p.step, loss

    def _step_inputs(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = self._check_inputs(inputs)
        missing = sorted(self.loss_inputs - set(arrays))
        if missing:
            raise ValueError(f"a training step needs input {', '.join(missing)} (the loss depends on it)")
        return arrays

    def _uniform(self, lr: float, t: int) -> np.ndarray:
        """The `step` uniform (see program.py): (lr, beta1, beta2, eps), (1 - beta1^t, 1 - beta2^t, t, seed);
        the bias corrections are computed in float64, then rounded once."""
        return np.array([lr, self.beta1, self.beta2, self.eps,
                         1.0 - self.beta1 ** t, 1.0 - self.beta2 ** t, float(t), float(self.seed % MAX_SEED)],
                        np.float32)

    # -- without an update --------------------------------------------------------------------------
    def evaluate(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The forward pass only: every output, and "loss" when its inputs are given. Parameters and
        optimizer state are unchanged."""
        return self.run(inputs)

    def gradients(self, inputs: dict[str, np.ndarray], step: int | None = None) -> dict[str, np.ndarray]:
        """d(loss)/d(parameter) for every trainable parameter, by name, from the forward and backward
        kernels alone (no Adam update): for gradient checks. Dropout draws the masks of `step` (default the
        last step taken, 0 before any); batch norms move their moving statistics as in a step."""
        arrays = self._step_inputs(inputs)
        queue = self.device.queue
        for name, arr in arrays.items():
            queue.write_buffer(self.buffers[self.program.inputs[name].buffer], 0, arr)
        queue.write_buffer(self.buffers[STEP], 0, self._uniform(self.default_lr, self.t if step is None else step))
        encoder = self.device.create_command_encoder()
        compute_pass = encoder.begin_compute_pass()
        self.record(compute_pass, self.grad_kernels)
        compute_pass.end()
        queue.submit([encoder.finish()])
        flat = np.frombuffer(queue.read_buffer(self.buffers[GRADS]), np.float32)
        return {name: flat[p.offset:p.offset + p.size].reshape(p.shape).copy()
                for name, p in self.program.params.items() if p.trainable}

    # -- optimizer state ----------------------------------------------------------------------------
    def optimizer_state(self) -> dict[str, np.ndarray]:
        """Adam's moments over params[0 : trainable_elements] (flat, the `params` layout) and its step count."""
        n, queue = self.trainable_elements, self.device.queue
        m = np.frombuffer(queue.read_buffer(self.buffers[ADAM_M]), np.float32)[:n].copy()
        v = np.frombuffer(queue.read_buffer(self.buffers[ADAM_V]), np.float32)[:n].copy()
        return {"m": m, "v": v, "t": np.array(self.t, np.int64)}

    def set_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what optimizer_state() returned (a checkpoint's state); steps then go on from t + 1."""
        n = self.trainable_elements
        for key in ("m", "v"):
            arr = np.asarray(state[key], np.float32).reshape(-1)
            if arr.size != n:
                raise ValueError(f"optimizer state {key!r} has {arr.size} values but this model has {n} trainable "
                                 "parameter values (a checkpoint of another model?)")
            if n:
                self.device.queue.write_buffer(self.buffers[ADAM_M if key == "m" else ADAM_V], 0,
                                               np.ascontiguousarray(arr))
        self.t = int(np.asarray(state.get("t", 0)).reshape(-1)[0])   # a checkpoint stores it as float32 [t]

    def reset_optimizer(self) -> None:
        """Zero moments and step count, as in a fresh session."""
        n = self.trainable_elements
        self.set_optimizer_state({"m": np.zeros(n, np.float32), "v": np.zeros(n, np.float32), "t": np.array(0)})

    # -- bookkeeping --------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """As Session.stats (every GPU buffer, the loss ring included), with `dispatches` per training step
        and per phase, and the steps taken."""
        out = super().stats()
        sizes = dict(out["buffer_bytes"])
        sizes |= {f"loss_ring_{i}": int(b.size) for i, b in enumerate(self._ring)}
        phases = self.program.phases
        out.update(buffers=len(sizes), buffer_bytes=sizes, total_bytes=sum(sizes.values()),
                   dispatches=len(self.step_kernels), dispatches_per_step=len(self.step_kernels),
                   phase_dispatches={k: len(v) for k, v in phases.items()}, steps=self.t,
                   in_flight=len(self._pending))
        return out


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
