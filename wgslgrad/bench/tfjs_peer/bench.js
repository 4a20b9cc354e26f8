#!/usr/bin/env node
// TF.js peer for wgslgrad's benchmarks: builds a wgslgrad IR graph (model.json written by
// wgslgrad/bench/tfjs_peer/__init__.py, weights in TF.js layouts already) out of tf.* ops, then either
//   node bench.js DIR --check              evaluates DIR/inputs.bin: outputs, loss and gradients as JSON, or
//   node bench.js DIR --batches 1,16 --steps 5 --infer-steps 10
//                                          times a training step (tf.variableGrads + tf.train.adam) per batch
//                                          and batch-1 inference on random inputs, printing one JSON object.
// --backend wasm|cpu (default wasm). The wasm backend (4.22) lacks three conv backprop kernels: on wasm, convs
// get gradients built from wasm ops instead (wasm_grads.js). Its MaxPoolGrad loses gradients, so that one (and
// any other gradient kernel wasm lacks) is registered for wasm as a shim running the cpu backend's kernel
// (copying through the JS heap); the result lists those (shimmed_from_cpu).
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');
const { build, shimWasmKernels, randomInputs, trainStep } = require('./peer_model');

function parseArgs(argv) {
  const a = { dir: argv[0], backend: 'wasm', batches: null, steps: 5, warmup: 2, inferBatch: 1, inferSteps: 10,
              check: false };
  for (let i = 1; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--check') a.check = true;
    else if (k === '--backend') a.backend = argv[++i];
    else if (k === '--batches') a.batches = argv[++i].split(',').map(Number);
    else if (k === '--steps') a.steps = Number(argv[++i]);
    else if (k === '--warmup') a.warmup = Number(argv[++i]);
    else if (k === '--infer-batch') a.inferBatch = Number(argv[++i]);
    else if (k === '--infer-steps') a.inferSteps = Number(argv[++i]);
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.dir) throw new Error('usage: node bench.js DIR [--check] [--backend wasm|cpu] [--batches 1,16] ...');
  return a;
}

function readF32(file) {
  const buf = fs.readFileSync(file);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeIt(fn, n, warmup) {
  for (let k = 0; k < warmup; k++) await fn();
  const ts = [];
  for (let k = 0; k < n; k++) {
    const t = process.hrtime.bigint();
    await fn();
    ts.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(ts);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const model = JSON.parse(fs.readFileSync(path.join(args.dir, 'model.json'), 'utf8'));
  const weights = readF32(path.join(args.dir, 'weights.bin'));
  const shimmed = args.backend === 'wasm' ? shimWasmKernels() : [];
  if (!(await tf.setBackend(args.backend))) throw new Error(`TF.js backend ${args.backend} failed to start`);
  await tf.ready();
  const wasmGrads = args.backend === 'wasm';
  const result = { backend: tf.getBackend(), tfjs: tf.version.tfjs, shimmed_from_cpu: shimmed,
                   conv_grads_from_ops: wasmGrads };
  if (wasmGrads) {
    result.wasm_simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    result.wasm_threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  }

  if (args.check) {
    const batch = model.batch;
    const flat = readF32(path.join(args.dir, 'inputs.bin'));
    const inputs = {};
    let off = 0;
    for (const [name, id] of Object.entries(model.inputs)) {
      const shape = model.nodes[id].shape;
      const size = shape.reduce((x, y) => x * y, 1);
      inputs[name] = tf.tensor(flat.subarray(off, off + size), shape);
      off += size;
    }
    const m = build(model, weights, batch, wasmGrads);
    const [outs, loss] = m.outputsAndLoss(inputs);
    result.outputs = Object.fromEntries(Object.entries(outs).map(([k, t]) => [k, Array.from(t.dataSync())]));
    result.loss = loss.dataSync()[0];
    const { grads } = tf.variableGrads(() => m.loss(inputs));
    result.grads = {};
    for (const [name, id] of Object.entries(model.params)) {
      const g = grads[m.vars[id].name];
      if (g) result.grads[name] = Array.from(g.dataSync());
    }
  } else {
    const adam = model.adam;
    result.rows = [];
    for (const batch of args.batches || [model.batch]) {
      const m = build(model, weights, batch, wasmGrads);
      const inputs = randomInputs(model, batch);
      const opt = tf.train.adam(adam.lr, adam.beta1, adam.beta2, adam.eps);
      const step = () => trainStep(m, inputs, opt);
      const trainMs = await timeIt(step, args.steps, args.warmup);
      result.rows.push({ batch, train_step_ms: trainMs, images_per_s: (batch * 1000) / trainMs });
      for (const v of Object.values(m.vars)) v.dispose();
      opt.dispose();
      for (const t of Object.values(inputs)) t.dispose();
    }
    const m = build(model, weights, args.inferBatch, wasmGrads);
    const inputs = randomInputs(model, args.inferBatch);
    result.infer_batch = args.inferBatch;
    result.infer_ms = await timeIt(async () => {
      const outs = tf.tidy(() => m.infer(inputs));
      await Promise.all(outs.map((t) => t.data()));
      tf.dispose(outs);
    }, args.inferSteps, args.warmup);
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => { process.stderr.write(`${e.stack || e}\n`); process.exit(1); });
