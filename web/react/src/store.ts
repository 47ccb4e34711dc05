// RallypointStore: the framework-free part of the React binding. One store
// per Rallypoint client keeps the slow-changing state that components read
// (connection state, queue ticket, session, match, roster) as immutable
// snapshots with getX() + subscribe(slice, fn) returning an unsubscribe, in
// the manner of zustand's vanilla store. React adapts it in index.tsx with
// useSyncExternalStore; nothing here imports React.
//
// Positions never go through the store: they change every frame, so they
// go to the canvas from one shared animation-frame loop (onFrame), which
// calls client.frame(now) once per frame however many components draw.

import type {
  ClientState,
  GameEvent,
  MatchOver,
  Rallypoint,
  RenderEntity,
  Session,
  Ticket,
  TicketState,
  View,
  Welcome,
} from "@rallypoint/sdk";

/** Slice names a component can subscribe to. */
export type Slice = "state" | "queue" | "session" | "match" | "roster";

/** QueueSnapshot is the matchmaking ticket as the lobby's event stream last reported it. */
export interface QueueSnapshot {
  /** "none" before the first ticket of this client; then the ticket's status. */
  status: "none" | TicketState;
  /** The last ticket (null before the first). */
  ticket: Ticket | null;
}

/** MatchSnapshot is the current (or last) match, without positions. */
export interface MatchSnapshot {
  /** The match id ("" before the first match). */
  matchId: string;
  /** The last Welcome (null before the first). */
  welcome: Welcome | null;
  /** Your player id and avatar entity (0 before the first Welcome). */
  player: number;
  entity: number;
  /** The newest game events of this match, oldest first (at most eventLimit). */
  events: readonly GameEvent[];
  /** The match result, once it ended. */
  matchOver: MatchOver | null;
}

/** RosterEntry is an entity without its position: what a scoreboard needs. */
export interface RosterEntry {
  readonly id: number;
  readonly kind: number;
  readonly owner: number;
  readonly hp: number;
  readonly score: number;
  readonly flags: number;
  readonly self: boolean;
}

/** FrameListener draws one animation frame. view and its entities are reused: read, do not keep. */
export type FrameListener = (view: View, now: number, client: Rallypoint) => void;

export interface StoreOptions {
  /** How many game events MatchSnapshot.events keeps. If zero, 32 is used. */
  eventLimit?: number;
  /** requestAnimationFrame and cancelAnimationFrame (tests). Default: the globals. */
  raf?: (cb: (now: number) => void) => number;
  caf?: (id: number) => void;
}

const noMatch: MatchSnapshot = { matchId: "", welcome: null, player: 0, entity: 0, events: [], matchOver: null };
const noQueue: QueueSnapshot = { status: "none", ticket: null };
const noRoster: readonly RosterEntry[] = [];

/**
 * RallypointStore keeps snapshots of one client for UI frameworks. Each
 * getter returns the same object until that slice changes, so it is a valid
 * cached snapshot for useSyncExternalStore.
 */
export class RallypointStore {
  /** The client this store follows. */
  readonly client: Rallypoint;
  private readonly eventLimit: number;
  private readonly raf: (cb: (now: number) => void) => number;
  private readonly caf: (id: number) => void;
  private readonly listeners: { [S in Slice]: Set<() => void> } = {
    state: new Set(), queue: new Set(), session: new Set(), match: new Set(), roster: new Set(),
  };
  private readonly offs: Array<() => void> = [];
  private queue: QueueSnapshot = noQueue;
  private session: Session | null;
  private match: MatchSnapshot = noMatch;
  private roster: readonly RosterEntry[] = noRoster;
  private signingIn: Promise<Session> | null = null;
  private resuming: Promise<Session> | null = null;
  private frameFns = new Set<FrameListener>();
  private rafId = 0;
  private destroyed = false;

  constructor(client: Rallypoint, o: StoreOptions = {}) {
    this.client = client;
    this.eventLimit = o.eventLimit || 32;
    this.raf = o.raf ?? ((cb) => requestAnimationFrame(cb));
    this.caf = o.caf ?? ((id) => cancelAnimationFrame(id));
    this.session = client.session;
    this.offs.push(
      client.on("state", (s) => this.onState(s)),
      client.on("queue", (t) => this.setQueue(t)),
      client.on("welcome", (w) => {
        const same = this.match.matchId === w.match;
        this.setMatch({
          matchId: w.match, welcome: w, player: w.player, entity: w.entity,
          events: same ? this.match.events : [], matchOver: same ? this.match.matchOver : null,
        });
      }),
      client.on("event", (e) => {
        const ev = this.match.events.length >= this.eventLimit ? this.match.events.slice(1) : this.match.events.slice();
        ev.push({ tick: e.tick, kind: e.kind, source: e.source, target: e.target, value: e.value });
        this.setMatch({ ...this.match, events: ev });
      }),
      client.on("matchover", (m) => this.setMatch({ ...this.match, matchOver: m })),
      client.on("snapshot", () => {
        if (this.listeners.roster.size > 0) this.updateRoster();
      }),
    );
  }

