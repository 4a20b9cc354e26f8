"""The wgpu device: a high-performance adapter when there is one, with its largest buffer limits."""
from __future__ import annotations

import os
import tempfile
from typing import Any

from ..compiler.ir import DEFAULT_BINDING, MAX_BINDING

_cached: tuple[Any, str] | None = None


class NoAdapterError(RuntimeError):
    """wgpu found no GPU adapter (not even a CPU one)."""


class DeviceLimitError(ValueError):
    """A Program needs a buffer larger than this device binds (it was compiled for a larger max_binding)."""


def device_advice(limit: int, verb: str) -> str:
    """What to do when a Program needs a buffer larger than a device binds (`limit` bytes); `verb`: compile or
    export. A device that binds only the 128 MiB every device binds needs the model compiled without
    --max-binding, one that binds more a --max-binding it allows (whole MiB, rounded down, so it can be typed; at most
    MAX_BINDING)."""
    if limit <= DEFAULT_BINDING:
        return (f"{verb} with a smaller batch, and without --max-binding (max_binding=) for this device, which binds "
                "only what every WebGPU device does")
    size = min(limit, MAX_BINDING) // 2**20
    return f"{verb} with a smaller batch, or with --max-binding {size}MiB (max_binding=) or less for this device"


def adapter_summary(adapter: Any) -> str:
    info = adapter.info
    return (f"{info.get('device') or info.get('description') or 'unknown device'} "
            f"({info.get('adapter_type', '?')}, {info.get('backend_type', '?')})")


def get_device(cached: bool = True) -> tuple[Any, str]:
    """(device, adapter description). One device per process unless `cached` is False.

    The device gets the adapter's largest storage-buffer binding and buffer sizes, so big batches fit;
    every other limit stays at the WebGPU default, which the generated kernels respect, so what runs
    here also runs in a browser.
    """
    global _cached
    if cached and _cached is not None:
        return _cached
    # Mesa's Vulkan drivers print "XDG_RUNTIME_DIR is invalid" on stderr when it is unset (CI, cron,
    # containers); compute never uses it, so give it a harmless value rather than alarm the user.
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    import wgpu

    err: Exception | None = None
    try:
        adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    except RuntimeError as e:  # wgpu raises when nothing is found
        adapter, err = None, e
    if adapter is None:
        raise NoAdapterError(
            "wgpu found no GPU adapter" + (f" ({err})" if err else "") + ". On a machine without a GPU, "
            "install Mesa's software Vulkan driver (lavapipe): sudo apt-get install mesa-vulkan-drivers")
    limits = adapter.limits
    device = adapter.request_device_sync(required_limits={
        "max-storage-buffer-binding-size": limits["max-storage-buffer-binding-size"],
        "max-buffer-size": limits["max-buffer-size"],
    })
    result = (device, adapter_summary(adapter))
    if cached:
        _cached = result
    return result
