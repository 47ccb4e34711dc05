package ops

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rallypoint/rallypoint/game"
	"github.com/rallypoint/rallypoint/internal/app"
	"github.com/rallypoint/rallypoint/netcode"
)

// Metric name prefix: every family this package exports starts with it.
const namespace = "rallypoint"

// tickBuckets cover a tick's work and lateness at 30 Hz: 25 µs to ~55 ms
// in steps of 1.5x, fine enough for a p99 from bucket interpolation.
func tickBuckets() []float64 { return prometheus.ExponentialBuckets(25e-6, 1.5, 20) }

// matchBuckets cover time to match: 50 ms to ~2 minutes (the ticket TTL).
func matchBuckets() []float64 { return prometheus.ExponentialBuckets(0.05, 1.7, 15) }

// metrics are the families this package keeps itself: histograms fed by
// the services' hooks and the HTTP request counter. Everything else is
// read from the services' own counters at scrape time by collector.
type metrics struct {
	tickDuration *prometheus.HistogramVec // by mode
	tickLateness *prometheus.HistogramVec // by mode
	timeToMatch  *prometheus.HistogramVec // by mode
	httpRequests *prometheus.CounterVec   // by route, code
}

func newMetrics() *metrics {
	return &metrics{
		tickDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "tick_duration_seconds",
			Help:    "How long a match tick took: inputs, simulation step, snapshot encoding and fan-out.",
			Buckets: tickBuckets(),
		}, []string{"mode"}),
		tickLateness: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "tick_lateness_seconds",
			Help:    "How long after its due time a match tick started.",
			Buckets: tickBuckets(),
		}, []string{"mode"}),
		timeToMatch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "time_to_match_seconds",
			Help:    "How long a ticket waited in the queue before it was placed in a match.",
			Buckets: matchBuckets(),
		}, []string{"mode"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests on the public listener, by mux route pattern and status code (101: WebSocket upgrade).",
		}, []string{"route", "code"}),
	}
}

// tickObserver is netcode.Config.TickObserver: called once per match, it
// resolves the match's histogram children so the per-tick function only
// does two lock-free, allocation-free Observe calls on the match goroutine.
func (m *metrics) tickObserver(mode string) func(game.TickTiming) {
	dur := m.tickDuration.WithLabelValues(mode)
	late := m.tickLateness.WithLabelValues(mode)
	return func(t game.TickTiming) {
		dur.Observe(t.Duration.Seconds())
		late.Observe(t.Lateness.Seconds())
	}
}

// matched is lobby.Config.OnMatched.
func (m *metrics) matched(mode string, waited time.Duration) {
	m.timeToMatch.WithLabelValues(mode).Observe(waited.Seconds())
}

// collector exports the services' own counters and gauges, read when
// Prometheus scrapes: the game and lobby hot paths keep their plain atomic
// adds and pay nothing for metrics.
type collector struct {
	app *app.App

	connections, connectionsTotal, connsRefused, connsEvicted *prometheus.Desc
	matches, players, bots, seatsHeld, matchesStarted         *prometheus.Desc
	ticks, droppedTicks                                       *prometheus.Desc
	snapshots, snapshotsDropped, keyframes, bytesSent         *prometheus.Desc
	messagesSent, messagesReceived                            *prometheus.Desc
	inputsReceived, inputsApplied, inputsDropped              *prometheus.Desc
	closeCodes, rateLimited, authFailures                     *prometheus.Desc
	slowPauses, slowResyncs, slowKicks, idleKicks             *prometheus.Desc
	reconnects, malformed, writeErrors, panics                *prometheus.Desc
	matchCrashes                                              *prometheus.Desc
	queueLength, tickets, tokensIssued, tokensRefused         *prometheus.Desc
	placementsFailed, sseStreams, streamsRefused              *prometheus.Desc
	draining                                                  *prometheus.Desc
	hookPending, hookResults, hookDelivered, hookCoalesced    *prometheus.Desc
	hookRetries, hookLost                                     *prometheus.Desc

	codeLabels map[uint16]string // close code -> label, built once
}

