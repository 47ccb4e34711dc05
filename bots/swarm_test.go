package bots_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/bots"
	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/app"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// server is the whole Rallypoint server in-process on a loopback port.
type server struct {
	*httptest.Server
	app *app.App
}

// newServer starts the real server (lobby, matchmaker, SSE, game sockets)
// with quick matchmaking: arena matches last arenaTicks ticks (0: the
// default), bot fill after 200 ms, slow readers closed after 1 s.
func newServer(t testing.TB, arenaTicks int) *server {
	t.Helper()
	cfg := app.Config{
		Lobby: testkit.QuickLobby(),
		Game:  netcode.Config{SlowTimeout: time.Second, Grace: 10 * time.Second},
	}
	if arenaTicks != 0 {
		cfg.Games = map[string]game.Config{game.ModeArena: {TimeLimitTicks: arenaTicks}}
	}
	a, hs := testkit.Serve(t, cfg)
	return &server{Server: hs, app: a}
}

// healthy checks the server still answers its health check.
func (s *server) healthy(t *testing.T) {
	t.Helper()
	resp, err := http.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatalf("server did not survive: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
}

func run(t *testing.T, cfg bots.Config, timeout time.Duration) bots.Summary {
	t.Helper()
	s, err := bots.NewSwarm(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	sum, err := s.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("swarm did not finish within %v: %+v", timeout, sum)
	}
	return sum
}

// TestBotMatchLifecycle: one bot signs in, queues for arena, is matched
// with a server-side bot, plays (snapshots, inputs, its avatar moves),
// sees the match end, and stops.
func TestBotMatchLifecycle(t *testing.T) {
	srv := newServer(t, 90) // 3 s at 30 Hz
	var mu sync.Mutex
	var overs []wire.MatchOver
	var player uint32
	sum := run(t, bots.Config{
		Server: srv.URL, Bots: 1, Mode: game.ModeArena, OneMatch: true, Seed: 1,
		OnMatchOver: func(_ int, p uint32, m wire.MatchOver) {
			mu.Lock()
			overs = append(overs, m)
			player = p
			mu.Unlock()
		},
	}, 30*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(overs) != 1 || overs[0].Reason != "time" {
		t.Fatalf("match over %+v", overs)
	}
	found := false
	for _, r := range overs[0].Results {
		found = found || r.Player == player
	}
	if !found || player == 0 {
		t.Fatalf("player %d not in results %+v", player, overs[0].Results)
	}
	if sum.Bots != 1 || sum.Matches != 1 || sum.MatchesOver != 1 || sum.Errors != 0 {
		t.Fatalf("summary %+v", sum)
	}
	if sum.Snapshots < 30 || sum.Inputs < 30 || sum.SnapshotGapMS.N == 0 || sum.DownBytesPerBotS <= 0 || sum.UpBytesPerBotS <= 0 {
		t.Fatalf("bot did not play: %+v", sum)
	}
	if srv.app.Game().Stats().InputsIn.Load() < 30 {
		t.Fatal("server saw no inputs")
	}
}

// TestBotQueuesAgain: without OneMatch a bot plays match after match.
func TestBotQueuesAgain(t *testing.T) {
	srv := newServer(t, 20)
	var mu sync.Mutex
	overs := 0
	s, err := bots.NewSwarm(bots.Config{
		Server: srv.URL, Bots: 2, Mode: game.ModeArena,
		OnMatchOver: func(int, uint32, wire.MatchOver) { mu.Lock(); overs++; mu.Unlock() },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan bots.Summary, 1)
	go func() { sum, _ := s.Run(ctx); done <- sum }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := overs
		mu.Unlock()
		if n >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d matches over", n)
		}
		time.Sleep(10 * time.Millisecond) // polling, not waiting for an event
	}
	cancel()
	sum := <-done
	if sum.Matches < 2 || sum.Errors != 0 {
		t.Fatalf("summary %+v", sum)
	}
}

// TestShortSwarm: tens of bots over a few seconds, no errors.
func TestShortSwarm(t *testing.T) {
	srv := newServer(t, 0)
	sum := run(t, bots.Config{Server: srv.URL, Bots: 40, Mode: game.ModeBench, Ramp: 40, Duration: 3 * time.Second, Seed: 3}, 30*time.Second)
	if sum.Errors != 0 || sum.ConnectErrors != 0 || sum.Disconnects != 0 {
		t.Fatalf("errors: %+v", sum)
	}
	if sum.Bots != 40 || sum.PeakConnected != 40 || sum.Matches < 5 || sum.Snapshots == 0 {
		t.Fatalf("summary %+v", sum)
	}
	if sum.SnapshotGapMS.P50 <= 0 || sum.SnapshotGapMS.P99 < sum.SnapshotGapMS.P50 || sum.SnapshotGapMS.Max < sum.SnapshotGapMS.P99 {
		t.Fatalf("gaps %+v", sum.SnapshotGapMS)
	}
	if sum.DownWireBytesPerBotS <= sum.DownBytesPerBotS || sum.UpWireBytesPerBotS <= sum.UpBytesPerBotS {
		t.Fatalf("wire bytes %+v", sum)
	}
	if sum.RTTMS.N == 0 {
		t.Fatalf("no rtt samples: %+v", sum.RTTMS)
	}
	testkit.WaitFor(t, "every socket closed", func() bool { return srv.app.Game().Stats().ConnsOpen.Load() == 0 })
	srv.healthy(t)
}

// TestSwarmFaults: with each fault a short swarm completes, the faults
// are injected and answered as expected, and the server survives.
func TestSwarmFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults bots.Faults
		check  func(t *testing.T, sum bots.Summary, st *netcode.Stats)
	}{
		{"drop", bots.Faults{Drop: 0.5, FaultDelay: 300 * time.Millisecond}, func(t *testing.T, sum bots.Summary, st *netcode.Stats) {
			if sum.Faults.Drops == 0 || sum.Reconnects < sum.Faults.Drops {
				t.Fatalf("drops %d, reconnects %d", sum.Faults.Drops, sum.Reconnects)
			}
			if st.Resumes.Load() == 0 {
				t.Fatal("server saw no resumes")
			}
		}},
		{"stall", bots.Faults{Stall: 0.3, FaultDelay: 300 * time.Millisecond, StallFor: 2500 * time.Millisecond}, func(t *testing.T, sum bots.Summary, st *netcode.Stats) {
			if sum.Faults.Stalls == 0 {
				t.Fatal("no stalls")
			}
			if st.Paused.Load() == 0 || st.SlowDisconnects.Load() == 0 {
				t.Fatalf("server did not see slow readers: paused %d, slow closes %d", st.Paused.Load(), st.SlowDisconnects.Load())
			}
			if sum.Faults.StallCloses == 0 || sum.Reconnects == 0 {
				t.Fatalf("stall closes %d, reconnects %d", sum.Faults.StallCloses, sum.Reconnects)
			}
		}},
		{"garbage", bots.Faults{Garbage: 0.3, FaultDelay: 300 * time.Millisecond}, func(t *testing.T, sum bots.Summary, st *netcode.Stats) {
			if sum.Faults.Garbage == 0 || sum.Faults.GarbageCloses != sum.Faults.Garbage {
				t.Fatalf("garbage %d, closes %d", sum.Faults.Garbage, sum.Faults.GarbageCloses)
			}
			if st.Closes(wire.CodeMalformed) == 0 {
				t.Fatal("server closed nobody as malformed")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, 0)
			sum := run(t, bots.Config{Server: srv.URL, Bots: 20, Ramp: 50, Duration: 4 * time.Second, Faults: tc.faults, Seed: 5}, 30*time.Second)
			if sum.Errors != 0 {
				t.Fatalf("errors: %+v", sum)
			}
			tc.check(t, sum, srv.app.Game().Stats())
			srv.healthy(t)
		})
	}
}

