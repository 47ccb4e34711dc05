// Renderer draws the arena on a canvas from one frame's entity view. It
// keeps no game state of its own except short-lived effects (tracers, hit
// flashes, a kill feed), which it resolves against the entities of the
// frame it draws, so they follow moving avatars. Nothing here allocates per
// frame in steady state: entity lookups go through a Map cleared and
// refilled each frame, effects live in fixed rings.

/** Ent is what the renderer needs of an entity (the SDK's entity views fit it). */
export interface Ent {
  readonly id: number;
  readonly kind: number;
  readonly x: number;
  readonly y: number;
  readonly hp: number;
  readonly owner: number;
  readonly score: number;
  readonly flags: number;
}

/** Scene is one animation frame's input. */
export interface Scene {
  now: number; // performance.now()
  worldW: number;
  worldH: number;
  interest: number; // area-of-interest radius, 0: whole world
  self: Ent | null; // the own avatar, predicted
  entities: readonly Ent[]; // every entity in view, interpolated (the own avatar, if listed, is skipped)
  selfName: string;
  aim: number; // the local aim, radians
}

export const FLAG_DEAD = 1;
export const FIRST_BOT_PLAYER = 2 ** 31;
const AVATAR_R = 12; // world units: the arena's hit radius
const MAX_HP = 100;
const SHOT_RANGE = 300;
const TRACER_MS = 140;
const FLASH_MS = 260;
const FEED_MS = 4000;
const COLORS = {
  bg: "#020305",
  field: "#0f141b",
  grid: "#171d26",
  grid5: "#222a35",
  edge: "#4a5563",
  interest: "rgba(47,129,247,0.10)",
  self: "#3fb950",
  player: "#58a6ff",
  bot: "#d29922",
  npc: "#a371f7",
  dead: "#484f58",
  text: "#e6edf3",
  muted: "#8b949e",
  hpBack: "rgba(0,0,0,0.6)",
  hp: "#3fb950",
  hpLow: "#f85149",
  tracer: "255,236,153",
  hit: "248,81,73",
  spawn: "230,237,243",
};

/** label is how an entity is named on screen: players and bots by id (the protocol carries no names). */
export function label(owner: number, entity: number): string {
  if (owner === 0) return `#${entity}`;
  if (owner >= FIRST_BOT_PLAYER) return `bot ${owner - FIRST_BOT_PLAYER}`;
  return `P${owner}`;
}

interface Tracer {
  t: number; // start time, 0: free slot
  from: number; // entity id, or 0 for a fixed start
  x0: number;
  y0: number;
  to: number; // entity id, or 0 for the fixed end
  x1: number;
  y1: number;
  self: boolean;
}

interface Flash {
  t: number;
  id: number;
  kill: boolean;
  spawn: boolean;
}

interface FeedLine {
  t: number;
  text: string;
}

export class Renderer {
  private readonly ctx: CanvasRenderingContext2D;
  private readonly byId = new Map<number, Ent>();
  private readonly tracers: Tracer[] = [];
  private readonly flashes: Flash[] = [];
  private readonly feed: FeedLine[] = [];
  private tracerNext = 0;
  private flashNext = 0;
  private cssW = 0;
  private cssH = 0;
  private dpr = 1;
  private left = 0;
  private top = 0;
  private hurtT = 0;
  /** Where the own avatar was last drawn, in client pixels (for aiming). */
  anchorX = 0;
  anchorY = 0;
  /** The virtual stick to draw (touch) when stickOn. */
  readonly stick = { x: 0, y: 0, dx: 0, dy: 0 };
  stickOn = false;

  constructor(private readonly canvas: HTMLCanvasElement) {
    const ctx = canvas.getContext("2d", { alpha: false });
    if (!ctx) throw new Error("demo: no 2D canvas");
    this.ctx = ctx;
    for (let i = 0; i < 32; i++) this.tracers.push({ t: 0, from: 0, x0: 0, y0: 0, to: 0, x1: 0, y1: 0, self: false });
    for (let i = 0; i < 32; i++) this.flashes.push({ t: 0, id: 0, kill: false, spawn: false });
  }

  /** ownShot records the own shot: a tracer from the avatar along aim. */
  ownShot(now: number, selfId: number, x: number, y: number, aim: number): void {
    const tr = this.nextTracer(now);
    tr.from = selfId;
    tr.x0 = x;
    tr.y0 = y;
    tr.to = 0;
    tr.x1 = Math.cos(aim) * SHOT_RANGE; // relative to the start
    tr.y1 = Math.sin(aim) * SHOT_RANGE;
    tr.self = true;
  }

