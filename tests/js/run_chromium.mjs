// Opens pages in headless Chromium (the system's /usr/bin/chromium; WebGPU on SwiftShader, no GPU needed)
// with playwright-core, waits for each to set window.__result (or window.__error) and prints the results
// as one JSON list into RESULT.json. The page has to settle: --dump-dom would return before WebGPU promises do.
//   node run_chromium.mjs RESULT.json TIMEOUT_MS URL...
import { writeFile } from 'node:fs/promises';
import { launchChromium } from './chromium.mjs';

const [resultPath, timeout, ...urls] = process.argv.slice(2);
const browser = await launchChromium();
const results = [];
try {
  for (const url of urls) {
    const page = await browser.newPage();
    const logs = [];
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    await page.goto(url);
    await page.waitForFunction(() => window.__result !== undefined || window.__error !== undefined, null,
      { timeout: Number(timeout), polling: 100 });
    const error = await page.evaluate(() => window.__error);
    if (error !== undefined) throw new Error(`${url} failed: ${error}\n${logs.join('\n')}`);
    results.push(await page.evaluate(() => window.__result));
    await page.close();
  }
  await writeFile(resultPath, JSON.stringify(results));
} finally {
  await browser.close();
}
