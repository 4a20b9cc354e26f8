"""What a lowering rule works with: the lowering state (graph, slots, fused groups, options), a KernelBuilder
that binds buffers and renders a template, and the rule tables' types.

A rule module keeps its own table: `RULES, SCRATCH = rule_tables()` and `rule = table_rule(RULES)`; lower.py
merges the tables by importing them (nothing registers itself by being imported).
"""
from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

from ..ops.base import WORKGROUP, f32
from ..ops.elementwise import expr
from . import fuse
from .ir import BINARY, DEFAULT_BINDING, UNARY, Graph, Node, Op
from .program import INPUT_PREFIX, READ, READ_WRITE, UNIFORM, Binding, Kernel, Slot
from .summary import node_flops

MAX_WORKGROUPS = 65535       # WebGPU default maxComputeWorkgroupsPerDimension
MAX_STORAGE_BUFFERS = 8      # WebGPU default maxStorageBuffersPerShaderStage

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent.parent / "kernels"),
    undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    autoescape=False)


@functools.cache
def template_params(template: str) -> frozenset[str]:
    """The names kernels/<template> reads: its parameters."""
    source = _templates.loader.get_source(_templates, template)[0]   # type: ignore[union-attr]
    return frozenset(jinja2.meta.find_undeclared_variables(_templates.parse(source)))


def render(template: str, **values: Any) -> str:
    """Render kernels/<template> with StrictUndefined: a missing value is an error, never empty text, and a
    value the template does not read is one too (a misspelt or stale parameter), both compiler bugs."""
    unread = set(values) - template_params(template)
    assert not unread, f"kernels/{template} reads no {', '.join(sorted(unread))}"
    return _templates.get_template(template).render(**values)


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
class Lowering:
    """What the rules read: the graph, each node's slot, and lowering options."""
    graph: Graph
    slots: dict[int, Slot]
    scratch: dict[int, Slot] = field(default_factory=dict)
    max_workgroups: int = MAX_WORKGROUPS
    arena_chunk: int = DEFAULT_BINDING // 4   # f32 elements of one arena buffer (lower: the graph's max_binding)
    groups: dict[int, fuse.Group] = field(default_factory=dict)   # fused groups by producer
    vec4: bool = True             # tiled products load 4 consecutive floats at once where the layout allows
    shared_tiles: bool = True     # tiled products through workgroup memory (else the CPU Programs' register blocks)

    @property
    def lanes(self) -> int:
        """Threads of a reduction's workgroup (its workgroup-memory tree): 256, or 64 without shared tiles
        (SwiftShader compiles workgroup memory slowly; a CPU gains little from more lanes). Only the kernels'
        lanes change: split plans, and so scratch sizes, stay those of 256 lanes."""
        return WORKGROUP if self.shared_tiles else 64

    def fuse(self, needed: list[int], keep: list[int], end: int, again: int | None = None) -> None:
        """Epilogue groups over the forward nodes (below `end`, and from `again` on: fuse.plan), bias sums over
        the backward ones."""
        self.groups = fuse.plan(self.graph, needed, keep, end, again) | fuse.bias_sums(self.graph, needed, end)

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

    def elementwise_groups(self, n: int) -> tuple[tuple[int, int, int], int]:
        """Workgroups of WORKGROUP threads covering n elements, and the x count kernels linearise with."""
        wg = self.grid(-(-n // WORKGROUP))
        return wg, wg[0]

    def epilogue(self, kb: KernelBuilder, i: int) -> tuple[list[str], list[int]]:
        """WGSL statements that finish output element `o` of producer `i` from its value `v` (bias included):
        the elementwise ops fused after it (fuse.plan), in registers, and a store of each value of the group
        that is kept. Returns them and the group's nodes."""
        g = self.graph
        group = self.group(i)
        lines, tail = [], i
        for c in group.nodes:
            node = g.nodes[c]
            if node.op in UNARY:
                lines.append(f"v = {expr(node.op.name.lower(), node.attrs)};")
            elif node.op is Op.BATCH_NORM:   # the inference form: a per-channel scale and shift (ops/batch_norm.py)
                gamma, beta, mm, mv = (kb.read(s) for s in node.srcs[1:5])
                ch = f"(o % {node.shape[-1]}u)"
                lines.append(f"v = (v - {mm.var}[{mm.off}u + {ch}]) * inverseSqrt({mv.var}[{mv.off}u + {ch}] + "
                             f"{f32(node.attrs.epsilon)}) * {gamma.var}[{gamma.off}u + {ch}] + {beta.var}[{beta.off}u + {ch}];")
            elif node.op in BINARY or node.op is Op.UNARY_GRAD:    # the chain's value and another one
                other = kb.read(node.srcs[1] if node.srcs[0] == tail else node.srcs[0])
                operands = {"va": "v", "vb": f"{other.var}[{other.off}u + o]"}
                if node.srcs[0] != tail:
                    operands = {"va": operands["vb"], "vb": "v"}
                lines.append("v = " + re.sub(r"\bv[ab]\b", lambda m, ops=operands: ops[m.group()],
                                             expr(node.op.name.lower(), node.attrs)) + ";")
            if c in group.stored:
                out = kb.write(c)
                lines.append(f"{out.var}[{out.off}u + o] = v;")
            tail = c
        return lines, group.nodes

    def fused_comment(self, nodes: list[int]) -> str:
        """A fused kernel's first line: each node's comment, `%3 conv2d[...] then %4 relu[...]`."""
        return " then ".join(self.comment(c) for c in nodes)

    def kernel_name(self, i: int, suffix: str = "") -> str:
        """A kernel's name: its node's op and id, `conv2d_12`."""
        return f"{self.graph.nodes[i].op.name.lower()}_{i}{suffix}"

    def comment(self, i: int) -> str:
        """The kernel's first line: `%12 conv2d[2, 56, 56, 32] in dense_block_0/conv0`."""
        n = self.graph.nodes[i]
        return f"%{i} {n.op.name.lower()}{list(n.shape)}" + (f" in {n.scope}" if n.scope else "")


class KernelBuilder:
    """Collects the buffers one kernel touches, each bound once (read_write if it is ever written)."""

    def __init__(self, ctx: Lowering):
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

    def vec4(self, buffer: str, write: bool = False) -> str:
        """Bind a whole storage buffer as array<vec4<f32>> (the fused Adam step); returns its WGSL name.
        Every buffer's size is a multiple of 4 f32 (memory.ALIGN), so the vec4 view covers all of it."""
        self.vec4_buffers.add(buffer)
        return self.var(buffer, READ_WRITE if write else READ)

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


Rule = Callable[[Lowering, int], list[Kernel]]
Scratch = Callable[[Graph, Node], int]   # f32 elements of scratch a node needs at its own step


def merge(*tables: dict[Op, Any]) -> dict[Op, Any]:
    """One table from several modules' tables; an op in two of them is a compiler bug."""
    out: dict[Op, Any] = {}
    for t in tables:
        assert not out.keys() & t.keys(), f"ops with two rules: {sorted(o.name for o in out.keys() & t.keys())}"
        out.update(t)
    return out
