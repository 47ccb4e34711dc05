//go:build !race

package chaos_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/bots"
	"github.com/rallypoint/rallypoint/internal/testkit"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is the real cmd/server binary, running as its own process.
type server struct {
	cmd        *exec.Cmd
	base       string // http://host:port of the public listener
	admin      string // http://host:port of the admin listener
	dataDir    string
	mu         sync.Mutex
	stderr     bytes.Buffer // the log, capped
	exited     chan error
	panicLines int
}

func buildServer(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "rallypoint-server")
	cmd := exec.Command("go", "build", "-o", exe, "github.com/rallypoint/rallypoint/cmd/server")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the server: %v\n%s", err, out)
	}
	return exe
}

var addrRe = regexp.MustCompile(`"msg":"(rallypoint|admin) listening".*?"addr":"([^"]+)"`)

func startServer(t *testing.T, exe string, args ...string) *server {
	t.Helper()
	s := &server{dataDir: t.TempDir(), exited: make(chan error, 1)}
	s.cmd = exec.Command(exe, append([]string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-data-dir", s.dataDir}, args...)...)
	pipe, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan [2]string, 2)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if m := addrRe.FindStringSubmatch(line); m != nil {
				addrs <- [2]string{m[1], m[2]}
			}
			s.mu.Lock()
			if strings.Contains(line, "panic") {
				s.panicLines++
				fmt.Fprintln(&s.stderr, line)
			} else if s.stderr.Len() < 1<<20 {
				fmt.Fprintln(&s.stderr, line)
			}
			s.mu.Unlock()
		}
		s.exited <- s.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
	})
	for s.base == "" || s.admin == "" {
		select {
		case a := <-addrs:
			if a[0] == "admin" {
				s.admin = "http://" + a[1]
			} else {
				s.base = "http://" + a[1]
			}
		case err := <-s.exited:
			t.Fatalf("the server exited: %v\n%s", err, s.log())
		case <-time.After(30 * time.Second):
			t.Fatalf("the server did not start\n%s", s.log())
		}
	}
	return s
}

