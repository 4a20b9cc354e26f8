"""Lowering: an IR Graph -> a Program (buffers, slots, WGSL kernels in dispatch order).

    lower(graph)
      1. keep the nodes the outputs (and the loss) need
      2. place parameters in `params` (trainable first), constants in `consts`, inputs in their own buffers
      3. fuse each conv/dense/depthwise with the elementwise ops after it (fuse.py: one kernel per group)
      4. plan the activation arena from live ranges (RESHAPE aliases its source: no copy, no kernel)
      5. one table row per op turns a node into kernels (KernelBuilder: bindings, offsets, templates)

    lower_train(graph) (lower_train.py) does the same for a training step: autodiff's backward nodes,
    parameter gradients in `grads`, one fused Adam kernel. Rules: lower_forward.py, lower_backward.py,
    lower_backward_conv.py.

Adding a kernel (a backward op, a fused group, the Adam step):
  1. write kernels/NAME.wgsl: a jinja2 template that starts with `{{ bindings }}`, has one entry point
     `main`, and reads tensors as `{{ x.var }}[{{ x.off }}u + i]`; every size and stride is a named value;
  2. write `@rule(Op.X) def lower_x(ctx, i) -> list[Kernel]`: `kb = ctx.builder()`, `kb.read(src)` /
     `kb.write(i)` give Operands and record the bindings (each buffer once, read_write if ever written),
     `ctx.grid(n)` gives a dispatch within the per-dimension limit, and `kb.kernel(name, "NAME.wgsl",
     workgroups, [node ids], **values)` renders it;
  3. if the kernel needs temporary memory at its own step, add `SCRATCH[Op.X] = fn(graph, node) ->
     elements`; the rule finds it in `ctx.scratch[i]` (in SCRATCH_BUFFER, shared by all such requests).
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from . import fuse, memory
from .ir import LEAVES, Graph, Node, Op, fmt_shape, needed_nodes, verify
from .program import (
    ARENA,
    CONSTS,
    INPUT_PREFIX,
    PARAMS,
    READ,
    READ_WRITE,
    UNIFORM,
    Binding,
    Kernel,
    ParamSlot,
    Program,
    Slot,
    embedding_ids,
)
from .summary import node_flops

MAX_WORKGROUPS = 65535       # WebGPU default maxComputeWorkgroupsPerDimension
MAX_STORAGE_BUFFERS = 8      # WebGPU default maxStorageBuffersPerShaderStage
WORKGROUP = 256              # WebGPU default maxComputeInvocationsPerWorkgroup
ARENA_CHUNK = 2**27 // 4     # f32 elements: WebGPU default maxStorageBufferBindingSize (128 MiB) per arena buffer

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent.parent / "kernels"),
    undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    autoescape=False)


def render(template: str, **values: Any) -> str:
    """Render kernels/<template> with StrictUndefined: a missing value is an error, never empty text."""
    return _templates.get_template(template).render(**values)


def f32(x: float) -> str:
    """A WGSL f32 literal."""
    assert math.isfinite(x), f"non-finite constant {x} in a kernel"
    s = repr(float(x))
    return f"({s})" if s.startswith("-") else s


def grid(count: int, limit: int = MAX_WORKGROUPS) -> tuple[int, int, int]:
    """Workgroups (x, y, 1) covering `count` work groups, each at most `limit`.

    Kernels linearise the group id as `wid.y * x + wid.x` and return when it is >= count; that test is
    uniform across a workgroup, so barriers after it stay legal.
    """
    count = max(count, 1)
    if count <= limit:
        return (count, 1, 1)
    y = -(-count // limit)
    assert y <= limit, f"{count} workgroups do not fit a 2-D dispatch"
    return (-(-count // y), y, 1)


@dataclass
class Operand:
    """A tensor as a template sees it: `{{ x.var }}[{{ x.off }}u + i]`."""
    var: str
    off: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass
class Ctx:
    """What the rules read: the graph, each node's slot, and lowering options."""
    graph: Graph
    slots: dict[int, Slot]
    scratch: dict[int, Slot] = field(default_factory=dict)
    max_workgroups: int = MAX_WORKGROUPS
    arena_chunk: int = ARENA_CHUNK
    groups: dict[int, fuse.Group] = field(default_factory=dict)   # fused groups by producer
    vec4: bool = True             # tiled products load 4 consecutive floats at once where the layout allows
    shared_tiles: bool = True     # tiled products stage A and B through workgroup memory (else: direct loads)

    @property
    def max_tile(self) -> int:
        """The largest output tile side of a tiled product: 64 (4x4 results a thread), 32 without shared
        tiles (2x2: a quarter of the code, so SwiftShader compiles it faster; filter gradients keep the K
        split of 64-tiles, which sizes scratch memory)."""
        return 64 if self.shared_tiles else 32

    @property
    def lanes(self) -> int:
        """Threads of a reduction's workgroup (its workgroup-memory tree): 256, or 64 without shared tiles
        (SwiftShader compiles workgroup memory slowly; a CPU gains little from more lanes). Only the kernels'
        lanes change: split plans, and so scratch sizes, stay those of 256 lanes."""
        return WORKGROUP if self.shared_tiles else 64

    def fuse(self, needed: list[int], keep: list[int], end: int) -> None:
        """Epilogue groups over the forward nodes (below `end`), bias sums over the backward ones."""
        self.groups = fuse.plan(self.graph, needed, keep, end) | fuse.bias_sums(self.graph, needed, end)

    def group(self, i: int) -> fuse.Group:
        """The fused group that node `i` leads, or `i` alone (stored)."""
        return self.groups.get(i) or fuse.Group(i, [], {i})

    def absorbed(self) -> dict[int, fuse.Group]:
        """Each node that a group computes after its producer -> that group."""
        return {c: grp for grp in self.groups.values() for c in grp.chain}

    def builder(self) -> KernelBuilder:
        return KernelBuilder(self)

    def grid(self, count: int) -> tuple[int, int, int]:
        return grid(count, self.max_workgroups)


