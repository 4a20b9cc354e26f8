// Runs face-api.js's own nets on its published weights (node_modules/@vladmandic/face-api/model) in Node, on
// TF.js's pure-JS CPU backend, and writes their raw outputs, for tests/test_faceapi.py.
//   node run_faceapi.mjs DIR
// DIR holds the inputs as raw little-endian float32, NHWC, batch 1, pixel values 0..255:
//   detector.f32 (416x416x3, for TinyFaceDetector) and face.f32 (112x112x3, for both landmark nets).
// Written to DIR: tiny_face_detector.f32 (1x13x13x25: the grid before face-api's box decoding),
// landmark68.f32 and landmark68_tiny.f32 (1x136: the nets' outputs before face-api's postProcess),
// face_feature_extractor.f32 (1x256: FaceExpressionNet's FaceFeatureExtractor, as FaceProcessor.runNet flattens
// it), face_expressions.f32 (1x7: FaceExpressionNet's probabilities), and faceapi.json (versions, backend, shapes).
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as faceapi from '@vladmandic/face-api/dist/face-api.node-wasm.js';

const { tf } = faceapi;
const here = path.dirname(fileURLToPath(import.meta.url));
const modelDir = path.join(here, 'node_modules', '@vladmandic', 'face-api', 'model');
const dir = process.argv[2];

async function input(name, size) {
  const bytes = await readFile(path.join(dir, name));
  const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  if (values.length !== size * size * 3) {
    throw new Error(`${name}: ${values.length} floats, expected ${size}x${size}x3`);
  }
  return tf.tensor4d(values, [1, size, size, 3], 'float32');
}

async function save(name, tensor) {
  const data = await tensor.data();   // a Float32Array
  await writeFile(path.join(dir, name), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  return tensor.shape;
}

await tf.setBackend('cpu');   // the plain JS kernels: float32, no native build, no SIMD reassociation
await tf.ready();
const { tinyFaceDetector, faceLandmark68Net, faceLandmark68TinyNet, faceExpressionNet } = faceapi.nets;
const nets = [tinyFaceDetector, faceLandmark68Net, faceLandmark68TinyNet, faceExpressionNet];
await Promise.all(nets.map((net) => net.loadFromDisk(modelDir)));

const detector = await input('detector.f32', 416);
const face = await input('face.f32', 112);
const shapes = {};
// TinyYolov2Base.forwardInput(netInput, inputSize): mean subtraction, /255, runMobilenet; a 416x416 tensor is
// neither padded nor resized by toBatchTensor.
shapes.tiny_face_detector = await save('tiny_face_detector.f32',
  tinyFaceDetector.forwardInput(await faceapi.toNetInput(detector), 416));
// FaceProcessor.runNet(netInput): the feature extractor and the fc layer, before postProcess.
shapes.landmark68 = await save('landmark68.f32', faceLandmark68Net.runNet(await faceapi.toNetInput(face)));
shapes.landmark68_tiny = await save('landmark68_tiny.f32',
  faceLandmark68TinyNet.runNet(await faceapi.toNetInput(face)));
// FaceFeatureExtractor.forwardInput (1x1x1x256), flattened as FaceProcessor.runNet does; then the whole net.
const features = faceExpressionNet.faceFeatureExtractor.forwardInput(await faceapi.toNetInput(face));
shapes.face_feature_extractor = await save('face_feature_extractor.f32', features.as2D(1, -1));
shapes.face_expressions = await save('face_expressions.f32',
  faceExpressionNet.forwardInput(await faceapi.toNetInput(face)));
await writeFile(path.join(dir, 'faceapi.json'), JSON.stringify({
  faceapi: faceapi.version, tfjs: tf.version_core, backend: tf.getBackend(), shapes,
}));
