"""The depthwise kernels of the Programs for CPU adapters (lower(shared_tiles=False): SwiftShader, lavapipe),
called from linear_kernels' rules. A CPU runs a thread's loads and branches slower than its arithmetic (and
SwiftShader each gather of a SIMD group's lanes one at a time), so each thread takes a block in registers:

  DEPTHWISE      up to 4 channels x 4 columns of an output row; each window row's input columns loaded once
                 for the block, the weights once per block row (depthwise_blocks.wgsl)
  DEPTHWISE_DX   the same over a row of dx, its columns a multiple of the stride so that each column's taps
                 are known when rendering (depthwise_dx_blocks.wgsl)
  DEPTHWISE_DW   one window row's taps of up to 4 channels, summed over row segments of 4 positions: each
                 segment's dy and window row loaded once; no workgroup memory or barriers; the chunks of the
                 default plan (which sized the scratch memory), summed by a second kernel (depthwise_dw_blocks.wgsl)

A block's channels are the lanes of a vector (vec2/3/4<f32>, f32 for one), so that each tap and column is
one fma line of WGSL whatever the channels (`xo`, `eo`: the channel offsets its lanes read). Padding is a
clamped read multiplied by 0 or 1 rather than a branch per tap. Every block size is chosen here
and passed to the templates by name.
"""
from __future__ import annotations

from typing import Any

# Each thread up to 4 channels x 4 columns of a row, in workgroups of DW_LANES threads. 8 columns ran
# landmark68's depthwise kernels 20% faster on SwiftShader (38 vs 49 ms an inference) but its inference bundle
# took 0.3 s longer to be ready (more WGSL to compile).
DW_BLOCK = (4, 4)
DW_LANES = 64
BLOCK_COST = 4     # what a block costs beyond its columns, in columns: the window's overlap and the index math
DW_ACC = 12        # DEPTHWISE_DW: up to this many sums a thread (4 channels x 3 taps) ...
DW_SEGMENT = 4     # ... over segments of this many positions along an output row


