package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rallypoint/rallypoint/lobby"
)

// This file implements lobby.FencedLeases, lobby.MatchmakerStore and
// lobby.QueueSnapshotter: the matchmaker's writes, each one script that
// checks the lease epoch (the fencing token) and writes atomically.

// luaPrelude is shared by the fenced scripts.
const luaPrelude = `
local function fenced(epochKey, epoch)
  return epoch ~= '0' and redis.call('GET', epochKey) ~= epoch
end
local function put_ticket(tk, lk, js, ttl, id, queued)
  redis.call('SET', tk, js, 'PX', ttl)
  if queued == '1' then
    redis.call('SET', lk, id, 'PX', ttl)
  elseif redis.call('GET', lk) == id then
    redis.call('DEL', lk)
  end
end
local function unqueue(entries, players, modeKey, id, player)
  redis.call('HDEL', entries, id)
  if redis.call('HGET', players, player) == id then redis.call('HDEL', players, player) end
  redis.call('ZREM', modeKey, id)
end
`

// Reply codes of the fenced scripts.
const (
	codeFenced = -9 // the fence's epoch is stale
	codeGone   = -8 // the placing group was resolved already
)

func fenceArg(f lobby.Fence) string { return strconv.FormatUint(f.Epoch, 10) }

func (s *Store) epochKey(f lobby.Fence) string {
	name := f.Lease
	if name == "" {
		name = "matchmaker"
	}
	return s.keys.leaseEpoch(name)
}

func errFenced(f lobby.Fence) error {
	return fmt.Errorf("%w: lease %q epoch %d is stale", lobby.ErrFenced, f.Lease, f.Epoch)
}

// ticketArgs returns a ticket's keys and arguments for put_ticket.
func (s *Store) ticketArgs(t lobby.Ticket) (keys []string, args []any, err error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, nil, err
	}
	ttl := ttlUntil(t.Expires.Add(s.opt.TicketRetention), time.Second)
	queued := "1"
	if t.Status.Terminal() {
		ttl, queued = ttlUntil(t.Closed.Add(s.opt.TicketRetention), time.Second), "0"
	}
	return []string{s.keys.ticket(t.ID), s.keys.liveTicket(t.Player)},
		[]any{string(b), ttl.Milliseconds(), string(t.ID), queued}, nil
}

var acquireLease = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  local e = redis.call('GET', KEYS[2])
  if e then return tonumber(e) end
  return redis.call('INCR', KEYS[2])
end
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return redis.call('INCR', KEYS[2])
end
return 0`)

// AcquireLease implements lobby.FencedLeases: the epoch is an INCR counter
// bumped on every acquisition.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (uint64, error) {
	if ttl < time.Millisecond {
		return 0, fmt.Errorf("redisstore: lease ttl %v must be at least 1ms", ttl)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := acquireLease.Run(ctx, s.c, []string{s.keys.lease(name), s.keys.leaseEpoch(name)}, holder, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, s.wrap("acquire lease", err)
	}
	return uint64(max(n, 0)), nil
}

var claimGroup = redis.NewScript(luaPrelude + `
if fenced(KEYS[1], ARGV[1]) then return -9 end
local n = tonumber(ARGV[2])
for i = 1, n do
  local a = 4 + 6 * (i - 1)
  local v = redis.call('HGET', KEYS[2], ARGV[a + 1])
  if not v or string.sub(v, 1, #ARGV[a + 3]) ~= ARGV[a + 3] then return 0 end
end
for i = 1, n do
  local a, k = 4 + 6 * (i - 1), 5 + 3 * (i - 1)
  unqueue(KEYS[2], KEYS[3], KEYS[k + 1], ARGV[a + 1], ARGV[a + 2])
  put_ticket(KEYS[k + 2], KEYS[k + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 1], '1')
end
redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[5], ARGV[3], ARGV[4])
return 1`)

// ClaimGroup implements lobby.MatchmakerStore. tickets must be g's
// tickets in g.Entries order.
func (s *Store) ClaimGroup(ctx context.Context, f lobby.Fence, g lobby.PlacingGroup, tickets []lobby.Ticket) (bool, error) {
	if err := checkGroup(g, tickets); err != nil {
		return false, err
	}
	gj, err := json.Marshal(g)
	if err != nil {
		return false, err
	}
	keys := []string{s.epochKey(f), s.keys.queueEntries(), s.keys.queuePlayers(), s.keys.queueVersion(), s.keys.placing()}
	args := []any{fenceArg(f), len(g.Entries), g.Key, string(gj)}
	for i, e := range g.Entries {
		tk, ta, err := s.ticketArgs(tickets[i])
		if err != nil {
			return false, err
		}
		keys = append(keys, s.keys.queueMode(e.Mode), tk[0], tk[1])
		args = append(args, string(e.ID), playerField(e.Player), strconv.FormatUint(e.Seq, 10)+" ", ta[0], ta[1])
		args = append(args, "") // pad to 6
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := claimGroup.Run(ctx, s.c, keys, args...).Int()
	if err != nil {
		return false, s.wrap("claim group", err)
	}
	if n == codeFenced {
		return false, errFenced(f)
	}
	return n == 1, nil
}

// checkGroup checks that tickets match g's entries one to one.
func checkGroup(g lobby.PlacingGroup, tickets []lobby.Ticket) error {
	if g.Key == "" || len(g.Entries) == 0 || len(tickets) != len(g.Entries) {
		return fmt.Errorf("%w: placing group %q: %d entries, %d tickets", lobby.ErrBadRequest, g.Key, len(g.Entries), len(tickets))
	}
	for i, e := range g.Entries {
		if tickets[i].ID != e.ID || slices.ContainsFunc(g.Entries[:i], func(o lobby.QueueEntry) bool { return o.ID == e.ID }) {
			return fmt.Errorf("%w: placing group %q: entry %d is %s, ticket %s", lobby.ErrBadRequest, g.Key, i, e.ID, tickets[i].ID)
		}
	}
	return nil
}

var completeGroup = redis.NewScript(luaPrelude + `
if fenced(KEYS[1], ARGV[1]) then return {-9, ''} end
if redis.call('HEXISTS', KEYS[2], ARGV[3]) == 0 then return {-8, ''} end
local np = tonumber(ARGV[2])
for i = 1, np do
  local m = redis.call('GET', KEYS[3 + i])
  if m and m ~= ARGV[4] then return {i, m} end
