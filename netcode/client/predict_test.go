package client

import (
	"testing"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

func arenaWelcome(entity, lastSeq uint32, resumed bool) wire.Welcome {
	return wire.Welcome{Version: 2, Player: 1, Entity: entity, Mode: game.ModeArena, Hz: 30,
		LastSeq: lastSeq, Resumed: resumed, Width: 1000, Height: 1000, PosScale: wire.PosScale}
}

func avatar(id uint32, x, y float32, flags uint8) wire.EntityState {
	return wire.EntityState{ID: id, Kind: uint8(game.KindAvatar), HP: 100, Flags: flags,
		X: wire.Quantize(x), Y: wire.Quantize(y)}
}

func wantPredicted(t *testing.T, p *predictor, x, y float32) {
	t.Helper()
	gx, gy, ok := p.predicted()
	if !ok || gx != x || gy != y {
		t.Fatalf("predicted (%v, %v, %v), want (%v, %v)", gx, gy, ok, x, y)
	}
}

// TestPredictorReplay: inputs not yet applied are replayed on top of the
// server's position; acknowledged ones are dropped; an answer that
// matches the prediction is no correction.
func TestPredictorReplay(t *testing.T) {
	var p predictor
	p.welcome(arenaWelcome(7, 0, false))
	east := game.Input{DX: 1}
	p.sent(1, east) // before any snapshot: nothing to predict from yet
	if _, _, ok := p.predicted(); ok {
		t.Fatal("predicted before the first snapshot")
	}
	p.snapshot(avatar(7, 500, 500, 0), true, 0)
	wantPredicted(t, &p, 505, 500)
	p.sent(2, east)
	p.sent(3, game.Input{DX: 1, DY: 1})
	wantPredicted(t, &p, 513.5625, 503.5625)
	p.snapshot(avatar(7, 505, 500, 0), true, 1)
	wantPredicted(t, &p, 513.5625, 503.5625)
	p.snapshot(avatar(7, 510, 500, 0), true, 2)
	p.snapshot(avatar(7, 513.5625, 503.5625, 0), true, 3)
	wantPredicted(t, &p, 513.5625, 503.5625)
	if len(p.pending) != 0 || p.corrections != 0 {
		t.Fatalf("pending %d, corrections %d", len(p.pending), p.corrections)
	}
	// The server applied inputs 4 and 5 in one tick (catching up on a
	// bunch): the snapshot acknowledges 5, and there is no correction.
	p.sent(4, east)
	p.sent(5, east)
	p.sent(6, east)
	p.snapshot(avatar(7, 523.5625, 503.5625, 0), true, 5)
	wantPredicted(t, &p, 528.5625, 503.5625)
	if p.corrections != 0 || len(p.pending) != 1 || p.pending[0].seq != 6 {
		t.Fatalf("corrections %d, pending %+v", p.corrections, p.pending)
	}
}

// TestPredictorCorrection: an input the server never applied (refused, or
// lost) shows as a correction once a later one is acknowledged, and the
// prediction restarts from the server's answer.
func TestPredictorCorrection(t *testing.T) {
	var p predictor
	p.welcome(arenaWelcome(7, 0, false))
	p.snapshot(avatar(7, 500, 500, 0), true, 0)
	for seq := uint32(1); seq <= 4; seq++ {
		p.sent(seq, game.Input{DY: 1})
	}
	wantPredicted(t, &p, 500, 520)
	p.snapshot(avatar(7, 500, 505, 0), true, 2) // input 2 was refused
	if p.corrections != 1 || p.maxCorrection != 5 {
		t.Fatalf("corrections %d, max %v", p.corrections, p.maxCorrection)
	}
	wantPredicted(t, &p, 500, 515)
	p.snapshot(avatar(7, 500, 515, 0), true, 4)
	if p.corrections != 1 {
		t.Fatalf("corrections %d after a matching answer", p.corrections)
	}
}

// TestPredictorDeadAndRespawn: a dead avatar is not predicted to move,
// and the respawn's teleport is not counted as a correction.
func TestPredictorDeadAndRespawn(t *testing.T) {
	var p predictor
	p.welcome(arenaWelcome(7, 0, false))
	p.snapshot(avatar(7, 500, 500, 0), true, 0)
	p.sent(1, game.Input{DX: -1})
	p.sent(2, game.Input{DX: -1})
	// Input 1 moved the avatar, a shot brought it down in the same tick,
	// and input 2 was consumed without moving it.
	p.snapshot(avatar(7, 495, 500, game.FlagDead), true, 2)
	if p.corrections != 0 {
		t.Fatalf("death counted as %d corrections", p.corrections)
	}
	wantPredicted(t, &p, 495, 500)
	p.sent(3, game.Input{DX: -1})
	p.sent(4, game.Input{DX: -1})
	wantPredicted(t, &p, 495, 500)
	p.snapshot(avatar(7, 495, 500, game.FlagDead), true, 3)
	p.snapshot(avatar(7, 100, 100, 0), true, 4) // respawned, then input 4 moved it
	if p.corrections != 0 {
		t.Fatalf("respawn counted as %d corrections", p.corrections)
	}
	wantPredicted(t, &p, 100, 100)
	p.sent(5, game.Input{DX: -1})
	wantPredicted(t, &p, 95, 100)
}

// TestPredictorResume: after a resume, inputs up to Welcome.LastSeq are
// still coming and stay in the prediction; later ones were lost. A new
// seat starts over.
func TestPredictorResume(t *testing.T) {
	var p predictor
	p.welcome(arenaWelcome(7, 0, false))
	p.snapshot(avatar(7, 500, 500, 0), true, 0)
	for seq := uint32(1); seq <= 5; seq++ {
		p.sent(seq, game.Input{DX: 1})
	}
	p.snapshot(avatar(7, 505, 500, 0), true, 1)
	p.welcome(arenaWelcome(7, 3, true))
	wantPredicted(t, &p, 515, 500)
	if len(p.pending) != 2 || p.pending[1].seq != 3 {
		t.Fatalf("pending after resume %+v", p.pending)
	}
	p.snapshot(avatar(7, 515, 500, 0), true, 3)
	if p.corrections != 0 || len(p.pending) != 0 {
		t.Fatalf("corrections %d, pending %d", p.corrections, len(p.pending))
	}

	p.sent(4, game.Input{DX: 1})
	p.welcome(arenaWelcome(9, 0, false))
	if _, _, ok := p.predicted(); ok || len(p.pending) != 0 || p.acked != 0 {
		t.Fatalf("a new seat kept the old prediction: %+v", p)
	}
}

// TestPredictorBounded: without acks the pending inputs stop at
// maxPending, forgetting the oldest.
func TestPredictorBounded(t *testing.T) {
	var p predictor
	p.welcome(arenaWelcome(7, 0, false))
	p.snapshot(avatar(7, 0, 0, 0), true, 0)
	for seq := uint32(1); seq <= maxPending+72; seq++ {
		p.sent(seq, game.Input{})
	}
	if len(p.pending) != maxPending || p.forgotten != 72 || p.pending[0].seq != 73 {
		t.Fatalf("pending %d from seq %d, forgotten %d", len(p.pending), p.pending[0].seq, p.forgotten)
	}
}

// TestPredictorNoMove: a mode without a movement function predicts the
// server's position.
func TestPredictorNoMove(t *testing.T) {
	var p predictor
	w := arenaWelcome(7, 0, false)
	w.Mode = game.ModeBench
	p.welcome(w)
	p.snapshot(avatar(7, 300, 300, 0), true, 0)
	p.sent(1, game.Input{DX: 1})
	wantPredicted(t, &p, 300, 300)
	p.snapshot(avatar(7, 301, 300, 0), true, 1)
	if p.corrections != 0 {
		t.Fatalf("corrections %d without prediction", p.corrections)
	}
	wantPredicted(t, &p, 301, 300)
}
