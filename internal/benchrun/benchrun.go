// Package benchrun runs the arena-8x32 benchmark scenario
// (shared/bench/arena-8x32.md) for real: the server and the bots as
// separate processes on this machine, one point per client count, measuring
// the server's CPU and memory from /proc and the clients' view from the bots'
// JSON summary. It is for measurement, never pass/fail.
package benchrun

import (
	"bufio"
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
	"time"
)

// Config describes a benchmark run.
type Config struct {
	ServerBin, BotsBin string        // built binaries
	Clients            []int         // client counts, ascending
	Hz                 int           // tick rate
	Interest           float64       // area-of-interest radius; 0: whole world
	Warmup, Window     time.Duration // steady window after warm-up
	Ramp               int           // new bots per second
	Out                string        // results file (JSON lines), appended
	ProfileDir         string        // if set, a CPU profile of the server per point
	NoMetrics          bool          // run the server with -admin-addr "" (no metrics kept); else its admin listener is scraped every 15 s, as Prometheus would
	Log                io.Writer     // progress
}

// Point is one measured client count: one JSON line in the results file.
type Point struct {
	Scenario              string   `json:"scenario"`
	Time                  string   `json:"time"`
	Clients               int      `json:"clients"`
	Connected             int      `json:"connected"`
	Hz                    int      `json:"hz"`
	Interest              float64  `json:"interest"`
	WindowS               float64  `json:"window_s"`
	ServerCPUUsPerClientT float64  `json:"server_cpu_us_per_client_tick"`
	ServerCPUPct          float64  `json:"server_cpu_pct"`
	ServerRSSKBPerClient  float64  `json:"server_rss_kb_per_client"`
	DownBytesPerClientS   float64  `json:"down_bytes_per_client_s"`
	DownWireBytesPerCS    float64  `json:"down_wire_bytes_per_client_s"`
	UpBytesPerClientS     float64  `json:"up_bytes_per_client_s"`
	TickRateMin           float64  `json:"tick_rate_min"`
	TickRateAvg           float64  `json:"tick_rate_avg"`
	GapP50Ms              float64  `json:"snapshot_gap_p50_ms"`
	GapP99Ms              float64  `json:"snapshot_gap_p99_ms"`
	GapMaxMs              float64  `json:"snapshot_gap_max_ms"`
	LoadgenCPUPct         float64  `json:"loadgen_cpu_pct"`
	MachineBusyPct        float64  `json:"machine_busy_pct"`
	Matches               int      `json:"matches"`
	Errors                int      `json:"errors"`
	Saturated             bool     `json:"saturated"`
	Metrics               bool     `json:"metrics"` // metrics kept and scraped every 15 s
	Notes                 []string `json:"notes,omitempty"`
}

// Run measures every client count in cfg.Clients, stopping after the first
// point where the machine saturates. It appends each point to cfg.Out.
func Run(ctx context.Context, cfg Config) ([]Point, error) {
	var points []Point
	for _, n := range cfg.Clients {
		p, err := runPoint(ctx, cfg, n)
		if err != nil {
			return points, fmt.Errorf("%d clients: %w", n, err)
		}
		points = append(points, p)
		if err := appendJSON(cfg.Out, p); err != nil {
			return points, err
		}
		fmt.Fprintln(cfg.Log, Row(p))
		if p.Saturated {
			break
		}
	}
	return points, nil
}

// Header and Row print the table.
func Header() string {
	return fmt.Sprintf("%7s %5s %4s %8s %7s %8s %9s %9s %8s %8s %8s %8s %6s %6s",
		"clients", "conn", "hz", "interest", "cpu_us", "rss_kb", "down_B/s", "wire_B/s", "tick_min", "gap_p50", "gap_p99", "gap_max", "lg_cpu", "busy%")
}

