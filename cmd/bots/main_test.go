package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/bots"
	"github.com/rallypoint/rallypoint/internal/app"
	"github.com/rallypoint/rallypoint/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newServer(t *testing.T) string {
	t.Helper()
	_, hs := testkit.Serve(t, app.Config{Lobby: testkit.QuickLobby()})
	return hs.URL
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// TestJSONSummary runs the command's logic against a real server and
// checks the -json line's fields.
func TestJSONSummary(t *testing.T) {
	url := newServer(t)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-server", url, "-bots", "12", "-ramp", "50", "-duration", "2s", "-mode", "bench", "-json", "-brain", "wander"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "snapshot gap ms") {
		t.Errorf("no summary table:\n%s", out.String())
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(lastLine(out.String())), &raw); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, out.String())
	}
	for _, k := range []string{"bots", "matches", "connect_errors", "disconnects", "reconnects", "snapshots",
		"snapshot_gap_ms", "rtt_ms", "down_bytes_per_bot_s", "up_bytes_per_bot_s", "down_wire_bytes_per_bot_s", "errors"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON summary lacks %q", k)
		}
	}
	var sum struct {
		Bots          int     `json:"bots"`
		Matches       int     `json:"matches"`
		ConnectErrors int     `json:"connect_errors"`
		Disconnects   int     `json:"disconnects"`
		Snapshots     int     `json:"snapshots"`
		Down          float64 `json:"down_bytes_per_bot_s"`
		Up            float64 `json:"up_bytes_per_bot_s"`
		Gap           struct {
			P50, P99, Max float64
		} `json:"snapshot_gap_ms"`
		RTT struct {
			P50, P99 float64
		} `json:"rtt_ms"`
	}
	if err := json.Unmarshal([]byte(lastLine(out.String())), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Bots != 12 || sum.Matches < 2 || sum.ConnectErrors != 0 || sum.Disconnects != 0 || sum.Snapshots == 0 ||
		sum.Down <= 0 || sum.Up <= 0 || sum.Gap.P50 <= 0 || sum.Gap.Max < sum.Gap.P99 || sum.RTT.P50 <= 0 {
		t.Fatalf("summary %+v", sum)
	}
	// Piped stderr gets plain lines, never carriage returns.
	if strings.Contains(errOut.String(), "\r") {
		t.Errorf("progress redrew on a pipe: %q", errOut.String())
	}
}

// TestExitStatus: errors over -max-errors exit 1, bad flags exit 2.
func TestExitStatus(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	url := hs.URL
	hs.Close()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-server", url, "-bots", "2", "-duration", "300ms", "-json"}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d with a dead server\n%s", code, errOut.String())
	}
	if code := run(context.Background(), []string{"-server", url, "-bots", "2", "-duration", "300ms", "-max-errors", "1000000"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d under -max-errors\n%s", code, errOut.String())
	}
	if code := run(context.Background(), []string{"-brain", "nope"}, &out, &errOut); code != 2 {
		t.Fatalf("exit %d for a bad brain", code)
	}
	if code := run(context.Background(), []string{"-no-such-flag"}, &out, &errOut); code != 2 {
		t.Fatalf("exit %d for a bad flag", code)
	}
}

// TestInterruptStillSummarizes: a cancelled run (as on SIGINT) still
// prints the summary.
func TestInterruptStillSummarizes(t *testing.T) {
	url := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"-server", url, "-bots", "4", "-duration", "0", "-json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(lastLine(out.String())), &sum); err != nil || sum["bots"] != float64(4) {
		t.Fatalf("summary %v (%v)", sum, err)
	}
}

// TestHundredBotsWithDefaults: the README's bots command (100 arena bots,
// the default ramp) against a server with the lobby's default limits (as
// make run starts it) gets every bot into a match without a single 429.
// The time it took is logged, not asserted (CI machines vary).
func TestHundredBotsWithDefaults(t *testing.T) {
	_, hs := testkit.Serve(t, app.Config{})
	s, err := bots.NewSwarm(bots.Config{Server: hs.URL, Bots: 100, Mode: "arena", Ramp: 100, Duration: 30 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := s.Run(ctx); done <- err }()
	start := time.Now()
	testkit.WaitFor(t, "100 bots in matches", func() bool { return s.Progress().InMatch == 100 })
	t.Logf("100 bots in matches %v after the start", time.Since(start).Round(10*time.Millisecond))
	if p := s.Progress(); p.Limited != 0 {
		t.Errorf("%d answers of 429 on the way in: the default limits throttle our own bots", p.Limited)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
