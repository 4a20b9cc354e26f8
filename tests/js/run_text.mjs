// Text generation with a character model's bundle in Node (Dawn): text.js's TextGenerator on model.js.
//   node run_text.mjs BUNDLE_DIR REQUEST.json RESULT.json
// REQUEST: {generate: [{prompt, n, temperature, seed}], errors: [{prompt} | {ids: [numbers]}], draws: {seed, n}}
// RESULT:  {texts: [string], errors: [message], draws: [numbers], charsPerSecond}
import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true });

const [dir, requestPath, resultPath] = process.argv.slice(2);
const request = JSON.parse(await readFile(requestPath, 'utf8'));
const load = (file) => import(pathToFileURL(path.resolve(dir, file)).href);
const { createModel } = await load('model.js');
const { TextGenerator, mulberry32 } = await load('text.js');
const vocab = JSON.parse(await readFile(path.resolve(dir, 'vocab.json'), 'utf8'));
const model = await createModel();
const gen = new TextGenerator(model, { vocab });
const result = { texts: [], errors: [] };
let chars = 0;
const t0 = performance.now();
for (const { prompt, n, temperature, seed } of request.generate ?? []) {
  result.texts.push(await gen.generate(prompt, n, { temperature, seed }));
  chars += n;
}
result.charsPerSecond = chars / ((performance.now() - t0) / 1000);
for (const bad of request.errors ?? []) {
  try {
    if (bad.ids) await model.predict({ [gen.input]: bad.ids });
    else await gen.generate(bad.prompt, 3, { temperature: bad.temperature ?? 1 });
    result.errors.push(null);
  } catch (e) {
    result.errors.push(e.message);
  }
}
if (request.draws) {
  const draw = mulberry32(request.draws.seed);
  result.draws = Array.from({ length: request.draws.n }, draw);
}
await writeFile(resultPath, JSON.stringify(result));
process.exit(0);   // Dawn keeps the event loop alive otherwise
