package netcode_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/client"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// muteConn is a seated raw socket that never answers the server's pings;
// it may send pings of its own.
type muteConn struct {
	gws.BuiltinEventHandler
	socket *gws.Conn
	closed chan uint16
}

func (m *muteConn) OnPing(*gws.Conn, []byte) {}

func (m *muteConn) OnClose(_ *gws.Conn, err error) {
	var ce *gws.CloseError
	code := uint16(0)
	if errors.As(err, &ce) {
		code = ce.Code
	}
	m.closed <- code
}

func (e *testEnv) mute(p game.PlayerID, match string) *muteConn {
	e.t.Helper()
	m := &muteConn{closed: make(chan uint16, 1)}
	socket, _, err := gws.NewClient(m, &gws.ClientOption{Addr: e.wsURL(match)})
	if err != nil {
		e.t.Fatal(err)
	}
	m.socket = socket
	go socket.ReadLoop()
	e.t.Cleanup(func() { _ = socket.NetConn().Close() })
	if err := socket.WriteMessage(gws.OpcodeBinary, wire.AppendHello(nil, wire.Hello{Version: wire.ProtocolVersion, Token: e.token(p, match)})); err != nil {
		e.t.Fatal(err)
	}
	return m
}

// TestIdleTimeout: a connection is alive while anything arrives from it:
// the Go client answering the server's pings, or a socket sending pings of
// its own. One that sends nothing at all is closed with CodeIdleTimeout.
func TestIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	cfg := netcode.Config{IdleTimeout: idle}
	netcode.SetHousekeep(&cfg, 10*time.Millisecond)
	env := newTestServer(t, cfg)
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(3)})
	answers := env.dial(1, id) // sends no input; its pongs keep it alive
	pinger := env.mute(2, id)  // sends pings, which do not
	silent := env.mute(3, id)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(idle / 6)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				_ = pinger.socket.WritePing(nil)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	select {
	case code := <-silent.closed:
		if code != wire.CodeIdleTimeout {
			t.Fatalf("silent socket closed with %d, want %d", code, wire.CodeIdleTimeout)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("silent socket never closed")
	}
	start, passes := time.Now(), env.srv.HousekeepPasses(id)
	testkit.WaitFor(t, "four idle timeouts and many housekeeping passes", func() bool {
		return time.Since(start) > 4*idle && env.srv.HousekeepPasses(id) > passes+40
	})
	if !answers.Connected() {
		t.Fatalf("a client answering pings was closed: %v", answers.Err())
	}
	// A client's own pings are not life (issue 9: a ping flood must not
	// hold a socket open): the pinger is closed as idle too.
	select {
	case code := <-pinger.closed:
		if code != wire.CodeIdleTimeout {
			t.Fatalf("a socket sending only pings was closed with %d, want %d", code, wire.CodeIdleTimeout)
		}
	default:
		t.Fatal("a socket sending only pings was kept open")
	}
	if got := env.srv.Stats().IdleDisconnects.Load(); got != 2 {
		t.Fatalf("%d idle disconnects, want 2", got)
	}
	if got := env.srv.Stats().Closes(wire.CodeIdleTimeout); got != 2 {
		t.Fatalf("%d closes with CodeIdleTimeout counted, want 2", got)
	}
}

// TestWriteTimeout: with a short WriteTimeout, a client that reads keeps
// its connection for many timeouts, and one whose reader stalls is cut
// when a write cannot finish in time.
func TestWriteTimeout(t *testing.T) {
	const writeTimeout = 300 * time.Millisecond
	rec := &worldRecord{}
	swarm := game.Mode{Name: "swarm", MinPlayers: 1, MaxPlayers: 4, New: func(cfg game.Config) (game.Sim, error) {
		return newSwarm(cfg, rec), nil
	}}
	env := newTestServerOn(t, netcode.Config{Modes: []game.Mode{swarm}, Hz: 60, WriteTimeout: writeTimeout, SlowTimeout: time.Minute}, smallSendBuffers)
	id := env.match(netcode.MatchSpec{Mode: "swarm", Players: players(2)})
	reader := env.dial(1, id)
	release := make(chan struct{})
	var once sync.Once
	unstall := func() { once.Do(func() { close(release) }) }
	defer unstall() // before the client's Close, which waits for its stalled reader
	stalled := env.dial(2, id, client.WithOnSnapshot(func(*client.Client, wire.Snapshot, bool) { <-release }))
	testkit.WaitFor(t, "a write to time out", func() bool { return env.srv.Stats().WriteErrors.Load() > 0 })
	unstall()
	testkit.WaitFor(t, "the stalled client to be cut", func() bool { return !stalled.Connected() })
	start := time.Now()
	before := reader.Stats().Snapshots
	testkit.WaitFor(t, "five write timeouts", func() bool { return time.Since(start) > 5*writeTimeout })
	if !reader.Connected() || reader.Stats().Snapshots < before+10 {
		t.Fatalf("the reading client: connected %v, %d snapshots since, err %v", reader.Connected(), reader.Stats().Snapshots-before, reader.Err())
	}
	if got := env.srv.Stats().WriteErrors.Load(); got != 1 {
		t.Fatalf("%d write errors, want 1 (the stalled client)", got)
	}
}

// TestByteCounters: the server's outgoing message and byte counters match
// what its clients received, to the byte.
func TestByteCounters(t *testing.T) {
	env := newTestServer(t, netcode.Config{})
	id := env.match(netcode.MatchSpec{Mode: "arena", Players: players(2), Game: game.Config{TimeLimitTicks: 20}})
	a, b := env.dial(1, id), env.dial(2, id)
	for _, c := range []*client.Client{a, b} {
		select {
		case <-c.Done():
		case <-time.After(15 * time.Second):
			t.Fatal("match did not end")
		}
	}
	st := env.srv.Stats()
	sa, sb := a.Stats(), b.Stats()
	if got, want := st.MessagesOut.Load(), sa.FramesIn+sb.FramesIn; got != want {
		t.Errorf("server sent %d messages, clients received %d", got, want)
	}
	if got, want := st.BytesOut.Load(), sa.BytesIn+sb.BytesIn; got != want {
		t.Errorf("server sent %d bytes, clients received %d", got, want)
	}
	if got := st.Panics.Load(); got != 0 {
		t.Errorf("%d panics counted, none happened", got)
	}
	if got := st.Closes(wire.CodeNormal); got != 2 {
		t.Errorf("%d normal closes counted, want 2", got)
	}
}

// TestDebugLogs: with the logger at debug level, each connection close is
// logged with its reason, and each socket's end once.
func TestDebugLogs(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	env := newTestServer(t, netcode.Config{Logger: zap.New(core)})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(1)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.Dial(ctx, env.wsURL(id), "forged"); closeCode(err) != wire.CodeAuthFailed {
		t.Fatalf("forged token: %v", err)
	}
	testkit.WaitFor(t, "the socket's end to be logged", func() bool { return logs.FilterMessage("connection kicked").Len() == 1 })
	closing := logs.FilterMessage("closing connection").All()
	if len(closing) != 1 || fmt.Sprint(closing[0].ContextMap()["code"]) != fmt.Sprint(wire.CodeAuthFailed) {
		t.Fatalf("'closing connection' lines %+v", closing)
	}
}
