package cluster

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rallypoint/rallypoint/lobby"
)

// Metrics counts a process's cluster work (placer, monitor, sweep, node
// agent) and exports it to Prometheus as rallypoint_cluster_* families
// (docs/scaling.md lists them). The counters are plain atomic adds; the
// collector reads them at scrape time. A nil *Metrics counts nothing.
type Metrics struct {
	// immutable after NewMetrics
	leaseHeld   func() bool   // the matchmaker lease, nil on a node
	storeErrors func() uint64 // failed store calls of the process

	// lobby side
	placedOK, placedFailed, placedWithdrawn atomic.Uint64
	reaped, matchesLost, playersRequeued    atomic.Uint64
	seatsSwept                              atomic.Uint64
	// node side
	heartbeatsOK, heartbeatsFailed                      atomic.Uint64
	consumedCreated, consumedRefused, consumedWithdrawn atomic.Uint64
	revocationKicks                                     atomic.Uint64

	mu       sync.Mutex         // guards nodes and seen
	nodes    []lobby.NodeInfo   // the live nodes at the monitor's last round
	seen     bool               // nodes was read at least once
	descs    []*prometheus.Desc // every family, for Describe
	nodesD   *prometheus.Desc
	seatsD   *prometheus.Desc
	capD     *prometheus.Desc
	nmD      *prometheus.Desc
	drainD   *prometheus.Desc
	placedD  *prometheus.Desc
	reapedD  *prometheus.Desc
	lostD    *prometheus.Desc
	requeueD *prometheus.Desc
	sweptD   *prometheus.Desc
	leaseD   *prometheus.Desc
	storeD   *prometheus.Desc
	hbD      *prometheus.Desc
	consD    *prometheus.Desc
	kickD    *prometheus.Desc
}

// NewMetrics returns the cluster metrics. leaseHeld reports whether this
// process holds the matchmaker lease (nil on a game node); storeErrors
// counts the process's failed store calls (nil: not exported).
func NewMetrics(leaseHeld func() bool, storeErrors func() uint64) *Metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("rallypoint_cluster_"+name, help, labels, nil)
	}
	m := &Metrics{leaseHeld: leaseHeld, storeErrors: storeErrors}
	m.nodesD = d("nodes", "Live game nodes in the registry, as this lobby's monitor last read it (draining ones included).")
	m.seatsD = d("node_seats", "Seats (humans and bots) in use on each live game node, from its last heartbeat, as this lobby sees it.", "node")
	m.capD = d("node_capacity", "Each live game node's capacity in seats (-node-capacity), as this lobby sees it.", "node")
	m.nmD = d("node_matches", "Matches running on each live game node, from its last heartbeat, as this lobby sees it.", "node")
	m.drainD = d("node_draining", "1 for a live game node that is draining, as this lobby sees it.", "node")
	m.placedD = d("placements_total", "Placement attempts of this lobby's placer by outcome: ok (the node acknowledged), failed (the node refused or could not be written to), withdrawn (no acknowledgement in time).", "outcome")
	m.reapedD = d("nodes_reaped_total", "Dead game nodes this lobby reaped (heartbeat lapsed).")
	m.lostD = d("matches_lost_total", "Matches this lobby marked lost with their dead node.")
	m.requeueD = d("players_requeued_total", "Tickets of lost matches marked lost (their players may requeue with priority).")
	m.sweptD = d("seats_swept_total", "Seats released because their match was over, lost or gone (a release that never arrived).")
	m.leaseD = d("matchmaker_lease_held", "1 while this lobby holds the matchmaker lease and runs the matchmaker.")
	m.storeD = d("store_errors_total", "Calls to the shared store (Redis) that failed: unreachable, timed out, or refused.")
	m.hbD = d("heartbeats_total", "Heartbeats this game node sent, by result: ok, failed.", "result")
	m.consD = d("placements_consumed_total", "Placement orders this game node read, by outcome: created, refused (draining, unknown mode), withdrawn (the lobby gave up on it first).", "outcome")
	m.kickD = d("revocation_kicks_total", "Game sockets this node closed (4003) because their session was revoked at a lobby.")
	m.descs = []*prometheus.Desc{m.nodesD, m.seatsD, m.capD, m.nmD, m.drainD, m.placedD, m.reapedD, m.lostD, m.requeueD,
		m.sweptD, m.leaseD, m.storeD, m.hbD, m.consD, m.kickD}
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range m.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	m.mu.Lock()
	nodes, seen := m.nodes, m.seen
	m.mu.Unlock()
	if seen {
		gauge(m.nodesD, float64(len(nodes)))
		for _, n := range nodes {
			gauge(m.seatsD, float64(n.Players), n.ID)
			gauge(m.capD, float64(n.Capacity), n.ID)
			gauge(m.nmD, float64(n.Matches), n.ID)
			drain := 0.0
			if n.Draining {
				drain = 1
			}
			gauge(m.drainD, drain, n.ID)
		}
	}
	if m.leaseHeld != nil {
		held := 0.0
		if m.leaseHeld() {
			held = 1
		}
		gauge(m.leaseD, held)
		counter(m.placedD, m.placedOK.Load(), "ok")
		counter(m.placedD, m.placedFailed.Load(), "failed")
		counter(m.placedD, m.placedWithdrawn.Load(), "withdrawn")
		counter(m.reapedD, m.reaped.Load())
		counter(m.lostD, m.matchesLost.Load())
		counter(m.requeueD, m.playersRequeued.Load())
		counter(m.sweptD, m.seatsSwept.Load())
	}
	if m.storeErrors != nil {
		counter(m.storeD, m.storeErrors())
	}
	counter(m.hbD, m.heartbeatsOK.Load(), "ok")
	counter(m.hbD, m.heartbeatsFailed.Load(), "failed")
	counter(m.consD, m.consumedCreated.Load(), "created")
	counter(m.consD, m.consumedRefused.Load(), "refused")
	counter(m.consD, m.consumedWithdrawn.Load(), "withdrawn")
	counter(m.kickD, m.revocationKicks.Load())
}

func (m *Metrics) setNodes(nodes []lobby.NodeInfo) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.nodes, m.seen = nodes, true
	m.mu.Unlock()
}

func (m *Metrics) heartbeat(err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.heartbeatsFailed.Add(1)
	} else {
		m.heartbeatsOK.Add(1)
	}
}

func (m *Metrics) kicked(n int) {
	if m != nil {
		m.revocationKicks.Add(uint64(n))
	}
}

// count adds n to the counter pick chooses.
func (m *Metrics) count(pick func(*Metrics) *atomic.Uint64, n int) {
	if m != nil && n > 0 {
		pick(m).Add(uint64(n))
	}
}
