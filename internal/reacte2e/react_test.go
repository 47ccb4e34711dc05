//go:build !race

// The browser tests build bundles and run Chromium and (for Next.js) a
// production build: the race detector adds nothing there but minutes, so
// they build without -race only; `make react` runs them (in `make test`).
// Counter has its own race-tested unit test.

package reacte2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/app"
	"github.com/rallypoint/rallypoint/internal/testkit"
)

// webDir is web/, absolute.
func webDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs("../../web")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"playwright-core", "react", "react-dom", "esbuild"} {
		if _, err := os.Stat(filepath.Join(d, "node_modules", m)); err != nil {
			t.Fatalf("web/node_modules/%s is missing: run `npm ci --prefix web` (make react does)", m)
		}
	}
	return d
}

// serve starts the whole server in-process on loopback, allowing the
// browser origin, with Counter in front of it.
func serve(t *testing.T, origin string, matchSeconds int) (*app.App, *httptest.Server, *Counter) {
	t.Helper()
	lc := testkit.QuickLobby()
	lc.AllowedOrigins = []string{origin}
	lc.BotFillAfter = time.Second // a page unmounted or sent away while queued has a second to do it
	a, err := app.New(app.Config{
		Lobby: lc,
		Games: map[string]game.Config{game.ModeArena: {TimeLimitTicks: matchSeconds * 30}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &Counter{}
	hs := httptest.NewServer(c.Wrap(a.Handler()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
	})
	return a, hs, c
}

// reactRun is what web/react/test/strictmode.mjs reports for one run.
type reactRun struct {
	React             string   `json:"react"`
	Strict            bool     `json:"strict"`
	Cycles            int      `json:"cycles"`
	ReachedPlaying    int      `json:"reachedPlaying"`
	ReachedQueued     int      `json:"reachedQueued"`
	EffectRuns        int      `json:"effectRuns"`
	Frames            int      `json:"frames"`
	Snapshots         int      `json:"snapshots"`
	HudRendersPlaying int      `json:"hudRendersPlaying"`
	Leftovers         []int    `json:"leftovers"`
	Ms                float64  `json:"ms"`
	SettleMs          float64  `json:"settle_ms"`
	Server            Counts   `json:"server"`
	Errors            []string `json:"errors"`
}

// TestReactStrictMode: the React test page (web/react/test/page.tsx, React's
// development build, bundled once against React 19 and once against React 18) mounts and unmounts a <RallypointProvider> 20 times
// without StrictMode and 20 times with it, each provider signing in,
// queueing and playing (every other one unmounted while queued), on
// another origin than the server. The server must never hold more than one
// socket or event stream of it at a time, none once the last provider
// unmounted, every client must have released everything, StrictMode must
// really have run each effect twice, and the console must stay clean.
func TestReactStrictMode(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := testkit.Chromium(t)
	web := webDir(t)
	for _, v := range []struct {
		name, modules string // where react and react-dom come from
	}{
		{"React19", "node_modules"},
		{"React18", "react/test/react18/node_modules"},
	} {
		t.Run(v.name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(web, v.modules, "react")); err != nil {
				t.Fatalf("%s/react is missing: run `npm ci --prefix web/%s` (make react does)", v.modules, filepath.Dir(v.modules))
			}
			testReactStrictMode(t, web, chromium, v.modules)
		})
	}
}

func testReactStrictMode(t *testing.T, web, chromium, modules string) {
	start := time.Now()

	// The page: bundled with esbuild, React's development build (StrictMode
	// double-runs effects only there), served from its own origin.
	dir := t.TempDir()
	build := exec.Command(filepath.Join(web, "node_modules", ".bin", "esbuild"), "react/test/page.tsx",
		"--bundle", "--format=esm", "--jsx=automatic", "--target=es2022", "--sourcemap",
		"--alias:react=./"+modules+"/react", "--alias:react-dom=./"+modules+"/react-dom",
		`--define:process.env.NODE_ENV="development"`, "--outfile="+filepath.Join(dir, "page.js"), "--log-level=warning")
	build.Dir = web
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, out)
	}
	html := `<!doctype html><html><head><meta charset="utf-8"><title>rallypoint react test</title>` +
		`<link rel="icon" href="data:,"></head><body><script type="module" src="page.js"></script></body></html>`
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(dir)))
	pages := httptest.NewServer(mux)
	defer pages.Close()

	_, srv, counter := serve(t, pages.URL, 20)
	mux.Handle("/counts", counter)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	lines, err := Run(ctx, web, []string{
		"RP_PAGE=" + pages.URL + "/?server=" + srv.URL,
		"RP_COUNTS=" + pages.URL + "/counts",
		"RP_CHROMIUM=" + chromium,
	}, t.Logf, "RESULT ", "node", "react/test/strictmode.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 {
		t.Fatalf("the script printed %d RESULT lines", len(lines))
	}
	var runs []reactRun
	if err := json.Unmarshal([]byte(lines[0]), &runs); err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2", len(runs))
	}
	for _, r := range runs {
		name := "React " + r.React + map[bool]string{false: ", without StrictMode", true: ", StrictMode"}[r.Strict]
		s := r.Server
		t.Logf("%s: %d mounts (%d played, %d unmounted while queued) in %.1f s: sockets at most %d open at once, %d after the last unmount (within %.0f ms; %d in all); "+
			"event streams at most %d, %d after (%d in all); mount effect runs %d; %d frames drawn, %d snapshots, %d HUD renders while playing; %d console errors",
			name, r.Cycles, r.ReachedPlaying, r.ReachedQueued, r.Ms/1000, s.WSMax, s.WSOpen, r.SettleMs, s.WSTotal, s.SSEMax, s.SSEOpen, s.SSETotal,
			r.EffectRuns, r.Frames, r.Snapshots, r.HudRendersPlaying, len(r.Errors))
		if r.Cycles != 20 {
			t.Errorf("%s: %d mounts, want 20", name, r.Cycles)
		}
		if s.WSMax > 1 || s.SSEMax > 1 {
			t.Errorf("%s: at most %d sockets and %d event streams open at once, want at most 1", name, s.WSMax, s.SSEMax)
		}
		if s.WSOpen != 0 || s.SSEOpen != 0 {
			t.Errorf("%s: %d sockets and %d event streams open after the last unmount, want 0", name, s.WSOpen, s.SSEOpen)
		}
		if s.WSTotal != r.ReachedPlaying {
			t.Errorf("%s: %d sockets for %d providers that played, want one each", name, s.WSTotal, r.ReachedPlaying)
		}
		if want := r.Cycles * map[bool]int{false: 1, true: 2}[r.Strict]; r.EffectRuns != want {
			t.Errorf("%s: the mount effect ran %d times, want %d", name, r.EffectRuns, want)
		}
		for i, n := range r.Leftovers {
			if n != 0 {
				t.Errorf("%s: client %d holds %d resources after its provider unmounted", name, i, n)
			}
		}
		if r.Frames == 0 || r.Snapshots == 0 {
			t.Errorf("%s: %d frames drawn, %d snapshots: the providers did not play", name, r.Frames, r.Snapshots)
		}
		if r.HudRendersPlaying > r.Snapshots/2 {
			t.Errorf("%s: the HUD rendered %d times for %d snapshots: hooks re-render per tick", name, r.HudRendersPlaying, r.Snapshots)
		}
		for _, e := range r.Errors {
			t.Errorf("%s: %s", name, e)
		}
	}
	t.Logf("%s took %.1f s", t.Name(), time.Since(start).Seconds())
}
