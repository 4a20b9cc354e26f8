"""runtime.wgpu_raw: the run and step hot path in direct wgpu-native calls gives exactly what wgpu-py's public
API gives, makes one submit per call, and reports a failed mapping instead of hanging.

Inputs are fresh random values each run; a failing test prints its seed.
"""
from __future__ import annotations

import numpy as np
import pytest
import wgpu

from wgslgrad.compiler.frontend import compile_spec
from wgslgrad.compiler.lower import lower
from wgslgrad.runtime import wgpu_raw
from wgslgrad.runtime.init import init_params
from wgslgrad.runtime.session import Session

pytestmark = pytest.mark.gpu

CNN = """
image = Input(9, 9, 3)
label = Input(5)
x = conv2d(image, 4, kernel=3, stride=2, activation="relu")
x = max_pool(x, 2, padding="same")
logits = dense(x, 5)
Output(logits)
Output(softmax(logits), name="probabilities")
Train(loss=softmax_cross_entropy(logits, label), batch=3)
"""


@pytest.fixture
def rng() -> np.random.Generator:
    seed = int(np.random.SeedSequence().entropy % 2**63)
    print(f"rng seed {seed}")
    return np.random.default_rng(seed)


def _batches(g, rng, n):
    out = []
    for _ in range(n):
        labels = rng.dirichlet(np.ones(5), size=3).astype(np.float32)
        out.append({"image": rng.uniform(0, 1, (3, 9, 9, 3)).astype(np.float32), "label": labels})
    return out


def _train(device, g, batches, ring=3):
    """Every step's (step, loss), polled after each step as a training loop does, then the outputs of a run
    and the parameters."""
    session = Session(lower(g, training=True), device, ring=ring)
    session.set_params(init_params(g, seed=1))
    losses = []
    for batch in batches:
        session.step(batch, 0.01)
        losses += session.poll()
    losses += session.drain()
    return losses, session.run({"image": batches[0]["image"]}), session.get_params()


def test_raw_path_is_in_use():
    """wgpu-py 0.32 (the pinned version) has everything the direct calls need."""
    assert wgpu_raw.RAW


def test_direct_calls_match_the_public_api(device, rng, monkeypatch):
    """The same steps through the direct calls and through wgpu-py's public API: identical losses, outputs
    and parameters, bit for bit (the same kernels in the same order)."""
    g = compile_spec(CNN)
    batches = _batches(g, rng, 7)
    raw = _train(device, g, batches)
    monkeypatch.setattr(wgpu_raw, "RAW", False)
    public = _train(device, g, batches)
    assert [s for s, _ in raw[0]] == [s for s, _ in public[0]] == list(range(1, 8))
    assert [v for _, v in raw[0]] == [v for _, v in public[0]]
    for name in raw[1]:
        np.testing.assert_array_equal(raw[1][name], public[1][name], err_msg=name)
    for name in raw[2]:
        np.testing.assert_array_equal(raw[2][name], public[2][name], err_msg=name)


def _count(monkeypatch, cls, name, counts):
    orig = getattr(cls, name)

    def counted(*a, **kw):
        counts[name] = counts.get(name, 0) + 1
        return orig(*a, **kw)
    monkeypatch.setattr(cls, name, counted)


def test_one_submit_and_no_wgpu_py_mapping_per_call(device, rng, monkeypatch):
    """A run and a step are one submit each; neither maps through wgpu-py (whose poll thread would stall
    the next submit), and a run makes no empty submit before its mapping."""
    from wgpu.backends import wgpu_native as wn

    g = compile_spec(CNN)
    batch = _batches(g, rng, 1)[0]
    infer = Session(lower(g), device)
    infer.set_params(init_params(g, seed=1))
    train = Session(lower(g, training=True), device)
    train.set_params(init_params(g, seed=1))
    counts: dict[str, int] = {}
    for cls, name in ((wn.GPUQueue, "submit"), (wn.GPUBuffer, "map_async"), (wn.GPUDevice, "create_bind_group")):
        _count(monkeypatch, cls, name, counts)
    infer.run({"image": batch["image"]})
    assert counts == {"submit": 1}
    for _ in range(4):
        train.step(batch, 0.01)
    assert counts == {"submit": 5}
    assert [s for s, _ in train.drain()] == [1, 2, 3, 4]
    assert counts == {"submit": 5}


def test_a_failed_mapping_raises(device):
    """Mapping a buffer that is already mapped fails in wgpu-native: read() raises, naming the buffer,
    instead of waiting forever."""
    buffer = device.create_buffer(label="twice", size=16, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)
    device.queue.write_buffer(buffer, 0, np.arange(4, dtype=np.float32))
    device.queue.submit([])   # writes reach the buffer with the next submit
    first = wgpu_raw.PendingMap(device, buffer, 16)
    second = wgpu_raw.PendingMap(device, buffer, 16)
    with pytest.raises(RuntimeError, match="twice"):
        second.read()
    assert np.frombuffer(first.read(), np.float32).tolist() == [0, 1, 2, 3]
