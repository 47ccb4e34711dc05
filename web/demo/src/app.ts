// The Rallypoint browser demo: a lobby screen, the arena on a canvas, and
// the match-over screen, over the SDK in web/sdk/src (bundled by esbuild).
//
// The SDK owns the lobby calls, the one game socket, reconnection, the
// world mirror, interpolation and prediction. This file only moves between
// screens on the SDK's events and, each animation frame, draws the SDK's
// render view: positions never pass through DOM or framework state.
//
// Instrumentation for browser tests (web/e2e), kept exactly:
//   ?name=NAME      prefills the name      &autoplay=1  signs in and plays at once
//   &record=1       records drawn frames   &server=URL  lobby base URL (default: this origin)
//   window.__rp = { client, screen: 'lobby' | 'game' | 'over', frames }
//   frames: { t, renderTick, self: {id, x, y} | null, others: [id, x, y, flags][] } per frame, after drawing

import "./style.css";
import { EventKind, FlagDead, Rallypoint, RallypointError, type ClientState, type MatchOver } from "../../sdk/src/index";
import { Controls } from "./input";
import { Renderer, label, FIRST_BOT_PLAYER } from "./render";

type ScreenName = "lobby" | "game" | "over";

/** FrameRecord is what record=1 stores per animation frame (world units). */
export interface FrameRecord {
  t: number;
  renderTick: number;
  self: { id: number; x: number; y: number } | null;
  others: Array<[number, number, number, number]>;
}

interface RP {
  client: Rallypoint;
  screen: ScreenName;
  frames: FrameRecord[];
}

declare global {
  interface Window {
    __rp: RP;
  }
}

const MODE = "arena";
const MAX_FRAMES = 20000;
const HUD_EVERY_MS = 250;
const FIRE_COOLDOWN_MS = 400; // the arena's; for drawing own tracers while fire is held

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`demo: #${id} missing`);
  return el as T;
};

