// The lobby's HTTP API (docs/lobby-api.md): guest sign-in, refresh, tickets,
// the queue over Server-Sent Events, and socket tokens for held seats.
// LobbyClient is HTTP only (like Colyseus' Client); the socket is Connection's.

import type { Disposer } from "./events.js";

/** Session is a signed-in player. Keep refreshToken to come back later (it rotates on every refresh). */
export interface Session {
  playerId: number;
  name: string;
  sessionToken: string;
  refreshToken: string;
  /** ms since the epoch */
  expiresAt: number;
  refreshExpiresAt: number;
}

/** Assignment says where a matched ticket plays. token is absent when the seat was released. */
export interface Assignment {
  matchId: string;
  wsUrl: string;
  token?: string;
  tokenExpiresAt?: number;
  bots: number;
  reconnectGraceMs: number;
  seatReleased?: boolean;
}

export type TicketState = "queued" | "matched" | "cancelled" | "expired";

/** Ticket is the state of a matchmaking ticket, as GET /v1/tickets/{id} and the event stream report it. */
export interface Ticket {
  ticketId: string;
  status: TicketState;
  mode: string;
  rating: number;
  createdAt: number;
  expiresAt: number;
  position?: number;
  queueLength?: number;
  estimatedWaitMs?: number;
  assignment?: Assignment;
}

export interface MatchInfo {
  id: string;
  mode: string;
  state: string;
  players: number[];
  bots: number;
  tick: number;
  maxPlayers: number;
}

/** LobbyError is an HTTP error of the lobby: status, the API's error code and message. */
export class LobbyError extends Error {
  override name = "LobbyError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** From Retry-After on 429, in ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
  /** permanent is true for errors that retrying cannot fix (the seat is gone, the session is dead). */
  get permanent(): boolean {
    return ["not_seated", "match_not_found", "token_revoked", "token_invalid", "ticket_not_found", "invalid_name",
      "unknown_mode", "bad_request", "invalid_rating", "already_queued", "ticket_closed"].includes(this.code);
  }
}

export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

/** EventSourceLike is the part of the browser EventSource the SDK uses. */
export interface EventSourceLike {
  readonly readyState: number;
  addEventListener(type: string, fn: (ev: MessageEvent) => void): void;
  removeEventListener(type: string, fn: (ev: MessageEvent) => void): void;
  onerror: ((ev: Event) => void) | null;
  close(): void;
}
export type EventSourceCtor = new (url: string) => EventSourceLike;

export interface LobbyOptions {
  /** e.g. "http://127.0.0.1:8080"; empty for the page's own origin. */
  baseUrl?: string;
  fetch?: FetchFn;
  EventSource?: EventSourceCtor;
  /** A session to start from (e.g. restored from storage). */
  session?: Session;
  now?: () => number;
  /** Refresh the session token when it has less than this left. If zero, 30000 ms is used. */
  refreshMarginMs?: number;
}

interface TicketJson {
  ticket_id: string;
  status: TicketState;
  mode: string;
  rating: number;
  created_at: string;
  expires_at: string;
  position?: number;
  queue_length?: number;
  estimated_wait_ms?: number;
  assignment?: AssignmentJson;
}
interface AssignmentJson {
  match_id: string;
  ws_url: string;
  token?: string;
  token_expires_at?: string;
  bots?: number;
  reconnect_grace_ms?: number;
  seat_released?: boolean;
}

const time = (s: string | undefined): number => (s ? Date.parse(s) : 0);

export function parseAssignment(j: AssignmentJson): Assignment {
  const a: Assignment = {
    matchId: j.match_id,
    wsUrl: j.ws_url,
    bots: j.bots ?? 0,
    reconnectGraceMs: j.reconnect_grace_ms ?? 30000,
  };
  if (j.token) a.token = j.token;
  if (j.token_expires_at) a.tokenExpiresAt = time(j.token_expires_at);
  if (j.seat_released) a.seatReleased = true;
  return a;
}

export function parseTicket(j: TicketJson): Ticket {
  const t: Ticket = {
    ticketId: j.ticket_id,
    status: j.status,
    mode: j.mode,
    rating: j.rating,
    createdAt: time(j.created_at),
    expiresAt: time(j.expires_at),
  };
  if (j.position !== undefined) t.position = j.position;
  if (j.queue_length !== undefined) t.queueLength = j.queue_length;
  if (j.estimated_wait_ms !== undefined) t.estimatedWaitMs = j.estimated_wait_ms;
  if (j.assignment) t.assignment = parseAssignment(j.assignment);
  return t;
}

/** TicketWatch handlers: queued for every update, then exactly one of matched/ended. */
export interface TicketWatchHandlers {
  queued?(t: Ticket): void;
  matched(t: Ticket): void;
  /** cancelled or expired (t.status says which). */
  ended(t: Ticket): void;
  /** A failure the watch cannot recover from (the ticket vanished). */
  error?(err: Error): void;
}

