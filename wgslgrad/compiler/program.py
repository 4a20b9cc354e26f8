"""A Program: the lowered model as plain, JSON-able data (buffers, kernels, slots, phases).

Everything a runtime needs to run the model is here and nothing else: the Python wgpu Session and the
browser bundle read the same Program. Sizes and offsets are in f32 elements, never bytes.

compiler.lower.lower(graph) gives an inference Program; lower(graph, training=True) a training one, which
holds the forward kernels, the backward kernels and the optimizer update (one fused Adam kernel, the rule
of Op.ADAM), and adds four buffers:
  grads    the gradient of every trainable parameter, at the same offset as the parameter in `params`
           (size: trainable_elements rounded up to 4); the backward kernel that finishes a parameter's
           gradient writes it there directly. Gaps between parameters are never written and stay zero.
  adam_m   Adam's first and second moments, flat, the same layout as `grads`
  adam_v
  step     a uniform the runtime writes before each step: the values named by optimizer["fields"], in
           that order (ops/optimizer.py's STEP_FIELDS defines the layout); dropout draws its masks from its
           `t` and `seed` (ops/dropout.py)
`phases` names the kernels (indices into `kernels`) a runtime runs together, in dispatch order:
  inference  every kernel that computes an output (each kernel's `serves` says which), the loss included:
             a run dispatches those serving the outputs whose inputs are given. Every Program has it.
  forward    training only: the forward kernels the loss needs (kernels for other outputs are left out)
  backward   the gradients, ending in `grads`
  optimizer  the Adam kernel (an empty list when nothing is trainable), over params[0 : trainable_elements]
A spec with ops that act otherwise while training (dropout, batch norm: compiler/inference.py) has two sets of
forward kernels in its training Program: the inference phase runs its inference form (no dropout, moving
statistics), the forward phase its training form; the step's loss is then `step_loss`, not outputs["loss"]
(the inference phase's, for evaluation).
A training step runs forward + backward + optimizer (TRAINING_STEP) in one compute pass and reads back
step_loss, or outputs["loss"] when there is none; a gradient check runs forward + backward and reads `grads`. `optimizer` holds Adam's
settings from the spec's Train(...): {"kind": "adam", "lr", "beta1", "beta2", "eps", "uniform": "step",
"fields": [...]}; lr is the default, a runtime may pass its own each step (schedules).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..ops.optimizer import ADAM_M, ADAM_V, STEP  # noqa: F401  (buffer names: part of this module's interface)
from .ir import Graph, Op

# Buffer names. Inputs get one buffer each, named INPUT_PREFIX + input name.
PARAMS = "params"
ARENA = "arena"
CONSTS = "consts"
INPUT_PREFIX = "input:"
GRADS = "grads"
# ADAM_M, ADAM_V (Adam's moments) and STEP (the step uniform) are the optimizer's, named in ops/optimizer.py

# Phase names (Program.phases).
INFERENCE = "inference"
FORWARD = "forward"
BACKWARD = "backward"
OPTIMIZER = "optimizer"
TRAINING_STEP = (FORWARD, BACKWARD, OPTIMIZER)

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
        return math.prod(self.shape)


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
        return math.prod(self.shape)


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


def embedding_ids(g: Graph) -> dict[str, int]:
    """The inputs that feed an embedding -> the smallest vocabulary they index (ids must lie below it)."""
    names = {i: name for name, i in g.inputs.items()}
    out: dict[str, int] = {}
    for n in g.nodes:
        if n.op is Op.EMBEDDING and n.srcs[0] in names:
            name, vocab = names[n.srcs[0]], g.nodes[n.srcs[1]].shape[0]
            out[name] = min(out.get(name, vocab), vocab)
    return out


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
    activation_elements: int = 0                 # sum of all activation sizes (aligned), before arena reuse
    phases: dict[str, list[int]] = field(default_factory=dict)   # phase name -> kernel indices, in order
    optimizer: dict[str, Any] = field(default_factory=dict)      # training only: Adam's settings
    ids: dict[str, int] = field(default_factory=dict)   # inputs holding embedding ids -> their vocabulary size
    step_loss: Slot | None = None   # a training step's loss where it differs from outputs["loss"] (see above)

    def as_dict(self) -> dict[str, Any]:
        """The Program as plain data (what to_json writes)."""
        d = asdict(self)
        if d["step_loss"] is None:   # most Programs: the step's loss is outputs["loss"]
            del d["step_loss"]
        return d

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.as_dict(), indent=indent)

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
            optional_outputs=d["optional_outputs"], activation_elements=d["activation_elements"],
            phases=d.get("phases") or _inference_phase(d), optimizer=d.get("optimizer", {}), ids=d.get("ids", {}),
            step_loss=_slot(d["step_loss"]) if d.get("step_loss") else None)

    @property
    def training(self) -> bool:
        """Whether the Program has a training step (phases forward, backward and optimizer)."""
        return all(p in self.phases for p in TRAINING_STEP)

    def phase_kernels(self, *names: str) -> list[int]:
        """The kernels of the named phases, one phase after another (indices into `kernels`)."""
        missing = [n for n in names if n not in self.phases]
        if missing:
            raise ValueError(f"the program has no {', '.join(missing)} phase (it has {', '.join(self.phases)})"
                             + ("" if self.training else ": lower the graph with lower(graph, training=True)"))
        return [k for n in names for k in self.phases[n]]

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


def _inference_phase(d: dict[str, Any]) -> dict[str, list[int]]:
    """The phases of an inference Program saved before Programs had them."""
    return {INFERENCE: [i for i, k in enumerate(d["kernels"]) if k["serves"]]}


def _slot(v: dict[str, Any]) -> Slot:
    return Slot(v["buffer"], v["offset"], tuple(v["shape"]))
