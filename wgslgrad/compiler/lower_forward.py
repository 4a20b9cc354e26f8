"""Kernels for the forward ops: one table row per op (see lower.RULES), one kernel per node.

Every size, stride, offset and pad a kernel needs is computed here and passed to its template by name.
"""
from __future__ import annotations

from ..ops import kernels
from ..ops.base import pow2_at_least
from .ir import BINARY, UNARY, Op
from .kernel_builder import WORKGROUP, Kernel, Lowering, Rule, Scratch, elementwise_expr, rule_into

RULES: dict[Op, Rule] = {}       # this module's lowering rules, merged by lower.py
SCRATCH: dict[Op, Scratch] = {}  # f32 elements of scratch a node needs at its own step
rule = rule_into(RULES)

UNROLL_TAPS = 25   # depthwise kernels unroll up to this many taps (5x5), and loop over larger windows
# The tiled products' step along K. Its tiles (BK x (64+1) floats each) are most of a kernel's workgroup memory,
# and SwiftShader's compile time grows with that (about 0.6 ms a float): 16 took 2-5 s a kernel.
BK = 8

@rule(*UNARY)
def lower_unary(ctx: Lowering, i: int) -> list[Kernel]:
    node = ctx.graph.nodes[i]
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    expr = elementwise_expr(node)
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "unary.wgsl", wg, [i], comment=ctx.comment(i), x=x, out=out, expr=expr,
                      n=node.size, wg=WORKGROUP, gx=gx)]


@rule(*BINARY)
def lower_binary(ctx: Lowering, i: int) -> list[Kernel]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    a, b, out = kb.read(node.srcs[0]), kb.read(node.srcs[1]), kb.write(i)
    axes = kernels.broadcast_axes(node.shape, g.nodes[node.srcs[0]].shape, g.nodes[node.srcs[1]].shape)
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "binary.wgsl", wg, [i], comment=ctx.comment(i), a=a, b=b, out=out,
                      axes=axes, expr=elementwise_expr(node), n=node.size, wg=WORKGROUP, gx=gx)]


