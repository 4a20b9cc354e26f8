// TF.js's own LSTM beside scripts/lstm_bench.py's, in Node: lstm_model.js's training step (tf.layers.lstm,
// 256 units, a dense at every position, Adam), median of STEPS after WARMUP, synchronised by reading the loss.
// lstm_web.mjs times the same step in a headless Chromium page (webgpu and wasm backends).
//   node lstm_bench.js [--backend wasm|cpu] [--sizes 1x64,32x64,1x256,32x256] [--steps 5] [--warmup 2]
const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');
const { lstmTrainStep } = require('./lstm_model.js');

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
    const run = lstmTrainStep(tf, b, t);
    for (let i = 0; i < warmup; i++) await run.step();
    const times = [];
    for (let i = 0; i < steps; i++) times.push(await run.step());
    times.sort((x, y) => x - y);
    const ms = times[Math.floor(times.length / 2)];
    rows.push({ backend: `tfjs ${backend}`, batch: b, seq: t, train_ms: ms, chars_per_s: (b * t * 1000) / ms });
    console.error(JSON.stringify(rows[rows.length - 1]));
    run.dispose();
  }
  console.log(JSON.stringify(rows));
}
main();