// Row formats one point.
func Row(p Point) string {
	s := fmt.Sprintf("%7d %5d %4d %8.0f %7.2f %8.1f %9.0f %9.0f %8.1f %8.1f %8.1f %8.1f %6.0f %6.0f",
		p.Clients, p.Connected, p.Hz, p.Interest, p.ServerCPUUsPerClientT, p.ServerRSSKBPerClient, p.DownBytesPerClientS,
		p.DownWireBytesPerCS, p.TickRateMin, p.GapP50Ms, p.GapP99Ms, p.GapMaxMs, p.LoadgenCPUPct, p.MachineBusyPct)
	if p.Saturated {
		s += "  saturated"
	}
	return s
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

func runPoint(ctx context.Context, cfg Config, n int) (Point, error) {
	p := Point{Scenario: "arena-8x32", Time: time.Now().UTC().Format(time.RFC3339), Clients: n, Hz: cfg.Hz, Interest: cfg.Interest, WindowS: cfg.Window.Seconds(), Metrics: !cfg.NoMetrics}
	port, err := freePort()
	if err != nil {
		return p, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	args := []string{"-addr", fmt.Sprintf("127.0.0.1:%d", port), "-hz", strconv.Itoa(cfg.Hz),
		"-interest", fmt.Sprint(cfg.Interest), "-data-dir", "", "-log-level", "error",
		"-bot-fill", "-1s", "-rate-limit", "100000", "-rate-burst", "100000"}
	if cfg.NoMetrics {
		args = append(args, "-admin-addr", "")
	} else {
		adminPort, err := freePort()
		if err != nil {
			return p, err
		}
		admin := fmt.Sprintf("127.0.0.1:%d", adminPort)
		args = append(args, "-admin-addr", admin)
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		go scrape(sctx, "http://"+admin+"/metrics", 15*time.Second)
	}
	if cfg.ProfileDir != "" {
		args = append(args, "-cpu-profile", filepath.Join(cfg.ProfileDir, fmt.Sprintf("server-%dhz-i%.0f-%d.pprof", cfg.Hz, cfg.Interest, n)))
	}
	srv := exec.CommandContext(ctx, cfg.ServerBin, args...)
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		return p, err
	}
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = srv.Process.Kill()
			<-done
		}
	}()
	if err := waitHealthy(ctx, base); err != nil {
		return p, err
	}
	rss0, _ := vmRSS(srv.Process.Pid)

	rampS := float64(n)/float64(cfg.Ramp) + 1
	total := time.Duration(rampS*float64(time.Second)) + 5*time.Second + cfg.Warmup + cfg.Window
	var out bytes.Buffer
	bots := exec.CommandContext(ctx, cfg.BotsBin, "-server", base, "-bots", strconv.Itoa(n), "-mode", "bench",
		"-brain", "wander", "-hz", strconv.Itoa(cfg.Hz), "-ramp", strconv.Itoa(cfg.Ramp),
		"-duration", (total + 15*time.Second).String(), "-json", "-max-errors", strconv.Itoa(n), "-measure-after", (total - cfg.Window).String())
	bots.Stdout = &out
	bots.Stderr = io.Discard
	if err := bots.Start(); err != nil {
		return p, err
	}
	botsDone := make(chan error, 1)
	go func() { botsDone <- bots.Wait() }()

	// Wait until the clients are connected (or the ramp plus slack is over),
	// then warm up and measure a steady window.
	deadline := time.Now().Add(time.Duration(rampS*float64(time.Second)) + 5*time.Second)
	for time.Now().Before(deadline) {
		if h, err := health(base); err == nil && h.Connections >= int64(n) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	sleepCtx(ctx, time.Until(deadline)+cfg.Warmup)
	h0, _ := health(base)
	cpu0, _ := procCPU(srv.Process.Pid)
	lg0, _ := procCPU(bots.Process.Pid)
	busy0, idle0, _ := machineCPU()
	ticks0, _ := matchTicks(base)
	t0 := time.Now()
	sleepCtx(ctx, cfg.Window)
	cpu1, _ := procCPU(srv.Process.Pid)
	lg1, _ := procCPU(bots.Process.Pid)
	busy1, idle1, _ := machineCPU()
	ticks1, _ := matchTicks(base)
	el := time.Since(t0).Seconds()
	rss1, _ := vmRSS(srv.Process.Pid)
	h1, _ := health(base)
	p.Connected = int(min(h0.Connections, h1.Connections))

	clk := float64(clockTicks)
	p.ServerCPUPct = 100 * float64(cpu1-cpu0) / clk / el
	if p.Connected > 0 {
		p.ServerCPUUsPerClientT = float64(cpu1-cpu0) / clk * 1e6 / (float64(p.Connected) * float64(cfg.Hz) * el)
		p.ServerRSSKBPerClient = float64(rss1-rss0) / float64(p.Connected)
	}
	p.LoadgenCPUPct = 100 * float64(lg1-lg0) / clk / el
	if d := (busy1 - busy0) + (idle1 - idle0); d > 0 {
		p.MachineBusyPct = 100 * float64(busy1-busy0) / float64(d)
	}
	first := true
	var sum float64
	for id, t1 := range ticks1 {
		t0, ok := ticks0[id]
		if !ok {
			continue
		}
		rate := float64(t1-t0) / el
		sum += rate
		p.Matches++
		if first || rate < p.TickRateMin {
			p.TickRateMin, first = rate, false
		}
	}
	if p.Matches > 0 {
		p.TickRateAvg = sum / float64(p.Matches)
	}

	select {
	case err := <-botsDone:
		if err != nil {
			p.Notes = append(p.Notes, "bots: "+err.Error())
		}
	case <-time.After(total + 45*time.Second):
		_ = bots.Process.Kill()
		<-botsDone
		p.Notes = append(p.Notes, "bots did not finish in time")
	}
	var sum2 summary
	if line := lastLine(out.Bytes()); len(line) > 0 {
		if err := json.Unmarshal(line, &sum2); err != nil {
			p.Notes = append(p.Notes, "bots summary: "+err.Error())
		}
	}
	p.DownBytesPerClientS = sum2.DownBytesPerBotS
	p.DownWireBytesPerCS = sum2.DownWireBytesPerBotS
	p.UpBytesPerClientS = sum2.UpBytesPerBotS
	p.GapP50Ms, p.GapP99Ms, p.GapMaxMs = sum2.Gap.P50, sum2.Gap.P99, sum2.Gap.Max
	p.Errors = sum2.Errors
	p.Saturated = p.MachineBusyPct > 95 || p.TickRateMin < 0.95*float64(cfg.Hz) || p.GapP99Ms > 100 || p.Connected < n*95/100
	return p, nil
}

// summary is the part of cmd/bots -json output the bench reads.
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
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

type healthz struct {
	Connections int64 `json:"connections"`
	Matches     int   `json:"matches"`
}

func health(base string) (healthz, error) {
	var h healthz
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	return h, json.NewDecoder(resp.Body).Decode(&h)
}

func waitHealthy(ctx context.Context, base string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := health(base); err == nil {
			return nil
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
	return errors.New("server did not become healthy")
}

func matchTicks(base string) (map[string]uint32, error) {
	resp, err := http.Get(base + "/v1/matches")
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

// clockTicks is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const clockTicks = 100

// procCPU returns utime+stime of a process in clock ticks.
func procCPU(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return ut + st, nil
}

// vmRSS returns a process's resident set in KiB.
func vmRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fs := strings.Fields(rest)
			if len(fs) > 0 {
				return strconv.ParseInt(fs[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no VmRSS")
}

// machineCPU returns busy and idle jiffies of the whole machine.
func machineCPU() (busy, idle uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		} else if i < 8 { // user nice system irq softirq steal
			busy += n
		}
	}
	return busy, idle, nil
}
