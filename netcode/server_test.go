package netcode_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/client"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testEnv is a real server on a loopback port with a token table standing
// in for the lobby: the socket path checks every token for real.
type testEnv struct {
	t      *testing.T
	srv    *netcode.Server
	hs     *httptest.Server
	mu     sync.Mutex
	grants map[string]netcode.Grant
	n      int
}

func newTestServer(t *testing.T, cfg netcode.Config) *testEnv {
	t.Helper()
	return newTestServerOn(t, cfg, nil)
}

// newTestServerOn is newTestServer with the listener's accepted connections
// passed through wrap (if not nil), e.g. to shrink their socket buffers.
func newTestServerOn(t *testing.T, cfg netcode.Config, wrap func(net.Listener) net.Listener) *testEnv {
	t.Helper()
	e := &testEnv{t: t, grants: make(map[string]netcode.Grant)}
	cfg.Auth = netcode.AuthenticatorFunc(e.authenticate)
	srv, err := netcode.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/ws", srv.Handler())
	e.srv, e.hs = srv, httptest.NewUnstartedServer(mux)
	if wrap != nil {
		e.hs.Listener = wrap(e.hs.Listener)
	}
	e.hs.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		e.hs.Close()
	})
	return e
}

func (e *testEnv) authenticate(_ context.Context, token string) (netcode.Grant, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case strings.HasPrefix(token, "expired"):
		return netcode.Grant{}, fmt.Errorf("test: %w", netcode.ErrAuthExpired)
	case strings.HasPrefix(token, "revoked"):
		return netcode.Grant{}, fmt.Errorf("test: %w", netcode.ErrAuthRevoked)
	}
	g, ok := e.grants[token]
	if !ok {
		return netcode.Grant{}, netcode.ErrAuthInvalid
	}
	return g, nil
}

// token mints a join token for (player, match).
func (e *testEnv) token(p game.PlayerID, match string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	tok := fmt.Sprintf("tok-%d", e.n)
	e.grants[tok] = netcode.Grant{Player: p, Match: match, Name: fmt.Sprint("p", p)}
	return tok
}

func (e *testEnv) wsURL(match string) string {
	return "ws" + strings.TrimPrefix(e.hs.URL, "http") + "/v1/ws?match=" + match
}

func (e *testEnv) match(spec netcode.MatchSpec) string {
	e.t.Helper()
	info, err := e.srv.CreateMatch(spec)
	if err != nil {
		e.t.Fatal(err)
	}
	return info.ID
}

