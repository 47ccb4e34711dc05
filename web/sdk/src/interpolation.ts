// Interpolation of remote entities (geckos.io snapshot-interpolation style):
// every entity keeps a ring buffer of positions keyed by server tick; each
// animation frame samples all of them at the render tick into reused objects.
//
//   renderTick = estimated server tick - interpolation delay (in ticks)
//
// The estimated server tick comes from snapshot arrival times (ServerClock).
// The delay adapts to the measured arrival jitter: it grows fast, shrinks
// slowly, and is about three snapshot intervals when the network is calm.

import { type Entity, FlagDead, type World } from "./world.js";

/** ClockOptions tune ServerClock. All times are milliseconds. */
export interface ClockOptions {
  /** Delay in snapshot intervals when there is no jitter. If zero, 3 is used. */
  calmIntervals?: number;
  /** The share of arrivals the delay must cover: the jitter is this percentile of lateness. If zero, 0.95 is used. */
  jitterPercentile?: number;
  /** How many recent arrivals the percentile is taken over. If zero, 3 seconds' worth (3 * hz) are used. */
  jitterWindow?: number;
  /** Half-life with which the target delay comes down when the jitter has gone. If zero, 2000 ms is used. */
  shrinkHalfLifeMs?: number;
  /** How much faster than real time the render clock runs, at least, when it is behind its target. If zero, 0.05 (5%) is used. */
  shrinkRate?: number;
  /** How much faster, at most (when it is far behind, after a stall). If zero, 0.25 is used. */
  maxCatchUp?: number;
  /** While the delay grows the render clock runs at least this fast. Default 0.25. */
  growFloor?: number;
  /** Render time more than this far from its target jumps instead of sliding. If zero, 1000 ms is used. */
  snapMs?: number;
}

/**
 * ServerClock estimates the server tick from snapshot arrivals and keeps a
 * monotonic render tick behind it by an adaptive delay.
 *
 * Lateness is how much later than the earliest arrivals a snapshot comes.
 * The jitter J is a high percentile (95%) of the lateness of the last three
 * seconds of arrivals, so one stall does not inflate the delay for long. The
 * target delay is max(3 intervals, 2 intervals + J): it rises at once with
 * J and comes down with a 2 s half-life. The render clock steers towards it
 * without ever jumping or going back, and never passes the newest snapshot.
 */
export class ServerClock {
  readonly hz: number;
  readonly tickMs: number;
  private readonly calm: number;
  private readonly pct: number;
  private readonly shrinkHalfLife: number;
  private readonly shrinkRate: number;
  private readonly maxCatchUp: number;
  private readonly growFloor: number;
  private readonly snapMs: number;

  /** Local time (ms) at which server tick 0 would have arrived, from the earliest arrivals. */
  private offset = NaN;
  /** Smallest lateness in the current window, to follow a server that runs slow. */
  private windowMin = Infinity;
  private windowStart = 0;
  /** Lateness of the recent arrivals (ring) and a scratch copy for the percentile. */
  private readonly late: Float64Array;
  private readonly sorted: Float64Array;
  private lateHead = 0;
  private lateCount = 0;
  private jitter = 0;
  /** The target delay (ms): rises at once, decays slowly. */
  private target = 0;
  private targetAt = 0;
  private render = NaN;
  private renderAt = 0;
  /** The newest snapshot tick seen. */
  latestTick = 0;

  constructor(hz: number, o: ClockOptions = {}) {
    this.hz = hz;
    this.tickMs = 1000 / hz;
    this.calm = o.calmIntervals || 3;
    this.pct = o.jitterPercentile || 0.95;
    const n = o.jitterWindow || Math.max(30, Math.round(3 * hz));
    this.late = new Float64Array(n);
    this.sorted = new Float64Array(n);
    this.shrinkHalfLife = o.shrinkHalfLifeMs || 2000;
    this.shrinkRate = o.shrinkRate || 0.05;
    this.maxCatchUp = o.maxCatchUp || 0.25;
    this.growFloor = o.growFloor ?? 0.25;
    this.snapMs = o.snapMs || 1000;
    this.target = this.calm * this.tickMs;
  }

  /** ready reports whether a snapshot has been seen. */
  get ready(): boolean {
    return this.offset === this.offset;
  }

