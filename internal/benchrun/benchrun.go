// Package benchrun runs the arena-8x32 benchmark scenario
// (shared/bench/arena-8x32.md) for real: each server configuration and its
// load generator as separate processes on this machine, one point per
// configuration, client count and interest radius, measuring the server's
// CPU and memory from /proc and the clients' view from the load
// generator's JSON summary. It is for measurement, never pass/fail.
package benchrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config describes how a run measures.
type Config struct {
	Warmup, Window time.Duration // steady window after warm-up
	Ramp           int           // new bots per second
	RampSlack      time.Duration // time given to join beyond the ramp itself; if zero, 5 s
	Out            string        // results file (JSON lines), appended
	ProfileDir     string        // if set, a CPU profile of each Rallypoint server point
	NoMetrics      bool          // run Rallypoint servers with -admin-addr "" (no metrics kept); else their admin listener is scraped every 15 s, as Prometheus would
	FloorLoops     int           // goroutines of the floor's load; if zero, 2
	FloorPhases    int           // groups the floor's load spreads each tick's inputs over; if zero, as cmd/bots (4 per CPU)
	RunID          string        // groups one invocation's points in the results file
	Log            io.Writer     // progress
}

// Point is one measured configuration, client count and radius: one JSON
// line in the results file.
type Point struct {
	Scenario               string   `json:"scenario"`
	Run                    string   `json:"run"`    // the invocation this point belongs to
	Config                 string   `json:"config"` // base, loop, tick, null-loop, null-tick, floor
	Server                 string   `json:"server"` // what the server was built from
	ServerArgs             []string `json:"server_args,omitempty"`
	Loadgen                string   `json:"loadgen"` // cmd/bots or floor-load
	Time                   string   `json:"time"`
	Clients                int      `json:"clients"`
	Connected              int      `json:"connected"`
	Hz                     int      `json:"hz"`
	Interest               float64  `json:"interest"`
	WindowS                float64  `json:"window_s"`
	ServerCPUUsPerClientT  float64  `json:"server_cpu_us_per_client_tick"`
	ServerCPUPct           float64  `json:"server_cpu_pct"`
	ServerRSSKBPerClient   float64  `json:"server_rss_kb_per_client"`
	DownBytesPerClientS    float64  `json:"down_bytes_per_client_s"`
	DownWireBytesPerCS     float64  `json:"down_wire_bytes_per_client_s"`
	UpBytesPerClientS      float64  `json:"up_bytes_per_client_s"`
	TickRateMin            float64  `json:"tick_rate_min"`
	TickRateAvg            float64  `json:"tick_rate_avg"`
	GapP50Ms               float64  `json:"snapshot_gap_p50_ms"`
	GapP99Ms               float64  `json:"snapshot_gap_p99_ms"`
	GapMaxMs               float64  `json:"snapshot_gap_max_ms"`
	LoadgenCPUPct          float64  `json:"loadgen_cpu_pct"`
	LoadgenCPUUsPerClientT float64  `json:"loadgen_cpu_us_per_client_tick"`
	MachineBusyPct         float64  `json:"machine_busy_pct"`
	Matches                int      `json:"matches"`
	Errors                 int      `json:"errors"`
	Saturated              bool     `json:"saturated"`
	Metrics                bool     `json:"metrics"` // metrics kept and scraped every 15 s
	Notes                  []string `json:"notes,omitempty"`
}

// Failure is a job that could not be measured.
type Failure struct {
	Job Job
	Err error
}

