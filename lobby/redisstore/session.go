package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rallypoint/rallypoint/lobby"
)

// This file implements lobby.Store: revocations, refresh-token rotation,
// player ids and signing keys.

var rotateRefresh = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`)

var newPlayer = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n > tonumber(ARGV[1]) then return -1 end
return n`)

var playerForSubject = redis.NewScript(`
local id = redis.call('HGET', KEYS[2], ARGV[2])
if id then return tonumber(id) end
local n = redis.call('INCR', KEYS[1])
if n > tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[2], ARGV[2], n)
return n`)

// Revoke implements lobby.RevocationStore: the revocation expires at until.
func (s *Store) Revoke(sid string, until time.Time) error {
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if time.Until(until) > 0 {
			p.Set(ctx, s.keys.revoked(sid), "1", ttlUntil(until, time.Millisecond))
		}
		p.Del(ctx, s.keys.refresh(sid))
		return nil
	})
	return s.wrap("revoke", err)
}

// Revoked implements lobby.RevocationStore (one EXISTS).
func (s *Store) Revoked(sid string) (bool, error) {
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	n, err := s.c.Exists(ctx, s.keys.revoked(sid)).Result()
	return n == 1, s.wrap("revoked", err)
}

// SetRefresh implements lobby.RefreshStore.
func (s *Store) SetRefresh(sid, jti string, until time.Time) error {
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	return s.wrap("set refresh", s.c.Set(ctx, s.keys.refresh(sid), jti, ttlUntil(until, time.Millisecond)).Err())
}

// RotateRefresh implements lobby.RefreshStore with a compare-and-set
// script.
func (s *Store) RotateRefresh(sid, oldJTI, newJTI string, until time.Time) (bool, error) {
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	n, err := rotateRefresh.Run(ctx, s.c, []string{s.keys.refresh(sid)},
		oldJTI, newJTI, ttlUntil(until, time.Millisecond).Milliseconds()).Int()
	return n == 1, s.wrap("rotate refresh", err)
}

// NewPlayer implements lobby.PlayerStore.
func (s *Store) NewPlayer() (lobby.PlayerID, error) {
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	n, err := newPlayer.Run(ctx, s.c, []string{s.keys.nextPlayer()}, lobby.MaxPlayerID).Int64()
	return s.playerID(n, err)
}

// PlayerForSubject implements lobby.PlayerStore.
func (s *Store) PlayerForSubject(subject string) (lobby.PlayerID, error) {
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	n, err := playerForSubject.Run(ctx, s.c, []string{s.keys.nextPlayer(), s.keys.subjects()},
		lobby.MaxPlayerID, subject).Int64()
	return s.playerID(n, err)
}

func (s *Store) playerID(n int64, err error) (lobby.PlayerID, error) {
	if err != nil {
		return 0, s.wrap("player id", err)
	}
	if n < 1 || n > lobby.MaxPlayerID {
		return 0, lobby.ErrPlayerIDsExhausted
	}
	return lobby.PlayerID(n), nil
}

type storedKey struct {
	ID      string    `json:"id"`
	Secret  []byte    `json:"secret"`
	Created time.Time `json:"created"`
}

// SigningKeys implements lobby.KeyStore: the first caller stores a fresh
// key (SET NX), every process then signs and verifies with the same keys.
func (s *Store) SigningKeys() ([]lobby.SigningKey, error) {
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	raw, err := s.c.Get(ctx, s.keys.signingKeys()).Bytes()
	if errors.Is(err, redis.Nil) {
		k, kerr := lobby.NewSigningKey()
		if kerr != nil {
			return nil, kerr
		}
		b, _ := json.Marshal([]storedKey{{ID: k.ID, Secret: k.Secret, Created: time.Now().UTC()}})
		if err = s.c.SetNX(ctx, s.keys.signingKeys(), b, 0).Err(); err == nil {
			raw, err = s.c.Get(ctx, s.keys.signingKeys()).Bytes()
		}
	}
	if err != nil {
		return nil, s.wrap("signing keys", err)
	}
	var stored []storedKey
	if err := json.Unmarshal(raw, &stored); err != nil || len(stored) == 0 {
		return nil, fmt.Errorf("redisstore: %s holds no valid keys: %v", s.keys.signingKeys(), err)
	}
	out := make([]lobby.SigningKey, len(stored))
	for i, k := range stored {
		out[i] = lobby.SigningKey{ID: k.ID, Secret: k.Secret}
	}
	return out, nil
}

// Prune implements lobby.Store. Redis expires revocations and refresh
// records by their TTL, so there is nothing to do.
func (s *Store) Prune(now time.Time) error { return nil }
