"""The Python API: `wgslgrad.compile(spec)` gives a Model to predict with, train, evaluate, save and export.

    import wgslgrad
    model = wgslgrad.compile("examples/digits.py")          # or the spec's text
    model.fit("examples/data/digits_train.npz", val="examples/data/digits_test.npz", epochs=3)
    print(model.evaluate("examples/data/digits_test.npz"))   # {'loss': ..., 'accuracy': ...}
    probs = model.predict(images)["probabilities"]          # any number of images
    model.save_weights("digits.safetensors")
    model.export("web/model", quantize="uint8", js=True, batch=1)

A Model keeps its weights on the host (the source of truth) and copies them to each GPU session when they
change: one inference Session per batch size it has run at, one training Session for fit(). Everything here is
built on compiler/, runtime/ and export/; nothing there imports this module.
"""
from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .compiler.frontend import compile_spec
from .compiler.ir import DEFAULT_BINDING, Graph, fmt_shape
from .compiler.limits import bytes_text
from .runtime.data import DataError, check_arrays
from .runtime.history import History
from .runtime.init import init_params
from .runtime.metrics import batch_metric, metric_kind

Arrays = dict[str, np.ndarray]
#: What predict(), fit() and evaluate() take: one array (a spec with one Input to fill), a dict of arrays by
#: Input name, a tuple or list of arrays in the spec's Input order, or the path of an .npz file.
Data = np.ndarray | Mapping[str, Any] | Sequence[Any] | str | os.PathLike
#: A fit() callback: called after each epoch with numbers; returning True stops training.
Callback = Callable[[int, int, float, dict[str, float]], bool | None]


class FrozenWithoutWeightsWarning(UserWarning):
    """fit() on a spec with frozen layers (trainable=False) whose weights were never loaded: they stay random."""


class BatchWarning(UserWarning):
    """export(js=True) at a batch other than 1: the page must then pass a whole batch to predict(); or a batch
    (and max_binding) whose bundle has a buffer over 128 MiB, which only devices that bind that much load."""


def compile(spec: str | os.PathLike[str], batch: int | None = None, seed: int = 0,
            max_binding: int | None = None) -> Model:
    """Compile a spec into a Model with freshly initialised weights (Glorot-normal, zero biases).

    spec: the path of a spec file ("model.py"), or the spec's text itself (text holding a newline, or a
    one-line spec with a call in it that names no file).
    batch: the compiled batch size for training and the default for predict() (default: the spec's
    Train(batch=...), else 1). predict() and evaluate() take any number of samples whatever it is.
    seed: the seed of the initial weights.
    max_binding: the bytes one GPU buffer binding may hold on the devices the model is for (default 128 MiB, which
    every WebGPU device binds; at most 2 GiB). A tensor or the parameters together over it is a spec error; raise
    it for big batches on devices that bind more (SwiftShader binds 1 GiB). A device that binds less than a
    buffer needs refuses the model when it runs (ValueError in Python, an Error in a bundle).
    Raises SpecErrors (every error in the spec, with file:line:col and a caret) or OSError for a file that
    cannot be read.
    """
    one_line_text = isinstance(spec, str) and "(" in spec and not Path(spec).exists()
    if isinstance(spec, os.PathLike) or ("\n" not in spec and not one_line_text):
        path = Path(spec)
        try:
            source = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise OSError(f"cannot read spec '{path}': it is not UTF-8 text") from None
        except OSError as e:
            raise OSError(f"cannot read spec '{path}': {e.strerror or e}") from None
        filename = str(path)
    else:
        source, filename = spec, "<spec>"
    if batch is not None and (not isinstance(batch, int) or batch < 1):
        raise ValueError(f"batch must be a positive integer, not {batch!r}")
    return Model(source, filename, batch, seed, max_binding)


