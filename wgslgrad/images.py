"""Image files as a spec's image Input: decoded by Pillow, resized to the Input's height and width, values
0..255 as they are (the spec does its own preprocessing, e.g. `x = (image - mean) / 255`)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class ImageError(Exception):
    """A file that is not an image Pillow can read; the message names its path."""


_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def load_images(paths: list[str | os.PathLike[str]], height: int, width: int, channels: int) -> np.ndarray:
    """[N, height, width, channels] float32 in 0..255; each image converted to grey/RGB/RGBA and resized
    (bilinear) to height x width whatever its own size."""
    from PIL import Image, UnidentifiedImageError

    if channels not in _MODES:
        raise ImageError(f"the image Input has {channels} channels: 1, 3 or 4 are images")
    out = np.empty((len(paths), height, width, channels), np.float32)
    for k, path in enumerate(paths):
        p = Path(path)
        if not p.is_file():
            raise ImageError(f"{p}: no such file")
        try:
            with Image.open(p) as im:
                im = im.convert(_MODES[channels]).resize((width, height), Image.Resampling.BILINEAR)
                a = np.asarray(im, np.float32)
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise ImageError(f"{p}: not an image that can be read ({e.__class__.__name__}: {e})") from None
        out[k] = a.reshape(height, width, channels)
    return out