func (e *testEnv) dial(p game.PlayerID, match string, opts ...client.Option) *client.Client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, e.wsURL(match), e.token(p, match), opts...)
	if err != nil {
		e.t.Fatalf("dial player %d: %v", p, err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	return c
}

func closeCode(err error) uint16 {
	var ce *client.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// driver sends inputs for a client at hz until stopped.
type driver struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

func drive(clients []*client.Client, hz int) *driver {
	d := &driver{stop: make(chan struct{})}
	for i, c := range clients {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			tk := time.NewTicker(time.Second / time.Duration(hz))
			defer tk.Stop()
			for n := 0; ; n++ {
				select {
				case <-d.stop:
					return
				case <-tk.C:
				}
				dx := float32((n/20+i)%3) - 1
				dy := float32((n/15+2*i)%3) - 1
				_ = c.SendInput(game.Input{DX: dx, DY: dy})
			}
		}()
	}
	return d
}

func (d *driver) Stop() {
	close(d.stop)
	d.wg.Wait()
}

// cadence records, for one client, whether its snapshots formed an
// unbroken chain: each delta based on the tick before, no resync.
type cadence struct {
	mu        sync.Mutex
	last      uint32
	snapshots int
	breaks    int
	keyframes int
}

func (k *cadence) option() client.Option {
	return client.WithOnSnapshot(func(_ *client.Client, s wire.Snapshot, key bool) {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.snapshots++
		if key {
			k.keyframes++
		} else if s.Base != k.last || s.Tick != k.last+1 {
			k.breaks++
		}
		k.last = s.Tick
	})
}

func (k *cadence) get() (snapshots, breaks, keyframes int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.snapshots, k.breaks, k.keyframes
}

func players(n int) []game.PlayerID {
	var ps []game.PlayerID
	for i := 1; i <= n; i++ {
		ps = append(ps, game.PlayerID(i))
	}
	return ps
}

// TestEightClientsSeeEachOtherMove: 8 clients join a bench match over real
// sockets, move, and each sees every other avatar move.
func TestEightClientsSeeEachOtherMove(t *testing.T) {
	env := newTestServer(t, netcode.Config{})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(8), Seed: 42})
	var clients []*client.Client
	cads := make([]*cadence, 8)
	for i := range 8 {
		cads[i] = &cadence{}
		clients = append(clients, env.dial(game.PlayerID(i+1), id, cads[i].option()))
	}
	for i, c := range clients {
		w := c.Welcome()
		if w.Entity != uint32(33+i) || w.Match != id || w.Hz != 30 || w.Mode != "bench" || w.Resumed {
			t.Fatalf("client %d welcome %+v", i, w)
		}
	}
	d := drive(clients, 30)
	defer d.Stop()
	first := make([]map[game.EntityID][2]float32, 8)
	moved := make([]map[game.EntityID]bool, 8)
	for i := range first {
		first[i], moved[i] = map[game.EntityID][2]float32{}, map[game.EntityID]bool{}
	}
	testkit.WaitFor(t, "every client to see every avatar move", func() bool {
		done := true
		for i, c := range clients {
			avatars := 0
			for _, e := range c.Entities(nil) {
				if e.Kind != game.KindAvatar {
					continue
				}
				avatars++
				if p, ok := first[i][e.ID]; !ok {
					first[i][e.ID] = [2]float32{e.X, e.Y}
				} else if p != [2]float32{e.X, e.Y} {
					moved[i][e.ID] = true
				}
			}
			if avatars != 8 || len(moved[i]) != 8 || len(c.Entities(nil)) != 40 {
				done = false
			}
		}
		return done
	})
	for i, c := range clients {
		n, breaks, keys := cads[i].get()
		if breaks != 0 || keys != 1 {
			t.Errorf("client %d: %d snapshots, %d breaks, %d keyframes", i, n, breaks, keys)
		}
		if st := c.Stats(); st.RTT <= 0 {
			t.Errorf("client %d: no RTT measured from acks: %+v", i, st)
		}
	}
}

// rawConn is a bare gws client for frames the real client never sends.
type rawConn struct {
	gws.BuiltinEventHandler
	socket *gws.Conn
	closed chan uint16
}

func (r *rawConn) OnClose(_ *gws.Conn, err error) {
	var ce *gws.CloseError
	code := uint16(0)
	if errors.As(err, &ce) {
		code = ce.Code
	}
	r.closed <- code
}

func (e *testEnv) raw(match string) *rawConn {
	e.t.Helper()
	r := &rawConn{closed: make(chan uint16, 1)}
	socket, _, err := gws.NewClient(r, &gws.ClientOption{Addr: e.wsURL(match)})
	if err != nil {
		e.t.Fatal(err)
	}
	r.socket = socket
	go socket.ReadLoop()
	return r
}

func (r *rawConn) wait(t *testing.T) uint16 {
	t.Helper()
	select {
	case code := <-r.closed:
		return code
	case <-time.After(15 * time.Second):
		t.Fatal("raw connection was not closed")
		return 0
	}
}

// closedWith waits, with a deadline of its own, for the server to close c
// and returns the close code. A hostile client that is never closed fails
// here in seconds, not at the package's timeout.
func closedWith(t *testing.T, c *client.Client) uint16 {
	t.Helper()
	select {
	case <-c.Done():
		return closeCode(c.Err())
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not close the connection")
		return 0
	}
}