end
for i = 1, np do
  redis.call('SET', KEYS[3 + i], ARGV[4], 'PX', ARGV[5])
  redis.call('SADD', KEYS[3], ARGV[5 + i])
end
if np > 0 then redis.call('PEXPIRE', KEYS[3], ARGV[5]) end
local nt = (#KEYS - 3 - np) / 2
for j = 1, nt do
  local k, a = 3 + np + 2 * (j - 1), 5 + np + 4 * (j - 1)
  put_ticket(KEYS[k + 1], KEYS[k + 2], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])
end
redis.call('HDEL', KEYS[2], ARGV[3])
return {0, ''}`)

// CompleteGroup implements lobby.MatchmakerStore. A player already seated
// in matchID itself (a completion retried) is not an error.
func (s *Store) CompleteGroup(ctx context.Context, f lobby.Fence, key, matchID string, players []lobby.PlayerID, tickets []lobby.Ticket) error {
	if key == "" || matchID == "" {
		return fmt.Errorf("%w: complete group %q: empty key or match id", lobby.ErrBadRequest, key)
	}
	keys := []string{s.epochKey(f), s.keys.placing(), s.keys.seats(matchID)}
	args := []any{fenceArg(f), len(players), key, matchID, s.opt.SeatTTL.Milliseconds()}
	for _, p := range players {
		keys = append(keys, s.keys.seat(p))
	}
	for _, p := range players {
		args = append(args, playerField(p))
	}
	for _, t := range tickets {
		tk, ta, err := s.ticketArgs(t)
		if err != nil {
			return err
		}
		keys = append(keys, tk...)
		args = append(args, ta...)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := completeGroup.Run(ctx, s.c, keys, args...).Slice()
	if err != nil {
		return s.wrap("complete group", err)
	}
	code, _ := res[0].(int64)
	switch {
	case code == codeFenced:
		return errFenced(f)
	case code == codeGone:
		return fmt.Errorf("redisstore: complete group %q: no longer placing", key)
	case code > 0 && int(code) <= len(players):
		return fmt.Errorf("%w: player %d in %v", lobby.ErrAlreadyInMatch, players[code-1], res[1])
	}
	return nil
}

var requeueGroup = redis.NewScript(luaPrelude + `
if fenced(KEYS[1], ARGV[1]) then return -9 end
if redis.call('HEXISTS', KEYS[5], ARGV[3]) == 0 then return -8 end
local n = tonumber(ARGV[2])
for i = 1, n do
  local a, k = 3 + 7 * (i - 1), 5 + 3 * (i - 1)
  local id = ARGV[a + 1]
  if ARGV[a + 7] == '1' and redis.call('HEXISTS', KEYS[2], id) == 0 and not redis.call('HGET', KEYS[3], ARGV[a + 2]) then
    redis.call('HSET', KEYS[2], id, ARGV[a + 3] .. ' ' .. ARGV[a + 4])
    redis.call('HSET', KEYS[3], ARGV[a + 2], id)
    redis.call('ZADD', KEYS[k + 1], ARGV[a + 3], id)
  end
  put_ticket(KEYS[k + 2], KEYS[k + 3], ARGV[a + 5], ARGV[a + 6], id, ARGV[a + 7])
