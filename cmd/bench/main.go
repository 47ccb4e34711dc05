// Command bench runs the arena-8x32 scenario (shared/bench/arena-8x32.md):
// it builds the server and the bots, runs them as separate processes for
// each client count, and prints a table and appends JSON lines to a results
// file. It measures; it never passes or fails on speed.
//
//	go run ./cmd/bench -clients 200,400,800 -interest 0
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rallypoint/rallypoint/internal/benchrun"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	clients := flag.String("clients", "200,400,800,1600,3200,6400", "client counts, ascending; stops after the machine saturates")
	hz := flag.Int("hz", 30, "tick rate")
	interest := flag.String("interest", "0,300", "area-of-interest radii to run in turn (0: whole world)")
	ref := flag.String("ref", "20:800", "extra reference point hz:clients with the whole world visible (empty: none)")
	warmup := flag.Duration("warmup", 10*time.Second, "warm-up after all clients joined")
	window := flag.Duration("window", 20*time.Second, "steady measurement window")
	ramp := flag.Int("ramp", 800, "new bots per second")
	out := flag.String("out", "bench/results/arena-8x32.jsonl", "results file (JSON lines, appended)")
	profile := flag.Bool("profile", false, "save a server CPU profile per point under bench/results/")
	micro := flag.Bool("micro", true, "print the encoder micro-benchmark table first")
	metrics := flag.Bool("metrics", true, "keep metrics in the server and scrape them every 15 s (false: -admin-addr \"\", to measure what metrics cost)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *micro {
		if err := benchrun.Micro(ctx, os.Stdout); err != nil {
			return err
		}
		fmt.Println()
	}
	bin := filepath.Join("bin", "bench")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin+"/", "./cmd/server", "./cmd/bots")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return err
	}
	counts, err := ints(*clients)
	if err != nil {
		return err
	}
	base := benchrun.Config{
		ServerBin: filepath.Join(bin, "server"), BotsBin: filepath.Join(bin, "bots"),
		Hz: *hz, Warmup: *warmup, Window: *window, Ramp: *ramp, Out: *out, Log: os.Stdout,
		NoMetrics: !*metrics,
	}
	if *profile {
		base.ProfileDir = filepath.Dir(*out)
	}
	fmt.Println(benchrun.Header())
	radii, err := ints(*interest)
	if err != nil {
		return err
	}
	for _, r := range radii {
		cfg := base
		cfg.Interest, cfg.Clients = float64(r), counts
		if _, err := benchrun.Run(ctx, cfg); err != nil {
			return err
		}
	}
	if *ref != "" {
		h, n, ok := strings.Cut(*ref, ":")
		if !ok {
			return fmt.Errorf("-ref wants hz:clients, got %q", *ref)
		}
		cfg := base
		if cfg.Hz, err = strconv.Atoi(h); err != nil {
			return err
		}
		c, err := strconv.Atoi(n)
		if err != nil {
			return err
		}
		cfg.Clients = []int{c}
		if _, err := benchrun.Run(ctx, cfg); err != nil {
			return err
		}
	}
	fmt.Println("results appended to", *out)
	return nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}
