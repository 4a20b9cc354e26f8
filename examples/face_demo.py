"""Faces and their 68 landmarks in a photo, with face-api.js's published nets compiled by wgslgrad:

    python3 examples/face_demo.py PHOTO [-o faces.png] [--json faces.json] [--tiny] [--models DIR]

TinyFaceDetector (examples/tiny_face_detector.py) finds the faces, each is cropped, and FaceLandmark68Net
(examples/landmark68.py; --tiny: FaceLandmark68TinyNet, examples/landmark68_tiny.py) places 68 points on
it; the PNG shows the photo with the boxes and points. Pre- and post-processing are face-api.js's own
(wgslgrad/vision/faces.py), so the numbers are face-api's. The weights are face-api.js's, from its npm
package (`npm ci --prefix tests/faceapi` puts them in tests/faceapi/node_modules/@vladmandic/face-api/model),
imported by wgslgrad with no name mapping.

Exit status: 0 with at least one face; 1 for a photo with no face, a file that is not an image, or missing
weights (a one-line message); 2 for a usage error.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
MODELS = HERE.parent / "tests" / "faceapi" / "node_modules" / "@vladmandic" / "face-api" / "model"
NETS = {  # spec, face-api's weights manifest
    "detector": ("tiny_face_detector.py", "tiny_face_detector_model-weights_manifest.json"),
    "landmarks": ("landmark68.py", "face_landmark_68_model-weights_manifest.json"),
    "landmarks_tiny": ("landmark68_tiny.py", "face_landmark_68_tiny_model-weights_manifest.json"),
}


class DemoError(Exception):
    """A problem with the user's files: printed as one line, exit 1."""


def read_photo(path: Path) -> np.ndarray:
    """The photo as RGB uint8 (H x W x 3), turned upright as its EXIF orientation says (as browsers show it);
    anything Pillow cannot read as an image is refused by path."""
    from PIL import Image, ImageOps, UnidentifiedImageError
    try:
        with Image.open(path) as img:
            return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    except FileNotFoundError:
        raise DemoError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DemoError(f"{path}: is a directory, not an image") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DemoError(f"{path}: not an image that can be read ({e})") from None


def load_nets(models: Path, tiny: bool) -> list[Any]:
    """The detector and landmark net as wgslgrad Models (batch 1) with face-api.js's weights."""
    import wgslgrad
    nets = []
    for key in ("detector", "landmarks_tiny" if tiny else "landmarks"):
        spec, manifest = NETS[key]
        weights = models / manifest
        if not weights.is_file():
            raise DemoError(f"{weights}: face-api.js's weights are not there: run `npm ci --prefix tests/faceapi` "
                            "or pass --models DIR (the folder holding face-api's model/ files)")
        model = wgslgrad.compile(HERE / spec, batch=1)
        try:
            model.load_weights(weights)
        except wgslgrad.WeightsError as e:
            raise DemoError(f"{weights}: {e}") from None
        nets.append(model)
    return nets


def draw(image: np.ndarray, faces: list, out: Path) -> None:
    """The photo at its own size with each face's box (and score) and its 68 landmarks."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    h, w = image.shape[:2]
    fig = plt.figure(figsize=(w / 100, h / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(image)
    ax.set_axis_off()
    size = max(1.0, min(w, h) / 250)   # marker and line sizes that scale with the photo
    for face in faces:
        b = face.box
        ax.add_patch(Rectangle((b.x, b.y), b.width, b.height, fill=False, edgecolor="#00e676", linewidth=1.5 * size))
        ax.text(b.x, b.y - 3 * size, f"{face.score:.2f}", color="#00e676", fontsize=7 * size, va="bottom")
        ax.scatter(face.landmarks[:, 0], face.landmarks[:, 1], s=4 * size**2, c="#ff1744", linewidths=0)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photo", type=Path, help="a photo (PNG, JPEG, ... anything Pillow reads)")
    parser.add_argument("-o", "--output", type=Path, help="the PNG to write (default: PHOTO_faces.png here)")
    parser.add_argument("--json", type=Path, help="also write the faces (score, box, landmarks) as JSON")
    parser.add_argument("--tiny", action="store_true", help="FaceLandmark68TinyNet instead of FaceLandmark68Net")
    parser.add_argument("--models", type=Path, default=MODELS, help=f"face-api.js's model folder (default {MODELS})")
    args = parser.parse_args(argv)

    from wgslgrad.vision.faces import find_faces
    try:
        image = read_photo(args.photo)
        detector, landmark_net = load_nets(args.models, args.tiny)
        t0 = time.perf_counter()
        faces = find_faces(image, detector, landmark_net)
        seconds = time.perf_counter() - t0
    except DemoError as e:
        print(f"face_demo: {e}", file=sys.stderr)
        return 1
    if not faces:
        print(f"face_demo: {args.photo}: no face found (TinyFaceDetector, score threshold 0.5)", file=sys.stderr)
        return 1
    for face in faces:
        b = face.box
        print(f"face score {face.score:.3f} box x {b.x:.1f} y {b.y:.1f} w {b.width:.1f} h {b.height:.1f}, "
              f"68 landmarks from ({face.landmarks[:, 0].min():.1f}, {face.landmarks[:, 1].min():.1f}) "
              f"to ({face.landmarks[:, 0].max():.1f}, {face.landmarks[:, 1].max():.1f})")
    out = args.output or Path(f"{args.photo.stem}_faces.png")
    draw(image, faces, out)
    if args.json:
        args.json.write_text(json.dumps([f.to_json() for f in faces]))
    print(f"{len(faces)} face{'s' * (len(faces) != 1)} in {seconds:.1f} s; wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
