// Runs an emitted bundle (model.js) in Node, with Dawn (the `webgpu` package) as navigator.gpu.
//   node run_bundle.mjs --probe                 prints the adapter (and its largest binding), or exits 3 saying there is none
//   node run_bundle.mjs BUNDLE_DIR REQUEST.json RESULT.json
// REQUEST: {predict?: {input: [numbers]}, weights?: true, train?: {inputs: {...}, lr, steps}, seed?: dropout's}
// RESULT:  {outputs, weights, losses, trainedWeights, timings: {firstInferenceMs, pipelineMs, pipelines}}
import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true });

const plain = (obj) => Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, Array.from(v)]));

if (process.argv[2] === '--probe') {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) {
    console.log('the webgpu package (Dawn) found no adapter');
    process.exit(3);
  }
  const { vendor, architecture, device, description } = adapter.info;
  const { maxStorageBufferBindingSize } = adapter.limits;
  console.log(JSON.stringify({ vendor, architecture, device, description, maxStorageBufferBindingSize }));
  process.exit(0);
}

const [dir, requestPath, resultPath] = process.argv.slice(2);
const request = JSON.parse(await readFile(requestPath, 'utf8'));
const { createModel } = await import(pathToFileURL(path.resolve(dir, 'model.js')).href);
const result = { timings: {} };
const t0 = performance.now();
const model = await createModel(request.seed === undefined ? {} : { seed: request.seed });   // seed: dropout's
if (request.predict) {
  result.outputs = plain(await model.predict(request.predict));
  result.timings.firstInferenceMs = performance.now() - t0;   // device, pipelines, weights and one run
}
Object.assign(result.timings, { pipelineMs: model.stats.pipelineMs, pipelines: model.stats.pipelines });
if (request.weights) result.weights = plain(await model.getWeights());
if (request.train) {
  const { inputs, lr, steps = 1 } = request.train;
  const losses = [];
  for (let i = 0; i < steps; i++) losses.push(model.trainStep(inputs, lr));   // queued, not awaited
  result.losses = await Promise.all(losses);
  result.trainedWeights = plain(await model.getWeights());
  Object.assign(result.timings, { trainPipelineMs: model.stats.trainPipelineMs, trainPipelines: model.stats.trainPipelines });
}
if (request.save) {
  const saved = await model.saveWeights('saved');
  await model.load({ manifest: saved.manifest, data: saved.data });
  result.savedBytes = saved.data.length;
  result.reloaded = plain(await model.getWeights());
}
await writeFile(resultPath, JSON.stringify(result));
process.exit(0);   // Dawn keeps the event loop alive otherwise
