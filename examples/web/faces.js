// From a photo to faces and 68 landmarks with two wgslgrad bundles exported from face-api.js's nets
// (examples/tiny_face_detector.py and examples/landmark68.py or landmark68_tiny.py, batch 1):
//
//   import { createModel as detector } from './detector/model.js';
//   import { createModel as landmarks } from './landmarks/model.js';
//   import { detectFaces, imagePixels } from './faces.js';
//   const faces = await detectFaces(await detector(), await landmarks(), imagePixels(img));
//   // [{ score, box: {x, y, width, height}, landmarks: [[x, y] x 68] }] in the image's pixels, best first
//
// Every step is face-api.js's (@vladmandic/face-api 1.7, tensor input, CPU backend) and mirrors
// wgslgrad/vision/faces.py line by line: the same resizing (tf.image.resizeBilinear without half-pixel
// centers, not the canvas's), box decoding, non-max suppression, cropping and landmark scaling, so a page
// finds the same positions as Python. No dependencies; about 2 KB minified and gzipped.

// src/tinyFaceDetector/const.ts
export const ANCHORS = [[1.603231, 2.094468], [6.041143, 7.080126], [2.882459, 3.518061],
  [4.266906, 5.178857], [9.041765, 10.66308]];
export const IOU_THRESHOLD = 0.4;
export const SCORE_THRESHOLD = 0.5;
export const DETECTOR_SIZE = 416;
export const LANDMARK_SIZE = 112;
const CELLS = 13;
const ENCODING = 5;   // x, y, w, h, score
const jsRound = Math.round;   // halves up, as face-api's Math.round

/** {data: RGB Uint8 (or float) values, width, height} from an img, canvas or ImageBitmap, at its own size. */
export function imagePixels(image) {
  const width = image.naturalWidth ?? image.videoWidth ?? image.width;
  const height = image.naturalHeight ?? image.videoHeight ?? image.height;
  const canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(width, height)
    : Object.assign(document.createElement('canvas'), { width, height });
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(image, 0, 0);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    data[j] = rgba[i]; data[j + 1] = rgba[i + 1]; data[j + 2] = rgba[i + 2];
  }
  return { data, width, height };
}

// ------------------------------------------------------------------------------------------ input images
/** NetInput.toBatchTensor(size, center) for one image {data: RGB values, width, height}: padToSquare (zeros
 *  along the shorter side, all after the image, or with center Math.round(diff / 2) after and the rest
 *  before), then tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=false) as tfjs's CPU backend
 *  computes it. The padding is never made (samples outside the image read zero). */
export function squareResize({ data, width, height }, size, center) {
  const n = Math.max(width, height), diff = n - Math.min(width, height);
  const before = center ? diff - jsRound(diff * 0.5) : 0;
  const [ox, oy] = width > height ? [0, before] : [before, 0];
  const ratio = n / size;
  const at = (r, c, d) => {
    const y = r - oy, x = c - ox;
    return y >= 0 && y < height && x >= 0 && x < width ? data[3 * (y * width + x) + d] : 0;
  };
  const out = new Float32Array(size * size * 3);
  let k = 0;
  for (let r = 0; r < size; r++) {
    const fr = ratio * r, r0 = Math.max(0, Math.floor(fr)), r1 = Math.min(n - 1, Math.ceil(fr)), rf = fr - r0;
    for (let c = 0; c < size; c++) {
      const fc = ratio * c, c0 = Math.max(0, Math.floor(fc)), c1 = Math.min(n - 1, Math.ceil(fc)), cf = fc - c0;
      for (let d = 0; d < 3; d++) {
        const tl = at(r0, c0, d), tr = at(r0, c1, d), bl = at(r1, c0, d), br = at(r1, c1, d);
        const top = tl + (tr - tl) * cf, bottom = bl + (br - bl) * cf;
        out[k++] = top + (bottom - top) * rf;
      }
    }
  }
  return out;
}

/** The detector's 416 x 416 x 3 input (pixels 0..255): padded at the bottom/right, then resized. */
export function detectorInput(image, size = DETECTOR_SIZE) {
  return squareResize(image, size, false);
}

/** The landmark net's 112 x 112 x 3 input for a detection box: the floored, clipped crop, padded on both
 *  sides of its shorter side, resized. */
export function landmarkInput(image, box, size = LANDMARK_SIZE) {
  const c = cropBox(box, image.height, image.width);
  const data = new Float32Array(c.width * c.height * 3);
  for (let y = 0; y < c.height; y++) {
    const from = 3 * ((c.y + y) * image.width + c.x);
    for (let i = 0; i < 3 * c.width; i++) data[3 * y * c.width + i] = image.data[from + i];
  }
  return squareResize({ data, width: c.width, height: c.height }, size, true);
}

// ------------------------------------------------------------------------------------ detector decoding
const sigmoid = (x) => 1 / (1 + Math.exp(-x));

/** The image's {width, height} inside the padded square (computeReshapedDimensions, rounded). */
export function reshapedSize(imageHeight, imageWidth, size = DETECTOR_SIZE) {
  const scale = size / Math.max(imageHeight, imageWidth);
  return { width: jsRound(imageWidth * scale), height: jsRound(imageHeight * scale) };
}

/** TinyYolov2Base.extractBoxes: boxes relative to the image (0..1) scoring above the threshold, in row,
 *  column, anchor order, with their scores. */