  /** onSnapshot records that the snapshot of tick arrived at local time now (ms). */
  onSnapshot(tick: number, now: number): void {
    if (tick > this.latestTick) this.latestTick = tick;
    const s = now - tick * this.tickMs;
    if (!this.ready || s < this.offset) {
      if (this.ready) this.shiftLateness(this.offset - s);
      this.offset = s;
      this.windowMin = 0;
      this.windowStart = now;
    }
    const late = s - this.offset;
    if (late < this.windowMin) this.windowMin = late;
    if (now - this.windowStart >= 1000) {
      // Every arrival of the last second was late by at least windowMin:
      // the server runs behind our estimate (it skipped ticks), follow it.
      if (this.windowMin > 0 && this.windowMin !== Infinity) {
        this.offset += this.windowMin;
        this.shiftLateness(-this.windowMin);
      }
      this.windowMin = Infinity;
      this.windowStart = now;
    }
    this.addLateness(s - this.offset);
    this.updateTarget(now);
  }

  /** shiftLateness adds d to every recorded lateness (the offset moved). */
  private shiftLateness(d: number): void {
    for (let i = 0; i < this.lateCount; i++) this.late[i] = Math.max(0, this.late[i]! + d);
  }

  private addLateness(v: number): void {
    const n = this.late.length;
    this.late[this.lateHead] = v;
    this.lateHead = (this.lateHead + 1) % n;
    if (this.lateCount < n) this.lateCount++;
    const k = this.lateCount;
    const a = this.sorted.subarray(0, k);
    a.set(this.late.subarray(0, k));
    a.sort();
    this.jitter = a[Math.min(k - 1, Math.floor(this.pct * k))]!;
  }

  /**
   * maxDelayMs caps how far the delay may grow above calmIntervals for
   * jitter (Infinity: no cap). Rallypoint sets it to keep what the player
   * sees within the server's lag-compensation window.
   */
  maxDelayMs = Infinity;

  private updateTarget(now: number): void {
    const calm = this.calm * this.tickMs;
    const want = Math.max(this.calm, this.calm - 1 + this.jitter / this.tickMs) * this.tickMs;
    const raw = Math.max(calm, Math.min(want, this.maxDelayMs));
    if (raw >= this.target) this.target = raw;
    else this.target = raw + (this.target - raw) * Math.pow(0.5, Math.max(0, now - this.targetAt) / this.shrinkHalfLife);
    this.targetAt = now;
  }

  /** jitterMs is the measured arrival jitter: the percentile of recent lateness. */
  jitterMs(_now?: number): number {
    return this.jitter;
  }

  /** serverTick is the estimated (fractional) newest server tick at local time now. */
  serverTick(now: number): number {
    if (!this.ready) return 0;
    return (now - this.offset) / this.tickMs;
  }

  /**
   * targetDelayMs is the delay the render clock is steering towards:
   * calmIntervals snapshot intervals, or (calmIntervals - 1) intervals plus
   * the jitter when that is more. Drawing tick R needs the snapshot of tick
   * ceil(R), which arrives up to `jitter` late: one interval plus the jitter
   * would just do; the extra interval is the margin.
   */
  targetDelayMs(now: number): number {
    this.updateTarget(now);
    return this.target;
  }

  /**
   * renderTick advances and returns the render tick at local time now. It
   * never goes backwards and never passes the newest snapshot tick: a
   * growing delay slows the render clock (to no less than growFloor of real
   * time); behind its target the clock runs faster by shrinkRate, up to
   * maxCatchUp when far behind (after a stall); a late snapshot stops it. So
   * drawn motion never jumps (except after a gap over snapMs).
   */
  renderTick(now: number): number {
    if (!this.ready) return 0;
    const ideal = this.serverTick(now) - this.targetDelayMs(now) / this.tickMs;
    if (this.render !== this.render || Math.abs(ideal - this.render) * this.tickMs > this.snapMs) {
      this.render = Math.min(ideal, this.latestTick);
      this.renderAt = now;
      return this.render;
    }
    const dt = now - this.renderAt;
    if (dt <= 0) return this.render;
    const adv = dt / this.tickMs;
    let next = this.render + adv;
    if (ideal > next) {
      // behind: 5% faster when a little behind, up to 25% after a stall
      const behind = ideal - next;
      const rate = Math.min(this.maxCatchUp, Math.max(this.shrinkRate, 0.1 * behind));
      next = Math.min(ideal, this.render + adv * (1 + rate));
    } else if (ideal < next) next = Math.max(ideal, this.render + adv * this.growFloor);
    // Never past the newest snapshot: with nothing to interpolate towards,
    // time stops (everything holds still) rather than jumping ahead later.
    if (next > this.latestTick) next = Math.max(this.render, this.latestTick);
    this.render = next;
    this.renderAt = now;
    return next;
  }

