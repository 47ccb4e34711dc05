package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rallypoint/rallypoint/lobby"
)

// Options configures a [Store]. The zero value is usable: every field
// documents its default.
type Options struct {
	// Prefix starts every key, so several deployments (or tests) can share
	// one Redis database. If empty, "rp:" is used.
	Prefix string
	// Timeout bounds every call, including its retries: a slow or
	// unreachable Redis fails the call with an error wrapping
	// lobby.ErrStoreUnavailable after at most this long. If zero, 2 seconds
	// is used.
	Timeout time.Duration
	// TicketRetention is how long a finished ticket stays readable (as
	// lobby.Config.TicketRetention). If zero, 10 minutes is used.
	TicketRetention time.Duration
	// ResultRetention is how long a match result is kept. If zero, 7 days
	// is used.
	ResultRetention time.Duration
	// MatchRetention is how long a finished (ended, failed, lost) match
	// record stays in the match directory. If zero, 1 hour is used.
	MatchRetention time.Duration
	// SeatTTL bounds how long a seat assignment is held without being
	// released (a safety net against a lost release: the game server
	// releases every seat when its match ends). If zero, 24 hours is used.
	SeatTTL time.Duration
	// PlacementTTL is how long unread placement orders for a node are kept
	// (orders for a node that died vanish). If zero, 1 minute is used.
	PlacementTTL time.Duration
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Prefix == "" {
		o.Prefix = "rp:"
	}
	def(&o.Timeout, 2*time.Second)
	def(&o.TicketRetention, 10*time.Minute)
	def(&o.ResultRetention, 7*24*time.Hour)
	def(&o.MatchRetention, time.Hour)
	def(&o.SeatTTL, 24*time.Hour)
	def(&o.PlacementTTL, time.Minute)
	return o
}

// Store implements every storage interface of package lobby on one Redis
// client: lobby.Store, TicketStore, AssignmentStore, ResultStore,
// UsedTokens, Leases, Queue, TicketEvents, NodeRegistry, MatchStore and
// Placements. It is safe for concurrent use; go-redis reconnects by itself
// after Redis restarts.
type Store struct {
	// Immutable after New.
	c    *redis.Client
	own  bool // Close closes c
	opt  Options
	keys keys

	errs atomic.Uint64 // calls that failed with ErrStoreUnavailable
}

// Errors returns how many store calls failed because Redis did not answer
// or refused (ErrStoreUnavailable), for metrics.
func (s *Store) Errors() uint64 { return s.errs.Load() }

// Open connects to the Redis at url (redis://[user:password@]host:port/db,
// or rediss:// for TLS) and checks that it answers. Close closes the
// connection pool.
func Open(ctx context.Context, url string, opt Options) (*Store, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	opt = opt.withDefaults()
	ro.DialTimeout = opt.Timeout
	ro.ReadTimeout = opt.Timeout
	ro.WriteTimeout = opt.Timeout
	ro.PoolTimeout = opt.Timeout
	ro.ContextTimeoutEnabled = true
	ro.MaxRetries = 2
	ro.DisableIdentity = true // no CLIENT SETINFO: works on every server version
	s := New(redis.NewClient(ro), opt)
	s.own = true
	pctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	if err := s.c.Ping(pctx).Err(); err != nil {
		_ = s.c.Close()
		return nil, fmt.Errorf("%w: redis %s: %v", lobby.ErrStoreUnavailable, redactURL(url), err)
	}
	return s, nil
}

// redactURL drops the password from a redis URL for error messages.
func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "***" + u[i:]
		}
	}
	return u
}

// New wraps an existing client. Close does not close it. Set the client's
// ContextTimeoutEnabled so a call's deadline bounds its socket reads.
func New(c *redis.Client, opt Options) *Store {
	opt = opt.withDefaults()
	return &Store{c: c, opt: opt, keys: keys{p: opt.Prefix}}
}

// Client returns the underlying client.
func (s *Store) Client() *redis.Client { return s.c }

// Close closes the client if Open created it. It implements lobby.Store
// and lobby.ResultStore.
func (s *Store) Close() error {
	if !s.own {
		return nil
	}
	err := s.c.Close()
	if errors.Is(err, redis.ErrClosed) {
		return nil
	}
	return err
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.wrap("ping", s.c.Ping(ctx).Err())
}

// bound limits ctx by the call timeout.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, s.opt.Timeout)
}

