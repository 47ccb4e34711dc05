package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/netcode"
)

// Summary is one /ops/events message: the server at a glance. Rates and
// percentiles cover the interval since the stream's previous summary and
// are null in the first one (and the percentiles when nothing happened).
type Summary struct {
	Time        int64   `json:"t"`          // unix milliseconds
	IntervalS   float64 `json:"interval_s"` // seconds since the previous summary (0 in the first)
	Players     int     `json:"players"`    // humans connected to a match
	Bots        int     `json:"bots"`
	Held        int     `json:"held"`        // seats held for a player without a socket
	Connections int64   `json:"connections"` // game sockets open
	Matches     int     `json:"matches"`

	TicksPerS      *float64 `json:"ticks_per_s"`      // all matches together
	TickP99Ms      *float64 `json:"tick_p99_ms"`      // tick duration, 99th percentile
	LateP99Ms      *float64 `json:"late_p99_ms"`      // tick lateness, 99th percentile
	BytesOutPerS   *float64 `json:"bytes_out_per_s"`  // game payload bytes sent
	SnapshotsPerS  *float64 `json:"snapshots_per_s"`  // snapshots queued
	DroppedTicks   uint64   `json:"dropped_ticks"`    // in the interval
	ClosesByServer uint64   `json:"closes_by_server"` // sockets the server closed in the interval

	Queues       map[string]int `json:"queues"`          // tickets waiting, per mode
	Matched      uint64         `json:"matched"`         // tickets matched in the interval
	TimeToMatchS *float64       `json:"time_to_match_s"` // their mean wait

	Ready    bool   `json:"ready"`
	NotReady string `json:"not_ready,omitempty"` // why not
	Draining bool   `json:"draining"`

	Table      []netcode.MatchInfo `json:"table"`       // the first MaxTableRows matches by id
	TableTotal int                 `json:"table_total"` // all matches
}

// sampler makes the summaries of one event stream: it keeps the previous
// counter readings to turn them into rates.
type sampler struct {
	o     *Ops
	first bool
	at    time.Time
	lt    netcode.LoopTotals
	bytes uint64
	snaps uint64
	close uint64
	dur   hist
	late  hist
	match hist
}

// hist is a histogram's buckets summed over its labelled children.
type hist struct {
	bounds []float64 // upper bounds, ascending, without +Inf
	cum    []uint64  // cumulative counts per bound
	count  uint64
	sum    float64
}

func readHist(v *prometheus.HistogramVec) hist {
	ch := make(chan prometheus.Metric, 8)
	go func() {
		v.Collect(ch)
		close(ch)
	}()
	var h hist
	for m := range ch {
		var pb dto.Metric
		if m.Write(&pb) != nil || pb.GetHistogram() == nil {
			continue
		}
		ph := pb.GetHistogram()
		if h.bounds == nil {
			for _, b := range ph.GetBucket() {
				h.bounds = append(h.bounds, b.GetUpperBound())
			}
			h.cum = make([]uint64, len(h.bounds))
		}
		for i, b := range ph.GetBucket() {
			if i < len(h.cum) {
				h.cum[i] += b.GetCumulativeCount()
			}
		}
		h.count += ph.GetSampleCount()
		h.sum += ph.GetSampleSum()
	}
	return h
}

// quantile estimates the q-quantile of the observations made between prev
// and cur by linear interpolation inside the bucket that holds it (as
// Prometheus' histogram_quantile does). ok is false when there were none.
func quantile(prev, cur hist, q float64) (v float64, ok bool) {
	n := cur.count - prev.count
	if n == 0 || len(cur.bounds) == 0 {
		return 0, false
	}
	at := func(i int) float64 {
		c := cur.cum[i]
		if i < len(prev.cum) {
			c -= prev.cum[i]
		}
		return float64(c)
	}
	target := q * float64(n)
	lower, below := 0.0, 0.0
	for i, upper := range cur.bounds {
		c := at(i)
		if c >= target {
			if c == below {
				return upper, true
			}
			return lower + (upper-lower)*(target-below)/(c-below), true
		}
		lower, below = upper, c
	}
	return cur.bounds[len(cur.bounds)-1], true // in the +Inf bucket
}

func ptr(v float64) *float64 { return &v }

func (s *sampler) sample(ctx context.Context) Summary {
	o := s.o
	now := time.Now()
	srv := o.app.Game()
	st := srv.Stats()
	sum := Summary{Time: now.UnixMilli(), Connections: st.ConnsOpen.Load()}
	ms := srv.Matches()
	sum.Matches, sum.TableTotal = len(ms), len(ms)
	for _, m := range ms {
		sum.Players += len(m.Players) - m.Held
		sum.Bots += m.Bots
		sum.Held += m.Held
	}
	sum.Table = ms[:min(len(ms), o.cfg.MaxTableRows)]
	sum.Queues = o.app.Lobby().QueueLengths()
	if err := o.app.Ready(ctx); err != nil {
		sum.NotReady = err.Error()
	} else {
		sum.Ready = true
	}
	sum.Draining = o.app.Draining()

	lt := srv.LoopTotals()
	bytes, snaps := st.BytesOut.Load(), st.Snapshots.Load()
	var closes uint64
	for _, code := range netcode.CloseCodes() {
		closes += st.Closes(code)
	}
	dur, late := readHist(o.metrics.tickDuration), readHist(o.metrics.tickLateness)
	match := readHist(o.metrics.timeToMatch)
	if !s.first {
		dt := now.Sub(s.at).Seconds()
		sum.IntervalS = dt
		if dt > 0 {
			sum.TicksPerS = ptr(float64(lt.Ticks-s.lt.Ticks) / dt)
			sum.BytesOutPerS = ptr(float64(bytes-s.bytes) / dt)
			sum.SnapshotsPerS = ptr(float64(snaps-s.snaps) / dt)
		}
		if v, ok := quantile(s.dur, dur, 0.99); ok {
			sum.TickP99Ms = ptr(v * 1e3)
		}
		if v, ok := quantile(s.late, late, 0.99); ok {
			sum.LateP99Ms = ptr(v * 1e3)
		}
		sum.DroppedTicks = lt.DroppedTicks - s.lt.DroppedTicks
		sum.ClosesByServer = closes - s.close
		if n := match.count - s.match.count; n > 0 {
			sum.Matched = n
			sum.TimeToMatchS = ptr((match.sum - s.match.sum) / float64(n))
		}
	}
	s.first, s.at, s.lt, s.bytes, s.snaps, s.close = false, now, lt, bytes, snaps, closes
	s.dur, s.late, s.match = dur, late, match
	return sum
}

// serveEvents streams a Summary every EventInterval as Server-Sent Events
// until the client goes away or Shutdown.
func (o *Ops) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte("retry: 2000\n\n")); err != nil {
		return
	}
	s := &sampler{o: o, first: true}
	t := time.NewTicker(o.cfg.EventInterval)
	defer t.Stop()
	for {
		b, err := json.Marshal(s.sample(r.Context()))
		if err != nil {
			o.log.Error("ops summary", zap.Error(err))
			return
		}
		b = append(append([]byte("data: "), b...), "\n\n"...)
		if _, err := w.Write(b); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-o.streams.Done():
			return
		}
	}
}
