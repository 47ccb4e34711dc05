import { encode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";
import {
  decodeClientMessage,
  decodeServerMessage,
  encodeHello,
  encodeInput,
  encodeLeave,
  encodePing,
  encodeServerMessage,
  fromHex,
  MsgType,
  ProtocolError,
  toHex,
} from "../src/codec.js";

// Frames from docs/protocol.md section 13.
const frames = {
  welcome: "9e10011103a26d37a56172656e611ecd04b000c2ca447a0000ca447a0000ca4396000010",
  welcomeResumed: "9e10011103a26d37a56172656e611ecd05dc2ac3ca447a0000ca447a0000ca4396000010",
  keyframe: "9511cd04b10000c427063f01904b8032640c020a1f0188800182196411063b0180a0011412010a1f0180af01c03e6414",
  delta: "9511cd04b2cd04b101c40d04b00009a0015000054800010b",
  eventHit: "9612cd04b201030414",
  pong: "9315ce004c4bbbcd04bf",
  matchover: "9413cd1518a474696d65939411030a01940c0107029412040702",
  errorReplaced:
    "9314cd0fa9d92e7265706c616365642062792061206e6577657220636f6e6e656374696f6e20666f72207468697320706c61796572",
  hello: "930101d92a65794a68624763694f694a49557a49314e694a392e65794a7a645749694f6949784e794a392e63326c6e",
  ping: "9203ce004c4bbb",
  leave: "9104",
  inputV1: "970201cd04b1ca3f800000ca00000000cabf2e147b01",
  // protocol version 2 frames
  helloV2: "930102d92a65794a68624763694f694a49557a49314e694a392e65794a7a645749694f6949784e794a392e63326c6e",
  welcomeV2: "9e10021103a26d37a56172656e611ecd04b000c2ca447a0000ca447a0000ca4396000010",
  inputV2: "990201cd04b1ca3f800000ca00000000cabf2e147b01cd04aecc80",
};

describe("server messages (documented frames)", () => {
  it("decodes Welcome", () => {
    expect(decodeServerMessage(fromHex(frames.welcome))).toEqual({
      type: MsgType.Welcome, version: 1, player: 17, entity: 3, match: "m7", mode: "arena", hz: 30, tick: 1200,
      lastSeq: 0, resumed: false, width: 1000, height: 1000, interest: 300, posScale: 16,
    });
    const r = decodeServerMessage(fromHex(frames.welcomeResumed));
    expect(r).toMatchObject({ tick: 1500, lastSeq: 42, resumed: true });
  });

  it("decodes Snapshot, Event, Pong, MatchOver, Error", () => {
    const k = decodeServerMessage(fromHex(frames.keyframe));
    expect(k).toMatchObject({ type: MsgType.Snapshot, tick: 1201, base: 0, ackSeq: 0 });
    expect((k as { ops: Uint8Array }).ops.length).toBe(39);
    expect(decodeServerMessage(fromHex(frames.delta))).toMatchObject({ tick: 1202, base: 1201, ackSeq: 1 });
    expect(decodeServerMessage(fromHex(frames.eventHit))).toEqual({
      type: MsgType.Event, tick: 1202, kind: 1, source: 3, target: 4, value: 20,
    });
    expect(decodeServerMessage(fromHex(frames.pong))).toEqual({ type: MsgType.Pong, time: 5000123, tick: 1215 });
    expect(decodeServerMessage(fromHex(frames.matchover))).toEqual({
      type: MsgType.MatchOver, tick: 5400, reason: "time",
      results: [
        { player: 17, entity: 3, score: 10, rank: 1 },
        { player: 12, entity: 1, score: 7, rank: 2 },
        { player: 18, entity: 4, score: 7, rank: 2 },
      ],
    });
    expect(decodeServerMessage(fromHex(frames.errorReplaced))).toEqual({
      type: MsgType.Error, code: 4009, message: "replaced by a newer connection for this player",
    });
  });

  it("re-encodes every documented server frame byte for byte", () => {
    for (const name of ["welcome", "welcomeResumed", "keyframe", "delta", "eventHit", "pong", "matchover", "errorReplaced"] as const) {
      const m = decodeServerMessage(fromHex(frames[name]));
      if (m.type === "unknown") throw new Error("unknown");
      expect(toHex(encodeServerMessage(m)), name).toBe(frames[name]);
    }
  });

  it("round-trips negative event values", () => {
    const m = { type: MsgType.Event, tick: 7, kind: 9, source: 0, target: 0xffffffff, value: -100000 } as const;
    expect(decodeServerMessage(encodeServerMessage(m))).toEqual(m);
  });

  it("ignores extra trailing elements and unknown types", () => {
    expect(decodeServerMessage(encode([21, 1, 2, "extra", [1, 2]]))).toEqual({ type: MsgType.Pong, time: 1, tick: 2 });
    expect(decodeServerMessage(encode([99, 1]))).toEqual({ type: "unknown", code: 99 });
  });

  it.each([
    ["too few elements", encode([21, 1])],
    ["not an array", encode(5)],
    ["empty array", encode([])],
    ["a map", encode({ a: 1 })],
    ["trailing bytes", Uint8Array.from([...fromHex(frames.pong), 0x00])],
    ["negative uint", encode([21, -1, 2])],
    ["float for a uint", encode([21, 1.5, 2])],
    ["uint32 overflow", encode([21, 2 ** 32, 2])],
    ["ops not bin", encode([17, 1, 0, 0, "ops"])],
    ["hz 0", encode([16, 1, 1, 1, "m", "arena", 0, 1, 0, false, 1, 1, 0, 16])],
    ["string for a bool", encode([16, 1, 1, 1, "m", "arena", 30, 1, 0, "no", 1, 1, 0, 16])],
    ["truncated", fromHex(frames.keyframe).subarray(0, 20)],
    ["results not array", encode([19, 1, "time", 5])],
  ])("rejects %s", (_name, bytes) => {
    expect(() => decodeServerMessage(bytes)).toThrow(ProtocolError);
  });

  it("enforces msgpack length limits before allocating", () => {
    // str32 declaring 4 GiB, array32 declaring 2^32-1 elements, bin32 of 1 GiB, a map
    const hostile = [
      Uint8Array.of(0x92, 0x14, 0xdb, 0xff, 0xff, 0xff, 0xff),
      Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff, 0x11),
      Uint8Array.of(0x95, 0x11, 1, 0, 0, 0xc6, 0x40, 0, 0, 0),
      Uint8Array.of(0x92, 0x11, 0x81, 0x01, 0x01),
      Uint8Array.of(0x92, 0x11, 0xc7, 0x01, 0x01, 0x00),
    ];
    for (const h of hostile) expect(() => decodeServerMessage(h)).toThrow(ProtocolError);
    // a MatchOver with 257 results
    const many = encode([19, 1, "time", Array.from({ length: 257 }, () => [1, 1, 1, 1])]);
    expect(() => decodeServerMessage(many)).toThrow(ProtocolError);
    // strings: 256 bytes at most (MaxStringLen)
    expect(decodeServerMessage(encode([20, 4000, "x".repeat(256)]))).toMatchObject({ code: 4000 });
    expect(() => decodeServerMessage(encode([20, 4000, "x".repeat(257)]))).toThrow(ProtocolError);
  });
});

