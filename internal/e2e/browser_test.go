//go:build !race

// The browser test measures timing (frames, milliseconds, hit rates): the
// race detector would slow the in-process server several times over and
// distort every figure, so it is built without -race only. `make test`
// runs it through `make e2e`; netem and the analysis code have their own
// race-tested unit tests.

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/app"
	"github.com/rallypoint/rallypoint/web"
)

// TestBrowserPlay: two Chromium pages and six Go bots in one arena match,
// each page through its own 100 ms (±20 ms jitter) proxy. Page A moves and
// page B sees it; A's sockets are cut and A comes back to the same seat
// with the reconnecting banner shown meanwhile; the match ends and both
// pages show the results; no console errors. Along the way it measures the
// play-feel figures and fails when one misses its target.
func TestBrowserPlay(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := testkit.Chromium(t)
	webDir, err := filepath.Abs("../../web")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(webDir, "node_modules", "playwright-core")); err != nil {
		t.Fatal("web/node_modules/playwright-core is missing: run `npm ci --prefix web` (make test and make e2e do)")
	}
	out, err := ArtifactsDir(webDir)
	if err != nil {
		t.Fatal(err)
	}
	// this run's files only: a stale raw.json or failure screenshot misleads
	for _, f := range []string{"raw.json", "truth.json", "play-feel.json", "failed-A.png", "failed-B.png"} {
		_ = os.Remove(filepath.Join(out, f))
	}
	start := time.Now()

	secs, _ := strconv.Atoi(envOr("RP_MATCH_SECONDS", strconv.Itoa(matchSeconds)))
	cfg := Config{Web: web.Handler(), MatchSeconds: secs}
	if d := os.Getenv("RP_DEMO_DIR"); d != "" {
		// A demo built from the current sources (sh web/demo/build.sh DIR)
		// instead of the embedded bundle, to measure work in progress.
		cfg.Web = http.FileServer(http.Dir(d))
		t.Logf("RP_DEMO_DIR=%s: serving that demo build, not the embedded one", d)
	}
	if os.Getenv("RP_E2E_SERVER") == "process" {
		// cmd/server as its own process: the real main, flags and
		// embedded demo, instead of the in-process App.
		bin := filepath.Join(t.TempDir(), "server")
		build := exec.Command("go", "build", "-o", bin, "./cmd/server")
		build.Dir = filepath.Join(webDir, "..")
		if b, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/server: %v\n%s", err, b)
		}
		cfg.ServerBinary = bin
		t.Log("server: cmd/server as a process")
	}
	if v := os.Getenv("RP_MAX_REWIND"); v != "" {
		// An experiment, not the test: the server's rewind cap (default
		// 200 ms) changed to see what lag compensation needs.
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Configure = func(ac *app.Config) {
			g := ac.Games[game.ModeArena]
			g.MaxRewind = d
			if d <= 0 {
				g.MaxRewind = -1 // off (game.Config's 0 means the default)
			}
			ac.Games[game.ModeArena] = g
		}
		cfg.ServerArgs = append(cfg.ServerArgs, "-max-rewind", v)
		t.Logf("RP_MAX_REWIND=%v: the server's rewind cap is not its default", d)
	}
	env, err := Start(cfg, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := env.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	run := NodeRun{
		Script: "e2e/play.mjs",
		Dir:    webDir,
		Env: map[string]string{
			"RP_PAGE_A":    env.pageURL("A", "alice"),
			"RP_PAGE_B":    env.pageURL("B", "bob"),
			"RP_CTL":       env.Ctl.URL,
			"RP_OUT":       out,
			"RP_CHROMIUM":  chromium,
			"RP_STEADY_MS": envOr("RP_STEADY_MS", "20000"),
			"RP_SHOTS":     envOr("RP_SHOTS", "40"),
		},
		Progress: func(line string) { t.Log(line) },
	}
	nodeErr := run.Run(ctx)
	elapsed := time.Since(start)

	raw, err := ReadRaw(filepath.Join(out, "raw.json"))
	if err != nil {
		t.Fatalf("browser run: %v; no raw.json: %v", nodeErr, err)
	}
	rep, problems := Analyze(raw, Inputs{
		Truth:   env.Obs.truth,
		Players: env.Cfg.Players(),
		Hits: func(shooter uint32, targets []uint32, phase string) []Hit {
			from, to := env.Mark(phase+"_begin"), env.Mark(phase+"_end")
			if from == 0 || to == 0 {
				return nil
			}
			return env.Obs.Hits(shooter, targets, from, to)
		},
	})
	b, err := json.MarshalIndent(map[string]any{
		"figures":          rep,
		"runtime_s":        elapsed.Seconds(),
		"proxy":            map[string]any{"delay_ms": env.Cfg.Delay.Milliseconds(), "jitter_ms": env.Cfg.Jitter.Milliseconds()},
		"pages":            []string{"A", "B"},
		"go_bots":          env.Cfg.Strafers + env.Cfg.Wanderers,
		"problems":         problems,
		"observer_ticks":   env.Obs.truth.Len(),
		"generated_by":     "go test ./internal/e2e -run TestBrowserPlay (make e2e)",
		"measured_at_unix": time.Now().Unix(),
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "play-feel.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := env.Obs.dump(filepath.Join(out, "truth.json")); err != nil {
		t.Error(err)
	}
	var table strings.Builder
	_ = rep.WriteTable(&table)
	fmt.Printf("\nplay feel (web/artifacts/play-feel.json), browser test %.0f s:\n%s\n", elapsed.Seconds(), table.String())

	if nodeErr != nil {
		t.Errorf("browser run failed: %v", nodeErr)
	}
	for _, p := range problems {
		t.Error(p)
	}
	for _, f := range rep.Failed() {
		t.Errorf("play feel: %s = %.3f misses its target %s (%s)", f.Name, f.Value, f.Target, f.Note)
	}
}

// envOr is the environment variable k, or def (RP_STEADY_MS, RP_SHOTS and
// RP_MATCH_SECONDS shorten a run while working on the test; RP_MAX_REWIND
// changes the server's rewind cap for an experiment; RP_E2E_SERVER=process
// runs cmd/server as a process instead of in-process; RP_DEMO_DIR serves a
// demo built from the current sources, sh web/demo/build.sh DIR).
func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// matchSeconds is the arena time limit of the test match: long enough for
// every phase of web/e2e/play.mjs, after which the match ends by time.
const matchSeconds = 115
