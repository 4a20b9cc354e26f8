// Runs a script of KNN operations through the bundle's knn.js in Node (Dawn via the webgpu package), in
// the format of tests/knn/reference.mjs, for tests/test_knn.py.
//   node run_knn.mjs KNN_JS OPS.json RESULT.json
// Extra ops: {op: "save", path} writes the saved file; {op: "load", path} replaces the classifier by the
// one a file holds (written by Python or by "save").
import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true });

const [knnPath, opsPath, resultPath] = process.argv.slice(2);
const { KNNClassifier } = await import(pathToFileURL(path.resolve(knnPath)).href);
const ops = JSON.parse(await readFile(opsPath, 'utf8'));
const adapter = await navigator.gpu.requestAdapter();
const device = await adapter.requestDevice();
let knn = await KNNClassifier.create({ device });
const results = [];
for (const o of ops) {
  try {
    if (o.op === 'add') knn.addExample(o.x, o.label), results.push(null);
    else if (o.op === 'clear') knn.clearClass(o.label), results.push(null);
    else if (o.op === 'clearAll') knn.clearAllClasses(), results.push(null);
    else if (o.op === 'counts') results.push(knn.getClassExampleCount());
    else if (o.op === 'predict') {
      const { label, classIndex, confidences } = await knn.predictClass(o.x, o.k);
      results.push({ label, classIndex: classIndex ?? null, confidences });
    } else if (o.op === 'save') await writeFile(o.path, await knn.save()), results.push(null);
    else if (o.op === 'load') knn = await KNNClassifier.load(await readFile(o.path), { device }), results.push(null);
    else throw new Error(`unknown op ${o.op}`);
  } catch (e) {
    results.push({ error: e.message });
  }
}
await writeFile(resultPath, JSON.stringify({ results }));
process.exit(0);   // Dawn keeps the event loop alive otherwise
