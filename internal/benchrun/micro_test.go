package benchrun

import "testing"

func TestParseBenchLine(t *testing.T) {
	name, m, ok := parseBenchLine("BenchmarkEncodeArena8x32/interest=0-2   3173799   373.9 ns/op   4049 B/client/s@30Hz   135.0 B/snapshot   0 B/op   0 allocs/op")
	if !ok || name != "EncodeArena8x32/interest=0" || m["ns/op"] != "373.9" || m["B/snapshot"] != "135.0" || m["allocs/op"] != "0" {
		t.Fatalf("got %q %v %v", name, m, ok)
	}
	if _, _, ok := parseBenchLine("PASS"); ok {
		t.Fatal("PASS parsed as a benchmark")
	}
}
