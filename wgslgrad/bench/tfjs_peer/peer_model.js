// The TF.js side of wgslgrad's benchmarks: a wgslgrad IR graph (model.json from
// wgslgrad/bench/tfjs_peer/__init__.py) built out of tf.* ops. Shared by bench.js (Node) and the comparison's
// hosts (compare.mjs: a page or a Node process), so both run one model.
//   build(model, weights, batch, wasmGrads, prefix) -> {vars, infer, loss, outputsAndLoss} (prefix: of the
//     variables' names, which TF.js wants unique)
//   shimWasmKernels() -> names of the gradient kernels the wasm backend runs on the cpu backend's code
//   randomInputs(model, batch)
// Node: require('./peer_model'); a page: a <script> after tf.min.js and wasm_grads.js sets
// globalThis.wgslgradPeerModel.
(function (factory) {
  if (typeof module === 'object' && module.exports) {
    module.exports = factory(require('@tensorflow/tfjs'), require('./wasm_grads'));
  } else {
    globalThis.wgslgradPeerModel = factory(globalThis.tf, globalThis.wgslgradWasmGrads);
  }
}(function (tf, wasmGrads) {
  'use strict';
  const { convWithGrads } = wasmGrads;

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
  function build(model, weights, batchOf, wasmGrads, prefix = '') {
    const nodes = model.nodes;
    const vars = {};
    let off = 0;
    for (const [name, id] of Object.entries(model.params)) {
      const n = nodes[id];
      const size = n.shape.reduce((x, y) => x * y, 1);
      vars[id] = tf.variable(tf.tensor(weights.subarray(off, off + size), n.shape), n.attrs.trainable !== false,
                             `${prefix}p${id}_${name.replace(/[^A-Za-z0-9_]/g, '_')}`);
      off += size;
    }
    const consts = {};
    nodes.forEach((n, i) => {
      if (n.op === 'const') {
        const v = n.attrs.value;
        consts[i] = v.length === 1 ? tf.fill(n.shape, v[0]) : tf.tensor(v, n.shape);
      }
    });
    const pads = (p) => [[0, 0], [p[0], p[1]], [p[2], p[3]], [0, 0]];
    // a batched node's first dimension is the batch, or a multiple of it (a sequence's [B*T, F] rows): scale it
    const batched = (i, s) => (nodes[i].batched ? [(s[0] / model.batch) * batchOf, ...s.slice(1)] : s);
    const countScale = {};   // avg pool with padding: TF's average counts only real cells (see below)

    const convs = {};   // node id -> conv with wasm-friendly gradients
    const ops = {
    };
    // the op families' ops (wgslgrad/ops/registry.py: conv2d, depthwise, dense, pools, losses, reductions,
    // dropout, batch norm): each one's `tfjs` function, evaluated here so that it sees tf, pads, countScale,
    // batched, dropoutScale, and wasmGrads and convs (a conv's own gradients on wasm)
    for (const [name, js] of Object.entries(model.ops)) ops[name] = eval(js);  // eslint-disable-line no-eval
    // the elementwise ops: each row's `tfjs` expression from wgslgrad/ops/elementwise.py (model.json carries them)
    for (const [name, expr] of Object.entries(model.elementwise.unary)) {
      const f = new Function('tf', 'x', 'attrs', `return ${expr};`);
      ops[name] = (n, x) => f(tf, x, n.attrs);
    }
    for (const [name, expr] of Object.entries(model.elementwise.binary)) {
      const f = new Function('tf', 'a', 'b', `return ${expr};`);
      ops[name] = (n, a, b) => f(tf, a, b);
    }
    nodes.forEach((n, i) => {
      if (n.op === 'avg_pool' && !n.attrs.pad.every((p) => p === 0)) countScale[i] = avgScale(n, nodes[n.srcs[0]].shape);
      if (n.op === 'conv2d' || n.op === 'depthwise') convs[i] = convWithGrads(n.op === 'depthwise', n.attrs.stride, n.attrs.pad);
    });

    function run(inputs, roots) {
      const need = new Array(nodes.length).fill(false);
      for (const r of roots) need[r] = true;
      for (let i = nodes.length - 1; i >= 0; i--) if (need[i]) for (const s of nodes[i].srcs) need[s] = true;
      const v = {};
      for (let i = 0; i < nodes.length; i++) {
        if (!need[i]) continue;
        const n = nodes[i];
        if (n.op === 'input') v[i] = inputs[n.attrs.name];
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
    const key = pcg((seed ^ pcg((step ^ pcg(n.attrs.salt)) >>> 0)) >>> 0);
    const scale = 1 / (1 - n.attrs.rate), out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = pcg((key + i) >>> 0) >= n.attrs.threshold ? scale : 0;
    return tf.tensor(out, shape);
  }

  function avgScale(n, inShape) {
    const [kh, kw] = n.attrs.size, [sh, sw] = n.attrs.stride, [t, , l] = n.attrs.pad;
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

  /** One training step of a built model `m` with the optimizer `opt`; resolves once its loss is read back. */
  async function trainStep(m, inputs, opt) {
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => m.loss(inputs));
      opt.applyGradients(grads);
      return value;
    });
    await loss.data();
    loss.dispose();
  }

  return { build, shimWasmKernels, randomInputs, trainStep };
}));
