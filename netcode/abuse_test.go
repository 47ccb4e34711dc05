package netcode_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/client"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// tcp opens a raw WebSocket to the match (testkit.RawWS), closed when the
// test ends.
func (e *testEnv) tcp(match string) *testkit.RawWS {
	e.t.Helper()
	w, status := testkit.DialRaw(e.hs.URL, match)
	if w == nil {
		e.t.Fatalf("upgrade: HTTP %d", status)
	}
	e.t.Cleanup(func() { _ = w.Conn.Close() })
	return w
}

var wsFrame = testkit.Frame

func hello(token string) []byte {
	return wsFrame(0x2, true, wire.AppendHello(nil, wire.Hello{Version: wire.ProtocolVersion, Token: token}))
}

// TestControlAndFragmentFloods: pings and message fragments cost the same
// budget as messages. A socket flooding pings, or holding a message open
// with empty continuation frames, is closed with the documented code
// within a fraction of a second instead of holding a core, and the honest
// client in the same match keeps its snapshot chain.
func TestControlAndFragmentFloods(t *testing.T) { bothPaths(t, testControlAndFragmentFloods) }

func testControlAndFragmentFloods(t *testing.T, path string) {
	env := newTestServer(t, netcode.Config{ReadPath: path})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(8)})
	honest := &cadence{}
	d := drive([]*client.Client{env.dial(1, id, honest.option())}, 30)
	defer d.Stop()

	ping := wsFrame(0x9, true, []byte("x"))
	floodOf := func(f []byte, n int) [][]byte {
		fs := make([][]byte, n)
		for i := range fs {
			fs[i] = f
		}
		return fs
	}
	tests := []struct {
		name     string
		frames   func() [][]byte
		want     uint16
		maxPongs int
	}{
		{"ping flood before hello", func() [][]byte { return floodOf(ping, 5000) }, wire.CodeRateLimited, 200},
		{"ping flood when seated", func() [][]byte {
			return append([][]byte{hello(env.token(2, id))}, floodOf(ping, 5000)...)
		}, wire.CodeRateLimited, 200},
		{"empty fragments", func() [][]byte {
			fs := [][]byte{hello(env.token(3, id)), wsFrame(0x2, false, []byte{0x91})}
			return append(fs, floodOf(wsFrame(0x0, false, nil), 5000)...)
		}, wire.CodeMalformed, 0},
		{"fragments with pings between", func() [][]byte {
			fs := [][]byte{hello(env.token(4, id)), wsFrame(0x2, false, []byte{0x91})}
			for range 100 {
				fs = append(fs, wsFrame(0x0, false, nil), ping)
			}
			return fs
		}, wire.CodeMalformed, 40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := env.tcp(id)
			_ = w.Send(tc.frames()...) // fails once the server has closed
			code, pongs := w.Closed(10 * time.Second)
			if code != tc.want {
				t.Fatalf("close code %d, want %d", code, tc.want)
			}
			if pongs > tc.maxPongs {
				t.Errorf("%d pongs answered before the close, want at most %d", pongs, tc.maxPongs)
			}
		})
	}
	if env.srv.Stats().RateLimited.Load() < 2 {
		t.Errorf("RateLimited = %d, want at least 2", env.srv.Stats().RateLimited.Load())
	}
	before, _, _ := honest.get()
	testkit.WaitFor(t, "the honest client to keep receiving", func() bool { n, _, _ := honest.get(); return n >= before+30 })
	if _, breaks, keys := honest.get(); breaks != 0 || keys != 1 {
		t.Errorf("honest client: %d breaks, %d keyframes", breaks, keys)
	}
}

// TestPingsAreNotLife: a client that only pings (no message, no pong) is
// closed as idle: its own pings do not keep it open.
func TestPingsAreNotLife(t *testing.T) { bothPaths(t, testPingsAreNotLife) }

func testPingsAreNotLife(t *testing.T, path string) {
	env := newTestServer(t, netcode.Config{ReadPath: path, IdleTimeout: 600 * time.Millisecond})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(8)})
	w := env.tcp(id)
	if err := w.Send(hello(env.token(game.PlayerID(5), id))); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				if w.Send(wsFrame(0x9, true, nil)) != nil {
					return
				}
			}
		}
	}()
	if code, _ := w.Closed(10 * time.Second); code != wire.CodeIdleTimeout {
		t.Fatalf("close code %d, want %d (idle)", code, wire.CodeIdleTimeout)
	}
}

// TestAbuseLosesSeat: a client the server closes for abuse (4006, 4007,
// 1003, 1009) loses its seat at once, so it cannot get it back with a fresh
// token and do it again: the reconnect is refused with 4010, and the
// lobby hears the seat was released.
func TestAbuseLosesSeat(t *testing.T) { bothPaths(t, testAbuseLosesSeat) }

