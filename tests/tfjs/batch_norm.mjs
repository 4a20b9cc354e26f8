// Runs TensorFlow.js's own tf.layers.batchNormalization on weights and inputs given as JSON, for
// tests/test_batch_norm.py.
//
//   node batch_norm.mjs IN.json OUT.json
//
// IN: {x: [B]...[C], gamma, beta, moving_mean, moving_variance: [C], momentum, epsilon, r: like x}
// OUT: {names, inference: y with the given moving statistics, training: y on the batch statistics,
//       moving_mean, moving_variance: after that one training call, grads: {x, gamma, beta} of sum(y * r) in
//       training mode}
// (OUT is a file, not stdout, because TF.js prints a banner to the console in Node.)
import fs from 'node:fs';
import tf from '@tensorflow/tfjs';

const [inPath, outPath] = process.argv.slice(2);
if (!inPath || !outPath) {
  console.error('usage: node batch_norm.mjs IN.json OUT.json');
  process.exit(2);
}
const spec = JSON.parse(fs.readFileSync(inPath, 'utf8'));
const x = tf.tensor(spec.x);
const r = tf.tensor(spec.r);
const layer = tf.layers.batchNormalization({ momentum: spec.momentum, epsilon: spec.epsilon });
layer.apply(x);   // builds the weights from the input's shape
layer.setWeights(['gamma', 'beta', 'moving_mean', 'moving_variance'].map((k) => tf.tensor1d(spec[k])));
const names = layer.weights.map((w) => w.originalName ?? w.name);
const inference = await layer.apply(x, { training: false }).array();
const training = await layer.apply(x, { training: true }).array();
const movingMean = await layer.getWeights()[2].array();
const movingVariance = await layer.getWeights()[3].array();
const loss = (input) => tf.sum(tf.mul(layer.apply(input, { training: true }), r));
const dx = await tf.grad(loss)(x).array();
const { grads } = tf.variableGrads(() => loss(x));
const byName = Object.fromEntries(Object.entries(grads).map(([k, v]) => [k.split('/').pop().replace(/_\d+$/, ''), v]));
const out = { names, inference, training, moving_mean: movingMean, moving_variance: movingVariance,
  grads: { x: dx, gamma: await byName.gamma.array(), beta: await byName.beta.array() }, gradNames: Object.keys(grads) };
fs.writeFileSync(outPath, JSON.stringify(out));
