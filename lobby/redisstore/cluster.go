package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rallypoint/rallypoint/lobby"
)

// This file implements seats, results and the cluster directory:
// lobby.AssignmentStore, lobby.ResultStore, lobby.NodeRegistry,
// lobby.MatchStore and lobby.Placements.

var assign = redis.NewScript(`
for i = 2, #KEYS do
  local m = redis.call('GET', KEYS[i])
  if m then return {i - 1, m} end
end
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
  redis.call('SADD', KEYS[1], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {0, ''}`)

// Assign implements lobby.AssignmentStore: one script seats every player or
// none.
func (s *Store) Assign(matchID string, players []lobby.PlayerID) error {
	if len(players) == 0 {
		return nil
	}
	keys := make([]string, 1, 1+len(players))
	keys[0] = s.keys.seats(matchID)
	args := make([]any, 2, 2+len(players))
	args[0], args[1] = matchID, s.opt.SeatTTL.Milliseconds()
	for _, p := range players {
		keys = append(keys, s.keys.seat(p))
		args = append(args, playerField(p))
	}
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	res, err := assign.Run(ctx, s.c, keys, args...).Slice()
	if err != nil {
		return s.wrap("assign", err)
	}
	if len(res) == 2 {
		if i, _ := res[0].(int64); i > 0 && int(i) <= len(players) {
			return fmt.Errorf("%w: player %d in %v", lobby.ErrAlreadyInMatch, players[i-1], res[1])
		}
	}
	return nil
}

// Assignment implements lobby.AssignmentStore.
func (s *Store) Assignment(p lobby.PlayerID) (string, bool, error) {
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	m, err := s.c.Get(ctx, s.keys.seat(p)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, s.wrap("assignment", err)
	}
	return m, true, nil
}

var release = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1`)

// Release implements lobby.AssignmentStore.
func (s *Store) Release(matchID string, p lobby.PlayerID) (bool, error) {
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	n, err := release.Run(ctx, s.c, []string{s.keys.seat(p), s.keys.seats(matchID)}, matchID, playerField(p)).Int()
	return n == 1, s.wrap("release", err)
}

var releaseMatch = redis.NewScript(`
local out = {}
for i = 2, #KEYS do
  if redis.call('SREM', KEYS[1], ARGV[i]) == 1 then
    if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
    out[#out + 1] = ARGV[i]
  end
end
return out`)

// ReleaseMatch implements lobby.AssignmentStore: it reads the match's seat
// set, then a script frees each seat still in it (so two concurrent calls
// report each player once).
func (s *Store) ReleaseMatch(matchID string) ([]lobby.PlayerID, error) {
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	members, err := s.c.SMembers(ctx, s.keys.seats(matchID)).Result()
	if err != nil {
		return nil, s.wrap("release match", err)
	}
	if len(members) == 0 {
		return []lobby.PlayerID{}, nil
	}
	keys := []string{s.keys.seats(matchID)}
	args := []any{matchID}
	for _, m := range members {
		p, err := strconv.ParseUint(m, 10, 32)
		if err != nil {
			continue
		}
		keys = append(keys, s.keys.seat(lobby.PlayerID(p)))
		args = append(args, m)
	}
	freed, err := releaseMatch.Run(ctx, s.c, keys, args...).StringSlice()
	if err != nil {
		return nil, s.wrap("release match", err)
	}
	out := make([]lobby.PlayerID, 0, len(freed))
	for _, m := range freed {
		if p, err := strconv.ParseUint(m, 10, 32); err == nil {
			out = append(out, lobby.PlayerID(p))
		}
	}
	return out, nil
}

// AppendResult implements lobby.ResultStore: SET with ResultRetention. How
// durable it is depends on the server's persistence (appendonly yes;
// appendfsync everysec loses at most a second of writes on a crash).
func (s *Store) AppendResult(r lobby.MatchResult) error {
	if r.ID == "" {
		return fmt.Errorf("%w: result without a match id", lobby.ErrBadRequest)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	return s.wrap("append result", s.c.Set(ctx, s.keys.result(r.ID), b, s.opt.ResultRetention).Err())
}

// Result implements lobby.ResultStore.
func (s *Store) Result(id string) (lobby.MatchResult, bool, error) {
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	b, err := s.c.Get(ctx, s.keys.result(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return lobby.MatchResult{}, false, nil
	}
	if err != nil {
		return lobby.MatchResult{}, false, s.wrap("result", err)
	}
	var r lobby.MatchResult
	if err := json.Unmarshal(b, &r); err != nil {
		return lobby.MatchResult{}, false, fmt.Errorf("redisstore: result %s: %w", id, err)
	}
	return r, true, nil
}

// Heartbeat implements lobby.NodeRegistry: node:<id> lives for ttl; the
// nodes set remembers every registered node so a lapsed one is found.
func (s *Store) Heartbeat(ctx context.Context, n lobby.NodeInfo, ttl time.Duration) error {
	if n.ID == "" {
		return fmt.Errorf("%w: node id is empty", lobby.ErrBadRequest)
	}
	if ttl < time.Millisecond {
		return fmt.Errorf("%w: heartbeat ttl %v must be positive", lobby.ErrBadRequest, ttl)
	}
	if n.Seen.IsZero() {
		n.Seen = time.Now()
	}
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.keys.node(n.ID), b, ttl)
		p.SAdd(ctx, s.keys.nodes(), n.ID)
		return nil
	})
	return s.wrap("heartbeat", err)
}

// registered returns every registered node id and its heartbeat (nil when
// lapsed).
func (s *Store) registered(ctx context.Context) ([]string, []any, error) {
	ids, err := s.c.SMembers(ctx, s.keys.nodes()).Result()
	if err != nil || len(ids) == 0 {
		return nil, nil, s.wrap("nodes", err)
	}
	slices.Sort(ids)
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.keys.node(id)
	}
	vals, err := s.c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, nil, s.wrap("nodes", err)
	}
	return ids, vals, nil
}

// Nodes implements lobby.NodeRegistry.
func (s *Store) Nodes(ctx context.Context) ([]lobby.NodeInfo, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, vals, err := s.registered(ctx)
	if err != nil {
		return nil, err
	}
	var out []lobby.NodeInfo
	for _, v := range vals {
		if raw, ok := v.(string); ok {
			var n lobby.NodeInfo
			if json.Unmarshal([]byte(raw), &n) == nil {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// DeadNodes implements lobby.NodeRegistry.
func (s *Store) DeadNodes(ctx context.Context) ([]string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ids, vals, err := s.registered(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for i, v := range vals {
		if v == nil {
			out = append(out, ids[i])
		}
	}
	return out, nil
}

var reapNode = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
return redis.call('SREM', KEYS[2], ARGV[1])`)

