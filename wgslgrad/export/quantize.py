"""Per-tensor weight quantization, byte-compatible with the TF.js converter.

The facts follow tfjs-converter's python/tensorflowjs/quantization.py (quantize_weights and
_get_affine_quantization_range) and tfjs-core's io_utils.ts decodeWeight, which is what a browser runs:

- uint8/uint16 (affine): min and max of the tensor in float64; scale = (max - min) / qmax. When the
  range covers zero it is nudged so that 0.0 is one of the codes (zero padding stays exactly zero):
  zp = round(-min / scale), min' = -zp * scale, max' = qmax * scale + min' (scale unchanged).
  q = round((clip(x, min', max') - min') / scale), round half to even (np.round). A constant tensor
  stores q = 0, scale = 1, min = its value.
- float16: IEEE half (round to nearest even), no metadata.
- dequantize: x = q * scale + min, computed in float64 and rounded once to float32, exactly as TF.js's
  `values[i] = v * quantization.scale + quantization.min` into a Float32Array.

The clip/subtract/divide run in float64, as the converter does under NumPy >= 2 (NEP 50: a float64
scalar promotes a float32 array). Under NumPy 1.x the converter did them in float32, so a value lying
within a float32 rounding of a half-code boundary may get the neighbouring code there; either file
decodes the same way.
"""
from __future__ import annotations

import numpy as np

QMAX = {"uint8": 255, "uint16": 65535}
QUANT_DTYPES = ("uint8", "uint16", "float16")
BYTES_PER_VALUE = {"uint8": 1, "uint16": 2, "float16": 2, "float32": 4, "int32": 4}


def affine_range(lo: float, hi: float, dtype: str) -> tuple[float, float, float]:
    """(scale, nudged min, nudged max) for values in [lo, hi], lo < hi (TF-Lite's nudge, only if 0 is in range)."""
    qmax = QMAX[dtype]
    scale = (hi - lo) / qmax
    if lo <= 0 <= hi:
        # A float (half to even, like np.round), so that a zero point of 0 gives min -0.0 as in the converter.
        zero_point = float(round(-lo / scale))
        lo = -zero_point * scale
        hi = qmax * scale + lo
    return scale, lo, hi


def quantize(x: np.ndarray, dtype: str) -> tuple[np.ndarray, dict[str, float] | None]:
    """Quantize a float32 tensor to `dtype` ("uint8", "uint16" or "float16").

    Returns the codes (an array of that dtype, same shape; `.tobytes()` is what the shard holds) and the
    metadata the manifest records: {"min", "scale"} for uint8/uint16, None for float16.
    """
    x = np.asarray(x, dtype=np.float32)
    if dtype == "float16":
        with np.errstate(over="ignore"):   # beyond +-65504 becomes +-inf, as in the converter
            return x.astype(np.float16), None
    if dtype not in QMAX:
        raise ValueError(f"unknown quantization dtype {dtype!r}; expected one of {', '.join(QUANT_DTYPES)}")
    codes = np.dtype(dtype)
    if x.size == 0:
        return np.zeros(x.shape, codes), {"min": 0.0, "scale": 1.0}
    if not np.isfinite(x).all():
        # The converter would write scale NaN or inf, and every weight would decode to NaN.
        raise ValueError(f"cannot quantize a tensor holding NaN or infinity to {dtype}")
    lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        return np.zeros(x.shape, codes), {"min": lo, "scale": 1.0}
    scale, lo, hi = affine_range(lo, hi, dtype)
    q = np.round((np.clip(x.astype(np.float64), lo, hi) - lo) / scale)
    return q.astype(codes), {"min": lo, "scale": scale}


def dequantize(q: np.ndarray, meta: dict[str, float] | None = None,
               original_dtype: str = "float32") -> np.ndarray:
    """The values TF.js decodes from codes `q` (uint8/uint16 with meta {"min", "scale"}, or float16).

    original_dtype "int32" (affine only) rounds like JavaScript's Math.round (half up), as TF.js does.
    """
    q = np.asarray(q)
    if q.dtype == np.float16:
        if original_dtype != "float32":
            raise ValueError(f"float16 quantization only holds float32 weights, not {original_dtype}")
        return q.astype(np.float32)
    if q.dtype.name not in QMAX:
        raise ValueError(f"cannot dequantize codes of dtype {q.dtype.name}; expected uint8, uint16 or float16")
    if meta is None or "min" not in meta or "scale" not in meta:
        raise ValueError(f"{q.dtype.name} codes need metadata with 'min' and 'scale'")
    # float64 products and sums, one rounding at the end: the same IEEE operations as JavaScript.
    x = q.astype(np.float64) * float(meta["scale"]) + float(meta["min"])
    if original_dtype == "int32":
        return np.floor(x + 0.5).astype(np.int32)
    if original_dtype != "float32":
        raise ValueError(f"cannot dequantize to {original_dtype}; expected float32 or int32")
    return x.astype(np.float32)
