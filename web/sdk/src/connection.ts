// Connection owns the one game WebSocket of a seat and its reconnection
// (socket.io-client's Manager): handshake, decode, liveness, exponential
// backoff with jitter, a fresh socket token per attempt, and the close-code
// table of docs/protocol.md section 9 that decides whether to retry.
//
// It reports to a single ConnectionHandler (the Rallypoint client) rather than
// emitting events: the handler may throw ProtocolError from message() and the
// connection then drops the socket and resumes.

import {
  decodeServerMessage,
  encodeHello,
  encodeInput,
  encodeLeave,
  encodePing,
  type Input,
  MsgType,
  ProtocolError,
  ProtocolVersion,
  type ServerError,
  type ServerMessage,
  type Welcome,
} from "./codec.js";

/** WebSocketLike is the part of the browser WebSocket the SDK uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount?: number;
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketCtor = new (url: string) => WebSocketLike;

const OPEN = 1;

/** CloseCode names the close codes of protocol.md section 9. */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  Abnormal: 1006,
  TooLarge: 1009,
  Internal: 1011,
  TryAgain: 1013,
  AuthFailed: 4001,
  TokenExpired: 4002,
  TokenRevoked: 4003,
  BadVersion: 4004,
  HandshakeTimeout: 4005,
  Malformed: 4006,
  RateLimited: 4007,
  SlowConsumer: 4008,
  Replaced: 4009,
  SeatExpired: 4010,
  MatchNotFound: 4011,
  MatchFull: 4012,
  IdleTimeout: 4013,
} as const;

/**
 * closeSocket closes a socket we no longer want, its handlers already
 * detached. One still connecting is closed as soon as it opens: closing it
 * before makes browsers log "closed before the connection is established"
 * as an error.
 */
function closeSocket(ws: WebSocketLike, code: number, reason: string): void {
  const r = reason.slice(0, 120);
  if (ws.readyState === 0) {
    ws.onopen = () => ws.close(code, r);
    return;
  }
  try {
    ws.close(code, r);
  } catch {
    // already closing
  }
}

/**
 * PermanentCloseCodes are the codes after which a client must not reconnect
 * (protocol.md section 9, as the reference Go client's CloseError.Permanent):
 * the match is over or left (1000), the token or session is refused (4001,
 * 4003), the version (4004), a newer connection owns the seat (4009), the
 * seat or match is gone (4010, 4011, 4012), and abuse, which costs the seat
 * (1002, 1003, 1009, 4006, 4007).
 */
export const PermanentCloseCodes: ReadonlySet<number> = new Set([
  1000, 1002, 1003, 1009, 4001, 4003, 4004, 4006, 4007, 4009, 4010, 4011, 4012,
]);

/** isPermanentClose reports whether a close code forbids reconnecting. */
export function isPermanentClose(code: number): boolean {
  return PermanentCloseCodes.has(code);
}

/** BackoffOptions shape the reconnect delays. All times are ms. */
export interface BackoffOptions {
  /** First retry delay (before jitter). If zero, 100 is used. */
  initialMs?: number;
  /** Largest delay. If zero, 5000 is used. */
  maxMs?: number;
  /** Growth per attempt. If zero, 2 is used. */
  factor?: number;
  /** Fraction of the delay taken off at random (0..1). Default 0.5. */
  jitter?: number;
}

/**
 * backoffDelay is the delay before retry number attempt (1 = first retry):
 * min(maxMs, initialMs * factor^(attempt-1)), minus up to `jitter` of it at
 * random ("equal jitter": delays stay within [d*(1-jitter), d]).
 */
export function backoffDelay(attempt: number, o: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = o.initialMs || 100;
  const max = o.maxMs || 5000;
  const factor = o.factor || 2;
  const jitter = Math.min(1, Math.max(0, o.jitter ?? 0.5));
  const d = Math.min(max, initial * Math.pow(factor, Math.max(0, attempt - 1)));
  return d * (1 - jitter * random());
}

