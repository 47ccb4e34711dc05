package lobby

import (
	"fmt"
	"sync"
	"time"
)

// RevocationStore records logged-out sessions. A revocation is kept until
// every token of the session has expired anyway.
type RevocationStore interface {
	// Revoke marks session sid revoked until the given time.
	Revoke(sid string, until time.Time) error
	// Revoked reports whether session sid is revoked. It is called on every
	// token verification, so it must be fast (keep a memory index).
	Revoked(sid string) (bool, error)
}

// RefreshStore tracks the one live refresh token (by its jti) of each
// session, so a refresh token works once: using it rotates it.
type RefreshStore interface {
	// SetRefresh records jti as the live refresh token of session sid.
	SetRefresh(sid, jti string, until time.Time) error
	// RotateRefresh replaces the live refresh token of sid with newJTI if
	// and only if it is currently oldJTI, and reports whether it did.
	RotateRefresh(sid, oldJTI, newJTI string, until time.Time) (bool, error)
}

// PlayerStore allocates player ids.
type PlayerStore interface {
	// NewPlayer allocates a fresh player id (guests).
	NewPlayer() (PlayerID, error)
	// PlayerForSubject returns the stable player id of an external subject
	// (such as "studio:user-42"), allocating one on first sight.
	PlayerForSubject(subject string) (PlayerID, error)
}

// KeyStore holds the lobby's own signing keys when Config.SigningKeys is
// empty.
type KeyStore interface {
	// SigningKeys returns the stored keys, newest first, creating and
	// storing one if there are none.
	SigningKeys() ([]SigningKey, error)
}

// Store is everything the lobby persists. A Redis or SQL implementation
// lets several lobby nodes share sessions; this package ships
// [NewMemoryStore] and [OpenBoltStore].
type Store interface {
	RevocationStore
	RefreshStore
	PlayerStore
	KeyStore
	// Prune forgets revocations and refresh records that ended before now.
	Prune(now time.Time) error
	// Close releases the store. Later calls fail with ErrClosed.
	Close() error
}

// memStore is the in-memory Store.
type memStore struct {
	mu       sync.Mutex
	closed   bool
	keys     []SigningKey
	revoked  map[string]time.Time
	refresh  map[string]refreshRecord
	subjects map[string]PlayerID
	next     uint64 // next player id
}

type refreshRecord struct {
	JTI   string    `json:"jti"`
	Until time.Time `json:"until"`
}

// NewMemoryStore returns an in-memory [Store]: nothing survives the
// process, and a signing key is generated on first use.
func NewMemoryStore() Store {
	return &memStore{
		revoked:  make(map[string]time.Time),
		refresh:  make(map[string]refreshRecord),
		subjects: make(map[string]PlayerID),
		next:     1,
	}
}

func (s *memStore) Revoke(sid string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if until.After(s.revoked[sid]) {
		s.revoked[sid] = until
	}
	delete(s.refresh, sid)
	return nil
}

func (s *memStore) Revoked(sid string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, ErrClosed
	}
	_, ok := s.revoked[sid]
	return ok, nil
}

func (s *memStore) SetRefresh(sid, jti string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.refresh[sid] = refreshRecord{JTI: jti, Until: until}
	return nil
}

func (s *memStore) RotateRefresh(sid, oldJTI, newJTI string, until time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, ErrClosed
	}
	if r, ok := s.refresh[sid]; !ok || r.JTI != oldJTI {
		return false, nil
	}
	s.refresh[sid] = refreshRecord{JTI: newJTI, Until: until}
	return true, nil
}

func (s *memStore) NewPlayer() (PlayerID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newPlayerLocked()
}

func (s *memStore) newPlayerLocked() (PlayerID, error) {
	if s.closed {
		return 0, ErrClosed
	}
	if s.next > MaxPlayerID {
		return 0, ErrPlayerIDsExhausted
	}
	id := PlayerID(s.next)
	s.next++
	return id, nil
}

func (s *memStore) PlayerForSubject(subject string) (PlayerID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.subjects[subject]; ok {
		return id, nil
	}
	id, err := s.newPlayerLocked()
	if err != nil {
		return 0, err
	}
	s.subjects[subject] = id
	return id, nil
}

func (s *memStore) SigningKeys() ([]SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if len(s.keys) == 0 {
		k, err := NewSigningKey()
		if err != nil {
			return nil, err
		}
		s.keys = []SigningKey{k}
	}
	return append([]SigningKey(nil), s.keys...), nil
}

func (s *memStore) Prune(now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for sid, until := range s.revoked {
		if !until.After(now) {
			delete(s.revoked, sid)
		}
	}
	for sid, r := range s.refresh {
		if !r.Until.After(now) {
			delete(s.refresh, sid)
		}
	}
	return nil
}

