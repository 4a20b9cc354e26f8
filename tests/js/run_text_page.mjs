// Drives examples/web/char_lstm.html in headless Chromium (WebGPU on SwiftShader) as a user would: waits for
// the first text, enters each prompt of PROMPTS (JSON [{prompt, temperature}]) and waits for its text or error.
// Prints {status, shown: [{text, error, speed}], errors} as JSON; SCREENSHOT: a PNG of the page at the end.
//   node run_text_page.mjs URL TIMEOUT_MS SCREENSHOT PROMPTS
import { launchChromium } from './chromium.mjs';

const [url, timeout, screenshot, prompts] = process.argv.slice(2);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  const wait = { timeout: Number(timeout), polling: 100 };
  await page.waitForFunction(() => /^(ready|failed)/.test(document.getElementById('status').textContent), null, wait);
  const status = await page.textContent('#status');
  const shown = [];
  const settled = (key) => page.waitForFunction((k) => document.getElementById('text').dataset.done === k, key, wait);
  if (status.startsWith('ready')) {
    await settled(JSON.stringify(['The ', 0.8]));   // the page's own first prompt
    for (const { prompt, temperature } of JSON.parse(prompts)) {
      await page.evaluate((t) => {   // set the slider without its input event; typing the prompt starts the run
        document.getElementById('temperature').value = String(t);
      }, temperature);
      await page.fill('#prompt', prompt);   // an input event, as typing gives
      await settled(JSON.stringify([prompt, temperature]));
      shown.push(await page.evaluate(() => ({
        text: document.getElementById('text').textContent,
        error: document.getElementById('error').textContent,
        speed: document.getElementById('speed').textContent,
      })));
    }
    await page.screenshot({ path: screenshot, fullPage: true });
  }
  console.log(JSON.stringify({ status, shown, errors }));
} finally {
  await browser.close();
}
