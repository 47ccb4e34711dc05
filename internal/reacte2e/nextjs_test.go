//go:build !race

package reacte2e

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nextRun is what web/examples/nextjs/test/e2e.mjs reports.
type nextRun struct {
	SignedIn      string   `json:"signedIn"`
	QueueTexts    []string `json:"queueTexts"`
	Moved         float64  `json:"moved"`
	Score         string   `json:"score"`
	ScoreBack     string   `json:"scoreBack"`
	QueuedStreams *Counts  `json:"queuedStreams"`
	QueuedAway    *Counts  `json:"queuedAway"`
	QueuedAwayMs  float64  `json:"queuedAwayMs"`
	Playing       *Counts  `json:"playing"`
	Away          *Counts  `json:"away"`
	AwayMs        float64  `json:"awayMs"`
	Back          *Counts  `json:"back"`
	Errors        []string `json:"errors"`
}

// TestNextjsExample builds the Next.js example (next build), starts it
// (next start) on a loopback port with the in-process server's URL in
// RALLYPOINT_URL, and plays it in Chromium: sign in as a guest, Play, the
// queue's status, matched with bots, playing (the avatar moves), away to a
// page without the provider (the server must count the socket and the
// event stream closed) and back (one new socket, into the same seat).
func TestNextjsExample(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := testkit.Chromium(t)
	web := webDir(t)
	example := filepath.Join(web, "examples", "nextjs")
	if _, err := os.Stat(filepath.Join(example, "node_modules", "next")); err != nil {
		t.Fatal("web/examples/nextjs/node_modules/next is missing: run `npm ci --prefix web/examples/nextjs` (make react does)")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	next := filepath.Join(example, "node_modules", "next", "dist", "bin", "next")
	env := []string{"NEXT_TELEMETRY_DISABLED=1"}

	// next build (the production build, once per run; nothing is cached in git).
	if os.Getenv("RP_NEXT_SKIP_BUILD") == "" {
		if _, err := Run(ctx, example, env, t.Logf, "", "node", next, "build"); err != nil {
			t.Fatal(err)
		}
	}
	buildTime := time.Since(start)

	port := freePort(t)
	origin := fmt.Sprintf("http://127.0.0.1:%d", port)
	_, srv, counter := serve(t, origin, 120)
	counts := httptest.NewServer(counter)
	defer counts.Close()

	// next start, as its own process group so its workers stop with it.
	cmd := exec.Command("node", next, "start", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Dir = example
	cmd.Env = append(os.Environ(), append(env, "RALLYPOINT_URL="+srv.URL, "NODE_ENV=production")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := http.Get(origin + "/about")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("next start exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("next start did not answer within 60 s:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	shot := ""
	if d, err := filepath.Abs(filepath.Join(web, "artifacts")); err == nil && os.MkdirAll(d, 0o755) == nil {
		shot = filepath.Join(d, "nextjs-game.png")
	}
	lines, err := Run(ctx, example, []string{
		"RP_NEXT=" + origin,
		"RP_COUNTS=" + counts.URL,
		"RP_CHROMIUM=" + chromium,
		"RP_SCREENSHOT=" + shot,
	}, t.Logf, "RESULT ", "node", "test/e2e.mjs")
	if len(lines) != 1 {
		t.Fatalf("browser run: %v (%d RESULT lines)\nnext start:\n%s", err, len(lines), tail(out.String(), 4000))
	}
	var r nextRun
	if jerr := json.Unmarshal([]byte(lines[0]), &r); jerr != nil {
		t.Fatal(jerr)
	}
	if err != nil {
		t.Fatalf("browser run: %v\nnext start:\n%s", err, tail(out.String(), 4000))
	}
	t.Logf("next build %.1f s; whole test %.1f s", buildTime.Seconds(), time.Since(start).Seconds())
	t.Logf("queued, then away (/about): event streams open %d while queued, %d (sockets %d) %.0f ms after the click",
		r.QueuedStreams.SSEOpen, r.QueuedAway.SSEOpen, r.QueuedAway.WSOpen, r.QueuedAwayMs)
	t.Logf("queue as shown: %q", r.QueueTexts)
	t.Logf("playing: sockets open %d (at most %d, %d in all), event streams open %d (at most %d, %d in all); moved %.1f units; %s",
		r.Playing.WSOpen, r.Playing.WSMax, r.Playing.WSTotal, r.Playing.SSEOpen, r.Playing.SSEMax, r.Playing.SSETotal, r.Moved, r.Score)
	t.Logf("away (/about): sockets open %d, event streams open %d, %.0f ms after the click", r.Away.WSOpen, r.Away.SSEOpen, r.AwayMs)
	t.Logf("back (/game): sockets open %d (at most %d at once over the whole run, %d in all), event streams at most %d (%d in all); %s",
		r.Back.WSOpen, r.Back.WSMax, r.Back.WSTotal, r.Back.SSEMax, r.Back.SSETotal, r.ScoreBack)

	if q := r.QueuedAway; q.SSEOpen != 0 || q.WSOpen != 0 || q.SSEMax > 1 || q.WSTotal != 0 {
		t.Errorf("queued, then away: %+v, want the one stream closed and no socket", *q)
	}
	if !strings.Contains(r.SignedIn, "nextjs") {
		t.Errorf("signed in as %q", r.SignedIn)
	}
	queued := false
	for _, q := range r.QueueTexts {
		queued = queued || strings.HasPrefix(q, "queued: #")
	}
	if !queued {
		t.Errorf("the lobby never showed the queue position: %q", r.QueueTexts)
	}
	if p := r.Playing; p.WSOpen != 1 || p.WSTotal != 1 || p.SSETotal < 1 || p.SSEOpen != 0 {
		t.Errorf("while playing: %+v, want one socket open (one in all), at least one event stream in all and none open", *p)
	}
	if r.Moved <= 0 {
		t.Errorf("the avatar did not move while arrow keys were held (%.1f units)", r.Moved)
	}
	if a := r.Away; a.WSOpen != 0 || a.SSEOpen != 0 || a.WSTotal != 1 {
		t.Errorf("away: %+v, want nothing open", *a)
	}
	if b := r.Back; b.WSOpen != 1 || b.WSTotal != 2 || b.WSMax > 1 || b.SSEMax > 1 {
		t.Errorf("back: %+v, want one new socket (two in all, never two at once)", *b)
	}
	if !strings.Contains(r.ScoreBack, fmt.Sprintf("entity %s", entityOf(r.Score))) {
		t.Errorf("back in another seat: %q, before %q", r.ScoreBack, r.Score)
	}
	for _, e := range r.Errors {
		t.Errorf("console: %s", e)
	}
}

// entityOf is N of "entity N · ..." in the game page's score line.
func entityOf(score string) string {
	f := strings.Fields(score)
	if len(f) > 1 && f[0] == "entity" {
		return f[1]
	}
	return "?"
}

// freePort returns a loopback port that was free a moment ago (next start takes a port number).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