  /** hit records a Hit event: a tracer from shooter to target and a flash on the target. */
  hit(now: number, source: number, target: number, selfId: number): void {
    if (source !== selfId) {
      const tr = this.nextTracer(now);
      tr.from = source;
      tr.to = target;
      tr.self = false;
      const s = this.byId.get(source);
      const d = this.byId.get(target);
      tr.x0 = s ? s.x : NaN;
      tr.y0 = s ? s.y : NaN;
      tr.x1 = d ? d.x : NaN;
      tr.y1 = d ? d.y : NaN;
    }
    this.addFlash(now, target, false);
    if (target === selfId) this.hurtT = now;
  }

  /** kill records a Kill event for the feed and a bigger flash. */
  kill(now: number, text: string, target: number): void {
    this.addFlash(now, target, true);
    this.feed.push({ t: now, text });
    if (this.feed.length > 4) this.feed.shift();
  }

  /** respawn records a Respawn event: a brief light ring where the entity comes back. */
  respawn(now: number, target: number): void {
    this.addFlash(now, target, false, true);
  }

  /** reset forgets every effect (a new match). */
  reset(): void {
    for (const t of this.tracers) t.t = 0;
    for (const f of this.flashes) f.t = 0;
    this.feed.length = 0;
    this.hurtT = 0;
  }

  private nextTracer(now: number): Tracer {
    const tr = this.tracers[this.tracerNext]!;
    this.tracerNext = (this.tracerNext + 1) % this.tracers.length;
    tr.t = now;
    return tr;
  }

  private addFlash(now: number, id: number, kill: boolean, spawn = false): void {
    const f = this.flashes[this.flashNext]!;
    this.flashNext = (this.flashNext + 1) % this.flashes.length;
    f.t = now;
    f.id = id;
    f.kill = kill;
    f.spawn = spawn;
  }

  private resize(): void {
    const dpr = window.devicePixelRatio || 1;
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    if (w === this.cssW && h === this.cssH && dpr === this.dpr) return;
    this.cssW = w;
    this.cssH = h;
    this.dpr = dpr;
    const r = this.canvas.getBoundingClientRect();
    this.left = r.left;
    this.top = r.top;
    this.canvas.width = Math.max(1, Math.round(w * dpr));
    this.canvas.height = Math.max(1, Math.round(h * dpr));
  }

  /** draw renders one frame. */
  draw(s: Scene): void {
    this.resize();
    const ctx = this.ctx;
    const W = this.cssW;
    const H = this.cssH;
    const now = s.now;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = COLORS.bg;
    ctx.fillRect(0, 0, W, H);

    this.byId.clear();
    for (const e of s.entities) this.byId.set(e.id, e);
    const selfId = s.self ? s.self.id : 0;
    if (s.self) this.byId.set(selfId, s.self);

    // Camera: centred on the own avatar (or the field), about 720 world
    // units across the smaller side of the window (a bit more on a narrow
    // phone, so avatars stay big enough to touch-aim at).
    const scale = Math.max(0.35, Math.min(2.5, Math.max(Math.min(W, H) / 720, Math.max(W, H) / 1200)));
    const cx = s.self ? s.self.x : s.worldW / 2;
    const cy = s.self ? s.self.y : s.worldH / 2;
    const ox = W / 2 - cx * scale;
    const oy = H / 2 - cy * scale;
    this.anchorX = W / 2 + this.left;
    this.anchorY = H / 2 + this.top;

    ctx.save();
    ctx.translate(ox, oy);
    ctx.scale(scale, scale);
    this.drawField(s, scale, cx, cy, W, H);
    if (s.self && s.interest > 0) {
      ctx.fillStyle = COLORS.interest;
      ctx.beginPath();
      ctx.arc(s.self.x, s.self.y, s.interest, 0, Math.PI * 2);
      ctx.fill();
    }
    for (const e of s.entities) if (e.id !== selfId) this.drawEntity(e, false, scale);
    if (s.self) {
      const self = s.self;
      if (!(self.flags & FLAG_DEAD)) {
        ctx.strokeStyle = "rgba(63,185,80,0.35)";
        ctx.lineWidth = 1.5 / scale;
        ctx.setLineDash([6 / scale, 6 / scale]);
        ctx.beginPath();
        ctx.moveTo(self.x, self.y);
        ctx.lineTo(self.x + Math.cos(s.aim) * SHOT_RANGE, self.y + Math.sin(s.aim) * SHOT_RANGE);
        ctx.stroke();
        ctx.setLineDash([]);
      }
      this.drawEntity(self, true, scale);
    }
    this.drawTracers(now, scale);
    this.drawFlashes(now, scale);
    // Labels last, in screen space, so text stays crisp at any zoom.
    ctx.restore();
    for (const e of s.entities) if (e.id !== selfId) this.drawLabel(e, label(e.owner, e.id), ox, oy, scale, false);
    if (s.self) this.drawLabel(s.self, s.selfName, ox, oy, scale, true);

    if (now - this.hurtT < FLASH_MS * 1.5) {
      const a = 0.35 * (1 - (now - this.hurtT) / (FLASH_MS * 1.5));
      const g = ctx.createRadialGradient(W / 2, H / 2, Math.min(W, H) * 0.3, W / 2, H / 2, Math.max(W, H) * 0.75);
      g.addColorStop(0, "rgba(248,81,73,0)");
      g.addColorStop(1, `rgba(248,81,73,${a.toFixed(3)})`);
      ctx.fillStyle = g;
      ctx.fillRect(0, 0, W, H);
    }
    if (s.self && s.self.flags & FLAG_DEAD) {
      ctx.fillStyle = "rgba(5,7,10,0.45)";
      ctx.fillRect(0, 0, W, H);
      ctx.fillStyle = COLORS.text;
      ctx.font = "600 22px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.fillText("Down! Respawning…", W / 2, H / 2 - 70);
    }
    this.drawFeed(now, W);
    this.drawStick();
  }

