// Browser play, end to end: two real Chromium pages play the demo through
// delaying proxies while internal/e2e (Go) runs the server, the proxies,
// the Go bots and an observer that records the true path of every entity.
// This script drives the pages through the phases below, records what
// they drew (window.__rp.frames with ?record=1) and what the SDK reported,
// and writes it all to $RP_OUT/raw.json; the Go test turns that into the
// play-feel figures. Screenshots go to $RP_OUT.
//
// Run by `go test ./internal/e2e` (make e2e), which sets:
//   RP_PAGE_A, RP_PAGE_B  page URLs (each through its own proxy listener)
//   RP_CTL                the Go control API (see internal/e2e/harness.go)
//   RP_OUT                where raw.json and screenshots go (web/artifacts)
//   RP_CHROMIUM           the Chromium binary
//   RP_STEADY_MS          length of each steady run (default 20000)
//   RP_SHOTS              shots of the lag-compensation run (default 40; 15 in
//                         the comparison run without rewind)
//
// Phases: join (both pages autoplay into one arena match with six Go
// bots) -> prediction probe (A presses keys while standing still) ->
// steady run with jitter (A moves, B watches) -> steady run without
// jitter -> reconnect (A's proxy cuts its sockets; A must come back to
// the same entity, with the #reconnecting banner shown meanwhile) -> lag
// compensation (B shoots strafing Go bots where its screen draws them;
// then again with viewTick 0, i.e. without rewind) -> match over (both
// pages show the results).

import { chromium } from "playwright-core";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

const env = process.env;
const PAGE_URLS = { A: env.RP_PAGE_A, B: env.RP_PAGE_B };
const CTL = env.RP_CTL;
const OUT = env.RP_OUT || "artifacts";
const STEADY_MS = Number(env.RP_STEADY_MS) || 20000;
const SHOTS = Number(env.RP_SHOTS) || 40;
const T0 = Date.now();

const log = (...a) => console.log(`e2e: [${((Date.now() - T0) / 1000).toFixed(1)}s]`, ...a);
const hold = (ms) => new Promise((r) => setTimeout(r, ms)); // how long a key is held: an action, not a wait

async function ctl(method, p) {
  const r = await fetch(CTL + p, { method });
  if (!r.ok) throw new Error(`control ${method} ${p}: ${r.status} ${await r.text()}`);
  return r.json();
}

// until polls fn until it returns a truthy value, failing after ms.
async function until(what, fn, ms = 15000, every = 50) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

// ---------------------------------------------------------------- in-page code

