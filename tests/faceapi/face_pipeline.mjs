// face-api.js's own photo-to-landmarks pipeline in Node (the package's Node build, as run_faceapi.mjs uses
// it, on tfjs's pure-JS CPU backend; its published weights), for tests/test_faces.py:
//   detectAllFaces(image, new TinyFaceDetectorOptions()).withFaceLandmarks(tiny)
// For each case of REQUEST.json it writes into the case's `out` folder result.json (the detections and
// landmark positions exactly as face-api returns them, and what went into each net) and, as float32 files,
// the detector's input batch tensor and its raw 13x13x25 grid, and each face's 112x112 landmark input and
// raw 136 outputs.
//   node face_pipeline.mjs REQUEST.json
// A case: {image: RAW_RGB_FILE, height, width, out, tiny?: bool, scoreThreshold?, grid?: F32_FILE,
// landmarks?: F32_FILE}. With `grid` the detector's net is replaced by that raw grid, and with `landmarks`
// the landmark net's raw outputs by those rows (one per face, in face-api's order): what remains is
// face-api's own decoding, non-max suppression, cropping and landmark scaling, run on given numbers.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import * as faceapi from '@vladmandic/face-api/dist/face-api.node-wasm.js';

const { tf } = faceapi;
await tf.setBackend('cpu');
await tf.ready();

const MODELS = new URL('./node_modules/@vladmandic/face-api/model/', import.meta.url);

async function loadNet(net, name) {
  const manifest = JSON.parse(await readFile(new URL(`${name}-weights_manifest.json`, MODELS), 'utf8'));
  const groups = await Promise.all(manifest.map(async (g) => Buffer.concat(
    await Promise.all(g.paths.map((p) => readFile(new URL(p, MODELS)))))));
  const weightMap = {};
  manifest.forEach((g, i) => {
    const bytes = groups[i];
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    Object.assign(weightMap, tf.io.decodeWeights(buffer, g.weights));
  });
  net.loadFromWeightMap(weightMap);
}

const f32 = async (file) => {
  const b = await readFile(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const save = (file, tensor) => writeFile(file, Buffer.from(new Float32Array(tensor.dataSync()).buffer));
const box = (b) => ({ x: b.x, y: b.y, width: b.width, height: b.height });

await loadNet(faceapi.nets.tinyFaceDetector, 'tiny_face_detector_model');
await loadNet(faceapi.nets.faceLandmark68Net, 'face_landmark_68_model');
await loadNet(faceapi.nets.faceLandmark68TinyNet, 'face_landmark_68_tiny_model');

const detector = faceapi.nets.tinyFaceDetector;
const realForward = detector.forwardInput.bind(detector);

async function runCase(c) {
  await mkdir(c.out, { recursive: true });
  const rgb = await readFile(c.image);
  const image = tf.tensor3d(Int32Array.from(rgb), [c.height, c.width, 3], 'int32');
  const grid = c.grid ? await f32(c.grid) : null;
  detector.forwardInput = (netInput, inputSize) => {
    const batch = netInput.toBatchTensor(inputSize, false);   // as face-api's own forwardInput makes it
    save(path.join(c.out, 'detector_input.f32'), batch);
    batch.dispose();
    const out = grid ? tf.tensor4d(grid, [1, 13, 13, 25]) : realForward(netInput, inputSize);
    save(path.join(c.out, 'grid.f32'), out);
    return out;
  };
  const landmarkNet = c.tiny ? faceapi.nets.faceLandmark68TinyNet : faceapi.nets.faceLandmark68Net;
  const realRunNet = landmarkNet.runNet.bind(landmarkNet);
  const given = c.landmarks ? await f32(c.landmarks) : null;
  let face = 0;
  const inputs = [];
  landmarkNet.runNet = (netInput) => {
    const batch = netInput.toBatchTensor(112, true);   // sets netInput.inputSize, as the real net does
    inputs.push(Array.from(batch.dataSync()));
    batch.dispose();
    const out = given ? tf.tensor2d(given.subarray(136 * face, 136 * face + 136), [1, 136])
      : realRunNet(netInput);
    save(path.join(c.out, `landmarks_raw_${face}.f32`), out);
    face += 1;
    return out;
  };
  const options = new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: c.scoreThreshold ?? 0.5 });
  const results = await faceapi.detectAllFaces(image, options).withFaceLandmarks(Boolean(c.tiny));
  landmarkNet.runNet = realRunNet;
  inputs.forEach((values, i) => writeFile(path.join(c.out, `landmark_input_${i}.f32`),
    Buffer.from(Float32Array.from(values).buffer)));
  const faces = results.map((r) => ({
    score: r.detection.score,
    box: box(r.detection.box),
    relativeBox: box(r.detection.relativeBox),
    landmarks: r.landmarks.positions.map((p) => [p.x, p.y]),
    unshiftedLandmarks: r.unshiftedLandmarks.positions.map((p) => [p.x, p.y]),
    crop: { width: r.unshiftedLandmarks.imageWidth, height: r.unshiftedLandmarks.imageHeight },
  }));
  image.dispose();
  await writeFile(path.join(c.out, 'result.json'), JSON.stringify({ faces, landmarkRuns: face }));
}

const cases = JSON.parse(await readFile(process.argv[2], 'utf8'));
for (const c of cases) await runCase(c);
console.log(`face-api ${faceapi.version} (tfjs ${tf.version_core}, backend ${tf.getBackend()}): ${cases.length} cases`);
