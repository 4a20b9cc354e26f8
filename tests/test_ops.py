"""The op registry's coverage: every elementwise row (wgslgrad/ops/elementwise.py) and every op family's OpDef
(wgslgrad/ops/registry.py) has every facet, its DSL builtin and doc line, and is exercised by the kernel,
gradient and peer tests (collected from the op lists those tests run: their parametrize marks, the graphs they
build and the ops they name)."""
from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_autodiff
import test_extreme_values
import test_kernels
import test_kernels_backward
from op_rows import BINARY_OPS, UNARY_OPS, other_attrs
from peer_graphs import elementwise_graph, every_op_graph, sequence_graph

from wgslgrad.compiler import build
from wgslgrad.compiler.autodiff import grad
from wgslgrad.compiler.builtins import _ACTIVATIONS, BUILTINS
from wgslgrad.compiler.ir import (
    BACKWARD,
    OPTIMIZERS,
    Graph,
    InputAttrs,
    Op,
    attrs_type,
    op_attrs,
    print_graph,
)
from wgslgrad.ops.base import OpDef, ShapeError
from wgslgrad.ops.elementwise import BINARY_ROWS, UNARY_ROWS, Binary, Unary, UnaryGradAttrs
from wgslgrad.ops.registry import OPS as FAMILY_OPS

DOCS = (Path(__file__).resolve().parent.parent / "docs" / "dsl.md").read_text()


def _param_values(test: Any, argname: str) -> list[Any]:
    """The values a test is parametrized with for `argname` (the first name of a multi-name mark)."""
    out: list[Any] = []
    for mark in getattr(test, "pytestmark", []):
        if mark.name == "parametrize" and mark.args[0].split(",")[0].strip() == argname:
            out += [v[0] if "," in mark.args[0] else v for v in mark.args[1]]
    return out


def _ops(g: Graph) -> set[Op]:
    return {n.op for n in g.nodes}


@pytest.mark.parametrize("name", list(UNARY_ROWS))
def test_unary_row_has_every_facet(name: str) -> None:
    r: Unary = UNARY_ROWS[name]
    assert re.fullmatch(r"[a-z][a-z0-9_]*", r.name) and r.doc
    assert dataclasses.is_dataclass(r.attrs)
    assert all(f.default is not dataclasses.MISSING for f in dataclasses.fields(r.attrs)), "attributes need defaults"
    attrs = r.attrs()
    wgsl = r.wgsl_of(attrs).format(**{k: "1.0" for k in dataclasses.asdict(attrs)})
    assert "v" in re.findall(r"\b\w+\b", wgsl), "the WGSL expression is over v"
    assert {"vb"} <= set(re.findall(r"\b\w+\b", r.grad)), "the gradient is over va (saved value) and vb (dy)"
    x = np.linspace(0.5, 2.0, 7) if r.positive else np.linspace(-3.0, 3.0, 7)
    assert r.ref(x, attrs).shape == x.shape and r.ref(x, attrs).dtype == np.float64
    assert r.ref_grad(x, attrs).shape == x.shape
    assert r.torch and r.tfjs and r.flops >= 1
    assert (r.piecewise is None) == (not r.kinks), "a piecewise-linear op lists its kinks"
    if r.builtin:
        b = BUILTINS[name]
        assert b.params == ("x", *(f.name for f in dataclasses.fields(r.attrs)))
        assert re.search(rf"\b{name}\b", DOCS), f"docs/dsl.md does not mention {name}"
    if r.activation:
        assert _ACTIVATIONS[name][0] is Op[name.upper()]


def test_docs_list_every_activation() -> None:
    """docs/dsl.md's list of `activation=` names is the rows marked activation, in their order."""
    listed = re.search(r"`activation` is one of `([^`]*)`", DOCS)
    assert listed, "docs/dsl.md lists no activation= names"
    assert re.findall(r'"(\w+)"', listed.group(1)) == list(_ACTIVATIONS)


@pytest.mark.parametrize("name", list(BINARY_ROWS))
def test_binary_row_has_every_facet(name: str) -> None:
    r: Binary = BINARY_ROWS[name]
    assert build._TENSOR_OPS[r.symbol] == (name, Op[name.upper()])
    assert BUILTINS[name].params == ("a", "b")
    assert {"va", "vb"} <= set(re.findall(r"\b\w+\b", r.wgsl))
    a, b = np.linspace(1.0, 2.0, 4), np.linspace(2.0, 3.0, 4)
    assert r.ref(a, b).shape == (4,) and callable(r.grad) and len(inspect.signature(r.grad).parameters) == 1
    assert r.torch and r.tfjs and r.flops >= 1


