// Random and mutated input for the decoders of untrusted bytes: they may
// only return or throw ProtocolError, and a snapshot that throws leaves the
// world as it was.
import { describe, expect, it } from "vitest";
import { decodeServerMessage, fromHex, ProtocolError, type Snapshot } from "../src/codec.js";
import { encodeDeltaOps, encodeKeyframeOps, type Entity, newEntity, World } from "../src/world.js";

function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

const seeds = [
  "9e10021103a26d37a56172656e611ecd04b000c2ca447a0000ca447a0000ca4396000010",
  "9511cd04b10000c427063f01904b8032640c020a1f0188800182196411063b0180a0011412010a1f0180af01c03e6414",
  "9511cd04b2cd04b101c40d04b00009a0015000054800010b",
  "9612cd04b201030414",
  "9315ce004c4bbbcd04bf",
  "9413cd1518a474696d65939411030a01940c0107029412040702",
].map(fromHex);

function mutate(b: Uint8Array, r: () => number): Uint8Array {
  const out = Uint8Array.from(b);
  const kind = Math.floor(r() * 4);
  if (kind === 0) out[Math.floor(r() * out.length)] = Math.floor(r() * 256); // flip a byte
  else if (kind === 1) return out.subarray(0, Math.floor(r() * out.length)); // cut
  else if (kind === 2) return Uint8Array.from([...out, Math.floor(r() * 256)]); // append
  else for (let i = 0; i < 3; i++) {
    const j = Math.floor(r() * out.length);
    out[j] = out[j]! ^ (1 << Math.floor(r() * 8));
  }
  return out;
}

describe("fuzz", () => {
  it("decodeServerMessage returns or throws ProtocolError on mutated real frames and random bytes", () => {
    const r = rng(1);
    for (let n = 0; n < 6000; n++) {
      const b = n % 4 === 0
        ? Uint8Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 256))
        : mutate(seeds[n % seeds.length]!, r);
      try {
        decodeServerMessage(b);
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
      }
    }
  });

  it("World.apply on mutated op streams: ProtocolError and an untouched world, or a consistent world", () => {
    const r = rng(2);
    const base: Entity[] = [];
    for (let id = 1; id <= 12; id++) base.push({ ...newEntity(id), kind: 1, x: id * 100, y: 50, hp: 100, owner: id });
    const next = base.map((e, i) => ({ ...e, x: e.x + (i % 3) * 40, hp: i % 2 ? 80 : 100 })).filter((e) => e.id !== 5);
    next.push({ ...newEntity(20), kind: 2, x: 7 });
    const delta = encodeDeltaOps(base, next);
    for (let n = 0; n < 2000; n++) {
      const w = new World();
      w.apply({ tick: 1, base: 0, ackSeq: 0, ops: encodeKeyframeOps(base) });
      const before = JSON.stringify([...w.entities.values()]);
      const ops = mutate(delta, r);
      const s: Snapshot = { tick: 2, base: 1, ackSeq: 0, ops };
      try {
        w.apply(s);
        expect(w.lastTick).toBe(2);
        for (const [id, e] of w.entities) expect(e.id).toBe(id);
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
        expect(JSON.stringify([...w.entities.values()])).toBe(before);
        expect(w.lastTick).toBe(1);
      }
    }
  });
});
