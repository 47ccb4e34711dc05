package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"go.uber.org/zap"

	"github.com/rallypoint/rallypoint/internal/app"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/redisstore"
)

// Options are cmd/server's cluster flags.
type Options struct {
	// Role is the process's role.
	Role app.Role
	// RedisURL is the shared Redis (redis://host:port/db). Required for
	// RoleLobby and RoleNode; with RoleAll it makes the process a lobby
	// and a game node of a cluster (otherwise it keeps its state itself).
	RedisURL string
	// NodeID names a game node. If empty, the host name and a random
	// suffix are used.
	NodeID string
	// PublicWSURL is a game node's public socket URL. If empty,
	// ws://<listen address>/v1/ws is used.
	PublicWSURL string
	// Capacity, Heartbeat and TTL are the node's (NodeConfig).
	Capacity       int
	Heartbeat, TTL time.Duration
	// SweepEvery is how often the matchmaking lobby sweeps seats left
	// behind (MonitorConfig.SweepEvery). If zero, 10 seconds.
	SweepEvery time.Duration
}

// Cluster is one process's part of a cluster: the Redis store, and the
// node agent and/or the dead-node monitor. Build it with Prepare before
// the App, then Start it once the App listens.
type Cluster struct {
	opt   Options
	store *redisstore.Store
	log   *zap.Logger

	metrics *Metrics

	// set by Start
	node    *Node
	monitor *Monitor
	lobby   atomic.Pointer[lobby.Lobby] // for the lease metric
}

// Enabled reports whether the options ask for a cluster (a Redis URL).
func (o Options) Enabled() bool { return o.RedisURL != "" }

// Prepare validates the options, connects to Redis and plugs the shared
// stores (and, for a lobby, the cluster placer and directory) into cfg. It
// returns nil and changes nothing when the options ask for no cluster
// (RoleAll without a Redis URL).
func Prepare(ctx context.Context, opt Options, cfg *app.Config, log *zap.Logger) (*Cluster, error) {
	role, err := app.ParseRole(string(opt.Role))
	if err != nil {
		return nil, err
	}
	opt.Role = role
	if !opt.Enabled() {
		if role != app.RoleAll {
			return nil, fmt.Errorf("%w: -role %s needs -redis", ErrConfig, role)
		}
		return nil, nil
	}
	if log == nil {
		log = zap.NewNop()
	}
	if opt.NodeID == "" {
		opt.NodeID = defaultNodeID()
	}
	if opt.PublicWSURL != "" {
		if u, err := url.Parse(opt.PublicWSURL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return nil, fmt.Errorf("%w: -public-ws-url %q is not a ws:// or wss:// URL", ErrConfig, opt.PublicWSURL)
		}
	}
	lc := &cfg.Lobby
	st, err := redisstore.Open(ctx, opt.RedisURL, redisstore.Options{TicketRetention: lc.TicketRetention})
	if err != nil {
		return nil, err
	}
	c := &Cluster{opt: opt, store: st, log: log.Named("cluster")}
	var leaseHeld func() bool
	if role != app.RoleNode {
		leaseHeld = func() bool {
			l := c.lobby.Load()
			return l != nil && l.LeaseHeld()
		}
	}
	c.metrics = NewMetrics(leaseHeld, st.Errors)
	lc.Store, lc.Tickets, lc.Assignments, lc.Results = st, st, st, st
	lc.Queue, lc.Leases, lc.TicketEvents, lc.UsedTokens = st, st, st, st
	lc.Recovery = st
	lc.DataDir = "" // everything lives in Redis
	if role != app.RoleNode {
		p, err := NewPlacer(PlacerConfig{Registry: st, Matches: st, Placements: st, Recovery: st, Metrics: c.metrics}, c.log)
		if err != nil {
			_ = st.Close()
			return nil, err
		}
		cfg.Placer = p
		cfg.Directory = Directory{Store: st, Registry: st, Revocations: st}
	}
	return c, nil
}

func defaultNodeID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "node"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return h + "-" + hex.EncodeToString(b[:])
}

// Start starts the node agent (RoleNode, RoleAll) on the App's game
// server, advertising PublicWSURL or ws://<addr>/v1/ws, and the dead-node
// monitor (RoleLobby, RoleAll).
func (c *Cluster) Start(a *app.App, addr string) error {
	if c == nil {
		return nil
	}
	if c.opt.Role != app.RoleLobby {
		ws := c.opt.PublicWSURL
		if ws == "" {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
				return fmt.Errorf("%w: a node listening on %s needs -public-ws-url (the address clients reach it at)", ErrConfig, addr)
			}
			ws = "ws://" + net.JoinHostPort(host, port) + "/v1/ws"
		}
		n, err := NewNode(NodeConfig{ID: c.opt.NodeID, WSURL: ws, Capacity: c.opt.Capacity, Heartbeat: c.opt.Heartbeat, TTL: c.opt.TTL,
			Registry: c.store, Matches: c.store, Placements: c.store, Games: a.Games(), Draining: a.Draining,
			Revocations: c.store, Sessions: a.SessionOf, Revoked: c.store.Revoked, Metrics: c.metrics}, a.Game(), c.log)
		if err != nil {
			return err
		}
		if err := n.Start(); errors.Is(err, ErrNodeIDInUse) || errors.Is(err, lobby.ErrStoreUnavailable) {
			return err
		} else if err != nil {
			c.log.Warn("first heartbeat failed; retrying", zap.Error(err))
		}
		c.node = n
	}
	if c.opt.Role != app.RoleNode {
		interval := c.opt.Heartbeat
		if interval == 0 {
			interval = time.Second
		}
		c.lobby.Store(a.Lobby())
		m, err := NewMonitor(MonitorConfig{Registry: c.store, Matches: c.store, Lobby: a.Lobby(), Interval: interval / 2, Grace: c.opt.TTL,
			Seats: c.store, Leader: a.Lobby().LeaseHeld, SweepEvery: c.opt.SweepEvery, Metrics: c.metrics}, c.log)
		if err != nil {
			return err
		}
		c.monitor = m
		m.Start()
	}
	return nil
}

// Shutdown stops the monitor and the node agent, which marks the matches
// that ended as ended and deregisters the node if it has no match left.
// Call it after the App shut down (so every match has ended with its
// result). It is idempotent.
func (c *Cluster) Shutdown(ctx context.Context) error {
	if c == nil {
		return nil
	}
	var errs []error
	if c.monitor != nil {
		errs = append(errs, c.monitor.Shutdown(ctx))
	}
	if c.node != nil {
		errs = append(errs, c.node.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// Close closes the Redis connection; call it after the App shut down (its
// lobby uses the store until then).
func (c *Cluster) Close() error {
	if c == nil {
		return nil
	}
	return c.store.Close()
}

// Collectors returns the cluster's Prometheus collectors, for the admin
// listener's /metrics (none for a nil Cluster).
func (c *Cluster) Collectors() []prometheus.Collector {
	if c == nil {
		return nil
	}
	return []prometheus.Collector{c.metrics}
}

// NodeID returns the node id (RoleNode, RoleAll).
func (c *Cluster) NodeID() string { return c.opt.NodeID }

// Store returns the shared store, for the lobby-level types that need it.
func (c *Cluster) Store() lobby.MatchStore { return c.store }