// RunPlan measures every job in order and appends each point to cfg.Out
// as it is measured, printing a row to cfg.Log. A target that fails is
// skipped for the rest of the run (its failure is returned, the others
// carry on); a target that saturates the machine at some client count is
// not run at higher counts for that radius and rate. It stops early only
// when ctx ends.
func RunPlan(ctx context.Context, cfg Config, targets []Target, jobs []Job) ([]Point, []Failure) {
	byName := make(map[string]Target, len(targets))
	for _, t := range targets {
		byName[t.Name] = t
	}
	tr := newTracker()
	var points []Point
	var failures []Failure
	for i, j := range jobs {
		if ctx.Err() != nil {
			failures = append(failures, Failure{j, ctx.Err()})
			break
		}
		t, ok := byName[j.Target]
		if !ok {
			failures = append(failures, Failure{j, fmt.Errorf("no target %q", j.Target)})
			continue
		}
		if why, skip := tr.skip(j); skip {
			if why != "" {
				fmt.Fprintf(cfg.Log, "%-9s %7d  skipped: %s\n", j.Target, j.Clients, why)
			}
			continue
		}
		fmt.Fprintf(cfg.Log, "# [%d/%d] %s\n", i+1, len(jobs), j)
		p, err := runPoint(ctx, cfg, t, j)
		tr.record(j, p, err)
		if err != nil {
			failures = append(failures, Failure{j, err})
			fmt.Fprintf(cfg.Log, "%-9s %7d  FAILED: %v\n", j.Target, j.Clients, err)
			continue
		}
		points = append(points, p)
		if err := appendJSON(cfg.Out, p); err != nil {
			failures = append(failures, Failure{j, err})
		}
		fmt.Fprintln(cfg.Log, Row(p))
	}
	return points, failures
}

// tracker decides which jobs of a run are still worth running: none of a
// target that failed once, and none at a higher client count for a
// target, rate and radius that saturated the machine.
type tracker struct {
	failed    map[string]bool
	saturated map[satKey]int // lowest saturating client count
}

type satKey struct {
	target   string
	hz       int
	interest float64
}

func newTracker() *tracker {
	return &tracker{failed: make(map[string]bool), saturated: make(map[satKey]int)}
}

// skip says whether to skip j, and why ("" for a failed target, whose
// failure was reported already).
func (t *tracker) skip(j Job) (string, bool) {
	if t.failed[j.Target] {
		return "", true
	}
	if n, ok := t.saturated[satKey{j.Target, j.Hz, j.Interest}]; ok && j.Clients > n {
		return fmt.Sprintf("saturated at %d clients", n), true
	}
	return "", false
}

// record notes how j went.
func (t *tracker) record(j Job, p Point, err error) {
	if err != nil {
		t.failed[j.Target] = true
		return
	}
	if p.Saturated {
		k := satKey{j.Target, j.Hz, j.Interest}
		if n, ok := t.saturated[k]; !ok || j.Clients < n {
			t.saturated[k] = j.Clients
		}
	}
}

func appendJSON(path string, p Point) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(p)
	_, err = f.Write(append(b, '\n'))
	return errors.Join(err, f.Close())
}

// scrape reads url every interval until ctx ends, as a Prometheus server
// would, so a measured point includes the cost of exporting the metrics.
func scrape(ctx context.Context, url string, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail keeps the last bytes written to it (a process's stderr).
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 4 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	return len(p), nil
}

// reason picks the line of a dead process's stderr that says why: a
// panic or fatal error if there is one, else the last line (where a Go
// main prints its error, after any usage text).
func (t *tail) reason() string {
	lines := strings.Split(t.lastLines(1<<10), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return l
		}
	}
	return lines[len(lines)-1]
}

// lastLines returns up to n of the last lines, trimmed.
func (t *tail) lastLines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.buf)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// proc is a started child process.
type proc struct {
	cmd    *exec.Cmd
	stderr tail
	done   chan struct{} // closed when it has exited
	err    error         // its exit status, once done
}

func start(ctx context.Context, argv []string, stdout io.Writer) (*proc, error) {
	p := &proc{cmd: exec.CommandContext(ctx, argv[0], argv[1:]...), done: make(chan struct{})}
	p.cmd.Stdout = stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited says why the process is gone, in its own words where it left
// some on stderr.
func (p *proc) exited(what string) error {
	msg := fmt.Sprintf("%s exited: %v", what, p.err)
	if s := p.stderr.reason(); s != "" {
		msg += ": " + s
	}
	return errors.New(msg)
}

// stop interrupts the process and waits up to grace before killing it.
func (p *proc) stop(grace time.Duration) (killed bool) {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
		return false
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return true
	}
}