def test_every_row_is_exercised() -> None:
    """Each row's op is in what the GPU kernel tests, the finite-difference tests and the peer tests run."""
    every = set(UNARY_OPS) | set(BINARY_OPS)
    runs = {
        "GPU forward kernels (test_kernels)": _ops(test_kernels.unary_graph())
        | set(_param_values(test_kernels.test_binary_broadcast, "op")),
        "GPU gradient kernels (test_kernels_backward)": {Op[f.upper()] for f in
                                                         _param_values(test_kernels_backward.test_unary_grad, "fn")}
        | {op for op in UNARY_OPS if UNARY_ROWS[op.name.lower()].linear} | set(BINARY_OPS),
        "finite differences (test_autodiff)": set(_param_values(test_autodiff.test_unary_grads, "op"))
        | set(_param_values(test_autodiff.test_binary_broadcasting_grads, "op")),
        "PyTorch and TF.js peers (peer_graphs.elementwise_graph)": _ops(elementwise_graph()),
        "extreme values on the GPU (test_extreme_values)": {Op[e.split("(")[0].upper()] for e in
                                                            test_extreme_values.ELEMENTWISE if "(" in e}
        | {Op.NEG} | set(BINARY_OPS),   # -x is neg; binary arithmetic is left out there on purpose
    }
    for where, ops in runs.items():
        assert every <= ops, f"{where} misses {sorted(o.name.lower() for o in every - ops)}"


@pytest.mark.parametrize("name, default", [(n, True) for n in UNARY_ROWS]
                         + [(n, False) for n, r in UNARY_ROWS.items() if dataclasses.fields(r.attrs)])
