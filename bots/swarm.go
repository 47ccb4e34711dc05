package bots

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/netcode/wire"
)

// Config configures a Swarm. The zero value of every field but Server
// means its default.
type Config struct {
	// Server is the lobby's base URL, such as "http://127.0.0.1:8080".
	// Required.
	Server string
	// Bots is how many bots to run. If zero, 1 is used.
	Bots int
	// Mode is the game mode to queue for. If empty, "bench" is used.
	Mode string
	// Brain is the brain kind (see Kinds). If empty, the mode's own server
	// bot brain (game.Mode.NewBrain) is used: chase in arena, wander in
	// bench.
	Brain string
	// NewBrain, if set, makes each bot's brain instead of Brain: bot is
	// the bot's index, seed its seed for this match, hz the match's tick
	// rate.
	NewBrain func(bot int, seed uint64, hz int) (game.Brain, error)
	// Seed makes brains and fault timing reproducible.
	Seed uint64
	// Ramp is how many new bots start per second. If zero, all start at
	// once.
	Ramp float64
	// Duration stops the swarm this long after Run starts (ramp
	// included). If zero, the swarm runs until its context is done (or,
	// with OneMatch, until every bot has played its match).
	Duration time.Duration
	// MeasureAfter starts the measured window (snapshot gaps, RTT, bytes
	// per bot per second) this long after Run starts, so a ramp and a
	// warm-up stay out of the figures. If zero, everything is measured.
	MeasureAfter time.Duration
	// Hz is the input rate per bot. If zero, 30 is used.
	Hz int
	// Shards is the number of scheduler goroutines that tick the bots.
	// If zero, 4 per CPU is used (at most one per bot).
	Shards int
	// OneMatch makes each bot stop after one match instead of queueing
	// again; the swarm then ends when every bot is done.
	OneMatch bool
	// ReadBufferSize is each socket's read buffer. If zero, 1 KiB is used.
	ReadBufferSize int
	// Faults injects client faults into a fraction of the bots.
	Faults Faults
	// NamePrefix names the bots NamePrefix0, NamePrefix1, ... If empty,
	// "bot" is used.
	NamePrefix string
	// HTTPClient talks to the lobby. If nil, one with NewTransport is used.
	HTTPClient *http.Client
	// OnMatchOver, if set, is called when a bot's match ends (on a client
	// read goroutine; it must not block).
	OnMatchOver func(bot int, player uint32, m wire.MatchOver)
}

// Faults are fractions (0 to 1) of the bots that misbehave once per match,
// FaultDelay after they join it.
type Faults struct {
	// Drop cuts the TCP connection without a close handshake; the bot
	// resumes its seat with a fresh token from POST /v1/matches/{id}/token.
	Drop float64
	// Stall stops processing snapshots (the read goroutine blocks, so the
	// socket is not read and acks stop) for StallFor, while inputs keep
	// flowing: the server sees a slow reader and pauses or closes it
	// (4008); the bot then resumes.
	Stall float64
	// Garbage sends one malformed frame; the server closes the socket with
	// 4006 and the bot rejoins its held seat.
	Garbage float64
	// FaultDelay is when, after joining a match, the fault fires: uniform
	// in [FaultDelay, 2*FaultDelay]. If zero, 1 s is used.
	FaultDelay time.Duration
	// StallFor is how long a stall lasts. If zero, 8 s is used.
	StallFor time.Duration
}

// Fault is what a bot does wrong.
type Fault uint8

// Faults a bot can have.
const (
	FaultNone Fault = iota
	FaultDrop
	FaultStall
	FaultGarbage
)

func (f Fault) String() string {
	return [...]string{"none", "drop", "stall", "garbage"}[f]
}

// ErrConfig is returned by NewSwarm for an invalid Config.
var ErrConfig = errors.New("bots: invalid config")