// ReapNode implements lobby.NodeRegistry: SREM from the nodes set, only
// while the heartbeat key is gone, so exactly one caller claims it.
func (s *Store) ReapNode(ctx context.Context, id string) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n, err := reapNode.Run(ctx, s.c, []string{s.keys.node(id), s.keys.nodes()}, id).Int()
	return n == 1, s.wrap("reap node", err)
}

// Deregister implements lobby.NodeRegistry.
func (s *Store) Deregister(ctx context.Context, id string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.keys.node(id))
		p.SRem(ctx, s.keys.nodes(), id)
		return nil
	})
	return s.wrap("deregister", err)
}

// Match records: match:<id> is a hash {data: record JSON, state}, so a
// state change touches one field; matches:live and matches:node:<node>
// index the live ones.

// PutMatch implements lobby.MatchStore.
func (s *Store) PutMatch(ctx context.Context, m lobby.MatchRecord) error {
	if m.ID == "" {
		return fmt.Errorf("%w: match id is empty", lobby.ErrBadRequest)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		key := s.keys.match(m.ID)
		p.HSet(ctx, key, "data", b, "state", m.State)
		if lobby.MatchStateFinal(m.State) {
			p.SRem(ctx, s.keys.liveMatches(), m.ID)
			p.SRem(ctx, s.keys.nodeMatches(m.Node), m.ID)
			p.PExpire(ctx, key, s.opt.MatchRetention)
		} else {
			p.SAdd(ctx, s.keys.liveMatches(), m.ID)
			p.SAdd(ctx, s.keys.nodeMatches(m.Node), m.ID)
			p.Persist(ctx, key)
		}
		return nil
	})
	return s.wrap("put match", err)
}

func decodeMatch(h map[string]string) (lobby.MatchRecord, bool) {
	var m lobby.MatchRecord
	if h["data"] == "" || json.Unmarshal([]byte(h["data"]), &m) != nil {
		return m, false
	}
	m.State = h["state"]
	return m, true
}

// MatchRecord implements lobby.MatchStore.
func (s *Store) MatchRecord(ctx context.Context, id string) (lobby.MatchRecord, bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	h, err := s.c.HGetAll(ctx, s.keys.match(id)).Result()
	if err != nil {
		return lobby.MatchRecord{}, false, s.wrap("match", err)
	}
	m, ok := decodeMatch(h)
	return m, ok, nil
}