class Model:
    """A compiled spec with its weights. Make one with wgslgrad.compile()."""

    def __init__(self, source: str, filename: str = "<spec>", batch: int | None = None, seed: int = 0,
                 max_binding: int | None = None):
        self.source, self.filename = source, filename
        self.graph: Graph = compile_spec(source, filename, batch, max_binding)
        self._graphs: dict[int, Graph] = {self.graph.batch: self.graph}
        self._params: Arrays = init_params(self.graph, seed)
        self._version = 0                       # bumped whenever _params change
        self._sessions: dict[int, tuple[Any, int]] = {}   # batch -> (Session, version of its params)
        self._trainer: tuple[Any, int] | None = None      # (training Session, version) once fit() ran
        self.weights_loaded = False
        self.history: History | None = None

    # -- what the spec declares -------------------------------------------------------------------------
    @property
    def batch(self) -> int:
        """The compiled batch size (training batch; predict's default)."""
        return self.graph.batch

    @property
    def inputs(self) -> dict[str, tuple[int, ...]]:
        """Input name -> per-sample shape (no batch dimension), in the spec's order."""
        return {k: self.graph.nodes[i].shape[1:] for k, i in self.graph.inputs.items()}

    @property
    def outputs(self) -> dict[str, tuple[int, ...]]:
        """Output name -> per-sample shape, in the spec's order (the loss is not one)."""
        return {k: self.graph.nodes[i].shape[1:] for k, i in self.graph.outputs.items() if k != "loss"}

    def summary(self, print_fn: Callable[[str], Any] | None = print) -> str:
        """Per-layer output shape, parameters, bytes and FLOPs, printed (print_fn=None: not) and returned."""
        from .compiler.summary import format_summary
        text = format_summary(self.graph)
        if print_fn is not None:
            print_fn(text)
        return text

    # -- weights ----------------------------------------------------------------------------------------
    def get_weights(self) -> Arrays:
        """Parameter path -> a copy of its float32 array (TF.js layouts: conv HWIO, depthwise HWC1, dense IO)."""
        return {k: v.copy() for k, v in self._params.items()}

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Replace some or all parameters by path; shapes must match. Raises WeightsError naming each problem."""
        from .export import WeightsError
        errors = []
        for name, value in weights.items():
            if name not in self._params:
                errors.append(f"{name}: no parameter of the spec has this name")
            elif np.shape(value) != self._params[name].shape:
                errors.append(f"{name}: the spec wants {fmt_shape(self._params[name].shape)}, got "
                              f"{fmt_shape(np.shape(value))}")
        if errors:
            raise WeightsError("cannot set the weights:\n  " + "\n  ".join(errors))
        for name, value in weights.items():
            self._params[name] = np.array(value, np.float32)
        self._version += 1

    def load_weights(self, path: str | os.PathLike[str], map: Mapping[str, str] | str | None = None,
                     skip: Iterable[str] = (), partial: bool = False) -> list[str]:
        """Load weights from a wgslgrad checkpoint (.safetensors), a TF.js model.json or a bare weights
        manifest (quantized or not), or a folder holding one of them.

        map: spec parameter path -> name in the file (a dict, JSON text or a JSON file); a key ending in "/"
        maps a prefix, e.g. {"backbone/": "features_0/"}. skip: parameter paths or scopes that keep their
        current values (a head whose shape changed). partial=True lets trainable parameters the file lacks
        keep their values (transfer learning); frozen ones always need a value.
        Returns notes (tensors the spec does not take, parameters skipped or kept). Raises WeightsError or
        CheckpointError listing every problem together, with the names the file holds.
        """
        from .export import WeightsError, import_weights, read_weights
        from .runtime.checkpoint import load_checkpoint
        p = Path(path)
        loaded = load_checkpoint(p)[0] if p.suffix == ".safetensors" else read_weights(p)
        notes: list[str] = []
        first, i = next(iter(self.graph.params.items()), ("", -1))
        foreign = (f"{p} holds none of this spec's {len(self.graph.params)} parameters: it looks like another "
                   f"model's weights (the spec's first: {first} {fmt_shape(self.graph.nodes[i].shape)}; the file "
                   f"holds {', '.join(sorted(loaded)[:3]) or 'nothing'}{'...' if len(loaded) > 3 else ''}; if only "
                   "the names differ, --map (map=) names them)") if first else ""
        try:
            params = import_weights(self.graph, loaded, map, allow_missing=partial, skip=list(skip), report=notes)
        except WeightsError as e:   # the file's path first; and no name in common (unmapped): say so first
            lead = foreign + "\n" if foreign and map is None and not any(k in loaded for k in self.graph.params) else ""
            raise WeightsError(f"{lead}{p}: {e}") from None
        if partial and foreign and not params and not skip:  # every layer would stay random
            raise WeightsError(foreign)
        self.set_weights(params)
        self.weights_loaded = True
        return notes

    def save_weights(self, path: str | os.PathLike[str], quantize: str | None = None) -> list[str]:
        """Save the weights: a path ending in .safetensors writes a wgslgrad checkpoint (atomically); any
        other path is a folder for TF.js weights (model.json, weights_manifest.json and 4 MiB shards,
        optionally quantized: "uint8", "uint16" or "float16"). Returns the paths written."""
        p = Path(path)
        if p.suffix == ".safetensors":
            if quantize:
                raise ValueError("a checkpoint holds float32 weights: quantize only a TF.js folder")
            from .runtime.checkpoint import save_checkpoint
            save_checkpoint(p, self._params, meta={"spec": self.filename})
            return [str(p)]
        from .export import write_weights
        from .export.tfjs_weights import MANIFEST_JSON, MODEL_JSON
        manifest = write_weights(p, self._params, quantize)
        return [str(p / f) for f in [MODEL_JSON, MANIFEST_JSON, *manifest[0]["paths"]]]

    # -- running ----------------------------------------------------------------------------------------
    def predict(self, x: Data, batch_size: int | None = None) -> np.ndarray | Arrays:
        """Run the forward pass on any number of samples (the last batch padded, its padding dropped).

        x: one array [N, ...] when one Input feeds the Outputs, else a dict by Input name (Inputs the
        Outputs do not need, such as labels, may be there and are ignored), a tuple in Input order, or an
        .npz path. batch_size: samples per GPU run (default: the compiled batch).
        Returns the one Output's array [N, ...], or a dict of every Output when the spec has several.
        Raises DataError for an input of the wrong shape, a missing one or NaN/Inf values.
        """
        if not self.outputs:
            raise ValueError("the spec has no Output(...): nothing to predict")
        needed = self.needed_inputs()
        arrays = self._arrays(x, needed, "predict")
        n = len(next(iter(arrays.values())))
        b = self._batch_size(batch_size)
        outputs = list(self.outputs)
        if n == 0:
            result = {k: np.zeros((0, *self.outputs[k]), np.float32) for k in outputs}
        else:
            session = self._session(b)
            parts: dict[str, list[np.ndarray]] = {k: [] for k in outputs}
            for start in range(0, n, b):
                real = min(b, n - start)
                idx = np.resize(np.arange(start, start + real), b)   # repeat samples to fill the last batch
                out = session.run({k: v[idx] for k, v in arrays.items()})
                for k in outputs:
                    parts[k].append(out[k][:real])
            result = {k: np.concatenate(v) for k, v in parts.items()}
        return result[outputs[0]] if len(outputs) == 1 else result

    def features(self, x: Data, output: str | None = None, batch_size: int | None = None) -> np.ndarray:
        """One Output of the model as feature rows [N, D] (each sample's values flattened), e.g. for a KNN head
        (wgslgrad.knn.KNNClassifier) or a dense head trained on them. To take features from inside a
        network, declare that tensor an Output in the spec: `Output(x, name="features")`.

        output: the Output's name (needed when the spec has several; see `outputs`). x and batch_size as
        for predict(). Raises ValueError naming the Outputs for an unknown name.
        """
        names = list(self.outputs)
        if output is None:
            if len(names) != 1:
                raise ValueError(f"the spec has {len(names)} Outputs ({', '.join(names)}): say which with output=")
            output = names[0]
        if output not in self.outputs:
            raise ValueError(f"no Output named {output!r}: the spec's Outputs are {', '.join(names)}")
        result = self.predict(x, batch_size)
        values = result[output] if isinstance(result, dict) else result
        return values.reshape(len(values), -1)

    def evaluate(self, data: Data, batch_size: int | None = None) -> dict[str, float]:
        """The loss over `data` and a metric: "accuracy" where the labels are one-hot (0/1 for a sigmoid
        loss), "mae" (mean absolute error) for an mse loss. Exact over any number of samples: a last,
        smaller batch runs at its own size. data: a dict by Input name, a tuple in Input order or an .npz."""
        if self.graph.loss is None:
            raise ValueError("the spec has no Train(loss=...): there is no loss to evaluate")
        arrays = self._arrays(data, list(self.graph.inputs), "evaluate")
        if not len(next(iter(arrays.values()))):
            raise DataError("evaluate: the data holds no samples: a loss over none is undefined")
        # a smaller last batch gets its own session: the means are exact
        return self._evaluate(arrays, self._batch_size(batch_size), lambda batch, real: self._session(real).run(batch))

    def _evaluate(self, arrays: Arrays, b: int, run: Callable[[Arrays, int], Arrays]) -> dict[str, float]:
        """Sample-weighted loss and metric over `arrays` in batches of `b`; run(batch, real) gives the outputs."""
        n = len(next(iter(arrays.values())))
        kind = metric_kind(self.graph, arrays)
        loss = metric = 0.0
        for start in range(0, n, b):
            real = min(b, n - start)
            batch = {k: v[start:start + real] for k, v in arrays.items()}
            out = run(batch, real)
            loss += float(out["loss"]) * real
            value = batch_metric(self.graph, kind, out, batch)
            metric += (value or 0.0) * real
        result = {"loss": loss / n}
        if kind:
            result[kind] = metric / n
        return result

    def _fit_evaluator(self, session: Any) -> Callable[[Arrays], dict[str, float]]:
        """Exact held-out figures during fit(): full batches through the training session's forward pass,
        a smaller last one through an inference session given the weights as they are now."""
        def run(batch: Arrays, real: int) -> Arrays:
            if real == self.batch:
                return session.run(batch)
            small, _ = self._sessions.get(real) or (self._session(real), 0)
            small.set_params(session.get_params())
            self._sessions[real] = (small, -1)        # its weights are not the model's: upload before use
            return small.run(batch)
        return lambda data: self._evaluate(data, self.batch, run)

    def stats(self, batch_size: int | None = None) -> dict[str, Any]:
        """The inference session's GPU buffers, bytes, dispatches and pipeline time (see Session.stats)."""
        return self._session(self._batch_size(batch_size)).stats()

    # -- training ---------------------------------------------------------------------------------------
    def fit(self, train: Data, val: Data | None = None, epochs: int | None = None, lr: float | None = None,
            schedule: str | None = None, callbacks: Sequence[Callback] = (), out: str | os.PathLike[str] | None = None,
            patience: int | None = None, monitor: str | None = None, keep_best: bool = False, seed: int = 0,
            shuffle: bool = True, progress: bool = False, verbose: bool = True,
            resume: str | os.PathLike[str] | None = None, overwrite: bool = False) -> History:
        """Train with Adam on shuffled batches of the compiled size (one GPU submit per step).

        train, val: data as for evaluate(). epochs: default the spec's Train(epochs=...), else 10; 0 trains
        nothing. lr: default the spec's Adam lr. schedule: "step:EVERY[:FACTOR]" or "plateau:PATIENCE[:FACTOR]"
        (per epoch). callbacks: each called after every epoch as f(epoch, step, loss, metrics) with numbers
        (metrics: lr, val_loss, val_accuracy or val_mae..., exact as evaluate()'s); one returning True stops
        training.
        patience: stop when `monitor` (default "val_loss" with val, else "loss"; an accuracy is maximised)
        has not improved for this many epochs. keep_best: end with the weights of the best epoch by
        `monitor` (also written to out/best.safetensors). out: a folder for checkpoint.safetensors (every
        epoch, atomically), history.json and loss.png. resume: a checkpoint to go on from (weights, Adam
        state, step). overwrite: replace a run already in `out` (without it, or resume=, RunExistsError:
        nothing is overwritten unasked). Returns the History (per step and per epoch); also kept as model.history.
        Raises Diverged when the loss becomes NaN/Inf, DataError for data that does not fit the spec;
        Ctrl-C stops after the current step (KeyboardInterrupt), keeping what was learnt.
        """
        from .runtime.trainer import FitConfig
        from .runtime.trainer import fit as run_fit

        if self.graph.loss is None:
            raise ValueError("the spec has no Train(loss=...): nothing to train")
        epochs = int(self.graph.train.get("epochs", 10)) if epochs is None else epochs
        lr = float(self.graph.train.get("lr", 0.001)) if lr is None else lr
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"epochs must be a whole number, 0 or more, not {epochs!r}")
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a positive number, not {lr!r}")
        if patience is not None and patience < 1:
            raise ValueError(f"patience must be at least 1, not {patience!r}")
        from .runtime.schedule import parse_schedule
        parse_schedule(schedule, lr)   # a bad schedule fails here, before any data or GPU work
        if out is not None:
            from .runtime.run_folder import check_new_run
            check_new_run(out, resume is not None, overwrite)
        data = self._arrays(train, list(self.graph.inputs), "train")
        held = self._arrays(val, list(self.graph.inputs), "val") if val is not None else None
        for what, arrays in (("train", data), ("val", held)):
            if arrays is not None and not len(next(iter(arrays.values()))):
                raise DataError(f"{what}: the data holds no samples")
        monitor = monitor or ("val_loss" if held is not None else "loss")
        if monitor.startswith("val_") and held is None:
            raise ValueError(f"monitor {monitor!r} needs val= data")
        from .compiler.inference import moving_statistics
        moving = moving_statistics(self.graph)   # not trained, but training sets them
        frozen = [k for k, i in self.graph.params.items()
                  if not self.graph.nodes[i].attrs.trainable and i not in moving]
        if frozen and not self.weights_loaded and resume is None:
            warnings.warn(f"{len(frozen)} frozen parameters (trainable=False, e.g. {frozen[0]}) keep their random "
                          "initial values: load trained weights first (load_weights, or --init)",
                          FrozenWithoutWeightsWarning, stacklevel=2)
        session = self._train_session()
        session.seed = seed   # dropout's masks: the same seed gives the same run
        cfg = FitConfig(epochs=epochs, lr=float(lr), schedule=schedule, seed=seed,
                        out=Path(out) if out is not None else None,
                        resume=Path(resume) if resume is not None else None, progress=progress, shuffle=shuffle)
        keeper = _Best(monitor, patience, keep_best, session, cfg.out)
        user = list(callbacks)

        def on_epoch(row: dict[str, Any]) -> bool:
            metrics = {k: float(v) for k, v in row.items() if k not in ("epoch", "step", "loss")}
            stop = keeper.update(row)
            for cb in user:
                stop = bool(cb(int(row["epoch"]), int(row["step"]), float(row["loss"]), metrics)) or stop
            return stop

        say: Callable[[str], None] = (lambda s: print(s, file=sys.stderr)) if verbose else (lambda s: None)
        try:
            self.history = run_fit(session, self.graph, data, cfg, held, log=say, on_epoch=on_epoch,
                                   evaluator=self._fit_evaluator(session))
        finally:
            self._params = session.get_params()
            self._version += 1
            self._trainer = (session, self._version)
        if keep_best and keeper.params is not None:
            self.set_weights(keeper.params)
            say(f"kept the weights of epoch {keeper.epoch} ({monitor} {keeper.best_value:.4g})")
        if keeper.stopped:
            say(f"early stop after epoch {keeper.last}: {monitor} has not improved for {patience} epochs")
        return self.history

    def gradcheck(self, data: Data | None = None, eps: float = 1e-6, tol: float = 1e-3,
                  seed: int = 0) -> list[tuple[str, float, float]]:
        """Check the loss's gradients with the current weights on one batch (data, else random normal
        inputs): (parameter, autodiff vs finite differences in float64, GPU vs float64) relative errors.
        Passes when every first error is under 1e-5 and every second under `tol`; raises GradcheckError
        (with the table) otherwise."""
        from .compiler.gradcheck import check_gradients
        if self.graph.loss is None:
            raise ValueError("the spec has no Train(loss=...): no loss to check")
        g = self.graph
        if data is None:
            from .runtime.data import random_inputs
            inputs = random_inputs(g, np.random.default_rng(seed))
        else:
            arrays = self._arrays(data, list(g.inputs), "gradcheck")
            inputs = {k: np.resize(v, (g.batch, *v.shape[1:])) for k, v in arrays.items()}
        session = self._train_session()
        session.seed = 0   # the float64 reference draws dropout masks from seed 0 and step 0
        gpu = session.gradients(inputs, step=0)
        rows = []
        for name, fd_err, ref in check_gradients(g, g.loss, inputs, self._params, eps=eps, seed=seed):
            gpu_err = float(np.max(np.abs(gpu[name] - ref)) / max(float(np.max(np.abs(ref))), 1e-12))
            rows.append((name, float(fd_err), gpu_err))
        bad = [r for r in rows if not (r[1] < 1e-5 and r[2] < tol)]
        if bad:
            raise GradcheckError(rows, tol)
        return rows

    # -- export -----------------------------------------------------------------------------------------
    def export(self, folder: str | os.PathLike[str], quantize: str | None = None, js: bool = False,
               train: bool = False, batch: int | None = None, knn: bool = False) -> dict[str, int]:
        """Write TF.js weights into `folder` (model.json, weights_manifest.json, 4 MiB shards; quantize:
        "uint8", "uint16" or "float16"), and with js=True the self-contained WebGPU module model.js (train=True
        adds the training step). batch: the bundle's batch (default the model's); a browser page usually
        wants batch=1, and any other batch warns (BatchWarning). knn=True also writes knn.js, the KNN head for
        the page (export/knn.js: `import { KNNClassifier } from './knn.js'`). Returns file name -> bytes written."""
        b = self.batch if batch is None else batch
        folder = Path(folder)
        if knn:
            from .export.knn_js import write_knn_js
            knn_js = write_knn_js(folder)
            return {**self.export(folder, quantize, js, train, batch), knn_js.name: knn_js.stat().st_size}
        if js:
            from .export.bundle import write_bundle
            from .export.tfjs_weights import MANIFEST_JSON
            if b != 1:
                warnings.warn(f"the bundle is compiled for batch {b}: a page's predict() must pass {b} samples "
                              "at once (export with batch=1, or --batch 1, for one image at a time)",
                              BatchWarning, stacklevel=2)
            info = write_bundle(folder, self._graph(b), self._params, quantize, train=train)
            need, buffer = info["binding"]
            if need > DEFAULT_BINDING:
                warnings.warn(f"the bundle needs a WebGPU device that binds {bytes_text(need)} of one buffer "
                              f"({buffer}; every device binds 128 MiB, SwiftShader 1 GiB): a device that binds "
                              "less refuses it when it loads", BatchWarning, stacklevel=2)
            sizes = dict(info["files"])
            sizes.setdefault(MANIFEST_JSON, (folder / MANIFEST_JSON).stat().st_size)
            return sizes
        return {Path(p).name: Path(p).stat().st_size for p in self.save_weights(folder, quantize)}

    # -- internals --------------------------------------------------------------------------------------
    def _graph(self, batch: int) -> Graph:
        if batch not in self._graphs:
            self._graphs[batch] = compile_spec(self.source, self.filename, batch, self.graph.max_binding)
        return self._graphs[batch]

    def _session(self, batch: int) -> Any:
        """The inference Session at `batch`, made once, holding the current weights."""
        from .compiler.lower import lower
        from .runtime.session import Session
        if batch not in self._sessions:
            self._sessions[batch] = (Session(lower(self._graph(batch))), -1)
        session, version = self._sessions[batch]
        if version != self._version:
            session.set_params(self._params)
            self._sessions[batch] = (session, self._version)
        return session

    def _train_session(self) -> Any:
        from .compiler.lower import lower
        from .runtime.session import Session
        if self._trainer is None:
            self._trainer = (Session(lower(self.graph, training=True)), -1)
        session, version = self._trainer
        if version != self._version:
            session.set_params(self._params)
            self._trainer = (session, self._version)
        return session

    def _batch_size(self, batch_size: int | None) -> int:
        if batch_size is None:
            return self.batch
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}")
        return batch_size

    def needed_inputs(self) -> list[str]:
        """The Inputs the Outputs depend on (not the labels only the loss reads)."""
        from .compiler.ir import needed_nodes
        need = needed_nodes(self.graph, [i for k, i in self.graph.outputs.items() if k != "loss"])
        return [k for k, i in self.graph.inputs.items() if i in need]

    def _arrays(self, x: Data, names: list[str], what: str) -> Arrays:
        """`x` as float32 arrays for the Inputs `names`, checked against the spec (DataError otherwise)."""
        where = what
        if isinstance(x, (str, os.PathLike)):
            where = str(x)
            x = load_npz_raw(x, names)
        if isinstance(x, np.ndarray) or (isinstance(x, Sequence) and not isinstance(x, Mapping)
                                         and len(x) and np.ndim(x[0]) == 0):
            if len(names) != 1:
                raise DataError(f"{where}: the spec has {len(names)} Inputs here ({', '.join(names)}): pass a dict "
                                "of arrays by name")
            x = {names[0]: x}
        elif isinstance(x, Sequence) and not isinstance(x, Mapping):
            order = list(self.graph.inputs)
            if len(x) != len(order) and len(x) != len(names):
                raise DataError(f"{where}: {len(x)} arrays given, the spec's Inputs are {', '.join(order)}")
            x = dict(zip(order if len(x) == len(order) else names, x))
        if not isinstance(x, Mapping):
            raise DataError(f"{where}: expected an array, a dict of arrays by Input name, a tuple or an .npz path, "
                            f"not {type(x).__name__}")
        missing = [k for k in names if k not in x]
        if missing:
            have = ", ".join(str(k) for k in x) or "none"
            raise DataError(f"{where}: no array named {', '.join(missing)} (given: {have})")
        sub = Graph(nodes=self.graph.nodes, inputs={k: self.graph.inputs[k] for k in names})
        try:
            arrays = {k: np.asarray(x[k]) for k in names}
        except (TypeError, ValueError) as e:
            raise DataError(f"{where}: cannot read the arrays ({e})") from None
        for k, a in arrays.items():
            if a.dtype.kind not in "biuf":
                raise DataError(f"{where}: array '{k}' holds {a.dtype} values, not numbers")
            if a.shape == self.graph.nodes[self.graph.inputs[k]].shape[1:]:
                arrays[k] = a[None]   # one sample without its batch dimension (any other shape: check_arrays)
        if any(len(a) == 0 for a in arrays.values()):
            return {k: a.astype(np.float32) for k, a in arrays.items()}
        return check_arrays(arrays, sub, where)