  /** subscribe calls fn after each change of slice; it returns the unsubscribe. */
  subscribe(slice: Slice, fn: () => void): () => void {
    const set = this.listeners[slice];
    set.add(fn);
    if (slice === "roster" && set.size === 1) this.updateRoster(); // computed only while someone reads it
    return () => {
      set.delete(fn);
    };
  }

  /** getState is the client's state (the same object until the next transition). */
  getState = (): ClientState => this.client.state;
  getQueue = (): QueueSnapshot => this.queue;
  getSession = (): Session | null => this.session;
  getMatch = (): MatchSnapshot => this.match;
  /** getRoster is every entity without positions; kept up to date only while subscribed. */
  getRoster = (): readonly RosterEntry[] => this.roster;

  /**
   * signInGuest signs in as a guest unless the client already has a session;
   * calls while one sign-in is under way share it (StrictMode runs effects
   * twice: this is still one guest).
   */
  signInGuest(name: string): Promise<Session> {
    if (this.client.session) return Promise.resolve(this.client.session);
    this.signingIn ??= this.client.signInGuest(name).then(
      (s) => {
        this.signingIn = null;
        this.setSession();
        return s;
      },
      (err: unknown) => {
        this.signingIn = null;
        throw err;
      },
    );
    return this.signingIn;
  }

  /**
   * resumeSession signs in again from a stored refresh token (it rotates:
   * store the new one). Calls while one is under way share it, since a
   * refresh token works once.
   */
  resumeSession(refreshToken: string): Promise<Session> {
    this.resuming ??= this.client.resumeSession(refreshToken).then(
      (s) => {
        this.resuming = null;
        this.setSession();
        return s;
      },
      (err: unknown) => {
        this.resuming = null;
        throw err;
      },
    );
    return this.resuming;
  }

  /**
   * onFrame adds a draw function to the store's one animation-frame loop,
   * which runs while at least one is subscribed and calls client.frame(now)
   * once per frame for all of them. It returns the unsubscribe.
   */
  onFrame(fn: FrameListener): () => void {
    this.frameFns.add(fn);
    if (this.rafId === 0 && !this.destroyed) this.rafId = this.raf(this.tick);
    return () => {
      this.frameFns.delete(fn);
      if (this.frameFns.size === 0 && this.rafId !== 0) {
        this.caf(this.rafId);
        this.rafId = 0;
      }
    };
  }

  private tick = (now: number): void => {
    this.rafId = 0;
    if (this.destroyed || this.frameFns.size === 0) return;
    const view = this.client.frame(now);
    for (const fn of [...this.frameFns]) {
      try {
        fn(view, now, this.client);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    if (this.frameFns.size > 0 && !this.destroyed) this.rafId = this.raf(this.tick);
  };

  /** destroyed reports whether destroy() ran. */
  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** destroy unsubscribes from the client and stops the frame loop. It does not close the client. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const off of this.offs.splice(0)) off();
    if (this.rafId !== 0) this.caf(this.rafId);
    this.rafId = 0;
    this.frameFns.clear();
  }

  private notify(slice: Slice): void {
    for (const fn of [...this.listeners[slice]]) fn();
  }

  private onState(s: ClientState): void {
    this.notify("state");
    if (s.status === "connecting" && this.queue.ticket && this.queue.status === "queued") {
      // the stream said matched: the ticket carries its assignment no more than the state does
      this.queue = { status: "matched", ticket: { ...this.queue.ticket, status: "matched" } };
      this.notify("queue");
    } else if (s.status === "closed" && (s.reason.by === "expired" || s.reason.by === "cancelled") && this.queue.ticket) {
      this.queue = { status: s.reason.by, ticket: { ...this.queue.ticket, status: s.reason.by } };
      this.notify("queue");
    } else if ((s.status === "idle" || s.status === "closed") && this.queue.status === "queued" && this.queue.ticket) {
      this.queue = { status: "cancelled", ticket: { ...this.queue.ticket, status: "cancelled" } };
      this.notify("queue");
    }
    if (this.client.session !== this.session) this.setSession();
  }

  private setQueue(t: Ticket): void {
    this.queue = { status: t.status, ticket: t };
    this.notify("queue");
  }

  private setSession(): void {
    if (this.client.session === this.session) return;
    this.session = this.client.session;
    this.notify("session");
  }

  private setMatch(m: MatchSnapshot): void {
    this.match = m;
    this.notify("match");
  }

  /** updateRoster rebuilds the roster only when an entity came, went, or changed hp, score, flags or owner. */
  private updateRoster(): void {
    const world = this.client.world.entities;
    const self = this.match.entity;
    const old = this.roster;
    let changed = old.length !== world.size;
    if (!changed) {
      let i = 0;
      for (const e of world.values()) {
        const r = old[i++]!;
        if (r.id !== e.id || r.hp !== e.hp || r.score !== e.score || r.flags !== e.flags || r.owner !== e.owner || r.kind !== e.kind) {
          changed = true;
          break;
        }
      }
    }
    if (!changed) return;
    const next: RosterEntry[] = [];
    for (const e of world.values()) {
      next.push({ id: e.id, kind: e.kind, owner: e.owner, hp: e.hp, score: e.score, flags: e.flags, self: e.id === self });
    }
    this.roster = next;
    this.notify("roster");
  }
}

export type { RenderEntity };