export function decodeBoxes(grid, imageHeight, imageWidth, { size = DETECTOR_SIZE, scoreThreshold = SCORE_THRESHOLD } = {}) {
  const { width, height } = reshapedSize(imageHeight, imageWidth, size);
  const longest = Math.max(width, height), fx = longest / width, fy = longest / height;
  const boxes = [], scores = [];
  for (let row = 0; row < CELLS; row++) {
    for (let col = 0; col < CELLS; col++) {
      for (let a = 0; a < ANCHORS.length; a++) {
        const at = ((row * CELLS + col) * ANCHORS.length + a) * ENCODING;
        const score = sigmoid(grid[at + 4]);
        if (scoreThreshold && !(score > scoreThreshold)) continue;
        const cx = ((col + sigmoid(grid[at])) / CELLS) * fx;
        const cy = ((row + sigmoid(grid[at + 1])) / CELLS) * fy;
        const w = ((Math.exp(grid[at + 2]) * ANCHORS[a][0]) / CELLS) * fx;
        const h = ((Math.exp(grid[at + 3]) * ANCHORS[a][1]) / CELLS) * fy;
        const x = cx - w / 2, y = cy - h / 2;
        boxes.push({ x, y, width: (x + w) - x, height: (y + h) - y });
        scores.push(score);
      }
    }
  }
  return { boxes, scores };
}

/** src/ops/iou.ts */
export function iou(a, b) {
  const w = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const h = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const inter = w * h;
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/** src/ops/nonMaxSuppression.ts: the kept indices, best first. */
export function nonMaxSuppression(boxes, scores, iouThreshold = IOU_THRESHOLD) {
  let remaining = scores.map((s, i) => i).sort((i, j) => scores[i] - scores[j]);   // stable, ascending
  const pick = [];
  while (remaining.length) {
    const current = remaining.pop();
    pick.push(current);
    remaining = remaining.filter((i) => iou(boxes[current], boxes[i]) <= iouThreshold);
  }
  return pick;
}

const scaleBox = (b, sx, sy) => ({ x: b.x * sx, y: b.y * sy, width: b.width * sx, height: b.height * sy });

/** The grid's faces, non-max suppressed, best first: [{score, box}] with boxes in the image's pixels. */
export function decodeDetections(grid, imageHeight, imageWidth,
  { size = DETECTOR_SIZE, scoreThreshold = SCORE_THRESHOLD, iouThreshold = IOU_THRESHOLD } = {}) {
  const { boxes, scores } = decodeBoxes(grid, imageHeight, imageWidth, { size, scoreThreshold });
  const keep = nonMaxSuppression(boxes.map((b) => scaleBox(b, size, size)), scores, iouThreshold);
  return keep.map((i) => ({ score: scores[i], box: scaleBox(boxes[i], imageWidth, imageHeight) }));
}

// ---------------------------------------------------------------------------------------------- landmarks
/** Box.clipAtImageBorders: the detection clipped to the image, each of x, y, width, height floored. */
export function cropBox(box, imageHeight, imageWidth) {
  const x = Math.max(box.x, 0), y = Math.max(box.y, 0);
  const width = Math.min(box.x + box.width - x, imageWidth - x);
  const height = Math.min(box.y + box.height - y, imageHeight - y);
  return { x: Math.floor(x), y: Math.floor(y), width: Math.floor(width), height: Math.floor(height) };
}

/** 68 [x, y] positions in image pixels from the landmark net's 136 outputs for a detection box
 *  (FaceLandmark68NetBase.postProcess in float32, then FaceLandmarks' scaling and shift). */
export function landmarkPositions(raw, box, imageHeight, imageWidth, size = LANDMARK_SIZE) {
  const c = cropBox(box, imageHeight, imageWidth);
  const scale = size / Math.max(c.height, c.width);
  const w = c.width * scale, h = c.height * scale;
  const padX = w < h ? Math.abs(w - h) / 2 : 0, padY = h < w ? Math.abs(w - h) / 2 : 0;
  const f = Math.fround;
  const points = [];
  for (let i = 0; i < 68; i++) {
    const rx = f(f(f(f(raw[2 * i]) * size) - f(padX)) / f(w));
    const ry = f(f(f(f(raw[2 * i + 1]) * size) - f(padY)) / f(h));
    points.push([rx * c.width + box.x, ry * c.height + box.y]);
  }
  return points;
}

// ------------------------------------------------------------------------------------------ the pipeline
const product = (shape) => shape.reduce((a, b) => a * b, 1);
/** The model's image input (the 4-D one) and its output of `size` values per sample. */
const imageInput = (model) => Object.keys(model.inputs).find((n) => model.inputs[n].shape.length === 4);
const outputSized = (model, size) => Object.keys(model.outputs).find((n) => product(model.outputs[n].shape.slice(1)) === size);

/** Faces in `image` ({data: RGB values, width, height}, e.g. from imagePixels) with the two bundles'
 *  models (batch 1): [{score, box, landmarks}], best first; an empty list when there is none. A detection
 *  whose clipped crop is empty is dropped, as face-api drops it. */
export async function detectFaces(detector, landmarkNet, image, options = {}) {
  const gridName = outputSized(detector, CELLS * CELLS * ANCHORS.length * ENCODING);
  const pointsName = outputSized(landmarkNet, 136);
  if (!gridName || !pointsName) throw new Error('expected a 13x13x25 detector output and a 136-value landmark output');
  const grid = (await detector.predict({ [imageInput(detector)]: detectorInput(image) }))[gridName];
  const faces = [];
  for (const face of decodeDetections(grid, image.height, image.width, options)) {
    const c = cropBox(face.box, image.height, image.width);
    if (c.width <= 0 || c.height <= 0) continue;
    const raw = (await landmarkNet.predict({ [imageInput(landmarkNet)]: landmarkInput(image, face.box) }))[pointsName];
    faces.push({ ...face, landmarks: landmarkPositions(raw, face.box, image.height, image.width) });
  }
  return faces;
}
