// Package redisstore keeps the lobby's shared state in Redis, so several
// lobby processes and game nodes work as one: one [Store] implements every
// storage interface of package lobby (sessions and signing keys, tickets and
// the matchmaking queue, single-use socket tokens, the matchmaker lease,
// ticket change notices, seats, results, the node registry, the match
// directory and placement orders).
//
// It needs one Redis server (5.0 or newer; tested with Debian's 7.0), not
// Redis Cluster: its scripts touch several keys. Run Redis with
// "appendonly yes" so a Redis restart loses nothing (appendfsync everysec
// loses at most the last second on a crash of the machine). go-redis
// reconnects by itself; every call is bounded by Options.Timeout and fails
// with an error wrapping lobby.ErrStoreUnavailable when Redis does not
// answer, which the HTTP API turns into 503 "store_unavailable".
//
// Nothing here runs on a match goroutine or per game tick: the lobby calls
// it on HTTP requests, once per matchmaking step (lease renewal, placing
// groups, queue version), and on seat and match lifecycle events.
//
// # The matchmaker's writes
//
// Store implements lobby.FencedLeases and lobby.MatchmakerStore. Taking
// the "matchmaker" lease bumps lease-epoch:matchmaker; the leader passes
// that epoch with every write it makes (ClaimGroup, CompleteGroup,
// RequeueGroup, ExpireQueued), and each of these is one Lua script that
// first checks the epoch is still current and otherwise changes nothing
// (lobby.ErrFenced). ClaimGroup records the group in mm:placing and
// CompleteGroup (seats + matched tickets) or RequeueGroup (entries back at
// their seq) removes it, so a new leader finds and resolves whatever a
// dead or frozen leader left. CreateTicket stores a ticket, its
// player's live-ticket index and its queue entry in one script, so a
// player holds one live ticket across lobby processes.
//
// The queue is read whole (HVALS of queue:entries) only when
// queue:version moved since the last step (lobby.QueueSnapshotter), and
// at least every 5 s; an idle step costs one short script call.
//
// # Keys
//
// Every key starts with Options.Prefix ("rp:" by default). Lifetimes match
// the in-memory stores' retention.
//
//	key                            type    lifetime
//	------------------------------ ------- ------------------------------------------------
//	revoked:<sid>                  string  until the session's last token expires (refresh TTL, 7 d)
//	refresh:<sid>                  string  live refresh jti; until the refresh token expires (7 d)
//	players:next                   string  counter of player ids (INCR); permanent
//	players:subjects               hash    studio subject -> player id; permanent
//	signing-keys                   string  JSON signing keys, created once (SET NX); permanent
//	ticket:<id>                    string  ticket JSON; queued: until it expires + TicketRetention
//	                                       (2 min + 2 min); finished: TicketRetention after closing
//	ticket-live:<player>           string  the player's queued ticket id; same TTL as the ticket,
//	                                       deleted when the ticket finishes
//	queue:entries                  hash    ticket id -> "<seq> <entry JSON>"; an entry leaves when
//	                                       matched, cancelled or expired (by the matchmaker)
//	queue:players                  hash    player -> queued ticket id; same as queue:entries
//	queue:mode:<mode>              zset    queued ticket ids by arrival seq; same as queue:entries
//	queue:seq                      string  arrival counter (INCR); permanent
//	ticket-events                  channel pub/sub: ticket ids that changed; no storage
//	revocations                    channel pub/sub: revoked sessions (player, sid) for the game nodes; no storage
//	jti:<jti>                      string  used socket token; until the token expires (2 min)
//	lease:<name>                   string  lease holder ("matchmaker"); LeaseTTL (3 s), renewed
//	                                       every matchmaking step by the holder
//	lease-epoch:<name>             string  fencing token: INCR on every acquisition of the lease;
//	                                       permanent
//	queue:version                  string  INCR on every queue change; the matchmaker reads the
//	                                       queue only when it moved; permanent
//	mm:placing                     hash    placing group key -> PlacingGroup JSON (entries with
//	                                       their seq, lease epoch); from the group's claim until
//	                                       it is matched or requeued (seconds)
//	seat:<player>                  string  match id the player is seated in; until released,
//	                                       at most SeatTTL (24 h)
//	seats:<match>                  set     players seated in the match; as seat:<player>
//	result:<match>                 string  MatchResult JSON; ResultRetention (7 d)
//	node:<id>                      string  NodeInfo JSON (heartbeat); the heartbeat ttl (3 s)
//	nodes                          set     registered node ids; a node leaves when reaped or
//	                                       deregistered
//	match:<id>                     hash    {data: MatchRecord JSON, state}; live: no TTL;
//	                                       final (ended, failed, lost): MatchRetention (1 h)
//	matches:live                   set     ids of placing/running matches
//	matches:node:<node>            set     ids of a node's placing/running matches
//	placements:<node>              list    placement orders for a node; PlacementTTL (1 min)
//	                                       after the last order, emptied as the node reads
package redisstore
