// A game client written from docs/protocol.md and docs/lobby-api.md alone,
// in JavaScript with @msgpack/msgpack and the standard WebSocket (Node 20:
// run with --experimental-websocket). It is the proof that the documents
// are enough: it signs in, queues, joins over the WebSocket, applies every
// snapshot to its own world, checks that its avatar moves as it steers and
// that the server acknowledges its inputs, checks the documented close code
// for a forged token, and leaves.
//
//   node --experimental-websocket test/stranger-client.mjs http://127.0.0.1:8080
//
// Exit status 0 and a last line "protocol client: ok" mean every check held.

import { encode, decode } from "@msgpack/msgpack";

const HELLO = 1, INPUT = 2, PING = 3, LEAVE = 4;
const WELCOME = 16, SNAPSHOT = 17, EVENT = 18, MATCH_OVER = 19, ERROR = 20, PONG = 21;
const OP_MOVE = 0, OP_UPDATE = 1, OP_ENTER = 2, OP_REMOVE = 3;

class ProtocolError extends Error {}

const base = process.argv[2];
if (!base) {
  console.error("usage: stranger-client.mjs <lobby base URL>");
  process.exit(2);
}

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
}

async function api(method, path, body, bearer) {
  const headers = { "Content-Type": "application/json" };
  if (bearer) headers.Authorization = "Bearer " + bearer;
  const res = await fetch(base + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

// ---- entity ops (docs/protocol.md §6) ----

function u8(r) {
  if (r.i >= r.b.length) throw new ProtocolError("truncated op");
  return r.b[r.i++];
}
function int8(r) { const v = u8(r); return v >= 128 ? v - 256 : v; }
function uvarint(r) {
  let v = 0, mul = 1;
  for (let n = 0; n < 10; n++) {
    const c = u8(r);
    v += (c & 0x7f) * mul;
    if (c < 0x80) return v;
    mul *= 128;
  }
  throw new ProtocolError("varint too long");
}
function uvarint32(r) {
  const v = uvarint(r);
  if (v > 0xffffffff) throw new ProtocolError("varint out of range");
  return v;
}
function unzigzag(u) { return (u >>> 1) ^ -(u & 1); }

function readFields(r, e, enter) {
  const mask = u8(r);
  if (enter && (mask & 0x80)) throw new ProtocolError("enter with move");
  if (!enter && mask === 0) throw new ProtocolError("empty update");
  if ((mask & 0x80) && (mask & 0x06)) throw new ProtocolError("move with x/y");
  if (mask & 0x01) e.kind = u8(r);
  if (mask & 0x02) e.x = unzigzag(uvarint32(r));
  if (mask & 0x04) e.y = unzigzag(uvarint32(r));
  if (mask & 0x08) e.hp = u8(r);
  if (mask & 0x10) e.owner = uvarint32(r);
  if (mask & 0x20) e.score = uvarint32(r);
  if (mask & 0x40) e.flags = u8(r);
  if (mask & 0x80) { e.x += int8(r); e.y += int8(r); }
}

function applyOps(world, b) {
  const r = { b, i: 0 };
  let id = 0;
  while (r.i < b.length) {
    const h = uvarint(r);
    const op = h % 4, gap = Math.floor(h / 4);
    if (gap === 0 || id + gap > 0xffffffff) throw new ProtocolError("bad id gap");
    id += gap;
    const e = world.get(id);
    if (op === OP_ENTER) {
      if (e) throw new ProtocolError(`enter of existing ${id}`);
      const n = { id, kind: 0, x: 0, y: 0, hp: 0, owner: 0, score: 0, flags: 0 };
      readFields(r, n, true);
      world.set(id, n);
      continue;
    }
    if (!e) throw new ProtocolError(`op ${op} for unknown ${id}`);
    if (op === OP_MOVE) { e.x += int8(r); e.y += int8(r); }
    else if (op === OP_UPDATE) readFields(r, e, false);
    else world.delete(id);
  }
}

// ---- one connection ----

// play joins with token, steers right and down for `ticks` snapshots, and
// resolves with what it saw.
function play(wsUrl, token, ticks) {
  return new Promise((resolve, reject) => {
    const st = { world: new Map(), lastTick: 0, seq: 0, snapshots: 0, keyframes: 0, acked: 0, pong: false };
    const ws = new WebSocket(wsUrl);
    ws.binaryType = "arraybuffer";
    let timer = null;
    const fail = (e) => { clearInterval(timer); try { ws.close(); } catch {} reject(e); };
    ws.onopen = () => ws.send(encode([HELLO, 1, token]));
    ws.onerror = () => {};
    ws.onmessage = (ev) => {
      try {
        if (!(ev.data instanceof ArrayBuffer)) throw new ProtocolError("text frame");
        const m = decode(new Uint8Array(ev.data), { useBigInt64: false });
        if (!Array.isArray(m) || m.length < 1) throw new ProtocolError("not an array");
        switch (m[0]) {
          case WELCOME: {
            check(m.length >= 14, "welcome has 14 elements");
            const [, version, player, entity, match, mode, hz, tick, lastSeq, resumed, width, height, interest, posScale] = m;
            st.welcome = { version, player, entity, match, mode, hz, tick, resumed, width, height, interest, posScale };
            st.seq = lastSeq;
            timer = setInterval(() => {
              st.seq += 1;
              ws.send(encode([INPUT, st.seq, st.lastTick, 1, 0.5, 0, 0]));
            }, 1000 / hz);
            ws.send(encode([PING, Math.floor(performance.now()) >>> 0]));
            break;
          }
          case SNAPSHOT: {
            const [, tick, baseTick, ackSeq, ops] = m;
            check(ops instanceof Uint8Array, "ops is bin");
            if (baseTick === 0) { st.world = new Map(); st.keyframes++; }
            else if (baseTick !== st.lastTick) throw new ProtocolError(`base ${baseTick}, have ${st.lastTick}`);
            applyOps(st.world, ops);
            st.lastTick = tick;
            st.acked = Math.max(st.acked, ackSeq);
            st.snapshots++;
            const me = st.world.get(st.welcome.entity);
            if (st.snapshots === 3) st.start = me && { x: me.x, y: me.y };
            if (st.snapshots >= ticks) {
              clearInterval(timer);
              st.end = me && { x: me.x, y: me.y };
              ws.send(encode([LEAVE]));
            }
            break;
          }
          case PONG: st.pong = true; break;
          case ERROR: st.error = { code: m[1], message: m[2] }; break;
          case EVENT: case MATCH_OVER: break;
          default: break; // a newer server's message
        }
      } catch (e) { fail(e); }
    };
    ws.onclose = (ev) => { clearInterval(timer); resolve({ ...st, closeCode: ev.code }); };
  });
}

async function main() {
  const g = await api("POST", "/v1/auth/guest", { name: "stranger" });
  check(g.status === 200 || g.status === 201, `guest sign-in answered ${g.status}`);
  const session = g.body.session_token;

  const t = await api("POST", "/v1/tickets", { mode: "bench" }, session);
  check(t.status === 201, `ticket answered ${t.status}`);
  let as = null;
  for (let i = 0; i < 200 && !as; i++) {
    const s = await api("GET", "/v1/tickets/" + t.body.ticket_id, null, session);
    if (s.body.status === "matched") as = s.body.assignment;
    else await new Promise((r) => setTimeout(r, 50));
  }
  check(as && as.ws_url && as.token, "ticket matched with an assignment");

  // A forged token is refused with 4001 before it reaches a match.
  const forged = await play(as.ws_url, as.token + "x", 10);
  check(forged.closeCode === 4001, `forged token closed with ${forged.closeCode}, want 4001`);
  check(forged.error && forged.error.code === 4001, "an Error message with the same code came first");

  const r = await play(as.ws_url, as.token, 60);
  check(r.welcome && r.welcome.player === g.body.player_id, "welcome names this player");
  check(r.keyframes === 1, `one keyframe, got ${r.keyframes}`);
  check(r.snapshots >= 60, `60 snapshots applied, got ${r.snapshots}`);
  const others = [...r.world.values()].filter((e) => e.kind === 2).length;
  check(others === 32, `32 NPCs in the bench world, got ${others}`);
  // Right and down, unless it spawned so close to that edge that it was
  // already against it (positions are clamped to the world).
  const edgeX = r.welcome.width * r.welcome.posScale, edgeY = r.welcome.height * r.welcome.posScale;
  check(r.start && r.end && (r.end.x > r.start.x || r.end.x >= edgeX) && (r.end.y > r.start.y || r.end.y >= edgeY),
    `own avatar moved right and down (from ${JSON.stringify(r.start)} to ${JSON.stringify(r.end)} in quanta, world ${edgeX}x${edgeY})`);
  check(r.acked > 0 && r.acked <= r.seq, `inputs acknowledged (ack ${r.acked} of ${r.seq})`);
  check(r.pong, "ping answered");
  check(r.closeCode === 1000, `leave closed with ${r.closeCode}, want 1000`);
  console.log("protocol client: ok");
}

main().catch((e) => {
  console.error("protocol client:", e.message);
  process.exit(1);
});
