"""Export: TF.js-compatible weight files (quantized or not) and their import into a spec."""
from .quantize import QUANT_DTYPES, dequantize, quantize
from .tfjs_weights import UnusedWeightsWarning, WeightsError, import_weights, read_weights, write_weights

__all__ = [
                           "QUANT_DTYPES",
                           "UnusedWeightsWarning",
                           "WeightsError",
                           "dequantize",
                           "import_weights",
                           "quantize",
                           "read_weights",
                           "write_weights",
]