func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// cpu returns the server's user+system CPU time so far, and its RSS.
func (s *server) usage(t *testing.T) (cpu time.Duration, rss int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("reading the server's /proc stat: %v", err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	pages, _ := strconv.ParseInt(f[21], 10, 64)
	return time.Duration(ut+st) * time.Second / 100, pages * int64(os.Getpagesize())
}

// metric sums the samples of one metric family on /metrics whose labels
// contain every given label ("code=\"4007\"").
func (s *server) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(s.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
outer:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue outer
			}
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// runSwarm runs a swarm in the background; wait returns its summary.
func runSwarm(t *testing.T, ctx context.Context, cfg bots.Config) (sw *bots.Swarm, wait func() bots.Summary) {
	t.Helper()
	sw, err := bots.NewSwarm(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan bots.Summary, 1)
	go func() {
		sum, err := sw.Run(ctx)
		if err != nil && ctx.Err() == nil {
			t.Errorf("swarm %s: %v", cfg.NamePrefix, err)
		}
		done <- sum
	}()
	return sw, func() bots.Summary { return <-done }
}

// TestChaos: a few hundred bots play while a chaos driver cuts a tenth of
// them and more, sends garbage and oversized frames, floods inputs, pings
// and fragments, holds half-open and no-Hello sockets, stops reading on
// some sockets, and ends with a SIGTERM drain. Asserted: no panic; no
// goroutine leak here (goleak); every cut bot resumes its seat within the
// grace period; well-behaved bots' snapshot gap p99 stays within 1.5x of a
// calm run; the server's CPU and RSS stay bounded; every match has a
// result in the results log; the metrics counted what happened.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos test takes about a minute")
	}
	exe := buildServer(t)
	srv := startServer(t, exe, "-grace", "10s", "-drain-timeout", "2s", "-match-time", "15s", "-log-level", "info")

	// Calm: 200 well-behaved bots, 100 of them measured.
	const n = 100
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calmCfg := bots.Config{Server: srv.base, Bots: n, Mode: "arena", Ramp: 100, Duration: 12 * time.Second, MeasureAfter: 5 * time.Second, NamePrefix: "calm", Seed: 1}
	calmSw, calmWait := runSwarm(t, ctx, calmCfg)
	extraCfg := calmCfg
	extraCfg.NamePrefix, extraCfg.Seed = "calm-extra", 2
	extraSw, extraWait := runSwarm(t, ctx, extraCfg)
	time.Sleep(5 * time.Second) // the ramp and the warm-up, as MeasureAfter
	cpu0, _ := srv.usage(t)
	t0 := time.Now()
	calm := calmWait()
	cpuCalm := rate(srv.usage(t))(cpu0, t0)
	extraWait()
	t.Logf("calm: %d bots measured, snapshot gap p99 %.1f ms, server CPU %.2f cores", calm.Bots, calm.SnapshotGapMS.P99, cpuCalm)

	// Chaos: 100 well-behaved (measured) + 100 faulty bots + the driver.
	goodCfg := bots.Config{Server: srv.base, Bots: n, Mode: "arena", Ramp: 100, Duration: 25 * time.Second, MeasureAfter: 6 * time.Second, NamePrefix: "good", Seed: 3}
	goodSw, goodWait := runSwarm(t, ctx, goodCfg)
	badCfg := bots.Config{Server: srv.base, Bots: n, Mode: "arena", Ramp: 100, Duration: 25 * time.Second, NamePrefix: "bad", Seed: 4,
		Faults: bots.Faults{Drop: 0.3, Stall: 0.1, Garbage: 0.1, FaultDelay: 2 * time.Second}}
	badSw, badWait := runSwarm(t, ctx, badCfg)
	time.Sleep(4 * time.Second)
	cpu1, _ := srv.usage(t)
	t1 := time.Now()
	d := &driver{t: t, base: srv.base}
	attacks := d.run(ctx)
	var peakRSS int64
	for time.Since(t1) < 15*time.Second {
		_, rss := srv.usage(t)
		peakRSS = max(peakRSS, rss)
		time.Sleep(time.Second)
	}
	cpuChaos := rate(srv.usage(t))(cpu1, t1)
	good, bad := goodWait(), badWait()
	if err := attacks(); err != nil {
		t.Error(err)
	}
	t.Logf("chaos: snapshot gap p99 %.1f ms (calm %.1f), server CPU %.2f cores (calm %.2f), peak RSS %d MB", good.SnapshotGapMS.P99, calm.SnapshotGapMS.P99, cpuChaos, cpuCalm, peakRSS>>20)
	t.Logf("faulty bots: %+v, reconnects %d, disconnects %d", bad.Faults, bad.Reconnects, bad.Disconnects)
	t.Logf("driver: %s", d.report())

	// Every cut bot resumed its seat (within the grace period, or the
	// server would have answered 4010 and the bot counted no reconnect).
	if bad.Faults.Drops == 0 || bad.Reconnects < bad.Faults.Drops {
		t.Errorf("%d connections cut, %d seats resumed: every cut bot must resume", bad.Faults.Drops, bad.Reconnects)
	}
	if good.SnapshotGapMS.P99 > 1.5*max(calm.SnapshotGapMS.P99, 34) {
		t.Errorf("well-behaved bots' snapshot gap p99 %.1f ms under chaos, calm %.1f ms: more than 1.5x", good.SnapshotGapMS.P99, calm.SnapshotGapMS.P99)
	}
	if good.Disconnects != 0 {
		t.Errorf("%d well-behaved bots lost their connection", good.Disconnects)
	}
	// Bounded: the floods cost no more than a fraction of a core over the
	// calm run's (the same number of bots), and memory stays small.
	if cpuChaos > cpuCalm+0.5 {
		t.Errorf("server CPU %.2f cores under chaos, %.2f calm: an attacker is burning CPU", cpuChaos, cpuCalm)
	}
	if peakRSS > 512<<20 {
		t.Errorf("server RSS peaked at %d MB", peakRSS>>20)
	}

	// The metrics counted what happened.
	checks := []struct {
		what string
		got  float64
		min  float64
	}{
		{"floods closed with 4007", srv.metric(t, "rallypoint_close_codes_sent_total", `code="4007"`), float64(d.floods)},
		{"garbage closed with 4006", srv.metric(t, "rallypoint_close_codes_sent_total", `code="4006"`), float64(d.fragments + int(bad.Faults.GarbageCloses))},
		{"oversized frames closed with 1009", srv.metric(t, "rallypoint_close_codes_sent_total", `code="1009"`), float64(d.oversized)},
		{"no-Hello sockets evicted", srv.metric(t, "rallypoint_connections_evicted_total"), float64(max(0, d.upgraded-256))},
		{"seats resumed", srv.metric(t, "rallypoint_reconnects_total", `kind="resumed"`), float64(bad.Reconnects)},
	}
	for _, c := range checks {
		if c.got < c.min {
			t.Errorf("metrics: %s = %v, want at least %v", c.what, c.got, c.min)
		}
	}
	if p := srv.metric(t, "rallypoint_panics_total") + srv.metric(t, "rallypoint_match_crashes_total"); p != 0 {
		t.Errorf("%v panics or crashed matches", p)
	}

	// SIGTERM: the drain, then every match ends with a result.
	var matches []string
	for _, sw := range []*bots.Swarm{calmSw, extraSw, goodSw, badSw} {
		matches = append(matches, sw.MatchIDs()...)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-srv.exited:
		if err != nil {
			t.Errorf("the server exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not exit after SIGTERM")
	}
	if srv.panicLines != 0 {
		t.Errorf("the server logged %d panics:\n%s", srv.panicLines, srv.log())
	}
	logged := results(t, srv.dataDir)
	missing := 0
	for _, id := range matches {
		if _, ok := logged[id]; !ok {
			missing++
		}
	}
	if missing != 0 {
		t.Errorf("%d of %d matches have no result in the results log", missing, len(matches))
	}
	t.Logf("%d matches, all with results: %v", len(matches), reasons(logged))
	http.DefaultClient.CloseIdleConnections()
}

