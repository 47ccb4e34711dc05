package bots

import (
	"sync/atomic"
	"time"
)

// Histogram buckets: 100 µs wide below 200 ms (snapshot gaps sit around
// 33 ms at 30 Hz), 1 ms wide from there to 10 s, then one overflow bucket.
const (
	fineWidth   = 100 * time.Microsecond
	fineLimit   = 200 * time.Millisecond
	coarseWidth = time.Millisecond
	coarseLimit = 10 * time.Second
	nFine       = int(fineLimit / fineWidth)
	nCoarse     = int((coarseLimit - fineLimit) / coarseWidth)
	nBuckets    = nFine + nCoarse + 1
)

// histogram counts durations in fixed buckets with atomics: many
// goroutines record into it without a lock, and recording never allocates.
type histogram struct {
	buckets [nBuckets]atomic.Uint64
	max     atomic.Int64 // nanoseconds
}

func bucketOf(d time.Duration) int {
	switch {
	case d < 0:
		return 0
	case d < fineLimit:
		return int(d / fineWidth)
	case d < coarseLimit:
		return nFine + int((d-fineLimit)/coarseWidth)
	}
	return nBuckets - 1
}

// bucketMid is the value reported for bucket i: its middle (the overflow
// bucket reports its lower bound).
func bucketMid(i int) time.Duration {
	switch {
	case i < nFine:
		return time.Duration(i)*fineWidth + fineWidth/2
	case i < nBuckets-1:
		return fineLimit + time.Duration(i-nFine)*coarseWidth + coarseWidth/2
	}
	return coarseLimit
}

func (h *histogram) add(d time.Duration) {
	h.buckets[bucketOf(d)].Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// merged sums histograms into one snapshot.
type merged struct {
	counts [nBuckets]uint64
	total  uint64
	max    time.Duration
}

func (m *merged) add(h *histogram) {
	for i := range h.buckets {
		n := h.buckets[i].Load()
		m.counts[i] += n
		m.total += n
	}
	m.max = max(m.max, time.Duration(h.max.Load()))
}

// quantile returns the q-quantile (0 < q <= 1), or 0 with no samples.
func (m *merged) quantile(q float64) time.Duration {
	if m.total == 0 {
		return 0
	}
	rank := uint64(q*float64(m.total) + 0.5)
	rank = min(max(rank, 1), m.total)
	var seen uint64
	for i, n := range m.counts {
		seen += n
		if seen >= rank {
			return min(bucketMid(i), m.max)
		}
	}
	return m.max
}

// Quantiles summarizes a distribution in milliseconds.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
	N   uint64  `json:"n"`
}

func (m *merged) quantiles() Quantiles {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Quantiles{P50: ms(m.quantile(0.50)), P99: ms(m.quantile(0.99)), Max: ms(m.max), N: m.total}
}