/** SocketTicket is where and with what token to open one socket. */
export interface SocketTicket {
  wsUrl: string;
  token: string;
  /** The seat's reconnect grace (ms), if known. */
  reconnectGraceMs?: number;
}

/**
 * TicketSource returns a ticket for attempt n (0: the first socket). It
 * should fetch a fresh socket token every time; an error whose `permanent`
 * property is true ends the connection, any other is retried with backoff.
 */
export type TicketSource = (attempt: number) => Promise<SocketTicket>;

/** CloseInfo says why the connection ended for good. */
export interface CloseInfo {
  code: number;
  reason: string;
  /** "user": close() or leave(); "server": a permanent close code or MatchOver; "grace": the grace period ran out; "error": a permanent failure to get a token. */
  by: "user" | "server" | "grace" | "error";
  /** The server's Error message before the close, if any. */
  error?: ServerError;
}

/** DropInfo says why a socket dropped and when the next attempt starts. */
export interface DropInfo {
  code: number;
  reason: string;
  /** Retry number (1 = first retry). */
  attempt: number;
  delayMs: number;
}

/** ConnectionHandler receives everything a Connection does. */
export interface ConnectionHandler {
  /** A socket is being opened (attempt 0 = the first). */
  connecting(attempt: number): void;
  /** The handshake succeeded. */
  welcome(w: Welcome): void;
  /** A message after the Welcome. Throw ProtocolError to drop the socket and resume. */
  message(m: ServerMessage, bytes: number): void;
  /** The socket dropped; a retry is scheduled. */
  dropped(d: DropInfo): void;
  /** The connection ended for good. Called once. */
  closed(c: CloseInfo): void;
}

export interface ConnectionOptions {
  WebSocket?: WebSocketCtor;
  /** The protocol version sent in Hello. Default 2. */
  version?: number;
  /**
   * The oldest version to fall back to when a server refuses the Hello's
   * version (4004): the next attempt says this one instead. Default 1 (a v1
   * server ignores the v2 Input's extra elements). Set it to version to
   * never fall back.
   */
  minVersion?: number;
  backoff?: BackoffOptions;
  random?: () => number;
  now?: () => number;
  /** Give up on a socket that has not been welcomed after this long. If zero, 10000 ms is used. */
  handshakeTimeoutMs?: number;
  /** Drop a socket that received nothing for this long (snapshots flow every tick). If zero, 10000 ms is used. */
  idleTimeoutMs?: number;
  /** Stop retrying this long after the drop. If zero, the ticket's reconnectGraceMs, else 30000 ms. */
  graceMs?: number;
}

/**
 * Connection is one seat's game connection: at most one WebSocket at any
 * time, reopened with backoff until a permanent close, the grace period, or
 * close().
 */
export class Connection {
  // immutable after construction
  private readonly WS: WebSocketCtor;
  private readonly tickets: TicketSource;
  private readonly h: ConnectionHandler;
  private readonly o: ConnectionOptions;
  private readonly now: () => number;
  private readonly random: () => number;

  // connection state
  private ws: WebSocketLike | null = null;
  private welcomed = false;
  private started = false;
  private ended = false;
  private attempt = 0;
  private dropAt = 0;
  private graceMs = 30000;
  private matchOver = false;
  private lastError: ServerError | undefined;
  private lastMessageAt = 0;
  /** The version the next Hello says. */
  private version: number;
  /** Timers of the current socket or backoff wait. */
  private timers: Array<ReturnType<typeof setTimeout>> = [];
  private intervals: Array<ReturnType<typeof setInterval>> = [];

  constructor(tickets: TicketSource, handler: ConnectionHandler, o: ConnectionOptions = {}) {
    const WS = o.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    if (!WS) throw new Error("rallypoint: no WebSocket available");
    this.WS = WS;
    this.tickets = tickets;
    this.h = handler;
    this.o = o;
    this.now = o.now ?? (() => performance.now());
    this.random = o.random ?? Math.random;
    this.version = o.version ?? ProtocolVersion;
  }