// rate turns (cpu, rss) now and (cpu, time) before into cores used.
func rate(cpu time.Duration, _ int64) func(time.Duration, time.Time) float64 {
	return func(cpu0 time.Duration, t0 time.Time) float64 {
		return float64(cpu-cpu0) / float64(time.Since(t0))
	}
}

func results(t *testing.T, dir string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := make(map[string]string)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r struct{ ID, Reason string }
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			out[r.ID] = r.Reason
		}
	}
	return out
}

func reasons(m map[string]string) map[string]int {
	out := make(map[string]int)
	for _, r := range m {
		out[r]++
	}
	return out
}

// driver is the chaos driver's attacks beyond what the faulty bots do.
type driver struct {
	t    *testing.T
	base string

	mu                                   sync.Mutex
	floods, fragments, oversized         int // seated sockets closed as expected
	refused, upgraded, halfOpen, silence int
	errs                                 []string
}

func (d *driver) report() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Sprintf("floods closed %d, fragment floods closed %d, oversized closed %d, no-Hello sockets upgraded %d and refused %d, half-open sockets closed %d",
		d.floods, d.fragments, d.oversized, d.upgraded, d.refused, d.halfOpen)
}

func (d *driver) fail(format string, args ...any) {
	d.mu.Lock()
	d.errs = append(d.errs, fmt.Sprintf(format, args...))
	d.mu.Unlock()
}

