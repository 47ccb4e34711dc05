import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LobbyClient, LobbyError, type Ticket } from "../src/lobby.js";
import { FakeEventSource, fakeLobby, type FakeLobby, flush, json } from "./fakes.js";

let lobby: FakeLobby;
const client = () => new LobbyClient({ baseUrl: "http://lobby/", fetch: lobby.fetch, EventSource: FakeEventSource });

beforeEach(() => {
  lobby = fakeLobby();
  FakeEventSource.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("LobbyClient", () => {
  it("signs in, parses the session and sends the bearer token", async () => {
    const l = client();
    const s = await l.signInGuest("ada");
    expect(s).toMatchObject({ playerId: 17, name: "ada", sessionToken: "sess1", refreshToken: "ref1" });
    expect(s.expiresAt).toBeGreaterThan(Date.now());
    const t = await l.createTicket("arena");
    expect(t).toMatchObject({ ticketId: "t1", status: "queued", position: 1, queueLength: 1, estimatedWaitMs: 5000 });
    expect(lobby.calls.at(-1)).toMatchObject({ auth: "Bearer sess1", body: { mode: "arena" } });
  });

  it("refreshes once on token_expired and retries", async () => {
    const l = client();
    await l.signInGuest("ada");
    let first = true;
    lobby.routes.set("POST /v1/matches/m7/token", () => {
      if (first) {
        first = false;
        return json(401, { error: { code: "token_expired", message: "expired" } });
      }
      return json(200, { match_id: "m7", ws_url: "ws://x", token: "sock", reconnect_grace_ms: 30000 });
    });
    const a = await l.matchToken("m7");
    expect(a).toMatchObject({ matchId: "m7", token: "sock", reconnectGraceMs: 30000 });
    expect(lobby.calls.map((c) => c.path)).toEqual(["/v1/auth/guest", "/v1/matches/m7/token", "/v1/auth/refresh", "/v1/matches/m7/token"]);
    expect(lobby.calls.at(-1)!.auth).toBe("Bearer sess2");
    expect(l.session!.refreshToken).toBe("ref2");
  });

  it("refreshes ahead of expiry, and concurrent refreshes share one request", async () => {
    const l = client();
    await l.signInGuest("ada");
    l.session!.expiresAt = Date.now() + 1000; // within the margin
    await Promise.all([l.getTicket("t1"), l.getTicket("t1"), l.refresh()]);
    expect(lobby.calls.filter((c) => c.path === "/v1/auth/refresh").length).toBe(1);
  });

  it("maps error bodies to LobbyError with code, permanence and Retry-After", async () => {
    const l = client();
    await l.signInGuest("ada");
    lobby.routes.set("POST /v1/tickets", () => json(429, { error: { code: "rate_limited", message: "slow down" } }, { "Retry-After": "2" }));
    const err = await l.createTicket("arena").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LobbyError);
    expect(err).toMatchObject({ status: 429, code: "rate_limited", retryAfterMs: 2000, permanent: false });
    lobby.routes.set("POST /v1/matches/m7/token", () => json(403, { error: { code: "not_seated", message: "no" } }));
    await expect(l.matchToken("m7")).rejects.toMatchObject({ code: "not_seated", permanent: true });
  });

  describe("watchTicket", () => {
    it("delivers queued updates, then matched once, and closes the stream", () => {
      const l = client();
      const got: string[] = [];
      const stop = l.watchTicket("t1", {
        queued: (t) => got.push(`q${t.position}`),
        matched: (t) => got.push(`m:${t.assignment?.matchId}:${t.assignment?.token}`),
        ended: () => got.push("end"),
      });
      const es = FakeEventSource.last();
      expect(es.url).toBe("http://lobby/v1/tickets/t1/events");
      es.emit("queued", lobby.ticketJson("queued", { position: 3 }), "1");
      es.fail(false); // a network blip: EventSource resumes by itself with Last-Event-ID
      es.emit("queued", lobby.ticketJson("queued", { position: 2 }), "1");
      es.emit("matched", lobby.ticketJson("matched", { assignment: { match_id: "m7", ws_url: "ws://x", token: "tok" } }), "2");
      es.emit("matched", lobby.ticketJson("matched"), "2");
      expect(got).toEqual(["q3", "q2", "m:m7:tok"]);
      expect(es.closed).toBe(true);
      expect(es.listenerCount).toBe(0);
      expect(FakeEventSource.instances.length).toBe(1);
      stop();
    });

    it("after a hard failure reads the ticket, then reopens with ?lastEventId", async () => {
      vi.useFakeTimers();
      const l = client();
      await l.signInGuest("ada");
      const queued: Ticket[] = [];
      const matched = vi.fn();
      const stop = l.watchTicket("t1", { queued: (t) => queued.push(t), matched, ended: vi.fn() }, { retryMs: 500 });
      const es = FakeEventSource.last();
      es.emit("queued", lobby.ticketJson("queued"), "1");
      es.fail(true);
      await flush();
      expect(lobby.calls.at(-1)).toMatchObject({ method: "GET", path: "/v1/tickets/t1" });
      expect(queued.length).toBe(2);
      vi.advanceTimersByTime(500);
      const es2 = FakeEventSource.last();
      expect(es2).not.toBe(es);
      expect(es2.url).toBe("http://lobby/v1/tickets/t1/events?lastEventId=1");
      stop();
      expect(es2.closed).toBe(true);
      expect(vi.getTimerCount()).toBe(0);
    });

    it("a hard failure after the match delivers matched from the ticket read", async () => {
      const l = client();
      await l.signInGuest("ada");
      lobby.routes.set("GET /v1/tickets/t1", () =>
        json(200, lobby.ticketJson("matched", { assignment: { match_id: "m7", ws_url: "ws://x", token: "tok" } })));
      const matched = vi.fn();
      l.watchTicket("t1", { matched, ended: vi.fn() });
      FakeEventSource.last().fail(true);
      await flush();
      expect(matched).toHaveBeenCalledOnce();
      expect(FakeEventSource.instances.length).toBe(1);
    });

    it("stop() during the ticket read delivers nothing", async () => {
      const l = client();
      await l.signInGuest("ada");
      const queued = vi.fn();
      const stop = l.watchTicket("t1", { queued, matched: vi.fn(), ended: vi.fn() });
      FakeEventSource.last().fail(true);
      stop();
      await flush();
      expect(queued).not.toHaveBeenCalled();
      expect(FakeEventSource.instances.length).toBe(1);
    });
  });
});
