// Drives the React binding's test page (page.tsx) in Chromium for
// internal/reacte2e: 20 provider mounts and unmounts without StrictMode,
// then 20 with it. After each run, with the page still open, it waits until
// the Go side counts no open socket and no open event stream, and prints
// one line `RESULT {...}` with the page's report and the server's counts.
//
// Environment (set by the Go test):
//   RP_PAGE      the page URL (its own loopback origin; ?server= the Rallypoint server)
//   RP_COUNTS    the Go side's counter endpoint (GET: counts, POST: reset the maxima)
//   RP_CHROMIUM  the Chromium binary
//   RP_CYCLES    mounts per run (default 20)

import { chromium } from "playwright-core";

const env = process.env;
const CYCLES = Number(env.RP_CYCLES) || 20;
const T0 = Date.now();
const log = (...a) => console.log(`react: [${((Date.now() - T0) / 1000).toFixed(1)}s]`, ...a);

async function counts(method = "GET") {
  const r = await fetch(env.RP_COUNTS, { method });
  if (!r.ok) throw new Error(`counts: ${r.status}`);
  return r.json();
}

const browser = await chromium.launch({ executablePath: env.RP_CHROMIUM, headless: true, args: ["--no-sandbox"] });
const errors = [];
try {
  const page = await browser.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  await page.goto(env.RP_PAGE);
  await page.waitForFunction(() => typeof window.__cycles === "function");
  const runs = [];
  for (const strict of [false, true]) {
    await counts("POST"); // new maxima for this run
    const t = Date.now();
    const report = await page.evaluate(([s, n]) => window.__cycles(s, n), [strict, CYCLES]);
    // The page is still open: everything must close because the providers unmounted.
    let c = await counts();
    const end = Date.now() + 5000;
    while ((c.ws_open !== 0 || c.sse_open !== 0) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 20));
      c = await counts();
    }
    const run = { ...report, server: c, settle_ms: Date.now() - t - report.ms, errors: errors.splice(0) };
    log(`${strict ? "StrictMode" : "plain"}: ${report.cycles} mounts in ${(report.ms / 1000).toFixed(1)} s; ` +
      `sockets max ${c.ws_max} open now ${c.ws_open} total ${c.ws_total}; streams max ${c.sse_max} open now ${c.sse_open} total ${c.sse_total}; ` +
      `effect runs ${report.effectRuns}, frames ${report.frames}, snapshots ${report.snapshots}, HUD renders while playing ${report.hudRendersPlaying}; ` +
      `console errors ${run.errors.length}`);
    runs.push(run);
  }
  console.log("RESULT " + JSON.stringify(runs));
} finally {
  await browser.close();
}
