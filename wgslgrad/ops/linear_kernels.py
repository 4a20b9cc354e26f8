"""The lowerings of the linear and conv family (ops/linear.py declares the ops): each is given the Lowering it
works in (`ctx`), the node id and the node's typed attributes (`a`: stride and pad for the window ops).
The CPU Programs (ctx.shared_tiles False, for SwiftShader and other CPU adapters) take every product through
dense_rows.wgsl instead: a 4x4 block of outputs a thread in registers, no workgroup memory or barriers, im2col
and transposed-conv gathers in the loop, K split as below; the list is the default (GPU) Programs':

  CONV2D, DENSE  one tiled product, out[M, N] = A[M, K] @ w[K, N] (+ bias), then the ops fused after it
                 DENSE on few rows: a 4x4 block of outputs a thread, no workgroup memory (dense_rows.wgsl)
  DEPTHWISE      one thread per output element, the taps unrolled (looped past 5x5), then the fused ops
  DENSE_DX       dy @ w.T: one tiled product (grad_matmul.wgsl), B read transposed
  DENSE_DW       x.T @ dy: the same, A read transposed; K = batch, split when long
                 Both on a small batch: a 4x4 block of outputs a thread, no workgroup memory (dense_rows.wgsl)
  CONV2D_DW      x.T (im2col) @ dy: M = kh*kw*Ci, N = Co, K = B*OH*OW, split into chunks of K
  CONV2D_DX      dy @ w.T over a transposed-conv index map, one product per stride phase (no zero taps)
  DEPTHWISE_DX   one thread per input element, the taps of its stride phase unrolled (looped past 5x5)
  DEPTHWISE_DW   channels x lanes over output positions, all taps at once (one at a time past 5x5), then a tree
                 per tap, in a loop; split into chunks
  Without shared tiles (CPU adapters) the three depthwise ops take blocks in registers: ops/depthwise_cpu.py

A split reduction writes one partial sum per chunk into scratch memory (the OpDef's `scratch`), and
reduce_partials.wgsl adds the chunks, so no thread ever walks the whole batch and image. Every size, stride,
offset and pad a kernel needs is computed here and passed to its template by name. Like every module of this
package it imports nothing from the rest of wgslgrad (the Lowering, its KernelBuilder and the kernels are typed
loosely).
"""
from __future__ import annotations

import math
from typing import Any

from . import depthwise_cpu
from .base import WORKGROUP, Shape, halves, pow2_at_least

UNROLL_TAPS = 25   # depthwise kernels unroll up to this many taps (5x5), and loop over larger windows
# The tiled products' step along K. Its tiles (BK x (64+1) floats each) are most of a kernel's workgroup memory,
# and SwiftShader's compile time grows with that (about 0.6 ms a float): 16 took 2-5 s a kernel.
BK = 8
MAX_TILE = 64   # the largest output tile side of a tiled product (16x16 threads, 4x4 results each)

MIN_CHUNK = 256         # a split chunk of a tiled product walks at least this much of K
TARGET_GROUPS = 512     # split until tiles x chunks reaches about this many workgroups ...
MAX_CHUNKS = 256        # ... with at most this many chunks
MAX_SCRATCH = 1 << 22   # ... and at most this many f32 of partial sums (16 MiB)
LONG_CHUNK = 4096       # and a chunk walks at most about this much of K, in up to MAX_LONG_CHUNKS chunks (unless
MAX_LONG_CHUNKS = 4096  # MAX_SCRATCH stops it): a few outputs over a huge K (a first conv's filter gradient at
#                         batch 16 of 416x416 images: K = 2.7 M, 27x16 outputs) in MAX_CHUNKS chunks left most
#                         of an H200 idle (BENCHMARKS.md, "One NVIDIA H200 again")
MIN_LANE_TERMS = 16     # DEPTHWISE_DW: positions per lane in a chunk, at least
# The dense gradients' products without workgroup memory, on a batch below these sizes: each thread a block of
# outputs, so no barriers (which lavapipe runs slowly: 25-45x slower at batch 1, and slower up to batch 256
# at least, BENCHMARKS.md "few-row gradient products"); from 64 rows on the tiled kernels, whose workgroup
# memory a GPU uses well, as before.
DX_ROWS = 64            # DENSE_DX: dy[B,U] @ w[F,U].T with B below this
DW_ROWS = 64            # DENSE_DW: x[B,F].T @ dy[B,U] with B below this
ROWS_BLOCK = (4, 4)     # ... each thread of them a block of 4x4 outputs (fewer on fewer rows or columns)
FWD_ROWS = 64           # DENSE: x[B,F] @ w[F,U] with B below this the same way, its fused ops after each output