def forward(ctx: Any, i: int, kb: Any, nodes: list[int], batch: int, values: dict[str, Any]) -> Any:
    """DEPTHWISE (depthwise_blocks.wgsl): each thread a block of up to DW_BLOCK channels x output columns of
    one output row. `values` are what lower_depthwise gives either template (sizes, operands, epilogue)."""
    co, wo, mult, sw, kw, pl, w = (values[k] for k in ("co", "wo", "mult", "sw", "kw", "pl", "w"))
    bc, bx = depthwise_block(co, mult, wo)
    cblocks, xblocks = co // bc, -(-wo // bx)
    n = batch * values["ho"] * xblocks * cblocks
    wg = ctx.grid(-(-n // DW_LANES))
    mask = outside(wo, sw, kw, pl, w)
    return kb.kernel(ctx.kernel_name(i), "depthwise_blocks.wgsl", wg, nodes, bc=bc, bx=bx,
                     xo=[c // mult for c in range(bc)], cols=(bx - 1) * sw + kw, mask=mask, cblocks=cblocks,
                     xblocks=xblocks, n=n, wg=DW_LANES, gx=wg[0], **values)


def outside(outs: int, stride: int, k: int, pad: int, size: int) -> bool:
    """Whether some window of `outs` outputs along an axis (`stride`, `k` taps, `pad` before) reaches past
    either end of the input's `size`: where the templates mask their reads."""
    return pad > 0 or (outs - 1) * stride + k - 1 - pad >= size


def depthwise_block(co: int, mult: int, wo: int) -> tuple[int, int]:
    """(channels, columns) of the output block each thread of a DEPTHWISE computes (co output channels, depth
    multiplier mult, wo output columns), up to DW_BLOCK: block_channels and block_columns."""
    return block_channels(co, mult), block_columns(wo)


def block_channels(count: int, mult: int = 1, most: int = DW_BLOCK[0]) -> int:
    """The channels of a block: the most, up to `most`, that divide `count` and divide or are divided by the
    depth multiplier `mult` (so that channel c0 + c of a block reads x's channel c0 / mult + c / mult)."""
    return next(c for c in range(most, 0, -1) if count % c == 0 and (c % mult == 0 or mult % c == 0))


def block_columns(width: int, step: int = 1) -> int:
    """The columns of a depthwise kernel's block along a row of `width`: the multiple of `step` up to
    DW_BLOCK[1] (or `step`) that costs the least, each block costing its columns plus BLOCK_COST (the wider
    on a tie)."""
    widths = range(step, max(DW_BLOCK[1], step) + 1, step)
    return min(widths, key=lambda b: (-(-width // b) * (b + BLOCK_COST), -b))


def input_grad(ctx: Any, i: int, kb: Any, dy: Any, wt: Any, finish: list[str], nodes: list[int], unroll: bool,
               a: Any) -> Any:
    """DEPTHWISE_DX (depthwise_dx_blocks.wgsl): each thread a block of up to DW_BLOCK channels x columns of
    one row of dx, the columns a multiple of the stride."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    b, h, w, ch = node.shape
    kh, kw, _, mult = g.nodes[node.srcs[1]].shape
    _, ho, wo, cm = g.nodes[node.srcs[0]].shape
    (sh, sw), (pt, _, pl, _) = a.stride, a.pad
    bc = block_channels(ch)
    bx = block_columns(w, step=sw)
    # column j of a block starting at x0 (a multiple of sw) takes tap kx where j + pl - kx = d*sw, from dy
    # column x0/sw + d: window column q = d - dmin
    ds = {kx: [(j, (j + pl - kx) // sw) for j in range(bx) if (j + pl - kx) % sw == 0] for kx in range(kw)}
    dmin = min(d for uses in ds.values() for _, d in uses)
    dmax = max(d for uses in ds.values() for _, d in uses)
    taps = [{"kx": kx, "uses": [(j, d - dmin) for j, d in uses]} for kx, uses in ds.items()]
    # masks where some stored column's tap lies left or right of dy
    mask = any(not 0 <= (x + pl - kx) // sw < wo for x in range(w) for kx in range(kw) if (x + pl - kx) % sw == 0)
    cblocks, xblocks = ch // bc, -(-w // bx)
    n = b * h * xblocks * cblocks
    wg = ctx.grid(-(-n // DW_LANES))
    return kb.kernel(ctx.kernel_name(i), "depthwise_dx_blocks.wgsl", wg, nodes, comment=ctx.fused_comment(nodes),
                     dy=dy, wt=wt, epilogue=finish, unroll=unroll, taps=taps, kh=kh, kw=kw, h=h, w=w, ch=ch, cm=cm,
                     ho=ho, wo=wo, mult=mult, sh=sh, sw=sw, pt=pt, pl=pl, bc=bc, bx=bx, dmin=dmin,
                     eo=[[c * mult + m for c in range(bc)] for m in range(mult)],
                     cols=dmax - dmin + 1, mask=mask, cblocks=cblocks, xblocks=xblocks, n=n, wg=DW_LANES, gx=wg[0])


def filter_grad(ctx: Any, i: int, a: Any, chunks: int) -> tuple[Any, int]:
    """DEPTHWISE_DW (depthwise_dw_blocks.wgsl): each thread one window row's taps of a few channels in
    registers over a run of row segments, no workgroup memory; at most `chunks` runs (the plan's, which sized
    the scratch memory). Returns the kernel and its number of chunks (above 1: it wrote them into scratch
    memory, and the caller adds the kernel that sums them)."""
    g, node = ctx.graph, ctx.graph.nodes[i]
    _, h, w, ci = g.nodes[node.srcs[0]].shape
    b, ho, wo, cm = g.nodes[node.srcs[1]].shape
    kh, kw, _, mult = node.shape
    (sh, sw), (pt, _, pl, _) = a.stride, a.pad
    bc = block_channels(cm, mult, max(1, min(DW_BLOCK[0], DW_ACC // kw)))   # kw taps of bc channels: DW_ACC sums
    bx = DW_SEGMENT
    xsegs = -(-wo // bx)
    segs = b * ho * xsegs
    spc = -(-segs // chunks)
    chunks = -(-segs // spc)
    cblocks = cm // bc
    n = chunks * kh * cblocks
    wg = ctx.grid(-(-n // min(DW_LANES, cblocks)))
    kb = ctx.builder()
    x, dy = kb.read(node.srcs[0]), kb.read(node.srcs[1])
    dst = kb.slot(ctx.scratch[i], write=True) if chunks > 1 else kb.write(i)
    mask_y, mask_x = outside(ho, sh, kh, pt, h), outside(wo, sw, kw, pl, w)
    first = kb.kernel(ctx.kernel_name(i, "_partial" if chunks > 1 else ""), "depthwise_dw_blocks.wgsl", wg, [i],
                      comment=ctx.comment(i), x=x, dy=dy, dst=dst, kh=kh, kw=kw, h=h, w=w, ci=ci, cm=cm, ho=ho,
                      wo=wo, mult=mult, sh=sh, sw=sw, pt=pt, pl=pl, bc=bc, xo=[c // mult for c in range(bc)], bx=bx,
                      cols=(bx - 1) * sw + kw, xsegs=xsegs, segs=segs, spc=spc, chunks=chunks, outs=node.size,
                      mask_x=mask_x, mask_y=mask_y, cblocks=cblocks, n=n, wg=min(DW_LANES, cblocks), gx=wg[0])
    return first, chunks
