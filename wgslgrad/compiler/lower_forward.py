"""Kernels for the forward ops: one table row per op (see lower.RULES), one kernel per node.

Every size, stride, offset and pad a kernel needs is computed here and passed to its template by name.
"""
from __future__ import annotations

import re
from dataclasses import asdict

from ..ops import kernels
from ..ops.base import pow2_at_least
from .ir import BINARY, UNARY, Node, Op, binary_row, unary_row
from .kernel_builder import WORKGROUP, Kernel, KernelBuilder, Lowering, Rule, Scratch, f32, rule_into

RULES: dict[Op, Rule] = {}       # this module's lowering rules, merged by lower.py
SCRATCH: dict[Op, Scratch] = {}  # f32 elements of scratch a node needs at its own step
rule = rule_into(RULES)

UNROLL_TAPS = 25   # depthwise kernels unroll up to this many taps (5x5), and loop over larger windows
# The tiled products' step along K. Its tiles (BK x (64+1) floats each) are most of a kernel's workgroup memory,
# and SwiftShader's compile time grows with that (about 0.6 ms a float): 16 took 2-5 s a kernel.
BK = 8

def elementwise_expr(node: Node) -> str:
    """The WGSL body of an elementwise node, from its row in ops/elementwise.py: over `v` for a unary op,
    over `va`, `vb` for a binary op or a unary op's gradient (UNARY_GRAD), attributes filled in as f32
    literals. Backward and fused kernels use it too."""
    if node.op in BINARY:
        return binary_row(node.op).wgsl
    row = unary_row(Op[node.arg["fn"].upper()] if node.op is Op.UNARY_GRAD else node.op)
    attrs = row.attrs_of(node.arg)
    text = row.grad if node.op is Op.UNARY_GRAD else row.wgsl_of(attrs)
    return text.format(**{k: f32(v) for k, v in asdict(attrs).items()})


def epilogue(ctx: Lowering, kb: KernelBuilder, i: int) -> tuple[list[str], list[int]]:
    """WGSL statements that finish output element `o` of producer `i` from its value `v` (bias included):
    the elementwise ops fused after it, in registers, and a store of each value of the group that is
    kept. Returns them and the group's nodes."""
    g = ctx.graph
    group = ctx.group(i)
    lines, tail = [], i
    for c in group.nodes:
        node = g.nodes[c]
        if node.op in UNARY:
            lines.append(f"v = {elementwise_expr(node)};")
        elif node.op is Op.BATCH_NORM:   # the inference form: a per-channel scale and shift (ops/batch_norm.py)
            gamma, beta, mm, mv = (kb.read(s) for s in node.srcs[1:5])
            ch = f"(o % {node.shape[-1]}u)"
            lines.append(f"v = (v - {mm.var}[{mm.off}u + {ch}]) * inverseSqrt({mv.var}[{mv.off}u + {ch}] + "
                         f"{f32(node.arg['epsilon'])}) * {gamma.var}[{gamma.off}u + {ch}] + {beta.var}[{beta.off}u + {ch}];")
        elif node.op in BINARY or node.op is Op.UNARY_GRAD:    # the chain's value and another one
            other = kb.read(node.srcs[1] if node.srcs[0] == tail else node.srcs[0])
            operands = {"va": "v", "vb": f"{other.var}[{other.off}u + o]"}
            if node.srcs[0] != tail:
                operands = {"va": operands["vb"], "vb": "v"}
            lines.append("v = " + re.sub(r"\bv[ab]\b", lambda m, ops=operands: ops[m.group()],
                                         elementwise_expr(node)) + ";")
        if c in group.stored:
            out = kb.write(c)
            lines.append(f"{out.var}[{out.off}u + o] = v;")
        tail = c
    return lines, group.nodes


def fused_comment(ctx: Lowering, nodes: list[int]) -> str:
    return " then ".join(ctx.comment(c) for c in nodes)


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
    finish, nodes = epilogue(ctx, kb, i)
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
        return [kb.kernel(ctx.kernel_name(i), "dense_rows.wgsl", wg, nodes, comment=fused_comment(ctx, nodes), x=x, wt=wt,
                          bias=bias, epilogue=finish, m=m, n=n, k=k, wg=WORKGROUP, gx=gx)]
    bm, bn, bk = pow2_at_least(m, 16, ctx.max_tile), pow2_at_least(n, 16, ctx.max_tile), BK
    tiles_n = -(-n // bn)
    tiles = -(-m // bm) * tiles_n
    wg = ctx.grid(tiles)
    # vec4 loads: 4 consecutive k of A are 4 channels of one pixel (or 4 floats of one row), 4 n of w one row
    a4, b4 = kb.view4(x, conv.get("ci", k) % 4 == 0), kb.view4(wt, n % 4 == 0)
    return [kb.kernel(ctx.kernel_name(i), "matmul.wgsl", wg, nodes, comment=fused_comment(ctx, nodes), x=x, wt=wt,
                      bias=bias, epilogue=finish, m=m, n=n, k=k, bm=bm, bn=bn, bk=bk, tm=bm // 16, tn=bn // 16,
                      tiles=tiles, tiles_n=tiles_n, gx=wg[0], conv=bool(conv), a4=a4, b4=b4,
                      shared=ctx.shared_tiles, **conv)]


@rule(Op.DEPTHWISE)
def lower_depthwise(ctx: Lowering, i: int) -> list[Kernel]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    x, wt = kb.read(node.srcs[0]), kb.read(node.srcs[1])
    bias = kb.read(node.srcs[2]) if len(node.srcs) > 2 else None
    finish, nodes = epilogue(ctx, kb, i)
    _, h, w, ci = g.nodes[node.srcs[0]].shape
    kh, kw, _, mult = g.nodes[node.srcs[1]].shape
    _, ho, wo, co = node.shape
    (sh, sw), (pt, _, pl, _) = node.arg["stride"], node.arg["pad"]
    # tap (ky, kx): x is (ky*W + kx)*Ci elements after tap (0, 0); w[ky, kx, c] is (ky*kw + kx)*Co after w[0, 0, c]
    unroll = kh * kw <= UNROLL_TAPS
    taps = [dict(ky=ky, kx=kx, dx=(ky * w + kx) * ci, dw=(ky * kw + kx) * co)
            for ky in range(kh) for kx in range(kw)] if unroll else []
    wg, gx = ctx.elementwise_groups(node.size)
    return [kb.kernel(ctx.kernel_name(i), "depthwise.wgsl", wg, nodes, comment=fused_comment(ctx, nodes), x=x, wt=wt,
                      bias=bias, epilogue=finish, unroll=unroll, taps=taps, kh=kh, kw=kw, h=h, w=w, ci=ci, co=co, ho=ho, wo=wo, mult=mult, sh=sh,
                      sw=sw, pt=pt, pl=pl, n=node.size, wg=WORKGROUP, gx=gx)]
