package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rallypoint/rallypoint/lobby"
)

// This file implements the matchmaking side: lobby.TicketStore,
// lobby.Queue, lobby.TicketEvents, lobby.UsedTokens and lobby.Leases.

var putTicket = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[4] == '1' then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
elseif redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('DEL', KEYS[2])
end
return 1`)

// PutTicket implements lobby.TicketStore. A queued ticket lives until it
// expires plus TicketRetention; a finished one TicketRetention after it
// closed.
func (s *Store) PutTicket(t lobby.Ticket) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	ttl := ttlUntil(t.Expires.Add(s.opt.TicketRetention), time.Second)
	queued := "0"
	if t.Status.Terminal() {
		ttl = ttlUntil(t.Closed.Add(s.opt.TicketRetention), time.Second)
	} else {
		queued = "1"
	}
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	err = putTicket.Run(ctx, s.c, []string{s.keys.ticket(t.ID), s.keys.liveTicket(t.Player)},
		b, ttl.Milliseconds(), string(t.ID), queued).Err()
	return s.wrap("put ticket", err)
}

// Ticket implements lobby.TicketStore.
func (s *Store) Ticket(id lobby.TicketID) (lobby.Ticket, error) {
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	b, err := s.c.Get(ctx, s.keys.ticket(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return lobby.Ticket{}, lobby.ErrTicketNotFound
	}
	if err != nil {
		return lobby.Ticket{}, s.wrap("ticket", err)
	}
	var t lobby.Ticket
	if err := json.Unmarshal(b, &t); err != nil {
		return lobby.Ticket{}, fmt.Errorf("redisstore: ticket %s: %w", id, err)
	}
	return t, nil
}

// LiveTicket implements lobby.TicketStore.
func (s *Store) LiveTicket(p lobby.PlayerID) (lobby.TicketID, bool, error) {
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	id, err := s.c.Get(ctx, s.keys.liveTicket(p)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, s.wrap("live ticket", err)
	}
	return lobby.TicketID(id), true, nil
}

// PruneTickets implements lobby.TicketStore: tickets expire by their TTL.
func (s *Store) PruneTickets(before time.Time) error { return nil }

// Queue: queue:entries maps ticket id -> "<seq> <entry JSON>", queue:players
// maps player -> ticket id, and queue:mode:<mode> orders a mode's ticket ids
// by seq. The scripts keep the three in step.

var enqueue = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {-1, ARGV[1]} end
local other = redis.call('HGET', KEYS[2], ARGV[2])
if other then return {-2, other} end
local seq = tonumber(ARGV[3])
if seq == 0 then seq = redis.call('INCR', KEYS[3]) end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', seq) .. ' ' .. ARGV[4])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], seq, ARGV[1])
redis.call('INCR', KEYS[5])
return {seq, ''}`)

// Enqueue implements lobby.Queue.
func (s *Store) Enqueue(ctx context.Context, e lobby.QueueEntry) (lobby.QueueEntry, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return e, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := enqueue.Run(ctx, s.c,
		[]string{s.keys.queueEntries(), s.keys.queuePlayers(), s.keys.queueSeq(), s.keys.queueMode(e.Mode), s.keys.queueVersion()},
		string(e.ID), playerField(e.Player), e.Seq, b).Slice()
	if err != nil {
		return e, s.wrap("enqueue", err)
	}
	if len(res) != 2 {
		return e, fmt.Errorf("redisstore: enqueue: unexpected reply %v", res)
	}
	code, _ := res[0].(int64)
	switch {
	case code == -1:
		return e, fmt.Errorf("%w: ticket %s already queued", lobby.ErrAlreadyQueued, e.ID)
	case code == -2:
		return e, fmt.Errorf("%w: ticket %v", lobby.ErrAlreadyQueued, res[1])
	case code < 1:
		return e, fmt.Errorf("redisstore: enqueue: unexpected reply %v", res)
	}
	e.Seq = uint64(code)
	return e, nil
}

func playerField(p lobby.PlayerID) string { return strconv.FormatUint(uint64(p), 10) }

// parseEntry decodes "<seq> <json>".
func parseEntry(v string) (lobby.QueueEntry, error) {
	seq, js, ok := strings.Cut(v, " ")
	var e lobby.QueueEntry
	if !ok {
		return e, fmt.Errorf("redisstore: malformed queue entry %q", v)
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return e, fmt.Errorf("redisstore: malformed queue entry seq %q", seq)
	}
	if err := json.Unmarshal([]byte(js), &e); err != nil {
		return e, fmt.Errorf("redisstore: malformed queue entry: %w", err)
	}
	e.Seq = n
	return e, nil
}

var dequeue = redis.NewScript(`
local n = tonumber(ARGV[1])
for i = 1, n do
  if redis.call('HGET', KEYS[1], ARGV[1+i]) ~= ARGV[1+2*n+i] then return 0 end
end
for i = 1, n do
  local id = ARGV[1+i]
  redis.call('HDEL', KEYS[1], id)
  if redis.call('HGET', KEYS[2], ARGV[1+n+i]) == id then redis.call('HDEL', KEYS[2], ARGV[1+n+i]) end
  redis.call('ZREM', KEYS[3+i], id)
end
redis.call('INCR', KEYS[3])
return 1`)