class KernelBuilder:
    """Collects the buffers one kernel touches, each bound once (read_write if it is ever written)."""

    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.bindings: list[Binding] = []
        self.vars: dict[str, str] = {}
        self.uniform_vec4s: dict[str, int] = {}
        self.vec4_buffers: set[str] = set()
        self.views: dict[str, tuple[str, Binding]] = {}   # buffer -> its vec4 view's name and binding

    def var(self, buffer: str, access: str = READ) -> str:
        if buffer not in self.vars:
            name = re.sub(r"\W", "_", buffer.removeprefix(INPUT_PREFIX))
            name = ("in_" + name) if buffer.startswith(INPUT_PREFIX) else name
            if name in self.vars.values():
                name += f"_{len(self.bindings)}"
            self.vars[buffer] = name
            self.bindings.append(Binding(buffer, access))
        b = next(b for b in self.bindings if b.buffer == buffer)
        if access == READ_WRITE:
            b.access = READ_WRITE
        return self.vars[buffer]

    def uniform(self, buffer: str, vec4s: int) -> str:
        """Bind `buffer` (vec4s * 4 floats, e.g. Adam's per-step values) as a uniform; returns its WGSL name."""
        self.uniform_vec4s[buffer] = vec4s
        return self.var(buffer, UNIFORM)

    def vec4(self, buffer: str, access: str = READ) -> str:
        """Bind a whole storage buffer as array<vec4<f32>> (the fused Adam step); returns its WGSL name.
        Every buffer's size is a multiple of 4 f32 (memory.ALIGN), so the vec4 view covers all of it."""
        self.vec4_buffers.add(buffer)
        return self.var(buffer, access)

    def view4(self, x: Operand, aligned: bool) -> str | None:
        """A second, read-only binding of x's buffer as array<vec4<f32>>, for loads of 4 consecutive
        elements of x that start at multiples of 4 (`aligned`: x's layout allows that); its name, or None
        (the caller then loads scalars) when vec4 loads are off, x's offset is not 16-byte aligned, the
        kernel has no storage binding left, or it writes that buffer: WebGPU lets a dispatch bind one
        buffer twice only if neither binding is writable. Call it after binding every output."""
        buffer = next(b for b, v in self.vars.items() if v == x.var)
        base = next(b for b in self.bindings if b.buffer == buffer)
        if not (self.ctx.vec4 and aligned and x.off % 4 == 0 and base.access == READ):
            return None
        if buffer in self.views:
            return self.views[buffer][0]
        if len(self.bindings) >= MAX_STORAGE_BUFFERS:
            return None
        name = f"{x.var}_4"
        binding = Binding(buffer, READ)
        self.views[buffer] = (name, binding)
        self.bindings.append(binding)
        return name

    def slot(self, slot: Slot, write: bool = False) -> Operand:
        return Operand(self.var(slot.buffer, READ_WRITE if write else READ), slot.offset, slot.shape)

    def read(self, node: int) -> Operand:
        return self.slot(self.ctx.slots[node])

    def write(self, node: int) -> Operand:
        return self.slot(self.ctx.slots[node], write=True)

    def fits(self, buffers: list[str]) -> bool:
        """Whether binding `buffers` too keeps this kernel within the storage-buffer limit."""
        return len(set(self.vars) | set(buffers)) + len(self.views) <= MAX_STORAGE_BUFFERS

    def declarations(self) -> str:
        views = {id(b): name for name, b in self.views.values()}
        for b in self.bindings:
            assert not (b.buffer in self.views and b.access != READ), f"{b.buffer} has a vec4 view and is written"
        lines = []
        for i, b in enumerate(self.bindings):
            if b.access == UNIFORM:
                lines.append(f"@group(0) @binding({i}) var<uniform> {self.vars[b.buffer]}: "
                             f"array<vec4<f32>, {self.uniform_vec4s[b.buffer]}>;")
            else:
                vec4 = id(b) in views or b.buffer in self.vec4_buffers
                name = views.get(id(b), self.vars[b.buffer])
                lines.append(f"@group(0) @binding({i}) var<storage, {b.access}> {name}: "
                             f"array<{'vec4<f32>' if vec4 else 'f32'}>;")
        return "\n".join(lines)

    def kernel(self, name: str, template: str, workgroups: tuple[int, int, int], nodes: list[int],
               flops: int | None = None, reads: int | None = None, **values: Any) -> Kernel:
        """Render `template`; `flops` defaults to the nodes' own (summary.node_flops) and `reads` (f32
        elements read) to their sources' sizes: a second stage that sums partial results passes its own."""
        assert len(self.bindings) <= MAX_STORAGE_BUFFERS, f"{name} binds {len(self.bindings)} buffers"
        assert all(0 < w <= MAX_WORKGROUPS for w in workgroups), f"{name}: workgroups {workgroups}"
        g = self.ctx.graph
        node = g.nodes[nodes[0]]
        srcs = {s for i in nodes for s in g.nodes[i].srcs} - set(nodes)
        reads = sum(g.nodes[s].size for s in srcs) if reads is None else reads
        written = self.ctx.groups[nodes[0]].stored if nodes[0] in self.ctx.groups else set(nodes)
        wgsl = render(template, bindings=self.declarations(), **values)
        return Kernel(name=name, wgsl=wgsl, bindings=list(self.bindings), workgroups=workgroups, nodes=nodes,
                      op=node.op.name.lower(), scope=node.scope,
                      flops=sum(node_flops(g, g.nodes[i]) for i in nodes) if flops is None else flops,
                      bytes=4 * (reads + sum(g.nodes[i].size for i in nodes if i in written)))


