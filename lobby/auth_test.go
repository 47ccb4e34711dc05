package lobby

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestStudioJWT(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Authenticators = map[string]Authenticator{
		"studio":    &StudioJWT{Secret: secret, Issuer: "https://accounts.example", Audience: "rallypoint"},
		"studio-ec": &StudioJWT{Provider: "studio", PublicKey: &ecKey.PublicKey},
	}
	e := newEnv(t, cfg)
	sign := func(method jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := time.Now().Add(time.Hour).Unix()
	good := jwt.MapClaims{"sub": "user-42", "name": "Kim", "iss": "https://accounts.example", "aud": "rallypoint", "exp": exp}
	var first authResp
	if resp := e.do("POST", "/v1/auth/studio", "", map[string]string{"token": sign(jwt.SigningMethodHS256, secret, good)}, &first); resp.StatusCode != 200 || first.Name != "Kim" {
		t.Fatalf("studio sign-in: %d %+v", resp.StatusCode, first)
	}
	e.guest("someone else")
	var again authResp
	e.do("POST", "/v1/auth/studio", "", map[string]string{"token": sign(jwt.SigningMethodHS256, secret, good)}, &again)
	if again.PlayerID != first.PlayerID {
		t.Fatalf("subject mapped to %d then %d", first.PlayerID, again.PlayerID)
	}
	var ec authResp
	e.do("POST", "/v1/auth/studio-ec", "", map[string]string{"token": sign(jwt.SigningMethodES256, ecKey, jwt.MapClaims{"sub": "user-42", "exp": exp})}, &ec)
	if ec.PlayerID != first.PlayerID || ec.Name != fmt.Sprintf("player-%d", first.PlayerID) {
		t.Fatalf("ES256 sign-in %+v", ec)
	}

	bad := func(mut func(c jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range good {
			c[k] = v
		}
		mut(c)
		return c
	}
	tests := []struct {
		name  string
		token string
		code  string
	}{
		{"wrong secret", sign(jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), good), "invalid_credentials"},
		{"expired", sign(jwt.SigningMethodHS256, secret, bad(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), "invalid_credentials"},
		{"no exp", sign(jwt.SigningMethodHS256, secret, bad(func(c jwt.MapClaims) { delete(c, "exp") })), "invalid_credentials"},
		{"wrong issuer", sign(jwt.SigningMethodHS256, secret, bad(func(c jwt.MapClaims) { c["iss"] = "evil" })), "invalid_credentials"},
		{"wrong audience", sign(jwt.SigningMethodHS256, secret, bad(func(c jwt.MapClaims) { c["aud"] = "other" })), "invalid_credentials"},
		{"no subject", sign(jwt.SigningMethodHS256, secret, bad(func(c jwt.MapClaims) { delete(c, "sub") })), "invalid_credentials"},
		{"lobby token", first.SessionToken, "invalid_credentials"},
		{"empty", "", "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := 401
			if tt.code == "bad_request" {
				status = 400
			}
			e.expectError("POST", "/v1/auth/studio", "", map[string]string{"token": tt.token}, status, tt.code)
		})
	}
	t.Run("HS256 token to the EC authenticator", func(t *testing.T) {
		e.expectError("POST", "/v1/auth/studio-ec", "", map[string]string{"token": sign(jwt.SigningMethodHS256, secret, good)}, 401, "invalid_credentials")
	})
}

func TestTokenRedaction(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	tok := Token("eyJhbGciOiJIUzI1NiJ9.secret.sig")
	log.Info("minted", zap.Object("token", tok), zap.Stringer("s", tok), zap.Any("any", tok))
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %s %+v %#v", tok, tok, tok, tok)} {
		if strings.Contains(s, "secret") {
			t.Errorf("fmt leaks token: %q", s)
		}
	}
	for _, entry := range logs.All() {
		if strings.Contains(fmt.Sprint(entry.ContextMap()), "secret") {
			t.Errorf("zap leaks token: %v", entry.ContextMap())
		}
	}
	if tok.Reveal() != string(tok) {
		t.Error("Reveal")
	}
	k := SigningKey{ID: "k1", Secret: []byte("topsecret-topsecret-topsecret-32")}
	if strings.Contains(fmt.Sprint(k), "topsecret") {
		t.Error("SigningKey String leaks")
	}
}

