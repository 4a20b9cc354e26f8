"""wgslgrad: compile a small neural-network spec into WGSL; train it through wgpu, ship it to browsers.

    import wgslgrad
    model = wgslgrad.compile("examples/digits.py")
    model.fit("examples/data/digits_train.npz", epochs=3)
    model.predict(images)

See docs/api.md. Errors a user can cause are the classes below: SpecErrors (the spec, every error with
file:line:col), DataError (arrays that do not fit the spec), WeightsError and CheckpointError (weight
files), RunExistsError (fit(out=...) on a folder holding a run), Diverged (a NaN/Inf loss), KNNError
(the KNN head), NoAdapterError (no GPU adapter at all), DeviceLimitError (a model compiled for a larger
max_binding than the device binds).
KNNClassifier is the KNN head (wgslgrad/knn.py).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compiler.errors import SpecError, SpecErrors
    from .export.tfjs_weights import WeightsError
    from .knn import KNNClassifier, KNNError
    from .model import BatchWarning, FrozenWithoutWeightsWarning, GradcheckError, Model, compile
    from .runtime.checkpoint import CheckpointError
    from .runtime.data import DataError
    from .runtime.device import DeviceLimitError, NoAdapterError
    from .runtime.history import History
    from .runtime.run_folder import RunExistsError
    from .runtime.trainer import Diverged

# Imported on first use (PEP 562), so that `python -m wgslgrad` starts in the command line's own code,
# where Ctrl-C during the imports is caught (exit 130, one line) instead of printing a traceback.
_HOMES = {
    "SpecError": ".compiler.errors", "SpecErrors": ".compiler.errors", "WeightsError": ".export.tfjs_weights",
    "BatchWarning": ".model", "FrozenWithoutWeightsWarning": ".model", "GradcheckError": ".model",
    "Model": ".model", "compile": ".model", "CheckpointError": ".runtime.checkpoint", "DataError": ".runtime.data",
    "NoAdapterError": ".runtime.device", "DeviceLimitError": ".runtime.device", "History": ".runtime.history",
    "RunExistsError": ".runtime.run_folder", "Diverged": ".runtime.trainer",
    "KNNClassifier": ".knn", "KNNError": ".knn",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'wgslgrad' has no attribute {name!r}")


__all__ = [
    "BatchWarning",
    "CheckpointError",
    "DataError",
    "DeviceLimitError",
    "Diverged",
    "FrozenWithoutWeightsWarning",
    "GradcheckError",
    "History",
    "KNNClassifier",
    "KNNError",
    "Model",
    "NoAdapterError",
    "RunExistsError",
    "SpecError",
    "SpecErrors",
    "WeightsError",
    "compile",
]
