"""TF.js-compatible quantization (wgslgrad/export/quantize.py): bounds, the zero nudge, exact bytes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from wgslgrad.export.quantize import dequantize, quantize

AFFINE = ["uint8", "uint16"]

finite32 = arrays(np.float32, st.integers(1, 200),
                  elements=st.floats(-1e6, 1e6, width=32, allow_nan=False, allow_infinity=False))


def _bound(x: np.ndarray, scale: float) -> float:
    """Half a code, plus float32 rounding of the decoded value (and float64 noise, far smaller)."""
    return scale / 2 + float(np.abs(x).max()) * 2.0**-23 + 1e-30


@pytest.mark.parametrize("dtype", AFFINE)
@settings(max_examples=200, deadline=None)
@given(x=finite32)
def test_round_trip_within_half_a_code(dtype, x):
    q, meta = quantize(x, dtype)
    assert q.dtype == np.dtype(dtype) and q.shape == x.shape
    y = dequantize(q, meta)
    assert y.dtype == np.float32
    assert np.abs(x.astype(np.float64) - y).max() <= _bound(x, meta["scale"])


@pytest.mark.parametrize("dtype", AFFINE)
def test_fresh_random_tensors(dtype):
    rng = np.random.default_rng()
    for _ in range(50):
        x = (rng.normal(size=rng.integers(1, 5000)) * 10.0 ** rng.uniform(-5, 3)
             + rng.uniform(-1, 1) * rng.integers(0, 2)).astype(np.float32)
        q, meta = quantize(x, dtype)
        assert np.abs(x - dequantize(q, meta)).max() <= _bound(x, meta["scale"])


@pytest.mark.parametrize("dtype", AFFINE)
def test_zero_is_exact_after_the_nudge(dtype):
    rng = np.random.default_rng()
    for _ in range(50):
        x = rng.uniform(-rng.uniform(0.01, 5), rng.uniform(0.01, 5), size=300).astype(np.float32)
        x[rng.integers(0, 300, size=10)] = 0.0
        q, meta = quantize(x, dtype)
        y = dequantize(q, meta)
        assert (y[x == 0] == 0).all()
        zero_point = round(-meta["min"] / meta["scale"])   # min is a whole number of scales below 0
        assert dequantize(np.array([zero_point], dtype), meta)[0] == 0
        span = float(x.max()) - float(x.min())
        assert meta["scale"] == pytest.approx(span / np.iinfo(dtype).max, rel=1e-12)


@pytest.mark.parametrize("dtype", AFFINE)
def test_no_nudge_when_zero_is_outside_the_range(dtype):
    x = np.float32([0.5, 1.0, 2.25, 3.0])
    q, meta = quantize(x, dtype)
    assert meta["min"] == 0.5 and q[0] == 0 and q[-1] == np.iinfo(dtype).max
    x = -x
    q, meta = quantize(x, dtype)
    assert meta["min"] == -3.0 and q[-1] == 0 and q[0] == np.iinfo(dtype).max


def test_the_converters_own_example():
    # tfjs-converter write_weights.py documents [0, -0.1, 1.2] -> codes [20, 0, 255],
    # min -0.10196078817, scale 0.00509803940852.
    q, meta = quantize(np.float32([0, -0.1, 1.2]), "uint8")
    assert q.tolist() == [20, 0, 255]
    assert meta["min"] == pytest.approx(-0.10196078817, rel=1e-7)
    assert meta["scale"] == pytest.approx(0.00509803940852, rel=1e-7)


def test_rounding_is_half_to_even_like_np_round():
    q, meta = quantize(np.float32([0, 0.5, 1.5, 2.5, 255]), "uint8")
    assert meta == {"min": 0.0, "scale": 1.0}
    assert q.tolist() == [0, 0, 2, 2, 255]


@pytest.mark.parametrize("dtype", AFFINE)
def test_constant_tensor(dtype):
    value = float(np.float32(np.random.default_rng().normal()))
    x = np.full((3, 4), value, np.float32)
    q, meta = quantize(x, dtype)
    assert (q == 0).all() and meta == {"min": value, "scale": 1.0}
    assert (dequantize(q, meta) == x).all()


@pytest.mark.parametrize("dtype", AFFINE)
def test_uses_the_whole_code_range(dtype):
    x = np.random.default_rng().normal(size=10_000).astype(np.float32)
    q, _ = quantize(x, dtype)
    assert q.min() == 0 and q.max() == np.iinfo(dtype).max


def test_float16_is_ieee_half_bit_exact():
    rng = np.random.default_rng()
    x = np.concatenate([rng.normal(size=5000) * 10.0 ** rng.uniform(-9, 5, size=5000),
                        [0.0, -0.0, 65504.0, 70000.0, -1e-7, 6e-8, 1e-9]]).astype(np.float32)
    q, meta = quantize(x, "float16")
    assert meta is None and q.dtype == np.float16
    with np.errstate(over="ignore"):   # 70000 overflows to inf, as in the converter
        half = x.astype(np.float16)
    assert q.tobytes() == half.tobytes()
    assert dequantize(q).tobytes() == half.astype(np.float32).tobytes()


def test_int32_dequantize_rounds_half_up_like_math_round():
    q = np.uint8([0, 1, 2, 3])
    assert dequantize(q, {"min": -1.5, "scale": 1.0}, "int32").tolist() == [-1, 0, 1, 2]


def test_refusals():
    with pytest.raises(ValueError, match="unknown quantization dtype"):
        quantize(np.float32([1, 2]), "int8")
    with pytest.raises(ValueError, match="NaN or infinity"):
        quantize(np.float32([1, np.nan]), "uint8")
    with pytest.raises(ValueError, match="need metadata"):
        dequantize(np.uint8([1, 2]))
    with pytest.raises(ValueError, match="cannot dequantize codes"):
        dequantize(np.int8([1]), {"min": 0, "scale": 1})
