// Runs a script of KNN operations through @tensorflow-models/knn-classifier (TF.js, CPU backend): the
// reference for wgslgrad's KNN head (tests/test_knn.py).
//   node reference.mjs OPS.json RESULT.json
// OPS: [{op: "add", x: [numbers], label}, {op: "clear", label}, {op: "clearAll"},
//       {op: "predict", x: [numbers], k}, {op: "counts"}]
// RESULT: one entry per op: predict -> {label, classIndex, confidences}; counts -> {label: n};
//         an op that throws -> {error: message}; others -> null.
import { readFile, writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import knnClassifier from '@tensorflow-models/knn-classifier';

await tf.setBackend('cpu');
const [opsPath, resultPath] = process.argv.slice(2);
const ops = JSON.parse(await readFile(opsPath, 'utf8'));
const knn = knnClassifier.create();
const results = [];
for (const o of ops) {
  try {
    if (o.op === 'add') knn.addExample(tf.tensor1d(o.x, 'float32'), o.label), results.push(null);
    else if (o.op === 'clear') knn.clearClass(o.label), results.push(null);
    else if (o.op === 'clearAll') knn.clearAllClasses(), results.push(null);
    else if (o.op === 'counts') results.push({ ...knn.getClassExampleCount() });
    else if (o.op === 'predict') {
      const { label, classIndex, confidences } = await knn.predictClass(tf.tensor1d(o.x, 'float32'), o.k);
      results.push({ label, classIndex: classIndex ?? null, confidences });
    } else throw new Error(`unknown op ${o.op}`);
  } catch (e) {
    results.push({ error: e.message });
  }
}
await writeFile(resultPath, JSON.stringify({ backend: tf.getBackend(), version: knnClassifier.version, results }));
