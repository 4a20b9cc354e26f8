"""The spec fuzzer run long (tests/fuzz_specs.py; tests/test_fuzz.py runs it for about a minute in CI): every
generator for WGSLGRAD_FUZZ_EXAMPLES inputs (default 400) from a fresh seed, printed, or WGSLGRAD_FUZZ_SEED.
Crashes do not stop the run: it prints the counts (inputs, parsed, compiled, lowered, ran, clean errors,
crashes, hangs, slowest input, peak compiler heap, max RSS) and each crash with its reproducer, then fails if
there was any.

test_differential_long compares generated networks with the float64 reference the same way, counting
mismatches. Run: WGSLGRAD_BENCH=1 python3 -m pytest -s tests/bench/test_fuzz_bench.py
"""
from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fuzz_specs import Crash, Tally, differential, grammar_specs, layered_specs, mutated_examples, run_spec
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("WGSLGRAD_FUZZ_EXAMPLES", "400"))
SEED = int(os.environ.get("WGSLGRAD_FUZZ_SEED", str(random.SystemRandom().randrange(2**32))))
GENERATORS = {"grammar": grammar_specs, "layered": layered_specs, "mutated": mutated_examples}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_fuzz_long(device: Any, tmp_path: Path, name: str) -> None:
    print(f"\nfuzz {name}: {EXAMPLES} inputs, seed {SEED} (WGSLGRAD_FUZZ_SEED={SEED} replays it)")
    tally = Tally()
    strategy: st.SearchStrategy[str] = GENERATORS[name]()

    @seed(SEED)
    @settings(max_examples=EXAMPLES, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(source=strategy)
    def fuzz(source: str) -> None:
        try:
            run_spec(source, device, tmp_path, tally)
        except Crash:
            pass   # counted and kept in the tally

    fuzz()
    print(f"fuzz {name}: {tally.line()}")
    seen: set[str] = set()
    for source, error in tally.crashes:
        key = error.split("\n")[0][:80]
        if key not in seen:
            seen.add(key)
            print(f"--- crash: {error[:500]}\n{source[:2000]}")
    assert not tally.crashes, f"{len(tally.crashes)} crashes, {len(seen)} distinct (printed above)"


def test_differential_long(device: Any) -> None:
    """Generated networks' outputs, loss and gradients against the float64 reference, counted by outcome."""
    print(f"\nfuzz differential: {EXAMPLES} inputs, seed {SEED}")
    counts: Counter[str] = Counter()
    failures: list[tuple[str, str]] = []

    @seed(SEED)
    @settings(max_examples=EXAMPLES, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(source=layered_specs(hostile=0.0, trained=True), value_seed=st.integers(0, 2**32 - 1))
    def compare(source: str, value_seed: int) -> None:
        counts["inputs"] += 1
        try:
            counts[differential(source, device, value_seed)] += 1
        except AssertionError as e:
            counts["mismatches"] += 1
            failures.append((source, str(e)))

    compare()
    print(f"fuzz differential: {dict(counts)}")
    for source, error in failures[:10]:
        print(f"--- mismatch: {error[:500]}\n{source}")
    assert not failures, f"{len(failures)} mismatches (printed above)"
