"""Shared fixtures. `device`: one wgpu device for the whole run; tests that use it skip, saying why,
only when wgpu finds no adapter at all (install mesa-vulkan-drivers for lavapipe on a CPU-only machine).

`scripts/test.sh` installs everything the suite needs (lavapipe, PyTorch, Node packages, Chromium) and sets
WGSLGRAD_NO_SKIP=1: there a skip means a dependency that could be installed is missing, so it fails the test,
with the skip's reason, instead of passing unseen.
"""
import os

import pytest

from wgslgrad.runtime.device import NoAdapterError, get_device

NO_SKIP = os.environ.get("WGSLGRAD_NO_SKIP") == "1"


@pytest.fixture(scope="session")
def device():
    try:
        dev, _ = get_device()
    except ImportError as e:
        pytest.skip(f"wgpu is not importable: {e}")
    except NoAdapterError as e:
        pytest.skip(str(e))
    return dev


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if NO_SKIP and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (f"skipped under WGSLGRAD_NO_SKIP=1 (scripts/test.sh installs every dependency, so a "
                           f"skip is a missing install step): {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if NO_SKIP and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"module skipped under WGSLGRAD_NO_SKIP=1 (a missing install step): {reason}"
