package netcode_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/client"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// TestObservability: the tick observer sees every tick of a match, held
// seats, socket states and the loop totals are published, the totals do
// not dip when the match ends, and every closed socket gets one info line
// with its close code (a kick says so).
func TestObservability(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	var ticks atomic.Int64
	var modes atomic.Value
	env := newTestServer(t, netcode.Config{
		Logger: zap.New(core),
		Grace:  3 * time.Second, // the never-connected seat goes soon after the leave
		TickObserver: func(mode string) func(game.TickTiming) {
			modes.Store(mode)
			return func(tt game.TickTiming) {
				if tt.Duration >= 0 {
					ticks.Add(1)
				}
			}
		},
	})
	id := env.match(netcode.MatchSpec{Mode: "bench", Players: players(2)})
	c := env.dial(1, id)
	testkit.WaitFor(t, "observed ticks", func() bool { return ticks.Load() >= 5 })
	if m, _ := modes.Load().(string); m != "bench" {
		t.Errorf("observer mode %q", m)
	}
	testkit.WaitFor(t, "held seat published", func() bool {
		info, ok := env.srv.Match(id)
		return ok && info.Held == 1 && len(info.Players) == 2
	})
	if hs, playing, closing := env.srv.ConnStates(); hs != 0 || playing != 1 || closing != 0 {
		t.Errorf("conn states %d/%d/%d, want 0/1/0", hs, playing, closing)
	}
	if tot := env.srv.LoopTotals(); tot.Ticks == 0 {
		t.Errorf("loop totals: %+v", tot)
	}

	// A refused token is a kick, logged once at info with its code.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.Dial(ctx, env.wsURL(id), "expired-1"); closeCode(err) != wire.CodeTokenExpired {
		t.Fatalf("expired token: %v", err)
	}
	testkit.WaitFor(t, "kick logged", func() bool {
		return logs.FilterMessage("connection kicked").FilterField(zap.Uint32("code", uint32(wire.CodeTokenExpired))).Len() == 1
	})

	// Leaving ends the match (no humans left); the totals keep its ticks.
	if err := c.Leave(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "leave logged", func() bool {
		return logs.FilterMessage("connection closed").FilterField(zap.Uint32("code", uint32(wire.CodeNormal))).Len() == 1
	})
	before := env.srv.LoopTotals().Ticks
	testkit.WaitFor(t, "abandoned match removed", func() bool { return len(env.srv.Matches()) == 0 })
	if after := env.srv.LoopTotals().Ticks; after < before {
		t.Errorf("loop ticks went from %d to %d when the match ended", before, after)
	}
	if n := logs.FilterMessage("connection closed").Len() + logs.FilterMessage("connection kicked").Len(); n != 2 {
		t.Errorf("%d close lines for 2 sockets", n)
	}
}