Rule = Callable[[Ctx, int], list[Kernel]]
RULES: dict[Op, Rule] = {}
SCRATCH: dict[Op, Callable[[Graph, Node], int]] = {}   # f32 elements of scratch a node needs at its own step


def rule(*ops: Op) -> Callable[[Rule], Rule]:
    def deco(fn: Rule) -> Rule:
        for op in ops:
            RULES[op] = fn
        return fn
    return deco


def alias_root(g: Graph, i: int) -> int:
    """The node whose memory `i` uses: RESHAPE is a view of its source."""
    while g.nodes[i].op is Op.RESHAPE:
        i = g.nodes[i].srcs[0]
    return i


def place_params(g: Graph) -> dict[str, ParamSlot]:
    """Trainable parameters first, then frozen ones, each 16-byte aligned; dict order is the graph's."""
    order = sorted(g.params, key=lambda name: not g.nodes[g.params[name]].arg.get("trainable", True))
    offsets, top = {}, 0
    for name in order:
        offsets[name] = top
        top += memory.align(g.nodes[g.params[name]].size)
    out = {}
    for name, i in g.params.items():
        n = g.nodes[i]
        out[name] = ParamSlot(offsets[name], n.shape, n.arg.get("init", "glorot_normal"), int(n.arg.get("fan_in", 0)),
                              int(n.arg.get("fan_out", 0)), bool(n.arg.get("trainable", True)))
    return out


