package lobby

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// MatchResult is a finished match as the results log keeps it and
// GET /v1/matches/{id} shows it once the match is over.
type MatchResult struct {
	ID         string        `json:"id"`
	Mode       string        `json:"mode"`
	Reason     string        `json:"reason"` // the game's ("time", "score"), or "aborted", "shutdown", "abandoned"
	Started    time.Time     `json:"started"`
	Ended      time.Time     `json:"ended"`
	DurationMS int64         `json:"duration_ms"`
	Ticks      uint32        `json:"ticks"`
	Players    []ResultEntry `json:"players"`
	Error      string        `json:"error,omitempty"` // what crashed an aborted match
}

// ResultEntry is one player's standing in a MatchResult.
type ResultEntry struct {
	Player PlayerID `json:"player"`
	Entity uint32   `json:"entity"`
	Score  uint32   `json:"score"`
	Rank   int      `json:"rank"`
	Bot    bool     `json:"bot,omitempty"`
}

// ResultStore keeps match results. Append must make the result durable
// before it returns: the game server forgets the match after.
type ResultStore interface {
	AppendResult(MatchResult) error
	Result(id string) (MatchResult, bool, error)
	Close() error
}

// maxIndexedResults bounds the results kept in memory for lookups; older
// ones stay in the log file.
const maxIndexedResults = 100000

// resultIndex is the in-memory lookup both stores share: the newest
// maxIndexedResults results by id.
type resultIndex struct {
	byID  map[string]MatchResult
	order []string // oldest first
}

func (x *resultIndex) add(r MatchResult) {
	if x.byID == nil {
		x.byID = make(map[string]MatchResult)
	}
	if _, dup := x.byID[r.ID]; !dup {
		x.order = append(x.order, r.ID)
	}
	x.byID[r.ID] = r
	if len(x.order) > maxIndexedResults {
		delete(x.byID, x.order[0])
		x.order = x.order[1:]
	}
}

// MemoryResultStore keeps results in memory only (no DataDir).
type MemoryResultStore struct {
	mu  sync.Mutex
	idx resultIndex
}

// NewMemoryResultStore returns an empty in-memory result store.
func NewMemoryResultStore() *MemoryResultStore { return &MemoryResultStore{} }

// AppendResult implements ResultStore.
func (m *MemoryResultStore) AppendResult(r MatchResult) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.idx.add(r)
	return nil
}

// Result implements ResultStore.
func (m *MemoryResultStore) Result(id string) (MatchResult, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.idx.byID[id]
	return r, ok, nil
}

// Close implements ResultStore.
func (m *MemoryResultStore) Close() error { return nil }

// FileResultStore appends results as JSON lines to a file, fsynced after
// each one, and indexes the newest in memory (rebuilt from the file when it
// is opened, so a restart loses nothing).
type FileResultStore struct {
	mu  sync.Mutex
	f   *os.File // guarded by mu; nil once closed
	idx resultIndex
}

// ResultsFile is the results log's name in the data directory.
const ResultsFile = "results.jsonl"

// OpenFileResultStore opens (or creates) dir/results.jsonl. A torn last
// line (a crash mid-write) is skipped.
func OpenFileResultStore(dir string) (*FileResultStore, error) {
	path := filepath.Join(dir, ResultsFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lobby: results log: %w", err)
	}
	s := &FileResultStore{f: f}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r MatchResult
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.ID != "" {
			s.idx.add(r)
		}
	}
	if err := sc.Err(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lobby: results log %s: %w", path, err)
	}
	return s, nil
}

// AppendResult implements ResultStore: one line, then fsync.
func (s *FileResultStore) AppendResult(r MatchResult) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return ErrClosed
	}
	if _, err := s.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("lobby: results log: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("lobby: results log: %w", err)
	}
	s.idx.add(r)
	return nil
}

// Result implements ResultStore.
func (s *FileResultStore) Result(id string) (MatchResult, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.idx.byID[id]
	return r, ok, nil
}

// Close implements ResultStore.
func (s *FileResultStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// RecordResult appends a finished match's result to the results log. The
// game server calls it (through internal/app) when a match ends, before it
// forgets the match; GET /v1/matches/{id} serves it from then on.
func (l *Lobby) RecordResult(r MatchResult) error {
	if r.Ended.IsZero() {
		r.Ended = l.cfg.Now()
	}
	if !r.Started.IsZero() && r.DurationMS == 0 {
		r.DurationMS = r.Ended.Sub(r.Started).Milliseconds()
	}
	err := l.results.AppendResult(r)
	if err != nil && !errors.Is(err, ErrClosed) {
		l.log.Error("results log: the result of a match could not be stored", zap.String("match", r.ID), zap.Error(err))
	}
	return err
}
