package lobby

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestStreamLeavesNoWatcher: a ticket stream that ends with matched leaves
// no watcher entry behind (it used to stay for good, one per matched
// ticket).
func TestStreamLeavesNoWatcher(t *testing.T) {
	e := newEnv(t, testConfig())
	a, b := e.guest("a"), e.guest("b")
	ta := e.ticket(a.SessionToken, "arena")
	s := e.openStream(ta.TicketID, "")
	s.until(t, "queued")
	e.ticket(b.SessionToken, "arena")
	s.until(t, "matched")
	if _, ok := s.next(); ok {
		t.Fatal("stream went on after matched")
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.l.watching() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d watcher entries left after the stream ended", e.l.watching())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStreamCaps: one ticket cannot hold more than MaxStreamsPerTicket
// streams, one address more than MaxStreamsPerAddr, the server more than
// MaxStreams; refusals come before the stream starts, as 429 (503 for the
// server-wide cap) with Retry-After, and closing a stream frees its slot.
func TestStreamCaps(t *testing.T) {
	cfg := testConfig()
	cfg.MaxStreamsPerTicket = 2
	cfg.MaxStreamsPerAddr = 3
	cfg.MaxStreams = 4
	cfg.Modes = map[string]ModeRules{"wait": {MinPlayers: 10, MaxPlayers: 10}} // tickets stay queued
	e := newEnv(t, cfg)
	var tickets []string
	for i := range 3 {
		g := e.guest(fmt.Sprint("p", i))
		tickets = append(tickets, e.ticket(g.SessionToken, "wait").TicketID)
	}
	first := e.openStream(tickets[0], "")
	first.until(t, "queued")
	e.openStream(tickets[0], "").until(t, "queued")
	resp := e.expectError("GET", "/v1/tickets/"+tickets[0]+"/events", "", nil, 429, "too_many_streams")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	e.openStream(tickets[1], "").until(t, "queued") // the address's third
	e.expectError("GET", "/v1/tickets/"+tickets[2]+"/events", "", nil, 429, "too_many_streams")
	first.close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := e.srv.Client().Get(e.srv.URL + "/v1/tickets/" + tickets[2] + "/events")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream's slot was not freed: %d", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if e.l.Metrics().StreamsRefused < 2 {
		t.Errorf("metrics %+v", e.l.Metrics())
	}
}

// TestRateLimitsFitRealPlayers: anonymous sign-ins are limited per address
// with a burst that lets a hundred bots in at once; authenticated calls
// are limited per session, so many players behind one address each keep
// their own budget; a trusted proxy's X-Forwarded-For names the client.
func TestRateLimitsFitRealPlayers(t *testing.T) {
	cfg := testConfig()
	cfg.RateLimit, cfg.RateBurst = 0, 0 // the defaults
	cfg.SessionRateLimit, cfg.SessionRateBurst = 0.001, 3
	cfg.TrustedProxies = []string{"127.0.0.1"}
	cfg.Modes = map[string]ModeRules{"arena": {MinPlayers: 2, MaxPlayers: 100}}
	e := newEnv(t, cfg)
	var sessions []string
	for i := range 100 {
		sessions = append(sessions, e.guest(fmt.Sprint("bot", i)).SessionToken)
	}
	// Every session gets its own authenticated budget from one address.
	for _, s := range sessions[:50] {
		for range 3 {
			e.do("GET", "/v1/tickets/"+fmt.Sprintf("%032x", 1), s, nil, nil)
		}
	}
	resp := e.do("GET", "/v1/tickets/"+fmt.Sprintf("%032x", 1), sessions[0], nil, nil)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a session's fourth call: %d, want 429", resp.StatusCode)
	}
	if resp := e.do("GET", "/v1/tickets/"+fmt.Sprintf("%032x", 1), sessions[60], nil, nil); resp.StatusCode == http.StatusTooManyRequests {
		t.Error("another session on the same address was limited")
	}
	// Sign-ins: at least the burst of 200 per address gets in (100 above),
	// then 429; another client behind the trusted proxy is not affected.
	ok := 100
	for ; ok < 400; ok++ {
		if resp := e.do("POST", "/v1/auth/guest", "", map[string]string{"name": "x"}, nil); resp.StatusCode == http.StatusTooManyRequests {
			break
		}
	}
	if ok < 200 || ok >= 400 {
		t.Errorf("%d sign-ins from one address before a 429, want at least 200 and then a 429", ok)
	}
	if resp := e.do("POST", "/v1/auth/guest", "", map[string]string{"name": "y"}, nil, "X-Forwarded-For", "198.51.100.7"); resp.StatusCode != http.StatusOK {
		t.Errorf("a different client behind the trusted proxy: %d", resp.StatusCode)
	}
}

// TestStreamOutlivesReadTimeout: a server with a ReadTimeout for slow
// bodies does not cut the event streams, which read nothing.
func TestStreamOutlivesReadTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.SSEKeepAlive = 100 * time.Millisecond
	cfg.Modes = map[string]ModeRules{"wait": {MinPlayers: 10, MaxPlayers: 10}}
	e := newEnv(t, cfg)
	e.srv.Close()
	e.srv = httptest.NewUnstartedServer(e.l.Handler())
	e.srv.Config.ReadTimeout = 200 * time.Millisecond
	e.srv.Start()
	g := e.guest("a")
	s := e.openStream(e.ticket(g.SessionToken, "wait").TicketID, "")
	s.until(t, "queued")
	start := time.Now()
	for time.Since(start) < time.Second {
		if !s.sc.Scan() {
			t.Fatalf("the stream ended after %v: %v", time.Since(start), s.sc.Err())
		}
	}
}
