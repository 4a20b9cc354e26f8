"""Kernels for the gradients of conv2d, depthwise and dense (see the Op enum in ir.py for their semantics and
numpy_ref.py for their reference). Importing this module registers the rules.

  DENSE_DX      dy @ w.T: one tiled product (grad_matmul.wgsl), B read transposed
  DENSE_DW      x.T @ dy: the same, A read transposed; K = batch, split when long
  CONV2D_DW     x.T (im2col) @ dy: M = kh*kw*Ci, N = Co, K = B*OH*OW, split into chunks of K
  CONV2D_DX     dy @ w.T over a transposed-conv index map, one product per stride phase (no zero taps)
  DEPTHWISE_DX  one thread per input element, the taps of its stride phase unrolled (looped past 5x5)
  DEPTHWISE_DW  channels x lanes over output positions, all taps at once (one at a time past 5x5), then a tree
                per tap, in a loop; split into chunks

A split reduction writes one partial sum per chunk into scratch memory (SCRATCH), and reduce_partials.wgsl
adds the chunks, so no thread ever walks the whole batch and image. Every size, stride, offset and pad a
kernel needs is computed here and passed to its template by name.
"""
from __future__ import annotations

from typing import Any

from ..ops.base import halves, pow2_at_least
from .ir import Graph, Node, Op
from .kernel_builder import WORKGROUP, Kernel, KernelBuilder, Lowering, Operand, Rule, Scratch, rule_into
from .lower_forward import (
    BK,
    UNROLL_TAPS,
)

RULES: dict[Op, Rule] = {}       # this module's lowering rules, merged by lower.py
SCRATCH: dict[Op, Scratch] = {}  # f32 elements of scratch a node needs at its own step
rule = rule_into(RULES)

MIN_CHUNK = 256         # a split chunk of a tiled product walks at least this much of K
TARGET_GROUPS = 512     # split until tiles x chunks reaches about this many workgroups ...
MAX_CHUNKS = 256        # ... with at most this many chunks
MAX_SCRATCH = 1 << 22   # ... and at most this many f32 of partial sums (16 MiB)
MIN_LANE_TERMS = 16     # DEPTHWISE_DW: positions per lane in a chunk, at least


