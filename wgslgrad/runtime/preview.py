"""A PNG grid of the inputs as the model sees them, to catch preprocessing mistakes before training."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .checkpoint import atomic_write


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


def save_preview(path: str | Path, images: np.ndarray, cols: int = 8, scale: int = 1) -> None:
    """Write the grid as a PNG; small images (digits are 8x8) are enlarged by `scale` without smoothing."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = image_grid(images, cols)
    if scale > 1:
        grid = grid.repeat(scale, 0).repeat(scale, 1)
    buf = io.BytesIO()
    plt.imsave(buf, grid, format="png")
    atomic_write(path, buf.getvalue())
