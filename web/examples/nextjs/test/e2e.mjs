// Drives the Next.js example in Chromium for internal/reacte2e
// (TestNextjsExample): sign in as a guest, Play, watch the queue, get
// matched with bots, play (move), navigate away to /about (the socket
// and the event stream must close, counted on the server) and back to
// /game (one new socket, into the same seat). Prints `RESULT {...}`.
//
// Environment (set by the Go test):
//   RP_NEXT      the example's base URL (next start on loopback)
//   RP_COUNTS    the Go side's counter endpoint (GET: counts, POST: reset the maxima)
//   RP_CHROMIUM  the Chromium binary
// playwright-core is resolved from web/node_modules (the script runs there).

import { chromium } from "playwright-core";

const env = process.env;
const T0 = Date.now();
const log = (...a) => console.log(`nextjs: [${((Date.now() - T0) / 1000).toFixed(1)}s]`, ...a);

async function counts(method = "GET") {
  const r = await fetch(env.RP_COUNTS, { method });
  if (!r.ok) throw new Error(`counts: ${r.status}`);
  return r.json();
}

async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const browser = await chromium.launch({ executablePath: env.RP_CHROMIUM, headless: true, args: ["--no-sandbox"] });
const errors = [];
const result = { queueTexts: [], errors };
try {
  const page = await browser.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  await counts("POST");

  // Queued, then away: leaving the lobby while queued closes the event stream.
  await page.goto(env.RP_NEXT + "/");
  await page.fill("#name", "early");
  await page.click("#sign-in");
  await page.waitForSelector("#signed-in");
  await page.click("#play");
  await page.waitForFunction(() => document.querySelector("#queue")?.textContent?.startsWith("queued: #"));
  result.queuedStreams = await until("the ticket's event stream on the server", async () => {
    const c = await counts();
    return c.sse_open === 1 ? c : null;
  }, 5000);
  const tQueuedAway = Date.now();
  await page.click("#lobby-away");
  await page.waitForSelector("#about");
  result.queuedAway = await until("no stream and no socket on the server", async () => {
    const c = await counts();
    return c.ws_open === 0 && c.sse_open === 0 ? c : null;
  }, 5000);
  result.queuedAwayMs = Date.now() - tQueuedAway;
  log(`queued, then away: the stream closed in ${result.queuedAwayMs} ms; server: ${JSON.stringify(result.queuedAway)}`);
  await page.click("#lobby");
  await counts("POST");

  // The lobby: sign in, Play, the queue's status from the event stream.
  await page.fill("#name", "nextjs");
  await page.click("#sign-in");
  result.signedIn = await (await page.waitForSelector("#signed-in")).textContent();
  log(result.signedIn);
  await page.click("#play");
  const seen = new Set();
  await until("the game page", async () => {
    const q = await page.evaluate(() => document.querySelector("#queue")?.textContent ?? null).catch(() => null);
    if (q && !seen.has(q)) (seen.add(q), log("queue:", q));
    return new URL(page.url()).pathname === "/game";
  });
  result.queueTexts = [...seen];

  // The game: playing, frames drawn, the avatar moves right.
  await page.waitForFunction(() => document.querySelector("#status")?.textContent === "playing");
  log("game page: playing");
  await page.waitForFunction(() => Number(document.querySelector("#hud")?.dataset.frames ?? 0) >= 30);
  log("game page: frames drawn");
  // Hold an arrow key and see the avatar move (a dead avatar stands still
  // until it respawns, and a wall stops it: try again, the other way).
  result.moved = 0;
  for (let i = 0; i < 20 && result.moved === 0; i++) {
    const key = i % 2 === 0 ? "ArrowRight" : "ArrowLeft";
    const x0 = Number(await page.getAttribute("#hud", "data-x"));
    await page.keyboard.down(key);
    await new Promise((r) => setTimeout(r, 400)); // hold the key
    await page.keyboard.up(key);
    await new Promise((r) => setTimeout(r, 200));
    const x1 = Number(await page.getAttribute("#hud", "data-x"));
    if (Math.abs(x1 - x0) > 1) result.moved = Math.abs(x1 - x0);
  }
  result.score = await page.textContent("#score");
  result.playing = await counts();
  log(`playing: moved ${result.moved.toFixed(1)} units; ${result.score}; server: ${JSON.stringify(result.playing)}`);

  // Away: /about is outside the provider.
  const tAway = Date.now();
  await page.click("#away");
  await page.waitForSelector("#about");
  result.away = await until("no socket and no stream on the server", async () => {
    const c = await counts();
    return c.ws_open === 0 && c.sse_open === 0 ? c : null;
  }, 5000);
  result.awayMs = Date.now() - tAway;
  log(`away: closed in ${result.awayMs} ms; server: ${JSON.stringify(result.away)}`);

  // Back: one new socket into the same seat.
  await page.click("#back");
  await page.waitForFunction(() => document.querySelector("#status")?.textContent === "playing", null, { timeout: 15000 });
  await page.waitForFunction(() => Number(document.querySelector("#hud")?.dataset.frames ?? 0) >= 30);
  result.scoreBack = await page.textContent("#score");
  result.back = await counts();
  log(`back: ${result.scoreBack}; server: ${JSON.stringify(result.back)}`);
  await page.screenshot({ path: env.RP_SCREENSHOT || "/dev/null" }).catch(() => {});
} finally {
  console.log("RESULT " + JSON.stringify(result));
  await browser.close();
}
