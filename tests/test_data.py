"""Data files are checked against the spec's inputs; batches shuffle per epoch and cover every sample."""
import numpy as np
import pytest

from wgslgrad.compiler.ir import Graph, InputAttrs, Op
from wgslgrad.runtime.data import DataError, batches, check_arrays, load_npz, split


def _graph(batch=4):
    g = Graph(batch=batch)
    g.inputs["image"] = g.add(Op.INPUT, (), InputAttrs("image"), shape=(batch, 8, 8, 1))
    g.inputs["label"] = g.add(Op.INPUT, (), InputAttrs("label"), shape=(batch, 10))
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


# ---- hostile and careless data files: each refused with a message naming the file and array --------------
def _npz_with_member(path, name: str, header: dict, data: bytes) -> None:
    """An .npz whose member `name` has a hand-written .npy header (which np.savez would never write)."""
    import io
    import zipfile
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(name + ".npy", buf.getvalue() + data)


def test_a_npy_file_is_told_apart_from_an_npz(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.zeros((4, 8, 8, 1)))
    with pytest.raises(DataError, match=r"d\.npy: a \.npy file \(one unnamed array\), but the data must be an "
                                        r"\.npz .*np\.savez\(path, image=images, label=labels\)"):
        load_npz(path, _graph())


def test_a_pickle_is_refused(tmp_path):
    import pickle
    path = tmp_path / "d.npz"
    path.write_bytes(pickle.dumps({"image": np.zeros(3)}))
    with pytest.raises(DataError, match=r"d\.npz: a pickle, not an \.npz; pickles are refused"):
        load_npz(path, _graph())


@pytest.mark.parametrize("label, message", [
    (np.array([["a"] * 10] * 4), r"<U1\) holds text, not numbers"),
    (np.array([[b"a"] * 10] * 4), r"\|S1\) holds bytes, not numbers"),
    (np.zeros((4, 10), complex), r"complex128\) holds complex numbers; save the real part"),
    (np.zeros((4, 10), "datetime64[s]"), r"datetime64\[s\]\) holds dates \(datetime64\); convert them"),
    (np.zeros((4, 10), "timedelta64[s]"), r"timedelta64\[s\]\) holds time spans"),
    (np.zeros((4, 10), [("a", "f4"), ("b", "i4")]), r"\]\) holds records \(a structured dtype\); save each"),
    (np.full((4, 10), None, object), r"object\) holds Python objects \(reading them needs pickle"),
], ids=["str", "bytes", "complex", "datetime", "timedelta", "structured", "object"])
def test_arrays_that_are_not_numbers_are_refused(tmp_path, label, message):
    path = tmp_path / "d.npz"
    np.savez(path, image=np.zeros((4, 8, 8, 1)), label=label)
    with pytest.raises(DataError, match=r"d\.npz: array 'label' \(\[4,10\], dtype .*" + message):
        load_npz(path, _graph())


def test_arrays_the_spec_does_not_use_are_not_read(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, image=np.zeros((4, 8, 8, 1)), label=np.eye(10)[:4], names=np.array(["a", "b", "c", "d"]))
    assert load_npz(path, _graph()).keys() == {"image", "label"}


def test_booleans_are_read_as_zero_and_one_with_a_note(tmp_path):
    path = tmp_path / "d.npz"
    label = np.random.default_rng().random((4, 10)) < 0.5
    np.savez(path, image=np.arange(256, dtype=np.int16).reshape(4, 8, 8, 1), label=label)
    notes: list[str] = []
    data = load_npz(path, _graph(), notes)
    assert data["label"].dtype == np.float32 and np.array_equal(data["label"], label.astype(np.float32))
    assert data["image"][3, 7, 7, 0] == 255.0
    assert notes == [f"{path}: array 'label' is boolean: read as 0.0 (False) and 1.0 (True)"]


