// Drives examples/web/knn.html in headless Chromium (playwright-core, the system chromium; WebGPU on
// SwiftShader; a fake camera) as a user would, for tests/test_knn.py:
//   node run_knn_page.mjs URL REQUEST.json RESULT.json SHOTS_DIR
// REQUEST: {adds: [[imagePath, classIndex]...], query: imagePath, trainSteps: N, trainLr: LR}. Uploads each image and
// presses its class's Add; uploads the query; trains the head N steps at LR ("Train head") and classifies the
// query with it; reloads the page (the examples must come back from IndexedDB); switches to the camera.
// RESULT: what the page showed and held at each point, its saved file, and screenshots.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { launchChromium } from './chromium.mjs';

const [url, requestPath, resultPath, shots] = process.argv.slice(2);
const request = JSON.parse(await readFile(requestPath, 'utf8'));
const browser = await launchChromium(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream']);
const logs = [];
const settle = (page) => page.evaluate(async () => { await window.app.busy; });
const ready = async (page) => {
  await page.waitForFunction(() => window.app?.ready || document.getElementById('status').textContent.startsWith('failed'),
    null, { timeout: 240000, polling: 100 });
  const status = await page.textContent('#status');
  if (status.startsWith('failed')) throw new Error(`the page failed: ${status}\n${logs.join('\n')}`);
};
const result = {};
try {
  const context = await browser.newContext();
  await context.grantPermissions(['camera']);
  const page = await context.newPage();
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(url);
  await ready(page);
  for (const [image, cls] of request.adds) {
    await page.setInputFiles('#file', image);
    await settle(page);
    await page.click(`#add-${cls}`);
    await settle(page);
  }
  await page.setInputFiles('#file', request.query);
  await settle(page);
  await page.evaluate(() => window.app.knn().flush());
  result.top = await page.textContent('#top');
  result.bars = await page.$$eval('.conf', (els) => els.map((e) => e.textContent));
  result.answer = await page.evaluate(() => window.app.result);
  result.queryFeatures = await page.evaluate(async () => Array.from(await window.app.features()));
  result.saved = Array.from(await page.evaluate(async () => Array.from(await window.app.knn().toBytes())));
  result.status = await page.textContent('#status');
  await page.screenshot({ path: path.join(shots, 'knn_page.png'), fullPage: true });

  await page.fill('#steps', String(request.trainSteps));
  await page.fill('#lr', String(request.trainLr));
  await page.click('#train');
  await settle(page);
  result.train = await page.evaluate(() => {
    const { head } = window.app, plot = document.getElementById('lossPlot');
    const px = plot.getContext('2d').getImageData(0, 0, plot.width, plot.height).data;
    let red = 0;   // the loss line's pixels
    for (let i = 0; i < px.length; i += 4) red += px[i] > 150 && px[i + 1] < 120 && px[i + 3] > 0 ? 1 : 0;
    return { losses: head.losses, batches: head.batches, examples: head.examples.map((e) => ({ cls: e.cls, pixels: Array.from(e.pixels) })),
      classes: head.classes, batch: head.batch, useHead: document.getElementById('useHead').checked,
      status: document.getElementById('trainStatus').textContent, info: document.getElementById('headInfo').textContent,
      answer: window.app.result, top: document.getElementById('top').textContent, plotPixels: red };
  });
  result.train.query = await page.evaluate(() => Array.from(window.app.picture()));
  await page.screenshot({ path: path.join(shots, 'knn_page_train.png'), fullPage: true });

  await page.reload();
  await ready(page);
  result.countsAfterReload = await page.evaluate(() => window.app.knn().getClassExampleCount());
  result.picturesAfterReload = await page.evaluate(() => window.app.head.examples.map((e) => ({ cls: e.cls, pixels: Array.from(e.pixels) })));
  result.topAfterReload = await page.textContent('#top');

  await page.click('#camera');
  await page.waitForFunction(() => window.app.source === 'video' && window.app.result, null, { timeout: 120000 });
  await settle(page);
  result.cameraTop = await page.textContent('#top');
  await page.screenshot({ path: path.join(shots, 'knn_page_camera.png'), fullPage: true });
  result.logs = logs;
  await writeFile(resultPath, JSON.stringify(result));
} finally {
  await browser.close();
}
