package lobby

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// Tests written from mutation testing (make mutate): each pins a default,
// a bound or a behaviour that a planted bug changed without any other test
// noticing.

func TestConfigDefaultsAll(t *testing.T) {
	cfg, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Now == nil {
		t.Fatal("no default clock")
	}
	cfg.Now = nil
	want := Config{
		Issuer:     "rallypoint-lobby",
		SessionTTL: 15 * time.Minute, RefreshTTL: 7 * 24 * time.Hour, SocketTokenTTL: 2 * time.Minute, ReconnectGrace: 30 * time.Second,
		Modes:         map[string]ModeRules{"arena": {MinPlayers: 2, MaxPlayers: 16}, "bench": {MinPlayers: 1, MaxPlayers: 8}},
		DefaultRating: 1500, MaxRating: 10000, WindowBase: 100, WindowGrowth: 50, WindowMax: 1000,
		FillWait: 2 * time.Second, BotFillAfter: 2 * time.Second, TicketTTL: 2 * time.Minute, TicketRetention: 2 * time.Minute,
		MatchInterval: 100 * time.Millisecond, PlaceTimeout: 5 * time.Second, RequeuePriority: 2 * time.Minute,
		SSEKeepAlive: 15 * time.Second, SSEUpdateInterval: 2 * time.Second, SSERetry: 2 * time.Second,
		RateLimit: 10, RateBurst: 200, MaxBodyBytes: 8 << 10,
		SessionRateLimit: 5, SessionRateBurst: 20,
		MaxStreams: 20000, MaxStreamsPerAddr: 2000, MaxStreamsPerTicket: 4,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("defaults\n got %+v\nwant %+v", cfg, want)
	}
	// Set values are kept.
	set := Config{Issuer: "me", WindowGrowth: 7, RateLimit: 3}
	if got, _ := set.withDefaults(); got.Issuer != "me" || got.WindowGrowth != 7 || got.RateLimit != 3 {
		t.Fatalf("explicit values replaced: %+v", got)
	}
}

