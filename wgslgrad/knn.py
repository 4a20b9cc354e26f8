"""A KNN classifier head on the GPU: @tensorflow-models/knn-classifier's answers, from WGSL kernels.

    from wgslgrad.knn import KNNClassifier
    knn = KNNClassifier()
    knn.add_example(features, "rock")                  # one example [D], or rows [N, D] of one class
    result = knn.predict_class(query, k=3)             # {"label", "class_index", "confidences"}
    knn.save("examples.knn")                           # KNNClassifier.load("examples.knn") reads it back

Examples live on the GPU as L2-normalised rows of one buffer (grown by doubling; knn_normalize.wgsl). A
classification is one submit of one dispatch: knn_scan.wgsl computes every similarity (the matmul against
all stored examples) and keeps each thread's k best; only those candidates come back (k a thread, not all N
similarities), and merge_candidates picks their k best (a second dispatch for that cost more than the
merge: 1-2 ms on SwiftShader). For k above KMAX, knn_similarity.wgsl writes all similarities and
knn_topk.wgsl picks from them and counts the votes. Queries are not normalised (their norm scales every
similarity alike): they are scaled by a power of two, exactly, into a range where nothing overflows.

Semantics follow knn-classifier 1.2.6 exactly: labels are keyed by their string (1 and "1" are one class);
classes come in JavaScript object-key order (integer-like labels ascending, then the others in the order
they were added), which decides ties between equally similar examples (the first in that order wins) and
between equally voted classes (the first wins); k larger than the number of examples counts
min(k, examples) votes; a class keeps its class_index after it is cleared; the feature size is fixed by the
first example and kept by clear_all_classes(). Where knn-classifier gives NaN (an all-zero or non-finite
vector) this class raises KNNError instead.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "wgslgrad-knn-1"
WG = 64          # threads per workgroup of the KNN kernels
GX = 65535       # workgroups across (WebGPU's default limit); knn_normalize goes on in y
KMAX = 16        # the largest k knn_scan serves (a thread's k best live in private arrays)
SCAN_ROWS = 512   # stored rows per knn_scan workgroup (8 a thread: two blocks of 4), up to SCAN_GROUPS a query
SCAN_GROUPS = 64
KERNELS = ("normalize", "scan", "similarity", "topk")
NONE = 0xFFFFFFFF  # knn_scan's row of a missing candidate
Label = int | str


class KNNError(ValueError):
    """Bad input to a KNNClassifier, or a file that is not a saved one; the message says what and why."""


def label_key(label: Label) -> str:
    """The class key knn-classifier uses: the label as a JavaScript object key (its string)."""
    if isinstance(label, np.integer):
        label = int(label)
    if isinstance(label, bool) or not isinstance(label, (int, str)):
        raise KNNError(f"a label must be an int or a str, not {type(label).__name__} ({label!r})")
    return str(label)


def _is_index(key: str) -> bool:
    """Whether JavaScript orders this object key as an array index (before the other keys, ascending)."""
    return re.fullmatch(r"0|[1-9][0-9]*", key) is not None and int(key) < 2**32 - 1


def kernels() -> dict[str, str]:
    """The KNN shaders, rendered (their sizes come from a uniform, so one rendering serves all), each given
    the constants it reads."""
    from .compiler.kernel_builder import render, template_params  # jinja2 loads only when a KNN is used
    constants = {"wg": WG, "gx": GX, "kmax": KMAX}
    return {name: render(t, **{k: v for k, v in constants.items() if k in template_params(t)})
            for name in KERNELS for t in [f"knn_{name}.wgsl"]}


def scan_groups(n: int) -> int:
    """knn_scan's workgroups a query for n stored rows (export/knn.js uses the same rule)."""
    return min(SCAN_GROUPS, max(1, -(-n // SCAN_ROWS)))


def merge_candidates(cand: np.ndarray, k: int, rank: np.ndarray) -> np.ndarray:
    """knn_scan's candidates of one query [M, 2] uint32 (bits of the similarity, row; row NONE for none) ->
    the rows of their k best in knn-classifier's order: similarity descending, then class rank (`rank`:
    row -> its class's place), then row (kernels/knn_order.wgsl; export/knn.js's mergeCandidates)."""
    cand = cand[cand[:, 1] != NONE]
    v, rows = cand[:, 0].view(np.float32), cand[:, 1].astype(np.int64)
    return rows[np.lexsort((rows, rank[rows], -v))[:k]]


def scale_queries(rows: np.ndarray) -> np.ndarray:
    """Each row times a power of two (exact) that brings its largest magnitude into [1, 2): the order of
    its similarities is unchanged and their sums can neither overflow nor vanish."""
    _, exponent = np.frexp(np.abs(rows).max(axis=1))
    return np.ldexp(rows, (1 - exponent)[:, None]).astype(np.float32)


class KNNClassifier:
    """k-nearest-neighbour classification by cosine similarity against stored examples on the GPU."""

    def __init__(self, device: Any = None):
        from .runtime.device import get_device
        self.device = device if device is not None else get_device()[0]
        self.dim: int | None = None
        self._labels: list[Label] = []            # class slot -> label as first given
        self._keys: list[str] = []                # class slot -> key
        self._class_id: dict[str, int] = {}       # key -> class_index; never forgotten, as knn-classifier
        self._rows = np.zeros(0, np.uint32)       # stored row -> class slot (rows in insertion order)
        self._cap = 0
        self._buffers: dict[str, Any] = {}
        self._pipelines: dict[str, Any] = {}     # kernel -> compute pipeline, built once
        self._bind_groups: dict[str, Any] = {}   # kernel:target -> bind group, dropped when a buffer is replaced

    # -- what is stored ---------------------------------------------------------------------------------
    @property
    def num_examples(self) -> int:
        """Stored examples, all classes together."""
        return len(self._rows)

    def num_classes(self) -> int:
        """Classes with at least one example."""
        return len(self._keys)

    def class_example_count(self) -> dict[Label, int]:
        """Label -> its number of examples, in knn-classifier's class order."""
        counts = np.bincount(self._rows, minlength=len(self._keys))
        return {self._labels[s]: int(counts[s]) for s in self._order()}

    def class_index(self, label: Label) -> int | None:
        """knn-classifier's classIndex of a label: the order in which labels were first added."""
        return self._class_id.get(label_key(label))

    # -- adding and removing ----------------------------------------------------------------------------
    def add_example(self, features: Any, label: Label) -> None:
        """Store one example [D] (or rows [N, D...], each flattened) under `label`, L2-normalised on the GPU."""
        self._append(self._check(features, "add_example"), label, normalize=True)

    def _append(self, rows: np.ndarray, label: Label, normalize: bool) -> None:
        key = label_key(label)
        label = int(label) if isinstance(label, np.integer) else label
        n0, n = self.num_examples, len(rows)
        self._reserve(n0 + n)   # first: a KNNError here leaves the classifier as it was
        if key not in self._class_id:
            self._class_id[key] = len(self._class_id)
        if key not in self._keys:
            self._keys.append(key)
            self._labels.append(label)
        queue = self.device.queue
        queue.write_buffer(self._buffers["examples"], 4 * n0 * self.dim, rows)
        slot = self._keys.index(key)
        self._rows = np.concatenate([self._rows, np.full(n, slot, np.uint32)])
        queue.write_buffer(self._buffers["row_class"], 4 * n0, self._rows[n0:])
        self._write_ranks()
        if not normalize:   # rows from a saved file are unit rows already: keep their bits
            return
        self._uniform("u_add", n=n0 + n, first=n0, count=n)
        encoder = self.device.create_command_encoder()
        cp = encoder.begin_compute_pass()
        self._dispatch(cp, "normalize", "examples", (min(n, GX), -(-n // GX), 1))
        cp.end()
        queue.submit([encoder.finish()])

    def clear_class(self, label: Label) -> None:
        """Remove every example of `label` (KNNError if it has none, as knn-classifier throws)."""
        key = label_key(label)
        if key not in self._keys:
            raise KNNError(f"cannot clear class {label!r}: it has no examples (classes: "
                           f"{', '.join(map(repr, self._labels)) or 'none'})")
        slot = self._keys.index(key)
        keep = np.flatnonzero(self._rows != slot)
        if len(keep):
            # Runs of kept rows move down in order, by buffer copies in one submit (rows keep their order,
            # which knn-classifier's tie-breaking depends on).
            old = self._buffers["examples"]
            new = self.device.create_buffer(size=old.size, usage=old.usage)
            encoder = self.device.create_command_encoder()
            breaks = np.flatnonzero(np.diff(keep) != 1) + 1
            at, b = 0, 4 * self.dim
            for run in np.split(keep, breaks):
                encoder.copy_buffer_to_buffer(old, int(run[0]) * b, new, at * b, len(run) * b)
                at += len(run)
            self.device.queue.submit([encoder.finish()])
            self._buffers["examples"] = new
            self._bind_groups.clear()   # they name the old buffer
        rows = self._rows[keep]
        self._rows = np.where(rows > slot, rows - 1, rows).astype(np.uint32)
        del self._keys[slot], self._labels[slot]
        if len(self._rows):
            self.device.queue.write_buffer(self._buffers["row_class"], 0, self._rows)
        self._write_ranks()

    def clear_all_classes(self) -> None:
        """Remove every example (the feature size stays fixed, as in knn-classifier)."""
        for label in list(self._labels):
            self.clear_class(label)

    # -- classifying ------------------------------------------------------------------------------------
    def predict_class(self, features: Any, k: int = 3) -> dict[str, Any] | list[dict[str, Any]]:
        """Classify one query [D] (a dict) or rows [Q, D] (a list of dicts): the k most similar examples vote.

        Each result: {"label": the top class, "class_index": its knn-classifier classIndex, "confidences":
        {label: votes / min(k, examples)} for every class}. KNNError with no examples, k < 1 or not an
        int, a feature size other than the stored examples', or an all-zero or non-finite query.
        """
        _check_k(k)
        if self.num_examples == 0:
            raise KNNError("no examples: add some with add_example() before predict_class() "
                           "(knn-classifier: 'You have not added any examples to the KNN classifier')")
        one = np.ndim(features) == 1
        rows = self._check(features, "predict_class")
        kval = min(int(k), self.num_examples)
        _, votes = self._classify(rows, kval)
        results = [self._result(v, kval) for v in votes]
        return results[0] if one else results

    def neighbors(self, features: Any, k: int = 3) -> np.ndarray:
        """The rows picked for each query [Q, min(k, examples)], in knn-classifier's concatenated order."""
        _check_k(k)
        if self.num_examples == 0:
            raise KNNError("no examples: add some with add_example() first")
        rows = self._check(features, "neighbors")
        picks, _ = self._classify(rows, min(int(k), self.num_examples))
        position = np.empty(self.num_examples, np.int64)   # our row -> its place in knn-classifier's matrix
        position[self._to_knn_order()] = np.arange(self.num_examples)
        return position[picks]

    # -- files ------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the examples to a safetensors file (atomically): `examples` [N, D] float32 unit rows in
        knn-classifier's order, `classes` [N] int32 (position in `labels`), and metadata: format, labels
        (JSON, in class order) and class_ids (their class_index). The bundle's knn.js reads the same file."""
        from safetensors.numpy import save as st_save

        from .runtime.checkpoint import atomic_write
        order = self._order()
        perm = self._to_knn_order()
        n, d = self.num_examples, self.dim or 0
        examples = np.zeros((n, d), np.float32)
        if n:
            flat = np.frombuffer(self.device.queue.read_buffer(self._buffers["examples"], 0, 4 * n * d), np.float32)
            examples = flat.reshape(n, d)[perm]
        rank = {s: i for i, s in enumerate(order)}
        classes = np.array([rank[int(s)] for s in self._rows[perm]], np.int32)
        meta = {"format": FORMAT, "dim": str(d), "labels": json.dumps([self._labels[s] for s in order]),
                "class_ids": json.dumps(self._class_id)}
        atomic_write(path, st_save({"examples": examples, "classes": classes}, metadata=meta))

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: Any = None) -> KNNClassifier:
        """A classifier holding the examples of a file written by save() (or the bundle's knn.js);
        KNNError naming the file and what is wrong with it otherwise."""
        examples, classes, labels, ids, dim = _read(Path(path))
        knn = cls(device)
        knn.dim = dim
        for key, cid in ids.items():
            knn._class_id[key] = cid
        for i, label in enumerate(labels):
            rows = examples[classes == i]
            if len(rows):
                knn._append(np.ascontiguousarray(rows), label, normalize=False)
        return knn

    # -- internals --------------------------------------------------------------------------------------
    def _check(self, features: Any, what: str) -> np.ndarray:
        try:
            a = np.asarray(features)
        except (TypeError, ValueError) as e:
            raise KNNError(f"{what}: features must be numbers ({e})") from None
        if a.dtype.kind not in "biuf":
            raise KNNError(f"{what}: features must be numbers, not {a.dtype}")
        if a.ndim == 0 or a.size == 0:
            raise KNNError(f"{what}: features must be a vector [D] or rows [N, D], not shape {a.shape}")
        rows = np.ascontiguousarray(a.reshape(1, -1) if a.ndim == 1 else a.reshape(len(a), -1), np.float32)
        d = rows.shape[1]
        if self.dim is not None and d != self.dim:
            raise KNNError(f"{what}: the features have {d} values but the stored examples have {self.dim} "
                           "(every example and query of a classifier has one feature size)")
        bad = ~np.isfinite(rows).all(axis=1)
        if bad.any():
            raise KNNError(f"{what}: row {int(np.flatnonzero(bad)[0])} holds NaN or Inf")
        zero = ~(rows != 0).any(axis=1)
        if zero.any():
            raise KNNError(f"{what}: row {int(np.flatnonzero(zero)[0])} is all zeros: it has no direction to "
                           "compare (knn-classifier would give NaN similarities)")
        self.dim = d   # the first example fixes it
        return rows

    def _order(self) -> list[int]:
        """Class slots in JavaScript object-key order (integer-like keys ascending, then insertion order)."""
        return sorted(range(len(self._keys)),
                      key=lambda s: (0, int(self._keys[s]), 0) if _is_index(self._keys[s]) else (1, 0, s))

    def _to_knn_order(self) -> np.ndarray:
        """Map from knn-classifier's row position to our row: its matrix is the classes concatenated."""
        rank = np.empty(max(len(self._keys), 1), np.int64)
        rank[self._order()] = np.arange(len(self._keys))
        return np.argsort(rank[self._rows], kind="stable") if len(self._rows) else np.zeros(0, np.int64)

    def _write_ranks(self) -> None:
        ranks = np.zeros(max(len(self._keys), 1), np.uint32)
        ranks[self._order()] = np.arange(len(self._keys), dtype=np.uint32)
        self._ensure("class_rank", 4 * len(ranks))
        self.device.queue.write_buffer(self._buffers["class_rank"], 0, ranks)

    def _reserve(self, n: int) -> None:
        """Room for n examples: the buffers double, keeping what they hold."""
        if n <= self._cap:
            return
        cap = max(64, self._cap)
        while cap < n:
            cap *= 2
        limit = self.device.limits["max-storage-buffer-binding-size"]
        if 4 * cap * self.dim > limit or cap > WG * GX:
            raise KNNError(f"{n} examples of {self.dim} values need {4 * n * self.dim / 2**20:.1f} MiB, more "
                           f"than this device binds ({limit / 2**20:.1f} MiB)")
        for name, size in (("examples", 4 * cap * self.dim), ("row_class", 4 * cap)):
            self._ensure(name, size, keep=True)
        self._cap = cap

    def _ensure(self, name: str, size: int, keep: bool = False) -> None:
        import wgpu
        old = self._buffers.get(name)
        if old is not None and old.size >= size:
            return
        usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
        new = self.device.create_buffer(label=f"knn_{name}", size=max(size, 16), usage=usage)
        if keep and old is not None:
            encoder = self.device.create_command_encoder()
            encoder.copy_buffer_to_buffer(old, 0, new, 0, old.size)
            self.device.queue.submit([encoder.finish()])
        self._buffers[name] = new
        self._bind_groups.clear()

    def _uniform(self, name: str, **values: int) -> None:
        import wgpu
        if name not in self._buffers:
            self._buffers[name] = self.device.create_buffer(
                label=f"knn_{name}", size=32, usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST)
        fields = ("n", "d", "q", "k", "classes", "first", "count", "pad")
        data = {"d": self.dim or 0, **values}
        self.device.queue.write_buffer(self._buffers[name], 0, np.array([data.get(f, 0) for f in fields], np.uint32))

    def _dispatch(self, cp: Any, kernel: str, target: str, groups: tuple[int, int, int]) -> None:
        """Record `kernel` on its buffers (`target`: the rows normalize works on)."""
        uniform = "u_add" if target == "examples" else "u_run"
        binds = {"normalize": [uniform, target],
                 "scan": [uniform, "examples", "queries", "row_class", "class_rank", "cand"],
                 "similarity": [uniform, "examples", "queries", "sims"],
                 "topk": [uniform, "sims", "row_class", "class_rank", "picks", "votes"]}[kernel]
        if kernel not in self._pipelines:
            if not _SHADERS:
                _SHADERS.update(kernels())
            module = self.device.create_shader_module(label=f"knn_{kernel}", code=_SHADERS[kernel])
            self._pipelines[kernel] = self.device.create_compute_pipeline(
                label=f"knn_{kernel}", layout="auto", compute={"module": module, "entry_point": "main"})
        pipeline = self._pipelines[kernel]
        key = f"{kernel}:{target}"
        if key not in self._bind_groups:
            self._bind_groups[key] = self.device.create_bind_group(
                layout=pipeline.get_bind_group_layout(0), entries=[
                    {"binding": j, "resource": {"buffer": self._buffers[b], "offset": 0,
                                                "size": self._buffers[b].size}} for j, b in enumerate(binds)])
        cp.set_pipeline(pipeline)
        cp.set_bind_group(0, self._bind_groups[key])
        cp.dispatch_workgroups(*groups)

    def _classify(self, rows: np.ndarray, kval: int) -> tuple[np.ndarray, np.ndarray]:
        """Picks [Q, kval] and votes [Q, classes] of the query rows, in runs whose buffers fit one binding."""
        limit = self.device.limits["max-storage-buffer-binding-size"]
        per_query = max(4 * self._cap, 4 * (self.dim or 1), 8 * WG * SCAN_GROUPS * KMAX)   # sims, queries, cand
        step = max(1, min(GX, limit // per_query))
        runs = [self._run(scale_queries(rows[i:i + step]), kval) for i in range(0, len(rows), step)]
        return np.concatenate([r[0] for r in runs]), np.concatenate([r[1] for r in runs])

    def _run(self, rows: np.ndarray, kval: int) -> tuple[np.ndarray, np.ndarray]:
        """One submit: similarities and top k of scaled query rows; returns (picks [Q, k], votes [Q, classes])."""
        import wgpu
        q, n, c = len(rows), self.num_examples, len(self._keys)
        scan = kval <= KMAX
        groups = scan_groups(n)
        count = groups * WG * kval   # knn_scan's candidates a query
        self._ensure("queries", 4 * q * self.dim)
        if scan:
            self._ensure("cand", 8 * q * count)
        else:
            self._ensure("sims", 4 * q * self._cap)
            self._ensure("picks", 4 * q * kval)
            self._ensure("votes", 4 * q * c)
        self._uniform("u_run", n=n, q=q, k=kval, classes=c, first=0, count=count)
        self.device.queue.write_buffer(self._buffers["queries"], 0, rows)
        encoder = self.device.create_command_encoder()
        cp = encoder.begin_compute_pass()
        if scan:
            self._dispatch(cp, "scan", "queries", (groups, q, 1))
        else:
            self._dispatch(cp, "similarity", "queries", (-(-n // WG), q, 1))
            self._dispatch(cp, "topk", "queries", (q, 1, 1))
        cp.end()
        # the answer comes back in the same submit, through a staging buffer kept between calls (grown when
        # a run needs more): knn_scan's candidates, or knn_topk's picks and votes
        size = 8 * q * count if scan else 4 * q * (kval + c)
        staging = self._buffers.get("staging")
        if staging is None or staging.size < size:
            staging = self._buffers["staging"] = self.device.create_buffer(
                label="knn_staging", size=max(size, 256), usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)
        if scan:
            encoder.copy_buffer_to_buffer(self._buffers["cand"], 0, staging, 0, size)
        else:
            encoder.copy_buffer_to_buffer(self._buffers["picks"], 0, staging, 0, 4 * q * kval)
            encoder.copy_buffer_to_buffer(self._buffers["votes"], 0, staging, 4 * q * kval, 4 * q * c)
        self.device.queue.submit([encoder.finish()])
        staging.map_sync(wgpu.MapMode.READ, 0, size)
        data = np.frombuffer(staging.read_mapped(0, size), np.uint32).copy()
        staging.unmap()
        if not scan:
            return data[:q * kval].reshape(q, kval).astype(np.int64), data[q * kval:].reshape(q, c)
        ranks = np.zeros(max(c, 1), np.int64)
        ranks[self._order()] = np.arange(c)
        rank = ranks[self._rows]
        picks = np.stack([merge_candidates(cand, kval, rank) for cand in data.reshape(q, count, 2)])
        votes = np.stack([np.bincount(self._rows[p], minlength=c) for p in picks])
        return picks, votes

    def _result(self, votes: np.ndarray, kval: int) -> dict[str, Any]:
        """knn-classifier's calculateTopClass: confidences in class order, the first strictly best wins."""
        confidences: dict[Label, float] = {}
        top, best = None, 0.0
        for s in self._order():
            p = int(votes[s]) / kval
            if p > best:
                top, best = s, p
            confidences[self._labels[s]] = p
        assert top is not None, "the top k picked no class"
        return {"label": self._labels[top], "class_index": self._class_id[self._keys[top]],
                "confidences": confidences}


def _check_k(k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise KNNError(f"k must be a positive integer, not {k!r}")


_SHADERS: dict[str, str] = {}   # rendered once per process


def _read(path: Path) -> tuple[np.ndarray, np.ndarray, list[Label], dict[str, int], int]:
    """Read and check a saved classifier: every problem is a KNNError naming the file."""
    from safetensors import SafetensorError
    from safetensors.numpy import load as st_load

    def bad(msg: str) -> KNNError:
        return KNNError(f"{path}: not a saved KNN classifier: {msg}")

    try:
        data = path.read_bytes()
    except OSError as e:
        raise KNNError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8:8 + header_len]).get("__metadata__") or {}
    except (SafetensorError, ValueError, UnicodeDecodeError) as e:
        raise bad(f"it is not a safetensors file ({e})") from None
    if meta.get("format") != FORMAT:
        raise bad(f"its format is {meta.get('format')!r}, expected {FORMAT!r}")
    if set(tensors) != {"examples", "classes"}:
        raise bad(f"it holds tensors {sorted(tensors)}, expected examples and classes")
    examples, classes = tensors["examples"], tensors["classes"]
    try:
        labels = json.loads(meta["labels"])
        ids = json.loads(meta["class_ids"])
        dim = int(meta["dim"])
    except (KeyError, ValueError, TypeError) as e:
        raise bad(f"its metadata lacks or garbles {e}") from None
    if not isinstance(labels, list) or any(isinstance(x, bool) or not isinstance(x, (int, str)) for x in labels):
        raise bad("labels must be a list of ints and strings")
    keys = [str(x) for x in labels]
    if len(set(keys)) != len(keys):
        raise bad("two labels have the same key")
    if not isinstance(ids, dict) or any(not isinstance(v, int) or isinstance(v, bool) for v in ids.values()) \
            or any(key not in ids for key in keys):
        raise bad("class_ids must give every label's class index")
    if examples.dtype != np.float32 or examples.ndim != 2 or examples.shape[1] != dim or dim < 1:
        raise bad(f"examples must be float32 [N, {dim}], not {examples.dtype} {list(examples.shape)}")
    if classes.dtype != np.int32 or classes.shape != (len(examples),):
        raise bad(f"classes must be int32 [{len(examples)}], not {classes.dtype} {list(classes.shape)}")
    if len(classes) and (classes.min() < 0 or classes.max() >= len(labels)):
        raise bad(f"classes must index the {len(labels)} labels")
    if not np.isfinite(examples).all():
        raise bad("examples hold NaN or Inf")
    norms = np.linalg.norm(examples.astype(np.float64), axis=1)
    if len(norms) and np.abs(norms - 1).max() > 1e-3:
        raise bad(f"examples must be unit rows (a norm is {norms[np.argmax(np.abs(norms - 1))]:.4g})")
    return examples, classes, labels, ids, dim
