import { describe, expect, it } from "vitest";
import { Interpolator, ServerClock } from "../src/interpolation.js";
import { encodeDeltaOps, encodeKeyframeOps, type Entity, newEntity, World } from "../src/world.js";

const HZ = 30;
const TICK = 1000 / HZ;

/** A seeded pseudo-random generator (tests must be repeatable). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

/** arrivals delivers ticks in order (like TCP) with the given extra delay each; returns [tick, time]. */
function arrivals(from: number, n: number, t0: number, late: (i: number) => number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let prev = -Infinity;
  for (let i = 0; i < n; i++) {
    const t = Math.max(prev, t0 + i * TICK + late(i)); // in order: a late one holds back the next
    out.push([from + i, t]);
    prev = t;
  }
  return out;
}

describe("ServerClock", () => {
  it("is about three snapshot intervals behind on a calm network", () => {
    const c = new ServerClock(HZ);
    for (const [tick, t] of arrivals(100, 90, 0, () => 0)) {
      c.onSnapshot(tick, t);
      c.renderTick(t);
    }
    const now = 89 * TICK + 10;
    const rt = c.renderTick(now);
    expect(c.delayMs()).toBeCloseTo(3 * TICK, 5);
    expect(c.serverTick(now)).toBeCloseTo(189 + 10 / TICK, 5);
    expect(rt).toBeCloseTo(186 + 10 / TICK, 5);
  });

  it("grows the delay fast under jitter, never goes back, and renders only ticks that have arrived", () => {
    const c = new ServerClock(HZ);
    const r = rng(7);
    const calm = arrivals(1, 60, 0, () => 0);
    const jittery = arrivals(61, 150, 60 * TICK, () => r() * 80);
    const all = [...calm, ...jittery];
    let i = 0;
    let last = NaN;
    let held = 0;
    let frames = 0;
    const frame = 1000 / 60;
    for (let now = 0; now < all[all.length - 1]![1]; now += frame) {
      while (i < all.length && all[i]![1] <= now) {
        c.onSnapshot(all[i]![0], all[i]![1]);
        i++;
      }
      if (!c.ready) continue;
      const rt = c.renderTick(now);
      const newest = all[i - 1]![0];
      expect(rt).toBeLessThanOrEqual(newest); // never past what has arrived
      if (last === last) {
        expect(rt).toBeGreaterThanOrEqual(last); // never backwards
        expect(rt - last).toBeLessThanOrEqual((frame / TICK) * 1.05 + 1e-9); // never jumps
        if (now > 70 * TICK) {
          frames++;
          if (rt === last) held++;
        }
      }
      last = rt;
    }
    expect(c.delayMs()).toBeGreaterThan(2 * TICK + 40);
    expect(c.delayMs()).toBeLessThan(3 * TICK + 100);
    expect(held / frames).toBeLessThan(0.02); // time hardly ever had to stop
  });

  it("shrinks the delay slowly once the network is calm again", () => {
    const c = new ServerClock(HZ);
    const spikes = arrivals(1, 60, 0, (i) => (i % 10 === 5 ? 90 : 0));
    const calm = arrivals(61, 600, 60 * TICK, () => 0);
    const delays: number[] = [];
    for (const [tick, t] of [...spikes, ...calm]) {
      c.onSnapshot(tick, t);
      c.renderTick(t);
      delays.push(c.delayMs());
    }
    const atCalm = delays[60]!;
    expect(atCalm).toBeGreaterThan(2 * TICK + 80);
    // calm: it never grows, holds while the window remembers the spikes, then comes down gradually
    for (let i = 61; i < delays.length; i++) {
      expect(delays[i]!).toBeLessThanOrEqual(delays[i - 1]! + 1e-9);
      expect(delays[i - 1]! - delays[i]!).toBeLessThan(2); // ms per snapshot: slowly
    }
    expect(delays[60 + 15]!).toBeGreaterThan(atCalm - 5);
    // and after several seconds it is back to about three intervals
    expect(delays.at(-1)!).toBeLessThan(3 * TICK + 5);
  });

  it("a single stall holds time still, then catches up without a jump and without raising the delay for long", () => {
    const c = new ServerClock(HZ);
    const all = arrivals(1, 300, 0, (i) => (i === 150 ? 160 : 0)); // one snapshot 160 ms late (and the ones queued behind it)
    let i = 0;
    let last = NaN;
    const frame = 1000 / 60;
    let maxDelay = 0;
    for (let now = 0; now < all[all.length - 1]![1]; now += frame) {
      while (i < all.length && all[i]![1] <= now) {
        c.onSnapshot(all[i]![0], all[i]![1]);
        i++;
      }
      if (!c.ready) continue;
      const rt = c.renderTick(now);
      if (last === last) expect(rt - last).toBeLessThanOrEqual((frame / TICK) * 1.25 + 1e-9);
      last = rt;
      if (now > 155 * TICK + 160) maxDelay = Math.max(maxDelay, c.delayMs());
      if (now > 150 * TICK + 160 + 1000) expect(c.delayMs()).toBeLessThan(3 * TICK + 10); // caught up within a second
    }
    expect(c.jitterMs()).toBeLessThan(5);
  });

  it("maxDelayMs caps the growth for jitter, never below three intervals", () => {
    const c = new ServerClock(HZ);
    const r = rng(3);
    c.maxDelayMs = 110;
    for (const [tick, t] of arrivals(1, 200, 0, () => r() * 120)) {
      c.onSnapshot(tick, t);
      c.renderTick(t);
    }
    expect(c.targetDelayMs(200 * TICK)).toBeCloseTo(110, 6);
    c.maxDelayMs = 10;
    expect(c.targetDelayMs(200 * TICK + 40000)).toBeCloseTo(3 * TICK, 3); // comes down (slowly) to the calm delay, not below
    c.maxDelayMs = Infinity;
    expect(c.targetDelayMs(200 * TICK + 40001)).toBeGreaterThan(2 * TICK + 80); // the cap lifted: the jitter counts again
  });

  it("follows a server that falls behind (skipped ticks) instead of starving", () => {
    const c = new ServerClock(HZ);
    // ticks arrive 10% slower than nominal
    for (let i = 0; i < 300; i++) {
      const t = i * TICK * 1.1;
      c.onSnapshot(i + 1, t);
      c.renderTick(t);
      if (i > 60) expect(c.renderTick(t)).toBeLessThan(i + 1);
    }
  });
});

