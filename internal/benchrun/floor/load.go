package floor

import (
	"fmt"
	"runtime"
	"time"
)

// LoadConfig configures RunLoad.
type LoadConfig struct {
	// Addr is the floor server's host:port (IPv4). Required.
	Addr string
	// Conns is how many connections to open. If zero, 1 is used.
	Conns int
	// Hz is the input rate per connection. If zero, 30 is used.
	Hz int
	// Loops is how many goroutines drive the connections (each owns an
	// epoll instance and a share of the connections). If zero, 2 is used;
	// never more than Conns.
	Loops int
	// Phases spreads each goroutine's inputs over the tick in this many
	// evenly spaced groups, as cmd/bots' scheduler shards do (4 per CPU),
	// so the server sees inputs arrive in the same pattern as from the
	// bots. If zero, 4 * GOMAXPROCS is used.
	Phases int
	// MeasureAfter starts the measured window (gaps and bytes) this long
	// after the start. If zero, everything is measured.
	MeasureAfter time.Duration
	// Duration stops the load this long after the start. If zero, it runs
	// until its context is done.
	Duration time.Duration
}

func (c *LoadConfig) setDefaults() error {
	if c.Addr == "" {
		return fmt.Errorf("%w: Addr is required", ErrConfig)
	}
	if c.Conns == 0 {
		c.Conns = 1
	}
	if c.Hz == 0 {
		c.Hz = 30
	}
	if c.Loops == 0 {
		c.Loops = 2
	}
	if c.Phases == 0 {
		c.Phases = 4 * runtime.GOMAXPROCS(0)
	}
	switch {
	case c.Conns < 0:
		return fmt.Errorf("%w: Conns %d", ErrConfig, c.Conns)
	case c.Hz < 1 || c.Hz > 1000:
		return fmt.Errorf("%w: Hz %d out of 1..1000", ErrConfig, c.Hz)
	case c.Loops < 0:
		return fmt.Errorf("%w: Loops %d", ErrConfig, c.Loops)
	case c.Phases < 0 || c.Phases > 1000:
		return fmt.Errorf("%w: Phases %d out of 1..1000", ErrConfig, c.Phases)
	case c.MeasureAfter < 0 || c.Duration < 0:
		return fmt.Errorf("%w: negative MeasureAfter or Duration", ErrConfig)
	}
	c.Loops = min(c.Loops, c.Conns)
	return nil
}

// LoadSummary is what a load run saw. Its JSON form uses the field names
// of cmd/bots -json, so the bench reads both the same way; byte rates and
// gaps cover the measured window.
type LoadSummary struct {
	Bots                 int       `json:"bots"`           // connections attempted
	PeakConnected        int       `json:"peak_connected"` // connections up after the dials
	ConnectErrors        uint64    `json:"connect_errors"`
	Disconnects          uint64    `json:"disconnects"` // connections lost before the end
	Errors               uint64    `json:"errors"`      // connect_errors + disconnects
	Snapshots            uint64    `json:"snapshots"`   // down messages received, whole run
	Inputs               uint64    `json:"inputs"`      // up messages sent, whole run (hellos aside)
	InputsDropped        uint64    `json:"inputs_dropped"`
	DurationS            float64   `json:"duration_s"`
	MeasuredS            float64   `json:"measured_s"`
	BotSeconds           float64   `json:"bot_seconds"` // connected time in the window
	SnapshotGapMS        Quantiles `json:"snapshot_gap_ms"`
	DownBytesPerBotS     float64   `json:"down_bytes_per_bot_s"`
	DownWireBytesPerBotS float64   `json:"down_wire_bytes_per_bot_s"` // the same: no framing
	UpBytesPerBotS       float64   `json:"up_bytes_per_bot_s"`
	UpWireBytesPerBotS   float64   `json:"up_wire_bytes_per_bot_s"`
	ErrorSamples         []string  `json:"error_samples,omitempty"`
}