def test_float64_beyond_float32_range_is_refused(tmp_path):
    path = tmp_path / "d.npz"
    label = np.zeros((4, 10))
    label[2, 3] = 1e300
    np.savez(path, image=np.zeros((4, 8, 8, 1)), label=label)
    with pytest.raises(DataError, match=r"array 'label' holds 1 values beyond float32's range .*sample 2\)"):
        load_npz(path, _graph())


def test_a_header_claiming_233_tib_is_refused_before_allocating(tmp_path):
    path = tmp_path / "d.npz"
    _npz_with_member(path, "image", {"descr": "<f8", "fortran_order": False, "shape": (233 * 2**40 // 512, 8, 8, 1)},
                     b"\0" * 64)
    with pytest.raises(DataError, match=r"array 'image': its header claims shape \[500363689984,8,8,1\] of "
                                        r"float64 \(233\.0 TiB\) but the file holds 64 bytes for it"):
        load_npz(path, _graph())


def test_arrays_larger_than_memory_are_refused(tmp_path, monkeypatch):
    from wgslgrad.runtime import files
    path = tmp_path / "d.npz"
    np.savez(path, image=np.zeros((40, 8, 8, 1)), label=np.zeros((40, 10)))
    monkeypatch.setattr(files, "memory_limit", lambda: 1000)
    with pytest.raises(DataError, match=r"the arrays image, label need 34\.7 KiB, more than this machine's "
                                        r"memory \(1,000 bytes\)"):
        load_npz(path, _graph())


def test_corrupt_member_header_and_data_are_refused(tmp_path):
    path = tmp_path / "d.npz"
    _npz_with_member(path, "image", {"descr": "<f8", "fortran_order": False, "shape": (1, 8, 8, 1)}, b"\0" * 512)
    data = bytearray(path.read_bytes())
    data[data.index(b"\0" * 512) + 100] = 1   # the zip's CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"d\.npz: cannot read data: a corrupt \.npz"):
        load_npz(path, _graph())


def test_fifo_and_devices_are_refused_without_opening_them(tmp_path):
    import os
    import signal
    fifo = tmp_path / "d.npz"
    os.mkfifo(fifo)
    signal.alarm(20)  # a regression would block on the FIFO forever: fail instead
    try:
        with pytest.raises(DataError, match=r"d\.npz: cannot read data: not a regular file \(a FIFO\)"):
            load_npz(fifo, _graph())
        with pytest.raises(DataError, match=r"/dev/zero: cannot read data: not a regular file \(a character device\)"):
            load_npz("/dev/zero", _graph())
        with pytest.raises(DataError, match=r"cannot read data: not a regular file \(a folder\)"):
            load_npz(tmp_path, _graph())
    finally:
        signal.alarm(0)


def test_split_refuses_to_leave_nothing_to_train_on():
    data = {"image": np.arange(10, dtype=np.float32)}
    with pytest.raises(DataError, match="holding out 0.99 of 10 samples leaves no samples to train on"):
        split(data, 0.99, seed=0)
    with pytest.raises(DataError, match="holding out 0.01 of 10 samples leaves nothing to hold out"):
        split(data, 0.01, seed=0)


def test_save_npz_takes_any_name_and_refuses_paths_out_of_the_folder(tmp_path):
    from wgslgrad.runtime.npz import save_npz
    rng = np.random.default_rng()
    arrays = {"file": rng.standard_normal(3), "allow_pickle": rng.standard_normal(2), "a/b": np.zeros(1)}
    path = save_npz(tmp_path / "out", arrays)
    assert path == tmp_path / "out.npz"
    with np.load(path) as f:
        assert sorted(f.files) == ["a/b", "allow_pickle", "file"]
        np.testing.assert_array_equal(f["file"], arrays["file"])
    for bad in ("../x", "/etc/x", "a/../../x", "a\\b", ""):
        with pytest.raises(ValueError, match="cannot save an array named"):
            save_npz(tmp_path / "bad.npz", {bad: np.zeros(1)})
    assert not (tmp_path / "bad.npz").exists()
