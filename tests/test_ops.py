"""The op registry's coverage: every elementwise row (wgslgrad/ops/elementwise.py) has every facet, its DSL
builtin and doc line, and is exercised by the kernel, gradient and peer tests (collected from the op lists
those tests run: their parametrize marks and the graphs they build)."""
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
from op_rows import BINARY_OPS, UNARY_OPS
from peer_graphs import elementwise_graph

from wgslgrad.compiler import build
from wgslgrad.compiler.builtins import _ACTIVATIONS, BUILTINS
from wgslgrad.compiler.ir import Graph, Op
from wgslgrad.ops.elementwise import BINARY_ROWS, UNARY_ROWS, Binary, Unary

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


@pytest.mark.parametrize("name", list(UNARY_ROWS))
def test_unary_reference_and_derivative_match_pytorch(name: str) -> None:
    """Each row's float64 reference and derivative against its PyTorch expression and PyTorch's autograd,
    over a wide range (off the kinks), at default attributes."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    import torch.nn.functional as F
    r = UNARY_ROWS[name]
    attrs = r.attrs()
    x = np.geomspace(1e-3, 60.0, 801) if r.positive else np.linspace(-60.0, 60.0, 1600) + 0.0123
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = eval(f"lambda x, attrs: {r.torch}", {"torch": torch, "F": F})(xt, attrs)
    y.sum().backward()
    np.testing.assert_allclose(r.ref(x, attrs), y.detach().numpy(), rtol=1e-9, atol=1e-10)   # gelu: |u| > 15 cut
    saved = r.ref(x, attrs) if r.saves_output(attrs) else x
    np.testing.assert_allclose(r.ref_grad(saved, attrs), xt.grad.numpy(), rtol=1e-8, atol=1e-10)
