package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/bots"
	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/ops"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/client"
)

// webDir returns web/ with its node_modules, failing the test when they
// are missing (make test installs them).
func webDir(t *testing.T, module string) string {
	t.Helper()
	dir, err := filepath.Abs("../../web")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", module)); err != nil {
		t.Fatalf("web/node_modules/%s is missing: run `npm ci --prefix web` (make test does)", module)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed")
	}
	return dir
}

// TestOpsBundleFresh fails when internal/ops/assets is not what
// web/ops/build.mjs makes of web/ops: run `make ops-web` and commit.
func TestOpsBundleFresh(t *testing.T) {
	dir := webDir(t, "esbuild")
	out := t.TempDir()
	cmd := exec.Command("node", filepath.Join(dir, "ops", "build.mjs"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	for _, name := range []string{"ops.js", "ops.css"} {
		fresh, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join("assets", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh, committed) {
			t.Errorf("internal/ops/assets/%s is stale: run `make ops-web` and commit it", name)
		}
	}
}

// TestOpsPageInChromium opens /ops in Chromium against a server with live
// traffic (a player in a bot-filled arena match, a bench match of bots):
// the page must receive summaries, draw every chart and list the matches
// with no console error. RP_OPS_SHOT=/path.png keeps a screenshot.
func TestOpsPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := testkit.Chromium(t)
	dir := webDir(t, "playwright-core")
	e := serve(t, ops.Config{EventInterval: 250 * time.Millisecond})
	if _, err := e.ops.App().Game().CreateMatch(netcode.MatchSpec{Mode: "bench", Bots: 4}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lc := bots.NewLobbyClient(e.public.URL, nil)
	s, err := lc.Guest(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	ticket, err := lc.Queue(ctx, s.SessionToken, "arena") // bot-filled after 200 ms
	if err != nil {
		t.Fatal(err)
	}
	as, err := lc.WaitMatched(ctx, s.SessionToken, ticket)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(ctx, as.WSURL, as.Token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // play: one input per tick
		defer wg.Done()
		tk := time.NewTicker(time.Second / 30)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				_ = c.SendInput(game.Input{DX: 1, DY: 0.3})
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()

	wg.Add(1)
	go func() { // more players queue while the page watches: time to match, held seats
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(700 * time.Millisecond):
			}
			s, err := lc.Guest(ctx, "late")
			if err == nil {
				_, err = lc.Queue(ctx, s.SessionToken, "bench")
			}
			if err != nil {
				t.Errorf("queue: %v", err)
				return
			}
		}
	}()

	shot := os.Getenv("RP_OPS_SHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "ops.png")
	}
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "ops", "test", "ops-page.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RP_OPS_URL="+e.admin.URL+"/ops", "RP_CHROMIUM="+chromium, "RP_SHOT="+shot, "RP_EVENTS=14")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("screenshot: %s", shot)
	var res struct {
		OK       bool            `json:"ok"`
		Problems []string        `json:"problems"`
		Seen     json.RawMessage `json:"seen"`
	}
	if jerr := json.Unmarshal(lastLine(out), &res); jerr != nil {
		t.Fatalf("page test: %v (%v)\nstdout: %s\nstderr: %s", err, jerr, out, stderr.String())
	}
	t.Logf("seen: %s", res.Seen)
	for _, p := range res.Problems {
		t.Error(p)
	}
	if err != nil && len(res.Problems) == 0 {
		t.Errorf("page test: %v\nstderr: %s", err, stderr.String())
	}
}

func lastLine(b []byte) []byte {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return []byte(lines[len(lines)-1])
}
