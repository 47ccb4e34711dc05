// Prediction of the local avatar with reconciliation by input seq (protocol
// v2: one Input is exactly one tick of movement).
//
// The logical predicted position is always exact: the server position of the
// avatar in the last snapshot, plus every sent Input with seq > ackSeq
// replayed through the movement function. What is drawn adds a visual offset
// that absorbs each correction and decays over a few frames.

import type { MovementFn, MovementParams, Vec } from "./movement.js";

/** PredictorOptions tune Predictor. */
export interface PredictorOptions {
  /** Time constant (ms) of the decay of the visual correction offset. If zero, 50 ms is used. */
  smoothingMs?: number;
  /** Corrections larger than this (world units) are shown at once (respawns). If zero, 32 is used. */
  snapDistance?: number;
  /** The most unacknowledged Inputs kept. If zero, 256 is used. */
  capacity?: number;
}

/** Correction is reported on every reconciliation. error is in world units (0: the prediction was exact). */
export interface Correction {
  seq: number;
  error: number;
}

/** Predictor predicts one avatar from its unacknowledged inputs. */
export class Predictor {
  readonly step: MovementFn;
  params: MovementParams;
  private readonly cap: number;
  private readonly seqs: Float64Array;
  private readonly dxs: Float64Array;
  private readonly dys: Float64Array;
  private head = 0; // index of the oldest pending input
  private count = 0;
  private readonly smoothingMs: number;
  private readonly snapDist: number;

  /** True once a snapshot has given the avatar's server position. */
  hasState = false;
  /** Logical predicted position (world units) after every pending input. */
  readonly pos: Vec = { x: 0, y: 0 };
  /** Logical position before the newest input (for drawing within a tick). */
  readonly prev: Vec = { x: 0, y: 0 };
  /** Visual correction offset added when drawing; decays to 0. */
  readonly offset: Vec = { x: 0, y: 0 };
  /** True when the server says the avatar is dead: inputs do not move it. */
  dead = false;
  private readonly tmp: Vec = { x: 0, y: 0 };

  constructor(step: MovementFn, params: MovementParams, o: PredictorOptions = {}) {
    this.step = step;
    this.params = params;
    this.cap = o.capacity || 256;
    this.seqs = new Float64Array(this.cap);
    this.dxs = new Float64Array(this.cap);
    this.dys = new Float64Array(this.cap);
    this.smoothingMs = o.smoothingMs || 50;
    this.snapDist = o.snapDistance || 32;
  }

  /** pending is the number of sent, unacknowledged inputs. */
  get pending(): number {
    return this.count;
  }

  /**
   * keepUpTo drops the pending inputs numbered above lastSeq (after a resume
   * they never reached the server; the ones up to it will still be applied)
   * and keeps the state, so the keyframe reconciles as usual.
   */
  keepUpTo(lastSeq: number): void {
    while (this.count > 0 && this.seqs[(this.head + this.count - 1) % this.cap]! > lastSeq) this.count--;
  }

  /** reset drops every pending input and the state (a new connection). */
  reset(): void {
    this.head = 0;
    this.count = 0;
    this.hasState = false;
    this.offset.x = this.offset.y = 0;
    this.dead = false;
  }

  /**
   * applyLocal records an Input that was just sent and applies it to the
   * predicted position at once. dx and dy must be the float32 values sent.
   */
  applyLocal(seq: number, dx: number, dy: number): void {
    if (this.count === this.cap) {
      this.head = (this.head + 1) % this.cap;
      this.count--;
    }
    const i = (this.head + this.count) % this.cap;
    this.seqs[i] = seq;
    this.dxs[i] = dx;
    this.dys[i] = dy;
    this.count++;
    if (!this.hasState) return;
    this.prev.x = this.pos.x;
    this.prev.y = this.pos.y;
    if (!this.dead) this.step(this.pos, dx, dy, this.params);
  }

  /**
   * reconcile takes the avatar's server position (world units) from a
   * snapshot whose ackSeq is given, drops the acknowledged inputs, replays
   * the others and returns the correction (the distance between the old and
   * the new predicted position; 0 when the prediction was right).
   */
  reconcile(ackSeq: number, serverX: number, serverY: number, dead: boolean): Correction {
    while (this.count > 0 && this.seqs[this.head]! <= ackSeq) {
      this.head = (this.head + 1) % this.cap;
      this.count--;
    }
    const had = this.hasState;
    const oldX = this.pos.x;
    const oldY = this.pos.y;
    const p = this.tmp;
    p.x = serverX;
    p.y = serverY;
    this.prev.x = p.x;
    this.prev.y = p.y;
    this.dead = dead;
    if (!dead) {
      for (let n = 0; n < this.count; n++) {
        const i = (this.head + n) % this.cap;
        this.prev.x = p.x;
        this.prev.y = p.y;
        this.step(p, this.dxs[i]!, this.dys[i]!, this.params);
      }
    }
    this.pos.x = p.x;
    this.pos.y = p.y;
    this.hasState = true;
    if (!had) return { seq: ackSeq, error: 0 };
    const ex = oldX - p.x;
    const ey = oldY - p.y;
    const error = Math.sqrt(ex * ex + ey * ey);
    if (error > this.snapDist) {
      this.offset.x = this.offset.y = 0;
    } else if (error > 0) {
      this.offset.x += ex;
      this.offset.y += ey;
    }
    return { seq: ackSeq, error };
  }

  /** decay shrinks the visual offset for dtMs of elapsed time. */
  decay(dtMs: number): void {
    if (this.offset.x === 0 && this.offset.y === 0) return;
    const k = Math.exp(-Math.max(0, dtMs) / this.smoothingMs);
    this.offset.x *= k;
    this.offset.y *= k;
    if (Math.abs(this.offset.x) + Math.abs(this.offset.y) < 1e-3) this.offset.x = this.offset.y = 0;
  }

  /**
   * render writes the drawn position into out: alpha (0..1) of the way from
   * prev to pos (the progress through the newest input's tick), plus the
   * visual offset.
   */
  render(alpha: number, out: Vec): void {
    const a = alpha < 0 ? 0 : alpha > 1 ? 1 : alpha;
    out.x = this.prev.x + (this.pos.x - this.prev.x) * a + this.offset.x;
    out.y = this.prev.y + (this.pos.y - this.prev.y) * a + this.offset.y;
  }
}
