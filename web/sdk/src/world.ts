// The local world mirror: entities as the server describes them, updated by
// the entity-op stream of each Snapshot exactly as docs/protocol.md section 6
// specifies, strictly (any violation is a ProtocolError and the world must be
// dropped and resumed).
//
// A snapshot is applied in two passes over its ops: the first only checks
// (so a bad snapshot leaves the world untouched), the second applies.

import { ProtocolError, type Snapshot } from "./codec.js";

/** Entity is one entity of the mirror. x and y are in quanta (1/posScale unit). */
export interface Entity {
  id: number;
  kind: number;
  x: number;
  y: number;
  hp: number;
  owner: number;
  score: number;
  flags: number;
}

export const Op = { Move: 0, Update: 1, Enter: 2, Remove: 3 } as const;
export const Field = {
  Kind: 0x01,
  X: 0x02,
  Y: 0x04,
  HP: 0x08,
  Owner: 0x10,
  Score: 0x20,
  Flags: 0x40,
  Move: 0x80,
} as const;
/** EntityKind values of the shipped games. */
export const EntityKind = { Avatar: 1, NPC: 2 } as const;
/** FlagDead is the dead bit of Entity.flags. */
export const FlagDead = 0x01;
export const MaxMirrorEntities = 65536;

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

/** WorldListener hears about entities entering and leaving the mirror. */
export interface WorldListener {
  /** entered is called (during apply) for each new entity. */
  entered?(e: Entity): void;
  /** removed is called (during apply) for each removed entity, before it is forgotten. */
  removed?(e: Entity): void;
  /** cleared is called when a keyframe drops the world. */
  cleared?(): void;
}

/** World is the client's mirror of the server world. */
export class World {
  /** The entities by id. Read freely; do not mutate. */
  readonly entities = new Map<number, Entity>();
  /** lastTick is the tick of the last snapshot applied (0: none since the Welcome). */
  lastTick = 0;
  listener: WorldListener | null = null;

  private b: Uint8Array = new Uint8Array(0);
  private i = 0;
  private scratch: Entity = newEntity(0);

  /** reset forgets everything (a new connection: lastTick = 0, no entities). */
  reset(): void {
    this.entities.clear();
    this.lastTick = 0;
    this.listener?.cleared?.();
  }

  /**
   * apply applies one Snapshot: a keyframe (base 0) replaces the world; a
   * delta must have base == lastTick. It throws ProtocolError, leaving the
   * world unchanged, on a base mismatch or any bad op.
   */
  apply(s: Snapshot): void {
    const keyframe = s.base === 0;
    if (!keyframe && s.base !== this.lastTick) {
      throw new ProtocolError(`snapshot ${s.tick}: base ${s.base}, have ${this.lastTick}`);
    }
    this.walk(s.ops, keyframe, false);
    if (keyframe) {
      this.entities.clear();
      this.listener?.cleared?.();
    }
    this.walk(s.ops, keyframe, true);
    this.lastTick = s.tick;
  }

  private walk(b: Uint8Array, keyframe: boolean, apply: boolean): void {
    this.b = b;
    this.i = 0;
    let id = 0;
    let count = keyframe ? 0 : this.entities.size;
    while (this.i < b.length) {
      const h = this.uvarint();
      const op = h % 4;
      const gap = Math.floor(h / 4);
      if (gap === 0 || id + gap > 0xffffffff) throw new ProtocolError("bad id gap");
      id += gap;
      // In a keyframe the old world is about to be dropped: it holds nothing.
      const have = keyframe && !apply ? undefined : this.entities.get(id);
      if (op === Op.Enter) {
        if (have) throw new ProtocolError(`enter of existing entity ${id}`);
        if (++count > MaxMirrorEntities) throw new ProtocolError("too many entities");
        const e = apply ? newEntity(id) : resetEntity(this.scratch, id);
        this.fields(e, true);
        if (apply) {
          this.entities.set(id, e);
          this.listener?.entered?.(e);
        }
        continue;
      }
      if (!have) throw new ProtocolError(`op ${op} for unknown entity ${id}`);
      const e = apply ? have : copyEntity(this.scratch, have);
      if (op === Op.Move) {
        this.move(e);
      } else if (op === Op.Update) {
        this.fields(e, false);
      } else {
        count--;
        if (apply) {
          this.listener?.removed?.(have);
          this.entities.delete(id);
        }
      }
    }
  }

  private fields(e: Entity, enter: boolean): void {
    const mask = this.u8();
    if (enter && mask & Field.Move) throw new ProtocolError("enter with move");
    if (!enter && mask === 0) throw new ProtocolError("empty update");
    if (mask & Field.Move && mask & (Field.X | Field.Y)) throw new ProtocolError("move with x/y");
    if (mask & Field.Kind) e.kind = this.u8();
    if (mask & Field.X) e.x = unzigzag(this.uvarint32());
    if (mask & Field.Y) e.y = unzigzag(this.uvarint32());
    if (mask & Field.HP) e.hp = this.u8();
    if (mask & Field.Owner) e.owner = this.uvarint32();
    if (mask & Field.Score) e.score = this.uvarint32();
    if (mask & Field.Flags) e.flags = this.u8();
    if (mask & Field.Move) this.move(e);
  }

  private move(e: Entity): void {
    const x = e.x + this.int8();
    const y = e.y + this.int8();
    if (x < INT32_MIN || x > INT32_MAX || y < INT32_MIN || y > INT32_MAX) {
      throw new ProtocolError("move out of int32 range");
    }
    e.x = x;
    e.y = y;
  }

  private u8(): number {
    if (this.i >= this.b.length) throw new ProtocolError("truncated op");
    return this.b[this.i++]!;
  }