func TestConfigBounds(t *testing.T) {
	mode := func(name string, min, max int) map[string]ModeRules { return map[string]ModeRules{name: {min, max}} }
	long := strings.Repeat("m", 32)
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"refresh as long as session", Config{SessionTTL: time.Hour, RefreshTTL: time.Hour}, true},
		{"32-byte mode name", Config{Modes: mode(long, 1, 2)}, true},
		{"33-byte mode name", Config{Modes: mode(long+"m", 1, 2)}, false},
		{"one player", Config{Modes: mode("solo", 1, 1)}, true},
		{"1024 players", Config{Modes: mode("huge", 2, 1024)}, true},
		{"1025 players", Config{Modes: mode("huge", 2, 1025)}, false},
		{"default rating at the max", Config{DefaultRating: 300, MaxRating: 300}, true},
		{"negative max rating", Config{MaxRating: -1}, false},
		{"negative default rating", Config{DefaultRating: -1}, false},
		{"fixed window", Config{WindowBase: 200, WindowMax: 200}, true},
		{"negative window base", Config{WindowBase: -1}, false},
		{"negative window growth", Config{WindowGrowth: -1}, false},
		{"burst of one", Config{RateBurst: 1}, true},
		{"negative burst", Config{RateBurst: -1}, false},
		{"negative rate", Config{RateLimit: -1}, false},
		{"session burst of one", Config{SessionRateBurst: 1}, true},
		{"negative session burst", Config{SessionRateBurst: -1}, false},
		{"negative session rate", Config{SessionRateLimit: -1}, false},
		{"negative stream caps", Config{MaxStreamsPerTicket: -1}, false},
		{"256-byte bodies", Config{MaxBodyBytes: 256}, true},
		{"255-byte bodies", Config{MaxBodyBytes: 255}, false},
		{"origin with port", Config{AllowedOrigins: []string{"https://example.com:8443", "*"}}, true},
		{"origin with a slash", Config{AllowedOrigins: []string{"https://example.com/"}}, false},
		{"origin with a path", Config{AllowedOrigins: []string{"https://example.com/x"}}, false},
		{"origin without host", Config{AllowedOrigins: []string{"https://"}}, false},
		{"wss url", Config{PublicWSURL: "wss://play.example.com/v1/ws"}, true},
		{"ws url without host", Config{PublicWSURL: "ws:///v1/ws"}, false},
		{"bad ws url", Config{PublicWSURL: "ws://%zz"}, false},
		{"studio authenticator", Config{Authenticators: map[string]Authenticator{"studio-2": Guest{}}}, true},
		{"guest authenticator name", Config{Authenticators: map[string]Authenticator{"guest": Guest{}}}, false},
		{"logout authenticator name", Config{Authenticators: map[string]Authenticator{"logout": Guest{}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.withDefaults()
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// studioRequest is a sign-in request carrying a studio token.
func studioRequest(token string) *http.Request {
	return httptest.NewRequest("POST", "/v1/auth/studio", strings.NewReader(`{"token":"`+token+`"}`))
}

func TestStudioJWTClockAndLimits(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	sign := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	justExpired := sign(jwt.MapClaims{"sub": "u1", "exp": now.Add(-10 * time.Second).Unix()})
	tests := []struct {
		name  string
		auth  *StudioJWT
		token string
		ok    bool
	}{
		{"default leeway covers 10 s of skew", &StudioJWT{Secret: secret}, justExpired, true},
		{"a short leeway does not", &StudioJWT{Secret: secret, Leeway: time.Second}, justExpired, false},
		{"the injected clock is used", &StudioJWT{Secret: secret, Now: func() time.Time { return now.Add(-time.Hour) }},
			sign(jwt.MapClaims{"sub": "u1", "exp": now.Add(-30 * time.Minute).Unix()}), true},
		{"the injected clock expires tokens", &StudioJWT{Secret: secret, Now: func() time.Time { return now.Add(2 * time.Hour) }},
			sign(jwt.MapClaims{"sub": "u1", "exp": now.Add(time.Hour).Unix()}), false},
		{"256-byte subject", &StudioJWT{Secret: secret}, sign(jwt.MapClaims{"sub": strings.Repeat("x", 256), "exp": now.Add(time.Hour).Unix()}), true},
		{"257-byte subject", &StudioJWT{Secret: secret}, sign(jwt.MapClaims{"sub": strings.Repeat("x", 257), "exp": now.Add(time.Hour).Unix()}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := tt.auth.Authenticate(t.Context(), studioRequest(tt.token))
			if tt.ok && (err != nil || !strings.HasPrefix(id.Subject, "studio:")) {
				t.Fatalf("refused: %+v %v", id, err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("got %+v %v, want ErrInvalidCredentials", id, err)
			}
		})
	}
}

// revocationLog is a Store that remembers the expiry of each revocation.
type revocationLog struct {
	Store
	until map[string]time.Time
}

func (r *revocationLog) Revoke(sid string, until time.Time) error {
	r.until[sid] = until
	return r.Store.Revoke(sid, until)
}

// TestRevocationOutlivesTokens: a revoked session stays revoked for longer
// than any token that carries it can live.
func TestRevocationOutlivesTokens(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	store := &revocationLog{Store: NewMemoryStore(), until: map[string]time.Time{}}
	cfg := testConfig()
	cfg.Now, cfg.Store = clk.Now, store
	cfg.SessionTTL, cfg.RefreshTTL, cfg.SocketTokenTTL = time.Minute, time.Hour, 3*time.Hour
	l := newEnv(t, cfg).l
	if err := l.revoke(1, "sid-1", "test"); err != nil {
		t.Fatal(err)
	}
	if until := store.until["sid-1"]; !until.After(clk.Now().Add(3 * time.Hour)) {
		t.Fatalf("revocation ends %v, before the longest token (3h from %v)", until, clk.Now())
	}
}

// TestSocketTokensCounted: minted socket tokens are counted; refused ones
// are not.
func TestSocketTokensCounted(t *testing.T) {
	l := newEnv(t, testConfig()).l
	before := l.Metrics().TokensIssued
	if _, _, err := l.mintSocket(7, "ada", "sid-7", "m1"); err != nil {
		t.Fatal(err)
	}
	if got := l.Metrics().TokensIssued; got != before+1 {
		t.Fatalf("tokens issued %d, want %d", got, before+1)
	}
	if err := l.revoke(7, "sid-7", "test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.mintSocket(7, "ada", "sid-7", "m1"); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("mint for a revoked session: %v", err)
	}
	if got := l.Metrics().TokensIssued; got != before+1 {
		t.Fatalf("a refused mint was counted: %d", got)
	}
}

// brokenStore fails to allocate players.
type brokenStore struct{ Store }

func (brokenStore) NewPlayer() (PlayerID, error) { return 0, errors.New("disk on fire") }

// TestErrorResponses: an internal error is a 500 that hides its cause; a
// 401 carries a WWW-Authenticate challenge; a 400 does not.
func TestErrorResponses(t *testing.T) {
	cfg := testConfig()
	cfg.Store = brokenStore{NewMemoryStore()}
	e := newEnv(t, cfg)
	var eb errBody
	resp := e.do("POST", "/v1/auth/guest", "", map[string]string{"name": "ada"}, &eb)
	if resp.StatusCode != 500 || eb.Error.Code != "internal" || eb.Error.Message != "internal error" {
		t.Fatalf("internal error answered %d %+v", resp.StatusCode, eb)
	}
	if resp.Header.Get("WWW-Authenticate") != "" {
		t.Fatal("a 500 carries a WWW-Authenticate challenge")
	}
	resp = e.expectError("POST", "/v1/tickets", "not-a-token", map[string]string{"mode": "arena"}, 401, "token_invalid")
	if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="rallypoint"` {
		t.Fatalf("401 challenge %q", got)
	}
	resp = e.expectError("POST", "/v1/auth/guest", "", map[string]string{"name": ""}, 400, "invalid_name")
	if resp.Header.Get("WWW-Authenticate") != "" {
		t.Fatal("a 400 carries a WWW-Authenticate challenge")
	}
}

// TestClientAddr: requests are rate limited per IP, whatever their port.
func TestClientAddr(t *testing.T) {
	var addrs ClientAddrs
	for addr, want := range map[string]string{"203.0.113.7:5000": "203.0.113.7", "[2001:db8::1]:443": "2001:db8::1", "pipe": "pipe"} {
		if got := addrs.Addr(&http.Request{RemoteAddr: addr}); got != want {
			t.Errorf("Addr(%q) = %q, want %q", addr, got, want)
		}
	}
}

// TestBoltStoreHeldElsewhere: a second opener of the same store fails
// after its timeout instead of waiting forever.
func TestBoltStoreHeldElsewhere(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBoltStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := make(chan error, 1)
	go func() {
		s2, err := OpenBoltStore(dir)
		if err == nil {
			s2.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("opened a store another opener holds")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a second OpenBoltStore is still waiting for the lock")
	}
}

func TestBoltStoreLastPlayerID(t *testing.T) {
	s, err := OpenBoltStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.(*boltStore).db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyNextPlayer, u64(MaxPlayerID))
	})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s.NewPlayer(); err != nil || p != MaxPlayerID {
		t.Fatalf("last id: %d, %v", p, err)
	}
	if _, err := s.NewPlayer(); !errors.Is(err, ErrPlayerIDsExhausted) {
		t.Fatalf("past the last id: %v", err)
	}
}

// TestStorePruneEdges: both stores drop every revocation that has ended,
// including one that ends at the pruning instant, and keep the rest.
func TestStorePruneEdges(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for name, open := range map[string]func(t *testing.T) Store{
		"memory": func(*testing.T) Store { return NewMemoryStore() },
		"bolt": func(t *testing.T) Store {
			s, err := OpenBoltStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			for sid, until := range map[string]time.Time{"a": now.Add(-time.Minute), "b": now.Add(-time.Second), "edge": now, "live": now.Add(time.Nanosecond)} {
				if err := s.Revoke(sid, until); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Prune(now); err != nil {
				t.Fatal(err)
			}
			for sid, want := range map[string]bool{"a": false, "b": false, "edge": false, "live": true} {
				if got, _ := s.Revoked(sid); got != want {
					t.Errorf("revoked(%s) = %v after pruning, want %v", sid, got, want)
				}
			}
		})
	}
}

func TestTicketRatingBounds(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRating = 3000
	l := newEnv(t, cfg).l
	for i, tt := range []struct {
		rating int
		ok     bool
	}{{0, true}, {3000, true}, {-1, false}, {3001, false}} {
		_, err := l.createTicket(session{Player: PlayerID(10 + i), Name: "p", SID: "s"}, "bench", tt.rating)
		if tt.ok && err != nil {
			t.Errorf("rating %d refused: %v", tt.rating, err)
		}
		if !tt.ok && !errors.Is(err, ErrInvalidRating) {
			t.Errorf("rating %d: %v, want ErrInvalidRating", tt.rating, err)
		}
	}
}

// TestRefusedTokenLogged: a refused token leaves a debug line (without
// the token) for whoever debugs a client's sign-in.
func TestRefusedTokenLogged(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	game := &fakeGame{}
	l, err := New(testConfig(), game, game, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Shutdown(t.Context())
	if _, err := l.verify("not-a-token", kindSession); err == nil {
		t.Fatal("verified garbage")
	}
	if n := logs.FilterMessage("token refused").Len(); n != 1 {
		t.Fatalf("%d debug lines for a refused token, want 1", n)
	}
}

// observedEnv is newEnv with an observed logger and, if placer is not nil,
// that placer instead of the fake game's.
func observedEnv(t *testing.T, cfg Config, placer Placer) (*env, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	game := &fakeGame{}
	if placer == nil {
		placer = game
	}
	l, err := New(cfg, placer, game, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, l: l, srv: newServer(l), game: game}
	t.Cleanup(e.close)
	return e, logs
}

// TestHappyPathLogsNoWarnings: signing in, matching, a seat released and
// a match ended, with the matchmaker's pruning pass, log nothing at warn
// level or above.
func TestHappyPathLogsNoWarnings(t *testing.T) {
	e, logs := observedEnv(t, testConfig(), nil)
	a, b := e.guest("a"), e.guest("b")
	ta := e.ticket(a.SessionToken, "arena")
	e.ticket(b.SessionToken, "arena")
	m := e.waitStatus(a.SessionToken, ta.TicketID, "matched").Assignment
	e.l.SeatReleased(m.MatchID, a.PlayerID)
	e.l.MatchEnded(m.MatchID)
	if n := logs.FilterMessage("seat released").Len(); n != 1 {
		t.Errorf("%d 'seat released' lines, want 1", n)
	}
	if n := logs.FilterMessage("match ended").Len(); n != 1 {
		t.Errorf("%d 'match ended' lines, want 1", n)
	}
	for _, entry := range logs.All() {
		if entry.Level >= zap.WarnLevel {
			t.Errorf("%s: %s %v", entry.Level, entry.Message, entry.ContextMap())
		}
	}
}

// emptyPlacer claims success but names no match.
type emptyPlacer struct{}

func (emptyPlacer) Place(context.Context, PlaceRequest) (Placement, error) { return Placement{}, nil }

// TestPlacementWithoutMatchID: a placement that names no match is a
// failure: the ticket is requeued, not matched to "".
func TestPlacementWithoutMatchID(t *testing.T) {
	e, logs := observedEnv(t, testConfig(), emptyPlacer{})
	a := e.guest("a")
	ta := e.ticket(a.SessionToken, "bench")
	testkitWait(t, "a placement attempt", func() bool { return e.l.Metrics().PlacementsFailed > 0 })
	var tr ticketResp
	e.do("GET", "/v1/tickets/"+ta.TicketID, a.SessionToken, nil, &tr)
	if tr.Status != "queued" || tr.Assignment != nil {
		t.Fatalf("ticket after an empty placement: %+v", tr)
	}
	if n := logs.FilterMessage("requeue").Len(); n != 0 {
		t.Fatalf("%d 'requeue' warnings for requeues that worked", n)
	}
}

// testkitWait polls cond every few milliseconds, failing after 5 s.
func testkitWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling interval, not a wait for an event
	}
}

// TestFinishedTicketsPruned: a finished ticket stays readable for
// TicketRetention; the matchmaker's pruning pass, every 30 s of its clock,
// then forgets it, and logs no warning doing so.
func TestFinishedTicketsPruned(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)} // the lobby's first pruning pass is due 30 s from now
	cfg := testConfig()
	cfg.Now, cfg.TicketRetention = clk.Now, 10*time.Second
	e, logs := observedEnv(t, cfg, nil)
	a := e.guest("a")
	ta := e.ticket(a.SessionToken, "bench")
	clk.Advance(time.Second) // FillWait passes
	e.waitStatus(a.SessionToken, ta.TicketID, "matched")
	clk.Advance(24 * time.Second)
	b := e.guest("b")
	tb := e.ticket(b.SessionToken, "arena") // waits for a second arena player
	if resp := e.do("DELETE", "/v1/tickets/"+tb.TicketID, b.SessionToken, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("cancel: %d", resp.StatusCode)
	}
	clk.Advance(5 * time.Second) // exactly 30 s after the lobby started
	testkitWait(t, "the finished ticket to be pruned", func() bool {
		return e.do("GET", "/v1/tickets/"+ta.TicketID, a.SessionToken, nil, nil).StatusCode == http.StatusNotFound
	})
	if resp := e.do("GET", "/v1/tickets/"+tb.TicketID, b.SessionToken, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("a ticket finished 5 s ago (retention 10 s) answered %d", resp.StatusCode)
	}
	for _, entry := range logs.All() {
		if entry.Level >= zap.WarnLevel {
			t.Errorf("%s: %s %v", entry.Level, entry.Message, entry.ContextMap())
		}
	}
}

func TestSSEStreamsGauge(t *testing.T) {
	e := newEnv(t, testConfig())
	a := e.guest("a")
	ta := e.ticket(a.SessionToken, "arena")
	s := e.openStream(ta.TicketID, "")
	testkitWait(t, "the stream to be counted", func() bool { return e.l.Metrics().SSEStreamsOpen == 1 })
	s.close()
	testkitWait(t, "the closed stream to be uncounted", func() bool { return e.l.Metrics().SSEStreamsOpen == 0 })
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	lm := newLimiter(2, 200) // 200 at once, then 2 per second
	for i := range 200 {
		if ok, _ := lm.allow("a", now); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if ok, wait := lm.allow("a", now); ok || wait != 500*time.Millisecond {
		t.Fatalf("past the burst: %v, retry after %v; want refused, 500ms", ok, wait)
	}
	if ok, _ := lm.allow("b", now); !ok {
		t.Fatal("another address shares the bucket")
	}
	if ok, _ := lm.allow("a", now.Add(500*time.Millisecond)); !ok {
		t.Fatal("refused after waiting the retry delay")
	}
	// An address is forgotten once its bucket would be full again: 200
	// tokens at 2 per second take 100 s.
	lm.prune(now.Add(90 * time.Second))
	if len(lm.m) != 2 {
		t.Fatalf("pruned after 90 s: %d addresses left", len(lm.m))
	}
	lm.prune(now.Add(101 * time.Second))
	if len(lm.m) != 0 {
		t.Fatalf("kept after 101 s: %d addresses left", len(lm.m))
	}
}

// TestLimiterDigest: a session's bucket is keyed by an 8-byte digest of its
// token, not the token, and distinct tokens keep distinct buckets.
func TestLimiterDigest(t *testing.T) {
	lm := newLimiter(1, 1)
	a, b := strings.Repeat("a", 300), strings.Repeat("a", 299)+"b"
	if da := lm.digest(a); len(da) != 8 || da != lm.digest(a) {
		t.Fatalf("digest(a) = %q: want 8 stable bytes", da)
	}
	if lm.digest(a) == lm.digest(b) {
		t.Fatal("two tokens share a digest")
	}
	now := time.Unix(1_800_000_000, 0)
	if ok, _ := lm.allow("session "+lm.digest(a), now); !ok {
		t.Fatal("first request refused")
	}
	if ok, _ := lm.allow("session "+lm.digest(b), now); !ok {
		t.Fatal("another session shares the bucket")
	}
	if ok, _ := lm.allow("session "+lm.digest(a), now); ok {
		t.Fatal("the same session got a fresh bucket")
	}
}

func TestMatchmakerEstimateAndEntry(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	rules := mmRules{Modes: map[string]ModeRules{"bench": {1, 8}}, WindowBase: 100, WindowMax: 100, FillWait: 2 * time.Second, BotFillAfter: 5 * time.Second}
	m := newMatchmaker(rules)
	e, err := m.add(mmEntry{ID: "t1", Player: 1, Mode: "bench", Enqueued: t0, Expires: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := m.entry("t1"); !ok || got != e {
		t.Fatalf("entry(t1) = %+v, %v", got, ok)
	}
	if _, ok := m.entry("nope"); ok {
		t.Fatal("entry of an unknown ticket")
	}
	if got := m.estimate(e, t0.Add(time.Second)); got != 4*time.Second {
		t.Fatalf("estimate with bot fill after 1 s: %v, want 4s", got)
	}
	if got := m.estimate(e, t0.Add(time.Hour)); got != 0 {
		t.Fatalf("estimate long past the limit: %v, want 0", got)
	}
	m.rules.BotFillAfter = -1
	if got := m.estimate(e, t0.Add(time.Second)); got != 59*time.Second {
		t.Fatalf("estimate without bot fill after 1 s: %v, want 59s (the ticket's expiry)", got)
	}
}

func TestMemoryStoresEdges(t *testing.T) {
	s := NewMemoryStore()
	p, err := s.PlayerForSubject("studio:x")
	if err != nil || p == 0 {
		t.Fatalf("PlayerForSubject = %d, %v", p, err)
	}
	s.(*memStore).next = MaxPlayerID
	if p, err := s.NewPlayer(); err != nil || p != MaxPlayerID {
		t.Fatalf("last id: %d, %v", p, err)
	}
	if _, err := s.PlayerForSubject("studio:y"); !errors.Is(err, ErrPlayerIDsExhausted) {
		t.Fatalf("past the last id: %v", err)
	}

	a := NewMemoryAssignmentStore()
	if err := a.Assign("m1", []PlayerID{1, 2}); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.Release("m1", 1); !ok || err != nil {
		t.Fatalf("release: %v %v", ok, err)
	}
	if ps, err := a.ReleaseMatch("m1"); err != nil || len(ps) != 1 || ps[0] != 2 {
		t.Fatalf("ReleaseMatch after one release = %v, %v; want [2]", ps, err)
	}
}

func TestTokenStringAndKeyID(t *testing.T) {
	if s := Token("").String(); s != "" {
		t.Errorf("empty token prints %q", s)
	}
	if s := Token("abc").String(); s != redacted {
		t.Errorf("token prints %q", s)
	}
	for n, ok := range map[int]bool{1: true, 64: true, 65: false, 0: false} {
		err := SigningKey{ID: strings.Repeat("k", n), Secret: make([]byte, 32)}.validate()
		if (err == nil) != ok {
			t.Errorf("key id of %d bytes: %v", n, err)
		}
	}
}

// TestBoltPruneSurvivesRestart: what a prune keeps and drops is what a
// reopened store holds: live revocations stay, every ended one is gone.
func TestBoltPruneSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	s, err := OpenBoltStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	for sid, until := range map[string]time.Time{"a": now.Add(-time.Minute), "b": now.Add(-time.Second), "live": now.Add(time.Hour)} {
		if err := s.Revoke(sid, until); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Prune(now); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenBoltStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for sid, want := range map[string]bool{"a": false, "b": false, "live": true} {
		if got, _ := s.Revoked(sid); got != want {
			t.Errorf("after pruning and reopening, revoked(%s) = %v, want %v", sid, got, want)
		}
	}
}

// TestBoltSigningKeysNewestFirst: of several stored keys, the newest signs.
func TestBoltSigningKeysNewestFirst(t *testing.T) {
	s, err := OpenBoltStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first, err := s.SigningKeys()
	if err != nil || len(first) != 1 {
		t.Fatalf("keys %v %v", first, err)
	}
	err = s.(*boltStore).db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKeys)
		for i, age := range []time.Duration{-time.Hour, time.Hour, time.Minute} {
			v, err := json.Marshal(storedKey{Secret: make([]byte, 32), Created: time.Now().Add(age)})
			if err != nil {
				return err
			}
			if err := b.Put([]byte(fmt.Sprint("k", i)), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := s.SigningKeys()
	if err != nil || len(keys) != 4 {
		t.Fatalf("keys %v %v", keys, err)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	if want := []string{"k1", "k2", first[0].ID, "k0"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("keys in order %v, want %v", ids, want)
	}
}

func TestMatchesListedByID(t *testing.T) {
	e := newEnv(t, testConfig())
	e.game.mu.Lock()
	e.game.matches = map[string]MatchSummary{}
	for _, id := range []string{"m3", "m1", "m2"} {
		e.game.matches[id] = MatchSummary{ID: id, Mode: "arena", State: "running"}
	}
	e.game.mu.Unlock()
	var out struct {
		Matches []MatchSummary `json:"matches"`
	}
	e.do("GET", "/v1/matches", "", nil, &out)
	var ids []string
	for _, m := range out.Matches {
		ids = append(ids, m.ID)
	}
	if !reflect.DeepEqual(ids, []string{"m1", "m2", "m3"}) {
		t.Fatalf("matches listed as %v", ids)
	}
}

// TestStorePrunesRefreshRecords: refresh records that have ended are
// pruned; a live one still rotates.
func TestStorePrunesRefreshRecords(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for name, open := range map[string]func(t *testing.T) Store{
		"memory": func(*testing.T) Store { return NewMemoryStore() },
		"bolt": func(t *testing.T) Store {
			s, err := OpenBoltStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			for sid, until := range map[string]time.Time{"old": now.Add(-time.Second), "edge": now, "live": now.Add(time.Hour)} {
				if err := s.SetRefresh(sid, "j1", until); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Prune(now); err != nil {
				t.Fatal(err)
			}
			for sid, want := range map[string]bool{"old": false, "edge": false, "live": true} {
				if ok, err := s.RotateRefresh(sid, "j1", "j2", now.Add(time.Hour)); ok != want || err != nil {
					t.Errorf("rotate %s after pruning: %v, %v; want %v", sid, ok, err, want)
				}
			}
		})
	}
}
