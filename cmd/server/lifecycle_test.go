package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/bots"
	"github.com/rallypoint/rallypoint/netcode/client"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// serveRun starts the real run with args on a loopback port; stop cancels
// it (as the first SIGTERM does) and returns run's error.
func serveRun(t *testing.T, args ...string) (base string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0", "-log-level", "error", "-admin-addr", "", "-data-dir", ""}, args...), func(a string) { addrc <- a })
	}()
	select {
	case a := <-addrc:
		base = "http://" + a
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	case <-time.After(15 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	return base, func() error {
		http.DefaultClient.CloseIdleConnections()
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("server did not stop")
			return nil
		}
	}
}

// TestGracefulShutdownKeepsResults: at the first signal a running match
// plays on through the drain, then ends with a "shutdown" MatchOver (its
// standings) and a going-away close; its result is in the results log, and
// after a restart GET /v1/matches/{id} still serves it.
func TestGracefulShutdownKeepsResults(t *testing.T) {
	dir := t.TempDir()
	base, stop := serveRun(t, "-data-dir", dir, "-drain-timeout", "500ms")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lc := bots.NewLobbyClient(base, nil)
	s, err := lc.Guest(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	ticket, err := lc.Queue(ctx, s.SessionToken, "bench")
	if err != nil {
		t.Fatal(err)
	}
	as, err := lc.WaitMatched(ctx, s.SessionToken, ticket)
	if err != nil {
		t.Fatal(err)
	}
	overc := make(chan wire.MatchOver, 1)
	c, err := client.Dial(ctx, as.WSURL, as.Token, client.WithOnMatchOver(func(_ *client.Client, m wire.MatchOver) { overc <- m }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	select {
	case m := <-overc:
		if m.Reason != "shutdown" || len(m.Results) != 1 {
			t.Errorf("MatchOver %+v, want shutdown with the player's standing", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no MatchOver at shutdown")
	}
	<-c.Done()
	var ce *client.CloseError
	if !errorsAs(c.Err(), &ce) || ce.Code != wire.CodeGoingAway {
		t.Errorf("closed with %v, want %d", c.Err(), wire.CodeGoingAway)
	}
	if !logHas(t, dir, as.MatchID, "shutdown") {
		t.Fatalf("match %s is not in the results log with reason shutdown", as.MatchID)
	}

	base, stop = serveRun(t, "-data-dir", dir)
	defer func() { _ = stop() }()
	resp, err := http.Get(base + "/v1/matches/" + as.MatchID)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		State  string `json:"state"`
		Result struct {
			Reason  string            `json:"reason"`
			Players []json.RawMessage `json:"players"`
		} `json:"result"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if resp.StatusCode != 200 || got.State != "over" || got.Result.Reason != "shutdown" || len(got.Result.Players) != 1 {
		t.Fatalf("after a restart: %d %+v", resp.StatusCode, got)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func logHas(t *testing.T, dir, match, reason string) bool {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct{ ID, Reason string }
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.ID == match && r.Reason == reason {
			return true
		}
	}
	return false
}

// TestSignals runs the real binary's main: one SIGTERM with nothing running
// exits 0 at once; during a drain (a match is running and the drain timeout
// is long) a second SIGTERM exits at once instead of being swallowed.
func TestSignals(t *testing.T) {
	if os.Getenv("RALLYPOINT_MAIN") == "1" {
		t.Skip("helper process")
	}
	exe := filepath.Join(t.TempDir(), "server")
	build := exec.Command("go", "build", "-o", exe, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	start := func(args ...string) (*exec.Cmd, string) {
		cmd := exec.Command(exe, append([]string{"-addr", "127.0.0.1:0", "-data-dir", "", "-admin-addr", ""}, args...)...)
		out, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, `"addr":"`); i >= 0 && strings.Contains(line, "rallypoint listening") {
				addr := line[i+len(`"addr":"`):]
				addr = addr[:strings.IndexByte(addr, '"')]
				go func() { // keep the pipe drained
					for sc.Scan() {
					}
				}()
				return cmd, "http://" + addr
			}
		}
		t.Fatal("the server never said where it listens")
		return nil, ""
	}
	waitExit := func(cmd *exec.Cmd, within time.Duration) error {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(within):
			t.Fatalf("still running %v after the signal", within)
			return nil
		}
	}

	cmd, _ := start()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(cmd, 15*time.Second); err != nil {
		t.Errorf("one SIGTERM with nothing running: %v, want exit 0", err)
	}

	cmd, base := start("-drain-timeout", "1h")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lc := bots.NewLobbyClient(base, nil)
	s, err := lc.Guest(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	ticket, err := lc.Queue(ctx, s.SessionToken, "bench")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.WaitMatched(ctx, s.SessionToken, ticket); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond) // let the first signal start the drain
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(cmd, 10*time.Second); err == nil {
		t.Error("the second signal exited 0; want the signal's exit")
	}
}