// TestHostileClients: bad tokens, bad frames and floods are closed with the
// documented codes, and honest clients keep an unbroken snapshot chain.
func TestHostileClients(t *testing.T) {
	env := newTestServer(t, netcode.Config{HandshakeTimeout: 300 * time.Millisecond})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(8)})
	other := env.match(netcode.MatchSpec{Mode: "bench", Players: players(8)})
	honest := []*cadence{{}, {}}
	var hc []*client.Client
	for i, k := range honest {
		hc = append(hc, env.dial(game.PlayerID(i+1), id, k.option()))
	}
	d := drive(hc, 30)
	defer d.Stop()

	dialErr := func(token, match string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, env.wsURL(match), token)
		if err == nil {
			_ = c.Close()
		}
		return err
	}
	seated := func(p game.PlayerID) *client.Client { return env.dial(p, id) }
	tests := []struct {
		name string
		want uint16
		run  func(t *testing.T) uint16
	}{
		{"forged token", wire.CodeAuthFailed, func(t *testing.T) uint16 { return closeCode(dialErr("forged", id)) }},
		{"expired token", wire.CodeTokenExpired, func(t *testing.T) uint16 { return closeCode(dialErr("expired-1", id)) }},
		{"revoked token", wire.CodeTokenRevoked, func(t *testing.T) uint16 { return closeCode(dialErr("revoked-1", id)) }},
		{"wrong match", wire.CodeAuthFailed, func(t *testing.T) uint16 { return closeCode(dialErr(env.token(3, other), id)) }},
		{"not seated", wire.CodeMatchFull, func(t *testing.T) uint16 { return closeCode(dialErr(env.token(99, id), id)) }},
		{"no such match", wire.CodeMatchNotFound, func(t *testing.T) uint16 { return closeCode(dialErr(env.token(3, "nope"), "nope")) }},
		{"no hello", wire.CodeHandshakeTimeout, func(t *testing.T) uint16 { return env.raw(id).wait(t) }},
		{"bad version", wire.CodeBadVersion, func(t *testing.T) uint16 {
			r := env.raw(id)
			_ = r.socket.WriteMessage(gws.OpcodeBinary, wire.AppendHello(nil, wire.Hello{Version: 99, Token: env.token(3, id)}))
			return r.wait(t)
		}},
		{"input before hello", wire.CodeMalformed, func(t *testing.T) uint16 {
			r := env.raw(id)
			_ = r.socket.WriteMessage(gws.OpcodeBinary, wire.AppendInput(nil, wire.Input{Seq: 1}))
			return r.wait(t)
		}},
		{"text frame", wire.CodeUnsupportedData, func(t *testing.T) uint16 {
			r := env.raw(id)
			_ = r.socket.WriteString("hello")
			return r.wait(t)
		}},
		{"hostile length", wire.CodeMalformed, func(t *testing.T) uint16 {
			r := env.raw(id)
			// An array claiming 4 billion elements, then a string claiming 4 GiB.
			_ = r.socket.WriteMessage(gws.OpcodeBinary, []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0xdb, 0xff, 0xff, 0xff, 0xff})
			return r.wait(t)
		}},
		{"garbage after join", wire.CodeMalformed, func(t *testing.T) uint16 {
			c := seated(3)
			_ = c.SendRaw([]byte{0xc1, 0x00, 0xff})
			return closedWith(t, c)
		}},
		{"oversized frame", wire.CodeTooLarge, func(t *testing.T) uint16 {
			c := seated(4)
			_ = c.SendRaw(make([]byte, 64<<10))
			return closedWith(t, c)
		}},
		{"flood", wire.CodeRateLimited, func(t *testing.T) uint16 {
			c := seated(5)
			for i := 0; i < 2000; i++ {
				if c.Ping() != nil {
					break
				}
			}
			return closedWith(t, c)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.run(t); got != tc.want {
				t.Fatalf("close code %d, want %d", got, tc.want)
			}
		})
	}
	// The honest clients never lost a snapshot while all that went on.
	before := make([]int, len(honest))
	for i, k := range honest {
		before[i], _, _ = k.get()
	}
	testkit.WaitFor(t, "honest clients to keep receiving", func() bool {
		for i, k := range honest {
			if n, _, _ := k.get(); n < before[i]+30 {
				return false
			}
		}
		return true
	})
	for i, k := range honest {
		n, breaks, keys := k.get()
		if breaks != 0 || keys != 1 {
			t.Errorf("honest client %d: %d snapshots, %d breaks, %d keyframes", i, n, breaks, keys)
		}
	}
}

