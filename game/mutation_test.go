package game

import (
	"errors"
	"math"
	"testing"
)

// Tests written from mutation testing (make mutate): each pins a boundary
// or a value that a planted bug changed without any other test noticing.

func TestModeDefaultsApply(t *testing.T) {
	d := modeDefaults{width: 300, height: 200, maxPlayers: 6, timeLimitTicks: func(hz int) int { return 2 * hz }}
	tests := []struct {
		name string
		cfg  Config
		want settings
		err  bool
	}{
		{"defaults", Config{Seed: 9}, settings{seed: 9, hz: defaultHz, maxPlayers: 6, width: 300, height: 200, timeLimitTicks: 2 * defaultHz, maxRewind: defaultMaxRewind}, false},
		{"highest hz", Config{Hz: maxHz}, settings{hz: maxHz, maxPlayers: 6, width: 300, height: 200, timeLimitTicks: 2 * maxHz, maxRewind: defaultMaxRewind}, false},
		{"one past the highest hz", Config{Hz: maxHz + 1}, settings{}, true},
		{"lowest hz", Config{Hz: 1}, settings{hz: 1, maxPlayers: 6, width: 300, height: 200, timeLimitTicks: 2, maxRewind: defaultMaxRewind}, false},
		{"every seat", Config{MaxPlayers: 6}, settings{hz: defaultHz, maxPlayers: 6, width: 300, height: 200, timeLimitTicks: 2 * defaultHz, maxRewind: defaultMaxRewind}, false},
		{"one seat", Config{MaxPlayers: 1}, settings{hz: defaultHz, maxPlayers: 1, width: 300, height: 200, timeLimitTicks: 2 * defaultHz, maxRewind: defaultMaxRewind}, false},
		{"one seat too many", Config{MaxPlayers: 7}, settings{}, true},
		{"explicit size", Config{Width: 1, Height: 0.5}, settings{hz: defaultHz, maxPlayers: 6, width: 1, height: 0.5, timeLimitTicks: 2 * defaultHz, maxRewind: defaultMaxRewind}, false},
		{"infinite width", Config{Width: float32(math.Inf(1))}, settings{}, true},
		{"explicit time limit", Config{TimeLimitTicks: 1}, settings{hz: defaultHz, maxPlayers: 6, width: 300, height: 200, timeLimitTicks: 1, maxRewind: defaultMaxRewind}, false},
		{"no time limit", Config{TimeLimitTicks: -1}, settings{hz: defaultHz, maxPlayers: 6, width: 300, height: 200, maxRewind: defaultMaxRewind}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.apply("test", tt.cfg)
			if tt.err {
				if !errors.Is(err, ErrBadConfig) {
					t.Fatalf("apply(%+v) err = %v, want ErrBadConfig", tt.cfg, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("apply(%+v) = %+v, %v; want %+v", tt.cfg, got, err, tt.want)
			}
		})
	}
	// A mode without a default time limit has none unless asked.
	d.timeLimitTicks = nil
	if got, _ := d.apply("test", Config{}); got.timeLimitTicks != 0 {
		t.Errorf("no default time limit: got %d ticks", got.timeLimitTicks)
	}
}

func TestInputClamped(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	tests := []struct{ in, want Input }{
		{Input{DX: 0.5, DY: -0.5, Aim: 1, Buttons: 3}, Input{DX: 0.5, DY: -0.5, Aim: 1, Buttons: 3}},
		{Input{DX: 1, DY: -1}, Input{DX: 1, DY: -1}},
		{Input{DX: 2, DY: -3}, Input{DX: 1, DY: -1}},
		{Input{DX: -inf, DY: inf}, Input{DX: -1, DY: 1}},
		{Input{DX: nan, DY: nan, Aim: nan}, Input{}},
		{Input{Aim: -inf}, Input{}},
	}
	for _, tt := range tests {
		if got := tt.in.Clamped(); got != tt.want {
			t.Errorf("%+v.Clamped() = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// TestWorldRandomPosSpread: random positions cover the whole world, not a
// corner of it.
func TestWorldRandomPosSpread(t *testing.T) {
	w := NewWorld(1000, 400, 30, 7)
	var maxX, maxY float32
	for range 200 {
		x, y := w.randomPos()
		if x < 0 || x > w.Width || y < 0 || y > w.Height {
			t.Fatalf("randomPos = (%v, %v), outside %vx%v", x, y, w.Width, w.Height)
		}
		maxX, maxY = max(maxX, x), max(maxY, y)
	}
	if maxX < w.Width/2 || maxY < w.Height/2 {
		t.Errorf("200 random positions reach only (%v, %v) of %vx%v", maxX, maxY, w.Width, w.Height)
	}
}

// TestBenchFirstSlot: the player in the first slot (avatar 33) can neither
// join twice nor stay behind after leaving, and the result names its
// avatar.
func TestBenchFirstSlot(t *testing.T) {
	s := newTestBench(t, Config{TimeLimitTicks: 2})
	if id, err := s.Join(5); err != nil || id != 33 {
		t.Fatalf("Join(5) = %d, %v", id, err)
	}
	if _, err := s.Join(5); !errors.Is(err, ErrJoined) {
		t.Fatalf("second Join(5) err = %v, want ErrJoined", err)
	}
	if id, err := s.Join(6); err != nil || id != 34 {
		t.Fatalf("Join(6) = %d, %v", id, err)
	}
	s.Step(nil)
	s.Step(nil)
	res, over := s.Result()
	if !over || len(res.Players) != 2 || res.Players[0].Entity != 33 || res.Players[1].Entity != 34 {
		t.Fatalf("result %+v over %v; want players 5 and 6 on avatars 33 and 34", res, over)
	}
	s = newTestBench(t, Config{})
	s.Join(5)
	s.Leave(5)
	if s.World().Get(33) != nil || s.slotOf(5) >= 0 {
		t.Fatalf("avatar 33 still there after its player left")
	}
}
