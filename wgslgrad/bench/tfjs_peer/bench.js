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
const { convWithGrads } = require('./wasm_grads');

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

// wasm kernels that give wrong results in TF.js 4.22 (checked against numpy_ref by tests/test_tfjs_peer.py)
const WASM_BROKEN = new Set(['MaxPoolGrad']);
// missing on wasm, but never called: wasm_grads.js computes these gradients from other ops
const REPLACED = new Set(['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter']);

// Gradient kernels the wasm backend lacks or gets wrong, run by the cpu backend's implementation.
function shimWasmKernels() {
  const have = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName));
  const shimmed = [];
  for (const k of tf.getKernelsForBackend('cpu')) {
    if (!/Backprop|Grad/.test(k.kernelName)) continue;
    if (WASM_BROKEN.has(k.kernelName)) tf.unregisterKernel(k.kernelName, 'wasm');
    else if (have.has(k.kernelName) || REPLACED.has(k.kernelName)) continue;
    tf.registerKernel({ kernelName: k.kernelName, backendName: 'wasm', kernelFunc: (args) => {
      const cpu = tf.findBackend('cpu');
      const wasm = args.backend;
      const inputs = {};
      for (const [name, t] of Object.entries(args.inputs)) {
        inputs[name] = { dataId: cpu.write(wasm.readSync(t.dataId), t.shape, t.dtype), shape: t.shape, dtype: t.dtype };
      }
      const out = k.kernelFunc({ inputs, attrs: args.attrs, backend: cpu });
      const outs = Array.isArray(out) ? out : [out];
      const res = outs.map((o) => wasm.makeOutput(o.shape, o.dtype, undefined, cpu.readSync(o.dataId)));
      for (const t of [...Object.values(inputs), ...outs]) cpu.disposeData(t.dataId);
      return Array.isArray(out) ? res : res[0];
    } });
    shimmed.push(k.kernelName);
  }
  return shimmed;
}

// ---- the model: one function per IR op (ir.py's Op enum, forward ops) ----
function build(model, batchOf, wasmGrads) {
  const nodes = model.nodes;
  const vars = {};
  let off = 0;
  const weights = readF32(path.join(model.dir, 'weights.bin'));
  for (const [name, id] of Object.entries(model.params)) {
    const n = nodes[id];
    const size = n.shape.reduce((x, y) => x * y, 1);
    vars[id] = tf.variable(tf.tensor(weights.subarray(off, off + size), n.shape), n.arg.trainable !== false,
                           `p${id}_${name.replace(/[^A-Za-z0-9_]/g, '_')}`);
    off += size;
  }
  const consts = {};
  nodes.forEach((n, i) => {
    if (n.op === 'const') {
      const v = n.arg.value;
      consts[i] = v.length === 1 ? tf.fill(n.shape, v[0]) : tf.tensor(v, n.shape);
    }
  });
  const pads = (p) => [[0, 0], [p[0], p[1]], [p[2], p[3]], [0, 0]];
  const batched = (i, shape) => (nodes[i].batched ? [batchOf, ...shape.slice(1)] : shape);
  const countScale = {};   // avg pool with padding: TF's average counts only real cells (see below)

  const convs = {};   // node id -> conv with wasm-friendly gradients
  const ops = {
    conv2d: (n, x, w, b, i) => (wasmGrads ? convs[i](x, w, b)
      : tf.fused.conv2d({ x, filter: w, strides: n.arg.stride, pad: pads(n.arg.pad), bias: b })),
    depthwise: (n, x, w, b, i) => (wasmGrads ? convs[i](x, w, b)
      : tf.fused.depthwiseConv2d({ x, filter: w, strides: n.arg.stride, pad: pads(n.arg.pad), bias: b })),
    dense: (n, x, w, b) => tf.fused.matMul({ a: x, b: w, bias: b }),
    concat: (n, ...xs) => tf.concat(xs, -1),
    reshape: (n, x, i) => tf.reshape(x, batched(i, n.shape)),
    // training behaviour, as a wgslgrad training step: dropout with wgslgrad's masks (seed 0, step 0, as
    // numpy_ref's default), batch norm on the batch statistics (the moving ones are not updated here)
    dropout: (n, x) => tf.mul(x, dropoutScale(n, x.shape)),
    bn_stats: (n, x) => {
      const { mean, variance } = tf.moments(x, [...Array(x.rank - 1).keys()]);
      return tf.stack([mean, variance]);
    },
    batch_norm: (n, x, gamma, beta, movingMean, movingVariance, stats) => {
      const [mean, variance] = stats ? tf.unstack(stats) : [movingMean, movingVariance];
      return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, n.arg.epsilon))), gamma), beta);
    },
  };
  // the op families' ops (wgslgrad/ops/registry.py: pools, losses, reductions): each one's `tfjs` function, evaluated here so that
  // it sees tf, pads, countScale and batched
  for (const [name, js] of Object.entries(model.ops)) ops[name] = eval(js);  // eslint-disable-line no-eval
  // the elementwise ops: each row's `tfjs` expression from wgslgrad/ops/elementwise.py (model.json carries them)
  for (const [name, expr] of Object.entries(model.elementwise.unary)) {
    const f = new Function('tf', 'x', 'attrs', `return ${expr};`);
    ops[name] = (n, x) => f(tf, x, n.arg);
  }
  for (const [name, expr] of Object.entries(model.elementwise.binary)) {
    const f = new Function('tf', 'a', 'b', `return ${expr};`);
    ops[name] = (n, a, b) => f(tf, a, b);
  }
  nodes.forEach((n, i) => {
    if (n.op === 'avg_pool' && !n.arg.pad.every((p) => p === 0)) countScale[i] = avgScale(n, nodes[n.srcs[0]].shape);
    if (n.op === 'conv2d' || n.op === 'depthwise') convs[i] = convWithGrads(n.op === 'depthwise', n.arg.stride, n.arg.pad);
  });

  function run(inputs, roots) {
    const need = new Array(nodes.length).fill(false);
    for (const r of roots) need[r] = true;
    for (let i = nodes.length - 1; i >= 0; i--) if (need[i]) for (const s of nodes[i].srcs) need[s] = true;
    const v = {};
    for (let i = 0; i < nodes.length; i++) {
      if (!need[i]) continue;
      const n = nodes[i];
      if (n.op === 'input') v[i] = inputs[n.arg.name];
      else if (n.op === 'param') v[i] = vars[i];
      else if (n.op === 'const') v[i] = consts[i];
      else if (!(n.op in ops)) throw new Error(`the TF.js peer has no op ${n.op}`);
      else {
        const xs = n.srcs.map((s) => v[s]);
        if (n.op === 'conv2d' || n.op === 'depthwise') v[i] = ops[n.op](n, xs[0], xs[1], xs[2], i);
        else v[i] = ['avg_pool', 'reshape'].includes(n.op) ? ops[n.op](n, xs[0], i) : ops[n.op](n, ...xs);
      }
    }
    return v;
  }
  const outputs = Object.values(model.outputs);
  return {
    vars,
    infer: (inputs) => { const v = run(inputs, outputs); return outputs.map((i) => v[i]); },
    loss: (inputs) => run(inputs, [model.loss])[model.loss],
    outputsAndLoss: (inputs) => {
      const v = run(inputs, [...outputs, model.loss]);
      return [Object.fromEntries(Object.entries(model.outputs).map(([k, i]) => [k, v[i]])), v[model.loss]];
    },
  };
}

