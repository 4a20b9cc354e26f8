"""Program data, arena planning, parameter initialisation and the Session's contract (shapes, outputs, stats)."""
import numpy as np
import pytest

from wgslgrad.compiler import memory, numpy_ref
from wgslgrad.compiler.ir import ConstAttrs, Graph, InputAttrs, Op, ParamAttrs, op_attrs
from wgslgrad.compiler.lower import lower
from wgslgrad.compiler.program import Program
from wgslgrad.runtime import device as device_module
from wgslgrad.runtime.init import init_params
from wgslgrad.runtime.session import Session


def small_model(batch=2, frozen=False):
    """conv (stride 2, same) -> relu -> flatten -> dense -> output `y`, loss mse(y, target)."""
    g = Graph(batch=batch)
    g.inputs["image"] = x = g.add(Op.INPUT, (), InputAttrs("image"), shape=(batch, 9, 9, 3))
    g.inputs["target"] = t = g.add(Op.INPUT, (), InputAttrs("target"), shape=(batch, 6))

    def param(name, shape, init, fan_in=0, fan_out=0, trainable=True):
        g.params[name] = g.add(Op.PARAM, (), ParamAttrs(name, init, fan_in, fan_out, trainable), shape=shape)
        return g.params[name]

    w = param("conv/filters", (3, 3, 3, 5), "glorot_normal", 27, 45, trainable=not frozen)
    b = param("conv/bias", (5,), "zeros", trainable=not frozen)
    c = g.add(Op.RELU, (g.add(Op.CONV2D, (x, w, b), op_attrs(Op.CONV2D, stride=(2, 2), pad=(1, 1, 1, 1))),))
    flat = g.add(Op.RESHAPE, (c,), op_attrs(Op.RESHAPE, shape=(batch, 125)))
    y = g.add(Op.DENSE, (flat, param("dense/weights", (125, 6), "glorot_normal", 125, 6),
                         param("dense/bias", (6,), "zeros")))
    g.outputs["y"] = y
    g.loss = g.add(Op.MSE, (y, t))
    return g


def random_inputs(g, rng=None):
    rng = rng or np.random.default_rng()
    return {k: rng.standard_normal(g.nodes[i].shape).astype(np.float32) for k, i in g.inputs.items()}


# ---- no GPU needed ----

def test_program_json_round_trip():
    p = lower(small_model())
    q = Program.from_json(p.to_json())
    assert q == p
    assert q.to_json() == p.to_json()


def test_params_are_packed_trainable_first_and_aligned():
    g = small_model(frozen=True)
    p = lower(g)
    slots = p.params
    assert list(slots) == list(g.params)   # the graph's order, whatever the offsets
    assert slots["dense/weights"].offset == 0 and slots["dense/bias"].offset == 752   # 750 rounded up to 4
    assert slots["conv/filters"].offset > slots["dense/bias"].offset and not slots["conv/filters"].trainable
    assert all(s.offset % memory.ALIGN == 0 for s in slots.values())
    assert p.trainable_elements == 758


def test_arena_reuses_memory_on_a_chain():
    g = Graph(batch=2)
    g.inputs["x"] = x = g.add(Op.INPUT, (), InputAttrs("x"), shape=(2, 8, 8, 4))
    for _ in range(6):
        x = g.add(Op.RELU, (x,))
    g.outputs["y"] = x
    p = lower(g)
    assert p.activation_elements == 6 * 512
    assert p.buffers["arena"] == 2 * 512      # ping-pong between two slots


def random_intervals(rng: np.random.Generator, max_size: int) -> list[memory.Interval]:
    """40 values of 1 to max_size - 1 elements, each alive from a step below 30 for up to 7 more steps."""
    values = []
    for _ in range(40):
        start = int(rng.integers(0, 30))
        values.append(memory.Interval(int(rng.integers(1, max_size)), start, start + int(rng.integers(0, 8))))
    return values


def test_memory_plan_never_overlaps_live_values():
    rng = np.random.default_rng()
    for _ in range(20):
        values = random_intervals(rng, 100)
        offsets, size = memory.plan(values)
        memory.check(values, offsets)
        assert all(o % memory.ALIGN == 0 and o + v.size <= size for o, v in zip(offsets, values))
        assert size < sum(memory.align(v.size) for v in values)


