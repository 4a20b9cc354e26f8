// Benchmark in headless Chromium (the system's chromium through playwright-core, WebGPU on SwiftShader):
// bench.html's knn.js beside knn-classifier on TF.js's webgpu and wasm backends, interleaved (see there).
//   node chromium.mjs KNN_JS [--sizes=1000,10000] [--rounds=5] [--per=8] [--perWebgpu=2] [--base=OLD_KNN_JS]
//                     [--isolated] [--page=bench.html] [--json=OUT]
// Serves this folder (its node_modules: npm ci here), KNN_JS as /knn.js and OLD_KNN_JS (another knn.js, timed
// beside it in the same rounds) as /knn_base.js on 127.0.0.1; --isolated adds
// the COOP/COEP headers that let TF.js's wasm backend use threads; --page=profile.html times a bare
// round trip and knn.js at 16, 1,000 and 10,000 examples instead. Prints one JSON row a size.
import { createServer } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../../js/chromium.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const [knnJs, ...args] = process.argv.slice(2);
const opt = Object.fromEntries(args.map((a) => a.replace(/^--/, '').split('=')).map(([a, b]) => [a, b ?? '1']));
const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };
const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const served = { '/knn.js': path.resolve(knnJs), ...(opt.base ? { '/knn_base.js': path.resolve(opt.base) } : {}) };
  const file = served[url.pathname] ?? path.join(here, decodeURIComponent(url.pathname));
  try {
    if (!file.startsWith(here + path.sep) && !Object.values(served).includes(file)) throw new Error('outside');
    const body = await readFile(file);
    const headers = { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' };
    if (opt.isolated) Object.assign(headers, { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
    res.writeHead(200, headers).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const query = new URLSearchParams(Object.fromEntries(['sizes', 'rounds', 'per', 'perWebgpu', 'k', 'dim']
  .filter((key) => key in opt).map((key) => [key, opt[key]]).concat(opt.base ? [['base', '1']] : [])));
const browser = await launchChromium();
let code = 0;
try {
  const page = await browser.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(`http://127.0.0.1:${server.address().port}/${opt.page ?? 'bench.html'}?${query}`);
  await page.waitForFunction(() => window.__result || window.__error, null, { timeout: 1800000, polling: 500 });
  const error = await page.evaluate(() => window.__error);
  if (error) throw new Error(`${error}\n${logs.join('\n')}`);
  const result = await page.evaluate(() => window.__result);
  for (const row of result.rows) {
    const { samples, ...rest } = row;
    console.log(JSON.stringify(rest));
  }
  if (result.adapter) console.log(JSON.stringify({ adapter: result.adapter, crossOriginIsolated: result.crossOriginIsolated, wasmThreads: result.wasmThreads, userAgent: result.userAgent }));
  if (opt.json) await writeFile(opt.json, JSON.stringify(result, null, 1));
} catch (e) {
  console.error(e.message);
  code = 1;
} finally {
  await browser.close();
  server.close();
}
process.exit(code);
