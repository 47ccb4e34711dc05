package netcode

import (
	"math"
	"testing"
	"time"
)

// TestFrameBucket: the burst, then the rate; no refill past the burst or
// from a clock that steps back; +Inf allows everything.
func TestFrameBucket(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0).UnixNano()
	b := newFrameBucket(10, 3)
	for i := range 3 {
		if !b.allow(t0) {
			t.Fatalf("frame %d of the burst refused", i)
		}
	}
	if b.allow(t0) {
		t.Fatal("a fourth frame at once allowed")
	}
	if b.allow(t0 + int64(50*time.Millisecond)) {
		t.Fatal("allowed after half a token's time")
	}
	if !b.allow(t0 + int64(100*time.Millisecond)) {
		t.Fatal("refused after a token's time")
	}
	if b.allow(t0) {
		t.Fatal("a clock stepping back refilled the bucket")
	}
	later := t0 + int64(time.Hour)
	for i := range 3 {
		if !b.allow(later) {
			t.Fatalf("after an hour: frame %d refused", i)
		}
	}
	if b.allow(later) {
		t.Fatal("refilled past the burst")
	}
	inf := newFrameBucket(math.Inf(1), 0)
	for range 1000 {
		if !inf.allow(t0) {
			t.Fatal("an unlimited bucket refused")
		}
	}
	zero := newFrameBucket(0, 1)
	if !zero.allow(t0) || zero.allow(later) {
		t.Fatal("rate 0: want the burst only")
	}
}
