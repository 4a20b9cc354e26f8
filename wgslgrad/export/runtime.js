// wgslgrad bundle runtime: runs a wgslgrad Program (plain JSON: buffers, kernels with their WGSL and
// bindings, input/output/parameter slots as offsets into flat f32 buffers) through WebGPU, in a browser or
// in Node (where the `webgpu` package provides navigator.gpu). It mirrors wgslgrad/runtime/session.py:
// buffers, pipelines and bind groups are made once; a run of a Program's phases is one submit.
//
// export/bundle.py inlines this file, unchanged, into model.js after the Program, so a bundle is one
// module plus its weight files. No dependencies.

// WebGPU's numeric flags, spelled out: Node's `webgpu` package only defines the GPU* globals when asked.
const MAP_READ = 0x1, COPY_SRC = 0x4, COPY_DST = 0x8, UNIFORM = 0x40, STORAGE = 0x80;  // GPUBufferUsage
const MAP_MODE_READ = 0x1, STAGE_COMPUTE = 0x4;
const BINDING_TYPE = { read: 'read-only-storage', read_write: 'storage', uniform: 'uniform' };
const RING = 8;             // loss staging buffers kept for reuse; more are made while that many are in flight
// Browsers compile async pipelines off the main thread, so the page stays responsive; Dawn in Node
// (the `webgpu` package) takes about twice as long for them as for createComputePipeline (measured on
// SwiftShader: 19 pipelines in 5.2 s against 2.4 s), so Node makes them synchronously.
const ASYNC_PIPELINES = !globalThis.process?.versions?.node;
const DEVICE_CACHE = new WeakMap();   // device -> its shader modules, layouts and pipelines (promises)
const now = () => (globalThis.performance ?? Date).now();
const product = (shape) => shape.reduce((a, b) => a * b, 1);

/** A device with the adapter's largest storage-binding and buffer sizes (as the Python runtime asks for);
 *  every other limit stays at the WebGPU default, which the generated kernels respect. */
