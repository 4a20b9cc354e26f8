// Compiles shaders one at a time with Dawn (the `webgpu` package) and prints the times as JSON:
//   node scripts/compile_times.mjs KERNELS.json [DAWN_FLAG...]
// KERNELS.json: [{name, wgsl}]; prints {total_ms, n, times: [[ms, name]] slowest first}. Each shader module +
// createComputePipeline (synchronous: Dawn in Node makes async ones no faster). scripts/compile_times.py
// writes the kernels and runs this.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(new URL('../wgslgrad/bench/tfjs_peer/package.json', import.meta.url));
const { create, globals } = require('webgpu');
Object.assign(globalThis, globals);
const [file, ...flags] = process.argv.slice(2);
const adapter = await create(flags).requestAdapter();
if (!adapter) {
  console.error('Dawn found no adapter');
  process.exit(3);
}
const { maxStorageBufferBindingSize, maxBufferSize } = adapter.limits;
const device = await adapter.requestDevice({ requiredLimits: { maxStorageBufferBindingSize, maxBufferSize } });
const times = [];
const t0 = performance.now();
for (const k of JSON.parse(readFileSync(file, 'utf8'))) {
  const t = performance.now();
  // (no error scopes: awaiting one per shader crashed Dawn here; an invalid shader is reported by Dawn itself)
  const module = device.createShaderModule({ code: k.wgsl });
  device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  times.push([performance.now() - t, k.name]);
}
const total = performance.now() - t0;
times.sort((a, b) => b[0] - a[0]);
console.log(JSON.stringify({ total_ms: total, n: times.length, times }));
process.exit(0);