# ---- forward ----

def lower_matmul(ctx: Any, i: int, a: Any) -> list[Any]:
    """conv2d and dense as one tiled matrix product: out[M, N] = A[M, K] @ w[K, N] (+ bias).

    For conv2d, M = B*Ho*Wo, K = kh*kw*Ci and A is gathered from the image (a 1x1, stride-1, unpadded
    conv reads the image as A directly); HWIO weights are already w[K, N] row-major, as are IO ones.
    A dense layer on fewer than FWD_ROWS rows (a small batch, a short sequence) takes the kernel of the
    few-row gradients instead (_rows_kernel: 4x4 outputs a thread, no workgroup memory).
    """
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    x, wt = kb.read(node.srcs[0]), kb.read(node.srcs[1])
    bias = kb.read(node.srcs[2]) if len(node.srcs) > 2 else None
    finish, nodes = ctx.epilogue(kb, i)
    xs, ws = g.nodes[node.srcs[0]].shape, g.nodes[node.srcs[1]].shape
    conv: dict[str, int] = {}
    is_dense = node.op.name == "DENSE"
    if not is_dense:
        (sh, sw), (pt, _, pl, _) = a.stride, a.pad
        m, k, n = node.shape[0] * node.shape[1] * node.shape[2], ws[0] * ws[1] * ws[2], ws[3]
        if (ws[0], ws[1], sh, sw) != (1, 1, 1, 1) or any(a.pad):
            conv = {"h": xs[1], "w": xs[2], "ci": xs[3], "ho": node.shape[1], "wo": node.shape[2], "kw": ws[1],
                    "sh": sh, "sw": sw, "pt": pt, "pl": pl}
    else:
        m, k, n = xs[0], ws[0], ws[1]
    if not ctx.shared_tiles or not conv and is_dense and few_rows("DENSE", xs):
        # x[m*K + k] (or the image's windows) @ w[k*N + n]: a block of outputs a thread (the CPU Programs'
        # form always: no barriers)
        strides = {"sbk": n, "sbn": 1} | ({} if conv else {"sam": k, "sak": 1})
        return [_rows_kernel(ctx, i, kb, "DENSE", x, wt, m, n, k, strides, nodes, ctx.fused_comment(nodes),
                             bias=bias, epilogue=finish, conv={"conv": "im2col", **conv} if conv else None)]
    bm, bn, bk = pow2_at_least(m, 16, MAX_TILE), pow2_at_least(n, 16, MAX_TILE), BK
    tiles_n = -(-n // bn)
    tiles = -(-m // bm) * tiles_n
    wg = ctx.grid(tiles)
    # vec4 loads: 4 consecutive k of A are 4 channels of one pixel (or 4 floats of one row), 4 n of w one row
    a4, b4 = kb.view4(x, conv.get("ci", k) % 4 == 0), kb.view4(wt, n % 4 == 0)
    return [kb.kernel(ctx.kernel_name(i), "matmul.wgsl", wg, nodes, comment=ctx.fused_comment(nodes), x=x, wt=wt,
                      bias=bias, epilogue=finish, m=m, n=n, k=k, bm=bm, bn=bn, bk=bk, tm=bm // 16, tn=bn // 16,
                      tiles=tiles, tiles_n=tiles_n, gx=wg[0], conv=bool(conv), a4=a4, b4=b4, **conv)]


def lower_depthwise(ctx: Any, i: int, a: Any) -> list[Any]:
    """Without shared tiles (CPU adapters) each thread a block of channels x output columns
    (depthwise_blocks.wgsl), else one thread per output (depthwise.wgsl)."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    x, wt = kb.read(node.srcs[0]), kb.read(node.srcs[1])
    bias = kb.read(node.srcs[2]) if len(node.srcs) > 2 else None
    finish, nodes = ctx.epilogue(kb, i)
    _, h, w, ci = g.nodes[node.srcs[0]].shape
    kh, kw, _, mult = g.nodes[node.srcs[1]].shape
    b, ho, wo, co = node.shape
    (sh, sw), (pt, _, pl, _) = a.stride, a.pad
    values = {"comment": ctx.fused_comment(nodes), "x": x, "wt": wt, "bias": bias, "epilogue": finish,
              "unroll": kh * kw <= UNROLL_TAPS, "kh": kh, "kw": kw, "h": h, "w": w, "ci": ci, "co": co, "ho": ho,
              "wo": wo, "mult": mult, "sh": sh, "sw": sw, "pt": pt, "pl": pl}
    if not ctx.shared_tiles:
        return [depthwise_cpu.forward(ctx, i, kb, nodes, b, values)]
    # tap (ky, kx): x is (ky*W + kx)*Ci elements after tap (0, 0); w[ky, kx, c] is (ky*kw + kx)*Co after w[0, 0, c]
    taps = [{"ky": ky, "kx": kx, "dx": (ky * w + kx) * ci, "dw": (ky * kw + kx) * co}
            for ky in range(kh) for kx in range(kw)] if values["unroll"] else []
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "depthwise.wgsl", wg, nodes, taps=taps, n=node.size, wg=WORKGROUP, gx=gx,
                      **values)]


# ---- gradients ----

def split(length: int, groups: int, outs: int, min_chunk: int, align: int = 1) -> tuple[int, int]:
    """(chunks, chunk length) for a reduction of `length` terms per output when the outputs alone give
    `groups` workgroups: enough chunks to reach TARGET_GROUPS (at most MAX_CHUNKS), or chunks of LONG_CHUNK (at
    most MAX_LONG_CHUNKS) where that makes more, each at least `min_chunk` long (a multiple of `align`), within
    MAX_SCRATCH."""
    wanted = max(min(max(1, TARGET_GROUPS // groups), MAX_CHUNKS), min(-(-length // LONG_CHUNK), MAX_LONG_CHUNKS))
    chunks = min(-(-length // min_chunk), wanted, max(1, MAX_SCRATCH // outs))
    if chunks <= 1:
        return 1, length
    size = -(-length // chunks)
    size = -(-size // align) * align
    return -(-length // size), size


# ---- the tiled products: DENSE_DX, DENSE_DW, CONV2D_DW, CONV2D_DX ----

def _tiles(m: int, n: int) -> dict[str, int]:
    bm, bn = pow2_at_least(m, 16, MAX_TILE), pow2_at_least(n, 16, MAX_TILE)
    return {"bm": bm, "bn": bn, "bk": BK, "tm": bm // 16, "tn": bn // 16, "tiles_n": -(-n // bn)}


def few_rows(op: str, a_shape: Shape) -> bool:
    """Whether a DENSE, DENSE_DX or DENSE_DW node (`op`, its first source's shape: x[B,F] or dy[B,U]) takes
    the product without workgroup memory (a batch below FWD_ROWS, DX_ROWS or DW_ROWS) rather than the tiled
    one."""
    rows = {"DENSE": FWD_ROWS, "DENSE_DX": DX_ROWS, "DENSE_DW": DW_ROWS}.get(op, 0)
    return a_shape[0] < rows


def matmul_plan(op: str, a_shape: Shape, b_shape: Shape, shape: Shape, a: Any) -> dict[str, Any]:
    """The product a DENSE_DX, DENSE_DW or CONV2D_DW node (`op`, its sources' shapes, its shape, its
    attributes) is: sizes, operand layouts, tiles and K split."""
    if op == "DENSE_DX":                   # dy[B,U] @ w[F,U].T
        m, n, k = a_shape[0], b_shape[0], a_shape[1]
        plan: dict[str, Any] = {"a": "rows", "b": "cols"}
    elif op == "DENSE_DW":                 # x[B,F].T @ dy[B,U]
        m, n, k = a_shape[1], b_shape[1], a_shape[0]
        plan = {"a": "cols", "b": "rows"}
    else:                                  # CONV2D_DW: im2col(x).T @ dy[B*OH*OW, Co]
        kh, kw, ci, co = shape
        _, h, w, _ = a_shape
        _, ho, wo, _ = b_shape
        (sh, sw), (pt, _, pl, _) = a.stride, a.pad
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


def _matmul(ctx: Any, i: int, kb: Any, kernel_name: str, out: Any, a_src: Any, b_src: Any, plan: dict[str, Any],
            bias: Any | None = None) -> Any:
    """The tiled product of `plan` into `out` (chunk c of a split at c * plan["stride"]); with `bias`,
    the column sums of B too (the bias gradient of a filter gradient's group), after a split's chunk
    rows there."""
    groups = plan["tiles"] * plan["chunks"]
    wg = ctx.grid(groups)
    a4 = kb.view4(a_src, plan[CONTIGUOUS["a", plan["a"]]] % 4 == 0)
    b4 = kb.view4(b_src, plan[CONTIGUOUS["b", plan["b"]]] % 4 == 0)
    values = dict(plan, comment=ctx.comment(i), a_src=a_src, b_src=b_src, out=out, groups=groups, gx=wg[0],
                  a_m_fast=plan["a"] in ("cols", "im2col_t"), b_k_fast=plan["b"] in ("cols", "w_taps"), a4=a4, b4=b4,
                  bias=bias)
    return kb.kernel(kernel_name, "grad_matmul.wgsl", wg, ctx.group(i).nodes, **values)


def _reduce_partials(ctx: Any, i: int, chunks: int) -> Any:
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


def _rows_kernel(ctx: Any, i: int, kb: Any, op: str, a_src: Any, b_src: Any, m: int, n: int, k: int,
                 strides: dict[str, int], nodes: list[int], comment: str, out: Any = None, bias_sum: Any = None,
                 bias: Any = None, epilogue: list[str] | None = None, chunks: int = 1, kc: int = 0,
                 stride: int = 0, name: str = "", conv: dict[str, Any] | None = None) -> Any:
    """out[m, n] = A[m, k] @ B[k, n] through dense_rows.wgsl, A and B read through `strides` (sam, sak,
    sbk, sbn): each thread a block of outputs in registers, no workgroup memory. A gradient stores into `out`
    (and with `bias_sum` sums B over K there); the forward product adds `bias` and runs `epilogue` instead.
    With `chunks` > 1, K is split: chunk c sums k in [c*kc, (c+1)*kc) into out + c*stride (its bias sums
    after its m*n), for _reduce_partials to add. With `conv` (its "conv" im2col or im2col_t and the
    geometry), A is gathered from an image instead of read through sam and sak. Workgroups have ctx.lanes
    threads (64 on a CPU adapter)."""
    tm, tn = min(ROWS_BLOCK[0], m), min(ROWS_BLOCK[1], n)
    blocks_n = -(-n // tn)
    threads = -(-m // tm) * blocks_n
    wg = ctx.grid(-(-threads * chunks // ctx.lanes))
    return kb.kernel(name or ctx.kernel_name(i), "dense_rows.wgsl", wg, nodes, comment=comment, op=op, a=a_src,
                     b=b_src, out=out, bias_sum=bias_sum, bias=bias, epilogue=epilogue, m=m, n=n, k=k, tm=tm,
                     tn=tn, blocks_n=blocks_n, threads=threads, wg=ctx.lanes, gx=wg[0], chunks=chunks,
                     kc=kc or k, stride=stride, cpu=not ctx.shared_tiles, **(conv or {"conv": None}), **strides)


def _lower_grad_rows(ctx: Any, i: int, a: Any, plan: dict[str, Any]) -> list[Any]:
    """DENSE_DX, DENSE_DW or CONV2D_DW (A: the image's windows, or for a pointwise conv its [pixels, Ci]
    rows, read transposed) through dense_rows.wgsl: each thread a block of outputs in registers, no workgroup
    memory; dw also sums the bias gradient fused after it. K is split into the plan's chunks (the scratch
    memory that matmul_scratch sized), which _reduce_partials adds. The CPU Programs' form of all three, and
    the dense ones' on a small batch (few_rows: one chunk, no scratch)."""
    node = ctx.graph.nodes[i]
    m, n, k = plan["m"], plan["n"], plan["k"]
    conv = None
    if node.op.name == "DENSE_DX":     # A[m, k] = dy[m*U + k], B[k, n] = w[n*U + k]
        strides = {"sam": k, "sak": 1, "sbk": 1, "sbn": k}
    elif plan["a"] == "im2col_t" and not pointwise(node.shape, a):   # CONV2D_DW: A gathered from windows
        strides = {"sbk": n, "sbn": 1}
        conv = {"conv": "im2col_t"} | {key: plan[key] for key in ("h", "w", "ci", "kw", "ho", "wo", "sh", "sw",
                                                                   "pt", "pl")}
    else:                              # A[m, k] = x[k*F + m], B[k, n] = dy[k*U + n]
        strides = {"sam": 1, "sak": m, "sbk": n, "sbn": 1}
    chain = ctx.group(i).chain
    bias = chain[0] if chain else None
    kb = ctx.builder()
    a_src, b_src = kb.read(node.srcs[0]), kb.read(node.srcs[1])
    op = "DENSE_DX" if node.op.name == "DENSE_DX" else "DENSE_DW"
    if plan["chunks"] == 1:
        return [_rows_kernel(ctx, i, kb, op, a_src, b_src, m, n, k, strides, ctx.group(i).nodes, ctx.comment(i),
                             out=kb.write(i), bias_sum=kb.write(bias) if bias is not None else None, conv=conv)]
    partial = kb.slot(ctx.scratch[i], write=True)
    stride = m * n + (n if bias is not None else 0)
    first = _rows_kernel(ctx, i, kb, op, a_src, b_src, m, n, k, strides, ctx.group(i).nodes, ctx.comment(i),
                         out=partial, bias_sum=partial if bias is not None else None, chunks=plan["chunks"],
                         kc=plan["kc"], stride=stride, name=ctx.kernel_name(i, "_partial"), conv=conv)
    return [first, _reduce_partials(ctx, i, plan["chunks"])]


def pointwise(w_shape: Shape, a: Any) -> bool:
    """Whether a conv with filter `w_shape` and attributes `a` is a plain product of its image's rows: 1x1,
    stride 1, no padding."""
    return (w_shape[0], w_shape[1], *a.stride) == (1, 1, 1, 1) and not any(a.pad)


def lower_grad_matmul(ctx: Any, i: int, a: Any) -> list[Any]:
    """DENSE_DX, DENSE_DW and CONV2D_DW (the dense ones on a small batch, and in the CPU Programs all of them,
    without workgroup memory: _lower_grad_rows)."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    plan = matmul_plan(node.op.name, g.nodes[node.srcs[0]].shape, g.nodes[node.srcs[1]].shape, node.shape, a)
    if few_rows(node.op.name, g.nodes[node.srcs[0]].shape):
        return _lower_grad_rows(ctx, i, a, plan | {"chunks": 1})
    if not ctx.shared_tiles:
        return _lower_grad_rows(ctx, i, a, plan)
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


def matmul_scratch(op: str, shapes: list[Shape], shape: Shape, a: Any) -> int:
    """A split's partial sums, room for a bias sum after each chunk's (used when the node leads a group)."""
    if few_rows(op, shapes[0]):
        return 0
    plan = matmul_plan(op, shapes[0], shapes[1], shape, a)
    return plan["chunks"] * (plan["m"] + 1) * plan["n"] if plan["chunks"] > 1 else 0


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


def lower_conv2d_dx(ctx: Any, i: int, a: Any) -> list[Any]:
    """dx = dy @ w.T over a transposed-conv index map, as one tiled product per stride phase in one dispatch:
    each phase reads only the taps that reach its input cells, so stride 2 wastes no multiplies on zeros."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    _, h, w, ci = node.shape
    kh, kw, _, co = g.nodes[node.srcs[1]].shape
    _, ho, wo, _ = g.nodes[node.srcs[0]].shape
    (sh, sw), (pt, _, pl, _) = a.stride, a.pad
    if not ctx.shared_tiles:   # the CPU Programs: a block of dx a thread, dy gathered through each tap (no barriers)
        kb = ctx.builder()
        conv = None if pointwise((kh, kw), a) else {"conv": "im2col_dx", "h": h, "w": w, "ci": ci, "co": co, "kw": kw,
                                                     "ho": ho, "wo": wo, "sh": sh, "sw": sw, "pt": pt, "pl": pl}
        strides = {"sbn": co} if conv else {"sam": co, "sak": 1, "sbk": 1, "sbn": co}   # pointwise: dy[P, Co] @ w.T
        return [_rows_kernel(ctx, i, kb, "DENSE_DX", kb.read(node.srcs[0]), kb.read(node.srcs[1]), node.size // ci,
                             ci, kh * kw * co, strides, ctx.group(i).nodes, ctx.comment(i), out=kb.write(i), conv=conv)]
    phases = conv_dx_phases(node.shape, (kh, kw, ci, co), (sh, sw), a.pad)
    t = _tiles(max(p["rows"] for p in phases), ci)
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

def lower_depthwise_dx(ctx: Any, i: int, a: Any) -> list[Any]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    dy, wt = kb.read(node.srcs[0]), kb.read(node.srcs[1])
    finish, nodes = ctx.epilogue(kb, i)
    _, h, w, ch = node.shape
    kh, kw, _, mult = g.nodes[node.srcs[1]].shape
    _, ho, wo, cm = g.nodes[node.srcs[0]].shape
    (sh, sw), (pt, _, pl, _) = a.stride, a.pad
    unroll = kh * kw <= UNROLL_TAPS    # else the template loops over the taps of the cell's phase
    if not ctx.shared_tiles:
        return [depthwise_cpu.input_grad(ctx, i, kb, dy, wt, finish, nodes, unroll, a)]
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
                      wt=wt, epilogue=finish, unroll=unroll, phases=phases, kh=kh, kw=kw, h=h, w=w, ch=ch, cm=cm, ho=ho,
                      wo=wo, mult=mult, sh=sh, sw=sw, pt=pt, pl=pl, n=node.size, wg=WORKGROUP, gx=gx)]


def _depthwise_dw_plan(dy_shape: Shape, outs: int) -> dict[str, int]:
    """`cx` channels x `hy` lanes per workgroup; positions split into `chunks` of `pc` (each lane takes at
    least MIN_LANE_TERMS of a chunk) when the channel tiles alone give few workgroups."""
    b, ho, wo, cm = dy_shape
    cx = pow2_at_least(cm, 1, 64)
    hy = WORKGROUP // cx
    ctiles = -(-cm // cx)
    p = b * ho * wo
    chunks, pc = split(p, ctiles, outs, MIN_LANE_TERMS * hy)
    return {"cx": cx, "hy": hy, "ctiles": ctiles, "p": p, "chunks": chunks, "pc": pc}


def depthwise_dw_scratch(shapes: list[Shape], shape: Shape, a: Any) -> int:
    chunks = _depthwise_dw_plan(shapes[1], math.prod(shape))["chunks"]
    return chunks * math.prod(shape) if chunks > 1 else 0


def lower_depthwise_dw(ctx: Any, i: int, a: Any) -> list[Any]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    plan = _depthwise_dw_plan(g.nodes[node.srcs[1]].shape, node.size)
    _, h, w, ch = g.nodes[node.srcs[0]].shape
    _, ho, wo, cm = g.nodes[node.srcs[1]].shape
    kh, kw, _, mult = node.shape
    (sh, sw), (pt, _, pl, _) = a.stride, a.pad
    # up to 5x5 taps, each thread sums them all at once in a private array; past that, one tap at a time
    unroll = kh * kw <= UNROLL_TAPS
    if not ctx.shared_tiles:
        first, chunks = depthwise_cpu.filter_grad(ctx, i, a, plan["chunks"])
        return [first, _reduce_partials(ctx, i, chunks)] if chunks > 1 else [first]
    kb = ctx.builder()
    x, dy = kb.read(node.srcs[0]), kb.read(node.srcs[1])
    split_ = plan["chunks"] > 1
    dst = kb.slot(ctx.scratch[i], write=True) if split_ else kb.write(i)
    groups = plan["ctiles"] * plan["chunks"]
    wg = ctx.grid(groups)
    plan = plan | {"hy": max(ctx.lanes // plan["cx"], 1)}
    first = kb.kernel(ctx.kernel_name(i, "_partial" if split_ else ""), "depthwise_dw.wgsl", wg, [i],
                      comment=ctx.comment(i), x=x, dy=dy, dst=dst, unroll=unroll, kh=kh, kw=kw, h=h, w=w, ch=ch, cm=cm,
                      ho=ho, wo=wo, mult=mult, sh=sh, sw=sw, pt=pt, pl=pl, outs=node.size, groups=groups, gx=wg[0],
                      halves=halves(plan["hy"]), **plan)
    return [first, _reduce_partials(ctx, i, plan["chunks"])] if split_ else [first]