  private drawField(s: Scene, scale: number, cx: number, cy: number, W: number, H: number): void {
    const ctx = this.ctx;
    ctx.fillStyle = COLORS.field;
    ctx.fillRect(0, 0, s.worldW, s.worldH);
    // Grid lines every 50 units inside the visible part of the field.
    const x0 = Math.max(0, Math.floor((cx - W / 2 / scale) / 50) * 50);
    const x1 = Math.min(s.worldW, cx + W / 2 / scale);
    const y0 = Math.max(0, Math.floor((cy - H / 2 / scale) / 50) * 50);
    const y1 = Math.min(s.worldH, cy + H / 2 / scale);
    ctx.lineWidth = 1 / scale;
    for (let pass = 0; pass < 2; pass++) {
      const major = pass === 1;
      ctx.strokeStyle = major ? COLORS.grid5 : COLORS.grid;
      ctx.beginPath();
      for (let x = x0; x <= x1; x += 50) {
        if ((x % 250 === 0) !== major) continue;
        ctx.moveTo(x, y0);
        ctx.lineTo(x, y1);
      }
      for (let y = y0; y <= y1; y += 50) {
        if ((y % 250 === 0) !== major) continue;
        ctx.moveTo(x0, y);
        ctx.lineTo(x1, y);
      }
      ctx.stroke();
    }
    ctx.strokeStyle = COLORS.edge;
    ctx.lineWidth = 3 / scale;
    ctx.strokeRect(0, 0, s.worldW, s.worldH);
  }