def lower(graph: Graph, *, max_workgroups: int = MAX_WORKGROUPS, arena_chunk: int = ARENA_CHUNK,
          fused: bool = True, vec4: bool = True, shared_tiles: bool = True) -> Program:
    """The forward pass of `graph` as a Program; the loss (when set) is an extra output named "loss",
    which the Session computes only when the inputs it needs are given.

    `max_workgroups` caps workgroups per dispatch dimension (tests lower it to exercise 2-D dispatch);
    `arena_chunk` caps each arena buffer, in f32 elements (tests lower it to exercise several);
    `fused=False` gives every node its own kernel, `vec4=False` makes every load a scalar one (tests and
    `bench --peers` compare them); `shared_tiles=False` gives tiled products without workgroup memory, each
    thread loading its own operands (for CPU adapters: export/bundle.py adds such a Program for SwiftShader).
    """
    verify(graph)
    g = graph
    outputs = dict(g.outputs)
    optional = []
    if g.loss is not None and "loss" not in outputs:
        outputs["loss"] = g.loss
        optional.append("loss")
    needed = sorted(needed_nodes(g, list(outputs.values())))                 # 1. what the outputs need
    params = place_params(g)                                                # 2. leaves
    slots, consts = leaf_slots(g, needed, params)
    ctx = Ctx(g, slots, max_workgroups=max_workgroups, arena_chunk=arena_chunk, vec4=vec4 and shared_tiles,
              shared_tiles=shared_tiles)
    if fused:
        ctx.fuse(needed, list(outputs.values()), len(g.nodes))              # 3. fused groups
    arena, activations = plan_arena(ctx, needed, list(outputs.values()))    # 4. the arena
    kernels = lower_nodes(ctx, needed)                                      # 5. kernels, in node order

    requires = mark_serves(g, outputs, kernels)
    buffers = leaf_buffers(g, params, consts) | arena
    return Program(buffers=buffers, kernels=kernels,
                   inputs={name: slots[i] for name, i in g.inputs.items()},
                   outputs={name: slots[i] for name, i in outputs.items()},
                   params=params, batch=g.batch, buffer_data={CONSTS: consts} if consts else {},
                   requires=requires, optional_outputs=optional, activation_elements=activations,
                   ids=embedding_ids(g))


def lower_nodes(ctx: Ctx, needed: list[int]) -> list[Kernel]:
    """The kernels of the `needed` nodes, in node order, from each op's rule (leaves and reshapes have none;
    a fused group's kernel comes from its producer's rule)."""
    kernels: list[Kernel] = []
    absorbed = ctx.absorbed()
    for i in needed:
        op = ctx.graph.nodes[i].op
        if op in LEAVES or op is Op.RESHAPE or i in absorbed:
            continue
        if op not in RULES:
            raise NotImplementedError(f"no kernel for {op.name.lower()} (node %{i})")
        kernels += RULES[op](ctx, i)
    return kernels


def leaf_buffers(g: Graph, params: dict[str, ParamSlot], consts: list[float]) -> dict[str, int]:
    """Sizes of the buffers that hold leaves: the parameters, the constants (if any) and one per input."""
    buffers = {PARAMS: max(sum(memory.align(p.size) for p in params.values()), memory.ALIGN)}
    if consts:
        buffers[CONSTS] = len(consts)
    for name, i in g.inputs.items():
        buffers[INPUT_PREFIX + name] = memory.align(g.nodes[i].size)
    return buffers


def mark_serves(g: Graph, outputs: dict[str, int], kernels: list[Kernel]) -> dict[str, list[str]]:
    """Add each output's name to the `serves` of the kernels it needs; returns output -> the inputs it needs."""
    input_of = {i: name for name, i in g.inputs.items()}
    requires = {}
    for name, o in outputs.items():
        deps = needed_nodes(g, [o])
        requires[name] = [input_of[i] for i in sorted(deps) if i in input_of]
        for k in kernels:
            if deps & set(k.nodes):
                k.serves.append(name)
    return requires


def leaf_slots(g: Graph, needed: list[int], params: dict[str, ParamSlot]) -> tuple[dict[int, Slot], list[float]]:
    """Slots of parameters (in `params`), inputs (each its own buffer) and constants (packed in `consts`,
    whose contents are returned too)."""
    slots: dict[int, Slot] = {}
    for name, i in g.params.items():
        slots[i] = Slot(PARAMS, params[name].offset, g.nodes[i].shape)
    for name, i in g.inputs.items():
        slots[i] = Slot(INPUT_PREFIX + name, 0, g.nodes[i].shape)
    consts: list[float] = []
    for i in needed:
        n = g.nodes[i]
        if n.op is Op.CONST:
            value = [float(v) for v in n.arg["value"]]
            value = value * n.size if len(value) == 1 else value   # one value fills the shape
            assert len(value) == n.size, f"constant %{i} has {len(value)} values for shape {n.shape}"
            slots[i] = Slot(CONSTS, len(consts), n.shape)
            consts += value + [0.0] * (memory.align(len(value)) - len(value))
        assert n.op is not Op.PARAM or i in slots, f"PARAM node %{i} is not in graph.params"
    return slots, consts


