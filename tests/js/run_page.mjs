// Drives examples/web/index.html in headless Chromium (the system's /usr/bin/chromium, WebGPU on SwiftShader)
// as a user would: waits for the model to load, clicks "Random input", then draws a stroke on the canvas.
// Prints {status, random, drawn, errors} as JSON: the status line, and after each action what the page shows:
// {out: the raw outputs' text, top: the top-class line, classes: [{label, p, shown, width}] one per class bar
// (p: its data-p, shown: its percentage text, width: the bar's drawn fraction)}. SCREENSHOT: a PNG of the page
// after the stroke.
//   node run_page.mjs URL TIMEOUT_MS SCREENSHOT
import { launchChromium } from './chromium.mjs';

const [url, timeout, screenshot] = process.argv.slice(2);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  const wait = { timeout: Number(timeout), polling: 100 };
  await page.waitForFunction(() => /^(ready|failed)/.test(document.getElementById('status').textContent), null, wait);
  const status = await page.textContent('#status');
  const outText = () => page.textContent('#out');
  const shown = () => page.evaluate(() => ({
    out: document.getElementById('out').textContent,
    top: document.getElementById('top').textContent,
    classes: Array.from(document.querySelectorAll('#classes .cls'), (row) => ({
      label: row.querySelector('.label').textContent, p: Number(row.dataset.p), best: row.classList.contains('best'),
      shown: row.querySelector('.pct').textContent,
      width: row.querySelector('.bar > div').getBoundingClientRect().width / row.querySelector('.bar').getBoundingClientRect().width,
    })),
  }));
  const changed = async (before) => page.waitForFunction((b) => {
    const t = document.getElementById('out').textContent;
    return t !== '' && t !== b;
  }, before, wait);
  let random = null, drawn = null;
  if (status.startsWith('ready')) {
    await page.click('#random');
    await changed('');
    random = await shown();
    const box = await page.locator('#pad').boundingBox();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.8, { steps: 8 });
    await page.mouse.up();
    await changed(random.out);
    drawn = await shown();
    await page.screenshot({ path: screenshot, fullPage: true });
  }
  console.log(JSON.stringify({ status, random, drawn, errors }));
} finally {
  await browser.close();
}
