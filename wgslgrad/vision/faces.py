"""From a photo to faces and landmarks around face-api.js's TinyFaceDetector and FaceLandmark68(Tiny)Net,
exactly as face-api.js (@vladmandic/face-api 1.7) does it on a tensor input, with its CPU backend:

    image (H x W x 3, 0..255)
      -> detector_input(image)              416 x 416 x 3: padded to a square at the bottom/right, resized
      -> the detector net                   13 x 13 x 25 grid (5 anchors x (x, y, w, h, score) per cell)
      -> decode_detections(grid, H, W)      [Detection(score, box in image pixels)], non-max suppressed
      -> landmark_input(image, box)         112 x 112 x 3 crop, padded to a square on both sides, resized
      -> the landmark net                   136 values: (x, y) of 68 points in [0, 1] of the padded crop
      -> landmark_positions(raw, box)       68 x 2 positions in image pixels

Each step names the face-api.js source it follows (src/tinyYolov2/TinyYolov2Base.ts, src/ops/,
src/dom/NetInput.ts, src/faceLandmarkNet/FaceLandmark68NetBase.ts, src/classes/). NumPy only: the nets
themselves run elsewhere (wgslgrad's runtime in Python, the exported bundle in a browser, whose
examples/web/faces.js mirrors this module line by line).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

# src/tinyFaceDetector/const.ts
ANCHORS: tuple[tuple[float, float], ...] = (
    (1.603231, 2.094468), (6.041143, 7.080126), (2.882459, 3.518061), (4.266906, 5.178857),
    (9.041765, 10.66308),
)
IOU_THRESHOLD = 0.4
SCORE_THRESHOLD = 0.5      # TinyYolov2Options' default
DETECTOR_SIZE = 416        # TinyYolov2Options' default inputSize
LANDMARK_SIZE = 112        # FaceFeatureExtractor: toBatchTensor(112, true)
GRID_CELLS = 13
BOX_ENCODING = 5           # x, y, w, h, score (one class: no class scores)


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels (face-api's Box: x, y, width, height; right = x + width)."""

    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    @property
    def area(self) -> float:
        return self.width * self.height


@dataclass(frozen=True)
class Detection:
    """A face: its score (sigmoid of the net's logit) and its box in the image's pixels."""

    score: float
    box: Box


@dataclass(frozen=True)
class Face:
    """A detected face with its 68 landmarks (x, y) in the image's pixels."""

    score: float
    box: Box
    landmarks: np.ndarray

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "box": vars(self.box), "landmarks": self.landmarks.tolist()}


class Net(Protocol):
    """What find_faces needs of a net: wgslgrad.Model's predict(samples) -> the one Output's array."""

    def predict(self, x: np.ndarray) -> Any: ...


# ------------------------------------------------------------------------------------------ input images
def square_resize(image: np.ndarray, size: int, center: bool) -> np.ndarray:
    """NetInput.toBatchTensor(size, center) for one image tensor: src/ops/padToSquare.ts pads the shorter
    side with zeros (all after the image, or with center round(diff / 2) after and the rest before it;
    JavaScript's Math.round, halves up), then tf.image.resizeBilinear(alignCorners=false,
    halfPixelCenters=false) as tfjs's CPU backend computes it: source row r * n / size, its floor and
    ceil (clamped) interpolated in float64, the result rounded once to float32. The padding is never
    materialised: samples outside the image read zero."""
    img = np.asarray(image)   # converted after gathering: a whole photo in float would take hundreds of MB
    h, w = img.shape[:2]
    n = max(h, w)
    diff = n - min(h, w)
    before = diff - _js_round(diff * 0.5) if center else 0
    oy, ox = (before, 0) if w > h else (0, before)

    # the same taps along both axes of the n x n square
    frac = (n / size) * np.arange(size, dtype=np.float64)
    lo = np.maximum(0, np.floor(frac)).astype(np.int64)
    hi = np.minimum(n - 1, np.ceil(frac)).astype(np.int64)
    weight = frac - lo

    def gather(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        rr, cc = rows - oy, cols - ox
        inside = (((rr >= 0) & (rr < h))[:, None] & ((cc >= 0) & (cc < w))[None, :])[..., None]
        values = img[np.clip(rr, 0, h - 1)][:, np.clip(cc, 0, w - 1)].astype(np.float32).astype(np.float64)
        return np.where(inside, values, 0.0)

    top_left, top_right = gather(lo, lo), gather(lo, hi)
    bottom_left, bottom_right = gather(hi, lo), gather(hi, hi)
    top = top_left + (top_right - top_left) * weight[None, :, None]
    bottom = bottom_left + (bottom_right - bottom_left) * weight[None, :, None]
    return (top + (bottom - top) * weight[:, None, None]).astype(np.float32)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"expected an RGB image of shape (height, width, 3), got {image.shape}")
    return image