describe("client messages", () => {
  it("encodes Hello, Ping and Leave as documented", () => {
    expect(toHex(encodeHello("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxNyJ9.c2ln", 1))).toBe(frames.hello);
    expect(toHex(encodePing(5000123))).toBe(frames.ping);
    expect(toHex(encodeLeave())).toBe(frames.leave);
    expect(decodeClientMessage(encodeHello("tok"))).toEqual({ type: MsgType.Hello, version: 2, token: "tok" });
  });

  it("encodes the documented version 2 frames byte for byte", () => {
    expect(toHex(encodeHello("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxNyJ9.c2ln"))).toBe(frames.helloV2);
    const b = encodeInput({ seq: 1, ack: 1201, dx: 1, dy: 0, aim: -0.68, buttons: 1, viewTick: 1198, viewFrac: 128 });
    expect(toHex(b)).toBe(frames.inputV2);
    expect(decodeServerMessage(fromHex(frames.welcomeV2))).toMatchObject({ type: MsgType.Welcome, version: 2, entity: 3 });
  });

  it("encodes the v2 Input with float32 dx, dy, aim", () => {
    const b = encodeInput({ seq: 1, ack: 1201, dx: 1, dy: 0, aim: -0.68, buttons: 1, viewTick: 0, viewFrac: 0 });
    // the documented v1 frame plus viewTick 0, viewFrac 0
    expect(toHex(b)).toBe("99" + frames.inputV1.slice(2) + "0000");
    const c = encodeInput({ seq: 70000, ack: 300, dx: 0.1, dy: -1, aim: 3, buttons: 0, viewTick: 123456, viewFrac: 255 });
    const hex = toHex(c);
    // three float32 markers, each followed by 4 bytes
    expect(hex.match(/ca/g)!.length).toBeGreaterThanOrEqual(3);
    const m = decodeClientMessage(c);
    expect(m).toEqual({
      type: MsgType.Input, seq: 70000, ack: 300, dx: Math.fround(0.1), dy: -1, aim: 3, buttons: 0, viewTick: 123456, viewFrac: 255,
    });
    expect(c.length).toBeLessThanOrEqual(36);
  });

  it("sends NaN and infinities as 0 and clamps viewFrac", () => {
    const m = decodeClientMessage(
      encodeInput({ seq: 2, ack: 0, dx: NaN, dy: Infinity, aim: -Infinity, buttons: 0, viewTick: 5, viewFrac: 300 }),
    );
    expect(m).toMatchObject({ dx: 0, dy: 0, aim: 0, viewFrac: 255 });
  });

  it("byte layout: every float is 0xca + 4 bytes", () => {
    const b = encodeInput({ seq: 3, ack: 4, dx: 0.5, dy: 0.25, aim: 1, buttons: 0, viewTick: 10, viewFrac: 128 });
    expect(toHex(b)).toBe("99020304ca3f000000ca3e800000ca3f80000000" + "0acc80");
  });

  it("rejects out-of-range client fields and tokens over 1024 bytes", () => {
    expect(() => encodeInput({ seq: -1, ack: 0, dx: 0, dy: 0, aim: 0, buttons: 0, viewTick: 0, viewFrac: 0 })).toThrow(RangeError);
    expect(() => encodeInput({ seq: 1, ack: 2 ** 32, dx: 0, dy: 0, aim: 0, buttons: 0, viewTick: 0, viewFrac: 0 })).toThrow(RangeError);
    expect(() => encodeHello("x".repeat(1025))).toThrow(RangeError);
    expect(encodeHello("x".repeat(1024)).length).toBeLessThan(2048);
  });

  it("round-trips Ping and wraps time to uint32", () => {
    expect(decodeClientMessage(encodePing(2 ** 32 + 5))).toEqual({ type: MsgType.Ping, time: 5 });
    expect(decodeClientMessage(encodeLeave())).toEqual({ type: MsgType.Leave });
  });
});