export async function requestDevice(gpu = globalThis.navigator?.gpu) {
  if (!gpu) {
    throw new Error('WebGPU is not available (navigator.gpu is undefined). In Node: ' +
      "import { create } from 'webgpu'; globalThis.navigator = { gpu: create([]) }");
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('WebGPU found no adapter');
  const { maxStorageBufferBindingSize, maxBufferSize } = adapter.limits;
  return adapter.requestDevice({ requiredLimits: { maxStorageBufferBindingSize, maxBufferSize } });
}

/** A bundle's shaders from their skeletons (WGSL with each number a '#') and, per shader, [its skeleton,
 *  its numbers joined by ','] (export/bundle.py). */
export function shaderTexts(skeletons, table) {
  return table.map(([s, numbers]) => {
    const n = numbers.split(',');
    let i = 0;
    return skeletons[s].replace(/#|\$(\d+)/g, (_, j) => (j === undefined ? n[i++] : n[j]));
  });
}

/** The `step` uniform for step t (1-based): the values its fields name (program.optimizer.fields, laid out by
 *  the compiler), the bias corrections in float64, rounded once, as session.py's step_uniform does. */
function stepUniform(opt, lr, t, seed = 0) {
  const values = { lr, beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps, bias1: 1 - opt.beta1 ** t,
    bias2: 1 - opt.beta2 ** t, t, seed: seed % 2 ** 24, '': 0 };
  return Float32Array.from(opt.fields, (f) => values[f]);
}

// --------------------------------------------------------------------------------------------- Runner
/** Embedding ids must be whole numbers in [0, vocab): the kernel would clamp any other, a silently wrong
 *  row (Python's runtime.data.bad_ids says the same). */
function checkIds(name, values, shape, vocab) {
  const at = values.findIndex((v) => !(Number.isInteger(v) && v >= 0 && v < vocab));
  if (at < 0) return;
  const index = shape.map((_, d) => Math.floor(at / product(shape.slice(d + 1))) % shape[d]);
  throw new Error(`input ${name} holds ${values[at]} at [${index.join(', ')}]: embedding ids must be whole ` +
    `numbers in [0, ${vocab})`);
}

/** One Program on one device: its buffers, pipelines and bind groups (made once), and its phases:
 *  run() the inference phase, step() a training Program's forward, backward and optimizer phases. */
class Runner {
  /** shared: buffers to use instead of making new ones (the training Program shares `params`). */
  static async create(device, program, shaders, shared = {}) {
    const runner = new Runner(device, program, shared);
    await runner.build(shaders);
    return runner;
  }

  constructor(device, program, shared) {
    this.device = device;
    this.program = program;
    const limit = device.limits.maxStorageBufferBindingSize;
    const uniforms = new Set(program.kernels.flatMap((k) =>
      k.bindings.filter((b) => b.access === 'uniform').map((b) => b.buffer)));
    this.buffers = {};
    for (const [name, size] of Object.entries(program.buffers)) {
      if (shared[name]) { this.buffers[name] = shared[name]; continue; }
      if (4 * size > limit) {
        // as runtime/device.py's device_advice says it
        const advice = limit <= 2 ** 27
          ? 'export with a smaller batch, and without --max-binding for this device, which binds only what every ' +
            'WebGPU device does'
          : `export with a smaller batch, or with --max-binding ${Math.floor(Math.min(limit, 2 ** 31) / 2 ** 20)}MiB or ` +
            'less for this device';
        throw new Error(`buffer ${name} needs ${(4 * size / 2 ** 20).toFixed(1)} MiB but this device binds at ` +
          `most ${(limit / 2 ** 20).toFixed(1)} MiB: ${advice}`);
      }
      const usage = STORAGE | COPY_SRC | COPY_DST | (uniforms.has(name) ? UNIFORM : 0);
      this.buffers[name] = device.createBuffer({ label: name, size: 4 * size, usage });
    }
    for (const [name, data] of Object.entries(program.buffer_data)) {
      device.queue.writeBuffer(this.buffers[name], 0, new Float32Array(data));
    }
    // Kernels that share one shader (export/param_shaders.py) read their own numbers (u32 bits) from a
    // uniform bound after their other bindings: one buffer, a 256-byte aligned block per kernel.
    this.numsAt = [];
    let top = 0;
    for (const k of program.kernels) {
      this.numsAt.push(k.nums ? top : -1);
      if (k.nums) top += 256 * Math.ceil(k.nums.length / 64);
    }
    if (top) {
      const words = new Uint32Array(top / 4);
      program.kernels.forEach((k, i) => { if (k.nums) words.set(k.nums, this.numsAt[i] / 4); });
      this.nums = device.createBuffer({ label: 'nums', size: top, usage: UNIFORM | COPY_DST });
      device.queue.writeBuffer(this.nums, 0, words);
    }
    this.plans = new Map();
    this.staging = null;      // made on the first run that reads outputs back
    this.busy = Promise.resolve();
    this.t = 0;               // training steps taken (Adam's step count)
    this.seed = 0;            // dropout's seed (below 2^24): with t it draws each step's masks, as in Python
    this.free = [];           // loss staging buffers not being mapped
    this.made = 0;
  }

  /** Shader modules, layouts and pipelines, deduplicated as in Session. */
  async build(shaders) {
    const t0 = now();
    const { device } = this;
    device.pushErrorScope('validation');   // a bad shader or layout would otherwise only log a warning
    // per device, so that the training Program reuses what the inference one made (most of its forward)
    if (!DEVICE_CACHE.has(device)) DEVICE_CACHE.set(device, { modules: new Map(), layouts: new Map(), pipelines: new Map() });
    const { modules, layouts, pipelines } = DEVICE_CACHE.get(device);
    const mine = new Set();
    const kernels = this.program.kernels.map((k, i) => {
      const accesses = k.bindings.map((b) => b.access).concat(k.nums ? ['uniform'] : []);
      const access = accesses.join(',');
      if (!layouts.has(access)) {
        const bgl = device.createBindGroupLayout({ entries: accesses.map((a, j) => (
          { binding: j, visibility: STAGE_COMPUTE, buffer: { type: BINDING_TYPE[a] } })) });
        layouts.set(access, [bgl, device.createPipelineLayout({ bindGroupLayouts: [bgl] })]);
      }
      const [bgl, layout] = layouts.get(access);
      const code = shaders ? shaders[k.shader] : k.wgsl;
      if (!modules.has(code)) modules.set(code, device.createShaderModule({ label: k.name, code }));
      const key = `${access}|${code}`;
      if (!pipelines.has(key)) {
        const desc = { label: k.name, layout, compute: { module: modules.get(code), entryPoint: 'main' } };
        pipelines.set(key, ASYNC_PIPELINES ? device.createComputePipelineAsync(desc)
          : Promise.resolve(device.createComputePipeline(desc)));
      }
      const entries = k.bindings.map((b, j) => ({ binding: j, resource: { buffer: this.buffers[b.buffer] } }));
      if (k.nums) {
        entries.push({ binding: entries.length,
          resource: { buffer: this.nums, offset: this.numsAt[i], size: 16 * Math.ceil(k.nums.length / 4) } });
      }
      const bindGroup = device.createBindGroup({ layout: bgl, entries });
      mine.add(key);
      return { key, bindGroup, workgroups: k.workgroups };
    });
    let made;
    try {
      made = new Map(await Promise.all([...mine].map(async (key) => [key, await pipelines.get(key)])));
    } finally {
      const error = await device.popErrorScope();
      if (error) {
        DEVICE_CACHE.delete(device);   // a failed pipeline is not kept for the next Program
        throw new Error(`building the pipelines failed: ${error.message}`);
      }
    }
    this.dispatches = kernels.map((k) => [made.get(k.key), k.bindGroup, k.workgroups]);
    this.pipelineCount = made.size;
    this.pipelineMs = now() - t0;
  }

  /** Full-batch inputs (Float32Array or array-like, prod(shape) values each), checked and copied, so that
   *  a caller may reuse its arrays at once even when the write happens later. */
  checkInputs(inputs) {
    const out = {};
    for (const [name, value] of Object.entries(inputs)) {
      const slot = this.program.inputs[name];
      if (!slot) {
        throw new Error(`unknown input ${name} (the model's inputs: ${Object.keys(this.program.inputs).join(', ')})`);
      }
      out[name] = Float32Array.from(value);
      if (out[name].length !== product(slot.shape)) {
        throw new Error(`input ${name} has ${out[name].length} values but the model expects ` +
          `[${slot.shape}] = ${product(slot.shape)} (batch ${this.program.batch} first)`);
      }
      const vocab = this.program.ids?.[name];
      if (vocab !== undefined) checkIds(name, out[name], slot.shape, vocab);
    }
    return out;
  }

  writeInputs(inputs) {
    for (const [name, data] of Object.entries(inputs)) {
      const slot = this.program.inputs[name];
      this.device.queue.writeBuffer(this.buffers[slot.buffer], 4 * slot.offset, data);
    }
  }

  /** Every output, except optional ones (the loss) whose inputs were not given. */
  outputsFor(given) {
    const chosen = [];
    for (const [name, needs] of Object.entries(this.program.requires)) {
      const missing = needs.filter((n) => !given.has(n));
      if (!missing.length) chosen.push(name);
      else if (!this.program.optional_outputs.includes(name)) {
        throw new Error(`output ${name} needs input ${missing.join(', ')}, which was not given`);
      }
    }
    return chosen;
  }

  /** The kernels of the named phases, one phase after another (indices into program.kernels). */
  phase(...names) {
    const missing = names.filter((n) => !this.program.phases[n]);
    if (missing.length) throw new Error(`the program has no ${missing.join(', ')} phase`);
    return names.flatMap((n) => this.program.phases[n]);
  }

  /** Indices of the inference phase's kernels, in order, that compute `outputs`. */
  plan(outputs) {
    const key = outputs.join(',');
    if (!this.plans.has(key)) {
      const want = new Set(outputs);
      this.plans.set(key, this.phase('inference').filter((i) => this.program.kernels[i].serves.some((s) => want.has(s))));
    }
    return this.plans.get(key);
  }

  record(pass, kernels) {
    for (const i of kernels) {
      const [pipeline, bindGroup, [x, y, z]] = this.dispatches[i];
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y, z);
    }
  }

  /** The inference phase: one submit, the outputs copied into one staging buffer and mapped. Calls are
   *  serialized, since they share that buffer. */
  run(inputs) {
    let data, outputs;
    try {
      data = this.checkInputs(inputs);
      outputs = this.outputsFor(new Set(Object.keys(data)));
    } catch (e) {
      return Promise.reject(e);
    }
    const result = this.busy.then(() => this.runNow(data, outputs));
    this.busy = result.catch(() => {});
    return result;
  }

  async runNow(inputs, outputs) {
    const { device, program } = this;
    this.writeInputs(inputs);
    if (!this.staging) {
      const bytes = Object.values(program.outputs).reduce((n, s) => n + 4 * product(s.shape), 0);
      this.staging = device.createBuffer({ label: 'staging', size: Math.max(bytes, 4), usage: MAP_READ | COPY_DST });
    }
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    this.record(pass, this.plan(outputs));
    pass.end();
    const at = {};
    let top = 0;
    for (const name of outputs) {
      const slot = program.outputs[name], bytes = 4 * product(slot.shape);
      encoder.copyBufferToBuffer(this.buffers[slot.buffer], 4 * slot.offset, this.staging, top, bytes);
      at[name] = top;
      top += bytes;
    }
    device.queue.submit([encoder.finish()]);
    await this.staging.mapAsync(MAP_MODE_READ, 0, Math.max(top, 4));
    const mapped = this.staging.getMappedRange(0, Math.max(top, 4));
    const result = {};
    for (const name of outputs) {
      result[name] = new Float32Array(mapped.slice(at[name], at[name] + 4 * product(program.outputs[name].shape)));
    }
    this.staging.unmap();
    return result;
  }

  /** One training step (forward, backward and optimizer phases), enqueued now (synchronously) in one compute
   *  pass and one submit; the loss is copied into a ring of small staging buffers, and the promise resolves to
   *  [step, loss] once it is read back. */
  step(inputs, lr = this.program.optimizer.lr) {
    const { device, program } = this;
    const kernels = this.phase('forward', 'backward', 'optimizer');
    const missing = program.requires.loss.filter((n) => !(n in inputs));
    if (missing.length) throw new Error(`a training step needs input ${missing.join(', ')} (the loss depends on it)`);
    this.writeInputs(this.checkInputs(inputs));
    const t = ++this.t;
    device.queue.writeBuffer(this.buffers[program.optimizer.uniform], 0, stepUniform(program.optimizer, lr, t, this.seed));
    const staging = this.free.pop() ?? device.createBuffer({ label: `loss_ring_${this.made++}`, size: 16,
      usage: MAP_READ | COPY_DST });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    this.record(pass, kernels);
    pass.end();
    const loss = program.step_loss ?? program.outputs.loss;   // step_loss: a spec with dropout or batch norm
    encoder.copyBufferToBuffer(this.buffers[loss.buffer], 4 * loss.offset, staging, 0, 4);
    device.queue.submit([encoder.finish()]);
    return staging.mapAsync(MAP_MODE_READ, 0, 16).then(() => {
      const value = new Float32Array(staging.getMappedRange(0, 16).slice(0, 4))[0];
      staging.unmap();
      if (this.free.length < RING) this.free.push(staging); else staging.destroy();
      return [t, value];
    });
  }

  /** A whole buffer (or `bytes` of it) copied back; for weights and debugging. */
  async readBuffer(name, bytes = this.buffers[name].size) {
    const tmp = this.device.createBuffer({ size: bytes, usage: MAP_READ | COPY_DST });
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(this.buffers[name], 0, tmp, 0, bytes);
    this.device.queue.submit([encoder.finish()]);
    await tmp.mapAsync(MAP_MODE_READ);
    const data = new Float32Array(tmp.getMappedRange().slice(0));
    tmp.destroy();
    return data;
  }
}

// ------------------------------------------------------------------------------------------- weights
/** Half-precision bits to a number, exactly (every half is a float32). */
function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1024 + frac) * 2 ** (exp - 25);
}

