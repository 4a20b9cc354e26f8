// conv2d and depthwiseConv2d (+ bias) with gradients built from ops the TF.js wasm backend has.
// TF.js 4.22's wasm backend has no Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropInput or
// DepthwiseConv2dNativeBackpropFilter kernels; these gradients avoid them (names as in the IR's Op comments):
//   dw = a conv (depthwise conv) of the padded x with dy as the filter, dilated by the stride
//   conv dx = dy @ w^T (1x1) or a conv of the stride-dilated, re-padded dy with the flipped filter
//   depthwise dx = depthwise conv of the stride-dilated, re-padded dy with the spatially flipped filter
// Node: require('./wasm_grads') (TF.js from @tensorflow/tfjs); a page: a <script> after tf.min.js sets
// globalThis.wgslgradWasmGrads.
(function (factory) {
  if (typeof module === 'object' && module.exports) module.exports = factory(require('@tensorflow/tfjs'));
  else globalThis.wgslgradWasmGrads = factory(globalThis.tf);
}(function (tf) {
  'use strict';

  const pads4 = (p) => [[0, 0], [p[0], p[1]], [p[2], p[3]], [0, 0]];

  // Pad axes 1 and 2 by (t, b, l, r); a negative amount crops instead.
  function padOrCrop(x, [t, b, l, r]) {
    const [B, H, W, C] = x.shape;
    const y = tf.pad(x, pads4([t, b, l, r].map((p) => Math.max(p, 0))));
    const [ct, cb, cl, cr] = [t, b, l, r].map((p) => Math.max(-p, 0));
    if (ct + cb + cl + cr === 0) return y;
    return tf.slice(y, [0, ct, cl, 0], [B, y.shape[1] - ct - cb, y.shape[2] - cl - cr, C]);
  }

  // [B,OH,OW,C] -> [B,OH*sh,OW*sw,C] with sh-1 (sw-1) zero rows (columns) after each original one. (The
  // trailing zeros are usually what the re-padding needs anyway; cropping them would cost a slow Slice.)
  function dilate(dy, [sh, sw]) {
    if (sh === 1 && sw === 1) return dy;
    const [B, OH, OW, C] = dy.shape;
    const d = tf.pad(tf.reshape(dy, [B, OH, 1, OW, 1, C]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
    return tf.reshape(d, [B, OH * sh, OW * sw, C]);
  }

  // x padded by `pad`, then cropped to the rows and columns the window actually reads.
  function padToWindow(x, pad, kh, kw, [sh, sw], [OH, OW]) {
    const [B, H, W, C] = x.shape;
    const [t, b, l, r] = pad;
    const need = [(OH - 1) * sh + kh, (OW - 1) * sw + kw];
    return padOrCrop(x, [t, need[0] - H - t, l, need[1] - W - l]);
  }

  // Sum over every axis but the last, as a matmul (the wasm backend reduces leading axes slowly).
  function sumToLast(x) {
    const c = x.shape[x.shape.length - 1];
    const n = x.size / c;
    return tf.reshape(tf.matMul(tf.ones([1, n]), tf.reshape(x, [n, c])), [c]);
  }

  // dw[i,j,ci,co] = sum_{b,oh,ow} xp[b, oh*sh+i, ow*sw+j, ci] dy[b,oh,ow,co]: a conv of xp (batch as the
  // input channels, ci as the batch) with dy as the filter, dilated by the stride; 1x1 stride 1 is one matmul.
  function conv2dFilterGrad(x, dy, wShape, strides, pad) {
    const [kh, kw, ci, co] = wShape;
    const [B, OH, OW] = dy.shape;
    const xp = padToWindow(x, pad, kh, kw, strides, [OH, OW]);
    if (kh === 1 && kw === 1 && strides[0] === 1 && strides[1] === 1) {
      const n = B * OH * OW;
      return tf.reshape(tf.matMul(tf.transpose(tf.reshape(xp, [n, ci])), tf.reshape(dy, [n, co])), wShape);
    }
    const out = tf.conv2d(tf.transpose(xp, [3, 1, 2, 0]), tf.transpose(dy, [1, 2, 0, 3]), 1, 'valid', 'NHWC',
                          strides);   // [ci, kh, kw, co]
    return tf.transpose(out, [1, 2, 0, 3]);
  }

  // The same trick with (b, c) pairs as depthwise channels, then a sum over b.
  function depthwiseFilterGrad(x, dy, wShape, strides, pad) {
    const [kh, kw, c, m] = wShape;
    const [B, OH, OW] = dy.shape;
    const xp = padToWindow(x, pad, kh, kw, strides, [OH, OW]);
    const X = tf.reshape(tf.transpose(xp, [1, 2, 0, 3]), [1, xp.shape[1], xp.shape[2], B * c]);
    const dy5 = tf.reshape(dy, [B, OH, OW, c, m]);
    const parts = [];
    for (let k = 0; k < m; k++) {
      const dyk = m === 1 ? dy : tf.reshape(tf.slice(dy5, [0, 0, 0, 0, k], [-1, -1, -1, -1, 1]), [B, OH, OW, c]);
      const f = tf.reshape(tf.transpose(dyk, [1, 2, 0, 3]), [OH, OW, B * c, 1]);
      const out = tf.depthwiseConv2d(X, f, 1, 'valid', 'NHWC', strides);   // [1, kh, kw, B*c]
      parts.push(tf.sum(tf.reshape(out, [kh, kw, B, c]), 2));
    }
    return tf.reshape(m === 1 ? parts[0] : tf.stack(parts, 3), wShape);
  }

  // dx: dy @ w^T for a 1x1 stride-1 conv, else a conv of the dilated, re-padded dy with the flipped, transposed
  // filter (the wasm backend's own Conv2DBackpropInput, and its matMul with transposeB, are several times
  // slower than these).
  function conv2dInputGrad(dy, w, xShape, strides, pad) {
    const [kh, kw, ci, co] = w.shape;
    const [B, H, W] = xShape;
    if (kh === 1 && kw === 1 && strides[0] === 1 && strides[1] === 1 && pad.every((p) => p === 0)) {
      return tf.reshape(tf.matMul(tf.reshape(dy, [-1, co]), tf.transpose(tf.reshape(w, [ci, co]))), xShape);
    }
    const d = dilate(dy, strides);
    const [t, , l] = pad;
    const wf = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]);
    return tf.conv2d(padOrCrop(d, [kh - 1 - t, H + t - d.shape[1], kw - 1 - l, W + l - d.shape[2]]), wf, 1, 'valid');
  }

  function depthwiseInputGrad(dy, w, xShape, strides, pad) {
    const [kh, kw, c, m] = w.shape;
    const [, H, W] = xShape;
    const [t, , l] = pad;
    const d = dilate(dy, strides);
    const wf = tf.reverse(w, [0, 1]);
    const crop = [kh - 1 - t, H + t - d.shape[1], kw - 1 - l, W + l - d.shape[2]];
    if (m === 1) return tf.depthwiseConv2d(padOrCrop(d, crop), wf, 1, 'valid');
    const d5 = tf.reshape(d, [...d.shape.slice(0, 3), c, m]);
    const parts = [];
    for (let k = 0; k < m; k++) {
      const dk = tf.squeeze(tf.slice(d5, [0, 0, 0, 0, k], [-1, -1, -1, -1, 1]), [4]);
      const wk = tf.slice(wf, [0, 0, 0, k], [-1, -1, -1, 1]);
      parts.push(tf.depthwiseConv2d(padOrCrop(dk, crop), wk, 1, 'valid'));
    }
    return tf.addN(parts);
  }

  // op(x, w, bias?) with the forward fused op and the gradients above; `depthwise` picks the conv kind.
  function convWithGrads(depthwise, strides, pad) {
    const fwd = depthwise ? tf.fused.depthwiseConv2d : tf.fused.conv2d;
    const grads = (dy, x, w) => depthwise
      ? [depthwiseInputGrad(dy, w, x.shape, strides, pad), depthwiseFilterGrad(x, dy, w.shape, strides, pad)]
      : [conv2dInputGrad(dy, w, x.shape, strides, pad), conv2dFilterGrad(x, dy, w.shape, strides, pad)];
    const withBias = tf.customGrad((x, w, bias, save) => {
      save([x, w]);
      return { value: fwd({ x, filter: w, strides, pad: pads4(pad), bias }),
               gradFunc: (dy, [sx, sw]) => [...grads(dy, sx, sw), sumToLast(dy)] };
    });
    const noBias = tf.customGrad((x, w, save) => {
      save([x, w]);
      return { value: fwd({ x, filter: w, strides, pad: pads4(pad) }), gradFunc: (dy, [sx, sw]) => grads(dy, sx, sw) };
    });
    return (x, w, bias) => (bias === undefined ? noBias(x, w) : withBias(x, w, bias));
  }

  return { convWithGrads, padOrCrop, dilate };
}));