def split(length: int, groups: int, outs: int, min_chunk: int, align: int = 1) -> tuple[int, int]:
    """(chunks, chunk length) for a reduction of `length` terms per output when the outputs alone give
    `groups` workgroups: enough chunks to reach TARGET_GROUPS, each at least `min_chunk` long (a multiple
    of `align`), within MAX_CHUNKS and MAX_SCRATCH."""
    chunks = min(-(-length // min_chunk), max(1, TARGET_GROUPS // groups), MAX_CHUNKS,
                 max(1, MAX_SCRATCH // outs))
    if chunks <= 1:
        return 1, length
    size = -(-length // chunks)
    size = -(-size // align) * align
    return -(-length // size), size


# ---- the tiled products: DENSE_DX, DENSE_DW, CONV2D_DW, CONV2D_DX ----

def _tiles(m: int, n: int, cap: int = 64) -> dict[str, int]:
    bm, bn = pow2_at_least(m, 16, cap), pow2_at_least(n, 16, cap)
    return {"bm": bm, "bn": bn, "bk": BK, "tm": bm // 16, "tn": bn // 16, "tiles_n": -(-n // bn)}


def _matmul_plan(g: Graph, node: Node) -> dict[str, Any]:
    """The product a DENSE_DX, DENSE_DW or CONV2D_DW node is: sizes, operand layouts, tiles and K split."""
    a_shape, b_shape = g.nodes[node.srcs[0]].shape, g.nodes[node.srcs[1]].shape
    if node.op is Op.DENSE_DX:            # dy[B,U] @ w[F,U].T
        m, n, k = a_shape[0], b_shape[0], a_shape[1]
        plan: dict[str, Any] = {"a": "rows", "b": "cols"}
    elif node.op is Op.DENSE_DW:          # x[B,F].T @ dy[B,U]
        m, n, k = a_shape[1], b_shape[1], a_shape[0]
        plan = {"a": "cols", "b": "rows"}
    else:                                  # CONV2D_DW: im2col(x).T @ dy[B*OH*OW, Co]
        kh, kw, ci, co = node.shape
        _, h, w, _ = a_shape
        _, ho, wo, _ = b_shape
        (sh, sw), (pt, _, pl, _) = node.arg["stride"], node.arg["pad"]
        m, n, k = kh * kw * ci, co, b_shape[0] * ho * wo
        plan = {"a": "im2col_t", "b": "rows", "h": h, "w": w, "ci": ci, "kw": kw, "ho": ho, "wo": wo,
                "sh": sh, "sw": sw, "pt": pt, "pl": pl}
    t = _tiles(m, n)
    tiles = -(-m // t["bm"]) * t["tiles_n"]
    chunks, kc = split(k, tiles, m * n, MIN_CHUNK, BK)
    return plan | t | {"m": m, "n": n, "k": k, "tiles": tiles, "chunks": chunks, "kc": kc}


# The axis along which consecutive elements of an operand lie in memory, by operand and layout: vec4 loads
# need its length to be a multiple of 4 (each vec4 then starts at a multiple of 4 and is all inside the
# operand or all outside).
CONTIGUOUS = {("a", "rows"): "k", ("a", "cols"): "m", ("a", "im2col_t"): "ci", ("a", "dy_taps"): "co",
              ("b", "rows"): "n", ("b", "cols"): "k", ("b", "w_taps"): "co"}


def _matmul(ctx: Lowering, i: int, kb: KernelBuilder, kernel_name: str, out: Operand, a_src: Operand,
            b_src: Operand, plan: dict[str, Any], bias: Operand | None = None) -> Kernel:
    """The tiled product of `plan` into `out` (chunk c of a split at c * plan["stride"]); with `bias`,
    the column sums of B too (the bias gradient of a filter gradient's group), after a split's chunk
    rows there."""
    groups = plan["tiles"] * plan["chunks"]
    wg = ctx.grid(groups)
    a4 = kb.view4(a_src, plan[CONTIGUOUS["a", plan["a"]]] % 4 == 0)
    b4 = kb.view4(b_src, plan[CONTIGUOUS["b", plan["b"]]] % 4 == 0)
    values = dict(plan, comment=ctx.comment(i), a_src=a_src, b_src=b_src, out=out, groups=groups, gx=wg[0],
                  a_m_fast=plan["a"] in ("cols", "im2col_t"), b_k_fast=plan["b"] in ("cols", "w_taps"), a4=a4, b4=b4,
                  bias=bias, shared=ctx.shared_tiles)
    return kb.kernel(kernel_name, "grad_matmul.wgsl", wg, ctx.group(i).nodes, **values)


def _reduce_partials(ctx: Lowering, i: int, chunks: int) -> Kernel:
    """out[o] = sum over the chunks of scratch[chunk, o]: the second stage of a split; a group's bias sums
    follow the node's outputs in each chunk and go to the bias gradient."""
    g = ctx.graph
    nodes = ctx.group(i).nodes
    kb = ctx.builder()
    partial, out = kb.slot(ctx.scratch[i]), kb.write(i)
    out2 = kb.write(nodes[1]) if len(nodes) > 1 else None
    split, n = g.nodes[i].size, sum(g.nodes[c].size for c in nodes)
    cx = pow2_at_least(n, 1, 64)
    hy = min(max(ctx.lanes // cx, 1), pow2_at_least(chunks, 1, WORKGROUP))
    groups = -(-n // cx)
    wg = ctx.grid(groups)
    return kb.kernel(ctx.kernel_name(i), "reduce_partials.wgsl", wg, nodes, chunks * n, chunks * n, comment=ctx.comment(i),
                     partial=partial, out=out, out2=out2, split=split, n=n, chunks=chunks, cx=cx, hy=hy,
                     groups=groups, gx=wg[0], halves=halves(hy))


@rule(Op.DENSE_DX, Op.DENSE_DW, Op.CONV2D_DW)
def lower_grad_matmul(ctx: Lowering, i: int) -> list[Kernel]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    plan = _matmul_plan(g, node)
    if ctx.max_tile < plan["bm"] or ctx.max_tile < plan["bn"]:   # smaller tiles, the same K split (scratch)
        t = _tiles(plan["m"], plan["n"], ctx.max_tile)
        plan |= t | {"tiles": -(-plan["m"] // t["bm"]) * t["tiles_n"]}
    chain = ctx.group(i).chain
    bias = chain[0] if chain else None      # the bias gradient it sums too (fuse.bias_sums)
    kb = ctx.builder()
    a_src, b_src = kb.read(node.srcs[0]), kb.read(node.srcs[1])
    if plan["chunks"] == 1:
        return [_matmul(ctx, i, kb, ctx.kernel_name(i), kb.write(i), a_src, b_src, plan | {"stride": 0},
                        kb.write(bias) if bias is not None else None)]
    partial = kb.slot(ctx.scratch[i], write=True)
    stride = plan["m"] * plan["n"] + (plan["n"] if bias is not None else 0)
    first = _matmul(ctx, i, kb, ctx.kernel_name(i, "_partial"), partial, a_src, b_src, plan | {"stride": stride},
                    partial if bias is not None else None)
    return [first, _reduce_partials(ctx, i, plan["chunks"])]


def _matmul_scratch(g: Graph, node: Node) -> int:
    """A split's partial sums, room for a bias sum after each chunk's (used when the node leads a group)."""
    plan = _matmul_plan(g, node)
    return plan["chunks"] * (plan["m"] + 1) * plan["n"] if plan["chunks"] > 1 else 0


for _op in (Op.DENSE_DX, Op.DENSE_DW, Op.CONV2D_DW):
    SCRATCH[_op] = _matmul_scratch


def conv_dx_phases(in_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: tuple[int, int],
                   pad: tuple[int, int, int, int]) -> list[dict[str, int]]:
    """The stride phases of a transposed conv: input rows h with (h + pt) % sh = ry meet exactly the taps
    ky = ry + ti*sh (ti < nty), at output row oy = qy + hh - ti where h = h0 + hh*sh. One entry per
    (ry, rx) that holds input cells: its rows (b, hh, ww), depth (ti, tj, co) and index map."""
    b, h, w, _ = in_shape
    kh, kw, _, co = w_shape
    (sh, sw), (pt, _, pl, _) = stride, pad

    def axis(size: int, k: int, s: int, p: int, r: int) -> tuple[int, int, int, int]:
        first = (r - p) % s                     # the first cell of this phase
        count = max(0, -(-(size - first) // s))
        taps = max(0, -(-(k - r) // s))
        q = (first + p - r) // s                # exact: first + p - r is a multiple of s
        return first, count, taps, q

    # only the residues r whose first cell (r - p) % s lies inside the input hold cells: min(s, size) of them,
    # so a stride far beyond the image costs nothing here
    rys = sorted((first + pt) % sh for first in range(min(sh, h)))
    rxs = sorted((first + pl) % sw for first in range(min(sw, w)))
    phases = []
    for ry in rys:
        h0, hp, nty, qy = axis(h, kh, sh, pt, ry)
        for rx in rxs:
            w0, wp, ntx, qx = axis(w, kw, sw, pl, rx)
            assert hp and wp, "a phase without cells"
            phases.append({"rows": b * hp * wp, "depth": nty * ntx * co, "hp": hp, "wp": wp, "h0": h0,
                           "w0": w0, "ry": ry, "rx": rx, "ntx": max(ntx, 1), "qy": qy, "qx": qx})
    return phases



@rule(Op.CONV2D_DX)
def lower_conv2d_dx(ctx: Lowering, i: int) -> list[Kernel]:
    """dx = dy @ w.T over a transposed-conv index map, as one tiled product per stride phase in one dispatch:
    each phase reads only the taps that reach its input cells, so stride 2 wastes no multiplies on zeros."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    _, h, w, ci = node.shape
    kh, kw, _, co = g.nodes[node.srcs[1]].shape
    _, ho, wo, _ = g.nodes[node.srcs[0]].shape
    (sh, sw), (pt, _, pl, _) = node.arg["stride"], node.arg["pad"]
    phases = conv_dx_phases(node.shape, (kh, kw, ci, co), (sh, sw), node.arg["pad"])
    t = _tiles(max(p["rows"] for p in phases), ci, ctx.max_tile)
    tiles = 0
    for p in phases:
        p["t0"] = tiles
        tiles += -(-p["rows"] // t["bm"]) * t["tiles_n"]
    kb = ctx.builder()
    dy, wt, out = kb.read(node.srcs[0]), kb.read(node.srcs[1]), kb.write(i)
    plan = t | {"a": "dy_taps", "b": "w_taps", "m": node.size // ci, "n": ci, "k": kh * kw * co,
                "tiles": tiles, "chunks": 1, "kc": kh * kw * co, "stride": 0, "phases": phases, "h": h, "w": w, "ci": ci,
                "co": co, "kw": kw, "ho": ho, "wo": wo, "sh": sh, "sw": sw, "pt": pt, "pl": pl}
    return [_matmul(ctx, i, kb, ctx.kernel_name(i), out, dy, wt, plan)]


# ---- depthwise ----

@rule(Op.DEPTHWISE_DX)
def lower_depthwise_dx(ctx: Lowering, i: int) -> list[Kernel]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    dy, wt = kb.read(node.srcs[0]), kb.read(node.srcs[1])
    finish, nodes = ctx.epilogue(kb, i)
    _, h, w, ch = node.shape
    kh, kw, _, mult = g.nodes[node.srcs[1]].shape
    _, ho, wo, cm = g.nodes[node.srcs[0]].shape
    (sh, sw), (pt, _, pl, _) = node.arg["stride"], node.arg["pad"]
    unroll = kh * kw <= UNROLL_TAPS    # else the template loops over the taps of the cell's phase
    phases = []
    for ry in range(min(sh, kh) if unroll else 0):
        for rx in range(min(sw, kw)):
            # tap (ky, kx) = (ry + ti*sh, rx + tj*sw) reads dy at (qy - ti, qx - tj), (ti*Wo + tj)*CM
            # elements before (qy, qx); w[ky, kx, c, 0] is (ky*kw + kx)*C*M after w[0, 0, c, 0]
            taps = [{"ti": ti, "tj": tj, "ddy": (ti * wo + tj) * cm, "dw": (ky * kw + kx) * ch * mult}
                    for ti, ky in enumerate(range(ry, kh, sh)) for tj, kx in enumerate(range(rx, kw, sw))]
            cond = " && ".join(c for c in (f"hy % {sh}u == {ry}u" if sh > 1 else "",
                                           f"wx % {sw}u == {rx}u" if sw > 1 else "") if c)
            phases.append({"taps": taps, "cond": cond})
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "depthwise_dx.wgsl", wg, nodes, comment=ctx.fused_comment(nodes), dy=dy,
                      wt=wt, epilogue=finish, unroll=unroll, phases=phases, kh=kh, kw=kw, h=h, w=w, ch=ch, cm=cm, ho=ho, wo=wo, mult=mult, sh=sh, sw=sw,
                      pt=pt, pl=pl, n=node.size, wg=WORKGROUP, gx=gx)]


def _depthwise_dw_plan(g: Graph, node: Node) -> dict[str, int]:
    """`cx` channels x `hy` lanes per workgroup; positions split into `chunks` of `pc` (each lane takes at
    least MIN_LANE_TERMS of a chunk) when the channel tiles alone give few workgroups."""
    b, ho, wo, cm = g.nodes[node.srcs[1]].shape
    cx = pow2_at_least(cm, 1, 64)
    hy = WORKGROUP // cx
    ctiles = -(-cm // cx)
    p = b * ho * wo
    chunks, pc = split(p, ctiles, node.size, MIN_LANE_TERMS * hy)
    return {"cx": cx, "hy": hy, "ctiles": ctiles, "p": p, "chunks": chunks, "pc": pc}


def _depthwise_dw_scratch(g: Graph, node: Node) -> int:
    chunks = _depthwise_dw_plan(g, node)["chunks"]
    return chunks * node.size if chunks > 1 else 0


SCRATCH[Op.DEPTHWISE_DW] = _depthwise_dw_scratch


@rule(Op.DEPTHWISE_DW)
def lower_depthwise_dw(ctx: Lowering, i: int) -> list[Kernel]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    plan = _depthwise_dw_plan(g, node)
    _, h, w, ch = g.nodes[node.srcs[0]].shape
    _, ho, wo, cm = g.nodes[node.srcs[1]].shape
    kh, kw, _, mult = node.shape
    (sh, sw), (pt, _, pl, _) = node.arg["stride"], node.arg["pad"]
    # up to 5x5 taps, each thread sums them all at once in a private array; past that, one tap at a time
    unroll = kh * kw <= UNROLL_TAPS
    kb = ctx.builder()
    x, dy = kb.read(node.srcs[0]), kb.read(node.srcs[1])
    split_ = plan["chunks"] > 1
    dst = kb.slot(ctx.scratch[i], write=True) if split_ else kb.write(i)
    groups = plan["ctiles"] * plan["chunks"]
    wg = ctx.grid(groups)
    plan = plan | {"hy": max(ctx.lanes // plan["cx"], 1)}
    first = kb.kernel(ctx.kernel_name(i, "_partial" if split_ else ""), "depthwise_dw.wgsl", wg, [i],
                      comment=ctx.comment(i), x=x, dy=dy, dst=dst, unroll=unroll, kh=kh, kw=kw, h=h, w=w, ch=ch, cm=cm, ho=ho,
                      wo=wo, mult=mult, sh=sh, sw=sw, pt=pt, pl=pl, outs=node.size, groups=groups, gx=wg[0],
                      halves=halves(plan["hy"]), **plan)
    return [first, _reduce_partials(ctx, i, plan["chunks"])] if split_ else [first]