describe("Interpolator", () => {
  const e = (id: number, x: number, y = 0): Entity => ({ ...newEntity(id), kind: 1, x: x * 16, y: y * 16, hp: 100 });

  function run(worlds: Entity[][]): { w: World; it: Interpolator } {
    const w = new World();
    const it = new Interpolator();
    let prev: Entity[] = [];
    worlds.forEach((ents, i) => {
      const tick = 10 + i;
      w.apply({ tick, base: i === 0 ? 0 : tick - 1, ackSeq: 0, ops: i === 0 ? encodeKeyframeOps(ents) : encodeDeltaOps(prev, ents) });
      it.record(w, 16, i === 0);
      prev = ents;
    });
    return { w, it };
  }

  it("samples linearly between ticks and clamps at the ends", () => {
    const { it } = run([[e(1, 0)], [e(1, 5)], [e(1, 10)], [e(1, 15)]]);
    const at = (t: number) => it.sample(t, 0)[0]!.x;
    expect(at(10)).toBe(0);
    expect(at(10.5)).toBe(2.5);
    expect(at(11.25)).toBe(6.25);
    expect(at(13)).toBe(15);
    expect(at(20)).toBe(15); // no extrapolation
    expect(at(2)).toBe(0);
  });

  it("shows a teleport as a jump, not a slide", () => {
    const { it } = run([[e(1, 0)], [e(1, 5)], [e(1, 900, 900)], [e(1, 905, 900)]]);
    expect(it.sample(11.5, 0)[0]!.x).toBe(5);
    expect(it.sample(12, 0)[0]!.x).toBe(900);
    expect(it.sample(12.5, 0)[0]!.x).toBe(902.5);
  });

  it("does not slide across a respawn (the dead flag cleared), even a short one", () => {
    const dead = (x: number): Entity => ({ ...e(1, x), flags: 1 });
    const { it } = run([[e(1, 0)], [dead(0)], [dead(0)], [e(1, 12)], [e(1, 17)]]);
    expect(it.sample(10.5, 0)[0]!.flags).toBe(0); // the flags at the render tick, not the newest
    expect(it.sample(11, 0)[0]!.flags).toBe(1);
    expect(it.sample(12.5, 0)[0]!).toMatchObject({ x: 0, flags: 1 });
    expect(it.sample(13, 0)[0]!).toMatchObject({ x: 12, flags: 0 });
    expect(it.sample(13.5, 0)[0]!.x).toBe(14.5);
  });

  it("allows longer moves across skipped ticks", () => {
    const w = new World();
    const it = new Interpolator();
    w.apply({ tick: 10, base: 0, ackSeq: 0, ops: encodeKeyframeOps([e(1, 0)]) });
    it.record(w, 16, true);
    w.apply({ tick: 20, base: 0, ackSeq: 0, ops: encodeKeyframeOps([e(1, 50)]) }); // 10 ticks later: 5 per tick
    it.record(w, 16, true);
    expect(it.sample(15, 0)[0]!.x).toBe(25);
  });

  it("draws comings and goings at the render tick, and reuses its objects", () => {
    // 3 enters at tick 11, 1 leaves at tick 12
    const { it } = run([[e(1, 0), e(2, 0)], [e(1, 5), e(2, 1), e(3, 7)], [e(2, 2), e(3, 8)]]);
    const ids = (t: number) => it.sample(t, 0).map((x) => x.id).sort();
    expect(ids(10.5)).toEqual([1, 2]); // 3 not yet
    const a = it.sample(11.5, 0);
    expect(a.map((x) => x.id).sort()).toEqual([1, 2, 3]); // 1 still
    const three = a.find((x) => x.id === 3)!;
    expect(three.x).toBe(7.5);
    expect(it.get(1)!.x).toBe(5);
    const b = it.sample(12, 0);
    expect(b).toBe(a);
    expect(b.map((x) => x.id).sort()).toEqual([2, 3]); // 1 has gone
    expect(b.find((x) => x.id === 3)).toBe(three);
    expect(it.get(1)).toBeUndefined();
    expect(it.size).toBe(2);
  });

  it("an entity that leaves and comes back moves on smoothly across the gap", () => {
    const { it } = run([[e(1, 0), e(2, 0)], [e(1, 5), e(2, 0)], [e(2, 0)], [e(2, 0)], [e(1, 20), e(2, 0)]]);
    expect(it.sample(11, 0).map((x) => x.id).sort()).toEqual([1, 2]);
    expect(it.get(1)!.x).toBe(5);
    expect(it.sample(12.5, 0).find((x) => x.id === 1)!.x).toBe(12.5); // from 5 at 11 to 20 at 14
  });

  it("draws the own avatar from the start and drops it at once when it is removed", () => {
    const w = new World();
    const it = new Interpolator();
    w.apply({ tick: 10, base: 0, ackSeq: 0, ops: encodeKeyframeOps([e(2, 0)]) });
    it.record(w, 16, true);
    w.apply({ tick: 11, base: 10, ackSeq: 0, ops: encodeDeltaOps([e(2, 0)], [e(2, 0), e(3, 50)]) });
    it.record(w, 16);
    expect(it.sample(10.2, 3).map((x) => x.id).sort()).toEqual([2, 3]); // self entered at 11, drawn anyway
    expect(it.sample(10.4, 0).map((x) => x.id)).toEqual([2]); // another entity entering at 11 would not be
    w.apply({ tick: 12, base: 11, ackSeq: 0, ops: encodeDeltaOps([e(2, 0), e(3, 50)], [e(2, 0)]) });
    it.record(w, 16);
    expect(it.sample(10.6, 3).map((x) => x.id)).toEqual([2]);
    expect(it.get(3)).toBeUndefined();
  });

  it("keeps the ring across a keyframe (a resume) and drops only what left", () => {
    const w = new World();
    const it = new Interpolator();
    w.apply({ tick: 10, base: 0, ackSeq: 0, ops: encodeKeyframeOps([e(1, 0), e(2, 0)]) });
    it.record(w, 16, true);
    w.apply({ tick: 11, base: 10, ackSeq: 0, ops: encodeDeltaOps([e(1, 0), e(2, 0)], [e(1, 4), e(2, 0)]) });
    it.record(w, 16);
    w.reset();
    w.apply({ tick: 14, base: 0, ackSeq: 0, ops: encodeKeyframeOps([e(1, 16)]) });
    it.record(w, 16, true);
    expect(it.size).toBe(2); // 2 is drawn until tick 14
    expect(it.sample(12.5, 0).find((x) => x.id === 1)!.x).toBe(10); // between tick 11 (4) and 14 (16)
    expect(it.sample(14, 0).map((x) => x.id)).toEqual([1]);
    expect(it.size).toBe(1);
  });

  it("copes with long runs (ring wrap-around)", () => {
    const worlds: Entity[][] = [];
    for (let i = 0; i < 200; i++) worlds.push([e(1, i)]);
    const { it } = run(worlds);
    expect(it.sample(10 + 199.5, 0)[0]!.x).toBe(199);
    expect(it.sample(10 + 180.25, 0)[0]!.x).toBe(180.25);
    expect(it.sample(10, 0)[0]!.x).toBe(200 - 64); // older than the ring: its oldest sample
  });
});
