"""The sequence family's OpDefs (wgslgrad/ops/sequence.py) one by one: each forward kernel and each gradient
kernel (EMBEDDING_DW, LSTM_CELL_GRAD, GRU_CELL_GRAD) on the GPU in float32 against the float64 reference, on fresh seeded
values, and the declarations' shape rules, FLOPs and PyTorch hooks against what they mean."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from gpu_check import compare_gradients_on_gpu, compare_on_gpu, fresh_rng, inp, param

from wgslgrad.compiler import numpy_ref
from wgslgrad.compiler.autodiff import grad
from wgslgrad.compiler.ir import ConstAttrs, Graph, Op
from wgslgrad.compiler.lower import lower
from wgslgrad.ops.base import ShapeError
from wgslgrad.ops.registry import OPS


def _cell_graph(op: Op, rows: int, u: int, gates: int, with_state: bool) -> Graph:
    """z [rows, gates*u] from a trainable parameter (and a trainable previous state), the cell, a loss that
    weighs every output differently (so every output's gradient differs)."""
    g = Graph(batch=rows)
    z = param(g, "z", (rows, gates * u))
    srcs = (z, param(g, "state", (rows, u))) if with_state else (z,)
    y = g.add(op, srcs)
    values = tuple(np.linspace(-1.0, 2.0, g.nodes[y].size))
    w = g.add(Op.CONST, (), ConstAttrs(values), shape=g.nodes[y].shape)
    g.outputs["y"] = y
    g.loss = g.add(Op.SUM, (g.add(Op.MUL, (y, w)),))
    return g


@pytest.mark.parametrize("with_state", [False, True])
def test_gru_cell_kernels_on_gpu(device, with_state: bool) -> None:
    """With h_prev, hg per row; without, the first step's: hg one row (the recurrent bias) for every row."""
    rng = fresh_rng()
    g = Graph(batch=5)
    xg = param(g, "xg", (5, 9))
    srcs = (xg, param(g, "hg", (5, 9)), param(g, "h", (5, 3))) if with_state else (xg, param(g, "hg", (9,)))
    y = g.add(Op.GRU_CELL, srcs)
    w = g.add(Op.CONST, (), ConstAttrs(tuple(np.linspace(-1.0, 2.0, 15))), shape=(5, 3))
    g.outputs["y"] = y
    g.loss = g.add(Op.SUM, (g.add(Op.MUL, (y, w)),))
    params = {k: (2 * rng.standard_normal(g.nodes[i].shape)).astype(np.float32) for k, i in g.params.items()}
    compare_on_gpu(device, g, {}, params)
    assert Op.GRU_CELL_GRAD in _backward_ops(g)
    compare_gradients_on_gpu(device, lower(g, training=True), g, {}, params)


def _embedding_graph(rng: np.random.Generator) -> tuple[Graph, dict[str, np.ndarray]]:
    g = Graph(batch=3)
    ids = inp(g, "ids", (3, 5))
    e = g.add(Op.EMBEDDING, (ids, param(g, "table", (7, 4))))
    w = g.add(Op.CONST, (), ConstAttrs(tuple(np.linspace(-1.0, 2.0, 60))), shape=(3, 5, 4))
    g.outputs["e"] = e
    g.loss = g.add(Op.SUM, (g.add(Op.MUL, (e, w)),))
    return g, {"ids": rng.integers(0, 7, (3, 5)).astype(np.float32)}   # repeats: rows add into one


def _backward_ops(g: Graph) -> set[Op]:
    gg = replace(g, nodes=list(g.nodes), params=dict(g.params))
    assert gg.loss is not None
    grad(gg, gg.loss)
    return {n.op for n in gg.nodes[len(g.nodes):]}


@pytest.mark.parametrize("with_state", [False, True])
def test_lstm_cell_kernels_on_gpu(device, with_state: bool) -> None:
    rng = fresh_rng()
    g = _cell_graph(Op.LSTM_CELL, 5, 3, 4, with_state)
    params = {k: (2 * rng.standard_normal(g.nodes[i].shape)).astype(np.float32) for k, i in g.params.items()}
    compare_on_gpu(device, g, {}, params)
    assert Op.LSTM_CELL_GRAD in _backward_ops(g)
    compare_gradients_on_gpu(device, lower(g, training=True), g, {}, params)


def test_embedding_kernels_on_gpu(device) -> None:
    rng = fresh_rng()
    g, inputs = _embedding_graph(rng)
    params = {"table": rng.standard_normal((7, 4)).astype(np.float32)}
    compare_on_gpu(device, g, inputs, params)
    assert Op.EMBEDDING_DW in _backward_ops(g)
    compare_gradients_on_gpu(device, lower(g, training=True), g, inputs, params)


def test_shape_rules_and_errors() -> None:
    d = OPS["lstm_cell"]
    assert d.shape([(2, 12)], d.attrs()) == (2, 6) and d.shape([(2, 12), (2, 3)], d.attrs()) == (2, 6)
    for bad in ([(2, 10)], [(2, 12), (2, 4)], [(2, 3, 4)]):
        with pytest.raises(ShapeError, match="an LSTM cell takes z"):
            d.shape(bad, d.attrs())
    assert OPS["lstm_cell_grad"].shape([(2, 12), (2, 3), (2, 6)], d.attrs()) == (2, 15)
    assert OPS["lstm_cell_grad"].shape([(2, 12), (2, 6)], d.attrs()) == (2, 12)
    r = OPS["gru_cell"]
    assert r.shape([(2, 9), (9,)], r.attrs()) == (2, 3) and r.shape([(2, 9), (2, 9), (2, 3)], r.attrs()) == (2, 3)
    for bad in ([(2, 8), (8,)], [(2, 9), (9,), (2, 3)], [(2, 9), (2, 9), (2, 4)], [(2, 9), (3, 9)], [(2, 9)]):
        with pytest.raises(ShapeError, match="a GRU cell takes"):
            r.shape(bad, r.attrs())
    assert OPS["gru_cell_grad"].shape([(2, 9), (2, 9), (2, 3), (2, 3)], r.attrs()) == (2, 21)
    assert OPS["gru_cell_grad"].shape([(2, 9), (9,), (2, 3)], r.attrs()) == (2, 18)
    e = OPS["embedding"]
    assert e.shape([(2, 5), (7, 3)], e.attrs()) == (2, 5, 3)
    with pytest.raises(ShapeError, match=r"an embedding table is \[vocab, dim\]"):
        e.shape([(2, 5), (7,)], e.attrs())
    dw = OPS["embedding_dw"]
    assert dw.shape([(2, 5), (2, 5, 3)], dw.attrs(vocab=7)) == (7, 3)
    assert dw.flops([(2, 5), (2, 5, 3)], (7, 3), dw.attrs(7)) == 21 * 10   # every entry scans every id


def test_embedding_dw_reference_adds_repeated_ids() -> None:
    rng = fresh_rng()
    ids = np.array([[1.0, 4.0, 1.0]])
    dy = rng.standard_normal((1, 3, 2))
    d = OPS["embedding_dw"]
    got = d.ref(d.attrs(6), (6, 2), ids, dy)
    np.testing.assert_array_equal(got[1], dy[0, 0] + dy[0, 2])
    np.testing.assert_array_equal(got[4], dy[0, 1])
    assert not got[[0, 2, 3, 5]].any()


def test_torch_hooks_match_the_references() -> None:
    """The OpDefs' PyTorch hooks (what bench/torch_peer.py runs) against their float64 references."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    from types import SimpleNamespace
    rng = fresh_rng()
    h = SimpleNamespace(torch=torch)
    z, c = rng.standard_normal((3, 8)), rng.standard_normal((3, 2))
    d = OPS["lstm_cell"]
    for srcs in ([z], [z, c]):
        got = d.torch(h, d.attrs(), [torch.tensor(s) for s in srcs], None).numpy()
        np.testing.assert_allclose(got, d.ref(d.attrs(), (3, 4), *srcs), rtol=1e-12, atol=1e-14)
    r = OPS["gru_cell"]
    xg, hg, hp = rng.standard_normal((3, 6)), rng.standard_normal((3, 6)), rng.standard_normal((3, 2))
    for srcs in ([xg, hg[0]], [xg, hg, hp]):
        got = r.torch(h, r.attrs(), [torch.tensor(s) for s in srcs], None).numpy()
        np.testing.assert_allclose(got, r.ref(r.attrs(), (3, 2), *srcs), rtol=1e-12, atol=1e-14)
    e = OPS["embedding"]
    ids, table = rng.integers(0, 5, (2, 3)).astype(np.float64), rng.standard_normal((5, 4))
    got = e.torch(h, e.attrs(), [torch.tensor(ids), torch.tensor(table)], None).numpy()
    np.testing.assert_array_equal(got, numpy_ref.evaluate(_table_graph(), {"ids": ids}, {"table": table})[-1])


def _table_graph() -> Graph:
    g = Graph(batch=2)
    g.add(Op.EMBEDDING, (inp(g, "ids", (2, 3)), param(g, "table", (5, 4))))
    return g
