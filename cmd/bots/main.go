// Command bots runs a swarm of headless Rallypoint players against a
// server, through the same lobby, event stream and game socket a human
// uses, and reports what they saw.
//
//	go run ./cmd/bots -server http://127.0.0.1:8080 -bots 1000 -mode arena -duration 60s -ramp 200
//
// A progress line goes to stderr (redrawn in place on a terminal, plain
// periodic lines when piped); the summary table goes to stdout, followed
// with -json by one line holding the summary as a JSON object. The exit
// status is 1 when errors exceed -max-errors, 2 for bad flags.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // served only with -pprof
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rallypoint/rallypoint/bots"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bots", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg bots.Config
	fs.StringVar(&cfg.Server, "server", "http://127.0.0.1:8080", "lobby base URL")
	fs.IntVar(&cfg.Bots, "bots", 10, "number of bots")
	fs.StringVar(&cfg.Mode, "mode", "bench", "game mode to queue for")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to run, ramp included (0: until interrupted)")
	fs.Float64Var(&cfg.Ramp, "ramp", 100, "new bots per second (0: all at once)")
	fs.IntVar(&cfg.Hz, "hz", 30, "inputs per second per bot")
	fs.StringVar(&cfg.Brain, "brain", "", fmt.Sprintf("brain: one of %v (default: chase in arena, wander otherwise)", bots.Kinds()))
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed for brains and fault timing")
	fs.IntVar(&cfg.Shards, "shards", 0, "scheduler goroutines (0: 4 per CPU)")
	fs.BoolVar(&cfg.OneMatch, "one-match", false, "each bot plays one match, then stops")
	fs.DurationVar(&cfg.MeasureAfter, "measure-after", 0, "start measuring gaps, RTT and bytes this long after the start")
	fs.Float64Var(&cfg.Faults.Drop, "fault-drop", 0, "fraction of bots that cut their connection and resume")
	fs.Float64Var(&cfg.Faults.Stall, "fault-stall", 0, "fraction of bots that stop reading for a while")
	fs.Float64Var(&cfg.Faults.Garbage, "fault-garbage", 0, "fraction of bots that send a malformed frame")
	asJSON := fs.Bool("json", false, "print the summary as one JSON line at the end")
	maxErrors := fs.Uint64("max-errors", 0, "exit 1 when errors exceed this")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this address, e.g. 127.0.0.1:6061 (profiling the load generator)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var level zapcore.Level
	if err := level.Set(*logLevel); err != nil {
		fmt.Fprintln(stderr, "bots:", err)
		return 2
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.OutputPaths, zc.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	log, err := zc.Build()
	if err != nil {
		fmt.Fprintln(stderr, "bots:", err)
		return 2
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush at exit

	s, err := bots.NewSwarm(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "bots:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *pprofAddr != "" {
		ln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			fmt.Fprintln(stderr, "bots:", err)
			return 2
		}
		ps := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = ps.Serve(ln) }()
		defer ps.Close()
	}

	progCtx, progStop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		progress(progCtx, s, stderr)
	}()
	sum, err := s.Run(ctx)
	progStop()
	wg.Wait()
	if err != nil {
		fmt.Fprintln(stderr, "bots:", err)
		return 1
	}
	_ = sum.WriteTable(stdout)
	if *asJSON {
		b, _ := json.Marshal(sum)
		fmt.Fprintf(stdout, "%s\n", b)
	}
	if sum.Errors > *maxErrors {
		fmt.Fprintf(stderr, "bots: %d errors (more than -max-errors %d)\n", sum.Errors, *maxErrors)
		return 1
	}
	return 0
}

// progress redraws a status line on a terminal twice a second, or prints
// a plain line every 5 seconds when w is not a terminal.
func progress(ctx context.Context, s *bots.Swarm, w io.Writer) {
	tty := isTerminal(w)
	every := 5 * time.Second
	if tty {
		every = 500 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var lastSnaps uint64
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprint(w, "\n")
			}
			return
		case now := <-t.C:
			p := s.Progress()
			rate := float64(p.Snapshots-lastSnaps) / now.Sub(last).Seconds()
			lastSnaps, last = p.Snapshots, now
			if tty {
				fmt.Fprintf(w, "\r%s\x1b[K", p.Line(rate))
			} else {
				fmt.Fprintln(w, p.Line(rate))
			}
		}
	}
}

// isTerminal reports whether w is a character device (golang.org/x/term
// is not a dependency of this module; this is its check on Unix in spirit).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
