"""Runs a kernel's own WGSL and the shared shader export/param_shaders.py made for it (with its numbers bound
as the `nums` uniform) on the same random buffers through wgpu, and compares every buffer either writes."""
from __future__ import annotations

import numpy as np
import wgpu

from wgslgrad.compiler.program import Program
from wgslgrad.export.bundle import _strip
from wgslgrad.export.param_shaders import share

_TYPES = {"read": wgpu.BufferBindingType.read_only_storage, "read_write": wgpu.BufferBindingType.storage,
          "uniform": wgpu.BufferBindingType.uniform}
_USAGE = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST


def _run(device, code: str, kernel, arrays: dict[str, np.ndarray], nums: tuple[int, ...]) -> dict[str, np.ndarray]:
    accesses = [b.access for b in kernel.bindings] + (["uniform"] if nums else [])
    bgl = device.create_bind_group_layout(entries=[
        {"binding": j, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": _TYPES[a]}}
        for j, a in enumerate(accesses)])
    pipeline = device.create_compute_pipeline(
        layout=device.create_pipeline_layout(bind_group_layouts=[bgl]),
        compute={"module": device.create_shader_module(code=code), "entry_point": "main"})
    buffers = {}
    for b in kernel.bindings:
        if b.buffer not in buffers:
            usage = _USAGE | (wgpu.BufferUsage.UNIFORM if b.access == "uniform" else 0)
            buffers[b.buffer] = device.create_buffer_with_data(data=arrays[b.buffer], usage=usage)
    entries = [{"binding": j, "resource": {"buffer": buffers[b.buffer], "offset": 0, "size": buffers[b.buffer].size}}
               for j, b in enumerate(kernel.bindings)]
    if nums:
        words = np.zeros(4 * ((len(nums) + 3) // 4), np.uint32)
        words[:len(nums)] = nums
        ubuf = device.create_buffer_with_data(data=words, usage=wgpu.BufferUsage.UNIFORM)
        entries.append({"binding": len(entries), "resource": {"buffer": ubuf, "offset": 0, "size": ubuf.size}})
    encoder = device.create_command_encoder()
    compute = encoder.begin_compute_pass()
    compute.set_pipeline(pipeline)
    compute.set_bind_group(0, device.create_bind_group(layout=bgl, entries=entries))
    compute.dispatch_workgroups(*kernel.workgroups)
    compute.end()
    device.queue.submit([encoder.finish()])
    written = {b.buffer for b in kernel.bindings if b.access == "read_write"}
    return {n: np.frombuffer(device.queue.read_buffer(buffers[n]), np.float32) for n in written}


def check_shared(device, programs: list[Program], seed: int, divisors: bool = False) -> tuple[int, int]:
    """Every kernel of `programs` that share() gives a shared shader, run both ways on the same random
    buffers: returns (kernels, shaders); raises AssertionError naming the first kernel that differs."""
    kernels = [k for p in programs for k in p.kernels]
    sizes = {n: s for p in programs for n, s in p.buffers.items()}
    texts = list(dict.fromkeys(_strip(k.wgsl) for k in kernels))
    first = {t: next(k for k in kernels if _strip(k.wgsl) == t) for t in texts}
    shaders, uses = share(texts, [len(first[t].bindings) for t in texts], divisors=divisors)
    rng = np.random.default_rng(seed)
    checked = 0
    for text, use in zip(texts, uses):
        if not use.nums:
            continue
        k = first[text]
        arrays = {b.buffer: rng.normal(size=sizes[b.buffer]).astype(np.float32) for b in k.bindings}
        want = _run(device, k.wgsl, k, arrays, ())
        got = _run(device, shaders[use.shader], k, arrays, use.nums)
        for name in want:
            bad = np.flatnonzero(~np.isclose(got[name], want[name], rtol=1e-6, atol=1e-6, equal_nan=True))
            assert not bad.size, (f"{k.name}: {name} differs at {bad.size} places, first {bad[:5]}: "
                                  f"{got[name][bad[:5]]} vs {want[name][bad[:5]]}\n{shaders[use.shader]}")
        checked += 1
    return checked, len(shaders)
