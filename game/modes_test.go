package game

import (
	"errors"
	"testing"
)

func TestModes(t *testing.T) {
	ms := Modes()
	ms[0].Name = "scribbled"
	if Modes()[0].Name == "scribbled" {
		t.Errorf("Modes shares its slice between calls")
	}
	tests := []struct {
		name     string
		min, max int
		err      error
	}{
		{ModeArena, 2, 16, nil},
		{ModeBench, 1, 8, nil},
		{"", 0, 0, ErrUnknownMode},
		{"Arena", 0, 0, ErrUnknownMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := FindMode(tt.name)
			if !errors.Is(err, tt.err) {
				t.Fatalf("FindMode(%q) err = %v, want %v", tt.name, err, tt.err)
			}
			if err != nil {
				return
			}
			if m.Name != tt.name || m.MinPlayers != tt.min || m.MaxPlayers != tt.max || m.New == nil {
				t.Errorf("FindMode(%q) = %+v", tt.name, m)
			}
			if _, err := m.New(Config{}); err != nil {
				t.Errorf("New(Config{}) = %v", err)
			}
		})
	}
}

func TestModeConfigErrors(t *testing.T) {
	nan := float32(0)
	nan = nan / nan
	tests := []struct {
		name string
		cfg  Config
	}{
		{"negative hz", Config{Hz: -1}},
		{"huge hz", Config{Hz: 100000}},
		{"negative players", Config{MaxPlayers: -1}},
		{"too many players", Config{MaxPlayers: 17}},
		{"negative width", Config{Width: -5}},
		{"nan height", Config{Height: nan}},
	}
	for _, m := range Modes() {
		for _, tt := range tests {
			t.Run(m.Name+"/"+tt.name, func(t *testing.T) {
				if _, err := m.New(tt.cfg); !errors.Is(err, ErrBadConfig) {
					t.Errorf("New(%+v) err = %v, want ErrBadConfig", tt.cfg, err)
				}
			})
		}
	}
}

func TestRank(t *testing.T) {
	ps := []PlayerResult{{Player: 4, Score: 1}, {Player: 1, Score: 5}, {Player: 3, Score: 5}, {Player: 2, Score: 0}, {Player: 5, Score: 1}}
	rank(ps)
	want := []PlayerResult{{Player: 1, Score: 5, Rank: 1}, {Player: 3, Score: 5, Rank: 1}, {Player: 4, Score: 1, Rank: 3}, {Player: 5, Score: 1, Rank: 3}, {Player: 2, Score: 0, Rank: 5}}
	for i := range want {
		if ps[i] != want[i] {
			t.Errorf("rank[%d] = %+v, want %+v", i, ps[i], want[i])
		}
	}
}