/** One manifest entry's values from its bytes, as TF.js decodes them (and export/quantize.dequantize):
 *  uint8/uint16 codes give q * scale + min in float64, rounded once into the Float32Array. */
export function dequantize(bytes, entry) {
  const n = product(entry.shape), q = entry.quantization;
  const stored = q ? q.dtype : entry.dtype;
  const copy = (k) => bytes.slice(0, n * k).buffer;   // an aligned copy (little-endian, as every host is)
  const codes = { uint8: () => bytes.subarray(0, n), uint16: () => new Uint16Array(copy(2)),
    float16: () => new Uint16Array(copy(2)), float32: () => new Float32Array(copy(4)),
    int32: () => new Int32Array(copy(4)) }[stored];
  if (!codes) throw new Error(`weight ${entry.name}: unsupported dtype ${stored}`);
  const values = codes();
  if (stored === 'float16') return Float32Array.from(values, halfToFloat);
  if (!q) return values instanceof Float32Array ? values : Float32Array.from(values);
  const round = entry.dtype === 'int32' ? Math.round : (x) => x;
  return Float32Array.from(values, (v) => round(v * q.scale + q.min));
}

const BYTES = { uint8: 1, uint16: 2, float16: 2, float32: 4, int32: 4 };

/** name -> Float32Array from a manifest and each group's bytes (its shards concatenated). */
export function decodeWeights(manifest, groupBytes) {
  const out = {};
  manifest.forEach((group, g) => {
    const bytes = groupBytes[g];
    let offset = 0;
    for (const entry of group.weights) {
      const size = product(entry.shape) * BYTES[entry.quantization?.dtype ?? entry.dtype];
      if (offset + size > bytes.length) {
        throw new Error(`weights group ${g + 1} (${group.paths.join(', ')}) is truncated at ${entry.name}: ` +
          `${bytes.length} bytes`);
      }
      out[entry.name] = dequantize(bytes.subarray(offset, offset + size), entry);
      offset += size;
    }
    if (offset !== bytes.length) throw new Error(`weights group ${g + 1} has ${bytes.length - offset} bytes too many`);
  });
  return out;
}

