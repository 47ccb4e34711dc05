// Rallypoint is the SDK's front door: lobby (sign-in, queue over SSE), the
// one Connection of the seat, and the world (mirror, interpolation,
// prediction), with one state union changed only in transition() and one
// teardown path (endSession, reached by close(), cancel(), leave() and by the
// server).

import {
  type GameEvent,
  type MatchOver,
  MsgType,
  type ServerError,
  type ServerMessage,
  type Welcome,
} from "./codec.js";
import {
  type BackoffOptions,
  CloseCode,
  type CloseInfo,
  Connection,
  type ConnectionHandler,
  type DropInfo,
  type SocketTicket,
  type WebSocketCtor,
} from "./connection.js";
import { Disposers, Emitter, type Disposer, type Listener } from "./events.js";
import { type ClockOptions, Interpolator, type InterpolatorOptions, type RenderEntity, ServerClock } from "./interpolation.js";
import {
  type Assignment,
  type EventSourceCtor,
  type FetchFn,
  LobbyClient,
  LobbyError,
  type Session,
  type Ticket,
} from "./lobby.js";
import { arenaStep, type MovementFn, toFloat32 } from "./movement.js";
import { type Correction, Predictor, type PredictorOptions } from "./prediction.js";
import { EntityKind, FlagDead, World } from "./world.js";

/** ClientState is the one state of a Rallypoint client. */
export type ClientState =
  | { status: "idle" }
  | { status: "queued"; ticket: Ticket }
  | { status: "connecting"; matchId: string }
  | { status: "playing"; welcome: Welcome }
  | { status: "reconnecting"; matchId: string; attempt: number; delayMs: number; code: number; reason: string }
  | { status: "closed"; reason: EndReason };

export type Status = ClientState["status"];

/**
 * Transitions lists, for each status, the statuses a client may go to next
 * (a reconnecting client announces each new attempt, a queued one each
 * queue update). A closed client may start a new session until close().
 */
export const Transitions: Readonly<Record<Status, readonly Status[]>> = {
  idle: ["queued", "connecting", "closed"],
  queued: ["queued", "connecting", "idle", "closed"],
  connecting: ["playing", "reconnecting", "closed"],
  playing: ["reconnecting", "closed"],
  reconnecting: ["reconnecting", "playing", "closed"],
  closed: ["queued", "connecting"],
};

/** EndReason says why a session ended. */
export interface EndReason {
  /**
   * "user": close()/leave(); "server": a permanent close code; "matchover":
   * the match ended; "grace": reconnecting ran past the grace period;
   * "expired"/"cancelled": the ticket ended without a match (cancelled by
   * someone else); "error": the lobby refused (see error).
   */
  by: "user" | "server" | "matchover" | "grace" | "expired" | "cancelled" | "error";
  /** The WebSocket close code, 0 if there was no socket. */
  code: number;
  message: string;
  /** The server's Error message, or the lobby error. */
  error?: ServerError | LobbyError;
}

