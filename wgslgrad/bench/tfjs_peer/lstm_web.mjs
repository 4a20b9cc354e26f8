// lstm_model.js's TF.js LSTM training step in headless Chromium: one page per backend (webgpu, wasm) in one
// browser, taking turns, one page busy at a time. Per size: each page builds the model, `warmup` untimed
// steps, then `rounds` rounds in which each backend in turn (the order rotating) times `steps` steps; the
// median of all. WebGPU runs on SwiftShader (the CPU) by default (--no-swiftshader: the browser's own
// adapter, on a machine with a GPU). --timeout (s) bounds the whole run: past it the run stops, prints what
// it has, and exits 1 (as it does after any error, which it also prints).
//   node lstm_web.mjs [--sizes 1x64,32x64] [--backends webgpu,wasm] [--steps 3] [--warmup 1] [--rounds 2]
//                     [--timeout 600] [--chromium /usr/bin/chromium] [--no-swiftshader]
// Prints a JSON line per size to stderr as it goes, and {browser, info, rows, errors} on stdout.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const sizes = arg('sizes', '1x64,32x64').split(',').map((s) => s.split('x').map(Number));
const backends = arg('backends', 'webgpu,wasm').split(',');
const [steps, warmup, rounds] = ['steps', 'warmup', 'rounds'].map((k, i) => Number(arg(k, [3, 1, 2][i])));
const deadline = Date.now() + Number(arg('timeout', 600)) * 1000;
const swiftshader = !process.argv.includes('--no-swiftshader');
if (sizes.some(([b, t]) => !(b > 0 && t > 0)) || ![steps, warmup, rounds].every(Number.isInteger)) {
  console.error('usage: node lstm_web.mjs [--sizes BxT,...] [--backends webgpu,wasm] [--steps N] [--warmup N] '
    + '[--rounds N] [--timeout S]');
  process.exit(2);
}

// the page, this folder's lstm_model.js, and TF.js's browser builds under tf/
const NM = path.join(HERE, 'node_modules', '@tensorflow');
const FILES = {
  '/lstm.html': path.join(HERE, 'lstm.html'),
  '/lstm_model.js': path.join(HERE, 'lstm_model.js'),
  '/tf/tf.min.js': path.join(NM, 'tfjs/dist/tf.min.js'),
  '/tf/tf-backend-webgpu.min.js': path.join(NM, 'tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js'),
  '/tf/tf-backend-wasm.min.js': path.join(NM, 'tfjs-backend-wasm/dist/tf-backend-wasm.min.js'),
  ...Object.fromEntries(['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']
    .map((w) => [`/tf/${w}`, path.join(NM, 'tfjs-backend-wasm/dist', w)])),
};
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
const server = createServer(async (req, res) => {
  const file = FILES[new URL(req.url, 'http://x').pathname];
  try {
    if (!file) throw new Error('not found');
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${server.address().port}`;

class Timeout extends Error {}
const withDeadline = (promise, what) => {
  let timer;
  const stop = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Timeout(`${what}: out of time (--timeout)`)), Math.max(deadline - Date.now(), 0));
  });
  return Promise.race([promise, stop]).finally(() => clearTimeout(timer));
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const errors = [], info = {}, rows = [];
let browser = null, exitCode = 0;
try {
  if (swiftshader) process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
  browser = await chromium.launch({
    executablePath: arg('chromium', process.env.CHROMIUM ?? '/usr/bin/chromium'),
    args: ['--no-sandbox', '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic', '--enable-unsafe-webgpu',
      '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows', ...(swiftshader ? ['--use-webgpu-adapter=swiftshader'] : [])],
  });
  const pages = {};
  for (const backend of backends) {
    const page = await browser.newPage();
    const logs = [];
    page.on('console', (m) => { if (m.type() === 'error') logs.push(m.text()); });
    page.on('pageerror', (e) => logs.push(e.message));
    try {
      await withDeadline((async () => {
        await page.goto(`${base}/lstm.html?backend=${backend}`);
        await page.waitForFunction(() => window.__lstm !== undefined || window.__error !== undefined, null,
          { timeout: 0, polling: 50 });
        const error = await page.evaluate(() => window.__error);
        if (error !== undefined) throw new Error(`${error}\n${logs.join('\n')}`);
        info[backend] = await page.evaluate(() => window.__lstm.info());
      })(), `${backend} start`);
      pages[backend] = { page, logs };
    } catch (e) {
      errors.push(`${backend}: ${String(e?.message ?? e).split('\n').slice(0, 8).join('\n')}`);
      if (e instanceof Timeout) throw e;
    }
  }
  const call = async (backend, method, args) => {
    const { page, logs } = pages[backend];
    try {
      return await withDeadline(page.evaluate(([m, a]) => window.__lstm[m](a), [method, args]),
        `${backend} ${method}(${JSON.stringify(args)})`);
    } catch (e) {
      if (e instanceof Timeout) throw e;
      errors.push(`${backend} ${method}: ${String(e?.message ?? e).split('\n').slice(0, 8).join('\n')}\n${logs.join('\n')}`);
      delete pages[backend];
      return null;
    }
  };
  for (const [batch, seq] of sizes) {
    const times = {};
    for (const backend of Object.keys(pages)) {
      if ((await call(backend, 'setup', { batch, seq })) === null && !pages[backend]) continue;
      if (warmup) await call(backend, 'time', { n: warmup });
    }
    for (let r = 0; r < rounds; r++) {
      const order = backends.map((_, i) => backends[(i + r) % backends.length]);
      for (const backend of order) {
        if (!pages[backend]) continue;
        const ts = await call(backend, 'time', { n: steps });
        if (ts) (times[backend] ??= []).push(...ts);
      }
    }
    const row = { batch, seq, ...Object.fromEntries(Object.entries(times).map(([k, ts]) => [`${k}_ms`, median(ts)])),
      steps: Object.fromEntries(Object.entries(times).map(([k, ts]) => [k, ts.map((t) => Math.round(t))])) };
    rows.push(row);
    console.error(JSON.stringify(row));
  }
} catch (e) {
  errors.push(String(e?.message ?? e).split('\n').slice(0, 8).join('\n'));
  exitCode = 1;
} finally {
  const version = browser?.version();
  await browser?.close().catch(() => {});
  server.close();
  process.stdout.write(`${JSON.stringify({ browser: version, info, rows, errors })}\n`);
  process.exit(errors.length ? 1 : exitCode);
}