const concat = (parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.byteLength; }
  return out;
};
const asBytes = (x) => (x instanceof Uint8Array ? x : ArrayBuffer.isView(x)
  ? new Uint8Array(x.buffer, x.byteOffset, x.byteLength) : new Uint8Array(x));

/** Bytes at a URL: fetch in browsers; file: URLs read with node:fs (Node's fetch refuses them). */
async function fetchBytes(url) {
  if (String(url).startsWith('file:')) {
    const { readFile } = await import('node:fs/promises');
    return asBytes(await readFile(new URL(url)));
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

// ------------------------------------------------------------------------------------------ IndexedDB
// A key -> bytes store for weight shards and datasets; every failure (no indexedDB in Node, private
// browsing, quota) just means "not cached".
let database;
function openCache() {
  if (typeof indexedDB === 'undefined') return Promise.resolve(null);
  database ??= new Promise((resolve) => {
    const request = indexedDB.open('wgslgrad', 1);
    request.onupgradeneeded = () => request.result.createObjectStore('files');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(null);
  });
  return database;
}

async function cacheDo(mode, fn) {
  try {
    const db = await openCache();
    if (!db) return undefined;
    return await new Promise((resolve) => {
      const request = fn(db.transaction('files', mode).objectStore('files'));
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => resolve(undefined);
    });
  } catch { return undefined; }
}

/** Bytes at `url` (a Uint8Array), from IndexedDB when cached under `key`, else fetched and stored.
 *  Change the key (or the URL) when the content changes. Use it for datasets too. */
export async function fetchCached(url, { key = String(url), cache = true } = {}) {
  if (cache) {
    const hit = await cacheDo('readonly', (store) => store.get(key));
    if (hit) return new Uint8Array(hit);
  }
  const bytes = await fetchBytes(url);
  if (cache) cacheDo('readwrite', (store) => store.put(bytes.slice().buffer, key));  // not awaited
  return bytes;
}

/** FNV-1a of a string, for cache keys. */
function hash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16);
}