// installed before the demo's own scripts on every load
function initScript() {
  const e2e = {
    presses: [], // key downs: [frame count before, t, code]
    corr: [], // corrections: [t, seq, error]
    states: [], // client state changes: [t, status, frames drawn before]
    welcomes: [], // [t, entity, resumed]
    snaps: [], // snapshot arrivals: [t, tick]
    banner: [], // #reconnecting visibility changes: [t, visible, frames drawn before]
    override: false, // the test, not the keyboard, holds the input
    hooked: false,
  };
  window.__e2e = e2e;
  const nframes = () => (window.__rp && window.__rp.frames ? window.__rp.frames.length : -1);
  window.addEventListener(
    "keydown",
    (ev) => {
      if (!ev.repeat) e2e.presses.push([nframes(), performance.now(), ev.code]);
    },
    true,
  );
  // hook subscribes to the SDK client once window.__rp exists.
  e2e.hook = () => {
    if (e2e.hooked || !window.__rp || !window.__rp.client) return e2e.hooked;
    const c = window.__rp.client;
    c.on("correction", (x) => e2e.corr.push([performance.now(), x.seq, x.error]));
    c.on("state", (s) => e2e.states.push([performance.now(), s.status, nframes()]));
    c.on("welcome", (w) => e2e.welcomes.push([performance.now(), w.entity, w.resumed]));
    c.on("snapshot", (x) => e2e.snaps.push([performance.now(), x.tick]));
    // While override is on, the demo's own input calls are ignored and
    // e2e.set drives the SDK (the shooter).
    const orig = c.setInput.bind(c);
    c.setInput = (i) => {
      if (!e2e.override) orig(i);
    };
    e2e.set = orig;
    let visible = false;
    const watch = () => {
      const b = document.getElementById("reconnecting");
      const v = !!b && !b.hidden && b.checkVisibility();
      if (v !== visible) {
        visible = v;
        e2e.banner.push([performance.now(), v, nframes()]);
      }
      requestAnimationFrame(watch);
    };
    requestAnimationFrame(watch);
    e2e.hooked = true;
    return true;
  };

  // shoot fires n shots, one every gapMs at most, each at where this page
  // last drew one of the targets (alive, within range, no other avatar
  // near the line of fire), round robin. It resolves with the shots.
  //
  // With noRewind every Input of the run goes out with viewTick 0, which
  // the server judges at the present (docs/protocol.md v2: "viewTick 0
  // means no lag compensation"), exactly as with its rewind cap at 0: the
  // comparison run without lag compensation, in the same match.
  e2e.shoot = (targets, n, gapMs, range, timeoutMs, noRewind) =>
    new Promise((resolve) => {
      const frames = window.__rp.frames;
      const c = window.__rp.client;
      let unpatch = () => {};
      if (noRewind) {
        const conn = c.conn; // the SDK's one Connection (a private field)
        if (!conn || typeof conn.sendInput !== "function") throw new Error("e2e: cannot reach the SDK's connection to send viewTick 0");
        const send = conn.sendInput;
        conn.sendInput = (i) => send.call(conn, { ...i, viewTick: 0, viewFrac: 0 });
        unpatch = () => delete conn.sendInput;
      }
      const delays = [];
      const shots = [];
      let skipped = 0;
      let last = -1e9;
      let turn = 0;
      const start = performance.now();
      e2e.override = true;
      e2e.set({ dx: 0, dy: 0, fire: false });
      const clean = (f, sx, sy, tx, ty, id) => {
        const lx = tx - sx;
        const ly = ty - sy;
        const l2 = lx * lx + ly * ly;
        for (const o of f.others) {
          if (o[0] === id || o[3] & 1) continue;
          const u = Math.max(0, Math.min(1.2, ((o[1] - sx) * lx + (o[2] - sy) * ly) / l2));
          if (Math.hypot(sx + u * lx - o[1], sy + u * ly - o[2]) < 30) return false;
        }
        return true;
      };
      const step = (now) => {
        const f = frames[frames.length - 1];
        if (f && f.self) {
          const sx = f.self.x;
          const sy = f.self.y;
          let pick = null;
          for (let k = 0; k < targets.length && !pick; k++) {
            const id = targets[(turn + k) % targets.length];
            const o = f.others.find((o) => o[0] === id);
            if (!o || o[3] & 1) continue;
            const d = Math.hypot(o[1] - sx, o[2] - sy);
            if (d > range - 30 || d < 40) continue;
            if (!clean(f, sx, sy, o[1], o[2], id)) continue;
            pick = o;
          }
          if (pick) {
            const aim = Math.atan2(pick[2] - sy, pick[1] - sx);
            e2e.set({ aim });
            if (now - last >= gapMs) {
              delays.push(c.stats.interpolationDelayMs);
              e2e.set({ fire: true });
              e2e.set({ fire: false }); // latched: the next Input fires once
              shots.push({ t: now, target: pick[0], renderTick: f.renderTick, sx, sy, tx: pick[1], ty: pick[2], aim });
              last = now;
              turn++;
            }
          } else if (now - last >= gapMs) {
            skipped++;
          }
        }
        if (shots.length >= n || now - start > timeoutMs) {
          e2e.override = false;
          unpatch();
          resolve({ shots, skippedFrames: skipped, interpDelays: delays });
          return;
        }
        requestAnimationFrame(step);
      };
      requestAnimationFrame(step);
    });
}

// ---------------------------------------------------------------- helpers

const take = (page) => page.evaluate(() => (window.__e2e.snaps.splice(0), window.__rp.frames.splice(0)));
const takeSnaps = (page) => page.evaluate(() => window.__e2e.snaps.splice(0));
const takeCorr = (page) => page.evaluate(() => window.__e2e.corr.splice(0));
const statsOf = (page) => page.evaluate(() => ({ ...window.__rp.client.stats }));
const selfOf = (page) =>
  page.evaluate(() => {
    const f = window.__rp.frames;
    return f.length ? f[f.length - 1].self : null;
  });