/** wgslgrad's PCG hash (ops/dropout.py) in u32 arithmetic. */
function pcg(v) {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** keep / (1 - rate) per element for a dropout node at seed 0, step 0: the masks wgslgrad's kernels draw. */
function dropoutScale(n, shape, seed = 0, step = 0) {
  const size = shape.reduce((a, b) => a * b, 1);
  const key = pcg((seed ^ pcg((step ^ pcg(n.arg.salt)) >>> 0)) >>> 0);
  const scale = 1 / (1 - n.arg.rate), out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = pcg((key + i) >>> 0) >= n.arg.threshold ? scale : 0;
  return tf.tensor(out, shape);
}

function avgScale(n, inShape) {
  const [kh, kw] = n.arg.size, [sh, sw] = n.arg.stride, [t, , l] = n.arg.pad;
  const [oh, ow] = [n.shape[1], n.shape[2]];
  const s = new Float32Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let c = 0;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const h = y * sh + i - t, w = x * sw + j - l;
          if (h >= 0 && h < inShape[1] && w >= 0 && w < inShape[2]) c++;
        }
      }
      s[y * ow + x] = (kh * kw) / c;
    }
  }
  return tf.tensor(s, [1, oh, ow, 1]);
}

function randomInputs(model, batch) {
  const out = {};
  for (const [name, id] of Object.entries(model.inputs)) {
    out[name] = tf.randomUniform([batch, ...model.nodes[id].shape.slice(1)], 0, 1);
  }
  return out;
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
  model.dir = args.dir;
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
    const m = build(model, batch, wasmGrads);
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
      const m = build(model, batch, wasmGrads);
      const inputs = randomInputs(model, batch);
      const opt = tf.train.adam(adam.lr, adam.beta1, adam.beta2, adam.eps);
      const step = async () => {
        const loss = tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => m.loss(inputs));
          opt.applyGradients(grads);
          return value;
        });
        await loss.data();
        loss.dispose();
      };
      const trainMs = await timeIt(step, args.steps, args.warmup);
      result.rows.push({ batch, train_step_ms: trainMs, images_per_s: (batch * 1000) / trainMs });
      for (const v of Object.values(m.vars)) v.dispose();
      opt.dispose();
      for (const t of Object.values(inputs)) t.dispose();
    }
    const m = build(model, args.inferBatch, wasmGrads);
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
