package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/client"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is the real game server on a loopback port, plain or behind TLS,
// with tokens of the form "player/match".
type server struct {
	srv *netcode.Server
	hs  *httptest.Server
}

func newServer(t *testing.T, withTLS bool) *server {
	t.Helper()
	srv, err := netcode.New(netcode.Config{Auth: netcode.AuthenticatorFunc(
		func(_ context.Context, token string) (netcode.Grant, error) {
			var p game.PlayerID
			var match string
			if _, err := fmt.Sscanf(strings.Replace(token, "/", " ", 1), "%d %s", &p, &match); err != nil {
				return netcode.Grant{}, netcode.ErrAuthInvalid
			}
			return netcode.Grant{Player: p, Match: match, Name: token}, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/ws", srv.Handler())
	s := &server{srv: srv}
	s.hs = httptest.NewUnstartedServer(mux)
	s.hs.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the test
	if withTLS {
		s.hs.StartTLS()
	} else {
		s.hs.Start()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		s.hs.Close()
	})
	return s
}

// wsURL is the socket URL of match: ws:// or wss:// as the server is.
func (s *server) wsURL(match string) string {
	return "ws" + strings.TrimPrefix(s.hs.URL, "http") + "/v1/ws?match=" + match
}

func (s *server) match(t *testing.T, spec netcode.MatchSpec) string {
	t.Helper()
	info, err := s.srv.CreateMatch(spec)
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}

func dial(t *testing.T, url, token string, opts ...client.Option) (*client.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, token, opts...)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

// TestDialWSS: a wss:// URL is dialled over TLS, verified against the
// roots given with WithTLSConfig, and the game plays over it; without
// those roots the certificate is refused.
func TestDialWSS(t *testing.T) {
	s := newServer(t, true)
	id := s.match(t, netcode.MatchSpec{Mode: game.ModeBench, Players: []game.PlayerID{1, 2}})
	url := s.wsURL(id)
	if !strings.HasPrefix(url, "wss://127.0.0.1:") {
		t.Fatalf("url %q", url)
	}
	if _, err := dial(t, url, "1/"+id, client.WithHandshakeTimeout(5*time.Second)); err == nil {
		t.Fatal("dialled a self-signed server without its root")
	} else {
		var uerr x509.UnknownAuthorityError
		if !strings.Contains(err.Error(), "tls") || !errors.As(err, &uerr) {
			t.Fatalf("want an unknown-authority TLS error, got %v", err)
		}
	}

	roots := x509.NewCertPool()
	roots.AddCert(s.hs.Certificate())
	cfg := &tls.Config{RootCAs: roots}
	c, err := dial(t, url, "1/"+id, client.WithTLSConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ServerName != "" {
		t.Fatalf("the caller's config was modified: ServerName %q", cfg.ServerName)
	}
	if w := c.Welcome(); w.Player != 1 || w.Match != id {
		t.Fatalf("welcome %+v", w)
	}
	if err := c.SendInput(game.Input{DX: 1}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "snapshots over TLS acknowledging the input", func() bool {
		return c.Stats().Snapshots > 3 && c.Stats().LastRTT > 0
	})

	// A name the certificate holds, resolved by a custom dialer, is
	// verified by name (httptest's certificate is for example.com too).
	var dials atomic.Int32
	d := client.DialerFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		if addr != "example.com:443" {
			return nil, fmt.Errorf("dialled %q", addr)
		}
		var nd net.Dialer
		return nd.DialContext(ctx, network, s.hs.Listener.Addr().String())
	})
	c2, err := dial(t, "wss://example.com/v1/ws?match="+id, "2/"+id, client.WithTLSConfig(cfg), client.WithDialer(d))
	if err != nil {
		t.Fatal(err)
	}
	if w := c2.Welcome(); w.Player != 2 {
		t.Fatalf("welcome %+v", w)
	}
	// Resume dials again through the same dialer and TLS config.
	if err := c2.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !c2.Welcome().Resumed || dials.Load() != 2 {
		t.Fatalf("resumed %v after %d dials", c2.Welcome().Resumed, dials.Load())
	}
}

// TestDialDefaultPort: a URL without a port dials 80 (the dialer sees the
// address; the test server cannot listen on 80).
func TestDialDefaultPort(t *testing.T) {
	s := newServer(t, false)
	id := s.match(t, netcode.MatchSpec{Mode: game.ModeBench, Players: []game.PlayerID{1}})
	var got atomic.Value
	d := client.DialerFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
		got.Store(addr)
		var nd net.Dialer
		return nd.DialContext(ctx, network, s.hs.Listener.Addr().String())
	})
	c, err := dial(t, "ws://game.invalid/v1/ws?match="+id, "1/"+id, client.WithDialer(d))
	if err != nil {
		t.Fatal(err)
	}
	if got.Load() != "game.invalid:80" || c.Welcome().Player != 1 {
		t.Fatalf("dialled %v, welcome %+v", got.Load(), c.Welcome())
	}
}

