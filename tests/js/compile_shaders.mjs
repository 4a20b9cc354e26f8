// Compiles WGSL shaders with Dawn (the `webgpu` package: Tint's validation, uniformity analysis included) and
// prints one JSON line: {errors: [[index, message]]}.
//   node compile_shaders.mjs SHADERS.json     (a JSON list of WGSL texts, each with an entry point `main`)
import { readFile } from 'node:fs/promises';
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const adapter = await create([]).requestAdapter();
const device = await adapter.requestDevice();
const errors = [];
const shaders = JSON.parse(await readFile(process.argv[2], 'utf8'));
for (const [i, code] of shaders.entries()) {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code });
  device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const error = await device.popErrorScope();
  if (error) errors.push([i, error.message]);
}
console.log(JSON.stringify({ errors }));
process.exit(0);
