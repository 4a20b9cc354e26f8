"""A Session runs a Program through wgpu: everything is created once, each run is one submit.

Buffers, shader modules, pipelines (with explicit layouts built from each kernel's binding list) and bind
groups are made in the constructor; `run` uploads the inputs, records every dispatch into one compute
pass, copies the outputs into one staging buffer in the same command buffer, submits once and maps it.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import wgpu

from ..compiler.ir import fmt_shape
from ..compiler.program import ARENA, READ, READ_WRITE, UNIFORM, Program, Slot
from . import wgpu_raw
from .data import bad_ids
from .device import get_device
from .init import init_params

_BINDING_TYPE = {READ: wgpu.BufferBindingType.read_only_storage, READ_WRITE: wgpu.BufferBindingType.storage,
                 UNIFORM: wgpu.BufferBindingType.uniform}
_USAGE = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST


class Session:
    """Runs `program` on `device` (the shared default device when None)."""

    def __init__(self, program: Program, device: Any = None):
        self.program = program
        self.device = device if device is not None else get_device()[0]
        limit = self.device.limits["max-storage-buffer-binding-size"]
        for name, size in program.buffers.items():
            if 4 * size > limit:
                raise ValueError(f"buffer {name} needs {4 * size / 2**20:.1f} MiB but this device binds at most "
                                 f"{limit / 2**20:.1f} MiB: use a smaller batch")
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
        """Indices of the kernels, in order, that compute `outputs`."""
        if outputs not in self._plans:
            want = set(outputs)
            self._plans[outputs] = [i for i, k in enumerate(self.program.kernels) if want & set(k.serves)]
        return self._plans[outputs]

    def record(self, compute_pass: Any, kernels: list[int]) -> None:
        """Record the dispatches of `kernels` (indices into program.kernels) into an open compute pass."""
        wgpu_raw.record(compute_pass, self.dispatches, self._raw_dispatches, kernels)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the forward pass on full-batch inputs; returns every output (the loss too when its inputs are
        given) as float32 arrays."""
        arrays = self._check_inputs(inputs)
        outputs = self._outputs_for(set(arrays))
        queue = self.device.queue
        for name, arr in arrays.items():
            queue.write_buffer(self.buffers[self.program.inputs[name].buffer], 0, arr)
        encoder = self.device.create_command_encoder()
        compute_pass = encoder.begin_compute_pass()
        self.record(compute_pass, self.plan(outputs))
        compute_pass.end()
        for name in outputs:
            self._copy_out(encoder, self.program.outputs[name], self._staging_offset[name])
        queue.submit([encoder.finish()])
        self.runs += 1
        return self._read_staging(outputs)

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
        """Live GPU buffers and their bytes, dispatches per run, pipelines and the time it took to make them."""
        sizes = {name: int(b.size) for name, b in self.buffers.items()}
        sizes["staging"] = int(self._staging.size)
        return {
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


def _f32(value: Any) -> np.ndarray:
    """`value` as a C-contiguous float32 array, without a copy when it already is one (write_buffer copies it
    into the GPU's upload area at once, so later changes to the caller's array cannot reach the GPU)."""
    arr = np.asarray(value, dtype=np.float32)
    return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)   # (0-d is always contiguous: stays 0-d)
