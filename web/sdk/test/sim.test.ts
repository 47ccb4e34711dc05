// A simulated match over a jittery network, through the whole client: the
// fake server sends a snapshot per tick, each arriving 50 ms ± 20 ms later
// (in order, as over TCP); the page draws a frame every 16.7 ms. What is
// drawn must equal the server's path at the render tick, and never move
// faster than the entity can (the "snaps" of the browser test).
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { Rallypoint } from "../src/client.js";
import { MsgType } from "../src/codec.js";
import { encodeDeltaOps, encodeKeyframeOps, type Entity, newEntity } from "../src/world.js";
import { FakeEventSource, FakeWebSocket, fakeLobby, flush, matchedTicket } from "./fakes.js";

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
  FakeWebSocket.reset();
  FakeEventSource.reset();
});
afterEach(() => vi.useRealTimers());

function rng(seed: number): () => number {
  return () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

it.each([
  ["±20 ms jitter", false],
  ["±20 ms jitter and a 400 ms stall of the page", true],
])("draws remote entities exactly on the server's path at the render tick, without snaps: %s", async (_name, stall) => {
  const lobby = fakeLobby();
  const rp = new Rallypoint({ baseUrl: "http://lobby", fetch: lobby.fetch, EventSource: FakeEventSource, WebSocket: FakeWebSocket, now: () => Date.now() });
  await rp.signInGuest("ada");
  const p = rp.play({ mode: "arena" });
  await flush();
  FakeEventSource.last().emit("matched", matchedTicket(lobby), "2");
  await flush();
  const ws = FakeWebSocket.last();
  ws.handshake({ tick: 0 });
  await p;

  const T = 1000 / 30;
  const r = rng(42);
  // entity 5 strafes at 5 units (80 quanta) per tick, turning every 24 ticks;
  // entity 6 enters the view at tick 100 and leaves at tick 200
  const truth = new Map<number, number>(); // tick -> x of entity 5, world units
  const at = (tick: number): Entity[] => {
    const leg = Math.floor(tick / 24);
    const into = tick % 24;
    const x = 4000 + (leg % 2 === 0 ? into : 24 - into) * 80;
    truth.set(tick, x / 16);
    const out = [{ ...newEntity(3), kind: 1, x: 1600, y: 1600, hp: 100, owner: 17 }, { ...newEntity(5), kind: 1, x, y: 3200, hp: 100, owner: 2 }];
    if (tick >= 100 && tick < 200) out.push({ ...newEntity(6), kind: 1, x: 8000 + tick * 16, y: 100, hp: 100, owner: 4 });
    return out;
  };
  let arrival = 0;
  let prev: Entity[] = [];
  for (let tick = 1; tick <= 400; tick++) {
    const ents = at(tick);
    const ops = tick === 1 ? encodeKeyframeOps(ents) : encodeDeltaOps(prev, ents);
    prev = ents;
    arrival = Math.max(arrival, tick * T + 50 + (r() * 40 - 20));
    // a stalled page handles the messages of the stall all at once, after it
    if (stall && arrival >= 8000 && arrival < 8400) arrival = 8400;
    const t = tick;
    setTimeout(() => ws.serverSend({ type: MsgType.Snapshot, tick: t, base: t === 1 ? 0 : t - 1, ackSeq: 0, ops }), arrival - Date.now());
  }

  let last: { t: number; x: number } | null = null;
  let frames = 0;
  let checked = 0;
  const seen6: number[] = [];
  for (let now = 0; now < 400 * T; now += 1000 / 60) {
    if (stall && now >= 8000 && now < 8400) continue; // no frames either
    vi.advanceTimersByTime(now - Date.now());
    const v = rp.frame(now);
    const e5 = v.entities.find((e) => e.id === 5);
    if (!e5) continue;
    frames++;
    const rt = v.renderTick;
    const t0 = Math.floor(rt);
    const a = truth.get(t0);
    const b = truth.get(t0 + 1);
    if (rt >= 1 && a !== undefined && b !== undefined && rt <= rp.clock!.latestTick) {
      expect(Math.abs(e5.x - (a + (b - a) * (rt - t0)))).toBeLessThan(1e-9);
      checked++;
    }
    if (last) expect(Math.abs(e5.x - last.x)).toBeLessThanOrEqual(150 * ((now - last.t) / 1000) * 1.5 + 0.5);
    last = { t: now, x: e5.x };
    const e6 = v.entities.find((e) => e.id === 6);
    if (e6) {
      seen6.push(rt);
      expect(e6.x).toBeCloseTo(500 + Math.min(rt, 199), 6); // on its path from the first frame it is drawn in (its last position is at 199)
    }
  }
  expect(frames).toBeGreaterThan(stall ? 720 : 750);
  expect(checked).toBeGreaterThan(stall ? 650 : 700);
  // drawn from its entry tick to its leaving tick, not when the snapshots arrived
  expect(Math.min(...seen6)).toBeGreaterThanOrEqual(100);
  expect(Math.max(...seen6)).toBeLessThan(200);
  expect(rp.stats.interpolationDelayMs).toBeGreaterThanOrEqual(99);
  expect(rp.stats.interpolationDelayMs).toBeLessThan(140); // a stall is one late event, it does not inflate the delay
  rp.close();
});
