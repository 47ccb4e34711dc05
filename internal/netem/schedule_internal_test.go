package netem

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestReleaseSchedule checks the release rule on its own, free of
// scheduling noise: every chunk waits Delay ± Jitter after its arrival
// unless the chunk before it is released later, releases never go
// backwards, and the jitter really spreads them.
func TestReleaseSchedule(t *testing.T) {
	const d, j = 50 * time.Millisecond, 20 * time.Millisecond
	p := &Proxy{delay: d, jitter: j, rng: rand.New(rand.NewPCG(1, 2))}
	r := rand.New(rand.NewPCG(3, 4))
	t0 := time.Unix(1000, 0)
	arrival, prev := t0, time.Time{}
	lo, hi := time.Hour, time.Duration(0)
	for range 10000 {
		arrival = arrival.Add(time.Duration(r.IntN(int(40 * time.Millisecond))))
		rel := p.release(arrival, prev)
		wait := rel.Sub(arrival)
		if wait < d-j {
			t.Fatalf("released %v after arrival, before Delay-Jitter", wait)
		}
		if rel.Before(prev) {
			t.Fatal("release went backwards: order broken")
		}
		if wait > d+j && !rel.Equal(prev) {
			t.Fatalf("waited %v > Delay+Jitter though the previous chunk was released earlier", wait)
		}
		if !rel.Equal(prev) {
			lo, hi = min(lo, wait), max(hi, wait)
		}
		prev = rel
	}
	if lo > d-j+2*time.Millisecond || hi < d+j-2*time.Millisecond {
		t.Fatalf("own waits span %v..%v: jitter not uniform over ±%v", lo, hi, j)
	}
	p.delay, p.jitter = 0, 0
	if got := p.release(t0, time.Time{}); !got.Equal(t0) {
		t.Fatalf("no delay: released at +%v", got.Sub(t0))
	}
}

func TestDefaults(t *testing.T) {
	for _, tc := range []struct {
		in, wantDelay, wantJitter time.Duration
	}{{0, DefaultDelay, DefaultJitter}, {-1, 0, 0}, {7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond}} {
		c := Config{Target: "127.0.0.1:1", Delay: tc.in, Jitter: tc.in}
		if err := c.setDefaults(); err != nil {
			t.Fatal(err)
		}
		if c.Delay != tc.wantDelay || c.Jitter != tc.wantJitter || c.Listen != "127.0.0.1:0" {
			t.Errorf("%v: got %+v", tc.in, c)
		}
	}
}