@rule(Op.CONV2D, Op.DENSE)
def lower_matmul(ctx: Lowering, i: int) -> list[Kernel]:
    """conv2d and dense as one tiled matrix product: out[M, N] = A[M, K] @ w[K, N] (+ bias).

    For conv2d, M = B*Ho*Wo, K = kh*kw*Ci and A is gathered from the image (a 1x1, stride-1, unpadded
    conv reads the image as A directly); HWIO weights are already w[K, N] row-major, as are IO ones.
    A dense layer on fewer than 16 rows (batch-1 inference) is one thread per output instead.
    """
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    x, wt = kb.read(node.srcs[0]), kb.read(node.srcs[1])
    bias = kb.read(node.srcs[2]) if len(node.srcs) > 2 else None
    finish, nodes = ctx.epilogue(kb, i)
    xs, ws = g.nodes[node.srcs[0]].shape, g.nodes[node.srcs[1]].shape
    conv: dict[str, int] = {}
    if node.op is Op.CONV2D:
        (sh, sw), (pt, _, pl, _) = node.arg["stride"], node.arg["pad"]
        m, k, n = node.shape[0] * node.shape[1] * node.shape[2], ws[0] * ws[1] * ws[2], ws[3]
        if (ws[0], ws[1], sh, sw) != (1, 1, 1, 1) or any(node.arg["pad"]):
            conv = dict(h=xs[1], w=xs[2], ci=xs[3], ho=node.shape[1], wo=node.shape[2], kw=ws[1], sh=sh, sw=sw,
                        pt=pt, pl=pl)
    else:
        m, k, n = xs[0], ws[0], ws[1]
    if node.op is Op.DENSE and m < 16:   # a few rows: most of a 16-row tile would idle
        wg, gx = ctx.elementwise_groups(m * n)
        return [kb.kernel(ctx.kernel_name(i), "dense_rows.wgsl", wg, nodes, comment=ctx.fused_comment(nodes), x=x, wt=wt,
                          bias=bias, epilogue=finish, m=m, n=n, k=k, wg=WORKGROUP, gx=gx)]
    bm, bn, bk = pow2_at_least(m, 16, ctx.max_tile), pow2_at_least(n, 16, ctx.max_tile), BK
    tiles_n = -(-n // bn)
    tiles = -(-m // bm) * tiles_n
    wg = ctx.grid(tiles)
    # vec4 loads: 4 consecutive k of A are 4 channels of one pixel (or 4 floats of one row), 4 n of w one row
    a4, b4 = kb.view4(x, conv.get("ci", k) % 4 == 0), kb.view4(wt, n % 4 == 0)
    return [kb.kernel(ctx.kernel_name(i), "matmul.wgsl", wg, nodes, comment=ctx.fused_comment(nodes), x=x, wt=wt,
                      bias=bias, epilogue=finish, m=m, n=n, k=k, bm=bm, bn=bn, bk=bk, tm=bm // 16, tn=bn // 16,
                      tiles=tiles, tiles_n=tiles_n, gx=wg[0], conv=bool(conv), a4=a4, b4=b4,
                      shared=ctx.shared_tiles, **conv)]


@rule(Op.DEPTHWISE)
def lower_depthwise(ctx: Lowering, i: int) -> list[Kernel]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    x, wt = kb.read(node.srcs[0]), kb.read(node.srcs[1])
    bias = kb.read(node.srcs[2]) if len(node.srcs) > 2 else None
    finish, nodes = ctx.epilogue(kb, i)
    _, h, w, ci = g.nodes[node.srcs[0]].shape
    kh, kw, _, mult = g.nodes[node.srcs[1]].shape
    _, ho, wo, co = node.shape
    (sh, sw), (pt, _, pl, _) = node.arg["stride"], node.arg["pad"]
    # tap (ky, kx): x is (ky*W + kx)*Ci elements after tap (0, 0); w[ky, kx, c] is (ky*kw + kx)*Co after w[0, 0, c]
    unroll = kh * kw <= UNROLL_TAPS
    taps = [dict(ky=ky, kx=kx, dx=(ky * w + kx) * ci, dw=(ky * kw + kx) * co)
            for ky in range(kh) for kx in range(kw)] if unroll else []
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "depthwise.wgsl", wg, nodes, comment=ctx.fused_comment(nodes), x=x, wt=wt,
                      bias=bias, epilogue=finish, unroll=unroll, taps=taps, kh=kh, kw=kw, h=h, w=w, ci=ci, co=co, ho=ho, wo=wo, mult=mult, sh=sh,
                      sw=sw, pt=pt, pl=pl, n=node.size, wg=WORKGROUP, gx=gx)]


@rule(Op.CONCAT)
def lower_concat(ctx: Lowering, i: int) -> list[Kernel]:
    """One kernel per run of sources that fits the storage-buffer limit (usually one for all)."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    cout = node.shape[-1]
    rows = node.size // cout
    kernels: list[Kernel] = []
    c0, pending = 0, list(node.srcs)
    while pending:
        kb = ctx.builder()
        out = kb.write(i)
        srcs: list[dict] = []
        cc = 0
        while pending and kb.fits([ctx.slots[pending[0]].buffer]):
            s = pending.pop(0)
            c = g.nodes[s].shape[-1]
            srcs.append(dict(x=kb.read(s), c=c, start=cc, end=cc + c))
            cc += c
        assert srcs, "a concat source cannot be bound"
        wg, gx = ctx.elementwise_groups(rows * cc)
        suffix = f"_{len(kernels)}" if kernels or pending else ""
        kernels.append(kb.kernel(ctx.kernel_name(i, suffix), "concat.wgsl", wg, [i], comment=ctx.comment(i), out=out,
                                 srcs=srcs, rows=rows, cout=cout, c0=c0, cc=cc, n=rows * cc, wg=WORKGROUP,
                                 gx=gx))
        c0 += cc
    return kernels

