"""The PyTorch peer computes what the IR means: outputs and loss equal numpy_ref's, gradients autodiff's."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from peer_graphs import GRAPHS, every_op_graph, random_inputs, random_params

from wgslgrad.compiler import numpy_ref

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
from wgslgrad.bench.torch_peer import TorchModel, to_tensors, torch_gradients


@pytest.mark.parametrize("which", list(GRAPHS))
def test_forward_matches_numpy_ref(which: str) -> None:
    g = GRAPHS[which]()
    assert g.loss is not None
    inputs, params = random_inputs(g), random_params(g)
    ref = numpy_ref.evaluate(g, inputs, params)
    model = TorchModel(g, params, torch.float64)
    outputs, loss = model(to_tensors(inputs, "cpu", torch.float64))
    for name, i in g.outputs.items():
        np.testing.assert_allclose(outputs[name].detach().numpy(), ref[i], rtol=1e-10, atol=1e-12, err_msg=name)
    assert loss is not None
    np.testing.assert_allclose(loss.item(), ref[g.loss], rtol=1e-10)


def test_float32_forward_close_to_float64() -> None:
    g = every_op_graph(2)
    assert g.loss is not None
    inputs, params = random_inputs(g), random_params(g)
    ref = numpy_ref.evaluate(g, inputs, params)
    _, loss = TorchModel(g, params)(to_tensors(inputs))
    np.testing.assert_allclose(loss.item(), ref[g.loss], rtol=1e-5)


@pytest.mark.parametrize("which", list(GRAPHS))
def test_gradients_match_autodiff(which: str) -> None:
    from wgslgrad.compiler.autodiff import grad
    g = GRAPHS[which]()
    assert g.loss is not None
    inputs, params = random_inputs(g), random_params(g)
    loss, got = torch_gradients(g, params, inputs)
    gb = replace(g, nodes=list(g.nodes), params=dict(g.params))
    ids = grad(gb, g.loss)
    vals = numpy_ref.evaluate(gb, inputs, params)
    np.testing.assert_allclose(loss, vals[g.loss], rtol=1e-10)
    assert set(got) == set(ids)          # frozen parameters get no gradient on either side
    for name, i in ids.items():
        np.testing.assert_allclose(got[name], vals[i], rtol=1e-8, atol=1e-10, err_msg=name)


def test_weight_layouts_round_trip() -> None:
    from wgslgrad.bench.torch_peer import tfjs_params
    g = every_op_graph(1)
    params = random_params(g)
    model = TorchModel(g, params, torch.float64)
    assert tuple(model.weights["conv/filters"].shape) == (6, 3, 3, 3)          # OIHW
    assert tuple(model.weights["dw/depthwise_filter"].shape) == (12, 1, 2, 2)  # [C*M,1,kh,kw]
    assert tuple(model.weights["fc/weights"].shape) == (14, 126)               # Linear's [U,F]
    back = tfjs_params(model)
    for name, v in params.items():
        np.testing.assert_array_equal(back[name], v)