/** RallypointError is what play() rejects with and what the error event carries. */
export class RallypointError extends Error {
  override name = "RallypointError";
  constructor(
    /** "closed" (the session ended, see reason), "lobby", "server" (an Error message), "protocol". */
    readonly kind: "closed" | "lobby" | "server" | "protocol",
    message: string,
    readonly reason?: EndReason,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** SnapshotInfo is the payload of the snapshot event. */
export interface SnapshotInfo {
  tick: number;
  base: number;
  ackSeq: number;
  keyframe: boolean;
}

/** RallypointEvents is the event map of Rallypoint.on(). */
export interface RallypointEvents {
  state: ClientState;
  queue: Ticket;
  welcome: Welcome;
  snapshot: SnapshotInfo;
  event: GameEvent;
  matchover: MatchOver;
  error: RallypointError;
  correction: Correction;
}

/** InputState is the held input. dx, dy in [-1, 1]; aim in radians; fire held. */
export interface InputState {
  dx: number;
  dy: number;
  aim: number;
  fire: boolean;
}

/** View is what frame() returns. The object, its arrays and entities are reused between frames. */
export interface View {
  /** The render tick of remote entities (fractional). */
  renderTick: number;
  /** The estimated newest server tick (fractional). */
  serverTick: number;
  /** The local avatar (predicted when prediction is on), or null. Also in entities. */
  self: RenderEntity | null;
  /** Every entity in view, interpolated (the own avatar included, with self = true). */
  entities: RenderEntity[];
  /** The entities other than the own avatar. */
  others: RenderEntity[];
  /** World size in units (0 before the first Welcome). */
  width: number;
  height: number;
  /** The area-of-interest radius (world units, 0: the whole world). */
  interest: number;
}

/** Stats for a HUD. Times in ms. The object is reused. */
export interface Stats {
  /** Round trip from Ping/Pong (smoothed), 0 before the first Pong. */
  pingMs: number;
  /** Input-to-ack time (smoothed): round trip plus the tick wait. */
  rttMs: number;
  /** How far remote entities are drawn behind the estimated server tick. */
  interpolationDelayMs: number;
  /** The measured snapshot arrival jitter (95th percentile of lateness over the last 3 s). */
  jitterMs: number;
  serverTick: number;
  renderTick: number;
  /** Bytes received on the game socket per second (last second). */
  bytesPerSecond: number;
  /** Avatars (players and bots) in view. */
  players: number;
  /** Inputs sent and not yet acknowledged. */
  pendingInputs: number;
  /** Inputs sent on this connection. */
  inputsSent: number;
  /** Estimated wait of an Input in the server's buffer before it is applied (rttMs - pingMs). */
  inputWaitMs: number;
  /** The input clock's speed (1: one Input per tick; 0.97 while draining the server's buffer). */
  inputRate: number;
  /** How far back the server looks for this client's shots (smoothed): the tick an Input is applied at minus its view, in ms. */
  viewLagMs: number;
}

export interface RallypointOptions {
  /** The lobby's base URL, e.g. "http://127.0.0.1:8080"; empty: the page's origin. */
  baseUrl?: string;
  /** A session to start from (from storage); see also resumeSession(). */
  session?: Session;
  fetch?: FetchFn;
  EventSource?: EventSourceCtor;
  WebSocket?: WebSocketCtor;
  /** Monotonic clock in ms. Default performance.now. */
  now?: () => number;
  random?: () => number;
  /** Protocol version sent in Hello. Default 2. */
  version?: number;
  /** The version to fall back to after a 4004 in the handshake. Default 1. */
  minVersion?: number;
  backoff?: BackoffOptions;
  clock?: ClockOptions;
  interpolation?: InterpolatorOptions;
  /** Prediction options, or false to draw the own avatar like the others. */
  prediction?: PredictorOptions | false;
  /** The movement function of a mode, or null for no prediction. Default: arenaStep for "arena". */
  movement?: (mode: string) => MovementFn | null;
  /** Ping period. If zero, 1000 ms is used. */
  pingIntervalMs?: number;
  /**
   * When the held movement or fire changes, the next tick's Input is sampled
   * at once (in the next frame()) if its tick boundary is at most this far
   * away, so a key press shows on the next frame. Default: one tick (always).
   * Negative: never sample early.
   */
  earlySampleMs?: number;
  /** The most Inputs sent at once to catch up after a stall. If zero, 4 is used. */
  maxCatchUpTicks?: number;
  /**
   * When the Inputs wait too long in the server's buffer (input-to-ack time
   * minus ping over 1.5 ticks), the input clock runs this much slower until
   * the wait is under a tick, so the buffer drains (the server's buffer only
   * drains by itself above 3 Inputs). Default 0.03 (3%); 0 or negative: never.
   */
  inputDrainRate?: number;
  /**
   * The server's lag-compensation window (its -max-rewind; 200 ms by
   * default). While the measured view lag (the tick an Input is applied at
   * minus its viewTick) exceeds it by more than a tick, the interpolation
   * delay may not grow above three intervals for jitter beyond what fits.
   * 0: no such cap.
   */
  maxRewindMs?: number;
  /** Options passed to Connection. */
  handshakeTimeoutMs?: number;
  idleTimeoutMs?: number;
}

const SEQ_RING = 128;

/**
 * Rallypoint is a browser client: sign in, play, read frames, close.
 *
 *   const rp = new Rallypoint({ baseUrl: "http://127.0.0.1:8080" });
 *   await rp.signInGuest("ada");
 *   await rp.play({ mode: "arena" });
 *   rp.setInput({ dx: 1 });
 *   const view = rp.frame(performance.now());
 */
export class Rallypoint {
  /** The lobby HTTP client (session, tickets, tokens). */
  readonly lobby: LobbyClient;
  private readonly o: RallypointOptions;
  private readonly now: () => number;
  private readonly events = new Emitter<RallypointEvents>();

  private _state: ClientState = { status: "idle" };
  private disposed = false;
  /** Bumped at every session start and end: code after an await compares it. */
  private gen = 0;
  /** Cleanups of the current session (ticket watch, connection). */
  private subs = new Disposers();
  /** Cleanups of the current socket (input and ping timers). */
  private sockSubs = new Disposers();
  private conn: Connection | null = null;
  private playing: Promise<Welcome> | null = null;
  private settle: { resolve(w: Welcome): void; reject(e: RallypointError): void } | null = null;
  private ticketId = "";
  private _matchId = "";

  // the match, owned by the handler callbacks and frame()
  /** The current (or last) Welcome. */
  welcome: Welcome | null = null;
  /** The world mirror. */
  readonly world = new World();
  /** The interpolation of every entity. */
  readonly interpolator: Interpolator;
  /** The server clock of the current match (null before the first Welcome). */
  clock: ServerClock | null = null;
  /** The predictor of the own avatar (null without prediction). */
  predictor: Predictor | null = null;
  private tickMs = 1000 / 30;
  private seq = 0;
  private readonly sentSeq = new Float64Array(SEQ_RING);
  private readonly sentAt = new Float64Array(SEQ_RING);
  private readonly sentView = new Float64Array(SEQ_RING);
  private lastAcked = 0;
  private acc = 0;
  private lastPump = NaN;
  private lastSampleAt = 0;
  private lastFrame = NaN;
  private frameMs = 1000 / 60;
  private readonly held: InputState = { dx: 0, dy: 0, aim: 0, fire: false };
  private fireLatch = false;
  private dirty = false;
  private bytesIn = 0;
  private bytesAt = 0;

  private readonly _stats: Stats = {
    pingMs: 0, rttMs: 0, interpolationDelayMs: 0, jitterMs: 0, serverTick: 0, renderTick: 0,
    bytesPerSecond: 0, players: 0, pendingInputs: 0, inputsSent: 0, inputWaitMs: 0, inputRate: 1, viewLagMs: 0,
  };
  private readonly view: View = { renderTick: 0, serverTick: 0, self: null, entities: [], others: [], width: 0, height: 0, interest: 0 };

  constructor(o: RallypointOptions = {}) {
    this.o = o;
    this.now = o.now ?? (() => performance.now());
    const lo: ConstructorParameters<typeof LobbyClient>[0] = { baseUrl: o.baseUrl ?? "" };
    if (o.fetch) lo.fetch = o.fetch;
    if (o.EventSource) lo.EventSource = o.EventSource;
    if (o.session) lo.session = o.session;
    this.lobby = new LobbyClient(lo);
    this.interpolator = new Interpolator(o.interpolation);
  }

  // ------------------------------------------------------------ events

  /** on subscribes to an event and returns the unsubscribe. */
  on<K extends keyof RallypointEvents>(event: K, fn: Listener<RallypointEvents, K>): Disposer {
    if (this.disposed) return () => {};
    return this.events.on(event, fn);
  }

  once<K extends keyof RallypointEvents>(event: K, fn: Listener<RallypointEvents, K>): Disposer {
    if (this.disposed) return () => {};
    return this.events.once(event, fn);
  }

  /** off removes a handler; unknown handlers are ignored. */
  off<K extends keyof RallypointEvents>(event: K, fn: Listener<RallypointEvents, K>): void {
    this.events.off(event, fn);
  }

  /** listenerCount is the number of subscribed handlers (for tests and leak checks). */
  get listenerCount(): number {
    return this.events.listenerCount();
  }

  // ------------------------------------------------------------ state

  /** state is the current state. */
  get state(): ClientState {
    return this._state;
  }

  /** status is state.status. */
  get status(): Status {
    return this._state.status;
  }

  /** The only place the state changes. */
  private transition(next: ClientState): void {
    const from = this._state.status;
    if (from === next.status && (from === "closed" || from === "idle")) return; // nothing changed
    this._state = next;
    this.events.emit("state", next);
  }

  // ------------------------------------------------------------ lobby

  /** matchId is the id of the current (or last) match: store it with the refresh token to rejoin() after a reload. */
  get matchId(): string {
    return this._matchId;
  }

  /** session is the lobby session (store refreshToken to come back). */
  get session(): Session | null {
    return this.lobby.session;
  }

  /** signInGuest signs in as a new guest. */
  async signInGuest(name: string): Promise<Session> {
    this.alive();
    return this.lobby.signInGuest(name);
  }

  /** resumeSession signs in again from a stored refresh token (it rotates: store the new one). */
  async resumeSession(refreshToken: string): Promise<Session> {
    this.alive();
    return this.lobby.refresh(refreshToken);
  }

  private alive(): void {
    if (this.disposed) throw new RallypointError("closed", "rallypoint: closed");
  }

  // ------------------------------------------------------------ sessions

  /**
   * play queues for a match, follows the queue, and joins it: it resolves
   * with the Welcome once the socket is up. While a session is running
   * (queued, connecting, playing, reconnecting) it returns the same promise:
   * a second call never opens a second socket. It rejects with a
   * RallypointError if the session ends first (cancel(), close(), the server).
   * If the player still holds a seat (already_in_match), it rejoins it.
   */
  play(o: { mode: string; rating?: number }): Promise<Welcome> {
    if (this.disposed) return Promise.reject(new RallypointError("closed", "rallypoint: closed"));
    if (this.playing) return this.playing;
    const g = this.beginSession();
    const p = this.playing!;
    void (async () => {
      let ticket: Ticket;
      try {
        ticket = await this.lobby.createTicket(o.mode, o.rating);
      } catch (err) {
        if (g !== this.gen) return;
        const seated = err instanceof LobbyError && err.code === "already_in_match" ? seatedMatch(err.message) : "";
        if (seated) return this.startConnection(g, seated, null);
        return this.lobbyFailed(err);
      }
      if (g !== this.gen) {
        // closed while the ticket was being created: cancel it, best effort
        this.lobby.cancelTicket(ticket.ticketId).catch(() => {});
        return;
      }
      this.ticketId = ticket.ticketId;
      this.transition({ status: "queued", ticket });
      this.events.emit("queue", ticket);
      const stop = this.lobby.watchTicket(ticket.ticketId, {
        queued: (t) => {
          if (g !== this.gen) return;
          this.transition({ status: "queued", ticket: t });
          this.events.emit("queue", t);
        },
        matched: (t) => {
          if (g !== this.gen || !t.assignment) return;
          this.ticketId = "";
          this.startConnection(g, t.assignment.matchId, t.assignment);
        },
        ended: (t) => {
          if (g !== this.gen) return;
          this.endSession({ by: t.status === "expired" ? "expired" : "cancelled", code: 0, message: `ticket ${t.status}` });
        },
        error: (err) => {
          if (g === this.gen) this.lobbyFailed(err);
        },
      });
      this.subs.add(stop);
    })().catch((err: unknown) => {
      // e.g. no EventSource in this environment
      if (g === this.gen) this.lobbyFailed(err);
    });
    return p;
  }

  /**
   * rejoin connects to a seat the player holds in match matchId (after a page
   * reload, say), with a fresh socket token. Same promise rules as play().
   */
  rejoin(matchId: string): Promise<Welcome> {
    if (this.disposed) return Promise.reject(new RallypointError("closed", "rallypoint: closed"));
    if (this.playing) return this.playing;
    const g = this.beginSession();
    const p = this.playing!;
    this.startConnection(g, matchId, null);
    return p;
  }

  private beginSession(): number {
    const g = ++this.gen;
    this.playing = new Promise<Welcome>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // a rejection nobody awaits must not be reported as unhandled
    this.playing.catch(() => {});
    return g;
  }

  private lobbyFailed(err: unknown): void {
    const e = err instanceof LobbyError ? err : new LobbyError(0, "network", String((err as Error)?.message ?? err));
    this.events.emit("error", new RallypointError("lobby", e.message, undefined, e));
    this.endSession({ by: "error", code: 0, message: e.message, error: e });
  }

  private startConnection(g: number, matchId: string, first: Assignment | null): void {
    if (g !== this.gen) return;
    this._matchId = matchId;
    const tickets = async (n: number): Promise<SocketTicket> => {
      let a = first;
      first = null;
      if (n > 0 || !a || !a.token) a = await this.lobby.matchToken(matchId);
      if (!a.token) throw Object.assign(new Error("seat released"), { permanent: true });
      return { wsUrl: a.wsUrl, token: a.token, reconnectGraceMs: a.reconnectGraceMs };
    };
    const h: ConnectionHandler = {
      connecting: (n) => {
        if (g === this.gen && n === 0) this.transition({ status: "connecting", matchId });
      },
      welcome: (w) => {
        if (g === this.gen) this.onWelcome(w);
      },
      message: (m, bytes) => {
        if (g === this.gen) this.onMessage(m, bytes);
      },
      dropped: (d: DropInfo) => {
        if (g !== this.gen) return;
        this.sockSubs.run();
        if (d.code === CloseCode.Malformed) {
          this.events.emit("error", new RallypointError("protocol", `rallypoint: ${d.reason}; resuming`));
        }
        this.transition({ status: "reconnecting", matchId, attempt: d.attempt, delayMs: d.delayMs, code: d.code, reason: d.reason });
      },
      closed: (c: CloseInfo) => {
        if (g !== this.gen) return;
        const over = c.by === "server" && this.lastMatchOver !== null;
        const r: EndReason = { by: over ? "matchover" : c.by === "error" ? "error" : c.by, code: c.code, message: c.reason };
        if (c.error) r.error = c.error;
        if (c.error && !over) this.events.emit("error", new RallypointError("server", c.error.message, r));
        this.endSession(r);
      },
    };
    const co: ConstructorParameters<typeof Connection>[2] = {};
    const o = this.o;
    if (o.WebSocket) co.WebSocket = o.WebSocket;
    if (o.version !== undefined) co.version = o.version;
    if (o.minVersion !== undefined) co.minVersion = o.minVersion;
    if (o.backoff) co.backoff = o.backoff;
    if (o.random) co.random = o.random;
    co.now = this.now;
    if (o.handshakeTimeoutMs) co.handshakeTimeoutMs = o.handshakeTimeoutMs;
    if (o.idleTimeoutMs) co.idleTimeoutMs = o.idleTimeoutMs;
    const conn = new Connection(tickets, h, co);
    this.conn = conn;
    this.subs.add(() => {
      conn.close();
      if (this.conn === conn) this.conn = null;
    });
    this.lastMatchOver = null;
    conn.open();
  }

  private lastMatchOver: MatchOver | null = null;

  /**
   * endSession is the one teardown path of a session: it releases the ticket
   * watch, the connection and every timer, settles play(), and enters
   * closed (or idle, after a cancel()).
   */
  private endSession(reason: EndReason | null): void {
    if (this.ticketId && reason?.by === "user") {
      // close() or leave() while queued: give the ticket back (best effort),
      // or it would seat a player who never comes.
      this.lobby.cancelTicket(this.ticketId).catch(() => {});
    }
    this.gen++;
    this.sockSubs.run();
    this.subs.run();
    this.conn = null;
    this.ticketId = "";
    this.lastPump = NaN;
    const settle = this.settle;
    this.settle = null;
    this.playing = null;
    const r = reason ?? { by: "user", code: 0, message: "cancelled" };
    settle?.reject(new RallypointError("closed", `rallypoint: session ended (${r.by}: ${r.message})`, r));
    if (reason) this.transition({ status: "closed", reason });
    else this.transition({ status: "idle" });
  }

  /**
   * cancel leaves the queue (DELETE the ticket) and returns to idle. It
   * resolves false if the ticket could not be cancelled because it was
   * being matched: the session then goes on into the match.
   */
  async cancel(): Promise<boolean> {
    if (!this.playing || this.conn) return false; // nothing queued, or already matched
    const id = this.ticketId;
    if (!id) {
      // the ticket is still being created: it is cancelled as soon as it exists
      this.endSession(null);
      return true;
    }
    const g = this.gen;
    try {
      await this.lobby.cancelTicket(id);
    } catch (err) {
      if (err instanceof LobbyError && (err.code === "ticket_placing" || err.code === "ticket_closed")) return false;
      if (g === this.gen) this.lobbyFailed(err);
      return false;
    }
    if (g !== this.gen) return false;
    this.ticketId = "";
    this.endSession(null);
    return true;
  }

  /**
   * leave leaves the match for good (the seat is freed at once) and ends the
   * session; while queued it gives the ticket back.
   */
  leave(): void {
    if (this.disposed) return;
    const conn = this.conn;
    if (conn) {
      this.conn = null;
      conn.leave(); // ends the connection: its closed() ends the session
    }
    if (this.playing) this.endSession({ by: "user", code: 1000, message: "left the match" });
  }

  /**
   * close releases everything (socket, EventSource, timers, listeners) and
   * makes this client unusable. Idempotent. It does not send Leave: the seat
   * stays held for the grace period (call leave() first to give it up).
   */
  close(): void {
    if (this.disposed) return;
    // (from closed, the state stays the closed it was: transition ignores closed -> closed)
    this.endSession({ by: "user", code: 1000, message: "client closed" });
    this.disposed = true;
    this.events.removeAll();
    this.interpolator.clear();
    this.world.reset();
  }

  /** pendingResources counts live disposers (for leak tests): 0 after close(). */
  get pendingResources(): number {
    return this.subs.size + this.sockSubs.size + (this.conn ? 1 : 0) + this.events.listenerCount();
  }

  // ------------------------------------------------------------ the match

  private onWelcome(w: Welcome): void {
    const sameMatch = this.welcome !== null && this.welcome.match === w.match && this.clock !== null;
    this.welcome = w;
    this.tickMs = 1000 / w.hz;
    if (!sameMatch) {
      this.clock = new ServerClock(w.hz, this.o.clock);
      this.interpolator.clear();
      this._stats.pingMs = this._stats.rttMs = this._stats.inputWaitMs = this._stats.viewLagMs = 0;
      this._stats.inputRate = 1;
    }
    this.world.reset();
    const step = this.o.prediction === false ? null : (this.o.movement ?? defaultMovement)(w.mode);
    const params = { hz: w.hz, width: w.width, height: w.height };
    if (!step) this.predictor = null;
    else if (!this.predictor || this.predictor.step !== step || !sameMatch) {
      this.predictor = new Predictor(step, params, this.o.prediction || undefined);
    } else {
      // A resume: Inputs up to lastSeq will still be applied (keep them for
      // the replay); later ones were lost with the old socket.
      this.predictor.params = params;
      this.predictor.keepUpTo(w.lastSeq);
    }
    this.seq = w.lastSeq;
    if (!sameMatch) {
      this.lastAcked = 0;
      this.sentSeq.fill(0);
    }
    this.lastPump = NaN;
    this.acc = 0;
    this._stats.inputsSent = 0;
    this.bytesIn = 0;
    this.bytesAt = this.now();
    this.view.width = w.width;
    this.view.height = w.height;
    this.view.interest = w.interest;

    const pump = setInterval(() => this.pump(this.now()), Math.max(4, this.tickMs / 2));
    this.sockSubs.add(() => clearInterval(pump));
    const pingEvery = this.o.pingIntervalMs || 1000;
    const ping = setInterval(() => this.ping(), pingEvery);
    this.sockSubs.add(() => clearInterval(ping));
    this.ping();

    this.transition({ status: "playing", welcome: w });
    this.events.emit("welcome", w);
    const settle = this.settle;
    this.settle = null;
    settle?.resolve(w);
  }

  private ping(): void {
    const now = this.now();
    const dt = now - this.bytesAt;
    if (dt >= 500) {
      this._stats.bytesPerSecond = (this.bytesIn * 1000) / dt;
      this.bytesIn = 0;
      this.bytesAt = now;
    }
    this.conn?.sendPing(now);
  }

  /**
   * steerInputRate slows the input clock a little while Inputs wait too long
   * in the server's buffer. The input-to-ack time is the round trip plus
   * that wait; the Ping round trip is without it.
   */
  private steerInputRate(): void {
    const s = this._stats;
    const drain = this.o.inputDrainRate ?? 0.03;
    if (drain <= 0 || s.pingMs === 0 || s.rttMs === 0) return;
    s.inputWaitMs = Math.max(0, s.rttMs - s.pingMs);
    if (s.inputWaitMs > 1.5 * this.tickMs) s.inputRate = 1 - drain;
    else if (s.inputWaitMs < this.tickMs) s.inputRate = 1;
  }

  /**
   * steerDelayCap keeps the interpolation delay from growing (for jitter)
   * past what the server's lag compensation can rewind. lagTicks is the tick
   * an Input was applied at minus the view it carried.
   */
  private steerDelayCap(lagTicks: number): void {
    const s = this._stats;
    const lagMs = lagTicks * this.tickMs;
    s.viewLagMs = s.viewLagMs === 0 ? lagMs : s.viewLagMs + (lagMs - s.viewLagMs) / 8;
    const rewind = this.o.maxRewindMs ?? 200;
    const clock = this.clock;
    if (!clock || rewind <= 0) return;
    // The view lag is the delay plus everything else (round trip, waits).
    // The server does not count an Input's wait in its buffer against the
    // window (up to 4 ticks; roughly the input wait beyond half a tick), so
    // the delay that fits is the window, plus that wait, plus a tick of
    // slack, minus the rest.
    const rest = s.viewLagMs - clock.delayMs();
    const buffered = Math.min(4 * this.tickMs, Math.max(0, s.inputWaitMs - this.tickMs / 2));
    clock.maxDelayMs = rewind + buffered + this.tickMs - rest;
  }

  private onMessage(m: ServerMessage, bytes: number): void {
    this.bytesIn += bytes;
    switch (m.type) {
      case MsgType.Snapshot: {
        const now = this.now();
        this.world.apply(m); // a ProtocolError drops the socket and resumes
        const w = this.welcome!;
        this.clock!.onSnapshot(m.tick, now);
        this.interpolator.record(this.world, w.posScale, m.base === 0);
        let players = 0;
        for (const e of this.world.entities.values()) if (e.kind === EntityKind.Avatar) players++;
        this._stats.players = players;
        if (m.ackSeq !== 0 && m.ackSeq !== this.lastAcked) {
          this.lastAcked = m.ackSeq;
          const i = m.ackSeq % SEQ_RING;
          if (this.sentSeq[i] === m.ackSeq) {
            const sample = now - this.sentAt[i]!;
            this._stats.rttMs = this._stats.rttMs === 0 ? sample : this._stats.rttMs + (sample - this._stats.rttMs) / 8;
            this.steerInputRate();
            if (this.sentView[i]! > 0) this.steerDelayCap(m.tick - this.sentView[i]!);
          }
        }
        const me = this.world.entities.get(w.entity);
        if (this.predictor && me) {
          const c = this.predictor.reconcile(m.ackSeq, me.x / w.posScale, me.y / w.posScale, (me.flags & FlagDead) !== 0);
          this.events.emit("correction", c);
        }
        this.events.emit("snapshot", { tick: m.tick, base: m.base, ackSeq: m.ackSeq, keyframe: m.base === 0 });
        return;
      }
      case MsgType.Event:
        this.events.emit("event", m);
        return;
      case MsgType.MatchOver:
        this.lastMatchOver = m;
        this.events.emit("matchover", m);
        return;
      case MsgType.Error:
        return; // reported with the close that follows
      case MsgType.Pong: {
        const sample = ((Math.floor(this.now()) >>> 0) - m.time) >>> 0;
        if (sample < 60000) this._stats.pingMs = this._stats.pingMs === 0 ? sample : this._stats.pingMs + (sample - this._stats.pingMs) / 4;
        return;
      }
      default:
        return; // Welcome cannot come twice (Connection), unknown types are ignored
    }
  }

  // ------------------------------------------------------------ input

  /**
   * setInput changes the held input (fields left out keep their value). It is
   * sampled once per server tick; a fire press is latched until the next
   * sample, so a tap between two ticks still fires.
   */
  setInput(i: Partial<InputState>): void {
    const h = this.held;
    if (i.dx !== undefined && i.dx !== h.dx) (h.dx = i.dx), (this.dirty = true);
    if (i.dy !== undefined && i.dy !== h.dy) (h.dy = i.dy), (this.dirty = true);
    if (i.aim !== undefined) h.aim = i.aim;
    if (i.fire !== undefined && i.fire !== h.fire) {
      h.fire = i.fire;
      if (i.fire) this.fireLatch = true;
      this.dirty = true;
    }
  }

  /** input is the held input (read-only view). */
  get input(): Readonly<InputState> {
    return this.held;
  }

  /**
   * pump runs the fixed-step input clock up to local time now: one Input per
   * elapsed tick (at most maxCatchUpTicks at once). frame() calls it; so does
   * a timer while playing, so Inputs flow without animation frames.
   */
  pump(now: number): void {
    if (!this.conn || !this.conn.isOpen || this._state.status !== "playing") {
      this.lastPump = NaN;
      return;
    }
    if (this.lastPump !== this.lastPump) {
      // first pump of a connection: sample at once
      this.lastPump = now;
      this.acc = 0;
      this.sample(now);
      return;
    }
    const dt = now - this.lastPump;
    if (dt <= 0) return;
    this.lastPump = now;
    this.acc += dt * this._stats.inputRate;
    const max = this.o.maxCatchUpTicks || 4;
    let n = 0;
    while (this.acc >= this.tickMs) {
      if (n === max) {
        this.acc %= this.tickMs;
        break;
      }
      this.acc -= this.tickMs;
      n++;
      this.sample(now - this.acc);
    }
  }

  /** sample sends the Input of one tick and applies it to the prediction. */
  private sample(at: number): void {
    const conn = this.conn;
    if (!conn) return;
    const h = this.held;
    const dx = toFloat32(h.dx);
    const dy = toFloat32(h.dy);
    let viewTick = 0;
    let viewFrac = 0;
    if (this.clock?.ready) {
      // What the player saw when this input was given: the render tick of
      // the frame on screen (the last frame() call), or, with no recent
      // frame, the render clock now.
      const now = this.now();
      const rt = now - this.lastFrame < 100 && this.view.renderTick > 0 ? this.view.renderTick : this.clock.renderTick(now);
      if (rt > 0) {
        viewTick = Math.floor(rt);
        viewFrac = Math.min(255, Math.round((rt - viewTick) * 256));
      }
    }
    const seq = this.seq + 1;
    const ok = conn.sendInput({
      seq, ack: this.world.lastTick, dx, dy, aim: h.aim, buttons: h.fire || this.fireLatch ? 1 : 0, viewTick, viewFrac,
    });
    if (!ok) return;
    this.seq = seq;
    this.fireLatch = false;
    this.dirty = false;
    const i = seq % SEQ_RING;
    this.sentSeq[i] = seq;
    this.sentAt[i] = this.now();
    this.sentView[i] = viewTick + viewFrac / 256;
    this._stats.inputsSent++;
    this.lastSampleAt = at;
    this.predictor?.applyLocal(seq, dx, dy);
  }

  // ------------------------------------------------------------ frames

  /**
   * frame advances the input clock and the interpolation to local time now
   * (performance.now()) and returns the view to draw. Call it once per
   * animation frame. The returned object and everything in it are reused.
   */
  frame(now: number): View {
    const dtFrame = this.lastFrame === this.lastFrame ? now - this.lastFrame : 0;
    this.lastFrame = now;
    if (dtFrame > 0 && dtFrame < 100) this.frameMs += (dtFrame - this.frameMs) / 8;
    this.pump(now);
    // A changed input is sampled at once when its tick boundary is near, so
    // the key press shows on this frame.
    const early = this.o.earlySampleMs ?? this.tickMs;
    if (this.dirty && this.lastPump === this.lastPump && this.acc >= 0 && this.tickMs - this.acc <= early) {
      this.acc -= this.tickMs;
      this.sample(now);
    }
    const v = this.view;
    const clock = this.clock;
    const selfId = this.welcome?.entity ?? 0;
    v.renderTick = clock ? clock.renderTick(now) : 0;
    v.serverTick = clock ? clock.serverTick(now) : 0;
    v.entities = this.interpolator.sample(v.renderTick, selfId);
    const self = this.interpolator.get(selfId) ?? null;
    const p = this.predictor;
    if (p && self && p.hasState) {
      p.decay(dtFrame);
      // Draw the newest input's tick as far as it will have run at display
      // time (about one frame from now).
      p.render((now + this.frameMs - this.lastSampleAt) / this.tickMs, self);
      // the own avatar is drawn in the present: its newest flags too
      const me = this.world.entities.get(selfId);
      if (me) self.flags = me.flags;
    }
    v.self = self;
    const others = v.others;
    let n = 0;
    for (const e of v.entities) if (!e.self) others[n++] = e;
    if (others.length !== n) others.length = n;
    return v;
  }

  /** lastView is the view the last frame() returned (the same reused object), without advancing anything. */
  get lastView(): Readonly<View> {
    return this.view;
  }

  /** stats returns the HUD numbers (a reused object). */
  get stats(): Readonly<Stats> {
    const s = this._stats;
    const c = this.clock;
    const now = this.now();
    s.interpolationDelayMs = c ? c.delayMs() : 0;
    s.jitterMs = c ? c.jitterMs(now) : 0;
    s.serverTick = c ? c.serverTick(now) : 0;
    s.renderTick = this.view.renderTick;
    s.pendingInputs = this.predictor?.pending ?? 0;
    return s;
  }
}

function defaultMovement(mode: string): MovementFn | null {
  return mode === "arena" ? arenaStep : null;
}

/** seatedMatch finds the match id in an already_in_match message ("... reconnect with POST /v1/matches/m7/token"). */
function seatedMatch(message: string): string {
  const m = /\/v1\/matches\/([^/\s]+)\/token/.exec(message) ?? /seated in ([^;\s]+)/.exec(message);
  return m ? decodeURIComponent(m[1]!) : "";
}
