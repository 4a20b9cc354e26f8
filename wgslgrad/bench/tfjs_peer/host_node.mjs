// One system of `wgslgrad bench FILE --node` in its own Node process, WebGPU from the `webgpu` package (Dawn):
//   node host_node.mjs SYSTEM DIR      (SYSTEM: wgslgrad[-shared|-direct], tfjs-webgpu or tfjs-wasm; DIR: the comparison's files)
// reads one JSON request a line from stdin, {id, method, args}, calls systems.mjs's method and writes
// {id, result} or {id, error} as one line to stdout. It prints {ready: true} first.
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { wgslgradSystem, tfjsSystem } from './systems.mjs';

const require = createRequire(import.meta.url);
const [system, dir] = process.argv.slice(2);
const send = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const io = {
  url: (p) => pathToFileURL(path.resolve(dir, p)).href,
  bytes: async (p) => new Uint8Array(await readFile(path.resolve(dir, p))),
};

let host;
if (system.startsWith('wgslgrad') || system === 'tfjs-webgpu') {
  const { create, globals } = require('webgpu');
  Object.assign(globalThis, globals);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true });
}
if (system.startsWith('wgslgrad')) host = wgslgradSystem(io, { name: system, tiles: system.split('-')[1] ?? 'auto' });
else if (system === 'tfjs-webgpu' || system === 'tfjs-wasm') {
  const tf = require('@tensorflow/tfjs');
  require(system === 'tfjs-wasm' ? '@tensorflow/tfjs-backend-wasm' : '@tensorflow/tfjs-backend-webgpu');
  host = tfjsSystem(tf, require('./peer_model'), system.slice(5), io);
} else {
  process.stderr.write(`unknown system ${system}\n`);
  process.exit(2);
}
send({ ready: true });
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const { id, method, args } = JSON.parse(line);
  try {
    send({ id, result: await host[method](args) });
  } catch (e) {
    send({ id, error: String(e?.stack ?? e) });
  }
}
process.exit(0);   // Dawn keeps the event loop alive otherwise