// TestPredictionMatchesServer: a scripted sequence of inputs, sent one
// per tick to an arena match on loopback: after every acknowledgement the
// server's position is exactly the one predicted for that input (no
// correction), and once the last input is applied the prediction is the
// server's position, bit for bit.
func TestPredictionMatchesServer(t *testing.T) {
	s := newServer(t, false)
	id := s.match(t, netcode.MatchSpec{Mode: game.ModeArena, Players: []game.PlayerID{1, 2}, Seed: 7})
	c, err := dial(t, s.wsURL(id), "1/"+id)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Welcome()
	self := game.EntityID(w.Entity)
	testkit.WaitFor(t, "the own avatar in a snapshot", func() bool {
		_, _, ok := c.Predicted()
		return ok
	})

	script := []game.Input{
		{DX: 1}, {DX: 1}, {DX: 1, DY: 1}, {DX: 0.3, DY: -0.2}, {DX: -1, DY: 0.7},
		{DY: -1}, {DX: 5, DY: -3}, {}, {DX: -0.7071, DY: -0.7071}, {DX: 0.1, DY: 0.9},
	}
	tk := time.NewTicker(time.Second / time.Duration(w.Hz))
	defer tk.Stop()
	ahead := 0 // inputs after which the prediction ran ahead of the server
	const inputs = 90
	for i := range inputs {
		<-tk.C
		if err := c.SendInput(script[i%len(script)]); err != nil {
			t.Fatal(err)
		}
		px, py, _ := c.Predicted()
		if e, ok := c.Entity(self); ok && (wire.Dequantize(e.X) != px || wire.Dequantize(e.Y) != py) {
			ahead++
		}
	}
	var last wire.EntityState
	testkit.WaitFor(t, "the last input applied", func() bool {
		var ok bool
		last, ok = c.Entity(self)
		return ok && c.Acked() == inputs
	})
	px, py, ok := c.Predicted()
	if !ok || px != wire.Dequantize(last.X) || py != wire.Dequantize(last.Y) {
		t.Fatalf("predicted (%v, %v), server (%v, %v)", px, py, wire.Dequantize(last.X), wire.Dequantize(last.Y))
	}
	st := c.Stats()
	if st.Corrections != 0 || st.MaxCorrection != 0 {
		t.Fatalf("%d corrections, max %v", st.Corrections, st.MaxCorrection)
	}
	if ahead == 0 {
		t.Fatal("the prediction never ran ahead of the server: nothing was predicted")
	}
	t.Logf("prediction ahead of the server after %d of %d inputs; RTT %v", ahead, inputs, st.RTT)
}