def test_unary_reference_and_derivative_match_pytorch(name: str, default: bool) -> None:
    """Each row's float64 reference and derivative against its PyTorch expression and PyTorch's autograd,
    over a wide range (off the kinks), at default attributes and (rows with attributes) at other values."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    import torch.nn.functional as F
    r = UNARY_ROWS[name]
    attrs = r.attrs() if default else other_attrs(r)
    x = np.geomspace(1e-3, 60.0, 801) if r.positive else np.linspace(-60.0, 60.0, 1600) + 0.0123
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = eval(f"lambda x, attrs: {r.torch}", {"torch": torch, "F": F})(xt, attrs)
    y.sum().backward()
    np.testing.assert_allclose(r.ref(x, attrs), y.detach().numpy(), rtol=1e-9, atol=1e-10)   # gelu: |u| > 15 cut
    saved = r.ref(x, attrs) if r.saves_output(attrs) else x
    np.testing.assert_allclose(r.ref_grad(saved, attrs), xt.grad.numpy(), rtol=1e-8, atol=1e-10)


TESTS = Path(__file__).resolve().parent
# the modules that run forward kernels on the GPU against numpy_ref, and those that check gradients against
# finite differences (check_grads), op by op
KERNEL_TESTS = ["test_kernels.py", "test_kernels_loops.py", "test_reduce_axes.py", "test_slicing.py", "test_lstm.py",
                "test_embedding.py", "test_dropout.py", "test_batch_norm.py", "test_sequence_ops.py", "test_gru.py"]
GRADIENT_TESTS = ["test_autodiff.py", "test_reduce_axes.py", "test_slicing.py", "test_lstm.py", "test_embedding.py",
                  "test_dropout.py", "test_batch_norm.py", "test_gru.py"]
# the modules that run backward kernels on the GPU against numpy_ref, op by op
BACKWARD_KERNEL_TESTS = ["test_kernels_backward.py", "test_kernels_backward_conv.py", "test_batch_norm.py",
                         "test_slicing.py", "test_sequence_ops.py"]


# the syntax that makes an op (OpDef.via), and how docs/dsl.md shows it
SYNTAX = {"x[a:b]": r"## Indexing and slicing"}


def _named_in(test_file: str) -> set[str]:
    """The ops a test module names (`Op.MAX_POOL`), lower case."""
    return {m.lower() for m in re.findall(r"\bOp\.([A-Z0-9_]+)\b", (TESTS / test_file).read_text())}


@pytest.mark.parametrize("name", list(FAMILY_OPS))
def test_family_op_has_every_facet(name: str) -> None:
    d: OpDef = FAMILY_OPS[name]
    assert d.name == name and d.doc and dataclasses.is_dataclass(d.attrs)
    assert all(callable(f) for f in (d.shape, d.ref, d.lower, d.flops))
    assert Op[name.upper()] in (BACKWARD if d.backward else OPTIMIZERS if d.optimizer else
                                set(Op) - BACKWARD - OPTIMIZERS)
    if d.optimizer:   # made by compiler.training from Train(...); the peers run their own optimizer
        assert not d.backward and d.grad is None and d.builtin is None and d.torch is None and d.tfjs is None
        assert all(f.default is not dataclasses.MISSING for f in dataclasses.fields(d.attrs)), "settings need defaults"
        return
    if d.backward:
        assert d.grad is None and d.builtin is None, "a backward op is made by autodiff only"
        return
    assert (callable(d.grad) != d.through_consumer) and callable(d.torch) and d.tfjs   # BN_STATS: BATCH_NORM's rule
    assert d.torch_layout in (None, "conv", "depthwise", "dense"), "a layout bench/torch_peer.to_torch_layout knows"
    for fn in d.more_builtins:   # separable_conv2d: depthwise's, with a conv2d
        other = fn.__name__.rstrip("_")
        assert BUILTINS[other].fn is fn and re.search(rf"\b{other}\(", DOCS), f"{other} is not a documented builtin"
    if d.builtin is None:   # made by other builtins (sum_axes: sum and mean with axis=) or syntax (slice: x[a:b])
        assert d.via and all(b in SYNTAX or BUILTINS[b] for b in d.via), f"{name} has no builtin and names none that makes it"
        assert all(re.search(SYNTAX[b], DOCS) for b in d.via if b in SYNTAX), f"docs/dsl.md does not show {d.via}"
        return
    builtin_name = d.builtin.__name__.rstrip("_")
    assert BUILTINS[builtin_name].fn is d.builtin
    assert re.search(rf"\b{builtin_name}\(", DOCS), f"docs/dsl.md does not show {builtin_name}()"


def test_every_family_op_is_exercised() -> None:
    """Forward ops: named by the GPU kernel tests and the finite-difference tests, and in the peers' graphs;
    backward ops: named by the GPU gradient-kernel tests, and made by autodiff from the peers' graphs;
    optimizer ops: named by the GPU training tests (test_train_session.py)."""
    made: set[Op] = set()
    for graph in (every_op_graph(2), sequence_graph(2)):   # the peer tests run both (peer_graphs.GRAPHS)
        assert graph.loss is not None
        grad(graph, graph.loss)
        made |= _ops(graph)
    for name, d in FAMILY_OPS.items():
        op = Op[name.upper()]
        if d.optimizer:   # its GPU kernel against its reference, from a fresh and from a later state
            assert name in _named_in("test_train_session.py"), f"no GPU training test names {name}"
        elif d.backward:
            assert name in set().union(*map(_named_in, BACKWARD_KERNEL_TESTS)) and op in made, name
        else:
            assert name in set().union(*map(_named_in, KERNEL_TESTS)), f"no GPU kernel test names {name}"
            assert name in set().union(*map(_named_in, GRADIENT_TESTS)), f"no finite-difference test names {name}"
            assert op in made, f"{name} is not in peer_graphs.every_op_graph or sequence_graph"


def test_adam_reference_matches_pytorch() -> None:
    """ADAM's float64 reference (ops/optimizer.py), one step from a later state, against torch.optim.Adam: TF's
    epsilon (outside the bias correction) is PyTorch's eps / sqrt(1 - beta2^t), in one step from a given state."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    d = FAMILY_OPS["adam"]
    seed = int(np.random.SeedSequence().entropy % 2**31)
    print("seed", seed)
    r = np.random.default_rng(seed)
    a = d.attrs(size=10, lr=0.01, beta1=0.8, beta2=0.99, eps=1e-3)
    g1, g2 = r.standard_normal(3), r.standard_normal(5)   # placed at 0 and 4 (4-aligned), zeros between
    p, m, v, t = r.standard_normal(10), 0.1 * r.standard_normal(10), r.uniform(0.01, 0.1, 10), 5
    got = d.ref(a, (10,), g1, g2, params=p, m=m, v=v, t=t)
    grad = np.concatenate([g1, [0.0], g2, [0.0]])
    pt = torch.tensor(p, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([pt], lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps / np.sqrt(1 - a.beta2**t))
    opt.state[pt] = {"step": torch.tensor(float(t - 1)), "exp_avg": torch.tensor(m), "exp_avg_sq": torch.tensor(v)}
    pt.grad = torch.tensor(grad)
    opt.step()
    np.testing.assert_allclose(got, pt.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert d.shape([(3,), (5,)], a) == (10,) and d.flops([], (10,), a) == 120


def test_shape_family_moves_data_only() -> None:
    """The shape family (ops/shape.py): copies count no FLOPs and their gradients one per element read, a
    reshape is a view (its lowering makes no kernel), and each reference is NumPy's own operation."""
    s = FAMILY_OPS
    x = np.arange(24.0).reshape(2, 3, 4)
    cat, sl, st = s["concat"].attrs(), s["slice"].attrs(axis=1, start=1, stop=3), s["stack"].attrs(axis=3)
    assert s["concat"].shape([(2, 3, 4), (2, 3, 1)], cat) == (2, 3, 5) and s["concat"].flops([], (2, 3, 5), cat) == 0
    assert s["slice"].shape([x.shape], sl) == (2, 2, 4) and s["slice"].flops([x.shape], (2, 2, 4), sl) == 0
    np.testing.assert_array_equal(s["slice"].ref(sl, (2, 2, 4), x), x[:, 1:3])
    np.testing.assert_array_equal(s["stack"].ref(st, (2, 3, 4, 2), x, -x), np.stack([x, -x], axis=3))
    grad = s["slice_grad"].attrs(axis=1, start=1, size=3)
    dx = s["slice_grad"].ref(grad, (2, 3, 4), x[:, 1:3])
    np.testing.assert_array_equal(dx[:, 1:3], x[:, 1:3])
    assert not dx[:, 0].any() and s["slice_grad"].flops([(2, 2, 4)], (2, 3, 4), grad) == 16
    last = s["slice_last"].attrs(start=1, stop=3)
    np.testing.assert_array_equal(s["slice_last"].ref(last, (2, 3, 2), x), x[..., 1:3])
    reshape = s["reshape"].attrs(shape=(6, 4))
    assert s["reshape"].lower(None, 0) == [] and s["reshape"].flops([x.shape], (6, 4), reshape) == 0
    with pytest.raises(ShapeError, match=r"cannot reshape \[2,3,4\] to \[5,5\]"):
        s["reshape"].shape([x.shape], s["reshape"].attrs(shape=(5, 5)))


def test_every_node_holds_its_ops_typed_attributes() -> None:
    """Node.attrs is an instance of its op's frozen dataclass (ir.attrs_type: the family's OpDef.attrs, the
    row's, or the IR's own for leaves and UNARY_GRAD), in forward graphs and in the backward nodes autodiff
    appends; it hashes (the builder's common-subexpression key) and cannot be changed in place."""
    for op in Op:
        kind = attrs_type(op)
        assert dataclasses.is_dataclass(kind) and kind.__dataclass_params__.frozen, op  # type: ignore[attr-defined]
    for g in (every_op_graph(2), sequence_graph(2)):
        grad(g, g.loss)   # type: ignore[arg-type]
        for n in g.nodes:
            assert type(n.attrs) is attrs_type(n.op), f"{n.op.name}: {type(n.attrs).__name__}"
            hash(n.attrs)
    leaky = next(n for n in every_op_graph(2).nodes if n.op is Op.LEAKY_RELU)
    with pytest.raises(dataclasses.FrozenInstanceError):
        leaky.attrs.alpha = 0.5   # type: ignore[misc]


def test_attributes_are_checked_where_a_node_is_made() -> None:
    """A wrong attribute name is a TypeError, an instance of another op's class an AssertionError: compiler
    bugs, caught where the node is made."""
    with pytest.raises(TypeError, match="strides"):
        op_attrs(Op.MAX_POOL, size=(2, 2), strides=(2, 2), pad=(0, 0, 0, 0))
    g = Graph()
    x = g.add(Op.INPUT, (), InputAttrs("x"), shape=(1, 4, 4, 3))
    with pytest.raises(AssertionError, match="MAX_POOL takes PoolAttrs, got Window"):
        g.add(Op.MAX_POOL, (x,), op_attrs(Op.CONV2D, stride=(2, 2), pad=(0, 0, 0, 0)))
    with pytest.raises(TypeError):
        g.add(Op.PARAM, (), shape=(3,))   # a parameter has no default name
    y = g.add(Op.MAX_POOL, (x,), op_attrs(Op.MAX_POOL, size=(2, 2), stride=(2, 2), pad=(0, 0, 0, 0)))
    assert g.nodes[y].shape == (1, 2, 2, 3)
    dy = g.add(Op.INPUT, (), InputAttrs("dy"), shape=(1, 4, 4, 3))
    g.add(Op.UNARY_GRAD, (x, dy), UnaryGradAttrs("leaky_relu", UNARY_ROWS["leaky_relu"].attrs(alpha=0.25)))
    assert print_graph(g).splitlines()[1:4:2] == [   # the forward row's attributes printed with its name
        "%1 = max_pool[pad=(0,0,0,0),size=(2,2),stride=(2,2)] %0 : f32[1,2,2,3]",
        "%3 = unary_grad[alpha=0.25,fn=leaky_relu] %0 %2 : f32[1,4,4,3]"]