// keysFor holds the keys for direction (dx, dy) in {-1, 0, 1}.
async function keysFor(page, held, dx, dy) {
  const want = new Set();
  if (dx > 0) want.add("ArrowRight");
  if (dx < 0) want.add("ArrowLeft");
  if (dy > 0) want.add("ArrowDown");
  if (dy < 0) want.add("ArrowUp");
  for (const k of [...held]) if (!want.has(k)) (await page.keyboard.up(k), held.delete(k));
  for (const k of want) if (!held.has(k)) (await page.keyboard.down(k), held.add(k));
}

async function stationary(page, frames = 8) {
  return page.evaluate((n) => {
    const f = window.__rp.frames;
    if (f.length < n) return false;
    const a = f[f.length - 1].self;
    if (!a) return false;
    for (let i = f.length - n; i < f.length; i++) {
      const s = f[i].self;
      if (!s || s.x !== a.x || s.y !== a.y) return false;
    }
    return true;
  }, frames);
}

// walkTo steers page's avatar to (x, y) with the arrow keys.
async function walkTo(page, x, y, within = 25, ms = 15000) {
  const held = new Set();
  try {
    await until(`walking to ${x},${y}`, async () => {
      const s = await selfOf(page);
      if (!s) return false;
      const ex = x - s.x;
      const ey = y - s.y;
      if (Math.hypot(ex, ey) <= within) return true;
      await keysFor(page, held, Math.abs(ex) > within / 2 ? Math.sign(ex) : 0, Math.abs(ey) > within / 2 ? Math.sign(ey) : 0);
      return false;
    }, ms, 30);
  } finally {
    await keysFor(page, held, 0, 0);
  }
}

// ---------------------------------------------------------------- main