  private int8(): number {
    const v = this.u8();
    return v >= 128 ? v - 256 : v;
  }

  // Unsigned LEB128 as Go's binary.Uvarint; no bit shifts (values can exceed 2^32).
  private uvarint(): number {
    let v = 0;
    let mul = 1;
    for (let n = 0; n < 10; n++) {
      const c = this.u8();
      v += (c & 0x7f) * mul;
      if (c < 0x80) return v;
      mul *= 128;
    }
    throw new ProtocolError("varint too long");
  }

  private uvarint32(): number {
    const v = this.uvarint();
    if (v > 0xffffffff) throw new ProtocolError("varint out of range");
    return v;
  }
}

export function newEntity(id: number): Entity {
  return { id, kind: 0, x: 0, y: 0, hp: 0, owner: 0, score: 0, flags: 0 };
}

function resetEntity(e: Entity, id: number): Entity {
  e.id = id;
  e.kind = e.x = e.y = e.hp = e.owner = e.score = e.flags = 0;
  return e;
}

function copyEntity(dst: Entity, src: Entity): Entity {
  dst.id = src.id;
  dst.kind = src.kind;
  dst.x = src.x;
  dst.y = src.y;
  dst.hp = src.hp;
  dst.owner = src.owner;
  dst.score = src.score;
  dst.flags = src.flags;
  return dst;
}

function unzigzag(u: number): number {
  return (u >>> 1) ^ -(u & 1);
}

function zigzag(v: number): number {
  return ((v << 1) ^ (v >> 31)) >>> 0;
}

// ---------------------------------------------------------------- encoding (tests, fake servers)

/** OpWriter builds an entity-op stream the way the server does. Ids must be added in increasing order. */
export class OpWriter {
  private out: number[] = [];
  private prev = 0;

  private header(id: number, op: number): void {
    if (id <= this.prev) throw new RangeError("ids must increase");
    this.varint((id - this.prev) * 4 + op);
    this.prev = id;
  }

  private varint(v: number): void {
    while (v >= 0x80) {
      this.out.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    this.out.push(v);
  }

  private i8(v: number): void {
    this.out.push(v & 0xff);
  }

  enter(e: Entity): this {
    this.header(e.id, Op.Enter);
    this.fields(e, maskOf(e));
    return this;
  }

  move(id: number, dx: number, dy: number): this {
    this.header(id, Op.Move);
    this.i8(dx);
    this.i8(dy);
    return this;
  }

  /** update writes the fields of e named by mask (with Field.Move: dx, dy). */
  update(e: Entity, mask: number, dx = 0, dy = 0): this {
    this.header(e.id, Op.Update);
    this.fields(e, mask, dx, dy);
    return this;
  }

  remove(id: number): this {
    this.header(id, Op.Remove);
    return this;
  }

  private fields(e: Entity, mask: number, dx = 0, dy = 0): void {
    this.out.push(mask);
    if (mask & Field.Kind) this.out.push(e.kind);
    if (mask & Field.X) this.varint(zigzag(e.x));
    if (mask & Field.Y) this.varint(zigzag(e.y));
    if (mask & Field.HP) this.out.push(e.hp);
    if (mask & Field.Owner) this.varint(e.owner);
    if (mask & Field.Score) this.varint(e.score);
    if (mask & Field.Flags) this.out.push(e.flags);
    if (mask & Field.Move) (this.i8(dx), this.i8(dy));
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

function maskOf(e: Entity): number {
  let m = 0;
  if (e.kind) m |= Field.Kind;
  if (e.x) m |= Field.X;
  if (e.y) m |= Field.Y;
  if (e.hp) m |= Field.HP;
  if (e.owner) m |= Field.Owner;
  if (e.score) m |= Field.Score;
  if (e.flags) m |= Field.Flags;
  return m;
}

const fits8 = (v: number) => v >= -128 && v <= 127;

/** encodeKeyframeOps encodes entities (any order) as a keyframe's op stream. */
export function encodeKeyframeOps(entities: Iterable<Entity>): Uint8Array {
  const w = new OpWriter();
  for (const e of [...entities].sort((a, b) => a.id - b.id)) w.enter(e);
  return w.bytes();
}

/** encodeDeltaOps encodes the change from prev to next as the server would. */
export function encodeDeltaOps(prev: Iterable<Entity>, next: Iterable<Entity>): Uint8Array {
  const a = new Map<number, Entity>();
  for (const e of prev) a.set(e.id, e);
  const b = new Map<number, Entity>();
  for (const e of next) b.set(e.id, e);
  const ids = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => x - y);
  const w = new OpWriter();
  for (const id of ids) {
    const p = a.get(id);
    const n = b.get(id);
    if (!p) {
      w.enter(n!);
      continue;
    }
    if (!n) {
      w.remove(id);
      continue;
    }
    const dx = n.x - p.x;
    const dy = n.y - p.y;
    let mask = 0;
    if (n.kind !== p.kind) mask |= Field.Kind;
    if (n.hp !== p.hp) mask |= Field.HP;
    if (n.owner !== p.owner) mask |= Field.Owner;
    if (n.score !== p.score) mask |= Field.Score;
    if (n.flags !== p.flags) mask |= Field.Flags;
    const moved = dx !== 0 || dy !== 0;
    const small = fits8(dx) && fits8(dy);
    if (mask === 0 && !moved) continue;
    if (mask === 0 && small) {
      w.move(id, dx, dy);
      continue;
    }
    if (moved && small) mask |= Field.Move;
    else {
      if (dx !== 0) mask |= Field.X;
      if (dy !== 0) mask |= Field.Y;
    }
    w.update(n, mask, dx, dy);
  }
  return w.bytes();
}
