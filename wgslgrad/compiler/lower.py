"""Lowering: an IR Graph -> a Program (buffers, slots, WGSL kernels in dispatch order, phases).

    lower(graph, training=False)
      1. training: autodiff's backward nodes on a copy of the graph (training.py)
      2. place parameters in `params` (trainable first), constants in `consts`, inputs in their own buffers;
         training: the ADAM node over the trainable parameters (training.add_update)
      3. keep the nodes the outputs (and the loss, the gradients, the update) need; training: each
         parameter's gradient placed in `grads` at the parameter's offset, so the kernel that finishes it
         writes it there, and the update's value in `params` itself
      4. fuse each conv/dense/depthwise with the elementwise ops after it, a depthwise input gradient with
         the gradients after it, each filter gradient with its bias gradient (fuse.py: one kernel per group)
      5. plan the activation arena from live ranges (RESHAPE aliases its source: no copy, no kernel); in a
         training step activations live until their last reader, backward ones included, and forward
         outputs but the loss only until the forward kernels end (an evaluation run reads them)
      6. one table row per op turns a node into kernels (KernelBuilder: bindings, offsets, templates)
      7. phases: inference, and for training forward, backward and optimizer (program.py)
    Rules: every op's OpDef (ops/registry.py) and, for the elementwise rows, ops/elementwise.py's two
    lowerings, merged below; the lowering state and KernelBuilder they use are in kernel_builder.py.

Adding a kernel (a backward op, a fused group, the Adam step):
  1. write kernels/NAME.wgsl: a jinja2 template that starts with `{{ bindings }}`, has one entry point
     `main`, and reads tensors as `{{ x.var }}[{{ x.off }}u + i]`; every size and stride is a named value;
  2. write `@rule(Op.X) def lower_x(ctx, i) -> list[Kernel]` in a rule module (ctx: a Lowering):
     `kb = ctx.builder()`, `kb.read(src)` / `kb.write(i)` give Operands and record the bindings (each buffer once, read_write if ever written),
     `ctx.grid(n)` gives a dispatch within the per-dimension limit, and `kb.kernel(name, "NAME.wgsl",
     workgroups, [node ids], **values)` renders it;
  3. if the kernel needs temporary memory at its own step, add `SCRATCH[Op.X] = fn(graph, node) ->
     elements` to that module's table; the rule finds it in `ctx.scratch[i]` (in SCRATCH_BUFFER, shared by all such requests).
"""
from __future__ import annotations

from typing import Any

from ..ops.base import OpDef
from ..ops.elementwise import lower_binary, lower_unary
from ..ops.optimizer import STEP_FIELDS
from ..ops.registry import OPS as FAMILY_OPS
from . import ir, memory
from .inference import append_inference_form, has_training_behaviour, inference_form
from .ir import BINARY, LEAVES, OPTIMIZERS, UNARY, Graph, Op, alias_root, fmt_shape, needed_nodes, verify
from .kernel_builder import (  # noqa: F401  (grid, render, f32: part of this module's interface)
    MAX_STORAGE_BUFFERS,
    MAX_WORKGROUPS,
    WORKGROUP,
    KernelBuilder,
    Lowering,
    Operand,
    Rule,
    Scratch,
    f32,
    grid,
    merge,
    render,
)
from .program import (
    ADAM_M,
    ADAM_V,
    ARENA,
    BACKWARD,
    CONSTS,
    FORWARD,
    GRADS,
    INFERENCE,
    INPUT_PREFIX,
    OPTIMIZER,
    PARAMS,
    STEP,
    Kernel,
    ParamSlot,
    Program,
    Slot,
    embedding_ids,
)
from .training import TrainingGraph, adam_settings, add_update, training_graph


def _family_scratch(d: OpDef) -> Scratch:
    assert d.scratch is not None
    return lambda g, n: d.scratch([g.nodes[s].shape for s in n.srcs], n.shape, n.attrs)


# every op's lowering rule and scratch request: the elementwise rows' two lowerings and each OpDef's
RULES: dict[Op, Rule] = merge({op: lower_unary for op in UNARY}, {op: lower_binary for op in BINARY},
                              {Op[name.upper()]: d.lower for name, d in FAMILY_OPS.items()})   # ops/registry.py
SCRATCH: dict[Op, Scratch] = {Op[name.upper()]: _family_scratch(d) for name, d in FAMILY_OPS.items() if d.scratch}