func TestNoTokensInLogs(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	game := &fakeGame{}
	cfg := testConfig()
	e := &env{t: t, game: game}
	l, err := New(cfg, game, game, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	e.l = l
	e.srv = newServer(l)
	t.Cleanup(e.close)
	a, b := e.guest("a"), e.guest("b")
	ta := e.ticket(a.SessionToken, "arena")
	e.ticket(b.SessionToken, "arena")
	m := e.waitStatus(a.SessionToken, ta.TicketID, "matched").Assignment
	e.do("POST", "/v1/auth/logout", a.SessionToken, nil, nil)
	e.l.VerifySocketToken(t.Context(), m.Token)
	e.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": b.RefreshToken}, nil)
	e.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": b.RefreshToken}, nil)
	for _, entry := range logs.All() {
		text := entry.Message + fmt.Sprint(entry.ContextMap())
		for _, secret := range []string{a.SessionToken, a.RefreshToken, b.RefreshToken, m.Token} {
			sig := secret[strings.LastIndex(secret, ".")+1:]
			if strings.Contains(text, sig) {
				t.Fatalf("token in log: %s", text)
			}
		}
	}
	if len(logs.All()) == 0 {
		t.Fatal("no logs observed")
	}
}

func TestConfigValidation(t *testing.T) {
	game := &fakeGame{}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"negative TTL", Config{SessionTTL: -1}},
		{"refresh shorter than session", Config{SessionTTL: time.Hour, RefreshTTL: time.Minute}},
		{"empty modes", Config{Modes: map[string]ModeRules{}}},
		{"min above max", Config{Modes: map[string]ModeRules{"x": {MinPlayers: 3, MaxPlayers: 2}}}},
		{"zero min", Config{Modes: map[string]ModeRules{"x": {MinPlayers: 0, MaxPlayers: 2}}}},
		{"short key", Config{SigningKeys: []SigningKey{{ID: "k", Secret: []byte("short")}}}},
		{"duplicate key id", Config{SigningKeys: []SigningKey{{ID: "k", Secret: make([]byte, 32)}, {ID: "k", Secret: make([]byte, 32)}}}},
		{"origin with path", Config{AllowedOrigins: []string{"http://localhost:5173/app"}}},
		{"origin without scheme", Config{AllowedOrigins: []string{"localhost:5173"}}},
		{"http ws url", Config{PublicWSURL: "http://example.com/v1/ws"}},
		{"reserved authenticator", Config{Authenticators: map[string]Authenticator{"refresh": Guest{}}}},
		{"nil authenticator", Config{Authenticators: map[string]Authenticator{"studio": nil}}},
		{"window max below base", Config{WindowBase: 500, WindowMax: 100}},
		{"default rating above max", Config{DefaultRating: 20000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(tt.cfg, game, game, nil)
			if !errors.Is(err, ErrInvalidConfig) {
				if l != nil {
					l.Shutdown(t.Context())
				}
				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
	if _, err := New(Config{}, nil, game, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil placer: %v", err)
	}
	l, err := New(Config{}, game, game, nil)
	if err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	if err := l.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if l.cfg.SessionTTL != 15*time.Minute || l.cfg.TicketTTL != 2*time.Minute || l.cfg.Modes["arena"] != (ModeRules{2, 16}) || l.cfg.Modes["bench"] != (ModeRules{1, 8}) {
		t.Errorf("defaults %+v", l.cfg)
	}
}

// TestStores runs the same contract over the memory and bbolt stores.
func TestStores(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		open func(t *testing.T) Store
	}{
		{"memory", func(t *testing.T) Store { return NewMemoryStore() }},
		{"bolt", func(t *testing.T) Store {
			s, err := OpenBoltStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.open(t)
			k1, err := s.SigningKeys()
			if err != nil || len(k1) != 1 {
				t.Fatalf("keys %v %v", k1, err)
			}
			if k2, _ := s.SigningKeys(); k2[0].ID != k1[0].ID {
				t.Fatal("key changed")
			}
			p1, _ := s.NewPlayer()
			p2, _ := s.PlayerForSubject("studio:x")
			p3, _ := s.PlayerForSubject("studio:x")
			if p1 == 0 || p2 == p1 || p3 != p2 {
				t.Fatalf("players %d %d %d", p1, p2, p3)
			}
			if err := s.SetRefresh("sid", "j1", now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if ok, _ := s.RotateRefresh("sid", "j0", "j2", now.Add(time.Hour)); ok {
				t.Fatal("rotated from a stale jti")
			}
			if ok, _ := s.RotateRefresh("sid", "j1", "j2", now.Add(time.Hour)); !ok {
				t.Fatal("rotation refused")
			}
			if ok, _ := s.RotateRefresh("sid", "j1", "j3", now.Add(time.Hour)); ok {
				t.Fatal("old jti rotated twice")
			}
			s.Revoke("gone", now.Add(time.Minute))
			s.Revoke("sid", now.Add(time.Hour))
			if r, _ := s.Revoked("sid"); !r {
				t.Fatal("not revoked")
			}
			if ok, _ := s.RotateRefresh("sid", "j2", "j3", now.Add(time.Hour)); ok {
				t.Fatal("revoked session refreshed")
			}
			if err := s.Prune(now.Add(2 * time.Minute)); err != nil {
				t.Fatal(err)
			}
			if r, _ := s.Revoked("gone"); r {
				t.Fatal("expired revocation kept")
			}
			if r, _ := s.Revoked("sid"); !r {
				t.Fatal("live revocation pruned")
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.NewPlayer(); !errors.Is(err, ErrClosed) {
				t.Fatalf("after close: %v", err)
			}
		})
	}
}