// wrap turns a Redis failure into an error wrapping
// lobby.ErrStoreUnavailable (or lobby.ErrClosed once the client is
// closed). redis.Nil and nil pass through.
func (s *Store) wrap(op string, err error) error {
	switch {
	case err == nil, errors.Is(err, redis.Nil):
		return err
	case errors.Is(err, redis.ErrClosed):
		return fmt.Errorf("%w: redis %s", lobby.ErrClosed, op)
	}
	s.errs.Add(1)
	return fmt.Errorf("%w: redis %s: %v", lobby.ErrStoreUnavailable, op, err)
}

// ttlUntil returns the time from now until t, at least min.
func ttlUntil(t time.Time, min time.Duration) time.Duration {
	return max(time.Until(t), min)
}

// keys builds every key name; doc.go lists them.
type keys struct{ p string }

func (k keys) revoked(sid string) string       { return k.p + "revoked:" + sid }
func (k keys) refresh(sid string) string       { return k.p + "refresh:" + sid }
func (k keys) nextPlayer() string              { return k.p + "players:next" }
func (k keys) subjects() string                { return k.p + "players:subjects" }
func (k keys) signingKeys() string             { return k.p + "signing-keys" }
func (k keys) ticket(id lobby.TicketID) string { return k.p + "ticket:" + string(id) }
func (k keys) liveTicket(p lobby.PlayerID) string {
	return k.p + "ticket-live:" + fmt.Sprint(uint32(p))
}
func (k keys) seat(p lobby.PlayerID) string   { return k.p + "seat:" + fmt.Sprint(uint32(p)) }
func (k keys) seats(match string) string      { return k.p + "seats:" + match }
func (k keys) result(id string) string        { return k.p + "result:" + id }
func (k keys) jti(jti string) string          { return k.p + "jti:" + jti }
func (k keys) lease(name string) string       { return k.p + "lease:" + name }
func (k keys) queueEntries() string           { return k.p + "queue:entries" }
func (k keys) queuePlayers() string           { return k.p + "queue:players" }
func (k keys) queueSeq() string               { return k.p + "queue:seq" }
func (k keys) queueMode(mode string) string   { return k.p + "queue:mode:" + mode }
func (k keys) queueVersion() string           { return k.p + "queue:version" }
func (k keys) leaseEpoch(name string) string  { return k.p + "lease-epoch:" + name }
func (k keys) placing() string                { return k.p + "mm:placing" }
func (k keys) ticketEvents() string           { return k.p + "ticket-events" }
func (k keys) revocations() string            { return k.p + "revocations" }
func (k keys) node(id string) string          { return k.p + "node:" + id }
func (k keys) nodes() string                  { return k.p + "nodes" }
func (k keys) match(id string) string         { return k.p + "match:" + id }
func (k keys) liveMatches() string            { return k.p + "matches:live" }
func (k keys) nodeMatches(node string) string { return k.p + "matches:node:" + node }
func (k keys) placements(node string) string  { return k.p + "placements:" + node }

// Compile-time checks: Store implements every interface.
var (
	_ lobby.Store           = (*Store)(nil)
	_ lobby.TicketStore     = (*Store)(nil)
	_ lobby.AssignmentStore = (*Store)(nil)
	_ lobby.ResultStore     = (*Store)(nil)
	_ lobby.UsedTokens      = (*Store)(nil)
	_ lobby.Leases          = (*Store)(nil)
	_ lobby.Queue           = (*Store)(nil)
	_ lobby.TicketEvents    = (*Store)(nil)
	_ lobby.NodeRegistry    = (*Store)(nil)
	_ lobby.MatchStore      = (*Store)(nil)
	_ lobby.Placements      = (*Store)(nil)
)

// Configure points every shared store of cfg at s: Store, Tickets,
// Assignments, Results, Queue, Leases, TicketEvents and UsedTokens. Lobby
// processes configured with the same Redis (and prefix) serve the same
// queues and sessions. The lobby does not close s; the caller does, after
// the lobby's Shutdown.
func (s *Store) Configure(cfg *lobby.Config) {
	cfg.Store, cfg.Tickets, cfg.Assignments, cfg.Results = s, s, s, s
	cfg.Queue, cfg.Leases, cfg.TicketEvents, cfg.UsedTokens = s, s, s, s
	if cfg.TicketRetention == 0 {
		cfg.TicketRetention = s.opt.TicketRetention
	}
}
