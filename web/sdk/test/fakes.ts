// Fakes of the browser's WebSocket, EventSource and fetch for unit tests, and
// a tiny lobby behind fetch.

import {
  decodeClientMessage,
  encodeServerMessage,
  MsgType,
  type ClientMessage,
  type ServerMessage,
  type Welcome,
} from "../src/codec.js";
import type { WebSocketLike } from "../src/connection.js";
import type { EventSourceLike } from "../src/lobby.js";

export class FakeWebSocket implements WebSocketLike {
  static instances: FakeWebSocket[] = [];
  static reset(): void {
    FakeWebSocket.instances = [];
  }
  static get open(): FakeWebSocket[] {
    return FakeWebSocket.instances.filter((w) => w.readyState < 2);
  }
  static last(): FakeWebSocket {
    const w = FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
    if (!w) throw new Error("no socket");
    return w;
  }

  binaryType = "blob";
  readyState = 0;
  bufferedAmount = 0;
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  sent: ClientMessage[] = [];
  raw: Uint8Array[] = [];
  closedWith: { code?: number; reason?: string } | null = null;

  constructor(readonly url: string) {
    FakeWebSocket.instances.push(this);
  }

  send(data: Uint8Array): void {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    const copy = data.slice();
    this.raw.push(copy);
    this.sent.push(decodeClientMessage(copy));
  }

  close(code?: number, reason?: string): void {
    if (this.readyState >= 2) return;
    const c: { code?: number; reason?: string } = {};
    if (code !== undefined) c.code = code;
    if (reason !== undefined) c.reason = reason;
    this.closedWith = c;
    this.readyState = 3;
  }

  // ---- the server side

  serverOpen(): void {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }

  serverSend(m: Exclude<ServerMessage, { type: "unknown" }>): void {
    this.serverSendBytes(encodeServerMessage(m));
  }

  serverSendBytes(b: Uint8Array): void {
    const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
    this.onmessage?.({ data: ab } as MessageEvent);
  }

  serverClose(code: number, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason, wasClean: code !== 1006 } as CloseEvent);
  }

  /** open, expect a Hello, answer Welcome. */
  handshake(w: Partial<Welcome> = {}): Welcome {
    this.serverOpen();
    const hello = this.sent[0];
    if (!hello || hello.type !== MsgType.Hello) throw new Error("no Hello");
    const welcome: Welcome = { ...defaultWelcome, ...w };
    this.serverSend({ type: MsgType.Welcome, ...welcome });
    return welcome;
  }

  inputs(): Array<Extract<ClientMessage, { type: 2 }>> {
    return this.sent.filter((m): m is Extract<ClientMessage, { type: 2 }> => m.type === MsgType.Input);
  }
}

export const defaultWelcome: Welcome = {
  version: 2, player: 17, entity: 3, match: "m7", mode: "arena", hz: 30, tick: 1200, lastSeq: 0,
  resumed: false, width: 1000, height: 1000, interest: 0, posScale: 16,
};

export class FakeEventSource implements EventSourceLike {
  static instances: FakeEventSource[] = [];
  static reset(): void {
    FakeEventSource.instances = [];
  }
  static last(): FakeEventSource {
    const e = FakeEventSource.instances[FakeEventSource.instances.length - 1];
    if (!e) throw new Error("no event source");
    return e;
  }
  readyState = 0;
  onerror: ((ev: Event) => void) | null = null;
  private listeners = new Map<string, Array<(ev: MessageEvent) => void>>();
  closed = false;

  constructor(readonly url: string) {
    FakeEventSource.instances.push(this);
  }
  addEventListener(type: string, fn: (ev: MessageEvent) => void): void {
    const l = this.listeners.get(type) ?? [];
    l.push(fn);
    this.listeners.set(type, l);
  }
  removeEventListener(type: string, fn: (ev: MessageEvent) => void): void {
    const l = this.listeners.get(type);
    if (l) this.listeners.set(type, l.filter((f) => f !== fn));
  }
  close(): void {
    this.closed = true;
    this.readyState = 2;
  }
  get listenerCount(): number {
    let n = 0;
    for (const l of this.listeners.values()) n += l.length;
    return n + (this.onerror ? 1 : 0);
  }
  emit(type: string, data: unknown, id = ""): void {
    this.readyState = 1;
    for (const fn of (this.listeners.get(type) ?? []).slice()) {
      fn({ type, data: JSON.stringify(data), lastEventId: id } as MessageEvent);
    }
  }
  /** fail: a network error (EventSource retries: CONNECTING) or a hard failure (CLOSED). */
  fail(hard: boolean): void {
    this.readyState = hard ? 2 : 0;
    this.onerror?.(new Event("error"));
  }
}

export interface FakeLobby {
  fetch: (url: string, init?: RequestInit) => Promise<Response>;
  calls: Array<{ method: string; path: string; auth: string; body: unknown }>;
  /** Override an endpoint: return a Response (or throw) for "METHOD /path". */
  routes: Map<string, (body: unknown) => Response | Promise<Response>>;
  ticketJson(status: string, extra?: object): object;
}

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });

export function fakeLobby(): FakeLobby {
  const calls: FakeLobby["calls"] = [];
  const routes: FakeLobby["routes"] = new Map();
  let tokenN = 0;
  const future = (ms: number) => new Date(Date.now() + ms).toISOString();
  const session = () => ({
    player_id: 17, name: "ada", session_token: "sess" + ++tokenN, refresh_token: "ref" + tokenN,
    expires_at: future(15 * 60000), refresh_expires_at: future(7 * 86400000),
  });
  const ticketJson = (status: string, extra: object = {}) => ({
    ticket_id: "t1", status, mode: "arena", rating: 1500, created_at: future(0), expires_at: future(120000),
    position: 1, queue_length: 1, estimated_wait_ms: 5000, ...extra,
  });
  const assignment = () => ({
    match_id: "m7", ws_url: "ws://x/v1/ws?match=m7", token: "sock" + ++tokenN, token_expires_at: future(120000),
    bots: 1, reconnect_grace_ms: 30000,
  });
  routes.set("POST /v1/auth/guest", () => json(200, session()));
  routes.set("POST /v1/auth/refresh", () => json(200, session()));
  routes.set("POST /v1/tickets", () => json(201, ticketJson("queued")));
  routes.set("DELETE /v1/tickets/t1", () => json(200, ticketJson("cancelled")));
  routes.set("GET /v1/tickets/t1", () => json(200, ticketJson("queued")));
  routes.set("POST /v1/matches/m7/token", () => json(200, assignment()));
  const fetch = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const u = new URL(url, "http://lobby");
    const method = init.method ?? "GET";
    const body = init.body ? JSON.parse(String(init.body)) : undefined;
    const auth = (init.headers as Record<string, string> | undefined)?.Authorization ?? "";
    calls.push({ method, path: u.pathname, auth, body });
    const r = routes.get(`${method} ${u.pathname}`);
    if (!r) return json(404, { error: { code: "not_found", message: "no route" } });
    return r(body);
  };
  return { fetch, calls, routes, ticketJson };
}

export const matchedTicket = (l: FakeLobby) =>
  l.ticketJson("matched", {
    assignment: { match_id: "m7", ws_url: "ws://x/v1/ws?match=m7", token: "first", bots: 1, reconnect_grace_ms: 30000 },
  });

// The real setImmediate, taken before any test installs fake timers.
const realImmediate: (fn: () => void) => void = globalThis.setImmediate;

/** flush lets pending promise callbacks and response bodies settle without advancing (fake) timers. */
export async function flush(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => realImmediate(r));
}