func testAbuseLosesSeat(t *testing.T, path string) {
	released := make(chan string, 8)
	env := newTestServer(t, netcode.Config{ReadPath: path, Hooks: netcode.Hooks{
		SeatReleased: func(_ string, p game.PlayerID, reason string) { released <- reason },
	}})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(8)})
	tests := []struct {
		name  string
		p     game.PlayerID
		want  uint16
		abuse func(c *client.Client)
	}{
		{"garbage", 1, wire.CodeMalformed, func(c *client.Client) { _ = c.SendRaw([]byte{0xc1}) }},
		{"flood", 2, wire.CodeRateLimited, func(c *client.Client) {
			for c.Ping() == nil {
			}
		}},
		{"oversized", 3, wire.CodeTooLarge, func(c *client.Client) { _ = c.SendRaw(make([]byte, 8<<10)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := env.dial(tc.p, id)
			tc.abuse(c)
			<-c.Done()
			if got := closeCode(c.Err()); got != tc.want {
				t.Fatalf("close code %d, want %d", got, tc.want)
			}
			select {
			case reason := <-released:
				if !strings.Contains(reason, "abuse") {
					t.Errorf("seat released with reason %q", reason)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the seat was not released")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			again, err := client.Dial(ctx, env.wsURL(id), env.token(tc.p, id))
			if err == nil {
				<-again.Done()
				err = again.Err()
			}
			if got := closeCode(err); got != wire.CodeSeatExpired {
				t.Fatalf("reconnect after abuse: %v, want close %d", err, wire.CodeSeatExpired)
			}
		})
	}
	t.Run("text", func(t *testing.T) {
		w := env.tcp(id)
		_ = w.Send(hello(env.token(4, id)), wsFrame(0x1, true, []byte("hi")))
		if code, _ := w.Closed(10 * time.Second); code != wire.CodeUnsupportedData {
			t.Fatalf("close code %d, want %d", code, wire.CodeUnsupportedData)
		}
		select {
		case reason := <-released:
			if !strings.Contains(reason, "abuse") {
				t.Errorf("seat released with reason %q", reason)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the seat was not released")
		}
	})
}

// stallSim stalls one Step for as long as stall says, once.
type stallSim struct {
	game.Sim
	stall chan time.Duration
}

func (s stallSim) Step(ev []game.Event) []game.Event {
	select {
	case d := <-s.stall:
		time.Sleep(d) // the match goroutine is stuck, as under a slow tick
	default:
	}
	return s.Sim.Step(ev)
}

// TestDetachDuringStall: a client that drops while its match goroutine is
// stuck for longer than the detach call waits still has its seat put into
// the grace period (and released after it), instead of staying bound to a
// dead connection forever.
func TestDetachDuringStall(t *testing.T) { bothPaths(t, testDetachDuringStall) }

func testDetachDuringStall(t *testing.T, path string) {
	bench, _ := game.FindMode("bench")
	stall := make(chan time.Duration, 1)
	slow := bench
	slow.Name = "slow"
	slow.New = func(cfg game.Config) (game.Sim, error) {
		s, err := bench.New(cfg)
		return stallSim{s, stall}, err
	}
	released := make(chan string, 1)
	env := newTestServer(t, netcode.Config{ReadPath: path, Modes: []game.Mode{bench, slow}, Grace: time.Second, Hooks: netcode.Hooks{
		SeatReleased: func(_ string, p game.PlayerID, reason string) { released <- reason },
	}})
	id := env.match(netcode.MatchSpec{Mode: "slow", Players: players(2)})
	keep := env.dial(2, id) // a second player, so the match is not abandoned
	_ = keep
	c := env.dial(1, id)
	stall <- 3 * time.Second
	testkit.WaitFor(t, "the stall to start", func() bool { return len(stall) == 0 })
	c.Drop()
	select {
	case reason := <-released:
		if reason != "grace expired" {
			t.Errorf("released with reason %q, want grace expired", reason)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the seat stayed bound to the dead connection: never released")
	}
}

// TestSocketCaps: sockets that never send a Hello are capped per client
// address: past MaxPendingPerAddr the oldest silent one is closed (4005)
// to make room, so a flood holds at most that many, and an honest client
// from the same address (a NAT neighbour) still gets in at once.
func TestSocketCaps(t *testing.T) { bothPaths(t, testSocketCaps) }

func testSocketCaps(t *testing.T, path string) {
	env := newTestServer(t, netcode.Config{ReadPath: path})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(8)})
	var silent []*testkit.RawWS
	for range 600 {
		silent = append(silent, env.tcp(id))
	}
	if got := env.srv.Stats().PendingEvicted.Load(); got != 600-256 {
		t.Fatalf("%d silent sockets evicted, want %d (600 opened, 256 may wait)", got, 600-256)
	}
	for _, w := range silent[:600-256] {
		if code, _ := w.Closed(10 * time.Second); code != wire.CodeHandshakeTimeout {
			t.Fatalf("an evicted socket closed with %d, want %d", code, wire.CodeHandshakeTimeout)
		}
	}
	// The flood is still there (256 waiting): an honest client gets in,
	// and evicts only the oldest silent socket.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, env.wsURL(id), env.token(1, id))
	if err != nil {
		t.Fatalf("an honest client behind the flooding address: %v", err)
	}
	_ = c.Close()
	if code, _ := silent[600-256].Closed(10 * time.Second); code != wire.CodeHandshakeTimeout {
		t.Errorf("the oldest waiting socket closed with %d, want %d", code, wire.CodeHandshakeTimeout)
	}
}

// TestOpenSocketCap: past MaxConnsPerAddr open sockets, one more from the
// address is refused with HTTP 429 and Retry-After before the upgrade.
func TestOpenSocketCap(t *testing.T) { bothPaths(t, testOpenSocketCap) }

func testOpenSocketCap(t *testing.T, path string) {
	env := newTestServer(t, netcode.Config{ReadPath: path, MaxConnsPerAddr: 5})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(8)})
	for range 5 {
		env.tcp(id)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(env.hs.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "GET /v1/ws?match=" + id + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("the sixth socket: %d (Retry-After %q), want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestSocketOutlivesReadTimeout: the HTTP server's ReadTimeout (for slow
// request bodies) does not reach the WebSocket after the upgrade.
func TestSocketOutlivesReadTimeout(t *testing.T) { bothPaths(t, testSocketOutlivesReadTimeout) }

func testSocketOutlivesReadTimeout(t *testing.T, path string) {
	env := newTestServer(t, netcode.Config{ReadPath: path})
	env.hs.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /v1/ws", env.srv.Handler())
	env.hs = httptest.NewUnstartedServer(mux)
	env.hs.Config.ReadTimeout = 200 * time.Millisecond
	env.hs.Start()
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(1)})
	k := &cadence{}
	c := env.dial(1, id, k.option())
	d := drive([]*client.Client{c}, 30)
	defer d.Stop()
	testkit.WaitFor(t, "a second of snapshots", func() bool { n, _, _ := k.get(); return n >= 35 })
	if !c.Connected() {
		t.Fatalf("the socket was cut: %v", c.Err())
	}
}

// bothPaths runs a test of hostile or raw sockets against each read path
// (Config.ReadPath), whatever the default.
func bothPaths(t *testing.T, f func(t *testing.T, path string)) {
	for _, path := range []string{netcode.ReadPathLoop, netcode.ReadPathTick} {
		t.Run(path, func(t *testing.T) { f(t, path) })
	}
}

// TestHostileFrames: WebSocket frames no client may send are refused on
// both read paths with the WebSocket layer's close code (no Error first),
// and cost the seat.
func TestHostileFrames(t *testing.T) { bothPaths(t, testHostileFrames) }

func testHostileFrames(t *testing.T, path string) {
	released := make(chan string, 16)
	env := newTestServer(t, netcode.Config{ReadPath: path, Hooks: netcode.Hooks{
		SeatReleased: func(_ string, p game.PlayerID, reason string) { released <- reason },
	}})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(8)})
	huge := binary.BigEndian.AppendUint64([]byte{0x82, 0x80 | 127}, 1<<40)
	tests := []struct {
		name  string
		frame []byte
		want  uint16
	}{
		{"unmasked", []byte{0x82, 0x01, 0x91}, wire.CodeProtocolError},
		{"reserved bits", append([]byte{0xc2}, wsFrame(0x2, true, []byte{0x91})[1:]...), wire.CodeProtocolError},
		{"unknown opcode", wsFrame(0x3, true, nil), wire.CodeProtocolError},
		{"continuation first", wsFrame(0x0, true, []byte{0x91}), wire.CodeProtocolError},
		{"fragmented ping", wsFrame(0x9, false, nil), wire.CodeProtocolError},
		{"over 2 KiB", wsFrame(0x2, true, make([]byte, wire.MaxClientFrame+1)), wire.CodeTooLarge},
		{"64-bit length", append(huge, 0, 0, 0, 0), wire.CodeTooLarge},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := env.tcp(id)
			p := game.PlayerID(i + 1)
			if err := w.Send(hello(env.token(p, id))); err != nil {
				t.Fatal(err)
			}
			// Seated first: the welcome arrives.
			for {
				_, b, err := w.ReadFrame(10 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if typ, _ := wire.Type(b); typ == wire.MsgWelcome {
					break
				}
			}
			_ = w.Send(tc.frame)
			if code, _ := w.Closed(10 * time.Second); code != tc.want {
				t.Fatalf("close code %d, want %d", code, tc.want)
			}
			select {
			case reason := <-released:
				if !strings.Contains(reason, "abuse") {
					t.Errorf("seat released with reason %q", reason)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the seat was not released")
			}
		})
	}
}
