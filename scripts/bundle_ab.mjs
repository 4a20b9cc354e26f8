// Two builds of one training bundle (same spec and batch, the same kernels) compared kernel by kernel in one
// Node process (Dawn from the `webgpu` package), so that a shared machine's load falls on both alike:
//   node scripts/bundle_ab.mjs DIR_A DIR_B [--rounds N] [--repeat R] [--match REGEX]
// For each kernel of the training step whose name matches (default: the products, conv2d/dense and their
// gradients, a split's partial kernel and its sum included), A and B take turns `rounds` times, each a submit
// of `repeat` dispatches; prints JSON lines {kernel, aMin, bMin, aMed, bMed} (ms a dispatch), then the sums
// and B/A. Run it twice with A and B swapped: the second bundle loaded can come out a few % faster.
//   node scripts/bundle_ab.mjs DIR --ready
// prints instead the ms from nothing to that bundle ready to infer (createModel) and to train
// (prepareTraining).
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(path.resolve('tests/js/package.json'));
const { create, globals } = require('webgpu');
Object.assign(globalThis, globals);
Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true });

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i < 0 ? dflt : args[i + 1]; };
const rounds = Number(opt('--rounds', 9)), repeat = Number(opt('--repeat', 3));
const PRODUCTS = '^(conv2d|conv2d_dw|conv2d_dx|dense|dense_dx|dense_dw)_\\d+(_partial)?$';
const match = new RegExp(opt('--match', PRODUCTS));

const load = async (dir) => {
  const t0 = performance.now();
  const { createModel } = await import(`${pathToFileURL(path.resolve(dir, 'model.js')).href}?${dir}`);
  const model = await createModel({ weights: null, tiles: 'auto' });
  const t1 = performance.now();
  await model.prepareTraining();
  const t2 = performance.now();
  const runner = model.trainer;
  return { model, runner, kernels: runner.phase('forward', 'backward', 'optimizer'),
    ready: { dir, tiles: model.stats.tiles, inferMs: Math.round(t1 - t0), trainMs: Math.round(t2 - t0) } };
};

if (args.includes('--ready')) {
  console.log(JSON.stringify((await load(args[0])).ready));
  process.exit(0);
}
const A = await load(args[0]), B = await load(args[1]);
const time = async (m, list, n) => {
  const encoder = m.model.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (let r = 0; r < n; r++) m.runner.record(pass, list);
  pass.end();
  const t0 = performance.now();
  m.model.device.queue.submit([encoder.finish()]);
  await m.model.device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
};
await time(A, A.kernels, 1);
await time(B, B.kernels, 1);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sums = { aMin: 0, bMin: 0, aMed: 0, bMed: 0 };
const round2 = (v) => +v.toFixed(2);
if (A.kernels.length !== B.kernels.length) throw new Error('the two bundles have different kernel lists');
for (let j = 0; j < A.kernels.length; j++) {
  const name = A.runner.program.kernels[A.kernels[j]].name;
  if (name !== B.runner.program.kernels[B.kernels[j]].name) throw new Error(`kernel ${j}: ${name} in A only`);
  if (!match.test(name)) continue;
  const ta = [], tb = [];
  for (let r = 0; r < rounds; r++) {
    ta.push(await time(A, [A.kernels[j]], repeat) / repeat);
    tb.push(await time(B, [B.kernels[j]], repeat) / repeat);
  }
  const row = { aMin: Math.min(...ta), bMin: Math.min(...tb), aMed: median(ta), bMed: median(tb) };
  for (const k of Object.keys(sums)) sums[k] += row[k];
  const shown = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, round2(v)]));
  console.log(JSON.stringify({ kernel: name, ...shown }));
}
const sum1 = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, +v.toFixed(1)]));
console.log(JSON.stringify({ sums: sum1,
  minBoverA: +(sums.bMin / sums.aMin).toFixed(3), medBoverA: +(sums.bMed / sums.aMed).toFixed(3) }));
process.exit(0);
