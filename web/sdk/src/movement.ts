// The arena movement step of protocol v2, reproduced bit for bit from the Go
// server (spec-v2 "Arena movement step"): IEEE float64 arithmetic, no fused
// multiply-add (JavaScript never fuses), dx/dy as float32 values.

/** Vec is a mutable 2D position in world units. */
export interface Vec {
  x: number;
  y: number;
}

/** ArenaSpeed is the arena avatar speed in units per second at full input. */
export const ArenaSpeed = 150;

/** MovementParams are the match constants a movement step needs (from the Welcome). */
export interface MovementParams {
  hz: number;
  width: number;
  height: number;
}

/** MovementFn advances pos in place by one tick of input (dx, dy already float32). */
export type MovementFn = (pos: Vec, dx: number, dy: number, p: MovementParams) => void;

/** clampUnit maps NaN to 0 and clamps to [-1, 1]. */
export function clampUnit(v: number): number {
  if (v !== v) return 0;
  return v < -1 ? -1 : v > 1 ? 1 : v;
}

/** toFloat32 rounds v to the float32 the server will see (NaN and infinities become 0, as the encoder sends them). */
export function toFloat32(v: number): number {
  return Number.isFinite(v) ? Math.fround(v) : 0;
}

function clampAxis(v: number, max: number): number {
  if (v !== v) return 0;
  return v < 0 ? 0 : v > max ? max : v;
}

/**
 * arenaStep moves pos by one tick of input (dx, dy), exactly as the server:
 * normalize if longer than 1, move at 150/hz units, clamp to the field
 * (width and height floored to 1/16), round to 1/16.
 *
 * dx and dy must be the float32 values sent on the wire: pass them through
 * toFloat32 (the SDK does) before predicting.
 */
export const arenaStep: MovementFn = (pos, dxIn, dyIn, p) => {
  let dx = clampUnit(dxIn);
  let dy = clampUnit(dyIn);
  const n = dx * dx + dy * dy;
  if (n > 1) {
    const l = Math.sqrt(n);
    dx = dx / l;
    dy = dy / l;
  }
  const step = ArenaSpeed / p.hz;
  const w = Math.floor(p.width * 16) / 16;
  const h = Math.floor(p.height * 16) / 16;
  const x = clampAxis(pos.x + dx * step, w);
  const y = clampAxis(pos.y + dy * step, h);
  pos.x = Math.round(x * 16) / 16;
  pos.y = Math.round(y * 16) / 16;
};
