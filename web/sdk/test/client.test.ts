import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type ClientState, Rallypoint, type RallypointOptions, type Status, Transitions } from "../src/client.js";
import { MsgType } from "../src/codec.js";
import { PermanentCloseCodes } from "../src/connection.js";
import { arenaStep } from "../src/movement.js";
import { encodeKeyframeOps, encodeDeltaOps, type Entity, newEntity } from "../src/world.js";
import { FakeEventSource, FakeWebSocket, fakeLobby, type FakeLobby, flush, json, matchedTicket } from "./fakes.js";

let lobby: FakeLobby;
/** Every status change of every client of a test, checked against Transitions after it. */
let transitions: Array<[string, string]> = [];

function client(o: Partial<RallypointOptions> = {}): Rallypoint {
  const rp = new Rallypoint({
    baseUrl: "http://lobby",
    fetch: lobby.fetch,
    EventSource: FakeEventSource,
    WebSocket: FakeWebSocket,
    now: () => Date.now(),
    random: () => 0,
    ...o,
  });
  let from: string = rp.status;
  rp.on("state", (st) => {
    transitions.push([from, st.status]);
    from = st.status;
  });
  return rp;
}

const me = (x: number, y: number, f: Partial<Entity> = {}): Entity => ({ ...newEntity(3), kind: 1, x: x * 16, y: y * 16, hp: 100, owner: 17, ...f });

/** joined: signed in, queued, matched and welcomed; returns the socket. */
async function joined(rp: Rallypoint, w = {}): Promise<FakeWebSocket> {
  await rp.signInGuest("ada");
  const p = rp.play({ mode: "arena" });
  await flush();
  FakeEventSource.last().emit("matched", matchedTicket(lobby), "2");
  await flush();
  const ws = FakeWebSocket.last();
  ws.handshake(w);
  await p;
  return ws;
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
  lobby = fakeLobby();
  FakeWebSocket.reset();
  FakeEventSource.reset();
});
afterEach(() => {
  vi.useRealTimers();
  const seen = transitions;
  transitions = [];
  for (const [a, b] of seen) expect(Transitions[a as Status], `${a} -> ${b}`).toContain(b);
});

