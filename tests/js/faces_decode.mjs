// Runs examples/web/faces.js (the page's pre- and post-processing) in Node on given numbers, for
// tests/test_faces.py to compare with face-api.js's own pipeline (tests/faceapi/face_pipeline.mjs) and
// with wgslgrad/vision/faces.py.
//   node faces_decode.mjs REQUEST.json
// A case: {image: RAW_RGB_FILE, height, width, grid: F32_FILE, landmarks: F32_FILE (136 per face), out: DIR,
// scoreThreshold?}. Writes DIR/js_result.json ({faces: [{score, box, landmarks}]}), DIR/js_detector_input.f32
// and DIR/js_landmark_input_I.f32 per face.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  decodeDetections, detectorInput, landmarkInput, landmarkPositions,
} from '../../examples/web/faces.js';

const f32 = async (file) => {
  const b = await readFile(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const write = (file, values) => writeFile(file, Buffer.from(Float32Array.from(values).buffer));

const cases = JSON.parse(await readFile(process.argv[2], 'utf8'));
for (const c of cases) {
  await mkdir(c.out, { recursive: true });
  const image = { data: new Uint8Array(await readFile(c.image)), width: c.width, height: c.height };
  const grid = await f32(c.grid);
  const raw = await f32(c.landmarks);
  await write(path.join(c.out, 'js_detector_input.f32'), detectorInput(image));
  const faces = decodeDetections(grid, c.height, c.width, { scoreThreshold: c.scoreThreshold ?? 0.5 });
  for (const [i, face] of faces.entries()) {
    await write(path.join(c.out, `js_landmark_input_${i}.f32`), landmarkInput(image, face.box));
    face.landmarks = landmarkPositions(raw.subarray(136 * i, 136 * i + 136), face.box, c.height, c.width);
  }
  await writeFile(path.join(c.out, 'js_result.json'), JSON.stringify({ faces }));
}
console.log(`faces.js: ${cases.length} cases`);