  /** delayMs is how far (ms) the last render tick was behind the estimated server tick. */
  delayMs(): number {
    if (!this.ready || this.render !== this.render) return this.calm * this.tickMs;
    return (this.serverTick(this.renderAt) - this.render) * this.tickMs;
  }
}

/**
 * RenderEntity is what a frame shows of an entity: position (world units)
 * and flags at the render tick, the other fields from the newest snapshot.
 * Reused between frames.
 */
export interface RenderEntity {
  id: number;
  kind: number;
  x: number;
  y: number;
  hp: number;
  owner: number;
  score: number;
  flags: number;
  /** True for the local player's avatar. */
  self: boolean;
}

/** RingCapacity is the number of positions each entity keeps (about 2 s at 30 Hz). */
export const RingCapacity = 64;

class Track {
  readonly ticks = new Float64Array(RingCapacity);
  readonly xs = new Float64Array(RingCapacity);
  readonly ys = new Float64Array(RingCapacity);
  /** 1 when the sample is a jump (teleport) from the one before: do not interpolate into it. */
  readonly jump = new Uint8Array(RingCapacity);
  /** Entity flags at each sample (the dead flag is drawn at render time, with the position). */
  readonly fl = new Uint8Array(RingCapacity);
  head = 0; // index of the newest sample
  count = 0;
  seen = 0;
  flags = 0;
  /** The tick it entered the view (-Infinity: it was there when we joined). Not drawn before. */
  born = -Infinity;
  /** The tick it left the view or the world (Infinity: it is still there). Not drawn from then on. */
  gone = Infinity;
  /** Drawn in the last sample(). */
  visible = false;
  entity: Entity | null = null;
  readonly out: RenderEntity = { id: 0, kind: 0, x: 0, y: 0, hp: 0, owner: 0, score: 0, flags: 0, self: false };

  reset(e: Entity, born: number): void {
    this.head = 0;
    this.count = 0;
    this.flags = e.flags;
    this.born = born;
    this.gone = Infinity;
    this.visible = false;
    this.entity = e;
    this.out.id = e.id;
  }

  /**
   * push adds the position at tick. The sample is a jump (drawn without
   * sliding into it) when it moved further than jumpPerTick (|dx|+|dy|) per
   * tick since the previous sample, or when the entity came back to life
   * (the dead flag cleared: a respawn).
   */
  push(tick: number, x: number, y: number, flags: number, jumpPerTick: number): void {
    const revived = (this.flags & FlagDead) !== 0 && (flags & FlagDead) === 0;
    this.flags = flags;
    if (this.count > 0) {
      const t = this.ticks[this.head]!;
      if (tick <= t) {
        // the same tick again (a keyframe after a resume): overwrite
        if (tick === t) {
          this.xs[this.head] = x;
          this.ys[this.head] = y;
          this.fl[this.head] = flags;
        }
        return;
      }
    }
    const prevX = this.xs[this.head]!;
    const prevY = this.ys[this.head]!;
    const gap = this.count > 0 ? tick - this.ticks[this.head]! : 0;
    this.head = (this.head + 1) % RingCapacity;
    this.ticks[this.head] = tick;
    this.xs[this.head] = x;
    this.ys[this.head] = y;
    this.fl[this.head] = flags;
    this.jump[this.head] = gap > 0 && (revived || Math.abs(x - prevX) + Math.abs(y - prevY) > jumpPerTick * gap) ? 1 : 0;
    if (this.count < RingCapacity) this.count++;
  }

  /**
   * sample writes the position and flags at tick t into out (clamped to the
   * oldest/newest sample). Between two samples the position is interpolated
   * and the flags are the older sample's.
   */
  sample(t: number): void {
    const o = this.out;
    let i = this.head;
    if (this.count === 0) return;
    if (t >= this.ticks[i]!) {
      o.x = this.xs[i]!;
      o.y = this.ys[i]!;
      o.flags = this.fl[i]!;
      return;
    }
    for (let n = 1; n < this.count; n++) {
      const j = (i - 1 + RingCapacity) % RingCapacity;
      const t0 = this.ticks[j]!;
      if (t >= t0) {
        o.flags = this.fl[j]!;
        if (this.jump[i]) {
          o.x = this.xs[j]!;
          o.y = this.ys[j]!;
        } else {
          const a = (t - t0) / (this.ticks[i]! - t0);
          o.x = this.xs[j]! + (this.xs[i]! - this.xs[j]!) * a;
          o.y = this.ys[j]! + (this.ys[i]! - this.ys[j]!) * a;
        }
        return;
      }
      i = j;
    }
    o.x = this.xs[i]!;
    o.y = this.ys[i]!;
    o.flags = this.fl[i]!;
  }
}

