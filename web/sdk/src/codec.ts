// The wire codec of docs/protocol.md (v1, plus the v2 Input of spec-v2).
//
// Server messages are decoded with @msgpack/msgpack under explicit length
// limits, then checked strictly in content and leniently in shape (extra
// trailing elements are ignored, fewer are an error). Client messages are
// encoded by hand so that dx, dy and aim always travel as float32 (0xca) and
// the byte layout is exactly what the protocol shows.

import { Decoder, encode } from "@msgpack/msgpack";

/** ProtocolVersion is the version this SDK speaks in its Hello. */
export const ProtocolVersion = 2;
export const MaxClientFrame = 2048;
export const MaxTokenLen = 1024;
export const MaxStringLen = 256;
export const MaxResults = 256;
/** MaxServerFrame is the largest server message this SDK decodes (bytes). */
export const MaxServerFrame = 8 << 20;
/** MaxOpsLen is the largest op stream accepted in one Snapshot (bytes). */
export const MaxOpsLen = 4 << 20;

/** MsgType is the element 0 of every message. */
export const MsgType = {
  Hello: 1,
  Input: 2,
  Ping: 3,
  Leave: 4,
  Welcome: 16,
  Snapshot: 17,
  Event: 18,
  MatchOver: 19,
  Error: 20,
  Pong: 21,
} as const;

/** EventKind names the game events of the shipped games (protocol.md section 8). */
export const EventKind = { Hit: 1, Kill: 2, Respawn: 3, Score: 4 } as const;

/** Welcome is the server's answer to a Hello. Sizes are world units, hz ticks/s. */
export interface Welcome {
  version: number;
  player: number;
  entity: number;
  match: string;
  mode: string;
  hz: number;
  tick: number;
  lastSeq: number;
  resumed: boolean;
  width: number;
  height: number;
  interest: number;
  posScale: number;
}

/** Snapshot is one tick of the world as a delta against `base` (0: keyframe). */
export interface Snapshot {
  tick: number;
  base: number;
  ackSeq: number;
  /** The entity-op stream (section 6); may be a view into a larger buffer. */
  ops: Uint8Array;
}

/** GameEvent is one game event (Hit, Kill, Respawn, Score, or unknown kinds). */
export interface GameEvent {
  tick: number;
  kind: number;
  source: number;
  target: number;
  value: number;
}

export interface MatchResult {
  player: number;
  entity: number;
  score: number;
  rank: number;
}

export interface MatchOver {
  tick: number;
  reason: string;
  results: MatchResult[];
}

/** ServerError is an Error message; the close with the same code follows. */
export interface ServerError {
  code: number;
  message: string;
}

export interface Pong {
  time: number;
  tick: number;
}

export type ServerMessage =
  | ({ type: typeof MsgType.Welcome } & Welcome)
  | ({ type: typeof MsgType.Snapshot } & Snapshot)
  | ({ type: typeof MsgType.Event } & GameEvent)
  | ({ type: typeof MsgType.MatchOver } & MatchOver)
  | ({ type: typeof MsgType.Error } & ServerError)
  | ({ type: typeof MsgType.Pong } & Pong)
  | { type: "unknown"; code: number };

/** Input is one tick of held input, as sent. dx/dy/aim are rounded to float32 when encoded. */
export interface Input {
  seq: number;
  ack: number;
  dx: number;
  dy: number;
  aim: number;
  buttons: number;
  /** The render tick of remote entities when sampled (0: no lag compensation). */
  viewTick: number;
  /** Fraction of viewTick in 1/256 tick, 0..255. */
  viewFrac: number;
}

export type ClientMessage =
  | { type: typeof MsgType.Hello; version: number; token: string }
  | ({ type: typeof MsgType.Input } & Input)
  | { type: typeof MsgType.Ping; time: number }
  | { type: typeof MsgType.Leave };

/** ProtocolError is a malformed or out-of-sync server message: drop the world and resume. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

// ---------------------------------------------------------------- decoding

/** The msgpack limits for server frames: nothing bigger than the protocol allows is allocated. */
export const decoderLimits = {
  maxStrLength: MaxStringLen, // every server string (match, mode, reason, message) is at most 256 bytes
  maxBinLength: MaxOpsLen,
  maxArrayLength: Math.max(MaxResults, 64),
  maxMapLength: 0, // the server never sends maps
  maxExtLength: 0, // nor ext types
} as const;