func (c *Config) setDefaults() error {
	if c.Server == "" {
		return fmt.Errorf("%w: Server is required", ErrConfig)
	}
	if c.Bots == 0 {
		c.Bots = 1
	}
	if c.Bots < 0 {
		return fmt.Errorf("%w: Bots %d", ErrConfig, c.Bots)
	}
	if c.Mode == "" {
		c.Mode = game.ModeBench
	}
	if c.Brain != "" && c.NewBrain == nil {
		if _, err := NewBrain(c.Brain, 0); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if c.Hz == 0 {
		c.Hz = 30
	}
	if c.Hz < 1 || c.Hz > 240 {
		return fmt.Errorf("%w: Hz %d out of 1..240", ErrConfig, c.Hz)
	}
	if c.Ramp < 0 || c.Duration < 0 || c.MeasureAfter < 0 {
		return fmt.Errorf("%w: negative Ramp, Duration or MeasureAfter", ErrConfig)
	}
	if c.Shards == 0 {
		c.Shards = 4 * runtime.GOMAXPROCS(0)
	}
	c.Shards = max(1, min(c.Shards, c.Bots))
	if c.ReadBufferSize == 0 {
		c.ReadBufferSize = 1024
	}
	f := &c.Faults
	for _, v := range []float64{f.Drop, f.Stall, f.Garbage} {
		if v < 0 || v > 1 || math.IsNaN(v) {
			return fmt.Errorf("%w: fault fraction %v out of [0, 1]", ErrConfig, v)
		}
	}
	if f.Drop+f.Stall+f.Garbage > 1 {
		return fmt.Errorf("%w: fault fractions add up to more than 1", ErrConfig)
	}
	if f.FaultDelay == 0 {
		f.FaultDelay = time.Second
	}
	if f.StallFor == 0 {
		f.StallFor = 8 * time.Second
	}
	if c.NamePrefix == "" {
		c.NamePrefix = "bot"
	}
	return nil
}

// faultOf spreads faults over the bots deterministically: bot i's place
// in [0, 1) is a low-discrepancy sequence, so small swarms get their share.
func (c *Config) faultOf(i int) Fault {
	x := math.Mod(float64(i)*0.6180339887498949+0.5, 1)
	switch f := c.Faults; {
	case x < f.Drop:
		return FaultDrop
	case x < f.Drop+f.Stall:
		return FaultStall
	case x < f.Drop+f.Stall+f.Garbage:
		return FaultGarbage
	}
	return FaultNone
}

// counters are a swarm's running totals.
type counters struct {
	started, connected, inMatch, done atomic.Int64
	peakConnected                     atomic.Int64
	connectErrors, disconnects        atomic.Uint64
	reconnects, matchesOver           atomic.Uint64
	snapshots, inputs                 atomic.Uint64
	drops, stalls, stallCloses        atomic.Uint64
	garbage, garbageCloses            atomic.Uint64

	// the measured window
	bytesIn, bytesOut, wireIn, wireOut atomic.Uint64
	botNanos                           atomic.Int64 // connected bot-time
}

// Progress is a live view of a running swarm.
type Progress struct {
	Elapsed   time.Duration
	Started   int // bots launched
	Connected int // bots with a socket up
	InMatch   int // bots in a match (up or resuming)
	Snapshots uint64
	Errors    uint64
	Faults    uint64 // faults injected
	Limited   uint64 // lobby answers of 429 (retried after Retry-After)
}

// Summary is a finished swarm's figures; its JSON form is what cmd/bots
// -json prints. Byte rates and distributions cover the measured window.
type Summary struct {
	Bots                 int          `json:"bots"`           // bots started
	PeakConnected        int          `json:"peak_connected"` // most bots connected at once
	Matches              int          `json:"matches"`        // distinct match ids joined
	MatchesOver          uint64       `json:"matches_over"`   // matches bots played to the end
	ConnectErrors        uint64       `json:"connect_errors"` // failed sign-in, queue or dial attempts
	Disconnects          uint64       `json:"disconnects"`    // unexpected connection losses
	Errors               uint64       `json:"errors"`         // connect_errors + disconnects
	Reconnects           uint64       `json:"reconnects"`     // seats resumed on a new socket
	Snapshots            uint64       `json:"snapshots"`      // snapshots applied, whole run
	Inputs               uint64       `json:"inputs"`         // inputs sent, whole run
	DurationS            float64      `json:"duration_s"`
	MeasuredS            float64      `json:"measured_s"`  // length of the measured window
	BotSeconds           float64      `json:"bot_seconds"` // connected bot-time in the window
	SnapshotGapMS        Quantiles    `json:"snapshot_gap_ms"`
	RTTMS                Quantiles    `json:"rtt_ms"`                    // input sent to its ack in a snapshot
	DownBytesPerBotS     float64      `json:"down_bytes_per_bot_s"`      // WebSocket payload
	DownWireBytesPerBotS float64      `json:"down_wire_bytes_per_bot_s"` // plus frame headers
	UpBytesPerBotS       float64      `json:"up_bytes_per_bot_s"`
	UpWireBytesPerBotS   float64      `json:"up_wire_bytes_per_bot_s"`
	Faults               FaultSummary `json:"faults"`
	PeakGoroutines       int          `json:"peak_goroutines"`      // this process, sampled each second
	PeakRSSBytes         int64        `json:"peak_rss_bytes"`       // this process (Linux), sampled each second
	PeakHeapLiveBytes    int64        `json:"peak_heap_live_bytes"` // Go heap live after the last GC, at its peak
	PeakStackBytes       int64        `json:"peak_stack_bytes"`     // goroutine stacks, at their peak
	ErrorSamples         []string     `json:"error_samples,omitempty"`
}

// FaultSummary counts injected faults and the server's expected answers.
type FaultSummary struct {
	Drops         uint64 `json:"drops"`          // connections cut
	Stalls        uint64 `json:"stalls"`         // readers stalled
	StallCloses   uint64 `json:"stall_closes"`   // stalled readers the server closed (4008)
	Garbage       uint64 `json:"garbage"`        // malformed frames sent
	GarbageCloses uint64 `json:"garbage_closes"` // of which the server closed (4006)
}

// Swarm runs many bots from one process.
type Swarm struct {
	// immutable after NewSwarm
	cfg     Config
	log     *zap.Logger
	lobby   *LobbyClient
	ownHTTP bool // the swarm made cfg.HTTPClient and closes its idle connections

	// set by Run
	start       time.Time
	startNs     atomic.Int64 // start for Progress (unix nanos; 0 before Run)
	measureFrom atomic.Int64 // unix nanos
	ctx         context.Context
	wg          sync.WaitGroup // join goroutines and shards
	shards      []*shard
	allDone     chan struct{} // closed when every bot is done (OneMatch)
	ran         atomic.Bool

	stats counters

	mu                  sync.Mutex // guards the fields below
	matches             map[string]struct{}
	samples             []string
	peakG               int
	peakRSS             int64
	peakHeap, peakStack int64
}

// NewSwarm validates cfg and returns a Swarm ready to Run. log may be nil.
func NewSwarm(cfg Config, log *zap.Logger) (*Swarm, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	owned := cfg.HTTPClient == nil
	if owned {
		cfg.HTTPClient = &http.Client{Transport: NewTransport()}
	}
	return &Swarm{
		ownHTTP: owned,
		cfg:     cfg,
		log:     log,
		lobby:   NewLobbyClient(cfg.Server, cfg.HTTPClient),
		matches: make(map[string]struct{}),
		allDone: make(chan struct{}),
	}, nil
}

// Run starts the bots at the configured ramp and runs them until the
// duration is over, ctx is done, or (with OneMatch) every bot is done;
// then it closes every bot, waits for all its goroutines, and returns the
// summary. A swarm runs once.
func (s *Swarm) Run(ctx context.Context) (Summary, error) {
	if !s.ran.CompareAndSwap(false, true) {
		return Summary{}, errors.New("bots: swarm already ran")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.ctx = ctx
	s.start = time.Now()
	s.startNs.Store(s.start.UnixNano())
	s.measureFrom.Store(s.start.Add(s.cfg.MeasureAfter).UnixNano())

	period := time.Second / time.Duration(s.cfg.Hz)
	s.shards = make([]*shard, s.cfg.Shards)
	for i := range s.shards {
		sh := &shard{s: s, period: period, phase: period * time.Duration(i) / time.Duration(len(s.shards))}
		s.shards[i] = sh
		s.wg.Add(1)
		go sh.run()
	}

	var end <-chan time.Time
	if s.cfg.Duration > 0 {
		t := time.NewTimer(s.cfg.Duration)
		defer t.Stop()
		end = t.C
	}
	sample := time.NewTicker(time.Second)
	defer sample.Stop()

	launched := 0
	launch := func(now time.Time) {
		want := s.cfg.Bots
		if s.cfg.Ramp > 0 {
			want = min(want, 1+int(now.Sub(s.start).Seconds()*s.cfg.Ramp))
		}
		for ; launched < want; launched++ {
			b := newBot(s, launched)
			s.stats.started.Add(1)
			s.wg.Add(1)
			go b.joinLoop()
		}
	}
	launch(s.start)
	var rampC <-chan time.Time
	if launched < s.cfg.Bots {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		rampC = t.C
	}
loop:
	for {
		select {
		case now := <-rampC:
			launch(now)
			if launched == s.cfg.Bots {
				rampC = nil
			}
		case <-sample.C:
			s.sampleProcess()
		case <-end:
			break loop
		case <-s.allDone:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	s.sampleProcess()
	end2 := time.Now()
	cancel()
	s.wg.Wait()
	if s.ownHTTP {
		s.cfg.HTTPClient.CloseIdleConnections()
	}
	return s.summary(end2), nil
}

// botDone notes that a bot will not play again.
func (s *Swarm) botDone() {
	if s.stats.done.Add(1) == int64(s.cfg.Bots) {
		close(s.allDone)
	}
}

func (s *Swarm) measuring(now int64) bool { return now >= s.measureFrom.Load() }

// MatchIDs returns the ids of every match the swarm's bots joined.
func (s *Swarm) MatchIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.matches))
	for id := range s.matches {
		ids = append(ids, id)
	}
	return ids
}

func (s *Swarm) noteMatch(id string) {
	s.mu.Lock()
	s.matches[id] = struct{}{}
	s.mu.Unlock()
}

// noteError keeps a few distinct error texts for the summary.
func (s *Swarm) noteError(what string, err error) {
	msg := what + ": " + err.Error()
	if ce := s.log.Check(zap.DebugLevel, "bot error"); ce != nil {
		ce.Write(zap.String("what", what), zap.Error(err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) >= 8 {
		return
	}
	for _, m := range s.samples {
		if m == msg {
			return
		}
	}
	s.samples = append(s.samples, msg)
}

func (s *Swarm) sampleProcess() {
	g := runtime.NumGoroutine()
	rss := selfRSS()
	ms := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(ms)
	var heap, stack int64
	if ms[0].Value.Kind() == metrics.KindUint64 {
		heap = int64(ms[0].Value.Uint64())
	}
	if ms[1].Value.Kind() == metrics.KindUint64 {
		stack = int64(ms[1].Value.Uint64())
	}
	s.mu.Lock()
	s.peakG = max(s.peakG, g)
	s.peakRSS = max(s.peakRSS, rss)
	s.peakHeap, s.peakStack = max(s.peakHeap, heap), max(s.peakStack, stack)
	s.mu.Unlock()
}

// selfRSS reads this process's resident set from /proc (0 elsewhere).
func selfRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			if fs := strings.Fields(rest); len(fs) > 0 {
				kb, _ := strconv.ParseInt(fs[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// Progress returns live counters; safe to call while Run runs.
func (s *Swarm) Progress() Progress {
	st := &s.stats
	var el time.Duration
	if ns := s.startNs.Load(); ns != 0 {
		el = time.Since(time.Unix(0, ns))
	}
	return Progress{
		Elapsed:   el,
		Started:   int(st.started.Load()),
		Connected: int(st.connected.Load()),
		InMatch:   int(st.inMatch.Load()),
		Snapshots: st.snapshots.Load(),
		Errors:    st.connectErrors.Load() + st.disconnects.Load(),
		Faults:    st.drops.Load() + st.stalls.Load() + st.garbage.Load(),
		Limited:   s.lobby.RateLimited(),
	}
}

func (s *Swarm) summary(end time.Time) Summary {
	st := &s.stats
	var gaps, rtts merged
	for _, sh := range s.shards {
		gaps.add(&sh.gaps)
		rtts.add(&sh.rtts)
	}
	measureFrom := time.Unix(0, s.measureFrom.Load())
	sum := Summary{
		Bots:          int(st.started.Load()),
		PeakConnected: int(st.peakConnected.Load()),
		MatchesOver:   st.matchesOver.Load(),
		ConnectErrors: st.connectErrors.Load(),
		Disconnects:   st.disconnects.Load(),
		Reconnects:    st.reconnects.Load(),
		Snapshots:     st.snapshots.Load(),
		Inputs:        st.inputs.Load(),
		DurationS:     end.Sub(s.start).Seconds(),
		MeasuredS:     max(0, end.Sub(measureFrom).Seconds()),
		BotSeconds:    float64(st.botNanos.Load()) / 1e9,
		SnapshotGapMS: gaps.quantiles(),
		RTTMS:         rtts.quantiles(),
		Faults: FaultSummary{
			Drops: st.drops.Load(), Stalls: st.stalls.Load(), StallCloses: st.stallCloses.Load(),
			Garbage: st.garbage.Load(), GarbageCloses: st.garbageCloses.Load(),
		},
	}
	sum.Errors = sum.ConnectErrors + sum.Disconnects
	if sum.BotSeconds > 0 {
		sum.DownBytesPerBotS = float64(st.bytesIn.Load()) / sum.BotSeconds
		sum.DownWireBytesPerBotS = float64(st.wireIn.Load()) / sum.BotSeconds
		sum.UpBytesPerBotS = float64(st.bytesOut.Load()) / sum.BotSeconds
		sum.UpWireBytesPerBotS = float64(st.wireOut.Load()) / sum.BotSeconds
	}
	s.mu.Lock()
	sum.Matches = len(s.matches)
	sum.ErrorSamples = append([]string(nil), s.samples...)
	sum.PeakGoroutines, sum.PeakRSSBytes = s.peakG, s.peakRSS
	sum.PeakHeapLiveBytes, sum.PeakStackBytes = s.peakHeap, s.peakStack
	s.mu.Unlock()
	return sum
}

// shard is one scheduler goroutine and the playing bots it ticks.
type shard struct {
	// immutable after Run creates it
	s      *Swarm
	period time.Duration
	phase  time.Duration

	// distributions, recorded by the shard and by its bots' read goroutines
	gaps, rtts histogram

	mu       sync.Mutex // guards incoming and closed
	incoming []*Bot
	closed   bool

	// owned by the shard goroutine
	bots []*Bot
	last time.Time
}

// add hands a connected bot to the shard; false if the shard has stopped
// (the caller then closes the bot).
func (sh *shard) add(b *Bot) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return false
	}
	sh.incoming = append(sh.incoming, b)
	return true
}

func (sh *shard) run() {
	defer sh.s.wg.Done()
	defer sh.stop()
	if sh.phase > 0 {
		if sleep(sh.s.ctx, sh.phase) != nil {
			return
		}
	}
	t := time.NewTicker(sh.period)
	defer t.Stop()
	sh.last = time.Now()
	for {
		select {
		case <-sh.s.ctx.Done():
			return
		case now := <-t.C:
			sh.tick(now)
		}
	}
}

// tick gives every bot its turn: finished bots leave, the rest think and
// send an input.
func (sh *shard) tick(now time.Time) {
	sh.mu.Lock()
	sh.bots = append(sh.bots, sh.incoming...)
	clear(sh.incoming)
	sh.incoming = sh.incoming[:0]
	sh.mu.Unlock()

	nowNs := now.UnixNano()
	measuring := sh.s.measuring(nowNs)
	var acc tickAcc
	up := 0
	for i := 0; i < len(sh.bots); {
		b := sh.bots[i]
		if !b.step(now, measuring, &acc) {
			sh.bots[i] = sh.bots[len(sh.bots)-1]
			sh.bots[len(sh.bots)-1] = nil
			sh.bots = sh.bots[:len(sh.bots)-1]
			b.finish()
			continue
		}
		if b.up.Load() {
			up++
		}
		i++
	}
	st := &sh.s.stats
	st.snapshots.Add(acc.snapshots)
	st.inputs.Add(acc.inputs)
	if measuring {
		st.bytesIn.Add(acc.bytesIn)
		st.bytesOut.Add(acc.bytesOut)
		st.wireIn.Add(acc.wireIn)
		st.wireOut.Add(acc.wireOut)
		st.botNanos.Add(int64(up) * int64(now.Sub(sh.last)))
	}
	sh.last = now
}

// stop closes every bot the shard holds and refuses new ones.
func (sh *shard) stop() {
	sh.mu.Lock()
	sh.closed = true
	sh.bots = append(sh.bots, sh.incoming...)
	sh.incoming = nil
	sh.mu.Unlock()
	var wg sync.WaitGroup
	// Close in parallel batches: each Close waits for its read goroutine.
	const batch = 64
	for i := 0; i < len(sh.bots); i += batch {
		part := sh.bots[i:min(i+batch, len(sh.bots))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range part {
				b.close()
			}
		}()
	}
	wg.Wait()
	sh.bots = nil
}

// tickAcc sums one shard tick's counters before they are published.
type tickAcc struct {
	snapshots, inputs                  uint64
	bytesIn, bytesOut, wireIn, wireOut uint64
}
