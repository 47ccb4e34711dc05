// Drives the /ops page in real Chromium (playwright-core, Debian's
// chromium): it must receive several summaries over its EventSource, draw
// every chart, list the running matches, and log no console error. Run by
// the Go test internal/ops TestOpsPageInChromium, which starts the admin
// handler with live traffic.
//
//	RP_OPS_URL   the page, e.g. http://127.0.0.1:9090/ops
//	RP_CHROMIUM  the Chromium binary
//	RP_SHOT      where to save a screenshot (PNG), optional
//	RP_EVENTS    summaries to wait for (default 6)
//
// Prints one JSON line with what it saw; exits non-zero on failure.
import { chromium } from 'playwright-core';

const url = process.env.RP_OPS_URL;
const executablePath = process.env.RP_CHROMIUM;
const want = Number(process.env.RP_EVENTS || 12);
if (!url || !executablePath) {
  console.error('RP_OPS_URL and RP_CHROMIUM are required');
  process.exit(2);
}

const problems = [];
const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // The event stream is cut when the browser closes; anything else is a fault.
    if (!r.url().endsWith('/ops/events')) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  const resp = await page.goto(url, { waitUntil: 'load' });
  if (!resp || resp.status() !== 200) throw new Error(`GET ${url}: ${resp && resp.status()}`);

  await page.waitForFunction((n) => window.__ops && window.__ops.events >= n, want, { timeout: 60_000, polling: 100 });
  await page.waitForFunction(() => document.querySelectorAll('#matches tbody tr td.id').length > 0, null, { timeout: 30_000 });

  const seen = await page.evaluate(() => {
    const out = { events: window.__ops.events, charts: {}, rows: 0, status: '' };
    const hex = (c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));
    for (const [id, c] of Object.entries(window.__ops.charts)) {
      const u = c.u;
      const canvas = u.ctx.canvas;
      const img = u.ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      // Count pixels drawn in the first series' colour: the line is there.
      const [r, g, b] = hex(u.series[1].stroke());
      let line = 0;
      for (let i = 0; i < img.length; i += 4) {
        if (Math.abs(img[i] - r) < 40 && Math.abs(img[i + 1] - g) < 40 && Math.abs(img[i + 2] - b) < 40 && img[i + 3] > 200) line++;
      }
      const values = u.data.slice(1).flat().filter((v) => v != null);
      out.charts[id] = {
        points: u.data[0].length,
        values: values.length,
        max: values.length ? Math.max(...values) : null,
        linePixels: line,
        width: canvas.width,
        value: c.card.querySelector('.value').textContent,
      };
    }
    out.rows = document.querySelectorAll('#matches tbody tr td.id').length;
    out.status = document.querySelector('#status').textContent;
    return out;
  });
  for (const [id, c] of Object.entries(seen.charts)) {
    if (c.points < want) problems.push(`${id}: ${c.points} points, want ${want}`);
    if (c.width < 100) problems.push(`${id}: canvas ${c.width} px wide`);
  }
  // Charts whose figure is non-zero must show their line.
  for (const id of ['players', 'matches', 'tps', 'tickp99', 'latep99', 'bandwidth', 'ttm']) {
    const c = seen.charts[id];
    if (!c) problems.push(`chart ${id} missing`);
    else if (!(c.max > 0)) problems.push(`${id}: no non-zero value (${JSON.stringify(c)})`);
    else if (c.linePixels < 20) problems.push(`${id}: line not drawn (${c.linePixels} pixels)`);
  }
  if (seen.rows < 1) problems.push('no match rows');
  if (!seen.status.includes('ready')) problems.push(`status pill: ${seen.status}`);
  if (process.env.RP_SHOT) await page.screenshot({ path: process.env.RP_SHOT, fullPage: true });
  console.log(JSON.stringify({ ok: problems.length === 0, problems, seen }));
} catch (e) {
  problems.push(String(e && e.stack ? e.stack : e));
  console.log(JSON.stringify({ ok: false, problems }));
} finally {
  await browser.close();
}
process.exit(problems.length ? 1 : 0);