/** LobbyClient is the HTTP client of the lobby. It refreshes its session token by itself. */
export class LobbyClient {
  readonly baseUrl: string;
  private readonly fetchFn: FetchFn;
  private readonly ES: EventSourceCtor | undefined;
  private readonly now: () => number;
  private readonly margin: number;
  /** The current session; null before sign-in. Store refreshToken to resume later. */
  session: Session | null;
  private refreshing: Promise<Session> | null = null;

  constructor(o: LobbyOptions = {}) {
    this.baseUrl = (o.baseUrl ?? "").replace(/\/+$/, "");
    const f = o.fetch ?? (globalThis.fetch as FetchFn | undefined);
    if (!f) throw new Error("rallypoint: no fetch available");
    this.fetchFn = (input, init) => f(input, init); // unbound window.fetch throws "Illegal invocation"
    this.ES = o.EventSource ?? (globalThis as { EventSource?: EventSourceCtor }).EventSource;
    this.now = o.now ?? Date.now;
    this.margin = o.refreshMarginMs || 30000;
    this.session = o.session ?? null;
  }

  private async request<T>(method: string, path: string, body?: unknown, auth = false, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth) headers.Authorization = `Bearer ${(await this.bearer()).sessionToken}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    if (signal) init.signal = signal;
    let res = await this.fetchFn(this.baseUrl + path, init);
    if (auth && res.status === 401) {
      const err = await errorOf(res);
      if (err.code !== "token_expired") throw err;
      headers.Authorization = `Bearer ${(await this.refresh()).sessionToken}`;
      res = await this.fetchFn(this.baseUrl + path, init);
    }
    if (!res.ok) throw await errorOf(res);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  /** bearer returns a session whose token is good for a while, refreshing if needed. */
  private async bearer(): Promise<Session> {
    const s = this.session;
    if (!s) throw new LobbyError(401, "token_invalid", "rallypoint: not signed in");
    if (s.expiresAt - this.now() < this.margin) return this.refresh();
    return s;
  }

  private setSession(j: SessionJson): Session {
    this.session = {
      playerId: j.player_id,
      name: j.name,
      sessionToken: j.session_token,
      refreshToken: j.refresh_token,
      expiresAt: time(j.expires_at),
      refreshExpiresAt: time(j.refresh_expires_at),
    };
    return this.session;
  }

  /** signInGuest signs in as a new guest (POST /v1/auth/guest). */
  async signInGuest(name: string): Promise<Session> {
    return this.setSession(await this.request<SessionJson>("POST", "/v1/auth/guest", { name }));
  }

  /**
   * refresh trades the refresh token for a new pair (POST /v1/auth/refresh).
   * Concurrent callers share one request (a refresh token works only once).
   */
  refresh(refreshToken?: string): Promise<Session> {
    if (this.refreshing) return this.refreshing;
    const token = refreshToken ?? this.session?.refreshToken;
    if (!token) return Promise.reject(new LobbyError(401, "token_invalid", "rallypoint: no refresh token"));
    const p = this.request<SessionJson>("POST", "/v1/auth/refresh", { refresh_token: token })
      .then((j) => this.setSession(j))
      .finally(() => {
        if (this.refreshing === p) this.refreshing = null;
      });
    this.refreshing = p;
    return p;
  }

  /** logout revokes the session (and its socket tokens) and forgets it. */
  async logout(): Promise<void> {
    if (!this.session) return;
    try {
      await this.request<void>("POST", "/v1/auth/logout", undefined, true);
    } finally {
      this.session = null;
    }
  }

  /** createTicket queues for a match (POST /v1/tickets). */
  async createTicket(mode: string, rating?: number): Promise<Ticket> {
    const body: { mode: string; rating?: number } = { mode };
    if (rating !== undefined) body.rating = rating;
    return parseTicket(await this.request<TicketJson>("POST", "/v1/tickets", body, true));
  }

  /** getTicket reads a ticket (with a fresh socket token once matched). */
  async getTicket(id: string): Promise<Ticket> {
    return parseTicket(await this.request<TicketJson>("GET", `/v1/tickets/${encodeURIComponent(id)}`, undefined, true));
  }

  /** cancelTicket cancels a queued ticket (DELETE /v1/tickets/{id}). */
  async cancelTicket(id: string): Promise<Ticket> {
    return parseTicket(await this.request<TicketJson>("DELETE", `/v1/tickets/${encodeURIComponent(id)}`, undefined, true));
  }

  /** matchToken gets a fresh socket token for the seat held in a match (POST /v1/matches/{id}/token). */
  async matchToken(matchId: string): Promise<Assignment> {
    return parseAssignment(
      await this.request<AssignmentJson>("POST", `/v1/matches/${encodeURIComponent(matchId)}/token`, undefined, true),
    );
  }

  async listMatches(): Promise<MatchInfo[]> {
    const j = await this.request<{ matches: MatchJson[] }>("GET", "/v1/matches");
    return j.matches.map(parseMatch);
  }

  async getMatch(id: string): Promise<MatchInfo> {
    return parseMatch(await this.request<MatchJson>("GET", `/v1/matches/${encodeURIComponent(id)}`));
  }

  /**
   * watchTicket follows a ticket over its event stream (GET
   * /v1/tickets/{id}/events). EventSource resumes by itself with
   * Last-Event-ID; if the stream fails for good (an HTTP error), the ticket is
   * read once over GET and, if still queued, the stream is reopened with
   * ?lastEventId= after a pause. Returns the disposer that closes it all.
   */
  watchTicket(ticketId: string, h: TicketWatchHandlers, o: { retryMs?: number } = {}): Disposer {
    const ES = this.ES;
    if (!ES) throw new Error("rallypoint: no EventSource available");
    const retryMs = o.retryMs ?? 2000;
    let es: EventSourceLike | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let lastId = "";
    let done = false;
    const url = () =>
      `${this.baseUrl}/v1/tickets/${encodeURIComponent(ticketId)}/events` +
      (lastId ? `?lastEventId=${encodeURIComponent(lastId)}` : "");

    const finish = () => {
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (es) {
        es.removeEventListener("queued", onQueued);
        es.removeEventListener("matched", onMatched);
        es.removeEventListener("cancelled", onEnded);
        es.removeEventListener("expired", onEnded);
        es.onerror = null;
        es.close();
        es = null;
      }
    };
    const parse = (ev: MessageEvent): Ticket | null => {
      if (ev.lastEventId) lastId = ev.lastEventId;
      try {
        return parseTicket(JSON.parse(String(ev.data)) as TicketJson);
      } catch {
        return null;
      }
    };
    const deliver = (t: Ticket) => {
      if (done) return;
      if (t.status === "queued") h.queued?.(t);
      else if (t.status === "matched") {
        finish();
        h.matched(t);
      } else {
        finish();
        h.ended(t);
      }
    };
    const onQueued = (ev: MessageEvent) => {
      const t = parse(ev);
      if (t) deliver(t);
    };
    const onMatched = (ev: MessageEvent) => {
      const t = parse(ev);
      if (t) deliver({ ...t, status: "matched" });
    };
    const onEnded = (ev: MessageEvent) => {
      const t = parse(ev);
      if (t) deliver(t);
      else deliver({ ticketId, status: ev.type as TicketState, mode: "", rating: 0, createdAt: 0, expiresAt: 0 });
    };
    const open = () => {
      if (done) return;
      const s = new ES(url());
      es = s;
      s.addEventListener("queued", onQueued);
      s.addEventListener("matched", onMatched);
      s.addEventListener("cancelled", onEnded);
      s.addEventListener("expired", onEnded);
      s.onerror = () => {
        // readyState CONNECTING (0): EventSource is retrying with Last-Event-ID by itself.
        if (done || s.readyState !== 2) return;
        s.onerror = null;
        s.close();
        if (es === s) es = null;
        this.getTicket(ticketId).then(
          (t) => {
            if (done) return;
            if (t.status !== "queued") return deliver(t);
            h.queued?.(t);
            timer = setTimeout(() => {
              timer = undefined;
              open();
            }, retryMs);
          },
          (err: unknown) => {
            if (done) return;
            if (err instanceof LobbyError && err.permanent) {
              finish();
              h.error?.(err);
              return;
            }
            timer = setTimeout(() => {
              timer = undefined;
              open();
            }, retryMs);
          },
        );
      };
    };
    open();
    return finish;
  }
}

interface SessionJson {
  player_id: number;
  name: string;
  session_token: string;
  refresh_token: string;
  expires_at: string;
  refresh_expires_at: string;
}
interface MatchJson {
  id: string;
  mode: string;
  state: string;
  players: number[] | null;
  bots: number;
  tick: number;
  max_players: number;
}

function parseMatch(j: MatchJson): MatchInfo {
  return { id: j.id, mode: j.mode, state: j.state, players: j.players ?? [], bots: j.bots, tick: j.tick, maxPlayers: j.max_players };
}

async function errorOf(res: Response): Promise<LobbyError> {
  let code = "http_" + res.status;
  let message = `${res.status} ${res.statusText}`;
  try {
    const j = (await res.json()) as { error?: { code?: string; message?: string } };
    if (j.error?.code) code = j.error.code;
    if (j.error?.message) message = j.error.message;
  } catch {
    // not JSON
  }
  const ra = Number(res.headers.get("Retry-After"));
  return new LobbyError(res.status, code, message, Number.isFinite(ra) && ra > 0 ? ra * 1000 : undefined);
}