function boot(): void {
  const params = new URLSearchParams(location.search);
  const record = params.get("record") === "1";
  const server = params.get("server") || location.origin;

  const screens: Record<ScreenName, HTMLElement> = {
    lobby: $("screen-lobby"),
    game: $("screen-game"),
    over: $("screen-over"),
  };
  const form = $<HTMLFormElement>("lobby");
  const nameInput = $<HTMLInputElement>("name");
  const play = $<HTMLButtonElement>("play");
  const queue = $("queue");
  const canvas = $<HTMLCanvasElement>("arena");
  const hud = $("hud");
  const banner = $("reconnecting");
  const tbody = $("results").querySelector("tbody")!;
  const overTitle = $("over-title");
  const overReason = $("over-reason");
  const again = $<HTMLButtonElement>("again");
  const cancel = $<HTMLButtonElement>("cancel");

  const client = new Rallypoint({ baseUrl: server });
  const rp: RP = { client, screen: "lobby", frames: [] }; // frames stays empty without record=1
  window.__rp = rp;

  const renderer = new Renderer(canvas);
  const controls = new Controls(canvas);
  let playerName = "";
  let signedInAs = "";
  let queuedAt = 0;
  let queueTimer = 0;
  let lastQueueText = "";
  let cancelling = false; // the player pressed "Leave the queue"

  function show(s: ScreenName): void {
    for (const k of Object.keys(screens) as ScreenName[]) screens[k].hidden = k !== s;
    rp.screen = s;
    controls.setEnabled(s === "game");
    if (s === "game") startLoop();
    else stopLoop();
  }

  function status(text: string, error = false): void {
    queue.textContent = text;
    queue.classList.toggle("error", error);
  }

  function busy(on: boolean): void {
    play.disabled = on;
    again.disabled = on;
    nameInput.disabled = on;
  }

  // ---- lobby
  let saved = params.get("name") ?? "";
  if (!saved) {
    try {
      saved = localStorage.getItem("rallypoint.name") ?? "";
    } catch {
      // storage blocked: no prefill
    }
  }
  nameInput.value = saved;

  async function start(): Promise<void> {
    const name = nameInput.value.trim();
    if (!name) {
      show("lobby");
      status("Enter a name (1 to 24 characters).", true);
      nameInput.focus();
      return;
    }
    playerName = name;
    try {
      localStorage.setItem("rallypoint.name", name);
    } catch {
      // storage blocked: not remembering the name is fine
    }
    busy(true);
    cancelling = false;
    show("lobby");
    try {
      if (!client.session || signedInAs !== name) {
        status("Signing in…");
        await client.signInGuest(name);
        signedInAs = name;
      }
      status("Joining the queue…");
      queuedAt = performance.now();
      await client.play({ mode: MODE });
    } catch (err) {
      stopQueueTimer();
      busy(false);
      if (rp.screen !== "over") {
        show("lobby");
        // After our cancel() the SDK may end the session as "user" or, when
        // the ticket's event stream reports it first, as "cancelled".
        const by = err instanceof RallypointError ? err.reason?.by : undefined;
        if (by === "user" || (cancelling && by === "cancelled")) status("Left the queue.");
        else status(errorText(err), true);
      }
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void start();
  });
  again.addEventListener("click", () => void start());
  cancel.addEventListener("click", () => {
    cancel.disabled = true;
    cancelling = true;
    void client.cancel().finally(() => {
      cancel.disabled = false;
    });
  });
  // Closing or reloading the page gives the seat up at once instead of
  // leaving an idle avatar in the match for the grace period.
  window.addEventListener("pagehide", () => {
    const st = client.status;
    if (st === "playing" || st === "reconnecting" || st === "connecting") client.leave();
  });

  function queueText(): string {
    const st = client.state;
    if (st.status !== "queued") return lastQueueText;
    const t = st.ticket;
    const secs = Math.floor((performance.now() - queuedAt) / 1000);
    const pos = t.position ? `Queued: #${t.position} of ${t.queueLength ?? t.position}` : "Queued";
    const est = t.estimatedWaitMs ? ` · match within ${Math.max(1, Math.ceil((t.estimatedWaitMs - (performance.now() - queuedAt)) / 1000))} s` : "";
    return `${pos}${est} · waiting ${secs} s`;
  }
  function startQueueTimer(): void {
    if (queueTimer) return;
    queueTimer = window.setInterval(() => status((lastQueueText = queueText())), 250);
  }
  function stopQueueTimer(): void {
    if (queueTimer) clearInterval(queueTimer);
    queueTimer = 0;
  }

  client.on("state", (st: ClientState) => {
    banner.hidden = st.status !== "reconnecting";
    cancel.hidden = st.status !== "queued";
    switch (st.status) {
      case "queued":
        status((lastQueueText = queueText()));
        startQueueTimer();
        break;
      case "connecting":
        stopQueueTimer();
        status("Match found, joining…");
        break;
      case "playing":
        stopQueueTimer();
        busy(false);
        if (rp.screen !== "game") {
          renderer.reset();
          show("game");
        }
        break;
      case "closed":
        stopQueueTimer();
        busy(false);
        if (st.reason.by === "matchover" || rp.screen === "over") break;
        show("lobby");
        if (st.reason.by === "user" || (cancelling && st.reason.by === "cancelled")) status("Left the queue.");
        else status(`Disconnected: ${st.reason.message || st.reason.by}`, true);
        break;
      case "idle": // after cancel()
        stopQueueTimer();
        busy(false);
        show("lobby");
        break;
      case "reconnecting":
        break;
    }
  });

  // ---- game events: hit flashes and tracers, the kill feed
  // Events are not filtered by interest: remember every avatar's owner seen
  // this match, so the feed can name entities out of view.
  const owners = new Map<number, number>();
  const nameOf = (entity: number): string => {
    if (entity === client.welcome?.entity) return playerName;
    const owner = client.world.entities.get(entity)?.owner ?? owners.get(entity);
    return owner !== undefined ? label(owner, entity) : `#${entity}`;
  };
  client.on("welcome", (w) => {
    if (!w.resumed) owners.clear();
  });
  client.on("event", (ev) => {
    const now = performance.now();
    const self = client.welcome?.entity ?? 0;
    if (ev.kind === EventKind.Hit) renderer.hit(now, ev.source, ev.target, self);
    else if (ev.kind === EventKind.Kill) renderer.kill(now, `${nameOf(ev.source)} downed ${nameOf(ev.target)}`, ev.target);
    else if (ev.kind === EventKind.Respawn) renderer.respawn(now, ev.target);
  });

  client.on("matchover", (mo: MatchOver) => {
    banner.hidden = true;
    const me = client.welcome?.player ?? 0;
    const rows: HTMLTableRowElement[] = [];
    for (const r of mo.results) {
      const tr = document.createElement("tr");
      if (r.player === me) tr.className = "me";
      const rank = document.createElement("td");
      rank.textContent = String(r.rank);
      const who = document.createElement("td");
      who.textContent = r.player === me ? `${playerName} (you)` : label(r.player, r.entity);
      if (r.player >= FIRST_BOT_PLAYER) {
        const b = document.createElement("span");
        b.className = "bot";
        b.textContent = "server bot";
        who.append(b);
      }
      const score = document.createElement("td");
      score.textContent = String(r.score);
      tr.append(rank, who, score);
      rows.push(tr);
    }
    tbody.replaceChildren(...rows);
    const mine = mo.results.find((r) => r.player === me);
    const tied = mine?.rank === 1 && mo.results.some((r) => r.rank === 1 && r.player !== me);
    overTitle.textContent = !mine || mine.rank !== 1 || mine.score === 0 ? "Match over" : tied ? "Tied for first!" : "You win!";
    const why = mo.reason === "score" ? "A player reached the score limit." : mo.reason === "time" ? "Time is up." : `Ended: ${mo.reason}.`;
    overReason.textContent = why + (mine ? ` You placed ${ordinal(mine.rank)} of ${mo.results.length}.` : "");
    show("over");
    again.focus();
  });

  // ---- input: every change goes to the SDK at once; it samples per tick
  let lastShot = -Infinity;
  controls.onChange = (c) => {
    client.setInput(c);
  };

  // ---- the render loop: one draw per animation frame, from the SDK's view
  let raf = 0;
  let lastHud = 0;
  const scene = {
    now: 0,
    worldW: 1000,
    worldH: 1000,
    interest: 0,
    self: null as ReturnType<Rallypoint["frame"]>["self"],
    entities: [] as ReturnType<Rallypoint["frame"]>["entities"],
    selfName: "",
    aim: 0,
  };

  function frame(): void {
    raf = requestAnimationFrame(frame);
    // performance.now() rather than the rAF timestamp: the recorded t is
    // then exactly the time the SDK computed the drawn positions for.
    const now = performance.now();
    controls.setAnchor(renderer.anchorX, renderer.anchorY);
    const c = controls.update();
    client.setInput(c); // the aim follows the avatar even when the mouse rests
    const v = client.frame(now);
    const self = v.self;
    if (c.fire && self && !(self.flags & FlagDead) && now - lastShot >= FIRE_COOLDOWN_MS) {
      lastShot = now;
      renderer.ownShot(now, self.id, self.x, self.y, c.aim);
    }
    scene.now = now;
    scene.worldW = v.width || 1000;
    scene.worldH = v.height || 1000;
    scene.interest = v.interest;
    scene.self = self;
    scene.entities = v.others;
    for (const e of v.others) if (e.owner !== 0 && owners.get(e.id) !== e.owner) owners.set(e.id, e.owner);
    scene.selfName = playerName;
    scene.aim = c.aim;
    renderer.stickOn = controls.stick(renderer.stick);
    renderer.draw(scene);
    if (record) {
      const others: Array<[number, number, number, number]> = [];
      for (const e of v.others) others.push([e.id, e.x, e.y, e.flags]);
      rp.frames.push({ t: now, renderTick: v.renderTick, self: self ? { id: self.id, x: self.x, y: self.y } : null, others });
      if (rp.frames.length > MAX_FRAMES) rp.frames.splice(0, rp.frames.length - MAX_FRAMES);
    }
    if (now - lastHud >= HUD_EVERY_MS) {
      lastHud = now;
      hud.textContent = hudText(client, self ? self.score : 0);
    }
  }

  function startLoop(): void {
    if (!raf) raf = requestAnimationFrame(frame);
  }
  function stopLoop(): void {
    if (raf) cancelAnimationFrame(raf);
    raf = 0;
  }

  show("lobby");
  if (params.get("autoplay") === "1") void start();
  else nameInput.focus();
}

function hudText(client: Rallypoint, score: number): string {
  const s = client.stats;
  const kb = s.bytesPerSecond / 1024;
  return [
    `ping   ${s.pingMs ? Math.round(s.pingMs) + " ms" : "…"}`,
    `interp ${Math.round(s.interpolationDelayMs)} ms`,
    `tick   ${Math.floor(s.serverTick)}`,
    `down   ${s.bytesPerSecond ? kb.toFixed(kb < 10 ? 1 : 0) + " KB/s" : "…"}`,
    `players ${s.players}`,
    `score  ${score}`,
  ].join("\n");
}

function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] ?? "th";
  return `${n}${s}`;
}

function errorText(err: unknown): string {
  if (err instanceof RallypointError && err.reason) return `Could not play: ${err.reason.message || err.reason.by}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
else boot();
