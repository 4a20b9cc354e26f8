"""Golden files of the generated Programs and WGSL for three small nets, inference and training.

Each net's Program is pinned as two files under tests/golden/: NET.MODE.json (the Program as JSON without
the WGSL text, short lists on one line) and NET.MODE.wgsl (every kernel's WGSL in dispatch order, each after
a `// ==== kernel K: NAME ====` header). A refactor that changes the generated code fails here with a
unified diff of the first differing file; one that means to change it regenerates them:

    UPDATE_GOLDEN=1 python3 -m pytest tests/test_golden.py

and the regenerated files' diff goes into the commit that changes the code.
"""
from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.compiler.ir import Graph
from wgslgrad.compiler.lower import lower
from wgslgrad.compiler.program import Program

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

NETS = {
    # every unary activation, broadcast arithmetic with constants, softmax, a composed loss
    "mlp": """
x = Input(6)
target = Input(3)
h = dense(x, 8, activation="relu")
h = leaky_relu(h, alpha=0.1) + relu6(h) * 0.5
h = tanh(h) - sigmoid(h) / 2
y = dense(h, 3, activation="sigmoid")
z = exp(abs(y)) + log(y + 1)
Output(y)
Output(softmax(z), name="probabilities")
Train(loss=mse(y, target) + mean(z), optimizer=Adam(lr=0.01), batch=2)
""",
    # conv2d at stride 2, separable and depthwise convs, max and avg pooling ('same' too), concat, add
    "convnet": """
image = Input(8, 8, 3)
label = Input(5)
x = conv2d(image, 4, kernel=3, stride=2, activation="relu")
a = separable_conv2d(x, 4, kernel=3)
b = depthwise_conv2d(x, kernel=3, activation="relu6")
x = relu(x + a + b)
p = max_pool(x, 2)
q = avg_pool(x, 2, stride=1, padding="same")
c = concat([p, avg_pool(q, 2)])
logits = dense(global_avg_pool(c), 5)
Output(logits)
Train(loss=softmax_cross_entropy(logits, label), batch=2)
""",
    # embedding, an LSTM over two steps, slicing, stack, sums and means over axes
    "seqnet": """
ids = Input(2)
target = Input(2)
e = embedding(ids, 7, 3)
seq = lstm(e, 4, return_sequences=True)
s = stack([seq[:, -1, 0:2], sum(seq, axis=1)[:, 1:3]], 1)
y = mean(s, axis=1)
Output(y)
Train(loss=sigmoid_cross_entropy(y, target), batch=2)
""",
}

# mode -> how that Program is made from the forward graph (one place to change when lowering changes)
MODES: dict[str, Callable[[Graph], Program]] = {"infer": lower, "train": lambda g: lower(g, training=True)}


def _dump(value: Any, indent: str = "") -> str:
    """JSON with one key per line, but a list or dict of scalars on one line (shapes, node lists)."""
    if isinstance(value, dict) and value and any(isinstance(v, (dict, list)) for v in value.values()):
        inner = indent + " "
        items = [f"{inner}{json.dumps(k)}: {_dump(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        inner = indent + " "
        return "[\n" + ",\n".join(inner + _dump(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value)


def render(program: Program) -> dict[str, str]:
    """The Program's two golden texts: JSON without WGSL, and the kernels' WGSL under headers."""
    d = program.as_dict()
    for k in d["kernels"]:
        del k["wgsl"]
    wgsl = "".join(f"// ==== kernel {i}: {k.name} ====\n{k.wgsl.rstrip()}\n\n" for i, k in enumerate(program.kernels))
    return {"json": _dump(d) + "\n", "wgsl": wgsl}


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("net", sorted(NETS))
def test_golden(net: str, mode: str) -> None:
    program = MODES[mode](compile_spec(NETS[net], f"{net}.py"))
    for ext, text in render(program).items():
        path = GOLDEN / f"{net}.{mode}.{ext}"
        if UPDATE:
            GOLDEN.mkdir(exist_ok=True)
            path.write_text(text)
            continue
        assert path.exists(), f"{path} is missing: run UPDATE_GOLDEN=1 python3 -m pytest tests/test_golden.py"
        want = path.read_text()
        if text != want:
            diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True),
                                                f"{path.name} (golden)", f"{path.name} (generated)", n=2))
            lines = diff.splitlines()
            more = f"\n... {len(lines) - 200} more diff lines" if len(lines) > 200 else ""
            pytest.fail(f"{path.name} differs from the generated code (if meant: UPDATE_GOLDEN=1 "
                        f"python3 -m pytest tests/test_golden.py):\n" + "\n".join(lines[:200]) + more,
                        pytrace=False)


def test_golden_files_are_small_and_complete() -> None:
    """Exactly the files the nets make, and few enough bytes to read in a review."""
    want = {f"{n}.{m}.{e}" for n in NETS for m in MODES for e in ("json", "wgsl")}
    have = {p.name for p in GOLDEN.iterdir()}
    assert have == want, f"unexpected {sorted(have - want)}, missing {sorted(want - have)}"
    total = sum(p.stat().st_size for p in GOLDEN.iterdir())
    assert total < 280_000, f"golden files total {total:,} bytes"