/** name -> Float32Array from: the URL of a model.json (or a bare weights manifest; shards beside it);
 *  an ArrayBuffer / typed array / array of them holding the bundle's own shards (its exported manifest);
 *  or { manifest (or modelJson), data } as saveWeights returns. */
export async function loadWeights(source, defaultManifest, { cache = true } = {}) {
  if (typeof source === 'string' || source instanceof URL) {
    const url = new URL(source, globalThis.location?.href).href;
    const text = new TextDecoder().decode(await fetchBytes(url));
    const doc = JSON.parse(text);
    const manifest = Array.isArray(doc) ? doc : doc.weightsManifest;
    if (!Array.isArray(manifest)) throw new Error(`${url}: no weightsManifest`);
    const version = hash(text);   // model.json records quantization ranges and, from bundle.py, a SHA-256
    const groups = await Promise.all(manifest.map(async (group) => concat(await Promise.all(group.paths.map(
      (p) => { const u = new URL(p, url).href; return fetchCached(u, { key: `${u}#${version}`, cache }); })))));
    return decodeWeights(manifest, groups);
  }
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source) || Array.isArray(source)) {
    const parts = Array.isArray(source) ? source : [source];
    return decodeWeights(defaultManifest, [concat(parts.map(asBytes))]);
  }
  const manifest = source.manifest ?? source.modelJson?.weightsManifest;
  const data = asBytes(source.data);
  // a single buffer holds every group, one after another
  let at = 0;
  const groups = manifest.map((group) => {
    const size = group.weights.reduce((n, w) => n + product(w.shape) * BYTES[w.quantization?.dtype ?? w.dtype], 0);
    at += size;
    return data.subarray(at - size, at);
  });
  return decodeWeights(manifest, groups);
}