describe("Rallypoint: play", () => {
  it("signs in, queues over SSE, connects, and says Hello with the assignment's token", async () => {
    const rp = client();
    const states: string[] = [];
    rp.on("state", (s) => states.push(s.status));
    const queue: number[] = [];
    rp.on("queue", (t) => queue.push(t.position ?? -1));
    await rp.signInGuest("ada");
    expect(rp.session?.playerId).toBe(17);
    const p = rp.play({ mode: "arena", rating: 1600 });
    await flush();
    expect(lobby.calls.find((c) => c.path === "/v1/tickets")).toMatchObject({ method: "POST", auth: "Bearer sess1", body: { mode: "arena", rating: 1600 } });
    expect(rp.status).toBe("queued");
    const es = FakeEventSource.last();
    expect(es.url).toBe("http://lobby/v1/tickets/t1/events");
    es.emit("queued", lobby.ticketJson("queued", { position: 2, queue_length: 3 }), "1");
    es.emit("matched", matchedTicket(lobby), "2");
    expect(es.closed).toBe(true);
    await flush();
    const ws = FakeWebSocket.last();
    expect(ws.url).toBe("ws://x/v1/ws?match=m7");
    expect(ws.binaryType).toBe("arraybuffer");
    expect(rp.status).toBe("connecting");
    ws.serverOpen();
    expect(ws.sent[0]).toEqual({ type: MsgType.Hello, version: 2, token: "first" });
    ws.serverSend({ type: MsgType.Welcome, version: 2, player: 17, entity: 3, match: "m7", mode: "arena", hz: 30, tick: 1200,
      lastSeq: 0, resumed: false, width: 1000, height: 1000, interest: 300, posScale: 16 });
    await expect(p).resolves.toMatchObject({ entity: 3, hz: 30 });
    expect(states).toEqual(["queued", "queued", "connecting", "playing"]);
    expect(queue).toEqual([1, 2]);
    rp.close();
  });

  it("a second play() returns the same promise and never opens a second socket", async () => {
    const rp = client();
    await rp.signInGuest("ada");
    const a = rp.play({ mode: "arena" });
    const b = rp.play({ mode: "arena" });
    expect(b).toBe(a);
    await flush();
    FakeEventSource.last().emit("matched", matchedTicket(lobby), "2");
    await flush();
    FakeWebSocket.last().handshake();
    await a;
    expect(rp.play({ mode: "arena" })).toBe(a);
    await flush();
    expect(lobby.calls.filter((c) => c.path === "/v1/tickets").length).toBe(1);
    expect(FakeWebSocket.instances.length).toBe(1);
    expect(FakeEventSource.instances.length).toBe(1);
    rp.close();
  });

  it("rejoins the held seat when the lobby says already_in_match", async () => {
    lobby.routes.set("POST /v1/tickets", () =>
      json(409, { error: { code: "already_in_match", message: "player already in a match: seated in m7; reconnect with POST /v1/matches/m7/token" } }));
    const rp = client();
    await rp.signInGuest("ada");
    const p = rp.play({ mode: "arena" });
    await flush();
    expect(FakeEventSource.instances.length).toBe(0);
    expect(lobby.calls.some((c) => c.path === "/v1/matches/m7/token")).toBe(true);
    FakeWebSocket.last().handshake({ resumed: true, lastSeq: 40 });
    await expect(p).resolves.toMatchObject({ resumed: true });
    rp.close();
  });

  it("after a reload: resumeSession(refreshToken) and rejoin(matchId) get back into the held seat", async () => {
    const rp = client();
    const s = await rp.resumeSession("stored-refresh");
    expect(lobby.calls[0]).toMatchObject({ path: "/v1/auth/refresh", body: { refresh_token: "stored-refresh" } });
    expect(rp.session).toBe(s);
    const p = rp.rejoin("m7");
    expect(rp.rejoin("m7")).toBe(p);
    await flush();
    expect(lobby.calls.at(-1)).toMatchObject({ method: "POST", path: "/v1/matches/m7/token", auth: `Bearer ${s.sessionToken}` });
    FakeWebSocket.last().handshake({ resumed: true, lastSeq: 12 });
    await expect(p).resolves.toMatchObject({ resumed: true });
    expect(rp.matchId).toBe("m7");
    expect(FakeWebSocket.instances.length).toBe(1);
    rp.close();
  });

  it("cancel() deletes the ticket and returns to idle; play() rejects", async () => {
    const rp = client();
    await rp.signInGuest("ada");
    const p = rp.play({ mode: "arena" });
    await flush();
    const es = FakeEventSource.last();
    await expect(rp.cancel()).resolves.toBe(true);
    expect(lobby.calls.some((c) => c.method === "DELETE" && c.path === "/v1/tickets/t1")).toBe(true);
    expect(rp.status).toBe("idle");
    expect(es.closed).toBe(true);
    await expect(p).rejects.toMatchObject({ kind: "closed" });
    expect(vi.getTimerCount()).toBe(0);
    rp.close();
  });

  it("cancel() and leave() while the ticket is still being created cancel it once it exists", async () => {
    for (const how of ["cancel", "leave"] as const) {
      let release!: () => void;
      lobby.routes.set("POST /v1/tickets", () => new Promise<Response>((r) => (release = () => r(json(201, lobby.ticketJson("queued"))))));
      const rp = client();
      await rp.signInGuest("ada");
      const p = rp.play({ mode: "arena" });
      await flush();
      if (how === "cancel") {
        await expect(rp.cancel()).resolves.toBe(true);
        expect(rp.status).toBe("idle");
      } else {
        rp.leave();
        expect(rp.state).toMatchObject({ status: "closed", reason: { by: "user" } });
      }
      await expect(p).rejects.toMatchObject({ kind: "closed" });
      release();
      await flush();
      expect(FakeEventSource.instances.length).toBe(0);
      expect(lobby.calls.filter((c) => c.method === "DELETE").length).toBe(1);
      lobby.calls.length = 0;
      rp.close();
    }
  });

  it("close() after the server ended the session keeps its reason and rejects a pending play()", async () => {
    const rp = client();
    const ws = await joined(rp);
    ws.serverClose(4009);
    expect(rp.state).toMatchObject({ status: "closed", reason: { by: "server", code: 4009 } });
    const sources = FakeEventSource.instances.length;
    const p = rp.play({ mode: "arena" }); // a new session, ticket on its way
    const states: string[] = [];
    rp.on("state", (s) => states.push(s.status));
    rp.close();
    await expect(p).rejects.toMatchObject({ kind: "closed" });
    expect(rp.state).toMatchObject({ status: "closed", reason: { code: 4009 } });
    expect(states).toEqual([]);
    await flush();
    expect(FakeEventSource.instances.length).toBe(sources);
    expect(lobby.calls.at(-1)).toMatchObject({ method: "DELETE" });
  });

  it("an expired ticket ends the session", async () => {
    const rp = client();
    await rp.signInGuest("ada");
    const p = rp.play({ mode: "arena" });
    await flush();
    FakeEventSource.last().emit("expired", lobby.ticketJson("expired"), "2");
    await expect(p).rejects.toMatchObject({ reason: { by: "expired" } });
    expect(rp.state).toMatchObject({ status: "closed", reason: { by: "expired" } });
    // a new session may start after closed
    const q = rp.play({ mode: "arena" });
    await flush();
    expect(rp.status).toBe("queued");
    rp.close();
    await expect(q).rejects.toBeTruthy();
  });
});

