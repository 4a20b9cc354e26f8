"""Shared fixtures. `device`: one wgpu device for the whole run; tests that use it skip, saying why,
only when wgpu finds no adapter at all (install mesa-vulkan-drivers for lavapipe on a CPU-only machine)."""
import pytest

from wgslgrad.runtime.device import NoAdapterError, get_device


@pytest.fixture(scope="session")
def device():
    try:
        dev, _ = get_device()
    except ImportError as e:
        pytest.skip(f"wgpu is not importable: {e}")
    except NoAdapterError as e:
        pytest.skip(str(e))
    return dev