// matchesIn loads the live matches listed in set, dropping stale ids.
func (s *Store) matchesIn(ctx context.Context, set, node string) ([]lobby.MatchRecord, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ids, err := s.c.SMembers(ctx, set).Result()
	if err != nil {
		return nil, s.wrap("matches", err)
	}
	slices.Sort(ids)
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	if len(ids) > 0 {
		_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids {
				cmds[i] = p.HGetAll(ctx, s.keys.match(id))
			}
			return nil
		})
		if err != nil {
			return nil, s.wrap("matches", err)
		}
	}
	var out []lobby.MatchRecord
	for _, c := range cmds {
		m, ok := decodeMatch(c.Val())
		if !ok || lobby.MatchStateFinal(m.State) || (node != "" && m.Node != node) {
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// LiveMatches implements lobby.MatchStore.
func (s *Store) LiveMatches(ctx context.Context) ([]lobby.MatchRecord, error) {
	return s.matchesIn(ctx, s.keys.liveMatches(), "")
}

// MatchesOnNode implements lobby.MatchStore.
func (s *Store) MatchesOnNode(ctx context.Context, node string) ([]lobby.MatchRecord, error) {
	if node == "" {
		return nil, nil
	}
	return s.matchesIn(ctx, s.keys.nodeMatches(node), node)
}

var setMatchState = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return -1 end
if cur == ARGV[1] or cur == 'failed' or cur == 'ended' or cur == 'lost' then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
if ARGV[2] == '1' then
  redis.call('SREM', KEYS[2], ARGV[4])
  redis.call('SREM', KEYS[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1`)

// SetMatchState implements lobby.MatchStore with a compare-and-set script.
func (s *Store) SetMatchState(ctx context.Context, id, state string) (lobby.MatchRecord, bool, error) {
	m, ok, err := s.MatchRecord(ctx, id)
	if err != nil {
		return m, false, err
	}
	if !ok {
		return m, false, fmt.Errorf("%w: %q", lobby.ErrMatchNotFound, id)
	}
	final := "0"
	if lobby.MatchStateFinal(state) {
		final = "1"
	}
	bctx, cancel := s.bound(ctx)
	n, err := setMatchState.Run(bctx, s.c,
		[]string{s.keys.match(id), s.keys.liveMatches(), s.keys.nodeMatches(m.Node)},
		state, final, s.opt.MatchRetention.Milliseconds(), id).Int()
	cancel()
	if err != nil {
		return m, false, s.wrap("set match state", err)
	}
	if n < 0 {
		return m, false, fmt.Errorf("%w: %q", lobby.ErrMatchNotFound, id)
	}
	m, ok, err = s.MatchRecord(ctx, id)
	if err == nil && !ok {
		err = fmt.Errorf("%w: %q", lobby.ErrMatchNotFound, id)
	}
	return m, n == 1, err
}

// SendPlacement implements lobby.Placements (RPUSH; the list expires after
// PlacementTTL unless read).
func (s *Store) SendPlacement(ctx context.Context, node string, m lobby.MatchRecord) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, s.keys.placements(node), b)
		p.PExpire(ctx, s.keys.placements(node), s.opt.PlacementTTL)
		return nil
	})
	return s.wrap("send placement", err)
}

// NextPlacements implements lobby.Placements: BLPOP for up to wait
// (rounded up to whole seconds), then LPOP of whatever else is queued.
func (s *Store) NextPlacements(ctx context.Context, node string, wait time.Duration) ([]lobby.MatchRecord, error) {
	key := s.keys.placements(node)
	if wait > 0 {
		// BLPOP (as go-redis sends it) waits whole seconds.
		wait = (wait + time.Second - 1).Truncate(time.Second)
	}
	ctx, cancel := context.WithTimeout(ctx, wait+s.opt.Timeout)
	defer cancel()
	var raws []string
	if wait > 0 {
		kv, err := s.c.BLPop(ctx, wait, key).Result()
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, s.wrap("next placements", err)
		}
		raws = append(raws, kv[1])
	}
	rest, err := s.c.LPopCount(ctx, key, 1000).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		if len(raws) == 0 {
			return nil, s.wrap("next placements", err)
		}
		// The popped order must not be lost: return it; the rest stay queued.
	}
	raws = append(raws, rest...)
	out := make([]lobby.MatchRecord, 0, len(raws))
	for _, r := range raws {
		var m lobby.MatchRecord
		if err := json.Unmarshal([]byte(r), &m); err != nil {
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// SeatedMatches returns the ids of the matches that hold seats (SCAN over
// seats:*), for the lobby's sweep of seats left behind by a release that
// never arrived. It costs one pass over the keyspace: run it seldom.
func (s *Store) SeatedMatches(ctx context.Context) ([]string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	prefix := s.keys.seats("")
	var out []string
	iter := s.c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		out = append(out, strings.TrimPrefix(iter.Val(), prefix))
	}
	return out, s.wrap("seated matches", iter.Err())
}
