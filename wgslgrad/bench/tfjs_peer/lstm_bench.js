// TF.js's own LSTM beside scripts/lstm_bench.py's: tf.layers.lstm (256 units, every step, recurrentActivation
// 'sigmoid' as Keras 2 and wgslgrad) on 32 features, a dense at every position, the cross-entropy per
// character, Adam; one training step (optimizer.minimize), median of STEPS after WARMUP, synchronised by
// reading the loss. No embedding: the wasm backend has no UnsortedSegmentSum, its gradient (the input is
// random 32-feature vectors instead; the embedding is a negligible part of the step).
//   node lstm_bench.js [--backend wasm|cpu] [--sizes 1x64,32x64,1x256,32x256] [--steps 5] [--warmup 2]
const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};

async function main() {
  const backend = arg('backend', 'wasm');
  const steps = Number(arg('steps', 5));
  const warmup = Number(arg('warmup', 2));
  await tf.setBackend(backend);
  await tf.ready();
  const rows = [];
  for (const size of arg('sizes', '1x64,32x64,1x256,32x256').split(',')) {
    const [b, t] = size.split('x').map(Number);
    const model = tf.sequential({ layers: [
      tf.layers.lstm({ units: 256, returnSequences: true, recurrentActivation: 'sigmoid', inputShape: [t, 32] }),
      tf.layers.dense({ units: 96 }),
    ] });
    const ids = tf.randomNormal([b, t, 32]);
    const labels = tf.oneHot(tf.randomUniform([b, t], 0, 96, 'int32'), 96);
    const opt = tf.train.adam(1e-3);
    const step = () => opt.minimize(() => tf.losses.softmaxCrossEntropy(labels, model.apply(ids)), true);
    for (let i = 0; i < warmup; i++) (await step()).dataSync();
    const times = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      const loss = step();
      loss.dataSync();
      loss.dispose();
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    const ms = times[Math.floor(times.length / 2)];
    rows.push({ backend: `tfjs ${backend}`, batch: b, seq: t, train_ms: ms, chars_per_s: (b * t * 1000) / ms });
    console.error(JSON.stringify(rows[rows.length - 1]));
    model.dispose();
  }
  console.log(JSON.stringify(rows));
}
main();