describe("Rallypoint: inputs", () => {
  it("sends exactly one Input per tick from the client clock, numbered from lastSeq + 1", async () => {
    const rp = client();
    const ws = await joined(rp, { lastSeq: 41 });
    rp.setInput({ dx: 0.1, dy: -1, aim: 1.5 });
    vi.advanceTimersByTime(1000);
    const ins = ws.inputs();
    // the first at the first pump, then one per 33.3 ms
    expect(ins.length).toBe(30);
    ins.forEach((m, i) => expect(m.seq).toBe(42 + i));
    expect(ins[5]).toMatchObject({ dx: Math.fround(0.1), dy: -1, aim: 1.5, buttons: 0 });
    // frames in between do not add Inputs
    for (let i = 0; i < 10; i++) rp.frame(Date.now());
    expect(ws.inputs().length).toBe(30);
    rp.close();
  });

  it("acks the last snapshot and carries the render tick as viewTick/viewFrac", async () => {
    const rp = client();
    const ws = await joined(rp);
    for (let t = 1201; t <= 1230; t++) {
      ws.serverSend({ type: MsgType.Snapshot, tick: t, base: t === 1201 ? 0 : t - 1, ackSeq: 0,
        ops: t === 1201 ? encodeKeyframeOps([me(100, 100)]) : new Uint8Array(0) });
      vi.advanceTimersByTime(33);
    }
    const last = ws.inputs().at(-1)!;
    expect(last.ack).toBe(1230);
    const rt = rp.frame(Date.now()).renderTick;
    expect(last.viewTick).toBeGreaterThan(1220);
    expect(last.viewTick).toBeLessThanOrEqual(Math.ceil(rt));
    expect(last.viewFrac).toBeGreaterThanOrEqual(0);
    expect(last.viewFrac).toBeLessThanOrEqual(255);
    rp.close();
  });

  it("viewTick/viewFrac are the render tick of the frame on screen when the input was sampled", async () => {
    const rp = client();
    const ws = await joined(rp);
    for (let t = 1201; t <= 1220; t++) {
      ws.serverSend({ type: MsgType.Snapshot, tick: t, base: t === 1201 ? 0 : t - 1, ackSeq: 0,
        ops: t === 1201 ? encodeKeyframeOps([me(100, 100)]) : new Uint8Array(0) });
      vi.advanceTimersByTime(33);
    }
    const v = rp.frame(Date.now());
    const rt = v.renderTick;
    rp.setInput({ dx: 1, fire: true });
    vi.advanceTimersByTime(34); // the timer samples (one tick boundary) before the next frame
    const last = ws.inputs().at(-1)!;
    expect(last.buttons).toBe(1);
    expect(last.viewTick).toBe(Math.floor(rt));
    expect(last.viewFrac).toBe(Math.min(255, Math.round((rt - Math.floor(rt)) * 256)));
    rp.close();
  });

  it("a key press moves the avatar on the very next frame", async () => {
    const rp = client();
    const ws = await joined(rp);
    ws.serverSend({ type: MsgType.Snapshot, tick: 1201, base: 0, ackSeq: 1, ops: encodeKeyframeOps([me(100, 100)]) });
    vi.advanceTimersByTime(5); // just after a tick boundary
    const before = rp.frame(Date.now()).self!.x;
    expect(before).toBe(100);
    const sent = ws.inputs().length;
    rp.setInput({ dx: 1 });
    vi.advanceTimersByTime(1); // not at the next boundary (28 ms away)
    const v = rp.frame(Date.now());
    expect(ws.inputs().length).toBe(sent + 1); // sampled early, at once
    expect(ws.inputs().at(-1)!.dx).toBe(1);
    expect(v.self!.x).toBeGreaterThan(100);
    // the logical prediction is exact: one tick of 5 units
    expect(rp.predictor!.pos.x).toBe(105);
    // the consumed boundary is not sampled again: still one Input per tick over a second
    vi.advanceTimersByTime(1000);
    expect(ws.inputs().length).toBeGreaterThanOrEqual(sent + 29);
    expect(ws.inputs().length).toBeLessThanOrEqual(sent + 30);
    rp.close();
  });

  it("runs the input clock 3% slow while Inputs wait long in the server's buffer", async () => {
    const rp = client();
    const ws = await joined(rp);
    let tick = 1201;
    let server = me(100, 100);
    ws.serverSend({ type: MsgType.Snapshot, tick, base: 0, ackSeq: 0, ops: encodeKeyframeOps([server]) });
    // Pong at once (round trip ~0), but each Input acked only 4 ticks after it was sent
    const step = () => {
      vi.advanceTimersByTime(1000 / 30);
      for (const m of ws.sent.splice(0)) {
        if (m.type === MsgType.Ping) ws.serverSend({ type: MsgType.Pong, time: m.time, tick });
        else ws.sent.push(m);
      }
      const ins = ws.inputs();
      const acked = ins.length > 4 ? ins[ins.length - 5]!.seq : 0;
      tick++;
      ws.serverSend({ type: MsgType.Snapshot, tick, base: tick - 1, ackSeq: acked, ops: new Uint8Array(0) });
    };
    for (let i = 0; i < 60; i++) step();
    expect(rp.stats.inputWaitMs).toBeGreaterThan(100);
    expect(rp.stats.inputRate).toBe(0.97);
    const before = ws.inputs().length;
    for (let i = 0; i < 300; i++) step(); // 10 s
    const sent = ws.inputs().length - before;
    expect(sent).toBeGreaterThanOrEqual(289);
    expect(sent).toBeLessThanOrEqual(292); // 3% fewer than 300
    rp.close();
  });

  it("measures the view lag and caps the delay's jitter growth to the server's rewind window", async () => {
    const rp = client();
    const ws = await joined(rp);
    let tick = 1200;
    const run = (n: number, behind: number) => {
      for (let i = 0; i < n; i++) {
        tick++;
        const ins = ws.inputs();
        const acked = ins.length > behind ? ins[ins.length - 1 - behind]!.seq : 0;
        ws.serverSend({ type: MsgType.Snapshot, tick, base: tick === 1201 ? 0 : tick - 1, ackSeq: acked,
          ops: tick === 1201 ? encodeKeyframeOps([me(1, 1)]) : new Uint8Array(0) });
        rp.frame(Date.now());
        vi.advanceTimersByTime(1000 / 30);
      }
    };
    // Inputs applied 9 ticks after they are sent: the view lag is the delay (100 ms) plus 300 ms
    run(150, 9);
    expect(rp.stats.viewLagMs).toBeGreaterThan(380);
    expect(rp.stats.viewLagMs).toBeLessThan(450);
    expect(rp.clock!.maxDelayMs).toBeLessThan(100); // no room for any growth
    expect(rp.clock!.targetDelayMs(Date.now())).toBeCloseTo(100, 6); // but never below three intervals
    // applied at once: room again
    run(150, 0);
    expect(rp.stats.viewLagMs).toBeLessThan(150);
    expect(rp.clock!.maxDelayMs).toBeGreaterThan(150);
    rp.close();
  });

  it("latches a fire tap shorter than a tick", async () => {
    const rp = client();
    const ws = await joined(rp);
    vi.advanceTimersByTime(5);
    rp.setInput({ fire: true });
    rp.setInput({ fire: false });
    vi.advanceTimersByTime(40);
    const fired = ws.inputs().filter((m) => m.buttons & 1);
    expect(fired.length).toBe(1);
    rp.close();
  });
});

