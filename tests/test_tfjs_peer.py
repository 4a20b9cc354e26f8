"""The TF.js peer (Node, wasm and cpu backends) computes what the IR means: outputs, loss and parameter
gradients equal numpy_ref's (float64) to float32 accuracy."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from peer_graphs import GRAPHS, random_inputs, random_params

from wgslgrad.bench.tfjs_peer import TfjsUnavailable, check_installed, tfjs_check
from wgslgrad.compiler import numpy_ref
from wgslgrad.compiler.autodiff import grad

try:
    check_installed()
except TfjsUnavailable as e:
    pytest.skip(str(e), allow_module_level=True)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-6))


@pytest.mark.parametrize("backend", ["wasm", "cpu"])
@pytest.mark.parametrize("which", list(GRAPHS))
def test_tfjs_matches_numpy_ref(which: str, backend: str) -> None:
    g = GRAPHS[which]()
    assert g.loss is not None
    inputs, params = random_inputs(g), random_params(g)
    gb = replace(g, nodes=list(g.nodes), params=dict(g.params))
    ids = grad(gb, g.loss)
    ref = numpy_ref.evaluate(gb, inputs, params)
    got = tfjs_check(g, params, inputs, backend)
    assert got["backend"] == backend
    np.testing.assert_allclose(got["loss"], ref[g.loss], rtol=1e-5)
    for name, i in g.outputs.items():
        assert _rel(got["outputs"][name], ref[i]) < 1e-5, name
    assert set(got["grads"]) == set(ids)
    for name, i in ids.items():
        assert _rel(got["grads"][name], ref[i]) < 1e-4, name


def test_a_failing_run_names_the_javascript_error(tmp_path) -> None:
    """`wgslgrad bench` shows only the first line when it skips the peer: the JavaScript error is on it."""
    from wgslgrad.bench.tfjs_peer import _node
    with pytest.raises(RuntimeError, match=r"^bench.js failed \(1\): Error: ENOENT.*model\.json'\n"):
        _node(tmp_path / "missing", [], 60)
