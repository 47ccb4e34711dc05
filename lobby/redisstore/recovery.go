package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rallypoint/rallypoint/lobby"
)

// This file implements lobby.RecoveryStore (the cluster's recovery from a
// dead game node; internal/cluster):
//
//	key                        type    lifetime
//	-------------------------- ------- ------------------------------------------
//	match-tickets:<match>      string  JSON ticket ids placed in the match; the
//	                                   placer's retention (24 h)
//	requeue-priority:<player>  string  "1": the player's match was lost; until
//	                                   its next ticket, at most RequeuePriority (2 min)

var _ lobby.RecoveryStore = (*Store)(nil)

func (s *Store) matchTicketsKey(match string) string { return s.keys.p + "match-tickets:" + match }
func (s *Store) priorityKey(p lobby.PlayerID) string {
	return s.keys.p + "requeue-priority:" + strconv.FormatUint(uint64(p), 10)
}

// PutMatchTickets implements lobby.RecoveryStore.
func (s *Store) PutMatchTickets(ctx context.Context, match string, tickets []lobby.TicketID, until time.Time) error {
	b, err := json.Marshal(tickets)
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.wrap("put match tickets", s.c.Set(ctx, s.matchTicketsKey(match), b, ttlUntil(until, time.Second)).Err())
}

// MatchTickets implements lobby.RecoveryStore.
func (s *Store) MatchTickets(ctx context.Context, match string) ([]lobby.TicketID, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	b, err := s.c.Get(ctx, s.matchTicketsKey(match)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, s.wrap("match tickets", err)
	}
	var ids []lobby.TicketID
	if err := json.Unmarshal(b, &ids); err != nil {
		return nil, err
	}
	return ids, nil
}

// GrantPriority implements lobby.RecoveryStore.
func (s *Store) GrantPriority(ctx context.Context, p lobby.PlayerID, until time.Time) error {
	if !until.After(time.Now()) {
		return nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.wrap("grant priority", s.c.Set(ctx, s.priorityKey(p), "1", ttlUntil(until, time.Millisecond)).Err())
}

// TakePriority implements lobby.RecoveryStore: GET and DEL in one
// transaction, so exactly one ticket gets the priority.
func (s *Store) TakePriority(ctx context.Context, p lobby.PlayerID) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var get *redis.StringCmd
	_, err := s.c.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		get = pipe.Get(ctx, s.priorityKey(p))
		pipe.Del(ctx, s.priorityKey(p))
		return nil
	})
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, s.wrap("take priority", err)
	}
	return get.Val() == "1", nil
}