/** InterpolatorOptions tune Interpolator. */
export interface InterpolatorOptions {
  /**
   * A move longer than this per tick (world units, |dx|+|dy|) between two
   * samples is a teleport, drawn without sliding. If zero, 20 is used (the
   * arena moves 5 per tick at 30 Hz).
   */
  teleportDistance?: number;
}

/**
 * Interpolator keeps a position ring per entity of the World and samples
 * them at a render tick into reused RenderEntity objects.
 */
export class Interpolator {
  private readonly byId = new Map<number, Track>();
  private readonly tracks: Track[] = [];
  private readonly pool: Track[] = [];
  private stamp = 0;
  private readonly jumpDist: number;
  /** The sampled entities of the last sample() call; the array and its objects are reused. */
  readonly entities: RenderEntity[] = [];

  constructor(o: InterpolatorOptions = {}) {
    this.jumpDist = o.teleportDistance || 20;
  }

  /** size is the number of entities followed. */
  get size(): number {
    return this.tracks.length;
  }

  /** clear forgets every entity. */
  clear(): void {
    for (const t of this.tracks) this.release(t);
    this.tracks.length = 0;
    this.byId.clear();
    this.entities.length = 0;
  }

  private release(t: Track): void {
    t.entity = null;
    this.pool.push(t);
  }

  /**
   * record adds the world's positions at its lastTick to every ring.
   * Entities are drawn in the past, so their comings and goings are too: an
   * entity that entered in a delta is drawn from its entry tick on, one that
   * left (OpRemove, or missing from a keyframe) until its leaving tick; then
   * its ring is dropped. Entities of a keyframe (joining, resuming) are
   * drawn at once. posScale converts quanta to world units.
   */
  record(world: World, posScale: number, keyframe = false): void {
    const tick = world.lastTick;
    const stamp = ++this.stamp;
    for (const e of world.entities.values()) {
      let t = this.byId.get(e.id);
      if (!t) {
        t = this.pool.pop() ?? new Track();
        t.reset(e, keyframe ? -Infinity : tick);
        this.byId.set(e.id, t);
        this.tracks.push(t);
      }
      t.entity = e;
      t.seen = stamp;
      t.gone = Infinity; // back in view: drawn across the time it was out of view
      t.push(tick, e.x / posScale, e.y / posScale, e.flags, this.jumpDist);
    }
    for (let i = this.tracks.length - 1; i >= 0; i--) {
      const t = this.tracks[i]!;
      if (t.seen === stamp) continue;
      if (t.gone === Infinity) t.gone = tick;
      // gone longer than the ring holds: nobody draws that far back
      if (tick - t.gone > RingCapacity) this.drop(i);
    }
  }

  private drop(i: number): void {
    const t = this.tracks[i]!;
    this.byId.delete(t.out.id);
    this.tracks[i] = this.tracks[this.tracks.length - 1]!;
    this.tracks.pop();
    this.release(t);
  }

  /**
   * sample samples every entity visible at renderTick into this.entities
   * (reused objects, no allocation once warm). selfId marks the local
   * avatar, which is always drawn while it exists (it is predicted in the
   * present).
   */
  sample(renderTick: number, selfId: number): RenderEntity[] {
    const out = this.entities;
    let n = 0;
    for (let i = this.tracks.length - 1; i >= 0; i--) {
      const t = this.tracks[i]!;
      const self = t.out.id === selfId;
      // it left before the time we draw (the own avatar: at all): forget it
      if (renderTick >= t.gone || (self && t.gone !== Infinity)) {
        this.drop(i);
        continue;
      }
      t.visible = self || renderTick >= t.born;
      if (!t.visible) continue;
      t.sample(renderTick);
      const e = t.entity!;
      const o = t.out;
      o.kind = e.kind;
      o.hp = e.hp;
      o.owner = e.owner;
      o.score = e.score;
      o.self = self;
      out[n++] = o;
    }
    if (out.length !== n) out.length = n;
    return out;
  }

  /** get returns the render object of an entity drawn by the last sample(), or undefined. */
  get(id: number): RenderEntity | undefined {
    const t = this.byId.get(id);
    return t && t.visible ? t.out : undefined;
  }
}
