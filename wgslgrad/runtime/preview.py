"""A PNG grid of the inputs as the model sees them, to catch preprocessing mistakes before training."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .checkpoint import atomic_write

if TYPE_CHECKING:
    from ..compiler.ir import Graph


def image_grid(images: np.ndarray, cols: int = 8, pad: int = 2) -> np.ndarray:
    """[N,H,W,C] (C 1 or 3, any range) -> one uint8 RGB image, each tile scaled to 0..255 on its own."""
    n, h, w, c = images.shape
    lo = images.reshape(n, -1).min(1)[:, None, None, None]
    hi = images.reshape(n, -1).max(1)[:, None, None, None]
    tiles = (255 * (images - lo) / np.maximum(hi - lo, 1e-12)).astype(np.uint8)
    if c == 1:
        tiles = np.repeat(tiles, 3, axis=-1)
    rows = -(-n // cols)
    grid = np.full((rows * (h + pad) + pad, min(n, cols) * (w + pad) + pad, 3), 40, np.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = tiles[i, ..., :3]
    return grid


def save_preview(path: str | Path, images: np.ndarray, cols: int = 8, scale: int = 1,
                 labels: list[str] | None = None) -> None:
    """Write the grid as a PNG; small images (digits are 8x8) are enlarged by `scale` without smoothing.
    With `labels`, each image's label is written in a band under it."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = image_grid(images, cols)
    if scale > 1:
        grid = grid.repeat(scale, 0).repeat(scale, 1)
    buf = io.BytesIO()
    if labels is None:
        plt.imsave(buf, grid, format="png")
    else:
        n, h, w = images.shape[:3]
        band, pad, th, tw = 14, 2 * scale, h * scale, w * scale   # image_grid's pad of 2, scaled
        rows = -(-n // cols)
        out = np.full((grid.shape[0] + rows * band, grid.shape[1], 3), 40, np.uint8)
        for r in range(rows):   # each row of tiles (with the pad above it), then a band for the labels
            out[r * (th + pad + band): r * (th + pad + band) + th + pad] = grid[r * (th + pad): (r + 1) * (th + pad)]
        fig = plt.figure(figsize=(out.shape[1] / 100, out.shape[0] / 100), dpi=100)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.imshow(out, interpolation="nearest")
        ax.set_axis_off()
        for i, label in enumerate(labels[:n]):
            r, c = divmod(i, cols)
            ax.text(pad + c * (tw + pad) + tw / 2, r * (th + pad + band) + pad + th + band / 2, label,
                    color="white", ha="center", va="center", fontsize=8)
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
    atomic_write(path, buf.getvalue())


def one_hot_labels(g: Graph, data: dict[str, np.ndarray]) -> tuple[str, np.ndarray] | None:
    """(Input name, class index per sample) for the first Input [N,K] whose rows are one-hot, else None."""
    for name, i in g.inputs.items():
        a = data.get(name)
        if a is None or len(g.nodes[i].shape) != 2 or g.nodes[i].shape[1] < 2:
            continue
        if np.all((a == 0) | (a == 1)) and np.all(a.sum(-1) == 1):
            return name, np.argmax(a, -1)
    return None


def preprocessed_node(g: Graph) -> int | None:
    """The tensor the first conv or pool reads: the image after the spec's own preprocessing."""
    from ..compiler.ir import CONVS, POOLS
    for n in g.nodes:
        if n.op in CONVS or n.op in POOLS:
            return n.srcs[0]
    return None


def preview_inputs(g: Graph, data: dict[str, np.ndarray], path: str | Path, count: int = 32) -> str:
    """Run the spec's preprocessing on the GPU for `count` samples and save them as a PNG grid."""
    from dataclasses import replace

    from ..compiler.lower import lower
    from .device import get_device
    from .session import Session

    node = preprocessed_node(g)
    if node is None or len(g.nodes[node].shape) != 4 or g.nodes[node].shape[-1] not in (1, 3):
        raise ValueError("the spec has no image input (a [H,W,1] or [H,W,3] tensor read by a conv or pool)")
    # Keep the nodes up to the preprocessed image; topological order means nothing later is needed.
    sub = replace(g, nodes=g.nodes[: node + 1], params={k: i for k, i in g.params.items() if i <= node},
                  inputs={k: i for k, i in g.inputs.items() if i <= node}, outputs={"preview": node}, loss=None)
    device, _ = get_device()
    session = Session(lower(sub), device)
    images = []
    n = min(count, len(next(iter(data.values()))))
    for start in range(0, n, g.batch):
        idx = np.resize(np.arange(start, min(start + g.batch, n)), g.batch)
        images.append(session.run({k: data[k][idx] for k in sub.inputs})["preview"][: n - start])
    grid = np.concatenate(images)[:n]
    h = grid.shape[1]
    found = one_hot_labels(g, data)
    labels = [str(int(k)) for k in found[1][:n]] if found else None
    save_preview(path, grid, scale=max(1, 64 // h), labels=labels)
    labelled = f", labelled from '{found[0]}'" if found else ""
    return (f"{n} samples of {g.nodes[node].shape[1:]} after preprocessing, range [{grid.min():.3g}, "
            f"{grid.max():.3g}]{labelled}")
