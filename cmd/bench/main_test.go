package main

import (
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsEnvAndFlags(t *testing.T) {
	env := map[string]string{
		"BENCH_CLIENTS": "100", "BENCH_CONFIGS": "base,floor", "BENCH_WINDOW": "5s", "BENCH_MICRO": "0",
		"BENCH_BASE": "main~3", "BENCH_HZ": "20",
	}
	s, err := parseFlags([]string{"-hz", "30"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if s.clients != "100" || s.configs != "base,floor" || s.window != 5*time.Second || s.micro || s.base != "main~3" {
		t.Fatalf("environment not applied: %+v", s)
	}
	if s.hz != 30 {
		t.Fatalf("-hz on the command line should beat BENCH_HZ: %d", s.hz)
	}
	if s.warmup != 10*time.Second || s.nullBytes != 135 || s.interest != "0,300" || !s.metrics {
		t.Fatalf("defaults lost: %+v", s)
	}

	none := func(string) string { return "" }
	d, err := parseFlags(nil, none)
	if err != nil || d.clients != "400,800" || d.base != "f079f91" || d.window != 20*time.Second || d.out != "bench/results/arena-8x32.jsonl" {
		t.Fatalf("defaults %+v, %v", d, err)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"bad env duration": {nil, map[string]string{"BENCH_WINDOW": "soon"}, "BENCH_WINDOW"},
		"bad env int":      {nil, map[string]string{"BENCH_HZ": "fast"}, "BENCH_HZ"},
		"bad env bool":     {nil, map[string]string{"BENCH_MICRO": "maybe"}, "BENCH_MICRO"},
		"hz":               {[]string{"-hz", "0"}, nil, "-hz"},
		"window":           {[]string{"-window", "0s"}, nil, "-window"},
		"ramp":             {[]string{"-ramp", "0"}, nil, "-ramp"},
		"loops":            {[]string{"-floor-loops", "0"}, nil, "-floor-loops"},
		"stray argument":   {[]string{"floor"}, nil, "unexpected"},
	} {
		_, err := parseFlags(tc.args, func(k string) string { return tc.env[k] })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", name, err, tc.want)
		}
	}
	if _, err := parseFlags([]string{"-help"}, func(string) string { return "" }); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-help: %v", err)
	}
}

func TestEnvKeysMatchFlags(t *testing.T) {
	var names []string
	_, _ = parseFlags(nil, func(k string) string {
		names = append(names, k)
		return ""
	})
	for flagName, key := range envKeys {
		if !slices.Contains(names, key) {
			t.Errorf("%s (-%s) is never read", key, flagName)
		}
	}
	if len(names) != len(envKeys) {
		t.Errorf("%d flags read %d variables: %v", len(envKeys), len(names), names)
	}
}

func TestIntsFloats(t *testing.T) {
	if got, err := ints(" 400, 800 ,"); err != nil || !slices.Equal(got, []int{400, 800}) {
		t.Fatalf("ints = %v, %v", got, err)
	}
	for _, bad := range []string{"", ",", "x", "0", "-5"} {
		if _, err := ints(bad); err == nil {
			t.Errorf("ints(%q): no error", bad)
		}
	}
	if got, err := floats("0, 300"); err != nil || !slices.Equal(got, []float64{0, 300}) {
		t.Fatalf("floats = %v, %v", got, err)
	}
	if got, err := floats(""); err != nil || !slices.Equal(got, []float64{0}) {
		t.Fatalf("floats(\"\") = %v, %v", got, err)
	}
	for _, bad := range []string{"x", "-1", "NaN"} {
		if _, err := floats(bad); err == nil {
			t.Errorf("floats(%q): no error", bad)
		}
	}
}
