package benchrun

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// microBenches are the encoder benchmarks the micro table reports.
const microBenches = "EncodeArena8x32|Encode64x1000|KeyframeVsDelta"

// Micro runs the netcode encoder benchmarks (go test -bench) and prints a
// table of encode cost per client-tick, snapshot sizes and allocations.
func Micro(ctx context.Context, w io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", microBenches, "-benchmem", "./netcode/")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go test -bench: %w\n%s", err, out.String())
	}
	fmt.Fprintf(w, "%-32s %14s %11s %11s %9s %10s\n", "encoder benchmark", "ns/client-tick", "B/snapshot", "keyframe-B", "delta-B", "allocs/op")
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		name, m, ok := parseBenchLine(sc.Text())
		if !ok {
			continue
		}
		ns := m["ns/op"]
		if name == "KeyframeVsDelta" {
			ns = "-" // that one times building both whole-world streams, not a client-tick
		}
		fmt.Fprintf(w, "%-32s %14s %11s %11s %9s %10s\n", name, ns, dash(m["B/snapshot"]), dash(m["keyframe-B"]), dash(m["delta-B"]), m["allocs/op"])
	}
	return sc.Err()
}

// parseBenchLine splits "BenchmarkX-2  N  v unit  v unit ..." into the
// benchmark's name (without the prefix and the GOMAXPROCS suffix) and its
// metrics by unit.
func parseBenchLine(line string) (string, map[string]string, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
		return "", nil, false
	}
	name := strings.TrimPrefix(f[0], "Benchmark")
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		name = name[:i]
	}
	m := make(map[string]string)
	for i := 2; i+1 < len(f); i += 2 {
		m[f[i+1]] = f[i]
	}
	return name, m, true
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