def load_npz_raw(path: str | os.PathLike[str], names: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays `names` of an .npz, as float32, read as untrusted input (runtime.npz: no pickles, headers
    checked before reading); DataError naming the file when it cannot be read. Notes become warnings."""
    from .runtime.npz import read_npz
    notes: list[str] = []
    arrays = read_npz(path, names, notes=notes)
    for line in notes:
        warnings.warn(line, stacklevel=3)
    return arrays


class GradcheckError(Exception):
    """A gradient check failed; `rows` holds (parameter, finite-difference error, GPU error)."""

    def __init__(self, rows: list[tuple[str, float, float]], tol: float):
        bad = [r for r in rows if not (r[1] < 1e-5 and r[2] < tol)]
        lines = [f"{n}: autodiff vs finite differences {fd:.2e}, GPU vs float64 {gpu:.2e}" for n, fd, gpu in bad]
        super().__init__("gradient check failed for " + f"{len(bad)} of {len(rows)} parameters:\n  "
                         + "\n  ".join(lines))
        self.rows = rows


class _Best:
    """Early stopping and keep-best over one fit(): tracks `monitor` per epoch."""

    def __init__(self, monitor: str, patience: int | None, keep: bool, session: Any, out: Path | None):
        self.monitor, self.patience, self.keep, self.session, self.out = monitor, patience, keep, session, out
        self.sign = -1.0 if "accuracy" in monitor else 1.0   # accuracies are maximised, the rest minimised
        self.best, self.epoch, self.last, self.waited = math.inf, 0, 0, 0
        self.params: Arrays | None = None
        self.stopped = False

    def update(self, row: dict[str, Any]) -> bool:
        if self.monitor not in row:
            raise ValueError(f"monitor {self.monitor!r} is not measured: the epochs have "
                             f"{', '.join(k for k in row if k not in ('epoch', 'step'))}")
        value, self.last = self.sign * float(row[self.monitor]), int(row["epoch"])
        if value < self.best:
            self.best, self.epoch, self.waited = value, self.last, 0
            if self.keep:
                from .runtime.checkpoint import save_checkpoint
                self.params = self.session.get_params()
                if self.out is not None:
                    save_checkpoint(self.out / "best.safetensors", self.params,
                                    meta={"epoch": self.last, self.monitor: float(row[self.monitor])})
        else:
            self.waited += 1
        self.stopped = self.patience is not None and self.waited >= self.patience
        return self.stopped

    @property
    def best_value(self) -> float:
        return self.sign * self.best
