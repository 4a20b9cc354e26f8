"""Lowering a training step: the forward pass, its backward pass and one fused Adam kernel, as one Program.

    lower_train(graph)
      1. autodiff.grad on a copy of the graph appends the backward nodes after the forward ones
      2. each trainable parameter's gradient node is placed in `grads` at the parameter's offset in `params`,
         so the kernel that finishes it writes it there (a copy kernel only where a node cannot be placed:
         a leaf, or one node that is the gradient of two parameters)
      3. keep the nodes the outputs, the loss and the gradients need; leaves as in lower(); fuse forward
         groups (a value the backward pass reads is stored), backward ones (a depthwise input gradient and
         the relu gradient and sums after it) and each filter gradient with its bias gradient (fuse.py)
      4. plan the arena over the whole step: activations live until their last reader, backward ones
         included; forward outputs only until the forward kernels end (a forward-only run reads them)
      5. kernels in node order, then the Adam kernel; `phases` says which of them one step runs

The Program's training additions (buffers grads/adam_m/adam_v/step, phases, optimizer) are described in
program.py.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from . import memory
from .autodiff import grad
from .ir import LEAVES, Graph, Op, verify
from .lower import (
    ARENA_CHUNK,
    MAX_STORAGE_BUFFERS,
    MAX_WORKGROUPS,
    WORKGROUP,
    Ctx,
    alias_root,
    leaf_buffers,
    leaf_slots,
    lower_nodes,
    mark_serves,
    needed_nodes,
    place_params,
    plan_arena,
    render,
)
from .program import (
    ADAM_M,
    ADAM_V,
    CONSTS,
    GRADS,
    PARAMS,
    READ,
    READ_WRITE,
    STEP,
    STEP_VEC4S,
    Kernel,
    Program,
    Slot,
    embedding_ids,
)

ADAM_DEFAULTS = {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7}


def adam_settings(train: Mapping[str, Any]) -> dict[str, Any]:
    """Adam's settings from a graph's Train(...) (flat keys, or an 'optimizer' mapping), defaults filled in."""
    t = dict(train)
    opt = t.get("optimizer", "adam")
    if isinstance(opt, Mapping):
        t.update(opt)
        opt = opt.get("kind", opt.get("name", "adam"))
    if str(opt).lower() != "adam":
        raise NotImplementedError(f"optimizer {opt!r}: only Adam is implemented")
    return {"kind": "adam", **{k: float(t.get(k, v)) for k, v in ADAM_DEFAULTS.items()}, "uniform": STEP}


def lower_train(graph: Graph, *, max_workgroups: int = MAX_WORKGROUPS, arena_chunk: int = ARENA_CHUNK,
                fused: bool = True, vec4: bool = True, shared_tiles: bool = True) -> Program:
    """One training step of `graph` (forward, backward and Adam) as a Program; `graph` is left unchanged.

    The loss is the output "loss"; the other outputs are computed by forward-only runs (evaluation).
    Parameters with trainable=False get no gradient and are never updated. `fused`, `vec4` and `shared_tiles`
    as in lower().
    """
    verify(graph)
    if graph.loss is None:
        raise ValueError("the graph has no loss: a spec needs Train(loss=...) to be trained")
    if graph.outputs.get("loss", graph.loss) != graph.loss:
        raise ValueError("an output named 'loss' is not the training loss: rename it")
    g = replace(graph, nodes=list(graph.nodes), params=dict(graph.params), inputs=dict(graph.inputs),
                outputs=dict(graph.outputs), train=dict(graph.train))
    loss, forward_nodes = g.loss, len(g.nodes)
    assert loss is not None
    grads = own_gradient_nodes(g, grad(g, loss), forward_nodes)          # 1, 2. backward nodes
    verify(g)
    outputs = dict(g.outputs)
    optional = []
    if "loss" not in outputs:
        outputs["loss"] = loss
        optional.append("loss")
    needed = sorted(needed_nodes(g, list(outputs.values()) + list(grads.values())))   # 3. what the step needs
    params = place_params(g)
    slots, consts = leaf_slots(g, needed, params)
    for name, gi in grads.items():
        root = alias_root(g, gi)
        slots[root] = Slot(GRADS, params[name].offset, g.nodes[root].shape)
    ctx = Ctx(g, slots, max_workgroups=max_workgroups, arena_chunk=arena_chunk, vec4=vec4 and shared_tiles,
              shared_tiles=shared_tiles)
    if fused:
        ctx.fuse(needed, list(outputs.values()), forward_nodes)
    forward_end = max(i for i in needed if i < forward_nodes)             # 4. the arena
    ends = {o: forward_end for name, o in outputs.items() if name != "loss"}
    arena, activations = plan_arena(ctx, needed, [loss], ends)
    kernels = lower_nodes(ctx, needed)                                     # 5. kernels, in node order
    requires = mark_serves(g, outputs, kernels)

    step_nodes = needed_nodes(g, [loss, *grads.values()])
    phases: dict[str, list[int]] = {
        "forward": [k for k, kern in enumerate(kernels) if kern.nodes[-1] < forward_nodes and step_nodes & set(kern.nodes)],
        "backward": [k for k, kern in enumerate(kernels) if kern.nodes[-1] >= forward_nodes],
        "optimizer": [],
    }
    trainable = max((params[name].offset + params[name].size for name in grads), default=0)
    optimizer = adam_settings(g.train)
    if trainable:
        phases["optimizer"].append(len(kernels))
        kernels.append(adam_kernel(ctx, trainable, optimizer))

    buffers = leaf_buffers(g, params, consts) | arena
    moments = max(memory.align(trainable), memory.ALIGN)
    buffers |= {GRADS: moments, ADAM_M: moments, ADAM_V: moments, STEP: 4 * STEP_VEC4S}
    return Program(buffers=buffers, kernels=kernels,
                   inputs={name: slots[i] for name, i in g.inputs.items()},
                   outputs={name: ctx.slots[i] for name, i in outputs.items()},
                   params=params, batch=g.batch, buffer_data={CONSTS: consts} if consts else {},
                   requires=requires, optional_outputs=optional, activation_elements=activations,
                   phases=phases, optimizer=optimizer, ids=embedding_ids(g))


def own_gradient_nodes(g: Graph, grads: dict[str, int], forward_nodes: int) -> dict[str, int]:
    """Parameter -> gradient node, each a distinct node computed by a backward kernel, so that it can be
    placed in `grads`; where one is not (a constant, or a node already serving another parameter), a copy
    (BROADCAST to the same shape) is appended."""
    out: dict[str, int] = {}
    taken: set[int] = set()
    for name, gi in grads.items():
        root = alias_root(g, gi)
        if g.nodes[root].op in LEAVES or root < forward_nodes or root in taken:
            p = g.nodes[g.params[name]]
            gi = g.add(Op.BROADCAST, (gi,), {"shape": p.shape, "scale": 1.0}, pos=p.pos, scope=p.scope + "/grad")
            root = gi
        taken.add(root)
        out[name] = gi
    return out


def adam_kernel(ctx: Ctx, trainable: int, optimizer: dict[str, Any]) -> Kernel:
    """The fused Adam update over params[0 : trainable], 4 floats per thread, values from the `step` uniform."""
    kb = ctx.builder()
    names = {"params": kb.vec4(PARAMS, READ_WRITE), "grads": kb.vec4(GRADS, READ), "m": kb.vec4(ADAM_M, READ_WRITE),
             "v": kb.vec4(ADAM_V, READ_WRITE), "step": kb.uniform(STEP, STEP_VEC4S)}
    assert len(kb.bindings) <= MAX_STORAGE_BUFFERS + 1
    n4 = memory.align(trainable) // 4
    wg = ctx.grid(-(-n4 // WORKGROUP))
    comment = (f"adam over {trainable} trainable parameters: lr {optimizer['lr']:g} (default), "
               f"beta1 {optimizer['beta1']:g}, beta2 {optimizer['beta2']:g}, eps {optimizer['eps']:g}")
    wgsl = render("adam.wgsl", bindings=kb.declarations(), comment=comment, n=trainable, n4=n4, wg=WORKGROUP,
                  gx=wg[0], **names)
    return Kernel(name="adam", wgsl=wgsl, bindings=list(kb.bindings), workgroups=wg, nodes=[], op="adam",
                  scope="optimizer", flops=12 * trainable, bytes=4 * 7 * trainable)