// run starts every attack; the returned wait reports what went wrong.
func (d *driver) run(ctx context.Context) (wait func() error) {
	var wg sync.WaitGroup
	attack := func(n int, f func(i int)) {
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); f(i) }()
		}
	}
	ping := testkit.Frame(0x9, true, []byte("x"))
	attack(4, func(int) { // input floods
		w := d.seated(ctx)
		if w == nil {
			return
		}
		in := testkit.Frame(0x2, true, wire.AppendInput(nil, wire.Input{Seq: 1, DX: 1}))
		d.expect(w, wire.CodeRateLimited, repeat(in, 3000), &d.floods)
	})
	attack(4, func(int) { // ping floods
		w := d.seated(ctx)
		if w == nil {
			return
		}
		d.expect(w, wire.CodeRateLimited, repeat(ping, 3000), &d.floods)
	})
	attack(4, func(int) { // a message held open with empty fragments
		w := d.seated(ctx)
		if w == nil {
			return
		}
		fs := append([][]byte{testkit.Frame(0x2, false, []byte{0x99})}, repeat(testkit.Frame(0x0, false, nil), 3000)...)
		d.expect(w, wire.CodeMalformed, fs, &d.fragments)
	})
	attack(4, func(int) { // oversized frames
		w := d.seated(ctx)
		if w == nil {
			return
		}
		d.expect(w, wire.CodeTooLarge, [][]byte{testkit.Frame(0x2, true, make([]byte, 4<<10))}, &d.oversized)
	})
	attack(1, func(int) { // 300 sockets that never say Hello
		var socks []*testkit.RawWS
		for range 300 {
			w, status := testkit.DialRaw(d.base, "")
			switch {
			case w != nil:
				socks = append(socks, w)
			case status == http.StatusTooManyRequests:
				d.mu.Lock()
				d.refused++
				d.mu.Unlock()
			}
		}
		d.mu.Lock()
		d.upgraded = len(socks)
		d.mu.Unlock()
		for _, w := range socks { // the server gives up on them (4005)
			if code, _ := w.Closed(10 * time.Second); code != wire.CodeHandshakeTimeout {
				d.fail("a no-Hello socket closed with %d, want %d", code, wire.CodeHandshakeTimeout)
			}
			w.Conn.Close()
		}
	})
	attack(20, func(int) { // half-open: a request that never ends
		conn, err := net.Dial("tcp", strings.TrimPrefix(d.base, "http://"))
		if err != nil {
			d.fail("half-open dial: %v", err)
			return
		}
		defer conn.Close()
		_, _ = conn.Write([]byte("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websock"))
		_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		if _, err := io.Copy(io.Discard, conn); err != nil {
			d.fail("a half-open request was not closed by the server: %v", err)
			return
		}
		d.mu.Lock()
		d.halfOpen++
		d.mu.Unlock()
	})
	return func() error {
		wg.Wait()
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.errs) > 0 {
			return fmt.Errorf("chaos driver: %s", strings.Join(d.errs, "; "))
		}
		return nil
	}
}

// seated signs in, queues for the arena and opens a seated socket.
func (d *driver) seated(ctx context.Context) *testkit.RawWS {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	lc := bots.NewLobbyClient(d.base, nil)
	s, err := lc.Guest(ctx, "chaos")
	if err == nil {
		var ticket string
		if ticket, err = lc.Queue(ctx, s.SessionToken, "arena"); err == nil {
			var as bots.Assignment
			if as, err = lc.WaitMatched(ctx, s.SessionToken, ticket); err == nil {
				w, status := testkit.DialRaw(d.base, as.MatchID)
				if w == nil {
					err = fmt.Errorf("upgrade: HTTP %d", status)
				} else if err = w.Send(testkit.Frame(0x2, true, wire.AppendHello(nil, wire.Hello{Version: wire.ProtocolVersion, Token: as.Token}))); err == nil {
					return w
				}
			}
		}
	}
	d.fail("getting a seat: %v", err)
	return nil
}

func (d *driver) expect(w *testkit.RawWS, code uint16, frames [][]byte, count *int) {
	defer w.Conn.Close()
	go func() { _ = w.Send(frames...) }() // stops when the server closes
	got, _ := w.Closed(10 * time.Second)
	if got != code {
		d.fail("closed with %d, want %d", got, code)
		return
	}
	d.mu.Lock()
	*count++
	d.mu.Unlock()
}

func repeat(f []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = f
	}
	return out
}
