import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { arenaStep, clampUnit, toFloat32, type Vec } from "../src/movement.js";
import { Predictor } from "../src/prediction.js";

/** A movement vector: start at (x, y), one Input per entry, the position after each. */
export interface MovementVector {
  name: string;
  x: number;
  y: number;
  hz: number;
  width: number;
  height: number;
  inputs: Array<[number, number]>;
  out: Array<[number, number]>;
}

// RALLYPOINT_VECTORS overrides the path (to try a server worktree's file).
const shared = process.env.RALLYPOINT_VECTORS || fileURLToPath(new URL("../../../docs/movement-vectors.json", import.meta.url));

// A few vectors from the Go generator (game.ArenaMove), used only until
// docs/movement-vectors.json is in this checkout.
const fallback: MovementVector[] = [
  { name: "east", x: 500, y: 500, hz: 30, width: 1000, height: 1000, inputs: [[1, 0]], out: [[505, 500]] },
  { name: "diagonal is normalized", x: 500, y: 500, hz: 30, width: 1000, height: 1000, inputs: [[1, 1], [1, 1], [-1, 1]],
    out: [[503.5625, 503.5625], [507.125, 507.125], [503.5625, 510.6875]] },
  { name: "partial stick", x: 500, y: 500, hz: 30, width: 1000, height: 1000, inputs: [[0.3, -0.2], [0.3, -0.2], [0.1, 0.7]],
    out: [[501.5, 499], [503, 498], [503.5, 501.5]] },
  { name: "out of range is clamped", x: 500, y: 500, hz: 30, width: 1000, height: 1000, inputs: [[5, 0], [-3, 2]],
    out: [[505, 500], [501.4375, 503.5625]] },
  { name: "west wall", x: 2.0625, y: 10, hz: 30, width: 1000, height: 1000, inputs: [[-1, 0], [-1, 0], [-0.7, -0.7]],
    out: [[0, 10], [0, 10], [0, 6.5]] },
];

export function loadVectors(): { vectors: MovementVector[]; fromFile: boolean } {
  if (!existsSync(shared)) return { vectors: fallback, fromFile: false };
  const j = JSON.parse(readFileSync(shared, "utf8")) as { vectors: MovementVector[] };
  return { vectors: j.vectors, fromFile: true };
}

const { vectors, fromFile } = loadVectors();

describe(`arena movement vectors (${fromFile ? "docs/movement-vectors.json" : "built-in fallback"})`, () => {
  it("has vectors", () => {
    expect(vectors.length).toBeGreaterThan(0);
  });

  it.each(vectors.map((v) => [v.name, v] as const))("arenaStep: %s", (_n, v) => {
    const p = { hz: v.hz, width: toFloat32(v.width), height: toFloat32(v.height) };
    const pos: Vec = { x: v.x, y: v.y };
    v.inputs.forEach(([dx, dy], i) => {
      arenaStep(pos, toFloat32(dx), toFloat32(dy), p);
      expect([pos.x, pos.y], `after input ${i}`).toEqual(v.out[i]);
    });
  });

  it.each(vectors.map((v) => [v.name, v] as const))("prediction and reconciliation: %s", (_n, v) => {
    const p = { hz: v.hz, width: toFloat32(v.width), height: toFloat32(v.height) };
    const pr = new Predictor(arenaStep, p);
    expect(pr.reconcile(0, v.x, v.y, false)).toEqual({ seq: 0, error: 0 });
    // every input predicted at once, before any ack
    v.inputs.forEach(([dx, dy], i) => {
      pr.applyLocal(i + 1, toFloat32(dx), toFloat32(dy));
      expect([pr.pos.x, pr.pos.y]).toEqual(v.out[i]);
    });
    const last = v.out[v.out.length - 1]!;
    // the server acknowledges them one by one with its positions: no correction, ever
    v.out.forEach(([x, y], i) => {
      const c = pr.reconcile(i + 1, x, y, false);
      expect(c).toEqual({ seq: i + 1, error: 0 });
      expect([pr.pos.x, pr.pos.y]).toEqual(last);
      expect(pr.pending).toBe(v.inputs.length - i - 1);
    });
    expect(pr.offset).toEqual({ x: 0, y: 0 });
  });
});

describe("arenaStep", () => {
  const p = { hz: 30, width: 1000, height: 1000 };
  it("maps NaN to 0 and clamps", () => {
    expect(clampUnit(NaN)).toBe(0);
    expect(clampUnit(-7)).toBe(-1);
    expect(clampUnit(0.5)).toBe(0.5);
    const pos = { x: 10, y: 10 };
    arenaStep(pos, NaN, 1, p);
    expect(pos).toEqual({ x: 10, y: 15 });
  });
  it("stays on the field and on the 1/16 grid", () => {
    const pos = { x: 999, y: 0.5 };
    arenaStep(pos, 1, -1, { hz: 30, width: toFloat32(999.97), height: 1000 });
    expect(pos.x).toBe(999.9375); // floor(999.97 * 16) / 16
    expect(pos.y).toBe(0);
    for (let i = 0; i < 100; i++) {
      arenaStep(pos, toFloat32(Math.sin(i)), toFloat32(Math.cos(i * 1.3)), p);
      expect(pos.x * 16).toBe(Math.round(pos.x * 16));
      expect(pos.y * 16).toBe(Math.round(pos.y * 16));
    }
  });
  it("uses float32 inputs: 0.1 is not 0.1", () => {
    const a = { x: 500, y: 500 };
    arenaStep(a, toFloat32(0.1), 0, p);
    expect(a.x).toBe(500.5);
  });
});
