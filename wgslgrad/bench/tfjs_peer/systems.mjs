// The systems `wgslgrad bench FILE --browser / --node` compares (wgslgrad/bench/compare.py), each behind one
// interface, so that a host (host.html in a page, host_node.mjs in a Node process) runs any of them:
//   info()                      -> {system, ...versions and adapter}
//   setup({batch, train})       -> {readyMs, trainReadyMs}: from nothing (the first call: no module loaded,
//                                  no device or backend) to the first inference result, then to the first
//                                  training step's loss (train: true); the models stay for the calls below
//   timeInfer({batch, n})       -> n inference times (ms; inputs uploaded, outputs read back, one at a time)
//   timeTrain({batch, n})       -> n training-step times (ms; forward, backward, Adam; the loss read back)
//   outputs()                   -> {name: [numbers]}: the outputs at batch 1 on peer/inputs.bin
// Files come from io: io.bytes(path) (a Uint8Array) and io.url(path) (for import()), relative to the
// comparison's folder: b{batch}/model.js (a wgslgrad bundle), peer/model.json, peer/weights.bin,
// peer/inputs.bin (wgslgrad/bench/tfjs_peer/__init__.py's files).

const now = () => performance.now();
const f32 = (bytes) => new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
const product = (shape) => shape.reduce((a, b) => a * b, 1);

async function readPeer(io) {
  const model = JSON.parse(new TextDecoder().decode(await io.bytes('peer/model.json')));
  return model;
}

/** peer/inputs.bin (batch 1, the graph's inputs in order) as name -> Float32Array. */
async function checkInputs(io, model) {
  const flat = f32(await io.bytes('peer/inputs.bin'));
  const out = {};
  let at = 0;
  for (const [name, id] of Object.entries(model.inputs)) {
    const size = product([1, ...model.nodes[id].shape.slice(1)]);
    out[name] = flat.subarray(at, at + size);
    at += size;
  }
  return out;
}

async function timeEach(fn, n) {
  const ts = [];
  for (let k = 0; k < n; k++) {
    const t = now();
    await fn();
    ts.push(now() - t);
  }
  return ts;
}

// ------------------------------------------------------------------------------------------- wgslgrad
/** wgslgrad's bundles; tiles: createModel's option ('auto', or 'shared' / 'direct' to force a kind of
 *  tiled product, for comparing them). */
export function wgslgradSystem(io, { tiles = 'auto', name = 'wgslgrad' } = {}) {
  const models = {};    // batch -> {model, infer: inputs for predict, train: inputs for trainStep}
  let device = null;    // one device for every batch size (the bundles' pipeline cache is per device)
  const random = (n) => Float32Array.from({ length: n }, Math.random);
  return {
    async info() {
      const info = device?.adapterInfo ?? {};
      const tiles = Object.values(models)[0]?.model.stats.tiles;
      return { system: name, adapter: [info.vendor, info.architecture, info.description].filter(Boolean).join(' '),
               tiles };
    },
    async setup({ batch, train }) {
      const t0 = now();
      const { createModel } = await import(io.url(`b${batch}/model.js`));
      const model = await createModel({ cache: false, tiles, ...(device ? { device } : {}) });
      device ??= model.device;
      const program = model.program;
      const all = Object.fromEntries(Object.entries(program.inputs).map(([k, s]) => [k, random(product(s.shape))]));
      const need = new Set(Object.entries(program.requires).filter(([o]) => !program.optional_outputs.includes(o))
        .flatMap(([, ins]) => ins));
      const infer = Object.fromEntries(Object.entries(all).filter(([k]) => need.has(k)));
      models[batch] = { model, infer, train: all };
      await model.predict(infer);
      const readyMs = now() - t0;
      let trainReadyMs = null;
      if (train) {
        await model.trainStep(all);
        trainReadyMs = now() - t0;
      }
      return { readyMs, trainReadyMs, pipelines: model.stats };
    },
    timeInfer({ batch, n }) {
      const { model, infer } = models[batch];
      return timeEach(() => model.predict(infer), n);
    },
    timeTrain({ batch, n }) {
      const { model, train } = models[batch];
      return timeEach(() => model.trainStep(train), n);
    },
    async outputs() {
      const { model } = models[1];
      await model.load();   // the exported weights again: setup and timed steps have trained these
      const inputs = await checkInputs(io, await readPeer(io));
      const need = new Set(Object.values(model.program.requires).flat());
      const given = Object.fromEntries(Object.entries(inputs).filter(([k]) => need.has(k)));
      const out = await model.predict(given);
      return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Array.from(v)]));
    },
  };
}

