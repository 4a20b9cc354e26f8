// The LSTM training step lstm_bench.js (Node) and lstm_web.mjs (a headless Chromium page) time, in one place:
// tf.layers.lstm (256 units, every step, recurrentActivation 'sigmoid' as Keras 2 and wgslgrad) on 32
// random features, a dense of 96 at every position, the cross-entropy per character, Adam (lr 1e-3).
// No embedding: the wasm backend has no UnsortedSegmentSum, its gradient. Loads as CommonJS (Node) or as a
// classic script (a page: window.lstmTrainStep).
(function (root) {
  /** Builds the model for batch x seq on tf's current backend; returns {step, dispose}: step() runs one
   *  training step (forward, backward, Adam) and resolves to its time in ms, the loss read back.
   *  recurrentInitializer: Keras's 'orthogonal' by default; the page passes 'glorotUniform', as TF.js's
   *  orthogonal initializer (a QR of 256 x 1024 in small ops, every one a new shader) had not finished in
   *  240 s on WebGPU over SwiftShader. The step's time does not depend on the weights' values. */
  function lstmTrainStep(tf, batch, seq, { recurrentInitializer = 'orthogonal' } = {}) {
    const model = tf.sequential({ layers: [
      tf.layers.lstm({ units: 256, returnSequences: true, recurrentActivation: 'sigmoid', inputShape: [seq, 32],
        recurrentInitializer }),
      tf.layers.dense({ units: 96 }),
    ] });
    const x = tf.randomNormal([batch, seq, 32]);
    const labels = tf.oneHot(tf.randomUniform([batch, seq], 0, 96, 'int32'), 96);
    const opt = tf.train.adam(1e-3);
    return {
      async step() {
        const t0 = performance.now();
        const loss = opt.minimize(() => tf.losses.softmaxCrossEntropy(labels, model.apply(x)), true);
        await loss.data();   // the loss read back: the step is done
        loss.dispose();
        return performance.now() - t0;
      },
      dispose() {
        model.dispose();
        opt.dispose();
        tf.dispose([x, labels]);
      },
    };
  }
  if (typeof module === 'object' && module.exports) module.exports = { lstmTrainStep };
  else root.lstmTrainStep = lstmTrainStep;
})(typeof self !== 'undefined' ? self : this);
