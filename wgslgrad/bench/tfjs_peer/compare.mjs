// The driver of `wgslgrad bench FILE --browser / --node` (wgslgrad/bench/compare.py writes CONFIG and reads
// the JSON this prints as its last line):
//   node compare.mjs CONFIG.json
// CONFIG: {mode: 'browser'|'node', url (browser: where host.html is served), dir (node: the files),
//   chromium (browser: its executable), systems: ['wgslgrad', 'tfjs-webgpu', ...], batches: [1, 16],
//   train: bool, steps, inferSteps, warmup, rounds, timeoutMs}
// Each system runs in its own host (a page of one headless Chromium, WebGPU on SwiftShader where there is no
// GPU; or a Node process, WebGPU from the `webgpu` package), one call at a time, never two at once. Per batch
// size: every system's setup (the first batch size's gives the ready times), the batch-1 outputs, `warmup`
// untimed runs, then `rounds` rounds in which every system in turn (the order rotating) times `inferSteps`
// inferences and `steps` training steps. A call that fails is recorded and the system goes on; one that runs
// past the time left (timeoutMs for the whole run) ends that system's host, and the rest go on.
// Prints {systems: {name: {info, ready: {batch: {...}}, infer: {batch: [ms]}, train: {batch: [ms]},
//   outputs, errors: [text]}}, timedOut: bool}.
import { readFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const config = JSON.parse(await readFile(process.argv[2], 'utf8'));
const deadline = Date.now() + config.timeoutMs;

class Timeout extends Error {}
const withDeadline = (promise, what) => {
  let timer;
  const left = deadline - Date.now();
  const stop = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Timeout(`${what}: out of time (--timeout)`)), Math.max(left, 0));
  });
  return Promise.race([promise, stop]).finally(() => clearTimeout(timer));
};

// ------------------------------------------------------------------------------------------- hosts
let browser = null, browserVersion = null;
async function pageHost(name) {
  if (!browser) {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: config.chromium,
      args: ['--no-sandbox', '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-quic', '--enable-unsafe-webgpu',
        '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
        '--disable-backgrounding-occluded-windows', ...(config.chromiumArgs ?? [])],
    });
    browserVersion = browser.version();
  }
  const page = await browser.newPage();
  const logs = [];
  page.on('console', (m) => { if (m.type() === 'error') logs.push(m.text()); });
  page.on('pageerror', (e) => logs.push(e.message));
  await page.goto(`${config.url}/host.html?system=${name}`);
  await page.waitForFunction(() => window.__host !== undefined || window.__error !== undefined, null,
    { timeout: 120000, polling: 50 });
  const error = await page.evaluate(() => window.__error);
  if (error !== undefined) throw new Error(`${name}: ${error}\n${logs.join('\n')}`);
  return {
    call: (method, args) => page.evaluate(([m, a]) => window.__host[m](a), [method, args]),
    close: () => page.close().catch(() => {}),
  };
}

function nodeHost(name) {
  const child = spawn(process.execPath, [path.join(HERE, 'host_node.mjs'), name, config.dir],
    { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
  const waiting = new Map();
  let ready;
  const started = new Promise((resolve, reject) => { ready = { resolve, reject }; });
  child.on('exit', (code) => {
    const e = new Error(`${name}: node exited (${code}): ${stderr}`);
    ready.reject(e);
    for (const w of waiting.values()) w.reject(e);
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    let msg;
    try { msg = JSON.parse(line); } catch { return; }   // a library's own output
    if (msg.ready) { ready.resolve(); return; }
    const w = waiting.get(msg.id);
    if (!w) return;
    waiting.delete(msg.id);
    if ('error' in msg) w.reject(new Error(msg.error)); else w.resolve(msg.result);
  });
  let next = 0;
  return started.then(() => ({
    call: (method, args) => new Promise((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve, reject });
      child.stdin.write(`${JSON.stringify({ id, method, args })}\n`);
    }),
    close: () => { child.kill(); },
  }));
}

// ------------------------------------------------------------------------------------------- the run
const systems = {};
for (const name of config.systems) systems[name] = { info: null, ready: {}, infer: {}, train: {}, outputs: null, errors: [] };
const hosts = {};
let timedOut = false;

/** One call on one system; errors are recorded (null returned), a timeout also ends the host. */
async function call(name, method, args) {
  const host = hosts[name];
  if (!host) return null;
  try {
    return await withDeadline(host.call(method, args), `${name} ${method}(${JSON.stringify(args)})`);
  } catch (e) {
    systems[name].errors.push(String(e?.message ?? e).split('\n').slice(0, 6).join('\n'));
    if (e instanceof Timeout) {
      timedOut = true;
      delete hosts[name];
      await host.close();
    }
    return null;
  }
}

try {
  for (const name of config.systems) {
    try {
      hosts[name] = await withDeadline(config.mode === 'browser' ? pageHost(name) : nodeHost(name), `${name} start`);
    } catch (e) {
      systems[name].errors.push(String(e?.message ?? e).split('\n').slice(0, 6).join('\n'));
    }
  }
  for (const batch of config.batches) {
    for (const name of config.systems) {
      const r = await call(name, 'setup', { batch, train: config.train });
      if (r) systems[name].ready[batch] = r;
    }
    if (batch === 1) for (const name of config.systems) systems[name].outputs = await call(name, 'outputs', {});
    for (const name of config.systems) systems[name].info ??= await call(name, 'info', {});
    const ok = (name) => hosts[name] && systems[name].ready[batch];
    for (const name of config.systems) {
      if (!ok(name) || !config.warmup) continue;
      await call(name, 'timeInfer', { batch, n: config.warmup });
      if (config.train) await call(name, 'timeTrain', { batch, n: config.warmup });
    }
    for (let round = 0; round < config.rounds; round++) {
      const order = config.systems.map((_, i) => config.systems[(i + round) % config.systems.length]);
      for (const name of order) {
        if (!ok(name)) continue;
        const s = systems[name];
        const infer = await call(name, 'timeInfer', { batch, n: config.inferSteps });
        if (infer) (s.infer[batch] ??= []).push(...infer);
        if (!config.train) continue;
        const train = await call(name, 'timeTrain', { batch, n: config.steps });
        if (train) (s.train[batch] ??= []).push(...train);
      }
    }
  }
} finally {
  for (const host of Object.values(hosts)) await host.close();
  if (browser) await browser.close();
}
const where = config.mode === 'browser' ? { browser: browserVersion } : { node: process.version };
// exit once the line is written: a pipe takes 64 KiB at a time, and exiting at once cut the rest off
process.stdout.write(`${JSON.stringify({ systems, timedOut, ...where })}\n`, () => process.exit(0));
