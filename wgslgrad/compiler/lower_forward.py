"""Kernels for the forward ops: one table row per op (see lower.RULES), one kernel per node.

Every size, stride, offset and pad a kernel needs is computed here and passed to its template by name.
"""
from __future__ import annotations

import re

from .ir import BINARY, UNARY, Graph, Node, Op
from .lower import SCRATCH, WORKGROUP, Ctx, Kernel, KernelBuilder, f32, rule

UNROLL_TAPS = 25   # depthwise kernels unroll up to this many taps (5x5), and loop over larger windows
# The tiled products' step along K. Its tiles (BK x (64+1) floats each) are most of a kernel's workgroup memory,
# and SwiftShader's compile time grows with that (about 0.6 ms a float): 16 took 2-5 s a kernel.
BK = 8

# Elementwise bodies over `v` (unary) or `va`, `vb` (binary); backward and fused kernels reuse them.
# A NaN passes through every one of them, as in the float64 reference (max, min and clamp may drop a NaN:
# WGSL leaves that to the driver, and lavapipe's max(NaN, 0.0) is 0), so NaN weights cannot hide behind a relu.
UNARY_EXPR = {
    Op.RELU: "select(v, 0.0, v < 0.0)",
    Op.RELU6: "select(select(v, 6.0, v > 6.0), 0.0, v < 0.0)",
    Op.LEAKY_RELU: "select(v, v * {alpha}, v < 0.0)",  # alpha = 0 is relu's expression: -inf * 0.0 is NaN
    Op.SIGMOID: "1.0 / (1.0 + exp(-v))",          # exp overflows to inf for v << 0: 1/inf = 0, no NaN
    Op.TANH: "select(tanh(v), sign(v), abs(v) > 15.0)",  # tanh built from exp can overflow to NaN on some drivers
    Op.EXP: "exp(v)",
    Op.LOG: "log(v)",
    Op.ABS: "abs(v)",
    Op.NEG: "-v",
}
BINARY_EXPR = {Op.ADD: "va + vb", Op.SUB: "va - vb", Op.MUL: "va * vb", Op.DIV: "va / vb"}
# The gradient of a unary op by its name, from `va` (its input, or its output for relu, sigmoid, tanh, exp)
# and `vb` (the gradient of its output).
UNARY_GRAD_EXPR = {
    "relu": "select(0.0, vb, va > 0.0)",
    "relu6": "select(0.0, vb, va > 0.0 && va < 6.0)",
    "leaky_relu": "select(vb * {alpha}, vb, va > 0.0)",
    "log": "vb / va",
    "abs": "vb * sign(va)",                # sign(0) = 0
    "sigmoid": "vb * (va * (1.0 - va))",
    "tanh": "vb * (1.0 - va * va)",
    "exp": "vb * va",
}


def elementwise_expr(node: Node) -> str:
    """The WGSL body of an elementwise node: over `v` for a unary op, over `va`, `vb` for a binary op or
    a unary op's gradient (UNARY_GRAD), with leaky_relu's alpha filled in."""
    alpha = f32(node.arg.get("alpha", 0.2))
    if node.op is Op.UNARY_GRAD:
        return UNARY_GRAD_EXPR[node.arg["fn"]].format(alpha=alpha)
    if node.op is Op.LEAKY_RELU and node.arg["alpha"] == 0:
        return UNARY_EXPR[Op.RELU]
    return UNARY_EXPR[node.op].format(alpha=alpha) if node.op in UNARY else BINARY_EXPR[node.op]


def name(ctx: Ctx, i: int, suffix: str = "") -> str:
    return f"{ctx.graph.nodes[i].op.name.lower()}_{i}{suffix}"


def comment(ctx: Ctx, i: int) -> str:
    n = ctx.graph.nodes[i]
    return f"%{i} {n.op.name.lower()}{list(n.shape)}" + (f" in {n.scope}" if n.scope else "")


def pow2_at_least(n: int, lo: int, hi: int) -> int:
    p = lo
    while p < n and p < hi:
        p *= 2
    return p


def halves(n: int) -> list[int]:
    """The strides of a tree reduction over n (a power of two) lanes: n/2, n/4, ..., 1."""
    out = []
    while n > 1:
        n //= 2
        out.append(n)
    return out


def epilogue(ctx: Ctx, kb: KernelBuilder, i: int) -> tuple[list[str], list[int]]:
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


def fused_comment(ctx: Ctx, nodes: list[int]) -> str:
    return " then ".join(comment(ctx, c) for c in nodes)