// ---------------------------------------------------------------------------------------------- Model
/** A bundled model on a device. Make one with the bundle's createModel(). */
export class Model {
  constructor(bundle, device, runner, options) {
    this.bundle = bundle;
    this.device = device;
    this.runner = runner;
    this.program = bundle.program;
    this.inputs = this.program.inputs;     // name -> {buffer, offset, shape}
    this.outputs = this.program.outputs;
    this.params = this.program.params;     // name -> {offset, shape, trainable, ...}
    this.options = options;
    this.onLoss = options.onLoss ?? null;  // (loss, step) => void, after each training step's read-back
    this.trainer = null;
    this.stats = { pipelines: runner.pipelineCount, pipelineMs: runner.pipelineMs };
  }

  /** Whether the bundle holds a training Program (exported with train=True). */
  get trainable() { return Boolean(this.bundle.train); }

  /** Replace the weights: see loadWeights for what `source` may be. */
  async load(source = this.options.weightsUrl) {
    this.setWeights(await loadWeights(source, this.bundle.manifest, { cache: this.options.cache !== false }));
    return this;
  }

  /** Upload weights by name (every parameter of the model; extra names are ignored). */
  setWeights(weights) {
    const missing = Object.keys(this.params).filter((n) => !(n in weights));
    if (missing.length) throw new Error(`no weights for ${missing.join(', ')}`);
    for (const [name, p] of Object.entries(this.params)) {
      const data = weights[name];
      if (data.length !== product(p.shape)) {
        throw new Error(`weight ${name} has ${data.length} values but the model expects [${p.shape}]`);
      }
      this.device.queue.writeBuffer(this.runner.buffers.params, 4 * p.offset,
        data instanceof Float32Array ? data : Float32Array.from(data));
    }
  }

