package floor

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"time"
)

// ServerCommand is `bench floor-server`: it parses args, serves the floor
// until ctx ends, and serves its stats over HTTP if asked.
func ServerCommand(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("floor-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address of the raw TCP floor")
	statsAddr := fs.String("stats-addr", "", "HTTP address of /healthz and /v1/matches (empty: none)")
	hz := fs.Int("hz", 30, "tick rate")
	cpuProfile := fs.String("cpu-profile", "", "write a CPU profile to this file until shutdown")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("floor-server: unexpected arguments %q", fs.Args())
	}
	s, err := NewServer(ServerConfig{Hz: *hz})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *statsAddr != "" {
		sln, err := net.Listen("tcp", *statsAddr)
		if err != nil {
			ln.Close()
			return err
		}
		hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = hs.Serve(sln) }()
		defer hs.Close()
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			ln.Close()
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			ln.Close()
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return s.Serve(ctx, ln)
}

// LoadCommand is `bench floor-load`: it parses args, runs the load until
// its duration is over or ctx ends, and prints the summary to stdout as
// one JSON line.
func LoadCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floor-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg LoadConfig
	fs.StringVar(&cfg.Addr, "addr", "", "the floor server's address (IPv4 host:port)")
	fs.IntVar(&cfg.Conns, "conns", 1, "connections")
	fs.IntVar(&cfg.Hz, "hz", 30, "inputs per second per connection")
	fs.IntVar(&cfg.Loops, "loops", 2, "goroutines driving the connections (each with its own epoll)")
	fs.IntVar(&cfg.Phases, "phases", 0, "groups each goroutine spreads its inputs over within a tick, as cmd/bots' shards (0: 4 per CPU, as cmd/bots)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long to run (0: until interrupted)")
	fs.DurationVar(&cfg.MeasureAfter, "measure-after", 0, "start measuring gaps and bytes this long after the start")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("floor-load: unexpected arguments %q", fs.Args())
	}
	sum, err := RunLoad(ctx, cfg)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(sum)
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}
