package benchrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/benchrun/floor"
)

// TestMain lets the test binary stand in for cmd/bench's subcommands (and
// for a server that refuses its flags) when run as a child process.
func TestMain(m *testing.M) {
	if os.Getenv("BENCHRUN_HELPER") == "1" && len(os.Args) > 1 {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		var err error
		switch os.Args[1] {
		case "floor-server":
			err = floor.ServerCommand(ctx, os.Args[2:], os.Stderr)
		case "floor-load":
			err = floor.LoadCommand(ctx, os.Args[2:], os.Stdout, os.Stderr)
		case "bad-server":
			fmt.Fprintln(os.Stderr, "  -trusted-proxies string\nserver: flag provided but not defined: -read-path")
			os.Exit(2)
		default:
			err = fmt.Errorf("unknown helper %q", os.Args[1])
		}
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRunPlanFloor measures the floor for real (its server and load as
// child processes) next to a Rallypoint target whose server will not
// start: the failure is reported with the server's words, and the run
// carries on.
func TestRunPlanFloor(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the bench reads /proc and the floor's load needs epoll")
	}
	t.Setenv("BENCHRUN_HELPER", "1")
	targets, err := Targets([]string{ConfigLoop, ConfigFloor}, Binaries{Server: os.Args[0], Bots: os.Args[0], Bench: os.Args[0]}, 135)
	if err != nil {
		t.Fatal(err)
	}
	targets[0].Server = []string{os.Args[0], "bad-server"}
	out := filepath.Join(t.TempDir(), "results", "r.jsonl")
	var log bytes.Buffer
	cfg := Config{Window: time.Second, Ramp: 1000, RampSlack: time.Second, Out: out, RunID: "test-run", FloorLoops: 1, Log: &log}
	jobs := Plan(targets, []int{5}, 30, []float64{0, 300})
	if len(jobs) != 3 {
		t.Fatalf("plan %v", jobs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	points, failures := RunPlan(ctx, cfg, targets, jobs)

	if len(failures) != 1 || failures[0].Job.Target != ConfigLoop || !strings.Contains(failures[0].Err.Error(), "flag provided but not defined: -read-path") {
		t.Fatalf("failures %v; want the loop server's own complaint once (its second radius skipped)\n%s", failures, log.String())
	}
	if len(points) != 1 {
		t.Fatalf("%d points, want the floor's\n%s", len(points), log.String())
	}
	p := points[0]
	if p.Config != ConfigFloor || p.Run != "test-run" || p.Loadgen != "floor-load" || p.Server != "floor" || p.Clients != 5 {
		t.Fatalf("point %+v", p)
	}
	if p.Connected != 5 || p.Matches != 1 || p.Errors != 0 || p.DownBytesPerClientS <= 0 || p.UpBytesPerClientS <= 0 || p.Metrics {
		t.Fatalf("point %+v: want 5 clients of one tick loop, bytes both ways, no errors\n%s", p, log.String())
	}
	if !strings.Contains(log.String(), "FAILED") || !strings.Contains(log.String(), Row(p)) {
		t.Fatalf("log:\n%s", log.String())
	}

	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []Point
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var q Point
		if err := json.Unmarshal(sc.Bytes(), &q); err != nil {
			t.Fatalf("results line %q: %v", sc.Text(), err)
		}
		lines = append(lines, q)
	}
	if len(lines) != 1 || lines[0].Config != ConfigFloor || lines[0].Run != "test-run" {
		t.Fatalf("results file holds %+v", lines)
	}
}