SCRATCH_BUFFER = ARENA + "_scratch"   # every SCRATCH request, from offset 0: each is alive only during its
                                     # node's kernels, which run one after another


def arena_buffer(k: int) -> str:
    """The name of the k-th arena buffer: "arena", "arena1", "arena2", ..."""
    return ARENA if k == 0 else f"{ARENA}{k}"


def plan_arena(ctx: Ctx, needed: list[int], outputs: list[int], ends: dict[int, int] | None = None
               ) -> tuple[dict[str, int], int]:
    """Give every computed node an arena slot in ctx; RESHAPE takes its source's slot. SCRATCH requests
    share a buffer of their own (SCRATCH_BUFFER), so a split product that writes its partial sums there
    binds the arena read-only and may read it through vec4 views. Returns the buffers' sizes (one arena
    buffer unless it outgrows ctx.arena_chunk; no value straddles two) and the sum of all activation sizes,
    in f32 elements.

    Nodes that already have a slot (placed elsewhere, e.g. parameter gradients in `grads`) are left there;
    nodes that a fused group keeps in registers get none.
    `ends` keeps nodes alive at least until a given step (a training step's forward outputs, read after
    the forward kernels only)."""
    g = ctx.graph
    end = {i: i for i in needed}      # last step that reads each node's memory; outputs live to the end
    for i in needed:
        for s in g.nodes[i].srcs:
            r = alias_root(g, s)
            end[r] = max(end[r], i)
    for i in outputs:
        end[alias_root(g, i)] = len(g.nodes)
    for i, step in (ends or {}).items():
        end[alias_root(g, i)] = max(end[alias_root(g, i)], step)
    computed = [i for i in needed if g.nodes[i].op not in LEAVES and g.nodes[i].op is not Op.RESHAPE]
    start = {i: i for i in computed}   # the step that writes each value: a group writes at its producer's
    for grp in ctx.groups.values():
        for c in grp.nodes:
            start[c] = grp.producer
    in_registers = {c for grp in ctx.groups.values() for c in grp.nodes if c not in grp.stored}
    owners = [i for i in computed if i not in ctx.slots and i not in in_registers]
    absorbed = ctx.absorbed()
    scratch = [(i, SCRATCH[g.nodes[i].op](g, g.nodes[i])) for i in computed
               if g.nodes[i].op in SCRATCH and i not in absorbed]
    scratch = [(i, size) for i, size in scratch if size > 0]
    values = [memory.Interval(g.nodes[i].size, start[i], end[i]) for i in owners]
    for i, size in [(i, v.size) for i, v in zip(owners, values)] + scratch:
        if memory.align(size) > ctx.arena_chunk:
            n = g.nodes[i]
            raise ValueError(f"{n.scope or n.op.name.lower()} ({fmt_shape(n.shape)}) needs {4 * size / 2**20:.1f} MiB, "
                             f"more than one buffer binds ({4 * ctx.arena_chunk / 2**20:.0f} MiB): use a smaller batch")
    offsets, _ = memory.plan(values, ctx.arena_chunk)
    where, tops = memory.split(offsets, [v.size for v in values], ctx.arena_chunk)
    slots = [Slot(arena_buffer(k), off, g.nodes[i].shape) for i, (k, off) in zip(owners, where)]
    for i, slot in zip(owners, slots):
        ctx.slots[i] = slot
    for i, size in scratch:
        ctx.scratch[i] = Slot(SCRATCH_BUFFER, 0, (size,))
    for i in needed:
        if g.nodes[i].op is Op.RESHAPE:
            root = ctx.slots[alias_root(g, i)]
            ctx.slots[i] = Slot(root.buffer, root.offset, g.nodes[i].shape)
    arena = {arena_buffer(k): max(top, memory.ALIGN) for k, top in enumerate(tops)}
    if scratch:
        arena[SCRATCH_BUFFER] = memory.align(max(size for _, size in scratch))
    return arena, sum(memory.align(g.nodes[i].size) for i in owners)

from . import (
    lower_backward,  # noqa: F401  (registers the backward rules)
    lower_backward_conv,  # noqa: F401  (registers the conv, depthwise and dense gradients)
    lower_forward,  # noqa: F401  (registers the forward rules)
    lower_seq,  # noqa: F401  (registers slice, its gradient and stack)
)
from .lower_train import lower_train  # noqa: F401  (the training step: forward, backward, Adam)
