// Command bench runs the arena-8x32 scenario (shared/bench/arena-8x32.md)
// over several server configurations in one invocation: today's main built
// from a git ref (base), this tree's server on each read path (loop,
// tick), a null game server on each read path (null-loop, null-tick) and a
// raw TCP floor (floor). Every server and its load generator run as
// separate processes; it prints a table with ratios and appends one JSON
// line per point to a results file. It measures; it never passes or fails
// on speed.
//
//	go run ./cmd/bench                                   # every configuration at 400 and 800 clients
//	BENCH_CLIENTS=100 BENCH_CONFIGS=base,floor BENCH_WINDOW=5s go run ./cmd/bench
//
// Flags default to the BENCH_* environment variables named in -help. Two
// subcommands are the floor's processes, which the bench starts itself:
//
//	bench floor-server -addr 127.0.0.1:7000 -stats-addr 127.0.0.1:7001
//	bench floor-load -addr 127.0.0.1:7000 -conns 800 -duration 60s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rallypoint/rallypoint/internal/benchrun"
	"github.com/rallypoint/rallypoint/internal/benchrun/floor"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch sub := firstArg(); sub {
	case "floor-server":
		err = floor.ServerCommand(ctx, os.Args[2:], os.Stderr)
	case "floor-load":
		err = floor.LoadCommand(ctx, os.Args[2:], os.Stdout, os.Stderr)
	default:
		err = run(ctx, os.Args[1:])
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func firstArg() string {
	if len(os.Args) > 1 {
		return os.Args[1]
	}
	return ""
}

// settings are the bench's flags.
type settings struct {
	clients, configs, interest, base, ref, out string
	hz, ramp, nullBytes, floorLoops, phases    int
	warmup, window                             time.Duration
	micro, metrics, profile, plan              bool
}

// envKeys maps each flag to the environment variable that sets its
// default; a flag given on the command line wins.
var envKeys = map[string]string{
	"clients": "BENCH_CLIENTS", "configs": "BENCH_CONFIGS", "interest": "BENCH_INTEREST", "base": "BENCH_BASE",
	"ref": "BENCH_REF", "out": "BENCH_OUT", "hz": "BENCH_HZ", "ramp": "BENCH_RAMP", "null-bytes": "BENCH_NULL_BYTES",
	"floor-loops": "BENCH_FLOOR_LOOPS", "floor-phases": "BENCH_FLOOR_PHASES", "warmup": "BENCH_WARMUP", "window": "BENCH_WINDOW", "micro": "BENCH_MICRO",
	"metrics": "BENCH_METRICS", "profile": "BENCH_PROFILE", "plan": "BENCH_PLAN",
}

func parseFlags(args []string, getenv func(string) string) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&s.clients, "clients", "400,800", "client counts, ascending")
	fs.StringVar(&s.configs, "configs", strings.Join(benchrun.ConfigNames(), ","), "configurations to run, in this order (all: every one)")
	fs.StringVar(&s.interest, "interest", "0,300", "area-of-interest radii for base, loop and tick (0: whole world)")
	fs.StringVar(&s.base, "base", "f079f91", "git ref of today's main, built in the run for the base configuration")
	fs.StringVar(&s.ref, "ref", "", "extra reference point hz:clients, e.g. 20:800, for every configuration, whole world visible (empty: none)")
	fs.StringVar(&s.out, "out", "bench/results/arena-8x32.jsonl", "results file, JSON lines appended")
	fs.IntVar(&s.hz, "hz", 30, "tick rate")
	fs.IntVar(&s.ramp, "ramp", 800, "new bots per second")
	fs.IntVar(&s.nullBytes, "null-bytes", 135, "the null game's fixed snapshot size, passed as -bench-null-snapshot")
	fs.IntVar(&s.floorLoops, "floor-loops", 2, "goroutines of the floor's load generator")
	fs.IntVar(&s.phases, "floor-phases", 0, "groups the floor's load spreads each tick's inputs over (0: 4 per CPU, as cmd/bots' shards)")
	fs.DurationVar(&s.warmup, "warmup", 10*time.Second, "warm-up after all clients joined")
	fs.DurationVar(&s.window, "window", 20*time.Second, "steady measurement window")
	fs.BoolVar(&s.micro, "micro", true, "print the encoder micro-benchmark table first")
	fs.BoolVar(&s.metrics, "metrics", true, "Rallypoint servers keep metrics and are scraped every 15 s (false: -admin-addr \"\")")
	fs.BoolVar(&s.profile, "profile", false, "save a server CPU profile per Rallypoint point beside the results file")
	fs.BoolVar(&s.plan, "plan", false, "print the plan and its expected duration, then exit")
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		key := envKeys[f.Name]
		f.Usage += " (" + key + ")"
		if v := getenv(key); v != "" {
			if err := f.Value.Set(v); err != nil {
				envErr = errors.Join(envErr, fmt.Errorf("%s=%q: %w", key, v, err))
			} else {
				f.DefValue = v
			}
		}
	})
	if envErr != nil {
		return s, envErr
	}
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected arguments %q (subcommands: floor-server, floor-load)", fs.Args())
	}
	switch {
	case s.hz < 1 || s.hz > 240:
		return s, fmt.Errorf("-hz %d out of 1..240", s.hz)
	case s.ramp < 1:
		return s, fmt.Errorf("-ramp %d: want at least 1", s.ramp)
	case s.warmup < 0 || s.window <= 0:
		return s, fmt.Errorf("-warmup %v, -window %v: want a positive window", s.warmup, s.window)
	case s.floorLoops < 1:
		return s, fmt.Errorf("-floor-loops %d: want at least 1", s.floorLoops)
	case s.phases < 0:
		return s, fmt.Errorf("-floor-phases %d: want 0 or more", s.phases)
	}
	return s, nil
}

