"""Data files are checked against the spec's inputs; batches shuffle per epoch and cover every sample."""
import numpy as np
import pytest

from wgslgrad.compiler.ir import Graph, Op
from wgslgrad.runtime.data import DataError, batches, check_arrays, load_npz, split


def _graph(batch=4):
    g = Graph(batch=batch)
    g.inputs["image"] = g.add(Op.INPUT, (), {"name": "image"}, shape=(batch, 8, 8, 1))
    g.inputs["label"] = g.add(Op.INPUT, (), {"name": "label"}, shape=(batch, 10))
    return g


def test_batches_cover_every_sample_and_reshuffle():
    n = 10
    data = {"image": np.arange(n, dtype=np.float32)[:, None, None, None] * np.ones((1, 8, 8, 1), np.float32),
            "label": np.eye(10, dtype=np.float32)[np.arange(n)]}
    rng = np.random.default_rng()
    epochs = [[b["image"][:, 0, 0, 0].astype(int).tolist() for b in batches(data, 4, rng)] for _ in range(2)]
    for ep in epochs:
        assert all(len(b) == 4 for b in ep) and len(ep) == 3
        assert set(sum(ep, [])) == set(range(n))
    assert epochs[0] != epochs[1]
    first = next(batches(data, 4, rng))
    assert np.array_equal(np.argmax(first["label"], 1), first["image"][:, 0, 0, 0].astype(int))


def test_shape_mismatch_names_both_shapes(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, image=np.zeros((5, 8, 8, 3)), label=np.zeros((5, 10)))
    with pytest.raises(DataError, match=r"d\.npz.*'image'.*\[5,8,8,3\].*\[N,8,8,1\]"):
        load_npz(path, _graph())


def test_missing_array_and_unreadable_file(tmp_path):
    with pytest.raises(DataError, match="no array named label"):
        check_arrays({"image": np.zeros((2, 8, 8, 1))}, _graph())
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(DataError, match="bad.npz"):
        load_npz(bad, _graph())


def test_nan_or_inf_in_data_is_refused_naming_the_sample(tmp_path):
    image = np.zeros((6, 8, 8, 1))
    image[3, 2, 2, 0], image[5, 0, 0, 0] = np.nan, np.inf
    path = tmp_path / "d.npz"
    np.savez(path, image=image, label=np.zeros((6, 10)))
    with pytest.raises(DataError, match=r"d\.npz: array 'image' holds 2 NaN or Inf values \(the first in sample 3\)"):
        load_npz(path, _graph())


def test_split_is_seeded_and_disjoint():
    data = {"image": np.arange(20, dtype=np.float32)}
    a_train, a_test = split(data, 0.25, seed=3)
    b_train, b_test = split(data, 0.25, seed=3)
    assert np.array_equal(a_test["image"], b_test["image"]) and len(a_test["image"]) == 5
    assert set(a_train["image"]) | set(a_test["image"]) == set(range(20))
    assert not set(a_train["image"]) & set(a_test["image"])