const decoder = new Decoder({ useBigInt64: false, ...decoderLimits });

function need(m: unknown[], n: number): void {
  if (m.length < n) throw new ProtocolError(`type ${String(m[0])}: ${m.length} elements, want ${n}`);
}

function uint(v: unknown, max: number, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    throw new ProtocolError(`${what}: not an integer in 0..${max}`);
  }
  return v;
}
const u32 = (v: unknown, what: string) => uint(v, 0xffffffff, what);

function int32(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
    throw new ProtocolError(`${what}: not an int32`);
  }
  return v;
}

function float(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ProtocolError(`${what}: not a finite number`);
  return v;
}

function str(v: unknown, what: string): string {
  if (typeof v !== "string") throw new ProtocolError(`${what}: not a string`);
  return v;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== "boolean") throw new ProtocolError(`${what}: not a boolean`);
  return v;
}

/**
 * decodeServerMessage decodes one binary WebSocket message from the server.
 * It throws ProtocolError on anything malformed (trailing bytes, too few
 * elements, values out of range, lengths over the limits). Unknown message
 * types decode as `{type: "unknown"}` so that a newer server does not break
 * an older client.
 */
export function decodeServerMessage(data: ArrayBuffer | Uint8Array): ServerMessage {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.byteLength > MaxServerFrame) throw new ProtocolError(`frame of ${bytes.byteLength} bytes`);
  let m: unknown;
  try {
    m = decoder.decode(bytes);
  } catch (err) {
    throw new ProtocolError(`msgpack: ${(err as Error).message}`);
  }
  if (!Array.isArray(m) || m.length < 1) throw new ProtocolError("not a non-empty array");
  const type = m[0];
  switch (type) {
    case MsgType.Welcome:
      need(m, 14);
      return {
        type,
        version: u32(m[1], "welcome.version"),
        player: u32(m[2], "welcome.player"),
        entity: u32(m[3], "welcome.entity"),
        match: str(m[4], "welcome.match"),
        mode: str(m[5], "welcome.mode"),
        hz: uint(m[6], 0xffff, "welcome.hz") || badHz(),
        tick: u32(m[7], "welcome.tick"),
        lastSeq: u32(m[8], "welcome.lastSeq"),
        resumed: bool(m[9], "welcome.resumed"),
        width: float(m[10], "welcome.width"),
        height: float(m[11], "welcome.height"),
        interest: float(m[12], "welcome.interest"),
        posScale: uint(m[13], 0xffff, "welcome.posScale") || badPosScale(),
      };
    case MsgType.Snapshot: {
      need(m, 5);
      const ops = m[4];
      if (!(ops instanceof Uint8Array)) throw new ProtocolError("snapshot.ops: not bin");
      return {
        type,
        tick: u32(m[1], "snapshot.tick"),
        base: u32(m[2], "snapshot.base"),
        ackSeq: u32(m[3], "snapshot.ackSeq"),
        ops,
      };
    }
    case MsgType.Event:
      need(m, 6);
      return {
        type,
        tick: u32(m[1], "event.tick"),
        kind: uint(m[2], 0xff, "event.kind"),
        source: u32(m[3], "event.source"),
        target: u32(m[4], "event.target"),
        value: int32(m[5], "event.value"),
      };
    case MsgType.MatchOver: {
      need(m, 4);
      const rs = m[3];
      if (!Array.isArray(rs) || rs.length > MaxResults) throw new ProtocolError("matchover.results");
      const results: MatchResult[] = rs.map((r: unknown) => {
        if (!Array.isArray(r)) throw new ProtocolError("matchover.result: not an array");
        need(r, 4);
        return {
          player: u32(r[0], "result.player"),
          entity: u32(r[1], "result.entity"),
          score: u32(r[2], "result.score"),
          rank: uint(r[3], 0xffff, "result.rank"),
        };
      });
      return { type, tick: u32(m[1], "matchover.tick"), reason: str(m[2], "matchover.reason"), results };
    }
    case MsgType.Error:
      need(m, 3);
      return { type, code: uint(m[1], 0xffff, "error.code"), message: str(m[2], "error.message") };
    case MsgType.Pong:
      need(m, 3);
      return { type, time: u32(m[1], "pong.time"), tick: u32(m[2], "pong.tick") };
    default:
      if (typeof type !== "number" || !Number.isInteger(type)) throw new ProtocolError("type is not an integer");
      return { type: "unknown", code: type };
  }
}