func run(ctx context.Context, args []string) error {
	s, err := parseFlags(args, os.Getenv)
	if err != nil {
		return err
	}
	counts, err := ints(s.clients)
	if err != nil {
		return fmt.Errorf("-clients: %w", err)
	}
	radii, err := floats(s.interest)
	if err != nil {
		return fmt.Errorf("-interest: %w", err)
	}
	names, err := benchrun.ParseConfigs(s.configs)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg := benchrun.Config{
		Warmup: s.warmup, Window: s.window, Ramp: s.ramp, Out: s.out, Log: os.Stdout,
		NoMetrics: !s.metrics, FloorLoops: s.floorLoops, FloorPhases: s.phases, RunID: time.Now().UTC().Format(time.RFC3339),
	}
	if s.profile {
		cfg.ProfileDir = filepath.Dir(s.out)
	}
	// Plan with placeholder binaries first, so the duration is printed
	// (and a bad -ref refused) before anything is built.
	placeholder := benchrun.Binaries{BaseServer: "base", Server: "server", Bots: "bots", Bench: self}
	targets, err := benchrun.Targets(names, placeholder, s.nullBytes)
	if err != nil {
		return err
	}
	jobs := benchrun.Plan(targets, counts, s.hz, radii)
	refJobs, err := benchrun.RefJobs(targets, s.ref)
	if err != nil {
		return err
	}
	jobs = append(jobs, refJobs...)
	est := benchrun.Estimate(cfg, jobs)
	extra := 30 * time.Second // builds
	if slices.Contains(names, benchrun.ConfigBase) {
		extra += 30 * time.Second
	}
	if s.micro {
		extra += 30 * time.Second
	}
	fmt.Printf("bench: %d points (%s; clients %s; %d Hz; radii %s; warm-up %v, window %v): about %v in all\n\n",
		len(jobs), strings.Join(names, ","), s.clients, s.hz, s.interest, s.warmup, s.window, (est + extra).Round(time.Minute/2))
	if s.plan {
		for i, j := range jobs {
			fmt.Printf("%3d  %s\n", i+1, j)
		}
		return nil
	}

	// Build first: a bad -base fails before anything is measured.
	binDir := filepath.Join("bin", "bench")
	var b benchrun.Binaries
	b.Bench = self
	if b.Server, b.Bots, b.Rev, err = benchrun.Build(ctx, binDir, os.Stderr); err != nil {
		return err
	}
	if slices.Contains(names, benchrun.ConfigBase) {
		if b.BaseServer, b.BaseRev, err = benchrun.BuildBase(ctx, s.base, binDir, os.Stderr); err != nil {
			return err
		}
	}
	if s.micro {
		if err := benchrun.Micro(ctx, os.Stdout); err != nil {
			return err
		}
		fmt.Println()
	}
	if targets, err = benchrun.Targets(names, b, s.nullBytes); err != nil {
		return err
	}
	benchrun.Legend(os.Stdout, b.BaseRev, s.nullBytes)
	fmt.Println()
	fmt.Println(benchrun.Header())
	points, failures := benchrun.RunPlan(ctx, cfg, targets, jobs)

	fmt.Printf("\narena-8x32, %s (this tree: %s; base: %s)\n", cfg.RunID, b.Rev, orDash(b.BaseRev))
	benchrun.Table(os.Stdout, points)
	fmt.Println("results appended to", s.out)
	if len(failures) > 0 {
		fmt.Println()
		for _, f := range failures {
			fmt.Printf("FAILED %s: %v\n", f.Job, f.Err)
		}
		return fmt.Errorf("%d of %d points not measured", len(jobs)-len(points), len(jobs))
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("client count %q: want a positive integer", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no client count")
	}
	return out, nil
}

func floats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v < 0 || v != v {
			return nil, fmt.Errorf("radius %q: want a number >= 0", f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return []float64{0}, nil
	}
	return out, nil
}