describe("Rallypoint: world, prediction, stats", () => {
  it("reconciles on every snapshot and emits correction (0 when exact)", async () => {
    const rp = client();
    const ws = await joined(rp);
    const corrections: Array<{ seq: number; error: number }> = [];
    rp.on("correction", (c) => corrections.push(c));
    // a fake server: applies each acknowledged Input once, with the same movement function
    const pos = { x: 100, y: 100 };
    let acked = 0;
    let server = me(pos.x, pos.y);
    const ack = (upTo: number) => {
      for (const m of ws.inputs()) if (m.seq > acked && m.seq <= upTo) arenaStep(pos, m.dx, m.dy, { hz: 30, width: 1000, height: 1000 });
      acked = upTo;
    };
    ws.serverSend({ type: MsgType.Snapshot, tick: 1201, base: 0, ackSeq: 0, ops: encodeKeyframeOps([server]) });
    let tick = 1201;
    for (let i = 0; i < 12; i++) {
      if (i === 2) rp.setInput({ dx: 1, dy: 0.3 });
      if (i === 6) rp.setInput({ dx: -0.5 });
      vi.advanceTimersByTime(34);
      ack(ws.inputs().at(-1)!.seq - 1); // one Input still in flight
      const next = me(pos.x, pos.y);
      ws.serverSend({ type: MsgType.Snapshot, tick: tick + 1, base: tick, ackSeq: acked, ops: encodeDeltaOps([server], [next]) });
      server = next;
      tick++;
      rp.frame(Date.now());
    }
    expect(corrections.length).toBe(13);
    expect(corrections.every((c) => c.error === 0)).toBe(true);
    expect(server.x).not.toBe(100 * 16);
    // a server that disagrees: the correction is reported, the logical state jumps, the drawn one is smoothed
    ack(ws.inputs().at(-1)!.seq);
    const off = me(pos.x - 2, pos.y);
    ws.serverSend({ type: MsgType.Snapshot, tick: tick + 1, base: tick, ackSeq: acked, ops: encodeDeltaOps([server], [off]) });
    expect(corrections.at(-1)!.error).toBeCloseTo(2, 6);
    expect(rp.predictor!.pos.x).toBe(off.x / 16);
    expect(rp.predictor!.offset.x).toBeCloseTo(2, 6);
    rp.close();
  });

  it("counts players and bytes, measures ping from Pong", async () => {
    const rp = client();
    const ws = await joined(rp);
    ws.serverSend({ type: MsgType.Snapshot, tick: 1201, base: 0, ackSeq: 0,
      ops: encodeKeyframeOps([me(1, 1), { ...newEntity(5), kind: 1 }, { ...newEntity(9), kind: 2 }]) });
    expect(rp.stats.players).toBe(2);
    const ping = ws.sent.find((m) => m.type === MsgType.Ping) as { time: number };
    vi.advanceTimersByTime(40);
    ws.serverSend({ type: MsgType.Pong, time: ping.time, tick: 1202 });
    expect(rp.stats.pingMs).toBe(40);
    vi.advanceTimersByTime(1000);
    expect(rp.stats.bytesPerSecond).toBeGreaterThan(0);
    rp.close();
  });

  it("frame() reuses its view and entity objects", async () => {
    const rp = client();
    const ws = await joined(rp);
    ws.serverSend({ type: MsgType.Snapshot, tick: 1201, base: 0, ackSeq: 0,
      ops: encodeKeyframeOps([me(1, 1), { ...newEntity(5), kind: 1, x: 160 }]) });
    const a = rp.frame(Date.now());
    const e0 = a.entities[0];
    const others = a.others;
    vi.advanceTimersByTime(16);
    const b = rp.frame(Date.now());
    expect(b).toBe(a);
    expect(b.entities[0]).toBe(e0);
    expect(b.others).toBe(others);
    expect(b.others.map((e) => e.id)).toEqual([5]);
    expect(b.self!.id).toBe(3);
    rp.close();
  });
});