  /** name -> Float32Array of the current weights (after any training steps queued before the call). */
  async getWeights() {
    const flat = await this.runner.readBuffer('params');
    return Object.fromEntries(Object.entries(this.params).map(
      ([name, p]) => [name, flat.slice(p.offset, p.offset + product(p.shape))]));
  }

  /** The weights as float32 TF.js files: {modelJson, manifest, data}; in a browser also downloaded as
   *  `${name}.json` and `${name}.weights.bin`. load({manifest, data}) or load(url) reads them back. */
  async saveWeights(name = 'model') {
    const weights = await this.getWeights();
    const entries = Object.entries(this.params).map(([n, p]) => ({ name: n, shape: p.shape, dtype: 'float32' }));
    const data = concat(entries.map((e) => asBytes(weights[e.name])));
    const manifest = [{ paths: [`${name}.weights.bin`], weights: entries }];
    const modelJson = { format: 'weights-manifest', generatedBy: 'wgslgrad', weightsManifest: manifest };
    if (typeof document !== 'undefined') {
      const download = (blob, file) => {
        const a = Object.assign(document.createElement('a'), { href: URL.createObjectURL(blob), download: file });
        a.click();
        setTimeout(() => URL.revokeObjectURL(a.href), 1000);
      };
      download(new Blob([JSON.stringify(modelJson)], { type: 'application/json' }), `${name}.json`);
      download(new Blob([data], { type: 'application/octet-stream' }), `${name}.weights.bin`);
    }
    return { modelJson, manifest, data };
  }

  /** Run the forward pass on full-batch inputs {name: Float32Array}; resolves to {output: Float32Array}
   *  (every output; the loss too when its inputs are given). */
  predict(inputs) {
    return this.runner.run(inputs);
  }

  /** Draw one image (or an array of up to `batch` images: canvas, img, ImageBitmap, video...) resized to
   *  the input's H x W on a canvas, and predict. Pixels go in as RGB 0..255 (one channel: their mean;
   *  four: RGBA) times `scale`; batch entries beyond the images are zero; `inputs` gives any others. */
  predictImage(image, inputName, { scale = 1, inputs = {} } = {}) {
    const name = inputName ?? Object.keys(this.inputs).find((n) => this.inputs[n].shape.length === 4);
    return this.predict({ ...inputs, [name]: this.imageData(image, name, { scale }) });
  }

  /** The input tensor predictImage makes from `image` (one, or an array of up to `batch`): a Float32Array
   *  of the input's whole [batch, H, W, C], for predict() or a training batch (trainStep). */
  imageData(image, inputName, { scale = 1 } = {}) {
    const name = inputName ?? Object.keys(this.inputs).find((n) => this.inputs[n].shape.length === 4);
    if (this.inputs[name]?.shape.length !== 4) throw new Error(`no image input ${name}`);
    const [batch, h, w, c] = this.inputs[name].shape;
    const images = Array.isArray(image) ? image : [image];
    if (images.length > batch) throw new Error(`${images.length} images but the batch is ${batch}`);
    const canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(w, h)
      : Object.assign(document.createElement('canvas'), { width: w, height: h });
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.imageSmoothingQuality = 'high';
    const data = new Float32Array(batch * h * w * c);
    images.forEach((img, b) => {
      ctx.clearRect(0, 0, w, h);
      ctx.drawImage(img, 0, 0, w, h);
      const px = ctx.getImageData(0, 0, w, h).data;
      for (let i = 0; i < h * w; i++) {
        const at = (b * h * w + i) * c;
        if (c === 1) data[at] = scale * (px[4 * i] + px[4 * i + 1] + px[4 * i + 2]) / 3;
        else for (let k = 0; k < c; k++) data[at + k] = scale * px[4 * i + k];
      }
    });
    return data;
  }