// launch is how a point starts its server and load.
type launch struct {
	server []string // argv
	stats  string   // base URL of /healthz and /v1/matches
	load   func(n int, hz int, duration, measureAfter time.Duration) []string
	name   string // the load generator, for the results
}

func launchFor(cfg Config, t Target, j Job) (launch, func(), error) {
	port, err := freePort()
	if err != nil {
		return launch{}, nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	noop := func() {}
	if t.Kind == KindFloor {
		sport, err := freePort()
		if err != nil {
			return launch{}, nil, err
		}
		stats := fmt.Sprintf("127.0.0.1:%d", sport)
		loops := cfg.FloorLoops
		if loops == 0 {
			loops = 2
		}
		server := append(append([]string(nil), t.Server...), "-addr", addr, "-stats-addr", stats, "-hz", strconv.Itoa(j.Hz))
		if cfg.ProfileDir != "" {
			server = append(server, "-cpu-profile", profilePath(cfg, t, j))
		}
		return launch{
			server: server,
			stats:  "http://" + stats,
			name:   "floor-load",
			load: func(n, hz int, duration, measureAfter time.Duration) []string {
				return append(append([]string(nil), t.Load...), "-addr", addr, "-conns", strconv.Itoa(n), "-hz", strconv.Itoa(hz),
					"-loops", strconv.Itoa(loops), "-phases", strconv.Itoa(cfg.FloorPhases),
					"-duration", duration.String(), "-measure-after", measureAfter.String())
			},
		}, noop, nil
	}
	base := "http://" + addr
	args := append(append([]string(nil), t.Server...), "-addr", addr, "-hz", strconv.Itoa(j.Hz),
		"-interest", fmt.Sprint(j.Interest), "-data-dir", "", "-log-level", "error", "-drain-timeout", "1s",
		"-bot-fill", "-1s", "-rate-limit", "100000", "-rate-burst", "100000")
	stopScrape := noop
	if cfg.NoMetrics {
		args = append(args, "-admin-addr", "")
	} else {
		adminPort, err := freePort()
		if err != nil {
			return launch{}, nil, err
		}
		admin := fmt.Sprintf("127.0.0.1:%d", adminPort)
		args = append(args, "-admin-addr", admin)
		sctx, cancel := context.WithCancel(context.Background())
		go scrape(sctx, "http://"+admin+"/metrics", 15*time.Second)
		stopScrape = cancel
	}
	if cfg.ProfileDir != "" {
		args = append(args, "-cpu-profile", profilePath(cfg, t, j))
	}
	args = append(args, t.ServerArgs...)
	return launch{
		server: args,
		stats:  base,
		name:   "cmd/bots",
		load: func(n, hz int, duration, measureAfter time.Duration) []string {
			return append(append([]string(nil), t.Load...), "-server", base, "-bots", strconv.Itoa(n), "-mode", "bench",
				"-brain", "wander", "-hz", strconv.Itoa(hz), "-ramp", strconv.Itoa(cfg.Ramp),
				"-duration", duration.String(), "-json", "-max-errors", strconv.Itoa(n), "-measure-after", measureAfter.String())
		},
	}, stopScrape, nil
}

func profilePath(cfg Config, t Target, j Job) string {
	return filepath.Join(cfg.ProfileDir, fmt.Sprintf("server-%s-%dhz-i%.0f-%d.pprof", t.Name, j.Hz, j.Interest, j.Clients))
}

func (c Config) rampSlack() time.Duration {
	if c.RampSlack == 0 {
		return 5 * time.Second
	}
	return c.RampSlack
}

func runPoint(ctx context.Context, cfg Config, t Target, j Job) (Point, error) {
	n := j.Clients
	p := Point{Scenario: "arena-8x32", Run: cfg.RunID, Config: t.Name, Server: t.Rev, ServerArgs: t.ServerArgs,
		Time: time.Now().UTC().Format(time.RFC3339), Clients: n, Hz: j.Hz, Interest: j.Interest,
		WindowS: cfg.Window.Seconds(), Metrics: t.Kind == KindRallypoint && !cfg.NoMetrics}
	l, stopScrape, err := launchFor(cfg, t, j)
	if err != nil {
		return p, err
	}
	defer stopScrape()
	p.Loadgen = l.name
	srv, err := start(ctx, l.server, io.Discard)
	if err != nil {
		return p, fmt.Errorf("server: %w", err)
	}
	defer srv.stop(15 * time.Second)
	if err := waitHealthy(ctx, l.stats, srv); err != nil {
		return p, err
	}
	rss0, err := vmRSS(srv.pid())
	if err != nil {
		return p, err
	}

	ramp := rampTime(n, cfg.Ramp) + cfg.rampSlack()
	measureAfter := ramp + cfg.Warmup
	// The load's own duration is a fallback: it is interrupted right
	// after the window.
	var out bytes.Buffer
	load, err := start(ctx, l.load(n, j.Hz, measureAfter+cfg.Window+30*time.Second, measureAfter), &out)
	if err != nil {
		return p, fmt.Errorf("load: %w", err)
	}
	loadStarted := time.Now()
	defer load.stop(30 * time.Second)

	// A fixed schedule: the ramp plus its slack, the warm-up, then the
	// window, which the load (told -measure-after) starts measuring at the
	// same moment. Clients that have not joined by then show as
	// connected < clients.
	sleepCtx(ctx, time.Until(loadStarted.Add(measureAfter)))
	for _, pr := range []struct {
		p    *proc
		what string
	}{{srv, "server"}, {load, "load generator"}} {
		select {
		case <-pr.p.done:
			return p, pr.p.exited(pr.what)
		default:
		}
	}
	h0, _ := health(l.stats)
	cpu0, err0 := procCPU(srv.pid())
	lg0, err1 := procCPU(load.pid())
	busy0, idle0, err2 := machineCPU()
	ticks0, _ := matchTicks(l.stats)
	t0 := time.Now()
	sleepCtx(ctx, cfg.Window)
	cpu1, err3 := procCPU(srv.pid())
	lg1, err4 := procCPU(load.pid())
	busy1, idle1, err5 := machineCPU()
	ticks1, _ := matchTicks(l.stats)
	el := time.Since(t0).Seconds()
	rss1, err6 := vmRSS(srv.pid())
	h1, _ := health(l.stats)
	if err := errors.Join(ctx.Err(), err0, err1, err2, err3, err4, err5, err6); err != nil {
		return p, err
	}
	p.Connected = int(min(h0.Connections, h1.Connections))

	clk := float64(clockTicks)
	p.ServerCPUPct = 100 * float64(cpu1-cpu0) / clk / el
	p.LoadgenCPUPct = 100 * float64(lg1-lg0) / clk / el
	if p.Connected > 0 {
		p.ServerCPUUsPerClientT = perClientTick(cpu1-cpu0, p.Connected, j.Hz, el)
		p.LoadgenCPUUsPerClientT = perClientTick(lg1-lg0, p.Connected, j.Hz, el)
		p.ServerRSSKBPerClient = float64(rss1-rss0) / float64(p.Connected)
	}
	if d := (busy1 - busy0) + (idle1 - idle0); d > 0 {
		p.MachineBusyPct = 100 * float64(busy1-busy0) / float64(d)
	}
	p.Matches, p.TickRateMin, p.TickRateAvg = tickRates(ticks0, ticks1, el)
	if p.Matches == 0 {
		p.Notes = append(p.Notes, "no match ticks reported")
	}

	// Stop the load now: its summary covers the same window.
	if load.stop(30 * time.Second) {
		p.Notes = append(p.Notes, "load generator killed after 30 s")
	} else if load.err != nil {
		p.Notes = append(p.Notes, "load generator: "+load.err.Error())
	}
	var sum summary
	if line := lastLine(out.Bytes()); len(line) > 0 {
		if err := json.Unmarshal(line, &sum); err != nil {
			p.Notes = append(p.Notes, "load summary: "+err.Error())
		}
	} else {
		p.Notes = append(p.Notes, "no load summary: "+load.stderr.lastLines(1))
	}
	p.DownBytesPerClientS = sum.DownBytesPerBotS
	p.DownWireBytesPerCS = sum.DownWireBytesPerBotS
	p.UpBytesPerClientS = sum.UpBytesPerBotS
	p.GapP50Ms, p.GapP99Ms, p.GapMaxMs = sum.Gap.P50, sum.Gap.P99, sum.Gap.Max
	p.Errors = sum.Errors
	if s := srv.stderr.lastLines(1); s != "" {
		p.Notes = append(p.Notes, "server stderr: "+s)
	}
	p.Saturated = saturated(p)
	return p, nil
}

// perClientTick turns CPU clock ticks over el seconds into microseconds
// per client per tick.
func perClientTick(cpu uint64, clients, hz int, el float64) float64 {
	if clients <= 0 || hz <= 0 || el <= 0 {
		return 0
	}
	return float64(cpu) / clockTicks * 1e6 / (float64(clients) * float64(hz) * el)
}

// tickRates compares two readings of the matches' ticks el seconds apart.
func tickRates(t0, t1 map[string]uint32, el float64) (matches int, minRate, avg float64) {
	if el <= 0 {
		return 0, 0, 0
	}
	var sum float64
	for id, b := range t1 {
		a, ok := t0[id]
		if !ok {
			continue
		}
		rate := float64(b-a) / el
		if matches == 0 || rate < minRate {
			minRate = rate
		}
		sum += rate
		matches++
	}
	if matches > 0 {
		avg = sum / float64(matches)
	}
	return matches, minRate, avg
}

// saturated says whether a point ran out of machine: the CPU was busy, the
// ticks fell behind, snapshots came late, or clients failed to connect.
func saturated(p Point) bool {
	return p.MachineBusyPct > 95 || (p.Matches > 0 && p.TickRateMin < 0.95*float64(p.Hz)) ||
		p.GapP99Ms > 100 || p.Connected < p.Clients*95/100
}

// summary is the part of cmd/bots -json (and floor-load) output the bench
// reads.
type summary struct {
	ConnectErrors        int     `json:"connect_errors"`
	Errors               int     `json:"errors"`
	DownBytesPerBotS     float64 `json:"down_bytes_per_bot_s"`
	DownWireBytesPerBotS float64 `json:"down_wire_bytes_per_bot_s"`
	UpBytesPerBotS       float64 `json:"up_bytes_per_bot_s"`
	Gap                  struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	} `json:"snapshot_gap_ms"`
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

type healthz struct {
	Connections int64 `json:"connections"`
	Matches     int   `json:"matches"`
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

func health(base string) (healthz, error) {
	var h healthz
	resp, err := httpClient.Get(base + "/healthz")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	return h, json.NewDecoder(resp.Body).Decode(&h)
}

// waitHealthy waits for the server to answer /healthz, failing at once if
// it exits (a flag it does not know, a port taken).
func waitHealthy(ctx context.Context, base string, srv *proc) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-srv.done:
			return srv.exited("server")
		default:
		}
		if _, err := health(base); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
	return errors.New("server did not become healthy in 30 s")
}

func matchTicks(base string) (map[string]uint32, error) {
	resp, err := httpClient.Get(base + "/v1/matches")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Matches []struct {
			ID   string `json:"id"`
			Tick uint32 `json:"tick"`
		} `json:"matches"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	out := make(map[string]uint32, len(body.Matches))
	for _, m := range body.Matches {
		out[m.ID] = m.Tick
	}
	return out, nil
}
