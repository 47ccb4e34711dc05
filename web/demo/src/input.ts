// Controls turns the keyboard, mouse and touch into the arena's input:
// a movement direction, an aim angle and a held fire button. It keeps the
// state from DOM events and reports every change to onChange at once (the
// demo hands it to the SDK's setInput, which samples it once per server
// tick and latches a fire press shorter than a tick).
//
// Aim is relative to where the own avatar is drawn (setAnchor, called by
// the render loop every frame), so it stays right while the camera moves.

export interface ControlState {
  dx: number;
  dy: number;
  aim: number;
  fire: boolean;
}

const KEYS: Record<string, [number, number]> = {
  KeyW: [0, -1],
  ArrowUp: [0, -1],
  KeyS: [0, 1],
  ArrowDown: [0, 1],
  KeyA: [-1, 0],
  ArrowLeft: [-1, 0],
  KeyD: [1, 0],
  ArrowRight: [1, 0],
};

const STICK_RADIUS = 60; // CSS pixels of virtual-stick travel for full speed

export class Controls {
  private readonly held = new Set<string>();
  private pointerX = 0;
  private pointerY = 0;
  private hasPointer = false;
  private anchorX = 0;
  private anchorY = 0;
  private aim = 0;
  private mouseDown = false;
  private enabled = false;
  // touch: one finger steers (left half), one aims and fires (right half)
  private stickId: number | null = null;
  private stickX0 = 0;
  private stickY0 = 0;
  private stickDX = 0;
  private stickDY = 0;
  private aimTouchId: number | null = null;
  private readonly disposers: Array<() => void> = [];
  /** The current input; onChange gets this object (reused). */
  readonly state: ControlState = { dx: 0, dy: 0, aim: 0, fire: false };
  /** onChange is called after every change of movement, aim or fire. */
  onChange: (s: ControlState) => void = () => {};

  constructor(private readonly canvas: HTMLCanvasElement) {
    const on = <K extends keyof WindowEventMap>(t: EventTarget, type: K, fn: (e: WindowEventMap[K]) => void, opts?: AddEventListenerOptions) => {
      t.addEventListener(type, fn as EventListener, opts);
      this.disposers.push(() => t.removeEventListener(type, fn as EventListener, opts));
    };
    on(window, "keydown", (e) => {
      if (!this.enabled || (!(e.code in KEYS) && e.code !== "Space")) return;
      if (e.target instanceof HTMLInputElement) return;
      e.preventDefault(); // arrows and space must not scroll
      if (e.repeat) return;
      this.held.add(e.code);
      this.changed();
    });
    on(window, "keyup", (e) => {
      if (this.held.delete(e.code)) this.changed();
    });
    on(window, "blur", () => this.releaseAll());
    on(canvas, "pointermove", (e) => {
      if (e.pointerType === "touch") this.touchMove(e);
      else {
        this.pointerX = e.clientX;
        this.pointerY = e.clientY;
        this.hasPointer = true;
      }
      this.changed();
    });
    on(canvas, "pointerdown", (e) => {
      if (e.pointerType === "touch") this.touchDown(e);
      else if (e.button === 0) {
        this.pointerX = e.clientX;
        this.pointerY = e.clientY;
        this.hasPointer = true;
        this.mouseDown = true;
      }
      this.changed();
    });
    on(window, "pointerup", (e) => {
      if (e.pointerType === "touch") this.touchUp(e);
      else if (e.button === 0) this.mouseDown = false;
      this.changed();
    });
    on(window, "pointercancel", (e) => {
      if (e.pointerType === "touch") this.touchUp(e);
      this.changed();
    });
    on(canvas, "contextmenu", (e) => e.preventDefault());
  }

  /**
   * setEnabled turns the keyboard on or off (off outside the arena, so
   * Space and arrows keep their meaning on buttons and inputs) and, when
   * turning off, releases everything held.
   */
  setEnabled(on: boolean): void {
    if (on === this.enabled) return;
    this.enabled = on;
    if (!on) this.releaseAll();
  }

  private releaseAll(): void {
    this.held.clear();
    this.mouseDown = false;
    this.stickId = this.aimTouchId = null;
    this.stickDX = this.stickDY = 0;
    this.changed();
  }

  /** setAnchor tells where (client pixels) the own avatar is drawn. */
  setAnchor(x: number, y: number): void {
    this.anchorX = x;
    this.anchorY = y;
  }

  /** update recomputes the state (the aim moves with the anchor) and returns it. */
  update(): ControlState {
    let dx = 0;
    let dy = 0;
    for (const code of this.held) {
      const k = KEYS[code];
      if (k) {
        dx += k[0];
        dy += k[1];
      }
    }
    dx = Math.max(-1, Math.min(1, dx));
    dy = Math.max(-1, Math.min(1, dy));
    if (this.stickId !== null) {
      dx = this.stickDX;
      dy = this.stickDY;
    }
    if (this.hasPointer) {
      const ax = this.pointerX - this.anchorX;
      const ay = this.pointerY - this.anchorY;
      if (ax !== 0 || ay !== 0) this.state.aim = Math.atan2(ay, ax);
    }
    const s = this.state;
    s.dx = dx;
    s.dy = dy;
    s.fire = this.mouseDown || this.aimTouchId !== null || this.held.has("Space");
    return s;
  }

  private changed(): void {
    this.onChange(this.update());
  }

  dispose(): void {
    for (const d of this.disposers.splice(0)) d();
  }

  private touchDown(e: PointerEvent): void {
    e.preventDefault();
    const left = e.clientX < this.canvas.clientWidth / 2;
    if (left && this.stickId === null) {
      this.stickId = e.pointerId;
      this.stickX0 = e.clientX;
      this.stickY0 = e.clientY;
      this.stickDX = this.stickDY = 0;
    } else if (!left && this.aimTouchId === null) {
      this.aimTouchId = e.pointerId;
      this.pointerX = e.clientX;
      this.pointerY = e.clientY;
      this.hasPointer = true;
    }
  }

  private touchMove(e: PointerEvent): void {
    if (e.pointerId === this.stickId) {
      const x = (e.clientX - this.stickX0) / STICK_RADIUS;
      const y = (e.clientY - this.stickY0) / STICK_RADIUS;
      const l = Math.hypot(x, y);
      this.stickDX = l > 1 ? x / l : x;
      this.stickDY = l > 1 ? y / l : y;
    } else if (e.pointerId === this.aimTouchId) {
      this.pointerX = e.clientX;
      this.pointerY = e.clientY;
    }
  }

  private touchUp(e: PointerEvent): void {
    if (e.pointerId === this.stickId) {
      this.stickId = null;
      this.stickDX = this.stickDY = 0;
    } else if (e.pointerId === this.aimTouchId) {
      this.aimTouchId = null;
    }
  }

  /** stick writes the virtual stick's origin and offset (client pixels) into out; false when no stick is held. */
  stick(out: { x: number; y: number; dx: number; dy: number }): boolean {
    if (this.stickId === null) return false;
    out.x = this.stickX0;
    out.y = this.stickY0;
    out.dx = this.stickDX * STICK_RADIUS;
    out.dy = this.stickDY * STICK_RADIUS;
    return true;
  }
}
