package netcode

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/game"
)

var nopAuth = AuthenticatorFunc(func(context.Context, string) (Grant, error) { return Grant{}, ErrAuthInvalid })

func TestConfigDefaults(t *testing.T) {
	c := Config{Auth: nopAuth}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.Logger == nil || len(c.Modes) != len(game.Modes()) {
		t.Fatalf("logger %v, %d modes", c.Logger, len(c.Modes))
	}
	got := [...]time.Duration{c.Grace, c.HandshakeTimeout, c.IdleTimeout, c.WriteTimeout, c.SlowTimeout, c.housekeep}
	want := [...]time.Duration{30 * time.Second, 5 * time.Second, 15 * time.Second, 5 * time.Second, 5 * time.Second, time.Second}
	if got != want {
		t.Fatalf("durations %v, want %v", got, want)
	}
	if c.Hz != 30 || c.MessageRate != 120 || c.MessageBurst != 120 {
		t.Fatalf("hz %d, message rate %v burst %d", c.Hz, c.MessageRate, c.MessageBurst)
	}
	// The message rate follows the tick rate: 4 inputs a tick.
	c = Config{Auth: nopAuth, Hz: 60}
	if err := c.setDefaults(); err != nil || c.MessageRate != 240 || c.MessageBurst != 240 {
		t.Fatalf("at 60 Hz: rate %v burst %d, %v", c.MessageRate, c.MessageBurst, err)
	}
	c = Config{Auth: nopAuth, MessageRate: 50, MessageBurst: 7, SlowTimeout: time.Minute}
	if err := c.setDefaults(); err != nil || c.MessageRate != 50 || c.MessageBurst != 7 || c.SlowTimeout != time.Minute {
		t.Fatalf("explicit values replaced: %+v, %v", c, err)
	}
}

func TestConfigBounds(t *testing.T) {
	for _, tt := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Auth: nopAuth, Hz: 1}, true},
		{Config{Auth: nopAuth, Hz: 240}, true},
		{Config{Auth: nopAuth, Hz: 241}, false},
		{Config{Auth: nopAuth, Hz: -1}, false},
		{Config{Auth: nopAuth, Interest: -1}, false},
		{Config{}, false},
	} {
		err := tt.cfg.setDefaults()
		if (err == nil) != tt.ok {
			t.Errorf("Hz %d Interest %v auth %v: %v", tt.cfg.Hz, tt.cfg.Interest, tt.cfg.Auth != nil, err)
		}
	}
	if _, err := New(Config{Auth: nopAuth, Hz: 241}); err == nil {
		t.Error("New accepted Hz 241")
	}
	if _, err := New(Config{}); err == nil || errors.Is(err, ErrAuthInvalid) {
		t.Errorf("New without Auth: %v", err)
	}
}