// ----------------------------------------------------------------------------------------------- TF.js
/** TF.js (tf: the library, with its webgpu and wasm backends registered; peer: peer_model.js's exports) on
 *  `backend`; wasmPaths: where a page serves the wasm backend's .wasm files (Node finds its own). */
export function tfjsSystem(tf, peer, backend, io, { wasmPaths } = {}) {
  const models = {};    // batch -> {m, inputs, opt}
  let started = false, shimmed = [], model = null, weights = null;
  return {
    async info() {
      const out = { system: `tfjs-${backend}`, tfjs: tf.version.tfjs, backend: tf.getBackend(), shimmed };
      if (backend === 'wasm') {
        out.wasm_simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
        out.wasm_threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
      }
      if (backend === 'webgpu') {
        const info = tf.backend().adapterInfo ?? {};
        out.adapter = [info.vendor, info.architecture].filter(Boolean).join(' ');
      }
      return out;
    },
    async setup({ batch, train }) {
      const t0 = now();
      if (!started) {
        if (backend === 'wasm') {
          if (wasmPaths) tf.wasm.setWasmPaths(wasmPaths);
          shimmed = peer.shimWasmKernels();
        }
        if (!(await tf.setBackend(backend))) throw new Error(`TF.js backend ${backend} failed to start`);
        await tf.ready();
        model = await readPeer(io);
        weights = f32(await io.bytes('peer/weights.bin'));
        started = true;
      }
      const m = peer.build(model, weights, batch, backend === 'wasm', `b${batch}_`);
      const inputs = peer.randomInputs(model, batch);
      const adam = model.adam;
      const opt = tf.train.adam(adam.lr, adam.beta1, adam.beta2, adam.eps);
      models[batch] = { m, inputs, opt };
      await this.inferOnce(batch);
      const readyMs = now() - t0;
      let trainReadyMs = null;
      if (train) {
        await this.trainOnce(batch);
        trainReadyMs = now() - t0;
      }
      return { readyMs, trainReadyMs };
    },
    async inferOnce(batch) {
      const { m, inputs } = models[batch];
      const outs = tf.tidy(() => m.infer(inputs));
      await Promise.all(outs.map((t) => t.data()));
      tf.dispose(outs);
    },
    trainOnce(batch) {
      const { m, inputs, opt } = models[batch];
      return peer.trainStep(m, inputs, opt);
    },
    timeInfer({ batch, n }) { return timeEach(() => this.inferOnce(batch), n); },
    timeTrain({ batch, n }) { return timeEach(() => this.trainOnce(batch), n); },
    async outputs() {
      // fresh weights: timed training steps have changed the batch-1 model's variables
      const m = peer.build(model, weights, 1, backend === 'wasm', 'check_');
      const inputs = Object.fromEntries(Object.entries(await checkInputs(io, model)).map(
        ([k, v]) => [k, tf.tensor(v, [1, ...model.nodes[model.inputs[k]].shape.slice(1)])]));
      const outs = m.infer(inputs);
      const names = Object.keys(model.outputs);
      const res = {};
      for (let i = 0; i < names.length; i++) res[names[i]] = Array.from(await outs[i].data());
      tf.dispose([...outs, ...Object.values(inputs), ...Object.values(m.vars)]);
      return res;
    },
  };
}