def elementwise_groups(ctx: Ctx, n: int) -> tuple[tuple[int, int, int], int]:
    wg = ctx.grid(-(-n // WORKGROUP))
    return wg, wg[0]


@rule(*UNARY)
def lower_unary(ctx: Ctx, i: int) -> list[Kernel]:
    node = ctx.graph.nodes[i]
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    expr = elementwise_expr(node)
    wg, gx = elementwise_groups(ctx, node.size)
    return [kb.kernel(name(ctx, i), "unary.wgsl", wg, [i], comment=comment(ctx, i), x=x, out=out, expr=expr,
                      n=node.size, wg=WORKGROUP, gx=gx)]


def broadcast_axes(out: tuple[int, ...], a: tuple[int, ...], b: tuple[int, ...]) -> list[dict[str, int]]:
    """(size, a stride, b stride) per axis, innermost first, with size-1 axes dropped and axes merged
    where both operands are contiguous across them: [B,H,W,C] + [C] becomes [B*H*W, C]."""
    def strides(shape: tuple[int, ...]) -> list[int]:
        shape = (1,) * (len(out) - len(shape)) + shape
        st, acc = [0] * len(out), 1
        for d in range(len(out) - 1, -1, -1):
            st[d] = acc if shape[d] > 1 else 0
            acc *= shape[d]
        return st
    sa, sb = strides(a), strides(b)
    axes: list[dict[str, int]] = []
    for d, size in enumerate(out):
        if size == 1:
            continue
        if axes and axes[-1]["sa"] == sa[d] * size and axes[-1]["sb"] == sb[d] * size:
            axes[-1] = {"size": axes[-1]["size"] * size, "sa": sa[d], "sb": sb[d]}
        else:
            axes.append({"size": size, "sa": sa[d], "sb": sb[d]})
    return axes[::-1]


@rule(*BINARY)
def lower_binary(ctx: Ctx, i: int) -> list[Kernel]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    a, b, out = kb.read(node.srcs[0]), kb.read(node.srcs[1]), kb.write(i)
    axes = broadcast_axes(node.shape, g.nodes[node.srcs[0]].shape, g.nodes[node.srcs[1]].shape)
    wg, gx = elementwise_groups(ctx, node.size)
    return [kb.kernel(name(ctx, i), "binary.wgsl", wg, [i], comment=comment(ctx, i), a=a, b=b, out=out,
                      axes=axes, expr=elementwise_expr(node), n=node.size, wg=WORKGROUP, gx=gx)]


@rule(Op.CONV2D, Op.DENSE)
def lower_matmul(ctx: Ctx, i: int) -> list[Kernel]:
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
        wg, gx = elementwise_groups(ctx, m * n)
        return [kb.kernel(name(ctx, i), "dense_rows.wgsl", wg, nodes, comment=fused_comment(ctx, nodes), x=x, wt=wt,
                          bias=bias, epilogue=finish, m=m, n=n, k=k, wg=WORKGROUP, gx=gx)]
    bm, bn, bk = pow2_at_least(m, 16, ctx.max_tile), pow2_at_least(n, 16, ctx.max_tile), BK
    tiles_n = -(-n // bn)
    tiles = -(-m // bm) * tiles_n
    wg = ctx.grid(tiles)
    # vec4 loads: 4 consecutive k of A are 4 channels of one pixel (or 4 floats of one row), 4 n of w one row
    a4, b4 = kb.view4(x, conv.get("ci", k) % 4 == 0), kb.view4(wt, n % 4 == 0)
    return [kb.kernel(name(ctx, i), "matmul.wgsl", wg, nodes, comment=fused_comment(ctx, nodes), x=x, wt=wt,
                      bias=bias, epilogue=finish, m=m, n=n, k=k, bm=bm, bn=bn, bk=bk, tm=bm // 16, tn=bn // 16,
                      tiles=tiles, tiles_n=tiles_n, gx=wg[0], conv=bool(conv), a4=a4, b4=b4,
                      shared=ctx.shared_tiles, **conv)]


@rule(Op.DEPTHWISE)
def lower_depthwise(ctx: Ctx, i: int) -> list[Kernel]:
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
    wg, gx = elementwise_groups(ctx, node.size)
    return [kb.kernel(name(ctx, i), "depthwise.wgsl", wg, nodes, comment=fused_comment(ctx, nodes), x=x, wt=wt,
                      bias=bias, epilogue=finish, unroll=unroll, taps=taps, kh=kh, kw=kw, h=h, w=w, ci=ci, co=co, ho=ho, wo=wo, mult=mult, sh=sh,
                      sw=sw, pt=pt, pl=pl, n=node.size, wg=WORKGROUP, gx=gx)]


@rule(Op.MAX_POOL, Op.AVG_POOL)
def lower_pool(ctx: Ctx, i: int) -> list[Kernel]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    _, h, w, c = g.nodes[node.srcs[0]].shape
    (kh, kw), (sh, sw), (pt, _, pl, _) = node.arg["size"], node.arg["stride"], node.arg["pad"]
    wg, gx = elementwise_groups(ctx, node.size)
    return [kb.kernel(name(ctx, i), "pool.wgsl", wg, [i], comment=comment(ctx, i), x=x, out=out,
                      kind="max" if node.op is Op.MAX_POOL else "avg", h=h, w=w, c=c, ho=node.shape[1],
                      wo=node.shape[2], kh=kh, kw=kw, sh=sh, sw=sw, pt=pt, pl=pl, n=node.size, wg=WORKGROUP,
                      gx=gx)]


@rule(Op.GLOBAL_AVG_POOL)
def lower_global_avg_pool(ctx: Ctx, i: int) -> list[Kernel]:
    g, node = ctx.graph, ctx.graph.nodes[i]
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    b, h, w, c = g.nodes[node.srcs[0]].shape
    cx = pow2_at_least(c, 8, 64)
    hy = max(ctx.lanes // cx, 1)
    ctiles = -(-c // cx)
    wg = ctx.grid(b * ctiles)
    return [kb.kernel(name(ctx, i), "global_avg_pool.wgsl", wg, [i], comment=comment(ctx, i), x=x, out=out,
                      c=c, hw=h * w, cx=cx, hy=hy, ctiles=ctiles, groups=b * ctiles, gx=wg[0],
                      halves=halves(hy), scale=f32(1.0 / (h * w)))]


@rule(Op.SOFTMAX)
def lower_softmax(ctx: Ctx, i: int) -> list[Kernel]:
    node = ctx.graph.nodes[i]
    kb = ctx.builder()
    x, out = kb.read(node.srcs[0]), kb.write(i)
    k = node.shape[-1]
    rows = node.size // k
    per_thread = k <= 64
    wg = ctx.grid(-(-rows // WORKGROUP) if per_thread else rows)
    return [kb.kernel(name(ctx, i), "softmax.wgsl", wg, [i], comment=comment(ctx, i), x=x, out=out, k=k,
                      rows=rows, per_thread=per_thread, wg=WORKGROUP, gx=wg[0], halves=halves(WORKGROUP))]


@rule(Op.CONCAT)
def lower_concat(ctx: Ctx, i: int) -> list[Kernel]:
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
        wg, gx = elementwise_groups(ctx, rows * cc)
        suffix = f"_{len(kernels)}" if kernels or pending else ""
        kernels.append(kb.kernel(name(ctx, i, suffix), "concat.wgsl", wg, [i], comment=comment(ctx, i), out=out,
                                 srcs=srcs, rows=rows, cout=cout, c0=c0, cc=cc, n=rows * cc, wg=WORKGROUP,
                                 gx=gx))
        c0 += cc
    return kernels


# Full reductions to a scalar: (template kind, items, per-item cost, scale) per op.
def _reduction(g: Graph, node: Node) -> tuple[str, int, int, float]:
    n = g.nodes[node.srcs[0]].size
    if node.op is Op.SOFTMAX_CE:
        rows, k = g.nodes[node.srcs[0]].shape
        return "softmax_ce", rows, k, 1.0 / rows
    kind = {Op.SUM: "sum", Op.MEAN: "sum", Op.MSE: "mse", Op.SIGMOID_CE: "sigmoid_ce"}[node.op]
    return kind, n, 1, 1.0 if node.op is Op.SUM else 1.0 / n


def reduce_groups(items: int, cost: int) -> int:
    """Workgroups for the first stage: one when the work is small, else about 4096 elements each."""
    work = items * cost
    if work <= 8192:
        return 1
    return max(1, min(-(-work // 4096), 1024, items))


def _reduce_scratch(g: Graph, node: Node) -> int:
    _, items, cost, _ = _reduction(g, node)
    groups = reduce_groups(items, cost)
    return groups if groups > 1 else 0


@rule(Op.SUM, Op.MEAN, Op.MSE, Op.SIGMOID_CE, Op.SOFTMAX_CE)
def lower_reduce(ctx: Ctx, i: int) -> list[Kernel]:
    """Sum a term over every element (row, for softmax CE); two stages when one workgroup is not enough:
    partial sums into arena scratch, then one workgroup adds them."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    kind, items, cost, scale = _reduction(g, node)
    groups = reduce_groups(items, cost)
    chunk = -(-items // groups)
    common = dict(comment=comment(ctx, i), wg=ctx.lanes, halves=halves(ctx.lanes))
    kb = ctx.builder()
    x = kb.read(node.srcs[0])
    y = kb.read(node.srcs[1]) if len(node.srcs) > 1 else None
    k = g.nodes[node.srcs[0]].shape[-1] if kind == "softmax_ce" else 1
    if groups == 1:
        return [kb.kernel(name(ctx, i), "reduce.wgsl", (1, 1, 1), [i], kind=kind, x=x, y=y, k=k, n=items,
                          chunk=items, groups=1, dst=kb.write(i), scale=f32(scale), **common)]
    first = kb.kernel(name(ctx, i, "_partial"), "reduce.wgsl", (groups, 1, 1), [i], kind=kind, x=x, y=y, k=k,
                      n=items, chunk=chunk, groups=groups, dst=kb.slot(ctx.scratch[i], write=True),
                      scale=f32(scale), **common)
    kb = ctx.builder()
    partial = kb.slot(ctx.scratch[i])
    second = kb.kernel(name(ctx, i), "reduce.wgsl", (1, 1, 1), [i], kind="sum", x=partial, y=None, k=1,
                       n=groups, chunk=groups, groups=1, dst=kb.write(i), scale=f32(1.0), **common)
    return [first, second]


for _op in (Op.SUM, Op.MEAN, Op.MSE, Op.SIGMOID_CE, Op.SOFTMAX_CE):
    SCRATCH[_op] = _reduce_scratch
