"""A Session runs a Program's phases through wgpu: everything is created once, each run or step is one submit.

Buffers, shader modules, pipelines (with explicit layouts built from each kernel's binding list) and bind
groups are made in the constructor, for every kernel of every phase.
- run(inputs): the `inference` phase (the kernels serving the outputs whose inputs are given); the outputs
  are copied into one staging buffer in the same command buffer, which is submitted once and mapped.
- step(inputs, lr): a training Program's forward, backward and optimizer phases in one compute pass and one
  submit, after writing the inputs and the `step` uniform; its loss comes back later, without a stall,
  through a ring of small staging buffers (readback.py): poll() and drain().
- gradients(inputs): forward and backward only, then `grads` read back (gradient checks).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import wgpu

from ..compiler.ir import fmt_shape
from ..compiler.program import (
    ADAM_M,
    ADAM_V,
    ARENA,
    BACKWARD,
    FORWARD,
    GRADS,
    INFERENCE,
    READ,
    READ_WRITE,
    TRAINING_STEP,
    UNIFORM,
    Program,
    Slot,
)
from ..ops.dropout import MAX_SEED
from . import wgpu_raw
from .data import bad_ids
from .device import DeviceLimitError, device_advice, get_device
from .init import init_params
from .readback import RING, LossRing

_BINDING_TYPE = {READ: wgpu.BufferBindingType.read_only_storage, READ_WRITE: wgpu.BufferBindingType.storage,
                 UNIFORM: wgpu.BufferBindingType.uniform}
_USAGE = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
class Session:
    """Runs `program` (compiler.lower.lower) on `device` (the shared default device when None); `ring`: loss
    read-backs in flight (training Programs)."""

    def __init__(self, program: Program, device: Any = None, ring: int = RING):
        self.program = program
        self.device = device if device is not None else get_device()[0]
        limit = self.device.limits["max-storage-buffer-binding-size"]
        for name, size in program.buffers.items():
            if 4 * size > limit:
                raise DeviceLimitError(f"buffer {name} needs {4 * size / 2**20:.1f} MiB but this device binds at most "
                                       f"{limit / 2**20:.1f} MiB: {device_advice(limit, 'compile')}")
        self.buffers: dict[str, Any] = {}
        for name, size in program.buffers.items():
            usage = _USAGE | (wgpu.BufferUsage.UNIFORM if name in self._uniform_buffers() else 0)
            self.buffers[name] = self.device.create_buffer(label=name, size=4 * size, usage=usage)
        for name, data in program.buffer_data.items():
            self.device.queue.write_buffer(self.buffers[name], 0, np.asarray(data, np.float32))

        t0 = time.perf_counter()
        modules: dict[str, Any] = {}
        layouts: dict[tuple[str, ...], tuple[Any, Any]] = {}
        pipelines: dict[tuple[str, tuple[str, ...]], Any] = {}
        self.dispatches: list[tuple[Any, Any, tuple[int, ...]]] = []
        for k in program.kernels:
            access = tuple(b.access for b in k.bindings)
            if access not in layouts:
                bgl = self.device.create_bind_group_layout(entries=[
                    {"binding": j, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": _BINDING_TYPE[a]}}
                    for j, a in enumerate(access)])
                layouts[access] = (bgl, self.device.create_pipeline_layout(bind_group_layouts=[bgl]))
            bgl, pl = layouts[access]
            if k.wgsl not in modules:
                modules[k.wgsl] = self.device.create_shader_module(label=k.name, code=k.wgsl)
            key = (k.wgsl, access)
            if key not in pipelines:
                pipelines[key] = self.device.create_compute_pipeline(
                    label=k.name, layout=pl, compute={"module": modules[k.wgsl], "entry_point": "main"})
            bind_group = self.device.create_bind_group(layout=bgl, entries=[
                {"binding": j, "resource": {"buffer": self.buffers[b.buffer], "offset": 0,
                                            "size": self.buffers[b.buffer].size}}
                for j, b in enumerate(k.bindings)])
            self.dispatches.append((pipelines[key], bind_group, tuple(k.workgroups)))
        self._raw_dispatches = wgpu_raw.raw_dispatches(self.dispatches)
        self.pipeline_seconds = time.perf_counter() - t0
        self.pipeline_count = len(pipelines)

        # outputs are copied, one after another, into one staging buffer
        self._staging_offset: dict[str, int] = {}
        top = 0
        for name, slot in program.outputs.items():
            self._staging_offset[name] = top
            top += 4 * slot.size
        self._staging = self.device.create_buffer(label="staging", size=max(top, 4),
                                                  usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)
        self._plans: dict[tuple[str, ...], list[int]] = {}
        self._chosen: dict[frozenset[str], tuple[str, ...]] = {}   # input names given -> outputs computed
        self.runs = 0

        # training: the step's kernels, Adam's settings and the ring of loss read-backs
        self.t = 0                                    # Adam's step count: steps taken, also the last step's number
        self.seed = 0                                 # dropout's seed: with t it draws each step's masks
        self.trainable_elements = program.trainable_elements
        self._ring = LossRing(self.device, ring if program.training else 0)
        if program.training:
            self.step_kernels = program.phase_kernels(*TRAINING_STEP)
            self.loss_slot = program.step_loss or program.outputs["loss"]
            self.loss_inputs = set(program.requires.get("loss", []))
            self.default_lr = float(program.optimizer["lr"])

    def _uniform_buffers(self) -> set[str]:
        return {b.buffer for k in self.program.kernels for b in k.bindings if b.access == UNIFORM}

    # -- parameters ---------------------------------------------------------------------------------
    def set_params(self, params: dict[str, np.ndarray]) -> None:
        """Upload parameters by name (any subset); shapes must match exactly."""
        for name, value in params.items():
            if name not in self.program.params:
                raise KeyError(f"no parameter named {name!r} (the program has {len(self.program.params)}: "
                               f"{', '.join(list(self.program.params)[:8])}...)")
            p = self.program.params[name]
            arr = np.array(value, dtype=np.float32, order="C")  # (ascontiguousarray makes 0-d 1-d)
            if arr.shape != tuple(p.shape):
                raise ValueError(f"parameter {name} has shape {fmt_shape(arr.shape)} but the program expects "
                                 f"{fmt_shape(tuple(p.shape))}")
            self.device.queue.write_buffer(self.buffers["params"], 4 * p.offset, arr)

    def get_params(self) -> dict[str, np.ndarray]:
        flat = np.frombuffer(self.device.queue.read_buffer(self.buffers["params"]), np.float32)
        return {name: flat[p.offset:p.offset + p.size].reshape(p.shape).copy()
                for name, p in self.program.params.items()}

    def init_params(self, seed: int = 0) -> None:
        """Glorot-normal weights and zero biases (see runtime.init)."""
        self.set_params(init_params(self.program, seed))

    # -- running ------------------------------------------------------------------------------------
    def _check_inputs(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        unknown = [k for k in inputs if k not in self.program.inputs]
        if unknown:
            raise ValueError(f"unknown input {', '.join(unknown)} (the program's inputs: "
                             f"{', '.join(self.program.inputs)})")
        out = {}
        for name, value in inputs.items():
            slot = self.program.inputs[name]
            arr = _f32(value)
            if arr.shape != tuple(slot.shape):
                raise ValueError(f"input {name} has shape {fmt_shape(arr.shape)} but the program expects "
                                 f"{fmt_shape(tuple(slot.shape))} (batch {self.program.batch} first)")
            bad = bad_ids(arr, self.program.ids[name]) if name in self.program.ids else None
            if bad:
                raise ValueError(f"input {name} {bad}")
            out[name] = arr
        return out

    def _outputs_for(self, given: set[str]) -> tuple[str, ...]:
        """Every output, except optional ones (the loss) whose inputs were not given."""
        key = frozenset(given)
        if key not in self._chosen:
            self._chosen[key] = self._choose_outputs(given)
        return self._chosen[key]

    def _choose_outputs(self, given: set[str]) -> tuple[str, ...]:
        chosen = []
        for name, needs in self.program.requires.items():
            missing = [k for k in needs if k not in given]
            if not missing:
                chosen.append(name)
            elif name not in self.program.optional_outputs:
                raise ValueError(f"output {name} needs input {', '.join(missing)}, which was not given")
        return tuple(chosen)

    def plan(self, outputs: tuple[str, ...]) -> list[int]:
        """Indices of the inference phase's kernels, in order, that compute `outputs`."""
        if outputs not in self._plans:
            want, kernels = set(outputs), self.program.kernels
            self._plans[outputs] = [i for i in self.program.phase_kernels(INFERENCE) if want & set(kernels[i].serves)]
        return self._plans[outputs]

    def record(self, compute_pass: Any, kernels: list[int]) -> None:
        """Record the dispatches of `kernels` (indices into program.kernels) into an open compute pass."""
        wgpu_raw.record(compute_pass, self.dispatches, self._raw_dispatches, kernels)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The inference phase on full-batch inputs: every output (the loss too when its inputs are given) as
        float32 arrays. Parameters and optimizer state are unchanged."""
        arrays = self._check_inputs(inputs)
        outputs = self._outputs_for(set(arrays))
        encoder = self._encode(arrays, self.plan(outputs))
        for name in outputs:
            self._copy_out(encoder, self.program.outputs[name], self._staging_offset[name])
        self.device.queue.submit([encoder.finish()])
        self.runs += 1
        return self._read_staging(outputs)

    def _encode(self, arrays: dict[str, np.ndarray], kernels: list[int]) -> Any:
        """Write the inputs, then a command encoder holding one compute pass over `kernels`."""
        for name, arr in arrays.items():
            self.device.queue.write_buffer(self.buffers[self.program.inputs[name].buffer], 0, arr)
        encoder = self.device.create_command_encoder()
        compute_pass = encoder.begin_compute_pass()
        self.record(compute_pass, kernels)
        compute_pass.end()
        return encoder

    # -- training -----------------------------------------------------------------------------------
    def step(self, inputs: dict[str, np.ndarray], lr: float | None = None) -> int:
        """Queue one training step (forward, backward, optimizer) on a full batch; returns its step number
        (1, 2, ...). The loss comes back later through poll() or drain(). Waits only when `ring` losses are
        still in flight."""
        arrays = self._step_inputs(inputs)
        slot = self._ring.take()
        self.t += 1
        opt = self.program.optimizer
        self.device.queue.write_buffer(self.buffers[opt["uniform"]], 0,
                                       step_uniform(opt, self.default_lr if lr is None else lr, self.t, self.seed))
        encoder = self._encode(arrays, self.step_kernels)
        self._ring.copy(encoder, slot, self.buffers[self.loss_slot.buffer], 4 * self.loss_slot.offset)
        self.device.queue.submit([encoder.finish()])
        self._ring.start(self.t, slot)
        self.runs += 1
        return self.t

    def poll(self) -> list[tuple[int, float]]:
        """(step, loss) for every step whose loss has arrived since the last poll/drain, in step order;
        never waits for the GPU."""
        return self._ring.poll()

    def drain(self) -> list[tuple[int, float]]:
        """Wait for every step in flight; (step, loss) for all not yet returned, in step order."""
        return self._ring.drain()

    def _step_inputs(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.program.phase_kernels(*TRAINING_STEP)   # or a clear error: not a training Program
        arrays = self._check_inputs(inputs)
        missing = sorted(self.loss_inputs - set(arrays))
        if missing:
            raise ValueError(f"a training step needs input {', '.join(missing)} (the loss depends on it)")
        return arrays

    def gradients(self, inputs: dict[str, np.ndarray], step: int | None = None) -> dict[str, np.ndarray]:
        """d(loss)/d(parameter) for every trainable parameter, by name, from the forward and backward phases
        alone (no Adam update): for gradient checks. Dropout draws the masks of `step` (default the last step
        taken, 0 before any); batch norms move their moving statistics as in a step."""
        arrays = self._step_inputs(inputs)
        opt = self.program.optimizer
        self.device.queue.write_buffer(self.buffers[opt["uniform"]], 0, step_uniform(
            opt, self.default_lr, self.t if step is None else step, self.seed))
        self.device.queue.submit([self._encode(arrays, self.program.phase_kernels(FORWARD, BACKWARD)).finish()])
        flat = np.frombuffer(self.device.queue.read_buffer(self.buffers[GRADS]), np.float32)
        return {name: flat[p.offset:p.offset + p.size].reshape(p.shape).copy()
                for name, p in self.program.params.items() if p.trainable}

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

    def profile(self, kernels: list[int] | None = None, repeat: int = 3) -> list[tuple[int, float]]:
        """(kernel index, median seconds) for each of `kernels` (default all), each dispatched alone in its own
        submit and waited for, `repeat` times. It runs on whatever the buffers hold: run or step once first.
        The times include one submit and wait each, so they add up to more than a whole run."""
        out, first = [], next(iter(self.buffers.values()))
        for i in range(len(self.program.kernels)) if kernels is None else kernels:
            times = []
            for _ in range(repeat):
                encoder = self.device.create_command_encoder()
                compute_pass = encoder.begin_compute_pass()
                self.record(compute_pass, [i])
                compute_pass.end()
                t = time.perf_counter()
                self.device.queue.submit([encoder.finish()])
                self.device.queue.read_buffer(first, 0, 4)   # waits for the queue
                times.append(time.perf_counter() - t)
            out.append((i, sorted(times)[len(times) // 2]))
        return out

    def _copy_out(self, encoder: Any, slot: Slot, at: int) -> None:
        encoder.copy_buffer_to_buffer(self.buffers[slot.buffer], 4 * slot.offset, self._staging, at, 4 * slot.size)

    def _read_staging(self, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        data = np.frombuffer(wgpu_raw.PendingMap(self.device, self._staging, self._staging.size).read(), np.float32)
        result = {}
        for name in outputs:
            slot, at = self.program.outputs[name], self._staging_offset[name] // 4
            result[name] = data[at:at + slot.size].reshape(slot.shape).copy()
        return result

    def read(self, slot: Slot) -> np.ndarray:
        """Any tensor by its slot (waits for the queue); for debugging and tests."""
        raw = self.device.queue.read_buffer(self.buffers[slot.buffer], 4 * slot.offset, 4 * slot.size)
        return np.frombuffer(raw, np.float32).reshape(slot.shape).copy()

    def stats(self) -> dict[str, Any]:
        """Live GPU buffers and their bytes (a training Program's loss ring included), dispatches per run (per
        training step for a training Program, with `phase_dispatches` per phase and the steps taken),
        pipelines and the time it took to make them."""
        sizes = {name: int(b.size) for name, b in self.buffers.items()}
        sizes["staging"] = int(self._staging.size)
        sizes |= {f"loss_ring_{i}": int(b.size) for i, b in enumerate(self._ring.buffers)}
        out = {
            "buffers": len(sizes),
            "buffer_bytes": sizes,
            "total_bytes": sum(sizes.values()),
            "arena_bytes": sum(v for k, v in sizes.items() if k.startswith(ARENA)),
            "activation_bytes_without_reuse": 4 * self.program.activation_elements,
            "dispatches": len(self.program.kernels),
            "pipelines": self.pipeline_count,
            "pipeline_seconds": self.pipeline_seconds,
            "runs": self.runs,
        }
        if self.program.training:
            out.update(dispatches=len(self.step_kernels), dispatches_per_step=len(self.step_kernels),
                       phase_dispatches={k: len(self.program.phases[k]) for k in TRAINING_STEP}, steps=self.t,
                       in_flight=self._ring.in_flight)
        return out


def step_uniform(optimizer: dict[str, Any], lr: float, t: int, seed: int = 0) -> np.ndarray:
    """The `step` uniform for step t (1-based): the values its fields name (optimizer["fields"], laid out by
    ops/optimizer.py's STEP_FIELDS), the bias corrections computed in float64, then rounded once; `seed`: dropout's
    (taken modulo 2^24, which a float32 holds exactly)."""
    b1, b2 = float(optimizer["beta1"]), float(optimizer["beta2"])
    values = {"lr": lr, "beta1": b1, "beta2": b2, "eps": float(optimizer["eps"]),
              "bias1": 1.0 - b1 ** t, "bias2": 1.0 - b2 ** t, "t": float(t), "seed": float(seed % MAX_SEED),
              "": 0.0}
    return np.array([values[f] for f in optimizer["fields"]], np.float32)


def _f32(value: Any) -> np.ndarray:
    """`value` as a C-contiguous float32 array, without a copy when it already is one (write_buffer copies it
    into the GPU's upload area at once, so later changes to the caller's array cannot reach the GPU)."""
    arr = np.asarray(value, dtype=np.float32)
    return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)   # (0-d is always contiguous: stays 0-d)