describe("Rallypoint: reconnection", () => {
  it("resumes the same seat with a fresh token after a drop, with backoff", async () => {
    const rp = client();
    const ws = await joined(rp);
    const states: ClientState[] = [];
    rp.on("state", (s) => states.push(s));
    vi.advanceTimersByTime(100);
    ws.serverClose(1006);
    expect(rp.state).toMatchObject({ status: "reconnecting", attempt: 1, delayMs: 100, code: 1006 });
    expect(vi.getTimerCount()).toBe(1); // only the backoff timer: no input or ping timers while down
    vi.advanceTimersByTime(99);
    expect(FakeWebSocket.instances.length).toBe(1);
    vi.advanceTimersByTime(1);
    await flush();
    expect(lobby.calls.at(-1)).toMatchObject({ method: "POST", path: "/v1/matches/m7/token" });
    const ws2 = FakeWebSocket.last();
    expect(ws2).not.toBe(ws);
    ws2.handshake({ resumed: true, lastSeq: 3 });
    expect(ws2.sent[0]).toMatchObject({ type: MsgType.Hello, token: expect.stringMatching(/^sock/) });
    expect(rp.status).toBe("playing");
    vi.advanceTimersByTime(20);
    expect(ws2.inputs()[0]!.seq).toBe(4);
    expect(states.map((s) => s.status)).toEqual(["reconnecting", "playing"]);
    rp.close();
  });

  it("after a resume keeps predicting the Inputs up to lastSeq and drops the later ones", async () => {
    const rp = client();
    const ws = await joined(rp);
    ws.serverSend({ type: MsgType.Snapshot, tick: 1201, base: 0, ackSeq: 0, ops: encodeKeyframeOps([me(100, 100)]) });
    rp.setInput({ dx: 1 });
    vi.advanceTimersByTime(160); // Inputs 1..5, all dx 1
    expect(ws.inputs().map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(rp.predictor!.pos.x).toBe(125);
    ws.serverClose(1006);
    vi.advanceTimersByTime(100);
    await flush();
    const ws2 = FakeWebSocket.last();
    ws2.handshake({ resumed: true, lastSeq: 4 }); // 5 was lost; 3 and 4 are still waiting on the server
    // the keyframe: Inputs 1 and 2 applied
    const corrections: number[] = [];
    rp.on("correction", (c) => corrections.push(c.error));
    ws2.serverSend({ type: MsgType.Snapshot, tick: 1210, base: 0, ackSeq: 2, ops: encodeKeyframeOps([me(110, 100)]) });
    expect(rp.predictor!.pos.x).toBe(120); // 110 + Inputs 3 and 4
    expect(corrections).toEqual([5]); // Input 5 is gone
    vi.advanceTimersByTime(20);
    expect(ws2.inputs()[0]!.seq).toBe(5);
    rp.close();
  });

  it("backs off exponentially with jitter up to 5 s and stops at the grace period", async () => {
    let r = 0;
    const rp = client({ random: () => r });
    await joined(rp);
    const delays: number[] = [];
    rp.on("state", (s) => {
      if (s.status === "reconnecting") delays.push(s.delayMs);
    });
    FakeWebSocket.last().serverClose(1006);
    for (let i = 0; i < 12 && rp.status === "reconnecting"; i++) {
      vi.advanceTimersByTime(delays.at(-1)!);
      await flush();
      FakeWebSocket.last().serverClose(1006); // every attempt fails
      r = r === 0 ? 1 : 0;
    }
    // random 0: full delay; random 1: half of it
    expect(delays.slice(0, 8)).toEqual([100, 200, 200, 800, 800, 3200, 2500, 5000]);
    expect(rp.state).toMatchObject({ status: "closed", reason: { by: "grace" } });
    const total = delays.reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(30000);
    expect(vi.getTimerCount()).toBe(0);
    rp.close();
  });

  it.each([...PermanentCloseCodes])("never reconnects after close code %i", async (code) => {
    const rp = client();
    const ws = await joined(rp);
    const errors: unknown[] = [];
    rp.on("error", (e) => errors.push(e));
    if (code !== 1000) ws.serverSend({ type: MsgType.Error, code, message: "nope" });
    ws.serverClose(code, "nope");
    expect(rp.state).toMatchObject({ status: "closed", reason: { by: "server", code } });
    if (code !== 1000) expect(errors.length).toBe(1);
    vi.advanceTimersByTime(60000);
    await flush();
    expect(FakeWebSocket.instances.length).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
    rp.close();
  });

  it.each([1001, 1006, 1011, 1013, 4002, 4005, 4008, 4013])("reconnects after close code %i", async (code) => {
    const rp = client();
    const ws = await joined(rp);
    ws.serverClose(code);
    expect(rp.status).toBe("reconnecting");
    vi.advanceTimersByTime(100);
    await flush();
    expect(FakeWebSocket.instances.length).toBe(2);
    rp.close();
  });

  it("falls back to protocol version 1 when the server refuses version 2 (4004), once", async () => {
    const rp = client();
    await rp.signInGuest("ada");
    const p = rp.play({ mode: "arena" });
    await flush();
    FakeEventSource.last().emit("matched", matchedTicket(lobby), "2");
    await flush();
    const ws = FakeWebSocket.last();
    ws.serverOpen();
    expect(ws.sent[0]).toMatchObject({ version: 2 });
    ws.serverSend({ type: MsgType.Error, code: 4004, message: "unsupported protocol version 2; this server speaks 1 to 1" });
    ws.serverClose(4004);
    expect(rp.status).toBe("reconnecting");
    vi.advanceTimersByTime(100);
    await flush();
    const ws2 = FakeWebSocket.last();
    ws2.serverOpen();
    expect(ws2.sent[0]).toMatchObject({ type: MsgType.Hello, version: 1 });
    ws2.serverClose(4004);
    expect(rp.state).toMatchObject({ status: "closed", reason: { by: "server", code: 4004 } });
    await expect(p).rejects.toBeTruthy();
    rp.close();
  });

  it("ends with matchover after MatchOver and close 1000", async () => {
    const rp = client();
    const ws = await joined(rp);
    const over = vi.fn();
    rp.on("matchover", over);
    ws.serverSend({ type: MsgType.MatchOver, tick: 5400, reason: "score", results: [{ player: 17, entity: 3, score: 10, rank: 1 }] });
    ws.serverClose(1000, "match over");
    expect(over).toHaveBeenCalledOnce();
    expect(rp.state).toMatchObject({ status: "closed", reason: { by: "matchover" } });
    rp.close();
  });

  it("a snapshot that does not apply drops the socket and resumes", async () => {
    const rp = client();
    const ws = await joined(rp);
    ws.serverSend({ type: MsgType.Snapshot, tick: 1201, base: 0, ackSeq: 0, ops: encodeKeyframeOps([me(1, 1)]) });
    const errors: Array<{ kind: string }> = [];
    rp.on("error", (e) => errors.push(e));
    ws.serverSend({ type: MsgType.Snapshot, tick: 1203, base: 1202, ackSeq: 0, ops: new Uint8Array(0) });
    expect(errors).toMatchObject([{ kind: "protocol" }]);
    expect(ws.closedWith).toMatchObject({ code: 4000 });
    expect(rp.state).toMatchObject({ status: "reconnecting", code: 4006 });
    expect(rp.world.lastTick).toBe(1201);
    rp.close();
  });

  it("gives up when the token endpoint says the seat is gone", async () => {
    const rp = client();
    const ws = await joined(rp);
    lobby.routes.set("POST /v1/matches/m7/token", () => json(403, { error: { code: "not_seated", message: "no seat" } }));
    ws.serverClose(1006);
    vi.advanceTimersByTime(100);
    await flush();
    expect(rp.state).toMatchObject({ status: "closed", reason: { by: "error" } });
    expect(FakeWebSocket.instances.length).toBe(1);
    rp.close();
  });
});

describe("Rallypoint: cleanup", () => {
  it("close() while queued releases the EventSource, timers and listeners; idempotent", async () => {
    const rp = client();
    await rp.signInGuest("ada");
    rp.on("state", () => {});
    rp.on("snapshot", () => {});
    const p = rp.play({ mode: "arena" });
    await flush();
    const es = FakeEventSource.last();
    rp.close();
    rp.close();
    expect(es.closed).toBe(true);
    expect(es.listenerCount).toBe(0);
    expect(rp.pendingResources).toBe(0);
    await flush();
    expect(lobby.calls.filter((c) => c.method === "DELETE" && c.path === "/v1/tickets/t1").length).toBe(1);
    expect(rp.listenerCount).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    await expect(p).rejects.toMatchObject({ kind: "closed" });
    await expect(rp.play({ mode: "arena" })).rejects.toMatchObject({ kind: "closed" });
  });

  it("close() while playing closes the socket and clears every timer", async () => {
    const rp = client();
    const ws = await joined(rp);
    const seen: string[] = [];
    rp.on("state", (s) => seen.push(s.status));
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    rp.close();
    expect(seen).toEqual(["closed"]);
    expect(ws.readyState).toBe(3);
    expect(ws.onmessage).toBeNull();
    expect(vi.getTimerCount()).toBe(0);
    expect(rp.pendingResources).toBe(0);
    vi.advanceTimersByTime(60000);
    expect(FakeWebSocket.instances.length).toBe(1);
  });

  it("close() during the ticket request cancels the ticket and opens nothing", async () => {
    let release!: () => void;
    lobby.routes.set("POST /v1/tickets", () => new Promise<Response>((r) => (release = () => r(json(201, lobby.ticketJson("queued"))))));
    const rp = client();
    await rp.signInGuest("ada");
    const p = rp.play({ mode: "arena" });
    await flush();
    rp.close();
    release();
    await flush();
    expect(FakeEventSource.instances.length).toBe(0);
    expect(lobby.calls.some((c) => c.method === "DELETE")).toBe(true);
    await expect(p).rejects.toBeTruthy();
  });

  it("close() during a reconnect's token request opens no socket", async () => {
    const rp = client();
    const ws = await joined(rp);
    let release!: () => void;
    lobby.routes.set("POST /v1/matches/m7/token", () => new Promise<Response>((r) => (release = () =>
      r(json(200, { match_id: "m7", ws_url: "ws://x/v1/ws?match=m7", token: "late", reconnect_grace_ms: 30000 })))));
    ws.serverClose(1006);
    vi.advanceTimersByTime(100);
    await flush();
    rp.close();
    release();
    await flush();
    expect(FakeWebSocket.instances.length).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a socket that finishes opening after close() is closed at once and says nothing", async () => {
    const rp = client();
    await rp.signInGuest("ada");
    void rp.play({ mode: "arena" }).catch(() => {});
    await flush();
    FakeEventSource.last().emit("matched", matchedTicket(lobby), "2");
    await flush();
    const ws = FakeWebSocket.last();
    rp.close();
    expect(ws.closedWith).not.toBeNull();
    ws.readyState = 1;
    ws.onopen?.(new Event("open"));
    expect(ws.sent.length).toBe(0);
  });

  it("leave() sends Leave and does not reconnect", async () => {
    const rp = client();
    const ws = await joined(rp);
    rp.leave();
    expect(ws.sent.at(-1)).toEqual({ type: MsgType.Leave });
    expect(rp.state).toMatchObject({ status: "closed", reason: { by: "user" } });
    vi.advanceTimersByTime(60000);
    expect(FakeWebSocket.instances.length).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
    rp.close();
  });

  it("a WebSocket that cannot be constructed ends the session instead of throwing", async () => {
    class Refusing extends FakeWebSocket {
      constructor(url: string) {
        super(url);
        throw new SyntaxError("bad url");
      }
    }
    const rp = client({ WebSocket: Refusing });
    await rp.signInGuest("ada");
    const p = rp.play({ mode: "arena" });
    await flush();
    FakeEventSource.last().emit("matched", matchedTicket(lobby), "2");
    await flush();
    await expect(p).rejects.toMatchObject({ reason: { by: "error" } });
    expect(vi.getTimerCount()).toBe(0);
    rp.close();
  });

  it("users cannot emit lifecycle events", () => {
    const rp = client();
    expect((rp as unknown as { emit?: unknown }).emit).toBeUndefined();
    rp.close();
  });
});