// TestPredictionAcrossResume: the connection drops with inputs in flight;
// after the resume, the inputs the server accepted are still replayed
// until applied, the lost ones are forgotten, and the prediction still
// never needs a correction.
func TestPredictionAcrossResume(t *testing.T) {
	s := newServer(t, false)
	id := s.match(t, netcode.MatchSpec{Mode: game.ModeArena, Players: []game.PlayerID{1, 2}, Seed: 11})
	c, err := dial(t, s.wsURL(id), "1/"+id)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Welcome()
	self := game.EntityID(w.Entity)
	testkit.WaitFor(t, "the own avatar in a snapshot", func() bool {
		_, _, ok := c.Predicted()
		return ok
	})
	tk := time.NewTicker(time.Second / time.Duration(w.Hz))
	defer tk.Stop()
	send := func(n int, in game.Input) {
		for range n {
			<-tk.C
			if err := c.SendInput(in); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(20, game.Input{DX: -1, DY: 0.5})
	// Five more at once, and the line goes down while most of them wait
	// in the server's input buffer. (Once the server has read them all: an
	// input it reads from the old socket after the new one's Welcome
	// would be accepted behind the Welcome's LastSeq, and the client's
	// next input with that seq dropped as stale, a server race that
	// this test is not about.)
	for range 5 {
		if err := c.SendInput(game.Input{DX: 0.5, DY: 1}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, "the server to read every input", func() bool { return s.srv.Stats().InputsIn.Load() == 25 })
	c.Drop()
	testkit.WaitFor(t, "the drop noticed", func() bool { return !c.Connected() })
	if err := c.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w2 := c.Welcome(); !w2.Resumed || w2.LastSeq != 25 || c.Seq() != 25 {
		t.Fatalf("resumed %+v, seq %d", w2, c.Seq())
	}
	t.Logf("resumed: last accepted %d, last applied %d", c.Welcome().LastSeq, c.Acked())
	send(20, game.Input{DX: 1, DY: -1})
	var last wire.EntityState
	testkit.WaitFor(t, "every input applied", func() bool {
		var ok bool
		last, ok = c.Entity(self)
		return ok && c.Acked() == c.Seq()
	})
	px, py, _ := c.Predicted()
	if px != wire.Dequantize(last.X) || py != wire.Dequantize(last.Y) {
		t.Fatalf("predicted (%v, %v), server (%v, %v)", px, py, wire.Dequantize(last.X), wire.Dequantize(last.Y))
	}
	if st := c.Stats(); st.Corrections != 0 {
		t.Fatalf("%d corrections, max %v", st.Corrections, st.MaxCorrection)
	}
}

// TestInterpolatedLoopback: drawing a bench match (32 wandering NPCs) on
// loopback: every entity in view is drawn, a few ticks behind the newest
// snapshot, inside the world.
func TestInterpolatedLoopback(t *testing.T) {
	s := newServer(t, false)
	id := s.match(t, netcode.MatchSpec{Mode: game.ModeBench, Players: []game.PlayerID{1}})
	c, err := dial(t, s.wsURL(id), "1/"+id)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Welcome()
	var world []game.Entity
	frames, behind := 0, 0.0
	frame := time.NewTicker(10 * time.Millisecond)
	defer frame.Stop()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		now := <-frame.C
		world = c.Interpolated(world[:0], now)
		r, ok := c.RenderTick(now)
		tick := c.Tick()
		if !ok || len(world) == 0 {
			continue
		}
		frames++
		if r > float64(tick) {
			t.Fatalf("render tick %v past the newest snapshot %d", r, tick)
		}
		behind += float64(tick) - r
		for _, e := range world {
			if e.X < 0 || e.Y < 0 || e.X > w.Width || e.Y > w.Height {
				t.Fatalf("entity %+v outside the %vx%v world", e, w.Width, w.Height)
			}
		}
		if n := len(c.Entities(nil)); n != len(world) {
			t.Fatalf("drew %d entities of %d", len(world), n)
		}
	}
	if frames < 20 {
		t.Fatalf("only %d frames with a world to draw", frames)
	}
	if avg := behind / float64(frames); avg < 1 || avg > 12 {
		t.Fatalf("drawn %.1f ticks behind the newest snapshot on average", avg)
	}
	t.Logf("%d frames, %.2f ticks behind the newest snapshot on average", frames, behind/float64(frames))
}
