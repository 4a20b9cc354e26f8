// Runs TensorFlow.js's own tf.layers.lstm on weights and inputs given as JSON, for tests/test_lstm.py.
//
//   node lstm.mjs IN.json OUT.json
//
// IN: {x: [B][T][F], kernel: [F][4u], recurrent_kernel: [u][4u], bias: [4u]}; OUT: {seq: [B][T][u]}.
// recurrentActivation is set to 'sigmoid' (Keras 2's default; TF.js's own default is 'hardSigmoid').
// (OUT is a file, not stdout, because TF.js prints a banner to the console in Node.)
import fs from 'node:fs';
import tf from '@tensorflow/tfjs';

const [inPath, outPath] = process.argv.slice(2);
if (!inPath || !outPath) {
  console.error('usage: node lstm.mjs IN.json OUT.json');
  process.exit(2);
}
const spec = JSON.parse(fs.readFileSync(inPath, 'utf8'));
const units = spec.bias.length / 4;
const layer = tf.layers.lstm({units, returnSequences: true, recurrentActivation: 'sigmoid'});
const x = tf.tensor3d(spec.x);
layer.apply(x);   // builds the weights from the input's shape
layer.setWeights([tf.tensor2d(spec.kernel), tf.tensor2d(spec.recurrent_kernel), tf.tensor1d(spec.bias)]);
const names = layer.weights.map((w) => w.originalName ?? w.name);
const seq = await layer.apply(x).array();
fs.writeFileSync(outPath, JSON.stringify({seq, names}));