func (s *memStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// TicketID is a ticket's id: 128 random bits in hex. Knowing it authorizes
// only reading that ticket's event stream.
type TicketID string

// TicketStatus is the state of a ticket.
type TicketStatus string

// Ticket states. Queued is the only live state; the others are terminal.
const (
	StatusQueued    TicketStatus = "queued"
	StatusMatched   TicketStatus = "matched"
	StatusCancelled TicketStatus = "cancelled"
	StatusExpired   TicketStatus = "expired"
)

// Terminal reports whether s is a final state.
func (s TicketStatus) Terminal() bool { return s != StatusQueued }

// Ticket is a player's request to be matched, and its outcome.
type Ticket struct {
	ID       TicketID     // 128 random bits, hex
	Player   PlayerID     // owner
	Name     string       // display name, carried into socket tokens
	SID      string       // session the ticket was created with
	Mode     string       // queue
	Rating   int          // matchmaking rating, 0..Config.MaxRating
	Status   TicketStatus // queued until terminal
	Created  time.Time    // when queued
	Expires  time.Time    // when a queued ticket expires
	Closed   time.Time    // when it reached a terminal state
	MatchID  string       // set when matched
	WSURL    string       // the node's game socket URL, when matched (Placement.WSURL)
	Bots     int          // bots placed with the match, when matched
	Placing  bool         // taken from the queue, Placer call in flight
	Sequence uint64       // arrival order, for the matchmaker
}

// TicketStore holds tickets and the index of each player's live ticket.
// The lobby serializes its calls.
type TicketStore interface {
	// PutTicket inserts or replaces t, keeping the live-ticket index: a
	// queued ticket is its player's live ticket.
	PutTicket(t Ticket) error
	// Ticket returns the ticket with the given id, or an error wrapping
	// ErrTicketNotFound.
	Ticket(id TicketID) (Ticket, error)
	// LiveTicket returns the id of the player's queued ticket, if any.
	LiveTicket(p PlayerID) (TicketID, bool, error)
	// PruneTickets deletes terminal tickets closed before the given time.
	PruneTickets(before time.Time) error
}

// AssignmentStore records which player holds a seat in which match. A
// player holds at most one seat.
type AssignmentStore interface {
	// Assign seats all players in matchID, or none: it fails with an error
	// wrapping ErrAlreadyInMatch if any of them holds a seat.
	Assign(matchID string, players []PlayerID) error
	// Assignment returns the match the player is seated in, if any.
	Assignment(p PlayerID) (string, bool, error)
	// Release frees the player's seat if it is in matchID, and reports
	// whether it did.
	Release(matchID string, p PlayerID) (bool, error)
	// ReleaseMatch frees every seat of matchID and returns their players.
	ReleaseMatch(matchID string) ([]PlayerID, error)
}

// memTickets is the in-memory TicketStore.
type memTickets struct {
	mu     sync.Mutex
	byID   map[TicketID]Ticket
	live   map[PlayerID]TicketID
	closed []TicketID // terminal tickets in closing order, for pruning
}

// NewMemoryTicketStore returns an in-memory [TicketStore].
func NewMemoryTicketStore() TicketStore {
	return &memTickets{byID: make(map[TicketID]Ticket), live: make(map[PlayerID]TicketID)}
}

func (s *memTickets) PutTicket(t Ticket) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, existed := s.byID[t.ID]
	s.byID[t.ID] = t
	if t.Status == StatusQueued {
		s.live[t.Player] = t.ID
	} else if s.live[t.Player] == t.ID {
		delete(s.live, t.Player)
	}
	if t.Status.Terminal() && (!existed || !old.Status.Terminal()) {
		s.closed = append(s.closed, t.ID)
	}
	return nil
}

func (s *memTickets) Ticket(id TicketID) (Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byID[id]
	if !ok {
		return Ticket{}, ErrTicketNotFound
	}
	return t, nil
}

func (s *memTickets) LiveTicket(p PlayerID) (TicketID, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.live[p]
	return id, ok, nil
}

func (s *memTickets) PruneTickets(before time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, id := range s.closed {
		t, ok := s.byID[id]
		if !ok {
			n++
			continue
		}
		if !t.Closed.Before(before) {
			break
		}
		delete(s.byID, id)
		n++
	}
	s.closed = append(s.closed[:0], s.closed[n:]...)
	return nil
}

// memAssignments is the in-memory AssignmentStore.
type memAssignments struct {
	mu      sync.Mutex
	byPlay  map[PlayerID]string
	byMatch map[string]map[PlayerID]struct{}
}

// NewMemoryAssignmentStore returns an in-memory [AssignmentStore].
func NewMemoryAssignmentStore() AssignmentStore {
	return &memAssignments{byPlay: make(map[PlayerID]string), byMatch: make(map[string]map[PlayerID]struct{})}
}

func (s *memAssignments) Assign(matchID string, players []PlayerID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range players {
		if m, ok := s.byPlay[p]; ok {
			return fmt.Errorf("%w: player %d in %s", ErrAlreadyInMatch, p, m)
		}
	}
	set := s.byMatch[matchID]
	if set == nil {
		set = make(map[PlayerID]struct{}, len(players))
		s.byMatch[matchID] = set
	}
	for _, p := range players {
		s.byPlay[p] = matchID
		set[p] = struct{}{}
	}
	return nil
}

func (s *memAssignments) Assignment(p PlayerID) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.byPlay[p]
	return m, ok, nil
}

func (s *memAssignments) Release(matchID string, p PlayerID) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byPlay[p] != matchID {
		return false, nil
	}
	delete(s.byPlay, p)
	if set := s.byMatch[matchID]; set != nil {
		delete(set, p)
		if len(set) == 0 {
			delete(s.byMatch, matchID)
		}
	}
	return true, nil
}

func (s *memAssignments) ReleaseMatch(matchID string) ([]PlayerID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.byMatch[matchID]
	delete(s.byMatch, matchID)
	out := make([]PlayerID, 0, len(set))
	for p := range set {
		delete(s.byPlay, p)
		out = append(out, p)
	}
	return out, nil
}
