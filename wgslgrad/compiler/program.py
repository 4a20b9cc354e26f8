"""A Program: the lowered model as plain, JSON-able data (buffers, kernels, slots).

Everything a runtime needs to run the model is here and nothing else: the Python wgpu Session and the
browser bundle read the same Program. Sizes and offsets are in f32 elements, never bytes.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

# Buffer names. Inputs get one buffer each, named INPUT_PREFIX + input name.
PARAMS = "params"
ARENA = "arena"
CONSTS = "consts"
INPUT_PREFIX = "input:"

# Binding access kinds, as written in WGSL (`var<storage, read>` ...) and mapped to a layout by runtimes.
READ = "read"
READ_WRITE = "read_write"
UNIFORM = "uniform"


@dataclass
class Slot:
    """Where a tensor lives: `buffer[offset : offset + prod(shape)]`, row-major."""
    buffer: str
    offset: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass
class ParamSlot:
    """A parameter inside the flat `params` buffer, with what initialisation needs."""
    offset: int
    shape: tuple[int, ...]
    init: str = "glorot_normal"       # 'glorot_normal' | 'zeros'
    fan_in: int = 0
    fan_out: int = 0
    trainable: bool = True

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass
class Binding:
    """One buffer bound by a kernel, at @binding(index in the kernel's list)."""
    buffer: str
    access: str                       # READ | READ_WRITE | UNIFORM


@dataclass
class Kernel:
    """One compute pipeline and its dispatch. `wgsl` has a single entry point `main` in @group(0)."""
    name: str
    wgsl: str
    bindings: list[Binding]
    workgroups: tuple[int, int, int]
    nodes: list[int]                  # IR node ids this kernel computes (a fused kernel lists several)
    op: str = ""                      # the IR op name, lower case (for summaries and profiles)
    scope: str = ""                   # the layer the node came from
    flops: int = 0
    bytes: int = 0                    # bytes read plus written, at least once each
    serves: list[str] = field(default_factory=list)  # the outputs that need this kernel


@dataclass
class Program:
    """Buffers, kernels in dispatch order, and where inputs, outputs and parameters live."""
    buffers: dict[str, int]                      # name -> size in f32 elements
    kernels: list[Kernel]
    inputs: dict[str, Slot]
    outputs: dict[str, Slot]
    params: dict[str, ParamSlot]
    batch: int = 1
    buffer_data: dict[str, list[float]] = field(default_factory=dict)  # initial contents (constants)
    requires: dict[str, list[str]] = field(default_factory=dict)       # output -> the inputs it needs
    optional_outputs: list[str] = field(default_factory=list)          # computed only if their inputs are given
    activation_elements: int = 0                 # sum of all activation sizes, before arena reuse

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(asdict(self), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Program:
        d = json.loads(text)
        return cls(
            buffers=d["buffers"],
            kernels=[Kernel(**{**k, "bindings": [Binding(**b) for b in k["bindings"]],
                               "workgroups": tuple(k["workgroups"])}) for k in d["kernels"]],
            inputs={k: _slot(v) for k, v in d["inputs"].items()},
            outputs={k: _slot(v) for k, v in d["outputs"].items()},
            params={k: ParamSlot(**{**v, "shape": tuple(v["shape"])}) for k, v in d["params"].items()},
            batch=d["batch"], buffer_data=d["buffer_data"], requires=d["requires"],
            optional_outputs=d["optional_outputs"], activation_elements=d["activation_elements"])

    @property
    def trainable_elements(self) -> int:
        """Trainable parameters come first in `params`: Adam updates params[0 : trainable_elements]."""
        return max((p.offset + p.size for p in self.params.values() if p.trainable), default=0)

    def describe(self) -> str:
        """One line per kernel: name, workgroups, FLOPs and bytes moved; then buffer sizes."""
        lines = [f"{'kernel':40s} {'workgroups':>18s} {'MFLOP':>9s} {'KiB':>9s}"]
        for k in self.kernels:
            lines.append(f"{k.name[:40]:40s} {tuple(k.workgroups)!s:>18s} {k.flops / 1e6:9.3f} "
                         f"{k.bytes / 1024:9.1f}")
        lines.append("buffers: " + ", ".join(f"{n} {4 * s / 1024:.1f} KiB" for n, s in self.buffers.items()))
        return "\n".join(lines)


def _slot(v: dict[str, Any]) -> Slot:
    return Slot(v["buffer"], v["offset"], tuple(v["shape"]))