def detector_input(image: np.ndarray, size: int = DETECTOR_SIZE) -> np.ndarray:
    """The detector's size x size x 3 input (pixels 0..255; the spec subtracts the means): NetInput's
    toBatchTensor(size, isCenterInputs=false), padding at the bottom or right, then resizing."""
    return square_resize(_check_image(image), size, center=False)


def landmark_input(image: np.ndarray, box: Box, size: int = LANDMARK_SIZE) -> np.ndarray:
    """The landmark net's size x size x 3 input for a detection: extractFaceTensors' crop (crop_box), then
    toBatchTensor(size, isCenterInputs=true), padding both sides of the shorter one."""
    image = _check_image(image)
    c = crop_box(box, image.shape[0], image.shape[1])
    crop = image[int(c.y):int(c.bottom), int(c.x):int(c.right)]
    return square_resize(crop, size, center=True)


# ------------------------------------------------------------------------------------ detector decoding
def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))   # src/ops/index.ts: in float64, as JavaScript


def reshaped_size(image_height: int, image_width: int, size: int = DETECTOR_SIZE) -> tuple[int, int]:
    """The image's (height, width) inside the padded square: utils' computeReshapedDimensions, rounded."""
    scale = size / max(image_height, image_width)
    return _js_round(image_height * scale), _js_round(image_width * scale)


def _js_round(x: float) -> int:
    return math.floor(x + 0.5)


def decode_boxes(grid: np.ndarray, image_height: int, image_width: int, size: int = DETECTOR_SIZE,
                 score_threshold: float = SCORE_THRESHOLD) -> tuple[list[Box], list[float]]:
    """TinyYolov2Base.extractBoxes: every anchor of every cell whose sigmoid score exceeds the threshold, as
    a box relative to the image (0..1), in face-api's row, column, anchor order. The offsets go through a
    sigmoid and the sizes through exp times the anchor, in units of cells; the correction factors undo the
    padding to a square."""
    cells = GRID_CELLS
    g = np.asarray(grid, np.float32).reshape(cells, cells, len(ANCHORS), BOX_ENCODING).astype(np.float64)
    reshaped_h, reshaped_w = reshaped_size(image_height, image_width, size)
    longest = max(reshaped_w, reshaped_h)
    fx, fy = longest / reshaped_w, longest / reshaped_h
    boxes: list[Box] = []
    scores: list[float] = []
    for row in range(cells):
        for col in range(cells):
            for a, (anchor_w, anchor_h) in enumerate(ANCHORS):
                tx, ty, tw, th, ts = (float(v) for v in g[row, col, a])
                score = _sigmoid(ts)
                if score_threshold and not score > score_threshold:
                    continue
                cx = ((col + _sigmoid(tx)) / cells) * fx
                cy = ((row + _sigmoid(ty)) / cells) * fy
                w = ((math.exp(tw) * anchor_w) / cells) * fx
                h = ((math.exp(th) * anchor_h) / cells) * fy
                x, y = cx - w / 2, cy - h / 2
                # BoundingBox(x, y, x + w, y + h): face-api keeps left/right, so width is (x + w) - x
                boxes.append(Box(x, y, (x + w) - x, (y + h) - y))
                scores.append(score)
    return boxes, scores


def iou(a: Box, b: Box) -> float:
    """src/ops/iou.ts: intersection over union."""
    width = max(0.0, min(a.right, b.right) - max(a.x, b.x))
    height = max(0.0, min(a.bottom, b.bottom) - max(a.y, b.y))
    inter = width * height
    return inter / (a.area + b.area - inter)


def non_max_suppression(boxes: list[Box], scores: list[float], iou_threshold: float = IOU_THRESHOLD) -> list[int]:
    """src/ops/nonMaxSuppression.ts: repeatedly keep the best remaining box (among equal scores the last
    one, as face-api's stable ascending sort then pop gives) and drop those overlapping it by more than
    the threshold. Returns the kept indices, best first."""
    remaining = sorted(range(len(scores)), key=lambda i: scores[i])
    pick: list[int] = []
    while remaining:
        current = remaining.pop()
        pick.append(current)
        remaining = [i for i in remaining if iou(boxes[current], boxes[i]) <= iou_threshold]
    return pick


