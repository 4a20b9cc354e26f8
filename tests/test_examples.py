"""Every example spec compiles, and its whole forward pass on the GPU matches the float64 reference."""
from pathlib import Path

import numpy as np
import pytest

from wgslgrad.compiler import numpy_ref
from wgslgrad.compiler.frontend import load_spec
from wgslgrad.compiler.lower import lower
from wgslgrad.runtime.init import init_params
from wgslgrad.runtime.session import Session

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))
SPECS = [p for p in EXAMPLES if p.name not in ("make_data.py", "face_demo.py")]


def test_all_examples_are_covered():
    assert {p.stem for p in SPECS} >= {"landmark68", "landmark68_tiny", "digits", "tiny_face_detector"}


@pytest.mark.gpu
@pytest.mark.e2e
@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_example_forward_matches_reference(spec, device):
    g = load_spec(spec, batch=1)
    rng = np.random.default_rng()
    params = init_params(g, seed=int(rng.integers(1 << 30)))
    # Inputs in the ranges the specs expect: pixels 0..255 (0..16 for digits), targets in 0..1.
    inputs = {name: rng.uniform(0, 255 if len(g.nodes[i].shape) == 4 else 1, g.nodes[i].shape).astype(np.float32)
              for name, i in g.inputs.items()}
    session = Session(lower(g), device)
    session.set_params(params)
    got = session.run(inputs)
    values = numpy_ref.evaluate(g, inputs, params, np.float64)
    for name, i in g.outputs.items():
        ref = values[i]
        err = np.max(np.abs(got[name] - ref)) / max(np.max(np.abs(ref)), 1e-30)
        assert err < 1e-4, f"{spec.stem} output {name}: relative error {err:.2e}"
    if g.loss is not None:
        ref_loss = values[g.loss]
        assert abs(float(got["loss"]) - ref_loss) <= 1e-4 * max(abs(ref_loss), 1e-30)
