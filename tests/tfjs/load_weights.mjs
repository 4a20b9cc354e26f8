// Loads a folder of weights written by wgslgrad (model.json, weights_manifest.json, shards) with
// TensorFlow.js's own loaders and writes the decoded tensors as JSON, for tests/test_tfjs_weights.py.
//
//   node load_weights.mjs FOLDER OUT.json
//
// The folder is served on 127.0.0.1 so that TF.js fetches it as a browser would, through two paths:
//   1. tf.io.loadWeights(weights_manifest.json's groups, folderUrl)   (what face-api.js uses)
//   2. tf.io.http(folderUrl + "model.json").load() then tf.io.decodeWeights(weightData, weightSpecs)
// Both must decode to the same bytes. OUT.json maps each weight name to {shape, dtype, data}, data being
// the base64 of its little-endian values, so the comparison in Python is bit-exact.
// (OUT is a file, not stdout, because TF.js prints a banner to the console in Node.)
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import tf from '@tensorflow/tfjs';

const [folder, outPath] = process.argv.slice(2);
if (!folder || !outPath) {
  console.error('usage: node load_weights.mjs FOLDER OUT.json');
  process.exit(2);
}

// A static server for the folder's plain files (no subfolders, no other paths).
const server = http.createServer((req, res) => {
  const name = decodeURIComponent(new URL(req.url, 'http://x').pathname.slice(1));
  const file = path.join(folder, name);
  if (name.includes('/') || name.includes('\\') || !fs.existsSync(file)) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, {'Content-Type': name.endsWith('.json') ? 'application/json' : 'application/octet-stream'});
  res.end(fs.readFileSync(file));
});
await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${server.address().port}/`;

function encode(tensors) {
  const out = {};
  for (const [name, t] of Object.entries(tensors)) {
    const v = t.dataSync();
    out[name] = {shape: t.shape, dtype: t.dtype,
                 data: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')};
  }
  return out;
}

try {
  await tf.setBackend('cpu');
  const manifest = JSON.parse(fs.readFileSync(path.join(folder, 'weights_manifest.json'), 'utf8'));
  const viaLoadWeights = encode(await tf.io.loadWeights(manifest, base));

  const artifacts = await tf.io.http(base + 'model.json').load();
  const viaHttp = encode(tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs));

  if (JSON.stringify(viaLoadWeights) !== JSON.stringify(viaHttp)) {
    throw new Error('tf.io.loadWeights and tf.io.http + decodeWeights decoded different values');
  }
  fs.writeFileSync(outPath, JSON.stringify({tfjs: tf.version.tfjs, weights: viaLoadWeights}));
} catch (e) {
  console.error(e.stack || String(e));
  process.exitCode = 1;
} finally {
  server.close();
}