def decode_detections(grid: np.ndarray, image_height: int, image_width: int, size: int = DETECTOR_SIZE,
                      score_threshold: float = SCORE_THRESHOLD,
                      iou_threshold: float = IOU_THRESHOLD) -> list[Detection]:
    """TinyYolov2Base.detect + FaceDetection: the grid's boxes above the score threshold, non-max suppressed
    (on boxes scaled to the input size, as face-api does), best first, in the image's pixels."""
    boxes, scores = decode_boxes(grid, image_height, image_width, size, score_threshold)
    keep = non_max_suppression([_scale(b, size, size) for b in boxes], scores, iou_threshold)
    return [Detection(scores[i], _scale(boxes[i], image_width, image_height)) for i in keep]


def _scale(box: Box, sx: float, sy: float) -> Box:
    return Box(box.x * sx, box.y * sy, box.width * sx, box.height * sy)


# ---------------------------------------------------------------------------------------------- landmarks
def crop_box(box: Box, image_height: int, image_width: int) -> Box:
    """Box.clipAtImageBorders: the detection clipped to the image and floored (x, y, width, height each),
    the region extractFaceTensors cuts out for the landmark net."""
    x, y = max(box.x, 0.0), max(box.y, 0.0)
    width = min(box.right - x, image_width - x)
    height = min(box.bottom - y, image_height - y)
    return Box(math.floor(x), math.floor(y), math.floor(width), math.floor(height))


def landmark_positions(raw: np.ndarray, box: Box, image_height: int, image_width: int,
                       size: int = LANDMARK_SIZE) -> np.ndarray:
    """68 x 2 landmark positions (x, y) in image pixels from the landmark net's 136 outputs for a detection.

    FaceLandmark68NetBase.postProcess: out * size, minus half the padding of the (unrounded) scaled crop's
    shorter side, divided by the scaled crop's size: positions relative to the crop; FaceLandmarks times the
    crop's size; then shifted by the detection box's own (unclipped, unfloored) corner, as
    extendWithFaceLandmarks does."""
    c = crop_box(box, image_height, image_width)
    scale = size / max(c.height, c.width)
    w, h = c.width * scale, c.height * scale
    pad_x = abs(w - h) / 2 if w < h else 0.0
    pad_y = abs(w - h) / 2 if h < w else 0.0
    out = np.asarray(raw, np.float32).reshape(68, 2)
    # tf ops in float32: out * size - pad, / size of the scaled crop
    rel_x = (out[:, 0] * np.float32(size) - np.float32(pad_x)) / np.float32(w)
    rel_y = (out[:, 1] * np.float32(size) - np.float32(pad_y)) / np.float32(h)
    # FaceLandmarks: relative * crop size + shift, in float64 (JavaScript numbers)
    xs = rel_x.astype(np.float64) * c.width + box.x
    ys = rel_y.astype(np.float64) * c.height + box.y
    return np.stack([xs, ys], axis=1)


# ------------------------------------------------------------------------------------------- the pipeline
def _output(result: Any, size: int) -> np.ndarray:
    """The output of `size` values per sample (a Model with several Outputs returns a dict of them)."""
    arrays = result.values() if isinstance(result, dict) else [result]
    for a in arrays:
        a = np.asarray(a)
        if a[0].size == size:
            return a[0].reshape(-1)
    raise ValueError(f"the net has no output of {size} values per sample")


def find_faces(image: np.ndarray, detector: Net, landmark_net: Net, score_threshold: float = SCORE_THRESHOLD,
               iou_threshold: float = IOU_THRESHOLD) -> list[Face]:
    """Faces in an RGB image (H x W x 3, 0..255), best first, each with its 68 landmarks in the image's
    pixels: face-api.js's detectAllFaces(image, TinyFaceDetectorOptions()).withFaceLandmarks().

    detector: TinyFaceDetector (examples/tiny_face_detector.py with face-api's weights), landmark_net:
    FaceLandmark68Net or its tiny sibling (examples/landmark68.py, landmark68_tiny.py); anything with a
    predict(samples) as wgslgrad.Model's. A detection whose clipped crop is empty is dropped (face-api
    drops it too). An image with no face gives an empty list.
    """
    image = _check_image(image)
    h, w = image.shape[:2]
    grid = _output(detector.predict(detector_input(image)[None]), GRID_CELLS * GRID_CELLS * len(ANCHORS) * BOX_ENCODING)
    faces = []
    for d in decode_detections(grid, h, w, score_threshold=score_threshold, iou_threshold=iou_threshold):
        c = crop_box(d.box, h, w)
        if c.width <= 0 or c.height <= 0:
            continue
        raw = _output(landmark_net.predict(landmark_input(image, d.box)[None]), 136)
        faces.append(Face(d.score, d.box, landmark_positions(raw, d.box, h, w)))
    return faces