def place_params(g: Graph) -> dict[str, ParamSlot]:
    """Trainable parameters first, then frozen ones, each 16-byte aligned; dict order is the graph's."""
    order = sorted(g.params, key=lambda name: not g.nodes[g.params[name]].attrs.trainable)
    offsets, top = {}, 0
    for name in order:
        offsets[name] = top
        top += memory.align(g.nodes[g.params[name]].size)
    out = {}
    for name, i in g.params.items():
        n, a = g.nodes[i], g.nodes[i].attrs
        out[name] = ParamSlot(offsets[name], n.shape, a.init, a.fan_in, a.fan_out, a.trainable)
    return out


def lower(graph: Graph, *, training: bool = False, max_workgroups: int = MAX_WORKGROUPS,
          arena_chunk: int | None = None, fused: bool = True, vec4: bool = True,
          shared_tiles: bool = True) -> Program:
    """`graph` as a Program; `graph` is left unchanged. Its phases (program.py): `inference`, the kernels of
    every output, the loss (when set) being an extra output named "loss" that a run computes only when the
    inputs it needs are given; with `training`, also `forward`, `backward` and `optimizer`, one training step
    (the loss's gradient for every trainable parameter, then Adam). Parameters with trainable=False get no
    gradient and are never updated. Dropout and batch norm act otherwise while training (inference.py): an
    inference Program lowers the graph's inference form; a training one holds both forms, the inference phase
    running the inference form, the training step the training form, its loss in `step_loss`.

    `max_workgroups` caps workgroups per dispatch dimension (tests lower it to exercise 2-D dispatch);
    `arena_chunk` caps each arena buffer, in f32 elements (default: graph.max_binding's; tests lower it to
    exercise several);
    `fused=False` gives every node its own kernel, `vec4=False` makes every load a scalar one (tests and
    `bench --peers` compare them); `shared_tiles=False` gives the CPU Programs: every product without workgroup
    memory or barriers, each thread a 4x4 block of outputs in registers (dense_rows.wgsl), and 64-lane
    reductions (export/bundle.py adds such Programs for SwiftShader and other CPU adapters).
    """
    verify(graph)
    step = training_graph(graph) if training else None                     # 1. backward nodes (training.py)
    g = inference_form(graph) if step is None else step.graph
    forward_nodes = len(graph.nodes)
    outputs, optional = dict(g.outputs), []
    if g.loss is not None and "loss" not in outputs:
        outputs["loss"] = g.loss
        optional.append("loss")
    again: dict[int, int] = {}   # a training step's forward node -> its inference form's copy, where they differ
    if step is not None and has_training_behaviour(graph):
        again = append_inference_form(g, forward_nodes, list(outputs.values()))
        outputs = {name: again.get(o, o) for name, o in outputs.items()}
    params = place_params(g)                                                # 2. leaves
    if step is not None:
        add_update(step, params)                                            #    and the optimizer update
    roots = list(outputs.values()) + ([] if step is None else [step.loss, *step.grads.values(), *_opt(step.update)])
    needed = sorted(needed_nodes(g, roots))                                 # 3. what the outputs need
    slots, consts = leaf_slots(g, needed, params)
    trainable = 0
    if step is not None:
        for name, gi in step.grads.items():                                 #    gradients in `grads`
            root = alias_root(g, gi)
            slots[root] = Slot(GRADS, params[name].offset, g.nodes[root].shape)
        if step.update is not None:                                         #    the update in `params`
            trainable = g.nodes[step.update].size
            slots[step.update] = Slot(PARAMS, 0, g.nodes[step.update].shape)
    chunk = graph.max_binding // 4 if arena_chunk is None else arena_chunk
    ctx = Lowering(g, slots, max_workgroups=max_workgroups, arena_chunk=chunk, vec4=vec4 and shared_tiles,
                   shared_tiles=shared_tiles)
    if fused:
        ctx.fuse(needed, list(outputs.values()) + ([step.loss] if again else []), forward_nodes,
                 min(again.values(), default=None))                        # 4. fused groups
    if step is None:                                                        # 5. the arena
        arena, activations = plan_arena(ctx, needed, list(outputs.values()))
    elif again:   # the inference phase's outputs live to its end, the step's loss to the step's end
        arena, activations = plan_arena(ctx, needed, [step.loss, *outputs.values()])
    else:   # forward outputs but the loss are read after the forward kernels only (an evaluation run)
        forward_end = max(i for i in needed if i < forward_nodes)
        ends = {o: forward_end for name, o in outputs.items() if name != "loss"}
        arena, activations = plan_arena(ctx, needed, [step.loss], ends)
    kernels = lower_nodes(ctx, needed)                                      # 6. kernels, in node order
    requires = mark_serves(g, outputs, kernels)
    phases = {INFERENCE: [k for k, kern in enumerate(kernels) if kern.serves]}   # 7. phases
    buffers = leaf_buffers(g, params, consts) | arena
    optimizer: dict[str, Any] = {}
    if step is not None:
        phases |= training_phases(g, kernels, step, set(again.values()))
        moments = max(memory.align(trainable), memory.ALIGN)
        buffers |= {GRADS: moments, ADAM_M: moments, ADAM_V: moments, STEP: len(STEP_FIELDS)}
        optimizer = optimizer_data(adam_settings(g.train))
    return Program(buffers=buffers, kernels=kernels,
                   inputs={name: slots[i] for name, i in g.inputs.items()},
                   outputs={name: slots[i] for name, i in outputs.items()},
                   params=params, batch=g.batch, buffer_data={CONSTS: consts} if consts else {},
                   requires=requires, optional_outputs=optional, activation_elements=activations,
                   phases=phases, optimizer=optimizer, ids=embedding_ids(g),
                   step_loss=slots[step.loss] if again and step is not None else None)