def test_memory_plan_in_chunks_keeps_each_value_inside_one():
    rng = np.random.default_rng()
    for _ in range(20):
        values = random_intervals(rng, 64)
        offsets, _ = memory.plan(values, chunk=64)
        memory.check(values, offsets)
        assert all(o // 64 == (o + memory.align(v.size) - 1) // 64 for o, v in zip(offsets, values))
        where, tops = memory.split(offsets, [v.size for v in values], 64)
        assert all(off + v.size <= tops[k] <= 64 for (k, off), v in zip(where, values))


def test_a_value_larger_than_a_buffer_binds_is_refused():
    g = Graph(batch=64)
    g.inputs["x"] = x = g.add(Op.INPUT, (), InputAttrs("x"), shape=(64, 8, 8, 4))
    g.outputs["y"] = g.add(Op.RELU, (x,), scope="relu_0")
    with pytest.raises(ValueError, match=r"relu_0 \(\[64,8,8,4\]\) needs 0\.1 MiB, more than one buffer binds"):
        lower(g, arena_chunk=1024)


def test_init_params_glorot_normal_and_zero_bias():
    g = Graph()
    g.params["w"] = g.add(Op.PARAM, (), ParamAttrs("w", fan_in=300, fan_out=500), shape=(300, 500))
    g.params["b"] = g.add(Op.PARAM, (), ParamAttrs("b", "zeros"), shape=(500,))
    params = init_params(g, seed=3)
    w = params["w"]
    std = np.sqrt(2 / 800)
    assert w.dtype == np.float32 and w.shape == (300, 500)
    assert abs(w.std() / std - 1) < 0.02 and abs(w.mean()) < 0.02 * std
    assert np.abs(w).max() <= 2 * std / 0.8796 + 1e-6                      # truncated at two std
    assert not params["b"].any()
    assert np.array_equal(init_params(g, seed=3)["w"], w)
    assert not np.array_equal(init_params(g, seed=4)["w"], w)
    model = small_model()
    a, b = init_params(model, seed=1), init_params(lower(model), seed=1)   # Graph and Program agree
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_no_adapter_error_says_how_to_fix(monkeypatch):
    wgpu = pytest.importorskip("wgpu")
    monkeypatch.setattr(wgpu.gpu, "request_adapter_sync", lambda **kw: None)
    with pytest.raises(device_module.NoAdapterError, match="mesa-vulkan-drivers"):
        device_module.get_device(cached=False)


# ---- on the GPU ----

@pytest.mark.gpu
def test_session_runs_forward_and_loss(device):
    g = small_model()
    session = Session(lower(g), device)
    session.init_params(seed=0)
    params = session.get_params()
    assert not params["conv/bias"].any() and params["conv/filters"].std() > 0
    inputs = random_inputs(g)
    out = session.run(inputs)
    ref = numpy_ref.evaluate(g, inputs, params)
    assert set(out) == {"y", "loss"} and out["loss"].shape == ()
    np.testing.assert_allclose(out["y"], ref[g.outputs["y"]], rtol=1e-4, atol=1e-5 * np.abs(ref[g.outputs["y"]]).max())
    np.testing.assert_allclose(out["loss"], ref[g.loss], rtol=1e-4)
    # without the target, the loss is left out; the same program, the same buffers
    only_y = session.run({"image": inputs["image"]})
    assert set(only_y) == {"y"} and np.array_equal(only_y["y"], out["y"])
    assert np.array_equal(session.run(inputs)["y"], out["y"])    # repeatable


@pytest.mark.gpu
def test_set_get_params_round_trip(device):
    g = small_model()
    session = Session(lower(g), device)
    rng = np.random.default_rng()
    values = {k: rng.standard_normal(g.nodes[i].shape).astype(np.float32) for k, i in g.params.items()}
    session.set_params(values)
    got = session.get_params()
    assert all(np.array_equal(got[k], values[k]) for k in values)
    with pytest.raises(ValueError, match=r"\[3,3,3,4\].*\[3,3,3,5\]"):
        session.set_params({"conv/filters": np.zeros((3, 3, 3, 4))})
    with pytest.raises(KeyError, match="nope"):
        session.set_params({"nope": np.zeros(3)})


@pytest.mark.gpu
def test_wrong_input_shape_names_both_shapes(device):
    g = small_model()
    session = Session(lower(g), device)
    with pytest.raises(ValueError, match=r"image.*\[9,9,3\].*\[2,9,9,3\]"):
        session.run({"image": np.zeros((9, 9, 3), np.float32)})
    with pytest.raises(ValueError, match=r"\[3,9,9,3\].*\[2,9,9,3\]"):
        session.run({"image": np.zeros((3, 9, 9, 3), np.float32)})
    with pytest.raises(ValueError, match="unknown input labels"):
        session.run({"image": np.zeros((2, 9, 9, 3)), "labels": np.zeros((2, 6))})
    with pytest.raises(ValueError, match="output y needs input image"):
        session.run({"target": np.zeros((2, 6))})


@pytest.mark.gpu
def test_round_tripped_program_runs_the_same(device):
    g = small_model()
    p = lower(g)
    a, b = Session(p, device), Session(Program.from_json(p.to_json()), device)
    a.init_params(seed=5)
    b.init_params(seed=5)
    inputs = random_inputs(g)
    assert np.array_equal(a.run(inputs)["y"], b.run(inputs)["y"])


@pytest.mark.gpu
def test_stats(device):
    g = small_model()
    p = lower(g)
    session = Session(p, device)
    s = session.stats()
    assert s["dispatches"] == len(p.kernels) == 3      # conv+relu (fused), dense, mse (reshape is free)
    assert s["total_bytes"] == sum(s["buffer_bytes"].values())
    assert set(s["buffer_bytes"]) == {"params", "arena", "input:image", "input:target", "staging"}
    assert s["buffers"] == 5 and s["pipelines"] == 3 and s["pipeline_seconds"] > 0
    assert s["arena_bytes"] <= s["activation_bytes_without_reuse"]


@pytest.mark.gpu
def test_outputs_may_be_leaves_and_views(device):
    g = Graph(batch=2)
    g.inputs["x"] = x = g.add(Op.INPUT, (), InputAttrs("x"), shape=(2, 3))
    g.params["w"] = w = g.add(Op.PARAM, (), ParamAttrs("w", "zeros", trainable=False), shape=(3, 2))
    g.outputs["x"] = x
    g.outputs["w_flat"] = g.add(Op.RESHAPE, (w,), op_attrs(Op.RESHAPE, shape=(6,)))
    g.outputs["c"] = g.add(Op.CONST, (), ConstAttrs((7.0,)), shape=(2, 2))
    session = Session(lower(g), device)
    wv = np.arange(6, dtype=np.float32).reshape(3, 2)
    session.set_params({"w": wv})
    xv = np.random.default_rng().standard_normal((2, 3)).astype(np.float32)
    out = session.run({"x": xv})
    assert session.stats()["dispatches"] == 0
    assert np.array_equal(out["x"], xv) and np.array_equal(out["w_flat"], wv.reshape(6))
    assert np.array_equal(out["c"], np.full((2, 2), 7.0))
