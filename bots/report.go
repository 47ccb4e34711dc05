package bots

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Line formats a progress line; rate is snapshots per second since the
// previous line.
func (p Progress) Line(rate float64) string {
	return fmt.Sprintf("%6.1fs  bots %d  connected %d  in match %d  snapshots/s %.0f  errors %d  faults %d  429s %d",
		p.Elapsed.Seconds(), p.Started, p.Connected, p.InMatch, rate, p.Errors, p.Faults, p.Limited)
}

// WriteTable writes the summary as a human-readable table.
func (s Summary) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, f string, v ...any) { fmt.Fprintf(tw, "%s\t"+f+"\n", append([]any{k}, v...)...) }
	row("bots", "%d (peak connected %d)", s.Bots, s.PeakConnected)
	row("duration", "%v (measured %v, %.0f bot-seconds)", dur(s.DurationS), dur(s.MeasuredS), s.BotSeconds)
	row("matches", "%d joined, %d played to the end", s.Matches, s.MatchesOver)
	row("errors", "%d (connect %d, disconnects %d)", s.Errors, s.ConnectErrors, s.Disconnects)
	row("reconnects", "%d", s.Reconnects)
	row("snapshots", "%d", s.Snapshots)
	row("inputs", "%d", s.Inputs)
	row("snapshot gap ms", "p50 %.1f  p99 %.1f  max %.1f", s.SnapshotGapMS.P50, s.SnapshotGapMS.P99, s.SnapshotGapMS.Max)
	row("rtt ms", "p50 %.1f  p99 %.1f  max %.1f", s.RTTMS.P50, s.RTTMS.P99, s.RTTMS.Max)
	row("down B/bot/s", "%.0f payload, %.0f wire", s.DownBytesPerBotS, s.DownWireBytesPerBotS)
	row("up B/bot/s", "%.0f payload, %.0f wire", s.UpBytesPerBotS, s.UpWireBytesPerBotS)
	f := s.Faults
	if f.Drops+f.Stalls+f.Garbage > 0 {
		row("faults", "drops %d, stalls %d (closed %d), garbage %d (closed %d)", f.Drops, f.Stalls, f.StallCloses, f.Garbage, f.GarbageCloses)
	}
	if s.PeakConnected > 0 {
		row("process", "peak %d goroutines (%.2f per bot), peak RSS %.1f MiB (%.1f KiB per bot)",
			s.PeakGoroutines, float64(s.PeakGoroutines)/float64(s.PeakConnected),
			float64(s.PeakRSSBytes)/(1<<20), float64(s.PeakRSSBytes)/1024/float64(s.PeakConnected))
		row("go memory", "peak heap live %.1f MiB (%.1f KiB per bot), stacks %.1f MiB (%.1f KiB per bot)",
			float64(s.PeakHeapLiveBytes)/(1<<20), float64(s.PeakHeapLiveBytes)/1024/float64(s.PeakConnected),
			float64(s.PeakStackBytes)/(1<<20), float64(s.PeakStackBytes)/1024/float64(s.PeakConnected))
	}
	for _, e := range s.ErrorSamples {
		row("error sample", "%s", e)
	}
	return tw.Flush()
}

func dur(sec float64) time.Duration {
	return time.Duration(sec * float64(time.Second)).Round(100 * time.Millisecond)
}