def optimizer_data(settings: dict[str, float]) -> dict[str, object]:
    """What a Program says about its update (Program.optimizer): Adam's settings (lr being the default each step
    may override), the uniform the runtime writes before each step and the names of its fields, in order
    (ops/optimizer.py defines the layout)."""
    return {"kind": "adam", **settings, "uniform": STEP, "fields": list(STEP_FIELDS)}


def _opt(i: int | None) -> list[int]:
    return [] if i is None else [i]


def training_phases(g: Graph, kernels: list[Kernel], step: TrainingGraph, copies: set[int] = frozenset()
                    ) -> dict[str, list[int]]:
    """forward: the forward kernels the loss and the gradients need; backward: the backward kernels;
    optimizer: the update's; none of them the kernels of the inference form's `copies` (inference only)."""
    step_nodes = needed_nodes(g, [step.loss, *step.grads.values()])
    phases: dict[str, list[int]] = {FORWARD: [], BACKWARD: [], OPTIMIZER: []}
    for k, kern in enumerate(kernels):
        if kern.nodes[0] in copies:
            continue
        if g.nodes[kern.nodes[0]].op in OPTIMIZERS:
            phases[OPTIMIZER].append(k)
        elif kern.nodes[-1] >= step.forward_nodes:
            phases[BACKWARD].append(k)
        elif step_nodes & set(kern.nodes):
            phases[FORWARD].append(k)
    return phases


def lower_nodes(ctx: Lowering, needed: list[int]) -> list[Kernel]:
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
            value = [float(v) for v in n.attrs.value]
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


def plan_arena(ctx: Lowering, needed: list[int], outputs: list[int], ends: dict[int, int] | None = None
               ) -> tuple[dict[str, int], int]:
    """Give every computed node an arena slot in ctx; RESHAPE takes its source's slot. SCRATCH requests
    share a buffer of their own (SCRATCH_BUFFER), so a split product that writes its partial sums there
    binds the arena read-only and may read it through vec4 views. Returns the buffers' sizes (one arena
    buffer unless it outgrows ctx.arena_chunk, or 128 MiB when no value is larger; no value straddles two)
    and the sum of all activation sizes, in f32 elements.

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
    chunk, default = ctx.arena_chunk, ir.DEFAULT_BINDING // 4
    if chunk > default and all(memory.align(max(v.size, 1)) <= default for v in values):
        # compiled for devices that bind more (max_binding), but no value needs it: cut the arena as the
        # default does, so that the Program is the default's and runs on every device (a bigger max_binding
        # "just in case" costs nothing); a value over 128 MiB needs such a device anyway, and one arena
        # buffer up to the limit then takes the least memory
        chunk = default
    offsets, _ = memory.plan(values, chunk)
    where, tops = memory.split(offsets, [v.size for v in values], chunk)
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
