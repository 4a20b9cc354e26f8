"""Small data sets for the examples and tests: scikit-learn's digits and synthetic face landmarks."""
from __future__ import annotations

import numpy as np

Arrays = dict[str, np.ndarray]


def digits(test_fraction: float = 0.2, seed: int = 0) -> tuple[Arrays, Arrays]:
    """scikit-learn's bundled 8x8 digits as (train, test): pixels [N,8,8,1] in 0..16, one-hot labels [N,10].
    The split is stratified and seeded, so the test set is the same held-out set every time."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    pixels = d.images.astype(np.float32)[..., None]
    labels = np.eye(10, dtype=np.float32)[d.target]
    xtr, xte, ytr, yte = train_test_split(pixels, labels, test_size=test_fraction, random_state=seed,
                                          stratify=d.target)
    return {"pixels": xtr, "label": ytr}, {"pixels": xte, "label": yte}


def synthetic_landmarks(n: int, seed: int = 0, size: int = 112) -> Arrays:
    """Images of a bright ellipse 'face' on noise, with 68 landmarks on its outline and inside it.

    Landmarks are (x, y) pairs in [0, 1] (face-api.js's convention, relative to the crop), so a network
    has to find the ellipse's centre, radii and rotation to predict them.
    """
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    shape_r = np.where(np.arange(68) < 17, 1.0, 0.55)  # jaw line on the outline, the rest inside
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = np.empty((n, size, size, 3), np.float32)
    marks = np.empty((n, 136), np.float32)
    for i in range(n):
        cx, cy = rng.uniform(0.35, 0.65, 2)
        rx, ry = rng.uniform(0.18, 0.3, 2)
        a = rng.uniform(-0.4, 0.4)
        px = cx + shape_r * (rx * np.cos(t) * np.cos(a) - ry * np.sin(t) * np.sin(a))
        py = cy + shape_r * (rx * np.cos(t) * np.sin(a) + ry * np.sin(t) * np.cos(a))
        u = ((xx - cx) * np.cos(a) + (yy - cy) * np.sin(a)) / rx
        v = (-(xx - cx) * np.sin(a) + (yy - cy) * np.cos(a)) / ry
        inside = (u * u + v * v <= 1.0).astype(np.float32)
        base = rng.uniform(40, 90) + rng.normal(0, 12, (size, size, 3))
        images[i] = base + inside[..., None] * rng.uniform(90, 150, 3)
        marks[i, 0::2], marks[i, 1::2] = px, py
    return {"image": np.clip(images, 0, 255), "target": marks}
