package benchrun

import (
	"errors"
	"math"
	"os"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses; utime 1234, stime 56.
	stat := "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 56 0 0 20 0 9 0 100 200000000 5000 18446744073709551615\n"
	if got, err := parseStatCPU([]byte(stat)); err != nil || got != 1290 {
		t.Fatalf("parseStatCPU = %d, %v; want 1290", got, err)
	}
	for _, bad := range []string{"", "4242 name S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 0 0 0 0 0 12a 56"} {
		if _, err := parseStatCPU([]byte(bad)); !errors.Is(err, errProc) {
			t.Errorf("parseStatCPU(%q): %v, want errProc", bad, err)
		}
	}
	// This process's own line parses.
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tserver\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nThreads:\t7\n"
	if got, err := parseVmRSS([]byte(status)); err != nil || got != 12345 {
		t.Fatalf("parseVmRSS = %d, %v", got, err)
	}
	for _, bad := range []string{"", "Name:\tx\n", "VmRSS:\n", "VmRSS:\tlots kB\n"} {
		if _, err := parseVmRSS([]byte(bad)); !errors.Is(err, errProc) {
			t.Errorf("parseVmRSS(%q): %v, want errProc", bad, err)
		}
	}
	if kb, err := vmRSS(os.Getpid()); err != nil || kb <= 0 {
		t.Fatalf("vmRSS(self) = %d, %v", kb, err)
	}
}

func TestParseMachineCPU(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	stat := "cpu  100 5 50 1000 20 7 3 2 40 0\ncpu0 50 2 25 500 10 3 1 1 20 0\n"
	busy, idle, err := parseMachineCPU([]byte(stat))
	if err != nil || busy != 100+5+50+7+3+2 || idle != 1020 {
		t.Fatalf("parseMachineCPU = %d, %d, %v", busy, idle, err)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5\n", "cpu 1 2\n", "cpu 1 2 x 4 5\n"} {
		if _, _, err := parseMachineCPU([]byte(bad)); !errors.Is(err, errProc) {
			t.Errorf("parseMachineCPU(%q): %v, want errProc", bad, err)
		}
	}
}

func TestPerClientTick(t *testing.T) {
	// 100 clock ticks is 1 s of CPU; over 10 s, 100 clients at 30 Hz make
	// 30,000 client-ticks: 33.3 µs each.
	if got := perClientTick(100, 100, 30, 10); math.Abs(got-1e6/30000) > 1e-9 {
		t.Fatalf("perClientTick = %v", got)
	}
	for _, c := range [][3]float64{{0, 30, 10}, {100, 0, 10}, {100, 30, 0}} {
		if got := perClientTick(100, int(c[0]), int(c[1]), c[2]); got != 0 {
			t.Errorf("perClientTick with %v = %v, want 0", c, got)
		}
	}
}

func TestTickRates(t *testing.T) {
	t0 := map[string]uint32{"a": 100, "b": 4294967290, "gone": 5}
	t1 := map[string]uint32{"a": 400, "b": 284, "new": 9} // b wrapped around past 2^32
	n, minRate, avg := tickRates(t0, t1, 10)
	if n != 2 || minRate != 29 || avg != 29.5 {
		t.Fatalf("tickRates = %d, %v, %v; want 2 matches, min 29, avg 29.5", n, minRate, avg)
	}
	if n, _, _ := tickRates(t0, t1, 0); n != 0 {
		t.Fatal("a zero-length window counted matches")
	}
}

func TestSaturated(t *testing.T) {
	ok := Point{Clients: 800, Connected: 800, Hz: 30, Matches: 100, TickRateMin: 30, GapP99Ms: 40, MachineBusyPct: 60}
	if saturated(ok) {
		t.Fatal("a healthy point is saturated")
	}
	for name, mod := range map[string]func(*Point){
		"busy":        func(p *Point) { p.MachineBusyPct = 96 },
		"slow ticks":  func(p *Point) { p.TickRateMin = 28 },
		"late":        func(p *Point) { p.GapP99Ms = 101 },
		"not connect": func(p *Point) { p.Connected = 700 },
	} {
		p := ok
		mod(&p)
		if !saturated(p) {
			t.Errorf("%s: not saturated", name)
		}
	}
	// No match ticks reported (say a server without /v1/matches ticks):
	// the tick rate is unknown, not zero.
	p := ok
	p.Matches, p.TickRateMin = 0, 0
	if saturated(p) {
		t.Fatal("unknown tick rate counted as saturation")
	}
}

func TestTail(t *testing.T) {
	var tl tail
	for i := 0; i < 1000; i++ {
		_, _ = tl.Write([]byte("some line of stderr output\n"))
	}
	_, _ = tl.Write([]byte("server: flag provided but not defined: -read-path\n\n"))
	if len(tl.buf) > tailMax {
		t.Fatalf("tail holds %d bytes", len(tl.buf))
	}
	got := tl.lastLines(2)
	if got != "some line of stderr output\nserver: flag provided but not defined: -read-path" {
		t.Fatalf("lastLines = %q", got)
	}
	if got := tl.reason(); got != "server: flag provided but not defined: -read-path" {
		t.Fatalf("reason = %q", got)
	}
	var crash tail
	_, _ = crash.Write([]byte("starting\npanic: runtime error: index out of range\n\ngoroutine 1 [running]:\nmain.main()\n"))
	if got := crash.reason(); got != "panic: runtime error: index out of range" {
		t.Fatalf("reason of a crash = %q", got)
	}
	var empty tail
	if s := empty.lastLines(3); s != "" || empty.reason() != "" {
		t.Fatalf("empty tail: %q, %q", s, empty.reason())
	}
}
