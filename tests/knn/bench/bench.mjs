// Benchmark: classify one query against N stored D-dimensional examples, wgslgrad's knn.js (WebGPU) beside
// @tensorflow-models/knn-classifier on TF.js's WebGPU, wasm and cpu backends, all in one Node process
// (WebGPU from the webgpu package, Dawn). Not a test: it prints a table and asserts nothing.
//   node bench.mjs KNN_JS [--sizes=1000,10000] [--dim=256] [--runs=30] [--backends=webgpu,wasm,cpu] [--json=OUT]
// Each case: warm-up runs, then `runs` classifications of fresh random queries, one at a time, each awaited
// (both sides read their answer back); the median milliseconds and whether every answer (label and
// confidences) agreed with knn.js's.
// Run in tests/knn/bench after `npm ci` there (tests/bench/test_knn_bench.py does both).
import { writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true });

const opt = Object.fromEntries(process.argv.slice(3).map((a) => a.replace(/^--/, '').split('=')));
const sizes = (opt.sizes ?? '1000,10000').split(',').map(Number);
const dim = Number(opt.dim ?? 256), runs = Number(opt.runs ?? 30), k = Number(opt.k ?? 3);
const backends = (opt.backends ?? 'webgpu,wasm,cpu').split(',');
const { KNNClassifier } = await import(pathToFileURL(path.resolve(process.argv[2])).href);
const tf = await import('@tensorflow/tfjs');
await import('@tensorflow/tfjs-backend-wasm');
await import('@tensorflow/tfjs-backend-webgpu');
const { default: knnClassifier } = await import('@tensorflow-models/knn-classifier');

let seed = 1;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const vectors = (n) => Float32Array.from({ length: n * dim }, random);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const same = (a, b) => a.label === b.label && JSON.stringify(a.confidences) === JSON.stringify(b.confidences);

async function time(fn, queries) {
  for (let i = 0; i < 3; i++) await fn(queries[i]);   // pipelines, lazily built matrices
  const ms = [], answers = [];
  for (const q of queries) {
    const t0 = performance.now();
    answers.push(await fn(q));
    ms.push(performance.now() - t0);
  }
  return { ms: median(ms), answers };
}

const adapter = await navigator.gpu.requestAdapter();
const device = await adapter.requestDevice({ requiredLimits: {
  maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize } });
const rows = [];
for (const n of sizes) {
  const data = vectors(n), labels = Array.from({ length: n }, (_, i) => String(i % 10));
  const queries = Array.from({ length: runs }, () => vectors(1));
  const ours = await KNNClassifier.create({ device });
  for (let i = 0; i < n; i++) ours.addExample(data.subarray(i * dim, (i + 1) * dim), labels[i]);
  const mine = await time((q) => ours.predictClass(q, k), queries);
  const row = { n, dim, k, runs, adapter: adapter.info?.description || adapter.info?.device || '?', knnjs_ms: mine.ms };
  ours.dispose();
  for (const backend of backends) {
    try {
      await tf.setBackend(backend);
      await tf.ready();
      const ref = knnClassifier.create();
      // setClassifierDataset takes the per-class matrices as addExample stores them (unit rows); adding
      // 10,000 examples one by one would re-concatenate a class matrix each time.
      const byClass = {};
      for (let i = 0; i < n; i++) (byClass[labels[i]] ??= []).push(i);
      const dataset = {};
      for (const [label, idx] of Object.entries(byClass)) {
        const m = new Float32Array(idx.length * dim);
        idx.forEach((r, j) => {
          const v = data.subarray(r * dim, (r + 1) * dim);
          const norm = Math.hypot(...v);
          for (let c = 0; c < dim; c++) m[j * dim + c] = v[c] / norm;
        });
        dataset[label] = tf.tensor2d(m, [idx.length, dim]);
      }
      ref.setClassifierDataset(dataset);
      const theirs = await time(async (q) => {
        const x = tf.tensor1d(q);
        const r = await ref.predictClass(x, k);
        x.dispose();
        return r;
      }, queries);
      row[`${backend}_ms`] = theirs.ms;
      row[`${backend}_agree`] = theirs.answers.every((a, i) => same(a, mine.answers[i]));
      row[`${backend}_speedup`] = theirs.ms / mine.ms;
      ref.dispose();
    } catch (e) {
      row[`${backend}_error`] = e.message.split('\n')[0];
    }
  }
  rows.push(row);
  console.log(JSON.stringify(row));
}
if (opt.json) await writeFile(opt.json, JSON.stringify(rows, null, 1));
process.exit(0);   // Dawn keeps the event loop alive otherwise