// TestResume: a dropped client resumes its seat: same player and entity,
// a keyframe, and input sequence numbers that continue.
func TestResume(t *testing.T) {
	env := newTestServer(t, netcode.Config{})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(2)})
	c := env.dial(1, id)
	w1 := c.Welcome()
	for range 5 {
		if err := c.SendInput(game.Input{DX: 1}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, "inputs acknowledged", func() bool {
		var acked bool
		// The ack arrives in a snapshot; LastRTT is set when it does.
		acked = c.Stats().LastRTT > 0
		return acked && c.Tick() > w1.Tick+2
	})
	c.Drop()
	testkit.WaitFor(t, "server to notice the drop", func() bool { return !c.Connected() })
	if err := c.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	w2 := c.Welcome()
	if !w2.Resumed || w2.Entity != w1.Entity || w2.Player != w1.Player {
		t.Fatalf("resume welcome %+v after %+v", w2, w1)
	}
	if w2.LastSeq != 5 || c.Seq() != 5 {
		t.Fatalf("resume LastSeq %d, client seq %d, want 5", w2.LastSeq, c.Seq())
	}
	testkit.WaitFor(t, "keyframe after resume", func() bool { return c.Stats().Keyframes >= 2 })
	if err := c.SendInput(game.Input{DX: -1}); err != nil || c.Seq() != 6 {
		t.Fatalf("next seq %d err %v", c.Seq(), err)
	}
	if got := env.srv.Stats().Resumes.Load(); got != 1 {
		t.Fatalf("resumes %d", got)
	}
}

// TestSecondSocketReplacesFirst: one connection per player.
func TestSecondSocketReplacesFirst(t *testing.T) {
	env := newTestServer(t, netcode.Config{})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(2)})
	first := env.dial(1, id)
	second := env.dial(1, id)
	<-first.Done()
	if got := closeCode(first.Err()); got != wire.CodeReplaced {
		t.Fatalf("first closed with %d (%v), want %d", got, first.Err(), wire.CodeReplaced)
	}
	if !second.Welcome().Resumed || second.Welcome().Entity != first.Welcome().Entity {
		t.Fatalf("second welcome %+v", second.Welcome())
	}
	testkit.WaitFor(t, "second gets snapshots", func() bool { return second.Stats().Snapshots > 3 })
}

// TestGraceExpiry: after the grace period the seat is released, the lobby
// hook hears it, and a late reconnect is told with a clear code.
func TestGraceExpiry(t *testing.T) {
	released := make(chan game.PlayerID, 4)
	env := newTestServer(t, netcode.Config{
		Grace: 100 * time.Millisecond,
		Hooks: netcode.Hooks{SeatReleased: func(_ string, p game.PlayerID, _ string) { released <- p }},
	})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(2)})
	keep := env.dial(2, id) // keeps the match from being abandoned
	_ = keep
	c := env.dial(1, id)
	c.Drop()
	select {
	case p := <-released:
		if p != 1 {
			t.Fatalf("released %d", p)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("seat never released")
	}
	err := c.Resume(context.Background())
	if got := closeCode(err); got != wire.CodeSeatExpired {
		t.Fatalf("late reconnect: %v, want code %d", err, wire.CodeSeatExpired)
	}
	if info, _ := env.srv.Match(id); len(info.Players) != 1 {
		t.Fatalf("players %v", info.Players)
	}
}