func newCollector(a *app.App) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
	}
	c := &collector{
		app:              a,
		connections:      d("connections", "Game sockets open now, by state: handshake (waiting for hello), playing, closing.", "state"),
		connectionsTotal: d("connections_total", "Game sockets accepted."),
		connsRefused:     d("connections_refused_total", "Game socket upgrades refused by a per-address or server-wide cap (HTTP 429/503)."),
		connsEvicted:     d("connections_evicted_total", "Game sockets without a Hello closed (4005) to make room for a newer one from the same address."),
		matches:          d("matches", "Matches running on this server, by mode and state.", "mode", "state"),
		players:          d("players", "Human players connected to a match, by mode.", "mode"),
		bots:             d("bots", "Server-side bot players in matches, by mode.", "mode"),
		seatsHeld:        d("seats_held", "Human seats without a socket held for their player (reserved, or dropped and within the reconnect grace), by mode.", "mode"),
		matchesStarted:   d("matches_started_total", "Matches started."),
		ticks:            d("ticks_total", "Match ticks run."),
		droppedTicks:     d("dropped_ticks_total", "Overdue match ticks skipped after stalls."),
		snapshots:        d("snapshots_sent_total", "Snapshots queued to clients (deltas and keyframes)."),
		snapshotsDropped: d("snapshots_dropped_total", "Snapshots dropped because a client's outbox was full."),
		keyframes:        d("keyframes_sent_total", "Keyframe snapshots queued to clients, by reason: join (a new connection or a resume), drop (after a dropped snapshot), resync (after a pause for unacknowledged snapshots).", "reason"),
		bytesSent:        d("sent_bytes_total", "WebSocket payload bytes written to game clients (frame headers excluded)."),
		messagesSent:     d("messages_sent_total", "WebSocket messages written to game clients."),
		messagesReceived: d("messages_received_total", "WebSocket messages received from game clients."),
		inputsReceived:   d("inputs_received_total", "Input frames received from game clients."),
		inputsApplied:    d("inputs_applied_total", "Inputs applied to a match simulation."),
		inputsDropped:    d("inputs_dropped_total", "Inputs dropped, by reason: stale (not newer than the last accepted), overflow (the match's input queue was full).", "reason"),
		closeCodes:       d("close_codes_sent_total", "Game sockets the server closed, by WebSocket close code (see docs/protocol.md).", "code"),
		rateLimited:      d("rate_limited_total", "Rate-limited clients: game sockets closed for flooding (where=socket), lobby requests answered 429 (where=lobby).", "where"),
		authFailures:     d("auth_failures_total", "Socket Hellos whose token was refused, by reason: invalid (malformed, forged, wrong type, already used), expired, revoked (logged out), wrong_match.", "reason"),
		slowPauses:       d("slow_consumer_pauses_total", "Times snapshots to a client were paused because it had too many unacknowledged."),
		slowResyncs:      d("slow_consumer_resyncs_total", "Paused clients resumed (with a delta against the last snapshot sent, or a keyframe when it was not kept)."),
		slowKicks:        d("slow_consumer_kicks_total", "Clients closed as slow consumers."),
		idleKicks:        d("idle_kicks_total", "Clients closed because nothing was received for too long."),
		reconnects:       d("reconnects_total", "Sockets that took a player's seat again: resumed (after a drop) or replaced (an open socket was superseded).", "kind"),
		malformed:        d("malformed_messages_total", "Client messages that did not decode."),
		writeErrors:      d("write_errors_total", "Socket writes that failed."),
		panics:           d("panics_total", "Panics recovered at a connection boundary."),
		matchCrashes:     d("match_crashes_total", "Matches ended by a panic."),
		queueLength:      d("queue_length", "Tickets waiting in the matchmaking queue, by mode.", "mode"),
		tickets:          d("tickets_total", "Matchmaking tickets by outcome: queued, matched, cancelled, expired.", "outcome"),
		tokensIssued:     d("tokens_issued_total", "Lobby tokens minted (session, refresh, socket)."),
		tokensRefused:    d("tokens_refused_total", "Lobby tokens that failed verification (any kind, including socket tokens)."),
		placementsFailed: d("placements_failed_total", "Match placements that failed (tickets were requeued)."),
		sseStreams:       d("sse_streams_open", "Lobby ticket event streams (SSE) open now."),
		streamsRefused:   d("sse_streams_refused_total", "Lobby ticket event streams refused by a cap (HTTP 429/503)."),
		draining:         d("draining", "1 while the server is draining (not accepting new players)."),
		hookPending:      d("hook_events_pending", "Seat releases and match results queued for the lobby's store (the hook queue), the one being delivered included."),
		hookResults:      d("hook_results_pending", "Match results queued for the lobby's store, not stored yet."),
		hookDelivered:    d("hook_events_delivered_total", "Hook queue events delivered to the lobby."),
		hookCoalesced:    d("hook_seat_releases_coalesced_total", "Seat releases that found the hook queue full: kept per match and delivered together once it had room (none lost)."),
		hookRetries:      d("hook_result_retries_total", "Match result writes that failed and were tried again."),
		hookLost:         d("hook_events_lost_total", "Seat releases and match results that never reached the lobby's store: still queued when shutdown's deadline passed (each is logged, results in full)."),
		codeLabels:       make(map[uint16]string),
	}
	for _, code := range netcode.CloseCodes() {
		c.codeLabels[code] = strconv.Itoa(int(code))
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.connections, c.connectionsTotal, c.connsRefused, c.matches, c.players, c.bots, c.seatsHeld, c.matchesStarted,
		c.ticks, c.droppedTicks, c.snapshots, c.snapshotsDropped, c.keyframes, c.bytesSent,
		c.messagesSent, c.messagesReceived, c.inputsReceived, c.inputsApplied, c.inputsDropped,
		c.closeCodes, c.rateLimited, c.authFailures, c.slowPauses, c.slowResyncs, c.slowKicks, c.idleKicks,
		c.reconnects, c.malformed, c.writeErrors, c.panics, c.matchCrashes,
		c.queueLength, c.tickets, c.tokensIssued, c.tokensRefused, c.placementsFailed, c.sseStreams, c.streamsRefused, c.draining,
		c.hookPending, c.hookResults, c.hookDelivered, c.hookCoalesced, c.hookRetries, c.hookLost,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads the live counters.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	srv := c.app.Game()
	st := srv.Stats()

	hs, playing, closing := srv.ConnStates()
	gauge(c.connections, float64(hs), "handshake")
	gauge(c.connections, float64(playing), "playing")
	gauge(c.connections, float64(closing), "closing")
	counter(c.connectionsTotal, st.ConnsTotal.Load())
	counter(c.connsRefused, st.ConnsRefused.Load())
	counter(c.connsEvicted, st.PendingEvicted.Load())

	type modeState struct{ mode, state string }
	matches := make(map[modeState]int)
	players, bots, held := make(map[string]int), make(map[string]int), make(map[string]int)
	for _, m := range srv.Matches() {
		matches[modeState{m.Mode, m.State}]++
		players[m.Mode] += len(m.Players) - m.Held
		bots[m.Mode] += m.Bots
		held[m.Mode] += m.Held
	}
	queues := c.app.Lobby().QueueLengths()
	for mode := range queues { // every configured mode appears, even when idle
		if _, ok := matches[modeState{mode, "running"}]; !ok {
			matches[modeState{mode, "running"}] = 0
		}
		players[mode] += 0
		bots[mode] += 0
		held[mode] += 0
	}
	for k, n := range matches {
		gauge(c.matches, float64(n), k.mode, k.state)
	}
	for mode, n := range players {
		gauge(c.players, float64(n), mode)
		gauge(c.bots, float64(bots[mode]), mode)
		gauge(c.seatsHeld, float64(held[mode]), mode)
	}
	for mode, n := range queues {
		gauge(c.queueLength, float64(n), mode)
	}
	counter(c.matchesStarted, st.MatchesStarted.Load())

	lt := srv.LoopTotals()
	counter(c.ticks, lt.Ticks)
	counter(c.droppedTicks, lt.DroppedTicks)
	counter(c.inputsApplied, lt.InputsApplied)
	counter(c.inputsDropped, lt.InputsStale, "stale")
	counter(c.inputsDropped, lt.InputsOverflow, "overflow")

	counter(c.snapshots, st.Snapshots.Load())
	counter(c.snapshotsDropped, st.SnapshotsDropped.Load())
	for i, reason := range netcode.KeyframeReasons() {
		counter(c.keyframes, st.KeyframesBy[i].Load(), reason)
	}
	counter(c.bytesSent, st.BytesOut.Load())
	counter(c.messagesSent, st.MessagesOut.Load())
	counter(c.messagesReceived, st.MessagesIn.Load())
	counter(c.inputsReceived, st.InputsIn.Load())
	for code, label := range c.codeLabels {
		counter(c.closeCodes, st.Closes(code), label)
	}
	lm := c.app.Lobby().Metrics()
	counter(c.rateLimited, st.RateLimited.Load(), "socket")
	counter(c.rateLimited, lm.RateLimited, "lobby")
	for i, reason := range netcode.AuthFailureReasons() {
		counter(c.authFailures, st.AuthFailuresBy[i].Load(), reason)
	}
	counter(c.slowPauses, st.Paused.Load())
	counter(c.slowResyncs, st.Resyncs.Load())
	counter(c.slowKicks, st.SlowDisconnects.Load())
	counter(c.idleKicks, st.IdleDisconnects.Load())
	counter(c.reconnects, st.Resumes.Load(), "resumed")
	counter(c.reconnects, st.Replaced.Load(), "replaced")
	counter(c.malformed, st.Malformed.Load())
	counter(c.writeErrors, st.WriteErrors.Load())
	counter(c.panics, st.Panics.Load())
	counter(c.matchCrashes, st.MatchCrashes.Load())

	counter(c.tickets, lm.TicketsQueued, "queued")
	counter(c.tickets, lm.TicketsMatched, "matched")
	counter(c.tickets, lm.TicketsCancelled, "cancelled")
	counter(c.tickets, lm.TicketsExpired, "expired")
	counter(c.tokensIssued, lm.TokensIssued)
	counter(c.tokensRefused, lm.TokensRefused)
	counter(c.placementsFailed, lm.PlacementsFailed)
	gauge(c.sseStreams, float64(lm.SSEStreamsOpen))
	counter(c.streamsRefused, lm.StreamsRefused)
	draining := 0.0
	if c.app.Draining() {
		draining = 1
	}
	gauge(c.draining, draining)

	hooks := c.app.HookStats()
	gauge(c.hookPending, float64(hooks.Pending))
	gauge(c.hookResults, float64(hooks.PendingResults))
	counter(c.hookDelivered, hooks.Handled)
	counter(c.hookCoalesced, hooks.Coalesced)
	counter(c.hookRetries, hooks.ResultRetries)
	counter(c.hookLost, hooks.Lost)
}
