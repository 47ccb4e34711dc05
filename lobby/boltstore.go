package lobby

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketKeys     = []byte("keys")     // kid -> storedKey JSON
	bucketRevoked  = []byte("revoked")  // sid -> until (unix nanos, 8 bytes BE)
	bucketRefresh  = []byte("refresh")  // sid -> refreshRecord JSON
	bucketSubjects = []byte("subjects") // subject -> player id (4 bytes BE)
	bucketMeta     = []byte("meta")     // "next_player" -> next id (8 bytes BE)
	keyNextPlayer  = []byte("next_player")
)

type storedKey struct {
	Secret  []byte    `json:"secret"`
	Created time.Time `json:"created"`
}

// boltStore is the Store persisted in a bbolt file. Revocations are
// mirrored in memory for the hot verification path.
type boltStore struct {
	db *bolt.DB

	mu      sync.Mutex // guards revoked and closed
	revoked map[string]time.Time
	closed  bool
}

// OpenBoltStore opens (creating if needed) the lobby store in
// dir/lobby.db. The directory is created with mode 0700 and the file with
// 0600: it holds signing keys. Only one process may open it at a time.
func OpenBoltStore(dir string) (Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lobby: data dir: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, "lobby.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("lobby: open store: %w", err)
	}
	s := &boltStore{db: db, revoked: make(map[string]time.Time)}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketKeys, bucketRevoked, bucketRefresh, bucketSubjects, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketRevoked).ForEach(func(k, v []byte) error {
			if len(v) == 8 {
				s.revoked[string(k)] = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
			}
			return nil
		})
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("lobby: init store: %w", err)
	}
	return s, nil
}

func (s *boltStore) update(fn func(tx *bolt.Tx) error) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if err := s.db.Update(fn); err != nil {
		if errors.Is(err, bolt.ErrDatabaseNotOpen) {
			return ErrClosed
		}
		return fmt.Errorf("lobby: store: %w", err)
	}
	return nil
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func (s *boltStore) Revoke(sid string, until time.Time) error {
	err := s.update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketRefresh).Delete([]byte(sid)); err != nil {
			return err
		}
		return tx.Bucket(bucketRevoked).Put([]byte(sid), u64(uint64(until.UnixNano())))
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	if until.After(s.revoked[sid]) {
		s.revoked[sid] = until
	}
	s.mu.Unlock()
	return nil
}

func (s *boltStore) Revoked(sid string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, ErrClosed
	}
	_, ok := s.revoked[sid]
	return ok, nil
}

func (s *boltStore) SetRefresh(sid, jti string, until time.Time) error {
	v, err := json.Marshal(refreshRecord{JTI: jti, Until: until})
	if err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRefresh).Put([]byte(sid), v) })
}

func (s *boltStore) RotateRefresh(sid, oldJTI, newJTI string, until time.Time) (bool, error) {
	var ok bool
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRefresh)
		var cur refreshRecord
		if v := b.Get([]byte(sid)); v == nil || json.Unmarshal(v, &cur) != nil || cur.JTI != oldJTI {
			return nil
		}
		v, err := json.Marshal(refreshRecord{JTI: newJTI, Until: until})
		if err != nil {
			return err
		}
		ok = true
		return b.Put([]byte(sid), v)
	})
	return ok, err
}

func nextPlayerTx(tx *bolt.Tx) (PlayerID, error) {
	meta := tx.Bucket(bucketMeta)
	next := uint64(1)
	if v := meta.Get(keyNextPlayer); len(v) == 8 {
		next = binary.BigEndian.Uint64(v)
	}
	if next > MaxPlayerID {
		return 0, ErrPlayerIDsExhausted
	}
	if err := meta.Put(keyNextPlayer, u64(next+1)); err != nil {
		return 0, err
	}
	return PlayerID(next), nil
}

func (s *boltStore) NewPlayer() (PlayerID, error) {
	var id PlayerID
	err := s.update(func(tx *bolt.Tx) (err error) {
		id, err = nextPlayerTx(tx)
		return err
	})
	return id, err
}

func (s *boltStore) PlayerForSubject(subject string) (PlayerID, error) {
	var id PlayerID
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSubjects)
		if v := b.Get([]byte(subject)); len(v) == 4 {
			id = PlayerID(binary.BigEndian.Uint32(v))
			return nil
		}
		var err error
		if id, err = nextPlayerTx(tx); err != nil {
			return err
		}
		v := make([]byte, 4)
		binary.BigEndian.PutUint32(v, uint32(id))
		return b.Put([]byte(subject), v)
	})
	return id, err
}

func (s *boltStore) SigningKeys() ([]SigningKey, error) {
	type dated struct {
		k SigningKey
		t time.Time
	}
	var keys []dated
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKeys)
		err := b.ForEach(func(k, v []byte) error {
			var sk storedKey
			if err := json.Unmarshal(v, &sk); err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
			keys = append(keys, dated{SigningKey{ID: string(k), Secret: sk.Secret}, sk.Created})
			return nil
		})
		if err != nil || len(keys) > 0 {
			return err
		}
		k, err := NewSigningKey()
		if err != nil {
			return err
		}
		now := time.Now()
		v, err := json.Marshal(storedKey{Secret: k.Secret, Created: now})
		if err != nil {
			return err
		}
		keys = append(keys, dated{k, now})
		return b.Put([]byte(k.ID), v)
	})
	if err != nil {
		return nil, err
	}
	// Newest first: it signs.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j].t.After(keys[j-1].t); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	out := make([]SigningKey, len(keys))
	for i, k := range keys {
		out[i] = k.k
	}
	return out, nil
}

func (s *boltStore) Prune(now time.Time) error {
	var gone []string
	err := s.update(func(tx *bolt.Tx) error {
		rev := tx.Bucket(bucketRevoked)
		c := rev.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) <= now.UnixNano() {
				gone = append(gone, string(k))
			}
		}
		for _, k := range gone {
			if err := rev.Delete([]byte(k)); err != nil {
				return err
			}
		}
		ref := tx.Bucket(bucketRefresh)
		var stale [][]byte
		c = ref.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var r refreshRecord
			if json.Unmarshal(v, &r) != nil || !r.Until.After(now) {
				stale = append(stale, append([]byte(nil), k...))
			}
		}
		for _, k := range stale {
			if err := ref.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	for _, sid := range gone {
		if !s.revoked[sid].After(now) {
			delete(s.revoked, sid)
		}
	}
	s.mu.Unlock()
	return nil
}

func (s *boltStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	return s.db.Close()
}
