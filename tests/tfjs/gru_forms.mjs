// What TensorFlow.js's own tf.layers.gru offers, for tests/test_gru.py: whether it builds Keras' reset_after=True
// form (TF2's default, the one wgslgrad's gru() is), and the names and shapes of its weights in the form it has.
//
//   node gru_forms.mjs OUT.json
//
// OUT: {reset_after_error: the error message for resetAfter: true, or null; weights: [[name, shape], ...] of a
// default gru of 3 units on 4 features}. (OUT is a file, not stdout, because TF.js prints a banner in Node.)
import fs from 'node:fs';
import tf from '@tensorflow/tfjs';

const [outPath] = process.argv.slice(2);
if (!outPath) {
  console.error('usage: node gru_forms.mjs OUT.json');
  process.exit(2);
}
let resetAfterError = null;
try {
  tf.layers.gru({units: 3, resetAfter: true}).apply(tf.zeros([1, 2, 4]));
} catch (e) {
  resetAfterError = String(e.message);
}
const layer = tf.layers.gru({units: 3});
layer.apply(tf.zeros([1, 2, 4]));
const weights = layer.weights.map((w) => [w.originalName ?? w.name, w.shape]);
fs.writeFileSync(outPath, JSON.stringify({reset_after_error: resetAfterError, weights}));
