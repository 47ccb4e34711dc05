import { describe, expect, it } from "vitest";
import { decodeServerMessage, fromHex, ProtocolError, type Snapshot } from "../src/codec.js";
import { encodeDeltaOps, encodeKeyframeOps, type Entity, Field, newEntity, OpWriter, World } from "../src/world.js";

const keyframe = decodeServerMessage(
  fromHex("9511cd04b10000c427063f01904b8032640c020a1f0188800182196411063b0180a0011412010a1f0180af01c03e6414"),
) as Snapshot;
const delta = decodeServerMessage(fromHex("9511cd04b2cd04b101c40d04b00009a0015000054800010b")) as Snapshot;

const snap = (tick: number, base: number, ops: Uint8Array): Snapshot => ({ tick, base, ackSeq: 0, ops });
const ent = (id: number, f: Partial<Entity> = {}): Entity => ({ ...newEntity(id), ...f });

describe("World", () => {
  it("applies the documented keyframe and delta", () => {
    const w = new World();
    w.apply(keyframe);
    expect(w.lastTick).toBe(1201);
    expect([...w.entities.keys()]).toEqual([1, 3, 4, 6]);
    expect(w.entities.get(1)).toEqual({ id: 1, kind: 1, x: 4808, y: 3200, hp: 100, owner: 12, score: 2, flags: 0 });
    expect(w.entities.get(3)).toEqual({ id: 3, kind: 1, x: 8196, y: 1601, hp: 100, owner: 17, score: 0, flags: 0 });
    expect(w.entities.get(4)).toEqual({ id: 4, kind: 1, x: 10240, y: 0, hp: 20, owner: 18, score: 1, flags: 0 });
    w.apply(delta);
    expect(w.lastTick).toBe(1202);
    expect(w.entities.get(1)!.x).toBe(4728);
    expect(w.entities.get(3)).toMatchObject({ x: 8276, score: 1 });
    expect(w.entities.get(4)).toMatchObject({ hp: 0, flags: 1 });
    expect(w.entities.has(6)).toBe(false);
  });

  it("rejects a delta whose base is not the last tick, leaving the world as it was", () => {
    const w = new World();
    w.apply(keyframe);
    expect(() => w.apply({ ...delta, base: 1200 })).toThrow(ProtocolError);
    expect(w.lastTick).toBe(1201);
    expect(w.entities.get(1)!.x).toBe(4808);
  });

  it("a keyframe replaces the world", () => {
    const w = new World();
    w.apply(keyframe);
    w.apply(snap(1300, 0, encodeKeyframeOps([ent(9, { kind: 2, x: 16 })])));
    expect([...w.entities.keys()]).toEqual([9]);
    expect(w.lastTick).toBe(1300);
  });

  const bad: Array<[string, (o: OpWriter) => Uint8Array, boolean]> = [
    ["enter of an existing id", (o) => o.enter(ent(3, { kind: 1 })).bytes(), false],
    ["move of an unknown id", (o) => o.move(2, 1, 1).bytes(), false],
    ["update of an unknown id", (o) => o.update(ent(5, { hp: 1 }), Field.HP).bytes(), false],
    ["remove of an unknown id", (o) => o.remove(7).bytes(), false],
    ["update with mask 0", (o) => o.update(ent(3), 0).bytes(), false],
    ["move with x", (o) => o.update(ent(3, { x: 5 }), Field.X | Field.Move, 1, 1).bytes(), false],
    ["move in a keyframe", (o) => o.move(1, 1, 1).bytes(), true],
  ];
  it.each(bad)("rejects %s and leaves the world untouched", (_n, make, isKey) => {
    const w = new World();
    w.apply(keyframe);
    const before = JSON.stringify([...w.entities.values()]);
    expect(() => w.apply(snap(1202, isKey ? 0 : 1201, make(new OpWriter())))).toThrow(ProtocolError);
    expect(JSON.stringify([...w.entities.values()])).toBe(before);
    expect(w.lastTick).toBe(1201);
  });

  it.each([
    ["gap of 0", Uint8Array.of(0x06, 0x00, 0x02, 0x00)],
    ["truncated op", Uint8Array.of(0x06, 0x3f, 0x01)],
    ["varint longer than 10 bytes", Uint8Array.of(0x86, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01)],
    ["id above 2^32-1", Uint8Array.of(0xfe, 0xff, 0xff, 0xff, 0x40, 0x00)],
    ["enter with FieldMove", Uint8Array.of(0x06, 0x80, 0x01, 0x01)],
    ["field varint out of range", Uint8Array.of(0x06, 0x10, 0xff, 0xff, 0xff, 0xff, 0x1f)],
  ])("rejects %s", (_n, ops) => {
    const w = new World();
    expect(() => w.apply(snap(5, 0, ops))).toThrow(ProtocolError);
    expect(w.entities.size).toBe(0);
  });

  it("rejects a move out of the int32 range", () => {
    const w = new World();
    w.apply(snap(1, 0, new OpWriter().enter(ent(1, { x: 0x7fffffff })).bytes()));
    expect(() => w.apply(snap(2, 1, new OpWriter().move(1, 1, 0).bytes()))).toThrow(ProtocolError);
  });

  it("applies an empty delta (the tick advances)", () => {
    const w = new World();
    w.apply(keyframe);
    w.apply(snap(1202, 1201, new Uint8Array(0)));
    expect(w.lastTick).toBe(1202);
    expect(w.entities.size).toBe(4);
  });

  it("property: applying encodeDeltaOps(a, b) onto a gives b", () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const randomWorld = (): Entity[] => {
      const out: Entity[] = [];
      for (let id = 1; id <= 40; id++) {
        if (rnd(3) === 0) continue;
        out.push(ent(id, {
          kind: rnd(3), x: rnd(3) ? rnd(20000) - 1000 : rnd(2 ** 31), y: rnd(16000), hp: rnd(256),
          owner: rnd(2) ? rnd(2 ** 32) : 0, score: rnd(20), flags: rnd(4),
        }));
      }
      return out;
    };
    for (let round = 0; round < 200; round++) {
      const a = randomWorld();
      // b: mostly small moves of a, some changes, some new and removed
      const b = (rnd(2) ? randomWorld() : a.map((e) => ({ ...e, x: e.x + rnd(200) - 100, y: e.y + rnd(3) - 1 })))
        .filter(() => rnd(10) !== 0);
      const w = new World();
      w.apply(snap(10, 0, encodeKeyframeOps(a)));
      w.apply(snap(11, 10, encodeDeltaOps(a, b)));
      const got = [...w.entities.values()].sort((p, q) => p.id - q.id);
      expect(got).toEqual([...b].sort((p, q) => p.id - q.id));
    }
  });
});