// TestSlowConsumer: a client that stops acknowledging is paused, then
// closed with CodeSlowConsumer, while another client's chain is unbroken.
func TestSlowConsumer(t *testing.T) {
	env := newTestServer(t, netcode.Config{MaxInFlight: 5, SlowTimeout: 300 * time.Millisecond})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(2)})
	k := &cadence{}
	good := env.dial(1, id, k.option())
	d := drive([]*client.Client{good}, 30)
	defer d.Stop()
	slow := env.dial(2, id)
	testkit.WaitFor(t, "first snapshot", func() bool { return slow.Tick() > 0 })
	stuck := slow.Tick()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // keeps acknowledging one old tick, as a client stuck behind would
		defer wg.Done()
		for seq := uint32(1); ; seq++ {
			if slow.SendRaw(wire.AppendInput(nil, wire.Input{Seq: seq, Ack: stuck})) != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	<-slow.Done()
	close(stop)
	wg.Wait()
	if got := closeCode(slow.Err()); got != wire.CodeSlowConsumer {
		t.Fatalf("slow client closed with %v", slow.Err())
	}
	if env.srv.Stats().Paused.Load() == 0 || env.srv.Stats().SlowDisconnects.Load() == 0 {
		t.Fatal("pause and slow disconnect not counted")
	}
	if n, breaks, keys := k.get(); breaks != 0 || keys != 1 {
		t.Fatalf("good client: %d snapshots, %d breaks, %d keyframes", n, breaks, keys)
	}
}

