"""Every example spec compiles, and its whole forward pass on the GPU matches the float64 reference; the API
example script runs."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from example_files import SCRIPTS, SPECS

from wgslgrad.compiler import numpy_ref
from wgslgrad.compiler.frontend import load_spec
from wgslgrad.compiler.inference import inference_form
from wgslgrad.compiler.lower import lower
from wgslgrad.compiler.program import embedding_ids
from wgslgrad.runtime.init import init_params
from wgslgrad.runtime.session import Session

ROOT = Path(__file__).resolve().parent.parent


def test_all_examples_are_covered():
    assert {p.stem for p in SPECS} >= {"landmark68", "landmark68_tiny", "digits", "tiny_face_detector"}
    assert {p.name for p in SCRIPTS} >= {"make_data.py", "api_demo.py", "face_demo.py"}


@pytest.mark.gpu
@pytest.mark.e2e
@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_example_forward_matches_reference(spec, device):
    g = load_spec(spec, batch=1)
    rng = np.random.default_rng()
    params = init_params(g, seed=int(rng.integers(1 << 30)))
    # Inputs in the ranges the specs expect: pixels 0..255 (0..16 for digits), targets in 0..1, ids below the
    # vocabulary.
    inputs = {name: rng.uniform(0, 255 if len(g.nodes[i].shape) == 4 else 1, g.nodes[i].shape).astype(np.float32)
              for name, i in g.inputs.items()}
    for name, vocab in embedding_ids(g).items():   # character ids: whole numbers below the vocabulary
        inputs[name] = rng.integers(0, vocab, g.nodes[g.inputs[name]].shape).astype(np.float32)
    session = Session(lower(g), device)
    session.set_params(params)
    got = session.run(inputs)
    values = numpy_ref.evaluate(inference_form(g), inputs, params, np.float64)   # no dropout, moving statistics
    for name, i in g.outputs.items():
        ref = values[i]
        err = np.max(np.abs(got[name] - ref)) / max(np.max(np.abs(ref)), 1e-30)
        assert err < 1e-4, f"{spec.stem} output {name}: relative error {err:.2e}"
    if g.loss is not None:
        ref_loss = values[g.loss]
        assert abs(float(got["loss"]) - ref_loss) <= 1e-4 * max(abs(ref_loss), 1e-30)


@pytest.mark.gpu
@pytest.mark.e2e
def test_api_demo_trains_evaluates_reloads_and_exports(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp")}
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "api_demo.py"), str(tmp_path), "--quick"],
                       capture_output=True, text=True, timeout=900, env=env, check=False)
    assert r.returncode == 0, r.stderr
    callbacks = [line for line in r.stdout.splitlines() if line.startswith("  callback: epoch")]
    assert len(callbacks) == 2 and "step 20," in callbacks[1]
    accuracy = float(r.stdout.split("held-out: loss ")[1].split("accuracy ")[1].split()[0])
    assert accuracy > 0.3, r.stdout        # 2 short epochs: far above chance (0.1), far from trained (0.98)
    assert "reloaded weights give the same answers: True" in r.stdout
    assert (tmp_path / "run" / "best.safetensors").exists() and (tmp_path / "digits.safetensors").exists()
    assert {"model.js", "model.json", "weights_manifest.json"} <= {f.name for f in (tmp_path / "web").iterdir()}


@pytest.mark.parametrize("doc", ["README.md", "docs/api.md"])
def test_doc_snippets_ask_only_for_outputs_their_spec_declares(doc):
    """A Python snippet calling features(..., output="NAME") compiles a spec that declares that Output."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / doc).read_text(), re.DOTALL)
    checked = 0
    for block in blocks:
        wanted = re.findall(r'output="(\w+)"', block)
        if not wanted:
            continue
        specs = re.findall(r'wgslgrad\.compile\("([^"]+)"', block)
        assert specs, f"{doc}: a snippet asks for Output {wanted[0]!r} of no spec it compiles:\n{block}"
        outputs = load_spec(ROOT / specs[-1], batch=1).outputs
        assert set(wanted) <= set(outputs), f"{doc}: {specs[-1]} has no Output {set(wanted) - set(outputs)}"
        checked += 1
    assert checked or doc != "README.md"   # README's KNN snippet is one