end
redis.call('INCR', KEYS[4])
redis.call('HDEL', KEYS[5], ARGV[3])
return 1`)

// RequeueGroup implements lobby.MatchmakerStore. tickets must be g's
// tickets in g.Entries order.
func (s *Store) RequeueGroup(ctx context.Context, f lobby.Fence, g lobby.PlacingGroup, tickets []lobby.Ticket) error {
	if err := checkGroup(g, tickets); err != nil {
		return err
	}
	keys := []string{s.epochKey(f), s.keys.queueEntries(), s.keys.queuePlayers(), s.keys.queueVersion(), s.keys.placing()}
	args := []any{fenceArg(f), len(g.Entries), g.Key}
	for i, e := range g.Entries {
		if e.Seq == 0 {
			return fmt.Errorf("%w: requeue %s without its seq", lobby.ErrBadRequest, e.ID)
		}
		ej, err := json.Marshal(e)
		if err != nil {
			return err
		}
		tk, ta, err := s.ticketArgs(tickets[i])
		if err != nil {
			return err
		}
		keys = append(keys, s.keys.queueMode(e.Mode), tk[0], tk[1])
		args = append(args, string(e.ID), playerField(e.Player), strconv.FormatUint(e.Seq, 10), string(ej), ta[0], ta[1], ta[3])
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := requeueGroup.Run(ctx, s.c, keys, args...).Int()
	if err != nil {
		return s.wrap("requeue group", err)
	}
	switch n {
	case codeFenced:
		return errFenced(f)
	case codeGone:
		return fmt.Errorf("redisstore: requeue group %q: no longer placing", g.Key)
	}
	return nil
}

var expireQueued = redis.NewScript(luaPrelude + `
if fenced(KEYS[1], ARGV[1]) then return -9 end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then return 0 end
unqueue(KEYS[2], KEYS[3], KEYS[5], ARGV[2], ARGV[3])
redis.call('INCR', KEYS[4])
put_ticket(KEYS[6], KEYS[7], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
return 1`)

// ExpireQueued implements lobby.MatchmakerStore.
func (s *Store) ExpireQueued(ctx context.Context, f lobby.Fence, t lobby.Ticket) (bool, error) {
	tk, ta, err := s.ticketArgs(t)
	if err != nil {
		return false, err
	}
	keys := append([]string{s.epochKey(f), s.keys.queueEntries(), s.keys.queuePlayers(), s.keys.queueVersion(), s.keys.queueMode(t.Mode)}, tk...)
	args := append([]any{fenceArg(f), string(t.ID), playerField(t.Player)}, ta...)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := expireQueued.Run(ctx, s.c, keys, args...).Int()
	if err != nil {
		return false, s.wrap("expire ticket", err)
	}
	if n == codeFenced {
		return false, errFenced(f)
	}
	return n == 1, nil
}

// PlacingGroups implements lobby.MatchmakerStore (one HGETALL; the hash
// holds only the groups being placed right now).
func (s *Store) PlacingGroups(ctx context.Context) ([]lobby.PlacingGroup, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	all, err := s.c.HGetAll(ctx, s.keys.placing()).Result()
	if err != nil {
		return nil, s.wrap("placing groups", err)
	}
	out := make([]lobby.PlacingGroup, 0, len(all))
	for k, v := range all {
		var g lobby.PlacingGroup
		if err := json.Unmarshal([]byte(v), &g); err != nil {
			return nil, fmt.Errorf("redisstore: placing group %q: %w", k, err)
		}
		g.Key = k
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b lobby.PlacingGroup) int {
		if c := a.Claimed.Compare(b.Claimed); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out, nil
}

var createTicket = redis.NewScript(`
local live = redis.call('GET', KEYS[7])
if live then return {-2, live} end
local other = redis.call('HGET', KEYS[2], ARGV[2])
if other then return {-2, other} end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {-1, ARGV[1]} end
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', seq) .. ' ' .. ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], seq, ARGV[1])
redis.call('INCR', KEYS[5])
redis.call('SET', KEYS[6], ARGV[4] .. string.format('%d', seq) .. ARGV[5], 'PX', ARGV[6])
redis.call('SET', KEYS[7], ARGV[1], 'PX', ARGV[6])
return {seq, ''}`)

// seqMark stands for the ticket's Sequence in its JSON until the script
// knows it.
const seqMark = math.MaxUint64

// CreateTicket implements lobby.MatchmakerStore: one script checks the
// player's live-ticket index and queue entry, stores the ticket with its
// arrival number, indexes it and queues it.
func (s *Store) CreateTicket(ctx context.Context, t lobby.Ticket, e lobby.QueueEntry) (lobby.QueueEntry, error) {
	if t.ID != e.ID || t.Player != e.Player || t.Status != lobby.StatusQueued || e.Seq != 0 {
		return e, fmt.Errorf("%w: create ticket %s: ticket and entry disagree", lobby.ErrBadRequest, t.ID)
	}
	t.Sequence = seqMark
	tj, err := json.Marshal(t)
	if err != nil {
		return e, err
	}
	mark := strconv.FormatUint(seqMark, 10)
	pre, post, ok := strings.Cut(string(tj), `"Sequence":`+mark)
	if !ok {
		return e, fmt.Errorf("redisstore: create ticket: no sequence in %s", tj)
	}
	ej, err := json.Marshal(e)
	if err != nil {
		return e, err
	}
	ttl := ttlUntil(t.Expires.Add(s.opt.TicketRetention), time.Second)
	keys := []string{s.keys.queueEntries(), s.keys.queuePlayers(), s.keys.queueSeq(), s.keys.queueMode(e.Mode),
		s.keys.queueVersion(), s.keys.ticket(t.ID), s.keys.liveTicket(t.Player)}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := createTicket.Run(ctx, s.c, keys, string(e.ID), playerField(e.Player), string(ej),
		pre+`"Sequence":`, post, ttl.Milliseconds()).Slice()
	if err != nil {
		return e, s.wrap("create ticket", err)
	}
	code, _ := res[0].(int64)
	switch {
	case code == -1:
		return e, fmt.Errorf("%w: ticket %s already queued", lobby.ErrAlreadyQueued, e.ID)
	case code == -2:
		return e, fmt.Errorf("%w: ticket %v", lobby.ErrAlreadyQueued, res[1])
	case code < 1:
		return e, fmt.Errorf("redisstore: create ticket: unexpected reply %v", res)
	}
	e.Seq = uint64(code)
	return e, nil
}

var queueSnapshot = redis.NewScript(`
local v = redis.call('GET', KEYS[2]) or '0'
if v == ARGV[1] then return {v} end
return {v, redis.call('HVALS', KEYS[1])}`)

// QueueSnapshot implements lobby.QueueSnapshotter: an unchanged queue
// costs one short script call, not a read of every entry.
func (s *Store) QueueSnapshot(ctx context.Context, since uint64) ([]lobby.QueueEntry, uint64, bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := queueSnapshot.Run(ctx, s.c, []string{s.keys.queueEntries(), s.keys.queueVersion()}, strconv.FormatUint(since, 10)).Slice()
	if err != nil {
		return nil, 0, false, s.wrap("queue snapshot", err)
	}
	if len(res) == 0 {
		return nil, 0, false, errors.New("redisstore: queue snapshot: empty reply")
	}
	vs, _ := res[0].(string)
	v, err := strconv.ParseUint(vs, 10, 64)
	if err != nil {
		return nil, 0, false, fmt.Errorf("redisstore: queue version %q: %w", vs, err)
	}
	if len(res) == 1 {
		return nil, v, false, nil
	}
	vals, _ := res[1].([]any)
	out := make([]lobby.QueueEntry, 0, len(vals))
	for _, x := range vals {
		raw, _ := x.(string)
		e, err := parseEntry(raw)
		if err != nil {
			return nil, 0, false, err
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b lobby.QueueEntry) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return out, v, true, nil
}

var (
	_ lobby.FencedLeases     = (*Store)(nil)
	_ lobby.MatchmakerStore  = (*Store)(nil)
	_ lobby.QueueSnapshotter = (*Store)(nil)
)
