package benchrun

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseConfigs(t *testing.T) {
	for in, want := range map[string][]string{
		"":                ConfigNames(),
		"all":             ConfigNames(),
		"base, floor":     {"base", "floor"},
		"tick,loop,":      {"tick", "loop"},
		"null-tick,floor": {"null-tick", "floor"},
	} {
		got, err := ParseConfigs(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseConfigs(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"base,base", "turbo", ",", "base,all"} {
		if _, err := ParseConfigs(bad); err == nil {
			t.Errorf("ParseConfigs(%q): no error", bad)
		}
	}
}

var testBins = Binaries{BaseServer: "/b/base-server", BaseRev: "f079f9156fca", Server: "/b/server", Rev: "abc-dirty", Bots: "/b/bots", Bench: "/b/bench"}

func TestTargets(t *testing.T) {
	ts, err := Targets(ConfigNames(), testBins, 135)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		server, args, load string
		kind               Kind
		interest           bool
		rev                string
	}
	wants := map[string]want{
		"base":      {"/b/base-server", "", "/b/bots", KindRallypoint, true, "f079f9156fca"},
		"loop":      {"/b/server", "-read-path loop", "/b/bots", KindRallypoint, true, "abc-dirty"},
		"tick":      {"/b/server", "-read-path tick", "/b/bots", KindRallypoint, true, "abc-dirty"},
		"null-loop": {"/b/server", "-read-path loop -bench-null-snapshot 135", "/b/bots", KindRallypoint, false, "abc-dirty"},
		"null-tick": {"/b/server", "-read-path tick -bench-null-snapshot 135", "/b/bots", KindRallypoint, false, "abc-dirty"},
		"floor":     {"/b/bench floor-server", "", "/b/bench floor-load", KindFloor, false, "floor"},
	}
	for _, tg := range ts {
		w := wants[tg.Name]
		got := want{strings.Join(tg.Server, " "), strings.Join(tg.ServerArgs, " "), strings.Join(tg.Load, " "), tg.Kind, tg.UsesInterest, tg.Rev}
		if got != w {
			t.Errorf("%s: %+v, want %+v", tg.Name, got, w)
		}
	}
	if _, err := Targets([]string{"base"}, Binaries{Server: "s", Bots: "b"}, 135); err == nil {
		t.Error("base without a base build: no error")
	}
	if _, err := Targets([]string{"null-tick"}, testBins, 0); err == nil {
		t.Error("a null snapshot of 0 bytes: no error")
	}
	if _, err := Targets([]string{"loop"}, Binaries{Bots: "b"}, 135); err == nil {
		t.Error("no server binary: no error")
	}
}

func TestPlan(t *testing.T) {
	ts, err := Targets([]string{"floor", "base", "tick", "null-tick"}, testBins, 135)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range Plan(ts, []int{400, 800}, 30, []float64{0, 300}) {
		got = append(got, j.String())
	}
	want := []string{
		"base 400 clients 30 Hz", "tick 400 clients 30 Hz",
		"base 400 clients 30 Hz interest 300", "tick 400 clients 30 Hz interest 300",
		"floor 400 clients 30 Hz", "null-tick 400 clients 30 Hz",
		"base 800 clients 30 Hz", "tick 800 clients 30 Hz",
		"base 800 clients 30 Hz interest 300", "tick 800 clients 30 Hz interest 300",
		"floor 800 clients 30 Hz", "null-tick 800 clients 30 Hz",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Plan:\n got %q\nwant %q", got, want)
	}
	if jobs := Plan(ts[:1], []int{100}, 30, nil); len(jobs) != 1 || jobs[0].Interest != 0 {
		t.Fatalf("no radii: %v", jobs)
	}

	ref, err := RefJobs(ts, " 20:800 ")
	if err != nil || len(ref) != 4 || ref[0].Hz != 20 || ref[0].Clients != 800 || ref[0].Interest != 0 {
		t.Fatalf("RefJobs = %v, %v", ref, err)
	}
	if ref, err := RefJobs(ts, ""); err != nil || ref != nil {
		t.Fatalf("no reference point: %v, %v", ref, err)
	}
	for _, bad := range []string{"20", "x:800", "20:y", "0:800", "20:-1"} {
		if _, err := RefJobs(ts, bad); err == nil {
			t.Errorf("RefJobs(%q): no error", bad)
		}
	}
}

func TestEstimate(t *testing.T) {
	cfg := Config{Warmup: 10 * time.Second, Window: 20 * time.Second, Ramp: 800}
	jobs := []Job{{Target: "base", Clients: 400, Hz: 30}, {Target: "base", Clients: 800, Hz: 30}}
	// 400: 0.5 s of ramp + 1 + 5 slack + 10 + 20 + 4 stop = 40.5 s; 800: 41 s.
	if got := Estimate(cfg, jobs); got != 81500*time.Millisecond {
		t.Fatalf("Estimate = %v, want 1m21.5s", got)
	}
	cfg.RampSlack = time.Second
	if got := Estimate(cfg, jobs[:1]); got != 36500*time.Millisecond {
		t.Fatalf("Estimate with 1 s of slack = %v, want 36.5s", got)
	}
	if rampTime(100, 0) != 101*time.Second {
		t.Fatal("a zero ramp is not treated as one bot per second")
	}
}

func TestTracker(t *testing.T) {
	tr := newTracker()
	job := func(target string, n int, interest float64) Job {
		return Job{Target: target, Clients: n, Hz: 30, Interest: interest}
	}
	tr.record(job("loop", 400, 0), Point{}, errors.New("flag provided but not defined: -read-path"))
	tr.record(job("base", 400, 0), Point{Saturated: true}, nil)
	tr.record(job("base", 400, 300), Point{}, nil)
	for _, tc := range []struct {
		j    Job
		skip bool
		why  string
	}{
		{job("loop", 800, 300), true, ""},                       // failed once: never again
		{job("base", 800, 0), true, "saturated at 400 clients"}, // saturated below
		{job("base", 400, 0), false, ""},                        // the same count again
		{job("base", 800, 300), false, ""},                      // the other radius did not saturate
		{Job{Target: "base", Clients: 800, Hz: 20}, false, ""},  // another rate
		{job("tick", 800, 0), false, ""},                        // another target
	} {
		why, skip := tr.skip(tc.j)
		if skip != tc.skip || why != tc.why {
			t.Errorf("skip(%v) = %q, %v; want %q, %v", tc.j, why, skip, tc.why, tc.skip)
		}
	}
	// A lower saturating count lowers the bar.
	tr.record(job("base", 200, 0), Point{Saturated: true}, nil)
	if why, _ := tr.skip(job("base", 400, 0)); why != "saturated at 200 clients" {
		t.Errorf("after saturating at 200: %q", why)
	}
}