// TestMatchOver: an arena match ends; every client gets the results and a
// normal close, and the lobby hook hears it.
func TestMatchOver(t *testing.T) {
	ended := make(chan game.Result, 1)
	env := newTestServer(t, netcode.Config{Hooks: netcode.Hooks{MatchEnded: func(_ netcode.MatchInfo, r game.Result, err error) {
		if err == nil {
			ended <- r
		}
	}}})
	id := env.match(netcode.MatchSpec{Mode: "arena", Players: players(2), Game: game.Config{TimeLimitTicks: 45}})
	a, b := env.dial(1, id), env.dial(2, id)
	for _, c := range []*client.Client{a, b} {
		<-c.Done()
		over, ok := c.MatchOver()
		if !ok || over.Reason != "time" || len(over.Results) != 2 {
			t.Fatalf("match over %+v %v", over, ok)
		}
		if got := closeCode(c.Err()); got != wire.CodeNormal {
			t.Fatalf("closed with %v", c.Err())
		}
	}
	select {
	case r := <-ended:
		if len(r.Players) != 2 {
			t.Fatalf("result %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("MatchEnded not called")
	}
	if _, ok := env.srv.Match(id); ok {
		t.Fatal("ended match still listed")
	}
}

// crashSim panics on its 30th step (one second in).
type crashSim struct{ game.Sim }

func (c crashSim) Step(ev []game.Event) []game.Event {
	if c.World().Tick >= 30 {
		panic("boom")
	}
	return c.Sim.Step(ev)
}

// TestMatchCrashIsolated: a panicking match ends cleanly for its own
// players (MatchOver "aborted" with the standings, close 1000), the result
// reaches MatchEnded with the panic, and nothing else notices.
func TestMatchCrashIsolated(t *testing.T) {
	bench, _ := game.FindMode("bench")
	crash := bench
	crash.Name = "crash"
	crash.New = func(cfg game.Config) (game.Sim, error) {
		s, err := bench.New(cfg)
		return crashSim{s}, err
	}
	type ended struct {
		res game.Result
		err error
	}
	endc := make(chan ended, 4)
	env := newTestServer(t, netcode.Config{Modes: []game.Mode{bench, crash}, Hooks: netcode.Hooks{
		MatchEnded: func(info netcode.MatchInfo, res game.Result, err error) {
			if info.Mode == "crash" {
				endc <- ended{res, err}
			}
		},
	}})
	safe := env.match(netcode.MatchSpec{Mode: "bench", Players: players(1)})
	k := &cadence{}
	ok := env.dial(1, safe, k.option())
	doomed := env.match(netcode.MatchSpec{Mode: "crash", Players: players(1)})
	overc := make(chan wire.MatchOver, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	victim, err := client.Dial(ctx, env.wsURL(doomed), env.token(1, doomed),
		client.WithOnMatchOver(func(_ *client.Client, m wire.MatchOver) { overc <- m }))
	if err == nil {
		<-victim.Done()
		err = victim.Err()
		_ = victim.Close()
		select {
		case m := <-overc:
			if m.Reason != "aborted" || len(m.Results) != 1 || m.Results[0].Player != 1 {
				t.Errorf("MatchOver %+v, want aborted with player 1's standing", m)
			}
		default:
			t.Error("no MatchOver before the close")
		}
		if got := closeCode(err); got != wire.CodeNormal {
			t.Fatalf("crashed match client: %v, want close 1000 after MatchOver", err)
		}
	} else if got := closeCode(err); got != wire.CodeMatchNotFound {
		t.Fatalf("dial into the crashed match: %v", err)
	}
	select {
	case e := <-endc:
		if e.res.Reason != "aborted" || !errors.Is(e.err, game.ErrPanic) {
			t.Errorf("MatchEnded(%+v, %v), want aborted with the panic", e.res, e.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("MatchEnded not called for the crashed match")
	}
	testkit.WaitFor(t, "crash counted", func() bool { return env.srv.Stats().MatchCrashes.Load() == 1 })
	before, _, _ := k.get()
	testkit.WaitFor(t, "other match keeps ticking", func() bool { n, _, _ := k.get(); return n > before+10 })
	if _, breaks, _ := k.get(); breaks != 0 || !ok.Connected() {
		t.Fatal("other match disturbed")
	}
}

// rightBrain walks right.
type rightBrain struct{}

func (rightBrain) Think(game.EntityID, []game.Entity, game.Tick) game.Input {
	return game.Input{DX: 1}
}

// TestBotFill: server-side bots join and move without sockets.
func TestBotFill(t *testing.T) {
	env := newTestServer(t, netcode.Config{NewBrain: func(string, int, uint64) game.Brain { return rightBrain{} }})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(1), Bots: 3})
	c := env.dial(1, id)
	var start map[game.EntityID]float32
	testkit.WaitFor(t, "bots to move right", func() bool {
		bots := map[game.EntityID]float32{}
		for _, e := range c.Entities(nil) {
			if e.Kind == game.KindAvatar && e.Owner != 1 {
				bots[e.ID] = e.X
			}
		}
		if len(bots) != 3 {
			return false
		}
		if start == nil {
			start = bots
			return false
		}
		for id, x := range bots {
			if x <= start[id] && x < 999 {
				return false
			}
		}
		return true
	})
	if info, _ := env.srv.Match(id); info.Bots != 3 || len(info.Players) != 1 {
		t.Fatalf("info %+v", info)
	}
}

// TestInterest: with an area of interest, a client holds exactly the
// entities near its avatar (up to the hysteresis band), as they come and go.
func TestInterest(t *testing.T) {
	const radius = 250
	env := newTestServer(t, netcode.Config{Interest: radius})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(1), Seed: 3})
	var checked, bad, enters atomic.Int64
	var prev atomic.Int64
	c := env.dial(1, id, client.WithOnSnapshot(func(c *client.Client, s wire.Snapshot, key bool) {
		ents := c.Entities(nil)
		self, ok := c.Entity(game.EntityID(c.Welcome().Entity))
		if !ok {
			bad.Add(1)
			return
		}
		sx, sy := wire.Dequantize(self.X), wire.Dequantize(self.Y)
		for _, e := range ents {
			dx, dy := e.X-sx, e.Y-sy
			if dx*dx+dy*dy > (radius*1.2+1)*(radius*1.2+1) {
				bad.Add(1)
			}
		}
		if n := int64(len(ents)); n > prev.Swap(n) {
			enters.Add(1)
		}
		checked.Add(1)
	}))
	d := drive([]*client.Client{c}, 30)
	defer d.Stop()
	testkit.WaitFor(t, "entities to come and go", func() bool { return checked.Load() > 60 && enters.Load() > 2 })
	if bad.Load() != 0 {
		t.Fatalf("%d entities outside the area of interest", bad.Load())
	}
	if c.Welcome().Interest != radius {
		t.Fatalf("welcome interest %v", c.Welcome().Interest)
	}
}

// TestShutdown closes seated clients with 1001 and stops every goroutine
// (goleak checks the latter at the end of the package).
func TestShutdown(t *testing.T) {
	env := newTestServer(t, netcode.Config{})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(1)})
	c := env.dial(1, id)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := env.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if got := closeCode(c.Err()); got != wire.CodeGoingAway {
		t.Fatalf("closed with %v", c.Err())
	}
	if _, err := env.srv.CreateMatch(netcode.MatchSpec{Mode: "bench"}); !errors.Is(err, netcode.ErrServerClosed) {
		t.Fatalf("create after shutdown: %v", err)
	}
}

