// Unit tests of RallypointStore (no React, no browser): the SDK's own fakes
// of fetch, EventSource and WebSocket drive a real Rallypoint client.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MsgType, Rallypoint, encodeDeltaOps, encodeKeyframeOps, newEntity, type Entity } from "@rallypoint/sdk";
import { FakeEventSource, FakeWebSocket, fakeLobby, flush, matchedTicket, type FakeLobby } from "../../sdk/test/fakes.js";
import { RallypointStore } from "../src/store";

let lobby: FakeLobby;
let frames: Array<(now: number) => void>;
let cancelled: number[];

function store(): RallypointStore {
  const rp = new Rallypoint({
    baseUrl: "http://lobby", fetch: lobby.fetch, EventSource: FakeEventSource, WebSocket: FakeWebSocket,
    now: () => Date.now(), random: () => 0,
  });
  return new RallypointStore(rp, {
    eventLimit: 2,
    raf: (cb) => frames.push(cb),
    caf: (id) => cancelled.push(id),
  });
}

const ent = (id: number, f: Partial<Entity> = {}): Entity => ({ ...newEntity(id), kind: 1, x: 160, y: 160, hp: 100, owner: id, ...f });

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
  lobby = fakeLobby();
  FakeWebSocket.reset();
  FakeEventSource.reset();
  frames = [];
  cancelled = [];
});
afterEach(() => vi.useRealTimers());

describe("RallypointStore", () => {
  it("shares one guest sign-in between concurrent calls (StrictMode's double effect)", async () => {
    const s = store();
    const seen: Array<string | undefined> = [];
    s.subscribe("session", () => seen.push(s.getSession()?.name));
    const [a, b] = await Promise.all([s.signInGuest("ada"), s.signInGuest("ada")]);
    expect(a).toBe(b);
    expect(lobby.calls.filter((c) => c.path === "/v1/auth/guest")).toHaveLength(1);
    expect(seen).toEqual(["ada"]);
    await s.signInGuest("bob"); // signed in already: no new guest
    expect(lobby.calls.filter((c) => c.path === "/v1/auth/guest")).toHaveLength(1);
  });

  it("follows the queue: queued updates, then matched; slices change identity only when they change", async () => {
    const s = store();
    await s.signInGuest("ada");
    const q0 = s.getQueue();
    expect(q0).toEqual({ status: "none", ticket: null });
    let queueNotes = 0;
    let matchNotes = 0;
    s.subscribe("queue", () => queueNotes++);
    s.subscribe("match", () => matchNotes++);
    const p = s.client.play({ mode: "arena" });
    await flush();
    expect(s.getQueue().status).toBe("queued");
    const es = FakeEventSource.last();
    es.emit("queued", lobby.ticketJson("queued", { position: 2, queue_length: 3 }), "1");
    expect(s.getQueue().ticket?.position).toBe(2);
    const q1 = s.getQueue();
    expect(s.getQueue()).toBe(q1); // cached between changes
    es.emit("matched", matchedTicket(lobby), "2");
    await flush();
    expect(s.getQueue().status).toBe("matched");
    const ws = FakeWebSocket.last();
    ws.handshake({ entity: 3, player: 17, match: "m7" });
    await p;
    const m = s.getMatch();
    expect([m.matchId, m.entity, m.player]).toEqual(["m7", 3, 17]);
    expect(queueNotes).toBe(3);
    expect(matchNotes).toBe(1);
    // snapshots do not touch the match slice; events do (the last eventLimit = 2)
    ws.serverSend({ type: MsgType.Snapshot, tick: 1201, base: 0, ackSeq: 0, ops: encodeKeyframeOps([ent(3)]) });
    expect(s.getMatch()).toBe(m);
    for (const target of [1, 2, 3]) ws.serverSend({ type: MsgType.Event, tick: 1201, kind: 1, source: 3, target, value: 10 });
    expect(s.getMatch().events.map((e) => e.target)).toEqual([2, 3]);
    expect(matchNotes).toBe(4);
  });

  it("keeps the roster only while subscribed, and renews it only when hp, score, flags or the set change", async () => {
    const s = store();
    await s.signInGuest("ada");
    const p = s.client.play({ mode: "arena" });
    await flush();
    FakeEventSource.last().emit("matched", matchedTicket(lobby), "2");
    await flush();
    const ws = FakeWebSocket.last();
    ws.handshake({ entity: 3 });
    await p;
    const a = [ent(3), ent(4)];
    ws.serverSend({ type: MsgType.Snapshot, tick: 1201, base: 0, ackSeq: 0, ops: encodeKeyframeOps(a) });
    expect(s.getRoster()).toHaveLength(0); // nobody asked
    let notes = 0;
    const off = s.subscribe("roster", () => notes++);
    expect(s.getRoster().map((r) => [r.id, r.self])).toEqual([[3, true], [4, false]]);
    const r0 = s.getRoster();
    const moved = [ent(3, { x: 400 }), ent(4, { y: 500 })];
    ws.serverSend({ type: MsgType.Snapshot, tick: 1202, base: 1201, ackSeq: 0, ops: encodeDeltaOps(a, moved) });
    expect(s.getRoster()).toBe(r0); // moves are not roster changes
    const hurt = [ent(3, { x: 400 }), ent(4, { y: 500, hp: 50 })];
    ws.serverSend({ type: MsgType.Snapshot, tick: 1203, base: 1202, ackSeq: 0, ops: encodeDeltaOps(moved, hurt) });
    expect(s.getRoster()).not.toBe(r0);
    expect(s.getRoster()[1]?.hp).toBe(50);
    expect(notes).toBe(2); // the first computation at subscribe, then the hp change
    off();
  });

  it("runs one frame loop for every draw function and stops it when the last leaves", () => {
    const s = store();
    const frame = vi.spyOn(s.client, "frame");
    const seen: string[] = [];
    const offA = s.onFrame(() => seen.push("a"));
    const offB = s.onFrame(() => seen.push("b"));
    expect(frames).toHaveLength(1); // one requestAnimationFrame, not one per subscriber
    frames.shift()!(16);
    expect(frame).toHaveBeenCalledTimes(1);
    expect(seen).toEqual(["a", "b"]);
    expect(frames).toHaveLength(1);
    offA();
    offB();
    expect(cancelled).toHaveLength(1);
  });

  it("destroy() removes every listener it added to the client and stops the loop", () => {
    const s = store();
    const before = s.client.listenerCount;
    expect(before).toBeGreaterThan(0);
    s.onFrame(() => {});
    s.destroy();
    s.destroy();
    expect(s.client.listenerCount).toBe(0);
    expect(cancelled).toHaveLength(1);
    expect(s.isDestroyed).toBe(true);
  });
});
