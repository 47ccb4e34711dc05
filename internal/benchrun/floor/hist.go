package floor

import "time"

// Histogram buckets, as in the bots' gap histogram: 100 µs wide below
// 200 ms, 1 ms wide from there to 10 s, then one overflow bucket.
const (
	fineWidth   = 100 * time.Microsecond
	fineLimit   = 200 * time.Millisecond
	coarseWidth = time.Millisecond
	coarseLimit = 10 * time.Second
	nFine       = int(fineLimit / fineWidth)
	nCoarse     = int((coarseLimit - fineLimit) / coarseWidth)
	nBuckets    = nFine + nCoarse + 1
)

// histogram counts durations in fixed buckets. It is owned by one
// goroutine; merge sums several.
type histogram struct {
	counts [nBuckets]uint64
	total  uint64
	max    time.Duration
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
	h.counts[bucketOf(d)]++
	h.total++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (0 < q <= 1), or 0 with no samples.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total) + 0.5)
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, n := range h.counts {
		seen += n
		if seen >= rank {
			if i == nBuckets-1 {
				return h.max // the overflow bucket's samples are all at most max
			}
			return min(bucketMid(i), h.max)
		}
	}
	return h.max
}

// Quantiles summarizes a distribution in milliseconds (the JSON shape of
// cmd/bots' snapshot_gap_ms).
type Quantiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
	N   uint64  `json:"n"`
}

func (h *histogram) quantiles() Quantiles {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Quantiles{P50: ms(h.quantile(0.50)), P99: ms(h.quantile(0.99)), Max: ms(h.max), N: h.total}
}