  /** Make the training pipelines now (trainStep makes them on first use). */
  prepareTraining() {
    if (!this.bundle.train) throw new Error('this bundle has no training program: export it with train=True');
    // bundle.py checked that the training Program places the parameters as the inference one does, so both
    // bind the same `params` buffer: a training step updates what predict() uses.
    this.trainerReady ??= Runner.create(this.device, this.bundle.train, this.bundle.shaders,
      { params: this.runner.buffers.params }).then((trainer) => {
      this.trainer = trainer;
      trainer.seed = this.options.seed ?? 0;   // dropout's seed: the same seed and step give Python's masks
      Object.assign(this.stats, { trainPipelines: trainer.pipelineCount, trainPipelineMs: trainer.pipelineMs });
    });
    return this.trainerReady;
  }

  /** One training step (forward, backward, Adam at learning rate `lr`, default the spec's) on full-batch
   *  inputs, queued with one submit; never waits for the GPU. Resolves to the loss once it is read back,
   *  and calls onLoss(loss, step). Steps asked for before the training pipelines exist are queued, in
   *  order, with copies of their inputs. */
  trainStep(inputs, lr) {
    if (this.trainer && !this.waiting) return this.enqueue(inputs, lr);
    const copy = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, Float32Array.from(v)]));   // reusable at once
    let loss;
    const enqueued = (this.waiting ?? this.prepareTraining()).then(() => { loss = this.enqueue(copy, lr); });
    this.waiting = enqueued;
    const done = () => { if (this.waiting === enqueued) this.waiting = null; };
    enqueued.then(done, done);
    return enqueued.then(() => loss);
  }

  enqueue(inputs, lr) {
    return this.trainer.step(inputs, lr).then(([step, loss]) => {
      this.onLoss?.(loss, step);
      return loss;
    });
  }

  /** Training steps taken so far. */
  get step() { return this.trainer?.t ?? 0; }
}

/** Whether `device` runs on the CPU: SwiftShader (Chrome and Dawn without a GPU) or a fallback adapter. */
export function isCpuDevice(device) {
  const info = device.adapterInfo ?? {};
  return info.architecture === 'swiftshader' || info.isFallbackAdapter === true ||
    /swiftshader|llvmpipe|lavapipe/i.test(`${info.description ?? ''} ${info.device ?? ''}`);
}

/** The bundle with the Programs to run on `device`: on a CPU adapter (or tiles: 'direct') those whose
 *  products use no workgroup memory or barriers (bundle.cpu, from export/bundle.py), which SwiftShader compiles
 *  several times faster and runs 2-5x faster; else (or tiles: 'shared') the default ones. */
export function forDevice(bundle, device, tiles = 'auto') {
  if (!['auto', 'shared', 'direct'].includes(tiles)) throw new Error(`tiles must be auto, shared or direct, not ${tiles}`);
  const direct = tiles === 'direct' || (tiles === 'auto' && isCpuDevice(device));
  return direct && bundle.cpu ? { ...bundle, program: bundle.cpu.program, train: bundle.cpu.train } : bundle;
}

/** What the bundle's createModel({device, weightsUrl, weights, cache, onLoss, tiles}) calls: a device (given
 *  or requested), the inference pipelines and, meanwhile, the weights (from `weights`, else `weightsUrl`). */
export async function createModelFrom(bundle, options = {}) {
  const device = options.device ?? await requestDevice();
  const chosen = forDevice(bundle, device, options.tiles);
  // the weights are fetched and decoded while the pipelines compile (in the GPU process, in a browser)
  const weights = options.weights === null ? null : loadWeights(options.weights ?? options.weightsUrl,
    chosen.manifest, { cache: options.cache !== false });
  weights?.catch(() => {});   // reported below, after the pipelines' own errors
  const runner = await Runner.create(device, chosen.program, chosen.shaders);
  const model = new Model(chosen, device, runner, options);
  model.stats.tiles = chosen === bundle ? 'shared' : 'direct';
  if (weights) model.setWeights(await weights);
  return model;
}
