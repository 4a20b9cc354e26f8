// Drives examples/web/faces.html in headless Chromium (the system's /usr/bin/chromium, WebGPU on SwiftShader)
// as a user would: waits for the nets to load, uploads each file through the page's file input, waits for
// its answer and takes a screenshot of the page after each. Prints one JSON line:
// {status, uploads: [{file, status, faces, screenshot}], errors}.
//   node run_faces_page.mjs URL TIMEOUT_MS SCREENSHOT_PREFIX FILE...
import { launchChromium } from './chromium.mjs';

const [url, timeout, shotPrefix, ...files] = process.argv.slice(2);
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  const wait = { timeout: Number(timeout), polling: 200 };
  await page.waitForFunction(() => /^(ready|failed)/.test(document.getElementById('status').textContent), null, wait);
  const status = await page.textContent('#status');
  const uploads = [];
  if (status.startsWith('ready')) {
    for (const [i, file] of files.entries()) {
      await page.setInputFiles('#photo', file);
      await page.waitForFunction(() => window.__faces !== undefined || window.__error !== undefined, null, wait);
      const screenshot = `${shotPrefix}${i}.png`;
      await page.screenshot({ path: screenshot, fullPage: true });
      uploads.push({ file, status: await page.textContent('#status'), faces: await page.evaluate(() => window.__faces),
        screenshot });
    }
  }
  console.log(JSON.stringify({ status, uploads, errors }));
} finally {
  await browser.close();
}
