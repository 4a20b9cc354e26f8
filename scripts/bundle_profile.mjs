// Where a bundle's time goes on this machine's WebGPU (Node, Dawn from the `webgpu` package), kernel by kernel.
//   node scripts/bundle_profile.mjs BUNDLE_DIR [--train] [--repeat N] [--tiles auto|shared|direct] [--top K]
// Each kernel of the inference phase (with --train: the training step's) is dispatched `repeat` times in one
// submit and waited for; its time is the median over three such submits divided by `repeat`. Prints JSON
// lines {kernel, ms, workgroups} slowest first, then the total.
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(path.resolve('tests/js/package.json'));
const { create, globals } = require('webgpu');
Object.assign(globalThis, globals);
Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true });

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i < 0 ? dflt : args[i + 1]; };
const dir = args[0], train = args.includes('--train'), repeat = Number(opt('--repeat', 3));
const top = Number(opt('--top', 15));
const { createModel } = await import(pathToFileURL(path.resolve(dir, 'model.js')).href);
const model = await createModel({ weights: null, tiles: opt('--tiles', 'auto') });
let runner = model.runner, kernels;
if (train) {
  await model.prepareTraining();
  runner = model.trainer;
  kernels = runner.phase('forward', 'backward', 'optimizer');
} else {
  kernels = runner.phase('inference');
}
const { device } = model;
const time = async (list, n) => {
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (let r = 0; r < n; r++) runner.record(pass, list);
  pass.end();
  const t0 = performance.now();
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
};
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
await time(kernels, 1);
const whole = [];
for (let r = 0; r < 3; r++) whole.push(await time(kernels, 1));
const rows = [];
for (const i of kernels) {
  const ts = [];
  for (let r = 0; r < 3; r++) ts.push(await time([i], repeat) / repeat);
  const k = runner.program.kernels[i];
  rows.push({ kernel: k.name, ms: +median(ts).toFixed(2), workgroups: k.workgroups.join('x'),
    op: k.name.replace(/_\d+(_partial)?$/, '').replace(/_\d+_/, '_') });
}
rows.sort((a, b) => b.ms - a.ms);
const sum = rows.reduce((s, r) => s + r.ms, 0);
const byOp = {};
for (const r of rows) byOp[r.op] = (byOp[r.op] ?? 0) + r.ms;
console.log(JSON.stringify({ tiles: model.stats.tiles, kernels: rows.length, wholeMs: +median(whole).toFixed(1),
  sumMs: +sum.toFixed(1) }));
console.log(JSON.stringify(Object.fromEntries(Object.entries(byOp).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, +v.toFixed(1)]))));
for (const r of rows.slice(0, top)) console.log(JSON.stringify(r));
process.exit(0);
