package ops

import (
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rallypoint/rallypoint/game"
)

// TestTickObserverAllocs: the per-tick path on the match goroutine
// allocates nothing.
func TestTickObserverAllocs(t *testing.T) {
	m := newMetrics()
	obs := m.tickObserver("arena")
	tt := game.TickTiming{Tick: 1, Duration: 300 * time.Microsecond, Lateness: 40 * time.Microsecond}
	if n := testing.AllocsPerRun(1000, func() { obs(tt) }); n != 0 {
		t.Fatalf("tick observer: %v allocations per tick", n)
	}
	if got := testutil.CollectAndCount(m.tickDuration); got != 1 {
		t.Fatalf("%d tick duration series", got)
	}
}

// BenchmarkTickObserver is the metrics' cost per match tick: two histogram
// observations (duration and lateness).
func BenchmarkTickObserver(b *testing.B) {
	m := newMetrics()
	obs := m.tickObserver("arena")
	tt := game.TickTiming{Tick: 1, Duration: 300 * time.Microsecond, Lateness: 40 * time.Microsecond}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tt.Duration = time.Duration(i&1023) * time.Microsecond
		obs(tt)
	}
}

// BenchmarkTickObserverParallel: many matches observing at once (they
// share the mode's histogram, whose counters are atomics).
func BenchmarkTickObserverParallel(b *testing.B) {
	m := newMetrics()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		obs := m.tickObserver("arena")
		tt := game.TickTiming{Tick: 1, Duration: 300 * time.Microsecond, Lateness: 40 * time.Microsecond}
		for pb.Next() {
			obs(tt)
		}
	})
}

func TestQuantile(t *testing.T) {
	m := newMetrics()
	empty := readHist(m.tickDuration)
	if _, ok := quantile(empty, empty, 0.99); ok {
		t.Fatal("quantile of nothing")
	}
	obs := m.tickObserver("bench")
	for i := 0; i < 99; i++ {
		obs(game.TickTiming{Duration: 100 * time.Microsecond})
	}
	obs(game.TickTiming{Duration: 10 * time.Millisecond})
	before := readHist(m.tickDuration)
	p50, _ := quantile(empty, before, 0.5)
	p100, _ := quantile(empty, before, 1)
	if p50 < 60e-6 || p50 > 130e-6 || p100 < 7e-3 || p100 > 13e-3 {
		t.Errorf("p50 %v p100 %v", p50, p100)
	}
	// Only the interval counts: a second batch of slow ticks.
	for i := 0; i < 10; i++ {
		obs(game.TickTiming{Duration: 20 * time.Millisecond})
	}
	after := readHist(m.tickDuration)
	if p, _ := quantile(before, after, 0.5); p < 13e-3 || p > 30e-3 {
		t.Errorf("interval p50 %v", p)
	}
	// Beyond the last bucket: the last bound.
	obs(game.TickTiming{Duration: time.Second})
	last := readHist(m.tickDuration)
	if p, _ := quantile(after, last, 0.99); p != tickBuckets()[len(tickBuckets())-1] || math.IsNaN(p) {
		t.Errorf("+Inf bucket p99 %v", p)
	}
}

// TestInstrumentLabels: routes are mux patterns, not paths; unmatched
// requests share one label; status codes are recorded.
func TestInstrumentLabels(t *testing.T) {
	m := newMetrics()
	inner := http.NewServeMux()
	inner.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	outer := http.NewServeMux()
	outer.Handle("/v1/", inner)
	outer.HandleFunc("POST /v1/make", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	hs := httptest.NewServer(instrument(m.httpRequests, outer))
	defer hs.Close()
	for _, req := range []struct{ method, path string }{
		{"GET", "/v1/things/1"}, {"GET", "/v1/things/2"}, {"GET", "/v1/things/missing"},
		{"POST", "/v1/make"}, {"GET", "/elsewhere"}, {"GET", "/also/elsewhere"},
	} {
		r, _ := http.NewRequest(req.method, hs.URL+req.path, nil)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, c := range []struct {
		route, code string
		want        float64
	}{
		{"GET /v1/things/{id}", "200", 2},
		{"GET /v1/things/{id}", "404", 1},
		{"POST /v1/make", "201", 1},
		{"unmatched", "404", 2},
	} {
		if got := testutil.ToFloat64(m.httpRequests.WithLabelValues(c.route, c.code)); got != c.want {
			t.Errorf("%s %s: %v, want %v", c.route, c.code, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.httpRequests); n != 4 {
		t.Errorf("%d series, want 4", n)
	}
}
