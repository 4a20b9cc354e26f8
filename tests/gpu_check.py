"""What the kernel tests share: building graphs by hand, and one comparison of a lowered graph run on the
GPU (float32) against the NumPy float64 interpreter of the IR (numpy_ref)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from wgslgrad.compiler import numpy_ref
from wgslgrad.compiler.autodiff import grad
from wgslgrad.compiler.ir import Graph, InputAttrs, Op, ParamAttrs, conv_out
from wgslgrad.compiler.lower import lower
from wgslgrad.compiler.program import Program
from wgslgrad.runtime.session import Session


def inp(g: Graph, name: str, shape: tuple[int, ...]) -> int:
    g.inputs[name] = g.add(Op.INPUT, (), InputAttrs(name), shape=shape)
    return g.inputs[name]


def param(g: Graph, name: str, shape: tuple[int, ...]) -> int:
    g.params[name] = g.add(Op.PARAM, (), ParamAttrs(name, fan_in=1, fan_out=1), shape=shape)
    return g.params[name]


def pads(h: int, w: int, k: int, s: int, padding: str) -> tuple[int, int, int, int]:
    """TF's (top, bottom, left, right) padding of a k x k window at stride s."""
    _, t, b = conv_out(h, k, s, padding)
    _, l, r = conv_out(w, k, s, padding)
    return (t, b, l, r)


def fresh_rng() -> np.random.Generator:
    """A generator from a fresh seed, printed so that a failure can be replayed."""
    seed = int(np.random.SeedSequence().entropy % 2**63)
    print(f"rng seed {seed}")
    return np.random.default_rng(seed)


def normal(g: Graph, leaves: dict[str, int], rng: np.random.Generator, scale: float = 1.0
           ) -> dict[str, np.ndarray]:
    """float32 values, standard normal times `scale`, for each named leaf (g.inputs or g.params)."""
    return {k: (scale * rng.standard_normal(g.nodes[i].shape)).astype(np.float32) for k, i in leaves.items()}


def compare_on_gpu(device, g: Graph, inputs: dict[str, np.ndarray], params: dict[str, np.ndarray] | None = None,
                   rtol: float = 1e-4, **lower_args) -> tuple[Program, dict[str, np.ndarray]]:
    """Run every output of `g` (and its loss) on the GPU and compare with numpy_ref:
    max|gpu - ref| <= rtol * max|ref| for each."""
    params = params or {}
    program = lower(g, **lower_args)
    session = Session(program, device)
    if params:
        session.set_params(params)
    out = session.run(inputs)
    ref = numpy_ref.evaluate(g, inputs, params, np.float64)
    wanted = dict(g.outputs) | ({"loss": g.loss} if g.loss is not None else {})
    assert set(out) == set(wanted)
    for name, i in wanted.items():
        r = ref[i]
        assert out[name].shape == r.shape, name
        err = np.max(np.abs(out[name] - r)) / max(np.max(np.abs(r)), 1e-30)
        assert err < rtol, f"{name} (%{i} {g.nodes[i].op.name}): relative error {err:.2e}"
    return program, out


def reference_gradients(g: Graph, inputs: dict[str, np.ndarray], params: dict[str, np.ndarray]
                        ) -> tuple[float, dict[str, np.ndarray]]:
    """The float64 loss and autodiff gradients (numpy_ref), for every trainable parameter."""
    gg = replace(g, nodes=list(g.nodes), params=dict(g.params))
    assert gg.loss is not None
    grads = grad(gg, gg.loss)
    vals = numpy_ref.evaluate(gg, inputs, params, np.float64)
    return float(vals[gg.loss]), {k: vals[i] for k, i in grads.items()}


def compare_gradients_on_gpu(device, program: Program, g: Graph, inputs: dict[str, np.ndarray],
                             params: dict[str, np.ndarray], rtol: float = 1e-4, note: str = "") -> None:
    """Run the training step `program` of `g` on the GPU and compare every parameter gradient with the
    float64 reference: max|gpu - ref| <= rtol * max|ref| for each."""
    from wgslgrad.runtime.session import Session

    _, ref = reference_gradients(g, inputs, params)
    session = Session(program, device)
    session.set_params(params)
    got = session.gradients(inputs)
    for name, r in ref.items():
        err = np.max(np.abs(got[name] - r)) / max(np.max(np.abs(r)), 1e-30)
        assert err < rtol, f"{name}{note}: relative error {err:.2e}"


def phase_taps(phases: list[dict], size: int, k: int, s: int, pad: int) -> list[tuple[int, int, int]]:
    """The (h, ky, oy) that conv_dx_phases' phases enumerate along one axis, asserting each lies in range and
    satisfies h = oy*s + ky - pad; only oy inside the output is kept."""
    out = (size + 2 * pad - k) // s + 1
    got = []
    for p in phases:
        nty = p["depth"] // p["ntx"] if p["depth"] else 0
        for hh in range(p["hp"]):
            for ti in range(nty):
                h, ky, oy = p["h0"] + hh * s, p["ry"] + ti * s, p["qy"] + hh - ti
                assert h < size and ky < k and h == oy * s + ky - pad
                if 0 <= oy < out:
                    got.append((h, ky, oy))
    return got
