"""What sharing shaders costs at run time: each kernel of an example's CPU Programs (lower(shared_tiles=False),
inference and training) timed through wgpu (lavapipe here) with its own WGSL and with the shared shader a
bundle runs instead (export/param_shaders.py, its numbers bound as a uniform), alternately, on the same buffers.

    python3 scripts/shared_shader_times.py [EXAMPLE] [--batch N] [--divisors tight|lean|cold|all|none] [--repeat N]

Prints the shaders compiled either way, the summed best-of-repeat times and the ten kernels that slowed most.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import wgpu

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wgslgrad.compiler.frontend import load_spec
from wgslgrad.compiler.lower import lower
from wgslgrad.export.bundle import _strip
from wgslgrad.export.param_shaders import share
from wgslgrad.runtime.device import get_device

TYPES = {"read": wgpu.BufferBindingType.read_only_storage, "read_write": wgpu.BufferBindingType.storage,
         "uniform": wgpu.BufferBindingType.uniform}
USAGE = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.UNIFORM


def prepare(device: Any, code: str, kernel: Any, buffers: dict[str, Any], nums: tuple[int, ...]) -> tuple[Any, Any]:
    """The pipeline and bind group of `kernel` running `code` (with its numbers as the uniform, if any)."""
    accesses = [b.access for b in kernel.bindings] + (["uniform"] if nums else [])
    bgl = device.create_bind_group_layout(entries=[
        {"binding": j, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": TYPES[a]}}
        for j, a in enumerate(accesses)])
    pipeline = device.create_compute_pipeline(
        layout=device.create_pipeline_layout(bind_group_layouts=[bgl]),
        compute={"module": device.create_shader_module(code=code), "entry_point": "main"})
    entries = [{"binding": j, "resource": {"buffer": buffers[b.buffer], "offset": 0, "size": buffers[b.buffer].size}}
               for j, b in enumerate(kernel.bindings)]
    if nums:
        words = np.zeros(4 * ((len(nums) + 3) // 4), np.uint32)
        words[:len(nums)] = nums
        uniform = device.create_buffer_with_data(data=words, usage=wgpu.BufferUsage.UNIFORM)
        entries.append({"binding": len(entries), "resource": {"buffer": uniform, "offset": 0, "size": uniform.size}})
    return pipeline, device.create_bind_group(layout=bgl, entries=entries)


def seconds(device: Any, prepared: tuple[Any, Any], kernel: Any, sync: Any) -> float:
    """One dispatch, submitted alone and waited for (a 4-byte read back)."""
    encoder = device.create_command_encoder()
    compute = encoder.begin_compute_pass()
    compute.set_pipeline(prepared[0])
    compute.set_bind_group(0, prepared[1])
    compute.dispatch_workgroups(*kernel.workgroups)
    compute.end()
    t = time.perf_counter()
    device.queue.submit([encoder.finish()])
    device.queue.read_buffer(sync, 0, 4)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("example", nargs="?", default="landmark68")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--divisors", choices=["tight", "lean", "cold", "all", "none"], default="tight")
    ap.add_argument("--repeat", type=int, default=4)
    args = ap.parse_args()
    divisors = {"tight": "tight", "lean": "lean", "cold": "cold", "all": True, "none": False}[args.divisors]
    device, _ = get_device()
    g = load_spec(ROOT / "examples" / f"{args.example}.py", batch=args.batch)
    programs = [lower(g, shared_tiles=False)] + ([lower(g, training=True, shared_tiles=False)] if g.loss else [])
    kernels = [k for p in programs for k in p.kernels]
    texts = list(dict.fromkeys(_strip(k.wgsl) for k in kernels))
    first = {t: next(k for k in kernels if _strip(k.wgsl) == t) for t in texts}
    shaders, uses = share(texts, [len(first[t].bindings) for t in texts], divisors=divisors)
    rng = np.random.default_rng(0)
    sizes = {n: s for p in programs for n, s in p.buffers.items()}
    buffers = {n: device.create_buffer_with_data(data=(rng.normal(size=s) * 0.01).astype(np.float32), usage=USAGE)
               for n, s in sizes.items()}
    rows, total = [], [0.0, 0.0]
    for text, use in zip(texts, uses):
        if not use.nums:
            continue
        k = first[text]
        own, shared = prepare(device, k.wgsl, k, buffers, ()), prepare(device, shaders[use.shader], k, buffers, use.nums)
        seconds(device, own, k, buffers["arena"])
        seconds(device, shared, k, buffers["arena"])
        a, b = [], []
        for _ in range(args.repeat):
            a.append(seconds(device, own, k, buffers["arena"]))
            b.append(seconds(device, shared, k, buffers["arena"]))
        total[0] += min(a)
        total[1] += min(b)
        rows.append((min(b) / min(a), k.name, min(a) * 1000, min(b) * 1000))
    print(f"{args.example} batch {args.batch}, divisors {args.divisors}: {len(texts)} kernels -> {len(shaders)} "
          f"shaders; the {len(rows)} kernels that share: {total[0] * 1000:.0f} ms own WGSL, "
          f"{total[1] * 1000:.0f} ms shared ({total[1] / total[0]:.2f}x)")
    for ratio, name, a_ms, b_ms in sorted(rows, reverse=True)[:10]:
        print(f"  {name:32s} {a_ms:8.1f} -> {b_ms:8.1f} ms  {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