// Dequeue implements lobby.Queue: it reads the entries, then a script
// removes them all if every one is still queued unchanged.
func (s *Store) Dequeue(ctx context.Context, ids ...lobby.TicketID) (bool, error) {
	if len(ids) == 0 {
		return true, nil
	}
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return false, nil
		}
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	fields := make([]string, len(ids))
	for i, id := range ids {
		fields[i] = string(id)
	}
	vals, err := s.c.HMGet(ctx, s.keys.queueEntries(), fields...).Result()
	if err != nil {
		return false, s.wrap("dequeue", err)
	}
	keys := []string{s.keys.queueEntries(), s.keys.queuePlayers(), s.keys.queueVersion()}
	args := make([]any, 1, 1+3*len(ids))
	args[0] = len(ids)
	players := make([]any, len(ids))
	raws := make([]any, len(ids))
	for i, v := range vals {
		raw, ok := v.(string)
		if !ok {
			return false, nil // not queued
		}
		e, err := parseEntry(raw)
		if err != nil {
			return false, err
		}
		keys = append(keys, s.keys.queueMode(e.Mode))
		args = append(args, fields[i])
		players[i], raws[i] = playerField(e.Player), raw
	}
	args = append(append(args, players...), raws...)
	n, err := dequeue.Run(ctx, s.c, keys, args...).Int()
	if err != nil {
		return false, s.wrap("dequeue", err)
	}
	return n == 1, nil
}

// QueueEntries implements lobby.Queue (one HGETALL).
func (s *Store) QueueEntries(ctx context.Context) ([]lobby.QueueEntry, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	all, err := s.c.HGetAll(ctx, s.keys.queueEntries()).Result()
	if err != nil {
		return nil, s.wrap("queue entries", err)
	}
	out := make([]lobby.QueueEntry, 0, len(all))
	for _, v := range all {
		e, err := parseEntry(v)
		if err != nil {
			return nil, err
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
	return out, nil
}

// QueuePosition implements lobby.Queue.
func (s *Store) QueuePosition(ctx context.Context, id lobby.TicketID) (int, int, bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	raw, err := s.c.HGet(ctx, s.keys.queueEntries(), string(id)).Result()
	if errors.Is(err, redis.Nil) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, s.wrap("queue position", err)
	}
	e, err := parseEntry(raw)
	if err != nil {
		return 0, 0, false, err
	}
	var rank *redis.IntCmd
	var card *redis.IntCmd
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		rank = p.ZRank(ctx, s.keys.queueMode(e.Mode), string(id))
		card = p.ZCard(ctx, s.keys.queueMode(e.Mode))
		return nil
	})
	if errors.Is(err, redis.Nil) {
		return 0, 0, false, nil // dequeued meanwhile
	}
	if err != nil {
		return 0, 0, false, s.wrap("queue position", err)
	}
	return int(rank.Val()) + 1, int(card.Val()), true, nil
}

// PublishTicket implements lobby.TicketEvents (PUBLISH).
func (s *Store) PublishTicket(ctx context.Context, id lobby.TicketID) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.wrap("publish", s.c.Publish(ctx, s.keys.ticketEvents(), string(id)).Err())
}

// SubscribeTickets implements lobby.TicketEvents (SUBSCRIBE). go-redis
// reconnects and re-subscribes after a connection loss; changes published
// meanwhile are missed, so after every re-subscription fn gets "" (re-read
// everything). A ping every few quiet seconds finds a dead connection.
func (s *Store) SubscribeTickets(ctx context.Context, fn func(lobby.TicketID)) error {
	return s.subscribe(ctx, s.keys.ticketEvents(), func(payload string) { fn(lobby.TicketID(payload)) }, func(first bool) {
		if !first {
			fn("") // re-subscribed: changes may have been missed
		}
	})
}

// PublishRevocation implements lobby.Revocations (PUBLISH).
func (s *Store) PublishRevocation(ctx context.Context, r lobby.Revocation) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.wrap("publish revocation", s.c.Publish(ctx, s.keys.revocations(), b).Err())
}

// SubscribeRevocations implements lobby.Revocations (SUBSCRIBE): fn gets
// the zero Revocation at every (re-)subscription, the first included.
func (s *Store) SubscribeRevocations(ctx context.Context, fn func(lobby.Revocation)) error {
	return s.subscribe(ctx, s.keys.revocations(), func(payload string) {
		var r lobby.Revocation
		if json.Unmarshal([]byte(payload), &r) == nil && r.SID != "" {
			fn(r)
		}
	}, func(bool) { fn(lobby.Revocation{}) })
}

// subscribe runs a subscription to channel until ctx ends: onMsg gets each
// message, onSub each confirmed (re-)subscription (first is true once).
// go-redis reconnects and re-subscribes after a connection loss; a ping
// every few quiet seconds finds a dead connection.
func (s *Store) subscribe(ctx context.Context, channel string, onMsg func(string), onSub func(first bool)) error {
	ps := s.c.Subscribe(ctx, channel)
	defer ps.Close()
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() }) // unblocks Receive
	defer stop()
	subscribed := false
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, 5*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				_ = ps.Ping(ctx) // a dead connection fails here, then reconnects
				continue
			}
			select { // Redis is down: the next Receive dials again
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				onSub(!subscribed)
				subscribed = true
			}
		case *redis.Message:
			onMsg(m.Payload)
		}
	}
	return nil
}

// UseOnce implements lobby.UsedTokens (SET NX with the token's expiry).
func (s *Store) UseOnce(ctx context.Context, jti string, exp time.Time) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ok, err := s.c.SetNX(ctx, s.keys.jti(jti), "1", ttlUntil(exp, time.Second)).Result()
	return ok, s.wrap("use once", err)
}

var unlock = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// TryLock implements lobby.Leases (SET PX, renewed by a script only while
// holder has it); it is AcquireLease without the epoch.
func (s *Store) TryLock(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	epoch, err := s.AcquireLease(ctx, name, holder, ttl)
	return epoch > 0, err
}

// Unlock implements lobby.Leases.
func (s *Store) Unlock(ctx context.Context, name, holder string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.wrap("unlock", unlock.Run(ctx, s.c, []string{s.keys.lease(name)}, holder).Err())
}