function badHz(): never {
  throw new ProtocolError("welcome.hz: 0");
}
function badPosScale(): never {
  throw new ProtocolError("welcome.posScale: 0");
}

// ---------------------------------------------------------------- encoding

const utf8 = new TextEncoder();
const f32 = new Float32Array(1);
const f32bytes = new Uint8Array(f32.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Writer appends msgpack values to a growing byte buffer. */
class Writer {
  buf: Uint8Array;
  n = 0;
  constructor(size = 64) {
    this.buf = new Uint8Array(size);
  }
  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }
  byte(v: number): void {
    this.room(1);
    this.buf[this.n++] = v;
  }
  be(v: number, bytes: number): void {
    this.room(bytes);
    for (let i = bytes - 1; i >= 0; i--) this.buf[this.n++] = Math.floor(v / 2 ** (8 * i)) & 0xff;
  }
  array(len: number): void {
    if (len < 16) this.byte(0x90 | len);
    else if (len <= 0xffff) (this.byte(0xdc), this.be(len, 2));
    else (this.byte(0xdd), this.be(len, 4));
  }
  /** uint writes a non-negative integer in its smallest form. */
  uint(v: number): void {
    if (v < 0x80) this.byte(v);
    else if (v <= 0xff) (this.byte(0xcc), this.byte(v));
    else if (v <= 0xffff) (this.byte(0xcd), this.be(v, 2));
    else (this.byte(0xce), this.be(v, 4));
  }
  /** f32 writes v rounded to float32 as 0xca + 4 bytes big-endian. */
  f32(v: number): void {
    this.room(5);
    f32[0] = v;
    this.buf[this.n++] = 0xca;
    if (littleEndian) {
      for (let i = 3; i >= 0; i--) this.buf[this.n++] = f32bytes[i]!;
    } else {
      for (let i = 0; i < 4; i++) this.buf[this.n++] = f32bytes[i]!;
    }
  }
  str(s: string): void {
    const b = utf8.encode(s);
    const len = b.length;
    if (len < 32) this.byte(0xa0 | len);
    else if (len <= 0xff) (this.byte(0xd9), this.byte(len));
    else if (len <= 0xffff) (this.byte(0xda), this.be(len, 2));
    else (this.byte(0xdb), this.be(len, 4));
    this.room(len);
    this.buf.set(b, this.n);
    this.n += len;
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

function checkU32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${what}: not a uint32`);
}

/** encodeHello encodes `[1, version, token]`. */
export function encodeHello(token: string, version: number = ProtocolVersion): Uint8Array {
  checkU32(version, "version");
  if (utf8.encode(token).length > MaxTokenLen) throw new RangeError("token longer than 1024 bytes");
  const w = new Writer(16 + token.length * 3);
  w.array(3);
  w.uint(MsgType.Hello);
  w.uint(version);
  w.str(token);
  return w.bytes();
}

/**
 * encodeInput encodes the v2 Input
 * `[2, seq, ack, dx, dy, aim, buttons, viewTick, viewFrac]`
 * with dx, dy and aim as msgpack float32 (0xca). It returns at most 36 bytes.
 */
export function encodeInput(i: Input): Uint8Array {
  checkU32(i.seq, "seq");
  checkU32(i.ack, "ack");
  checkU32(i.viewTick, "viewTick");
  const w = new Writer(40);
  w.array(9);
  w.uint(MsgType.Input);
  w.uint(i.seq);
  w.uint(i.ack);
  w.f32(finiteOr0(i.dx));
  w.f32(finiteOr0(i.dy));
  w.f32(finiteOr0(i.aim));
  w.uint(i.buttons & 0xff);
  w.uint(i.viewTick);
  w.uint(Math.min(255, Math.max(0, Math.round(i.viewFrac))) | 0);
  return w.bytes();
}

function finiteOr0(v: number): number {
  return Number.isFinite(v) ? v : 0;
}

/** encodePing encodes `[3, time]`; time is truncated to uint32. */
export function encodePing(time: number): Uint8Array {
  const w = new Writer(8);
  w.array(2);
  w.uint(MsgType.Ping);
  w.uint(Math.floor(time) >>> 0);
  return w.bytes();
}

/** encodeLeave encodes `[4]`. */
export function encodeLeave(): Uint8Array {
  return Uint8Array.of(0x91, MsgType.Leave);
}

/**
 * decodeClientMessage decodes what a client sends (used by tests and fake
 * servers). It is strict in shape like the server.
 */
export function decodeClientMessage(data: ArrayBuffer | Uint8Array): ClientMessage {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.byteLength > MaxClientFrame) throw new ProtocolError("client frame over 2048 bytes");
  let m: unknown;
  try {
    m = new Decoder({ useBigInt64: false, ...decoderLimits, maxStrLength: MaxTokenLen }).decode(bytes);
  } catch (err) {
    throw new ProtocolError(`msgpack: ${(err as Error).message}`);
  }
  if (!Array.isArray(m) || m.length < 1) throw new ProtocolError("not a non-empty array");
  switch (m[0]) {
    case MsgType.Hello:
      need(m, 3);
      return { type: MsgType.Hello, version: u32(m[1], "version"), token: str(m[2], "token") };
    case MsgType.Input:
      need(m, 7);
      return {
        type: MsgType.Input,
        seq: u32(m[1], "seq"),
        ack: u32(m[2], "ack"),
        dx: float(m[3], "dx"),
        dy: float(m[4], "dy"),
        aim: float(m[5], "aim"),
        buttons: uint(m[6], 0xff, "buttons"),
        viewTick: m.length > 7 ? u32(m[7], "viewTick") : 0,
        viewFrac: m.length > 8 ? uint(m[8], 0xff, "viewFrac") : 0,
      };
    case MsgType.Ping:
      need(m, 2);
      return { type: MsgType.Ping, time: u32(m[1], "time") };
    case MsgType.Leave:
      return { type: MsgType.Leave };
    default:
      throw new ProtocolError(`unexpected client message type ${String(m[0])}`);
  }
}

/**
 * encodeServerMessage encodes a server message the way the Go server does
 * (floats as float32, smallest integers). For tests and fake servers.
 */
export function encodeServerMessage(m: Exclude<ServerMessage, { type: "unknown" }>): Uint8Array {
  let arr: unknown[];
  switch (m.type) {
    case MsgType.Welcome:
      arr = [m.type, m.version, m.player, m.entity, m.match, m.mode, m.hz, m.tick, m.lastSeq, m.resumed,
        new F32(m.width), new F32(m.height), new F32(m.interest), m.posScale];
      break;
    case MsgType.Snapshot:
      arr = [m.type, m.tick, m.base, m.ackSeq, m.ops];
      break;
    case MsgType.Event:
      arr = [m.type, m.tick, m.kind, m.source, m.target, m.value];
      break;
    case MsgType.MatchOver:
      arr = [m.type, m.tick, m.reason, m.results.map((r) => [r.player, r.entity, r.score, r.rank])];
      break;
    case MsgType.Error:
      arr = [m.type, m.code, m.message];
      break;
    case MsgType.Pong:
      arr = [m.type, m.time, m.tick];
      break;
  }
  // encode() would write a whole float (width 1000) as an integer: arrays
  // with float fields are written by hand, each F32 as 0xca.
  if (!arr.some((v) => v instanceof F32)) return encode(arr);
  const w = new Writer(64);
  w.array(arr.length);
  for (const v of arr) {
    if (v instanceof F32) w.f32(v.v);
    else if (typeof v === "number") w.uint(v);
    else if (typeof v === "boolean") w.byte(v ? 0xc3 : 0xc2);
    else w.str(v as string);
  }
  return w.bytes();
}

class F32 {
  constructor(readonly v: number) {}
}

// ---------------------------------------------------------------- hex helpers

/** fromHex parses "9104" into bytes (for tests against the documented frames). */
export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/[^0-9a-f]/gi, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** toHex formats bytes as lowercase hex. */
export function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}
