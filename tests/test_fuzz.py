"""Fuzzing in the suite: generated and mutated specs through check, lowering and a run on the GPU adapter
(tests/fuzz_specs.py). Each must succeed or fail with a clean user error, within the time and memory bounds.

Derandomized (a fixed hypothesis seed, no example database), so CI runs the same inputs every time; the counts
are printed (pytest -s). tests/bench/test_fuzz_bench.py runs the same generators for longer, with fresh seeds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fuzz_specs import Tally, differential, grammar_specs, layered_specs, mutated_examples, run_spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def ci(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None, print_blob=True,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def tallies() -> Any:
    out: dict[str, Tally] = {}
    yield out
    for name, t in out.items():
        print(f"\nfuzz {name}: {t.line()}" if name != "differential" else f"\nfuzz differential: {dict(t.counts)}")


def _fuzz(name: str, strategy: st.SearchStrategy[str], examples: int) -> Any:
    @ci(examples)
    @given(source=strategy)
    def test(device: Any, tmp_path_factory: Any, tallies: dict[str, Tally], source: str) -> None:
        tally = tallies.setdefault(name, Tally())
        run_spec(source, device, Path(tmp_path_factory.getbasetemp()), tally)
    return test


test_grammar_specs_fail_cleanly = _fuzz("grammar", grammar_specs(), 120)
test_layered_specs_compile_and_run = _fuzz("layered", layered_specs(), 40)
test_mutated_examples_fail_cleanly = _fuzz("mutated", mutated_examples(), 30)


@ci(20)
@given(source=layered_specs(hostile=0.0, trained=True), seed=st.integers(0, 2**32 - 1))
def test_generated_specs_match_float64_reference(device: Any, tallies: dict[str, Tally], source: str,
                                                 seed: int) -> None:
    """Generated networks that compile: outputs, loss and gradients on the GPU against numpy_ref in float64."""
    tally = tallies.setdefault("differential", Tally())
    tally.counts["inputs"] += 1
    tally.counts[differential(source, device, seed)] += 1