// TestAutoReconnect: a client with auto-reconnect resumes its seat by
// itself after the TCP connection is cut.
func TestAutoReconnect(t *testing.T) {
	env := newTestServer(t, netcode.Config{})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(1)})
	var downs atomic.Int32
	c := env.dial(1, id,
		client.WithAutoReconnect(10*time.Millisecond, 100*time.Millisecond, 20),
		client.WithTokenSource(func(context.Context) (string, error) { return env.token(1, id), nil }),
		client.WithOnState(func(_ *client.Client, up bool, _ error) {
			if !up {
				downs.Add(1)
			}
		}))
	entity := c.Welcome().Entity
	testkit.WaitFor(t, "first keyframe", func() bool { return c.Stats().Keyframes == 1 })
	c.Drop()
	testkit.WaitFor(t, "automatic resume", func() bool { return downs.Load() == 1 && c.Connected() && c.Stats().Reconnects == 1 })
	if w := c.Welcome(); !w.Resumed || w.Entity != entity {
		t.Fatalf("welcome after auto resume %+v", w)
	}
	testkit.WaitFor(t, "keyframe after resume", func() bool { return c.Stats().Keyframes >= 2 })
}

// TestLeaveFreesSeat: Leave releases the seat at once, and the player
// cannot come back to it.
func TestLeaveFreesSeat(t *testing.T) {
	released := make(chan string, 1)
	env := newTestServer(t, netcode.Config{Hooks: netcode.Hooks{SeatReleased: func(_ string, _ game.PlayerID, reason string) { released <- reason }}})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(2)})
	_ = env.dial(2, id)
	c := env.dial(1, id)
	if err := c.Leave(); err != nil {
		t.Fatal(err)
	}
	select {
	case reason := <-released:
		if reason != "left" {
			t.Fatalf("released: %s", reason)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("seat not released")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, env.wsURL(id), env.token(1, id))
	if got := closeCode(err); got != wire.CodeSeatExpired {
		t.Fatalf("rejoin after leave: %v", err)
	}
}

// TestIdleInputsNotPaused: a client that stops sending inputs (an idle
// player, a throttled tab) keeps receiving deltas; only a client that keeps
// sending inputs with stale acks is treated as falling behind.
func TestIdleInputsNotPaused(t *testing.T) {
	env := newTestServer(t, netcode.Config{MaxInFlight: 5})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(1)})
	k := &cadence{}
	c := env.dial(1, id, k.option())
	testkit.WaitFor(t, "first snapshots", func() bool { n, _, _ := k.get(); return n > 3 })
	for range 3 {
		if err := c.SendInput(game.Input{DX: 1}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, "many ticks without inputs", func() bool { n, _, _ := k.get(); return n > 60 })
	if n, breaks, keys := k.get(); breaks != 0 || keys != 1 {
		t.Fatalf("%d snapshots, %d breaks, %d keyframes", n, breaks, keys)
	}
	if env.srv.Stats().Paused.Load() != 0 {
		t.Fatal("an idle client was paused")
	}
}