  private drawEntity(e: Ent, self: boolean, scale: number): void {
    const ctx = this.ctx;
    const dead = (e.flags & FLAG_DEAD) !== 0;
    const color = dead ? COLORS.dead : self ? COLORS.self : e.kind === 2 ? COLORS.npc : e.owner >= FIRST_BOT_PLAYER ? COLORS.bot : COLORS.player;
    ctx.globalAlpha = dead ? 0.6 : 1;
    ctx.fillStyle = color;
    ctx.beginPath();
    ctx.arc(e.x, e.y, AVATAR_R, 0, Math.PI * 2);
    ctx.fill();
    if (self) {
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 2.5 / scale;
      ctx.stroke();
    }
    if (dead) {
      ctx.strokeStyle = "#0d1117";
      ctx.lineWidth = 3 / scale;
      const r = AVATAR_R * 0.5;
      ctx.beginPath();
      ctx.moveTo(e.x - r, e.y - r);
      ctx.lineTo(e.x + r, e.y + r);
      ctx.moveTo(e.x + r, e.y - r);
      ctx.lineTo(e.x - r, e.y + r);
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
  }

  private drawLabel(e: Ent, name: string, ox: number, oy: number, scale: number, self: boolean): void {
    const ctx = this.ctx;
    const sx = ox + e.x * scale;
    const sy = oy + e.y * scale;
    const r = AVATAR_R * scale;
    if (sx < -80 || sy < -80 || sx > this.cssW + 80 || sy > this.cssH + 80) return;
    // HP bar
    if (e.kind === 1 || e.hp > 0) {
      const bw = Math.max(28, r * 2.6);
      const bx = sx - bw / 2;
      const by = sy - r - 9;
      const f = Math.max(0, Math.min(1, e.hp / MAX_HP));
      ctx.fillStyle = COLORS.hpBack;
      ctx.fillRect(bx - 1, by - 1, bw + 2, 6);
      ctx.fillStyle = f > 0.35 ? COLORS.hp : COLORS.hpLow;
      ctx.fillRect(bx, by, bw * f, 4);
    }
    ctx.font = self ? "600 12px system-ui, sans-serif" : "12px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "alphabetic";
    ctx.fillStyle = self ? COLORS.self : COLORS.text;
    ctx.fillText(e.score > 0 ? `${name} · ${e.score}` : name, sx, sy - r - 14);
  }

  private drawTracers(now: number, scale: number): void {
    const ctx = this.ctx;
    ctx.lineCap = "round";
    for (const tr of this.tracers) {
      if (tr.t === 0) continue;
      const age = now - tr.t;
      if (age > TRACER_MS || age < 0) {
        tr.t = 0;
        continue;
      }
      let x0 = tr.x0;
      let y0 = tr.y0;
      const s = tr.from ? this.byId.get(tr.from) : undefined;
      if (s && !tr.self) {
        x0 = s.x;
        y0 = s.y;
      }
      let x1: number;
      let y1: number;
      if (tr.self) {
        x1 = x0 + tr.x1;
        y1 = y0 + tr.y1;
      } else {
        const d = tr.to ? this.byId.get(tr.to) : undefined;
        x1 = d ? d.x : tr.x1;
        y1 = d ? d.y : tr.y1;
      }
      if (!Number.isFinite(x0 + y0 + x1 + y1)) continue;
      const a = 1 - age / TRACER_MS;
      ctx.strokeStyle = `rgba(${COLORS.tracer},${(0.9 * a).toFixed(3)})`;
      ctx.lineWidth = (tr.self ? 2.5 : 2) / scale;
      ctx.beginPath();
      ctx.moveTo(x0, y0);
      ctx.lineTo(x1, y1);
      ctx.stroke();
    }
  }

  private drawFlashes(now: number, scale: number): void {
    const ctx = this.ctx;
    for (const f of this.flashes) {
      if (f.t === 0) continue;
      const age = now - f.t;
      const dur = f.kill || f.spawn ? FLASH_MS * 2 : FLASH_MS;
      if (age > dur || age < 0) {
        f.t = 0;
        continue;
      }
      const e = this.byId.get(f.id);
      if (!e) continue;
      const k = age / dur;
      if (f.spawn) {
        ctx.strokeStyle = `rgba(${COLORS.spawn},${(1 - k).toFixed(3)})`;
        ctx.lineWidth = 2 / scale;
        ctx.beginPath();
        ctx.arc(e.x, e.y, AVATAR_R + 30 * (1 - k), 0, Math.PI * 2);
        ctx.stroke();
        continue;
      }
      ctx.strokeStyle = `rgba(${COLORS.hit},${(1 - k).toFixed(3)})`;
      ctx.lineWidth = (f.kill ? 4 : 3) / scale;
      ctx.beginPath();
      ctx.arc(e.x, e.y, AVATAR_R + (f.kill ? 4 + 26 * k : 2 + 10 * k), 0, Math.PI * 2);
      ctx.stroke();
      if (k < 0.5) {
        ctx.fillStyle = `rgba(${COLORS.hit},${(0.5 - k).toFixed(3)})`;
        ctx.beginPath();
        ctx.arc(e.x, e.y, AVATAR_R, 0, Math.PI * 2);
        ctx.fill();
      }
    }
  }

  private drawFeed(now: number, W: number): void {
    const ctx = this.ctx;
    ctx.font = "13px system-ui, sans-serif";
    ctx.textAlign = "right";
    let y = 24;
    for (const line of this.feed) {
      const age = now - line.t;
      if (age > FEED_MS) continue;
      ctx.globalAlpha = age > FEED_MS - 500 ? (FEED_MS - age) / 500 : 1;
      ctx.fillStyle = COLORS.text;
      ctx.fillText(line.text, W - 14, y);
      y += 18;
    }
    ctx.globalAlpha = 1;
  }

  private drawStick(): void {
    if (!this.stickOn) return;
    const st = this.stick;
    const ctx = this.ctx;
    ctx.strokeStyle = "rgba(230,237,243,0.35)";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(st.x, st.y, 60, 0, Math.PI * 2);
    ctx.stroke();
    ctx.fillStyle = "rgba(230,237,243,0.35)";
    ctx.beginPath();
    ctx.arc(st.x + st.dx, st.y + st.dy, 22, 0, Math.PI * 2);
    ctx.fill();
  }
}