// TestSwarmStopsOnCancel: cancelling the context stops a swarm that has
// no duration, and the summary still comes back.
func TestSwarmStopsOnCancel(t *testing.T) {
	srv := newServer(t, 0)
	s, err := bots.NewSwarm(bots.Config{Server: srv.URL, Bots: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bots.Summary, 1)
	go func() { sum, _ := s.Run(ctx); done <- sum }()
	testkit.WaitFor(t, "bots in a match", func() bool { return s.Progress().Connected == 5 })
	cancel()
	select {
	case sum := <-done:
		if sum.Bots != 5 || sum.Errors != 0 {
			t.Fatalf("summary %+v", sum)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("swarm did not stop")
	}
}

// TestConnectErrorsCounted: a server that is not there gives connect
// errors, not a hang.
func TestConnectErrorsCounted(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	url := hs.URL
	hs.Close()
	sum := run(t, bots.Config{Server: url, Bots: 3, Duration: 500 * time.Millisecond}, 10*time.Second)
	if sum.ConnectErrors == 0 || sum.Errors != sum.ConnectErrors || len(sum.ErrorSamples) == 0 {
		t.Fatalf("summary %+v", sum)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []bots.Config{
		{},
		{Server: "http://x", Brain: "nope"},
		{Server: "http://x", Hz: 1000},
		{Server: "http://x", Faults: bots.Faults{Drop: 0.7, Stall: 0.7}},
		{Server: "http://x", Faults: bots.Faults{Garbage: -1}},
	} {
		if _, err := bots.NewSwarm(cfg, nil); !errors.Is(err, bots.ErrConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}
