package floor

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServer runs a floor server on a loopback port until the test ends.
func startServer(t *testing.T, cfg ServerConfig) (*Server, string) {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return after its context ended")
		}
	})
	return s, ln.Addr().String()
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMessages(t *testing.T) {
	var up [UpSize]byte
	PutUp(up[:], 7)
	if seq, err := ParseUp(up[:]); err != nil || seq != 7 {
		t.Fatalf("ParseUp = %d, %v", seq, err)
	}
	var down [DownSize]byte
	PutDown(down[:], 1<<31+5)
	if tick, err := ParseDown(down[:]); err != nil || tick != 1<<31+5 {
		t.Fatalf("ParseDown = %d, %v", tick, err)
	}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"up as down", func() error { _, err := ParseDown(up[:]); return err }()},
		{"down as up", func() error { _, err := ParseUp(down[:]); return err }()},
		{"short up", func() error { _, err := ParseUp(up[:UpSize-1]); return err }()},
		{"empty down", func() error { _, err := ParseDown(nil); return err }()},
	} {
		if !errors.Is(tc.err, ErrBadMessage) {
			t.Errorf("%s: err %v, want ErrBadMessage", tc.name, tc.err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []ServerConfig{{Hz: -1}, {Hz: 5000}, {HelloTimeout: -time.Second}} {
		if _, err := NewServer(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("NewServer(%+v): %v, want ErrConfig", cfg, err)
		}
	}
	for _, cfg := range []LoadConfig{{}, {Addr: "x:1", Conns: -1}, {Addr: "x:1", Hz: 2000}, {Addr: "x:1", Loops: -2}, {Addr: "x:1", Phases: -1}, {Addr: "x:1", Duration: -1}} {
		if _, err := RunLoad(context.Background(), cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("RunLoad(%+v): %v, want ErrConfig", cfg, err)
		}
	}
}

func TestLoadAgainstServer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the floor's load needs epoll")
	}
	const conns = 6
	s, addr := startServer(t, ServerConfig{Hz: 30})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		sum LoadSummary
		err error
	}
	res := make(chan result, 1)
	go func() {
		sum, err := RunLoad(ctx, LoadConfig{Addr: addr, Conns: conns, Hz: 30, Loops: 2, Phases: 3})
		res <- result{sum, err}
	}()
	waitFor(t, "every connection seated", func() bool { return s.Stats().Connections == conns })
	t0 := s.Stats().Ticks
	waitFor(t, "ten ticks with every connection seated", func() bool { return s.Stats().Ticks >= t0+10 })
	waitFor(t, "inputs after the hellos", func() bool { return s.Stats().Inputs >= 3*conns })
	cancel()
	var r result
	select {
	case r = <-res:
	case <-time.After(30 * time.Second):
		t.Fatal("RunLoad did not return after its context ended")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	sum := r.sum
	if sum.Bots != conns || sum.PeakConnected != conns || sum.Errors != 0 || sum.ConnectErrors != 0 {
		t.Fatalf("summary %+v: want %d connections and no errors", sum, conns)
	}
	if sum.Snapshots < conns || sum.Inputs == 0 || sum.SnapshotGapMS.N == 0 {
		t.Fatalf("summary %+v: want messages both ways and gaps timed", sum)
	}
	if sum.DownBytesPerBotS <= 0 || sum.UpBytesPerBotS <= 0 || sum.BotSeconds <= 0 {
		t.Fatalf("summary %+v: want byte rates over the whole run", sum)
	}
	// The load closed its sockets: the server unseats every connection.
	waitFor(t, "connections unseated", func() bool { return s.Stats().Connections == 0 })
	if st := s.Stats(); st.Refused != 0 {
		t.Fatalf("server refused %d connections", st.Refused)
	}
}

func TestLoadWithoutServer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the floor's load needs epoll")
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	sum, err := RunLoad(context.Background(), LoadConfig{Addr: addr, Conns: 3, Duration: 5 * time.Second})
	if err == nil || sum.ConnectErrors != 3 {
		t.Fatalf("RunLoad to a closed port: %+v, %v; want 3 connect errors and an error", sum, err)
	}
	if _, err := RunLoad(context.Background(), LoadConfig{Addr: "[::1]:80"}); err == nil {
		t.Fatal("RunLoad to an IPv6 address: no error")
	}
}

func TestServerRefusesBadHello(t *testing.T) {
	s, addr := startServer(t, ServerConfig{HelloTimeout: 100 * time.Millisecond})
	// A wrong magic, then a connection that never says hello: both closed.
	bad, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	var msg [UpSize]byte
	PutUp(msg[:], 1)
	msg[0] = 'X'
	if _, err := bad.Write(msg[:]); err != nil {
		t.Fatal(err)
	}
	mute, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	for _, c := range []net.Conn{bad, mute} {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if n, err := io.Copy(io.Discard, c); err != nil || n != 0 {
			t.Fatalf("read %d bytes, %v: want the server to close without writing", n, err)
		}
	}
	waitFor(t, "two refusals", func() bool { return s.Stats().Refused == 2 })
	if st := s.Stats(); st.Connections != 0 {
		t.Fatalf("%d seated after bad hellos", st.Connections)
	}
}

func TestServerSeatsAndWrites(t *testing.T) {
	s, addr := startServer(t, ServerConfig{Hz: 100})
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var msg [UpSize]byte
	PutUp(msg[:], 0)
	if _, err := c.Write(msg[:]); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var down [DownSize]byte
	var prev uint32
	for i := 0; i < 3; i++ {
		if _, err := io.ReadFull(c, down[:]); err != nil {
			t.Fatal(err)
		}
		tick, err := ParseDown(down[:])
		if err != nil || tick <= prev {
			t.Fatalf("message %d: tick %d after %d, %v", i, tick, prev, err)
		}
		prev = tick
	}
	if st := s.Stats(); st.Connections != 1 || st.Inputs != 1 {
		t.Fatalf("stats %+v: want one seated connection and its hello", st)
	}

	// The two reads the bench makes, in Rallypoint's shapes.
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	var h struct {
		Connections int64 `json:"connections"`
		Matches     int   `json:"matches"`
	}
	getJSON(t, srv.URL+"/healthz", &h)
	if h.Connections != 1 || h.Matches != 1 {
		t.Fatalf("/healthz = %+v", h)
	}
	var m struct {
		Matches []struct {
			ID   string `json:"id"`
			Tick uint32 `json:"tick"`
		} `json:"matches"`
	}
	getJSON(t, srv.URL+"/v1/matches", &m)
	if len(m.Matches) != 1 || m.Matches[0].ID != "floor" || m.Matches[0].Tick < prev {
		t.Fatalf("/v1/matches = %+v, want one match past tick %d", m, prev)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func TestHistogram(t *testing.T) {
	var a, b histogram
	if q := a.quantiles(); q != (Quantiles{}) {
		t.Fatalf("empty histogram: %+v", q)
	}
	for i := 0; i < 99; i++ {
		a.add(33 * time.Millisecond)
	}
	b.add(450 * time.Millisecond)
	a.merge(&b)
	q := a.quantiles()
	if q.N != 100 || q.P50 != 33.05 || q.P99 != 33.05 || q.Max != 450 {
		t.Fatalf("quantiles %+v", q)
	}
	a.add(time.Minute)
	if q := a.quantiles(); q.Max != 60000 || a.quantile(1) != time.Minute {
		t.Fatalf("overflow: %+v, q(1) %v", q, a.quantile(1))
	}
	if bucketOf(-time.Second) != 0 {
		t.Fatal("a negative duration is not in the first bucket")
	}
}