  /** helloVersion is the protocol version the current (or next) Hello says. */
  get helloVersion(): number {
    return this.version;
  }

  /** open starts the first attempt. Calling it again does nothing: one connection, one socket. */
  open(): void {
    if (this.started || this.ended) return;
    this.started = true;
    void this.connect();
  }

  /** isOpen reports whether a welcomed socket is up. */
  get isOpen(): boolean {
    return this.welcomed && this.ws !== null && this.ws.readyState === OPEN;
  }

  /** isEnded reports whether the connection ended for good. */
  get isEnded(): boolean {
    return this.ended;
  }

  /** socketCount is 1 while a socket exists, else 0 (for tests). */
  get socketCount(): number {
    return this.ws ? 1 : 0;
  }

  /** pendingTimers is the number of live timers (for tests). */
  get pendingTimers(): number {
    return this.timers.length + this.intervals.length;
  }

  private async connect(): Promise<void> {
    const n = this.attempt;
    this.h.connecting(n);
    let t: SocketTicket;
    try {
      t = await this.tickets(n);
    } catch (err) {
      if (this.ended) return;
      if ((err as { permanent?: boolean }).permanent) {
        this.finish({ code: 0, reason: String((err as Error).message ?? err), by: "error" });
      } else {
        this.retry(CloseCode.Abnormal, `token: ${String((err as Error).message ?? err)}`, (err as { retryAfterMs?: number }).retryAfterMs);
      }
      return;
    }
    if (this.ended) return; // closed while the token was on its way
    this.graceMs = this.o.graceMs || t.reconnectGraceMs || 30000;
    let ws: WebSocketLike;
    try {
      ws = new this.WS(t.wsUrl);
    } catch (err) {
      // a malformed URL, or ws:// from an https page: retrying cannot help
      this.finish({ code: 0, reason: `cannot open ${t.wsUrl}: ${String((err as Error).message ?? err)}`, by: "error" });
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.welcomed = false;
    this.lastError = undefined;
    this.lastMessageAt = this.now();
    this.addTimer(() => {
      if (this.ws === ws && !this.welcomed) this.drop(ws, CloseCode.HandshakeTimeout, "handshake timeout");
    }, this.o.handshakeTimeoutMs || 10000);
    ws.onopen = () => {
      if (this.ws !== ws || this.ended) return ws.close(1000, "closed");
      ws.send(encodeHello(t.token, this.version));
    };
    ws.onmessage = (ev) => this.onMessage(ws, ev);
    ws.onerror = () => {}; // the close event follows and says what happened
    ws.onclose = (ev) => this.onClose(ws, ev.code, ev.reason);
  }

  private onMessage(ws: WebSocketLike, ev: MessageEvent): void {
    if (this.ws !== ws) return;
    this.lastMessageAt = this.now();
    try {
      if (!(ev.data instanceof ArrayBuffer) && !(ev.data instanceof Uint8Array)) {
        throw new ProtocolError("text frame");
      }
      const bytes = ev.data.byteLength;
      const m = decodeServerMessage(ev.data);
      if (m.type === MsgType.Error) {
        this.lastError = { code: m.code, message: m.message };
      }
      if (!this.welcomed) {
        if (m.type === MsgType.Error) return; // the close with the same code follows
        if (m.type !== MsgType.Welcome) throw new ProtocolError(`expected Welcome, got type ${m.type}`);
        this.welcomed = true;
        this.attempt = 0;
        this.dropAt = 0;
        this.clearTimers();
        this.h.welcome(m);
        // welcome() may have closed us
        if (this.ws === ws && !this.ended) {
          const idle = this.o.idleTimeoutMs || 10000;
          this.intervals.push(
            setInterval(() => {
              if (this.ws === ws && this.now() - this.lastMessageAt > idle) {
                this.drop(ws, CloseCode.IdleTimeout, "nothing received");
              }
            }, Math.min(1000, idle)),
          );
        }
        return;
      }
      if (m.type === MsgType.MatchOver) this.matchOver = true;
      this.h.message(m, bytes);
    } catch (err) {
      if (this.ws !== ws) return;
      if (err instanceof ProtocolError) this.drop(ws, CloseCode.Malformed, err.message);
      else throw err;
    }
  }

  /** drop closes a socket that we gave up on and resumes (never permanent). */
  private drop(ws: WebSocketLike, code: number, reason: string): void {
    if (this.ws !== ws) return;
    this.detach(ws);
    closeSocket(ws, 4000, reason);
    this.retry(code, reason);
  }

  private onClose(ws: WebSocketLike, code: number, reason: string): void {
    if (this.ws !== ws) return;
    const welcomed = this.welcomed;
    this.detach(ws);
    if (this.ended) return;
    const min = this.o.minVersion ?? 1;
    if (!welcomed && code === CloseCode.BadVersion && this.version > min) {
      // An older server: say the oldest version we speak and try again.
      this.version = min;
      this.retry(code, reason);
      return;
    }
    if (this.matchOver || isPermanentClose(code)) {
      const info: CloseInfo = { code, reason, by: "server" };
      if (this.lastError) info.error = this.lastError;
      this.finish(info);
      return;
    }
    this.retry(code, reason);
  }

  private detach(ws: WebSocketLike): void {
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.onerror = () => {};
    if (this.ws === ws) this.ws = null;
    this.welcomed = false;
    this.clearTimers();
  }

  private retry(code: number, reason: string, minDelayMs = 0): void {
    if (this.ended) return;
    const now = this.now();
    if (this.dropAt === 0) this.dropAt = now;
    this.attempt++;
    const delayMs = Math.max(minDelayMs, backoffDelay(this.attempt, this.o.backoff, this.random));
    if (now + delayMs - this.dropAt > this.graceMs) {
      const info: CloseInfo = { code, reason: `reconnect grace period over (${reason})`, by: "grace" };
      if (this.lastError) info.error = this.lastError;
      this.finish(info);
      return;
    }
    this.h.dropped({ code, reason, attempt: this.attempt, delayMs });
    this.addTimer(() => void this.connect(), delayMs);
  }

  private addTimer(fn: () => void, ms: number): void {
    const id = setTimeout(() => {
      this.timers = this.timers.filter((t) => t !== id);
      fn();
    }, ms);
    this.timers.push(id);
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    for (const t of this.intervals) clearInterval(t);
    this.timers = [];
    this.intervals = [];
  }

  private finish(info: CloseInfo): void {
    if (this.ended) return;
    this.ended = true;
    this.clearTimers();
    const ws = this.ws;
    if (ws) {
      this.detach(ws);
      closeSocket(ws, 1000, "client closed");
    }
    this.h.closed(info);
  }

  /** send sends raw bytes on the welcomed socket; false when there is none. */
  send(bytes: Uint8Array): boolean {
    const ws = this.ws;
    if (!ws || !this.welcomed || ws.readyState !== OPEN) return false;
    ws.send(bytes);
    return true;
  }

  sendInput(i: Input): boolean {
    return this.send(encodeInput(i));
  }

  sendPing(time: number): boolean {
    return this.send(encodePing(time));
  }

  /**
   * leave sends Leave (the seat is freed at once) and ends the connection
   * without retrying. If no socket is up, it just closes.
   */
  leave(): void {
    if (this.ended) return;
    this.send(encodeLeave());
    this.close("left the match");
  }

  /** close ends the connection for good (idempotent). The seat stays held for the grace period. */
  close(reason = "client closed"): void {
    this.finish({ code: 1000, reason, by: "user" });
  }
}
