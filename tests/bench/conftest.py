"""tests/bench holds benchmarks, not tests: they are collected only when asked for, by
`pytest tests/bench --benchmark-enable` (or WGSLGRAD_BENCH=1), so the default test run stays fast."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    wanted = config.getoption("benchmark_enable", False) or os.environ.get("WGSLGRAD_BENCH") == "1"
    if not wanted and collection_path.name.startswith("test_"):
        return True
    return None