async function main() {
  await mkdir(OUT, { recursive: true });
  const args = ["--disable-background-timer-throttling", "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows", "--disable-gpu", "--mute-audio"];
  if (process.getuid && process.getuid() === 0) args.push("--no-sandbox");
  const browser = await chromium.launch({ executablePath: env.RP_CHROMIUM || "/usr/bin/chromium", args });
  const out = { pages: {}, consoleErrors: [], phases: {}, checks: {} };
  const pages = {};
  try {
    for (const [name, who] of [["A", "alice"], ["B", "bob"]]) {
      const ctx = await browser.newContext({ viewport: { width: 800, height: 500 } });
      const page = await ctx.newPage();
      await page.addInitScript(initScript);
      page.on("console", (m) => {
        if (m.type() === "error") out.consoleErrors.push({ page: name, text: m.text(), location: m.location() });
      });
      page.on("pageerror", (err) => out.consoleErrors.push({ page: name, text: String(err && err.stack ? err.stack : err) }));
      pages[name] = page;
      out.pages[name] = { name: who, phases: {} };
      await page.goto(PAGE_URLS[name]);
    }
    const { A, B } = pages;

    // ---- join
    log("pages loaded; waiting for the match (two pages + six Go bots)");
    for (const [name, page] of Object.entries(pages)) {
      await until(`page ${name} hooked to the SDK`, () => page.evaluate(() => window.__e2e.hook()), 15000);
    }
    for (const [name, page] of Object.entries(pages)) {
      await until(`page ${name} queued`, () => page.evaluate(() => window.__rp.client.state.status !== "idle"), 15000, 20);
    }
    await ctl("POST", "/queued"); // the Go bots queue now (a server process starts groups 2 s after their oldest ticket)
    for (const [name, page] of Object.entries(pages)) {
      const self = await until(
        `page ${name} in the game with its avatar drawn`,
        () => page.evaluate(() => window.__rp.screen === "game" && window.__rp.frames.length > 30 && window.__rp.frames[window.__rp.frames.length - 1].self),
        45000,
      );
      out.pages[name].entity = self.id;
      await ctl("POST", `/page?name=${name}&entity=${self.id}`);
    }
    const info = await until("the Go bots in the match", async () => {
      try {
        return await ctl("GET", "/info");
      } catch {
        return null;
      }
    });
    out.info = info;
    log(`in the match: A=${out.pages.A.entity} B=${out.pages.B.entity} strafers=${info.strafers}`);
    await A.screenshot({ path: path.join(OUT, "game-A.png") });
    await B.screenshot({ path: path.join(OUT, "game-B.png") });

    // ---- prediction: frames from a key press to the own avatar moving
    log("prediction probe");
    const probes = [];
    for (let i = 0; i < 6; i++) {
      await until("A standing still", () => stationary(A), 5000, 20);
      const s = await selfOf(A);
      await take(A);
      await A.evaluate(() => window.__e2e.presses.splice(0));
      await until("A drawing after the reset", () => A.evaluate(() => window.__rp.frames.length >= 2 && window.__rp.frames[window.__rp.frames.length - 1].self), 5000, 5);
      const key = s.x < 500 ? "ArrowRight" : "ArrowLeft";
      await A.keyboard.down(key);
      await hold(200);
      await A.keyboard.up(key);
      await hold(100);
      const frames = await take(A);
      const presses = await A.evaluate(() => window.__e2e.presses.splice(0));
      probes.push({ key, press: presses.length ? presses[0][0] : -1, frames });
    }
    out.prediction = probes;

    // ---- steady runs: A moves on the keyboard, B watches
    const steady = async (label, jitterMs) => {
      for (const p of ["A", "B"]) await ctl("POST", `/net?page=${p}&delay_ms=50&jitter_ms=${jitterMs}`);
      log(`steady run ${label}: ${STEADY_MS} ms, jitter ±${jitterMs} ms`);
      await take(A);
      await take(B);
      await takeCorr(A);
      await ctl("POST", `/mark?name=${label}_begin`);
      const end = Date.now() + STEADY_MS;
      const held = new Set();
      const dirs = [[1, 0], [1, 1], [0, 1], [-1, 1], [-1, 0], [-1, -1], [0, -1], [1, -1]];
      for (let k = 0; Date.now() < end; k++) {
        const s = await selfOf(A);
        let [dx, dy] = dirs[(k * 3) % 8];
        if (s) {
          if (s.x < 200) dx = 1;
          if (s.x > 800) dx = -1;
          if (s.y < 200) dy = 1;
          if (s.y > 800) dy = -1;
        }
        await keysFor(A, held, dx, dy);
        await hold(Math.min(350 + (k % 4) * 150, Math.max(0, end - Date.now())));
      }
      await keysFor(A, held, 0, 0);
      await ctl("POST", `/mark?name=${label}_end`);
      out.phases[label] = {
        jitterMs,
        A: { snaps: await takeSnaps(A), frames: await take(A), corrections: await takeCorr(A), stats: await statsOf(A) },
        B: { snaps: await takeSnaps(B), frames: await take(B), stats: await statsOf(B) },
      };
    };
    await steady("steady_jitter", 20);
    await steady("steady_nojitter", 0);
    for (const p of ["A", "B"]) await ctl("POST", `/net?page=${p}&delay_ms=50&jitter_ms=20`);

    // ---- reconnect: cut A's sockets; A must come back to the same seat
    log("reconnect: cutting A");
    await take(A);
    const t0 = await A.evaluate(() => {
      window.__e2e.states.splice(0);
      window.__e2e.welcomes.splice(0);
      window.__e2e.banner.splice(0);
      return performance.now();
    });
    const cut = await ctl("POST", "/cut?page=A");
    let shot = false;
    const back = await until(
      "A back in the game after the cut",
      async () => {
        const st = await A.evaluate(() => ({
          banner: window.__e2e.banner.slice(),
          states: window.__e2e.states.slice(),
          welcomes: window.__e2e.welcomes.slice(),
          screen: window.__rp.screen,
        }));
        if (!shot && st.banner.some((b) => b[1])) {
          shot = true;
          await A.screenshot({ path: path.join(OUT, "reconnecting-A.png") });
        }
        const hidden = st.banner.length >= 2 && st.banner[0][1] && !st.banner[st.banner.length - 1][1];
        const playing = st.states.findLast((s) => s[1] === "playing");
        return hidden && playing && st.welcomes.length ? { ...st, playing } : null;
      },
      20000,
      20,
    );
    const frames = await until("A drawing itself again", async () => {
      const fs = await A.evaluate(() => window.__rp.frames.slice());
      const i = fs.findIndex((f, k) => k >= back.playing[2] && f.self);
      return i >= 0 ? fs.slice(i) : null;
    });
    out.reconnect = {
      cutAt: t0,
      cut: cut.cut,
      banner: back.banner,
      states: back.states,
      welcomes: back.welcomes,
      firstFrame: frames[0],
      ms: frames[0].t - t0,
    };
    log(`reconnect: ${out.reconnect.ms.toFixed(0)} ms, entity ${frames[0].self.id} (was ${out.pages.A.entity})`);
    // A moves again and B sees it move
    await take(B);
    await keysFor(A, new Set(), 0, 0);
    await A.keyboard.down("ArrowDown");
    await hold(600);
    await A.keyboard.up("ArrowDown");
    await A.keyboard.down("ArrowUp");
    await hold(600);
    await A.keyboard.up("ArrowUp");
    await hold(300);
    out.phases.after_reconnect = { B: { frames: await take(B) } };
    await A.screenshot({ path: path.join(OUT, "after-reconnect-A.png") });

    // ---- lag compensation: B shoots the strafers where it draws them
    log("lag compensation: B walks to the middle, the strafers gather");
    await walkTo(B, 500, 500);
    await ctl("POST", `/shooter?entity=${out.pages.B.entity}`);
    await until(
      "the strafers around B",
      () =>
        B.evaluate((ids) => {
          const f = window.__rp.frames[window.__rp.frames.length - 1];
          if (!f || !f.self) return false;
          let n = 0;
          for (const o of f.others) if (ids.includes(o[0]) && Math.abs(Math.hypot(o[1] - f.self.x, o[2] - f.self.y) - 150) < 70) n++;
          return n >= 2;
        }, info.strafers),
      15000,
    );
    const lagcomp = async (label, n, noRewind) => {
      await take(B);
      await ctl("POST", `/mark?name=${label}_begin`);
      const r = await B.evaluate(([ids, n, off]) => window.__e2e.shoot(ids, n, 500, 300, 60000, off), [info.strafers, n, noRewind]);
      // the last shot is judged within a round trip and a tick: mark the
      // end once the observer has seen half a second more
      const after = await ctl("GET", "/info");
      const end = await until("the last shot judged", async () => {
        const i = await ctl("GET", "/info");
        return i.tick >= after.tick + info.hz / 2 && i;
      });
      await ctl("POST", `/mark?name=${label}_end`);
      out.phases[label] = { shots: r.shots, skippedFrames: r.skippedFrames, interpDelays: r.interpDelays, noRewind, frames: await take(B), endTick: end.tick, stats: await statsOf(B) };
      log(`${label}: ${r.shots.length} shots`);
    };
    await lagcomp("lagcomp_rewind", SHOTS, false);
    // B's kills count towards the score limit (10): at most 40 + 15 shots,
    // and without rewind few of them hit.
    try {
      await lagcomp("lagcomp_norewind", Math.ceil(SHOTS * 0.375), true);
    } catch (err) {
      // a comparison only: its failure is reported, not fatal
      out.norewindError = String(err && err.message ? err.message : err);
      log(`the run without rewind failed: ${out.norewindError}`);
      await B.evaluate(() => (window.__e2e.override = false));
    }
    await ctl("POST", "/shooter?entity=0");

    // ---- match over: both pages show the results
    log("waiting for the match to end");
    for (const [name, page] of Object.entries(pages)) {
      await until(`page ${name} showing the results`, () => page.evaluate(() => window.__rp.screen === "over" && document.querySelectorAll("#results tbody tr").length), 150000, 200);
      out.pages[name].results = await page.evaluate(() => [...document.querySelectorAll("#results tbody tr")].map((tr) => tr.innerText));
      out.pages[name].resultsVisible = await page.locator("#results").isVisible();
      await page.screenshot({ path: path.join(OUT, `results-${name}.png`) });
    }
    log("match over on both pages");
  } catch (err) {
    // what each page looked like when it went wrong
    for (const [name, page] of Object.entries(pages)) {
      try {
        await page.screenshot({ path: path.join(OUT, `failed-${name}.png`) });
        const st = await page.evaluate(() => ({
          screen: window.__rp && window.__rp.screen,
          state: window.__rp && window.__rp.client && window.__rp.client.state,
          queue: (document.getElementById("queue") || {}).textContent,
          frames: window.__rp && window.__rp.frames.length,
        }));
        log(`page ${name} at the failure: ${JSON.stringify(st)}`);
      } catch (e) {
        log(`page ${name}: no state (${e.message})`);
      }
    }
    for (const e of out.consoleErrors) log(`console error on ${e.page}: ${e.text}`);
    throw err;
  } finally {
    await writeFile(path.join(OUT, "raw.json"), JSON.stringify(out));
    await browser.close();
  }
  log("done");
}

main().catch((err) => {
  console.error("e2e: FAILED:", err && err.stack ? err.stack : err);
  process.exit(1);
});
