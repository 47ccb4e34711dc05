package lobby

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap/zapcore"
)

// PlayerID identifies a player. It stays within uint32 so it is exact in
// JavaScript and matches the game's entity ownership ids. Zero is never a
// valid player.
type PlayerID uint32

// MaxPlayerID is the largest id the lobby gives a player. Ids above it
// (from 1<<31) are left to the game server's own server-side bots, so the
// two never collide.
const MaxPlayerID = 1<<31 - 1

// Token is a bearer credential (a signed JWT). Its String, GoString and
// MarshalLogObject redact it, so it is safe to pass to fmt and zap; JSON
// encoding writes the real value (responses carry tokens). Use Reveal to
// get the raw string.
type Token string

const redacted = "[redacted]"

// String returns a redacted placeholder, never the token.
func (t Token) String() string {
	if t == "" {
		return ""
	}
	return redacted
}

// GoString returns a redacted placeholder, never the token.
func (t Token) GoString() string { return `lobby.Token("` + redacted + `")` }

// MarshalLogObject logs the token's length only.
func (t Token) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("token", redacted)
	enc.AddInt("len", len(t))
	return nil
}

// Reveal returns the raw token, for putting on the wire.
func (t Token) Reveal() string { return string(t) }

// SigningKey is an HS256 key with its key id ("kid" header). The secret is
// never logged.
type SigningKey struct {
	// ID is the key id written in each token's "kid" header: 1 to 64
	// characters.
	ID string
	// Secret is the HMAC key: at least 32 bytes.
	Secret []byte
}

// MarshalLogObject logs the key id only.
func (k SigningKey) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("kid", k.ID)
	return nil
}

// String returns the key id only.
func (k SigningKey) String() string { return "SigningKey(" + k.ID + ")" }

func (k SigningKey) validate() error {
	if k.ID == "" || len(k.ID) > 64 {
		return fmt.Errorf("signing key id %q: need 1..64 characters", k.ID)
	}
	if len(k.Secret) < 32 {
		return fmt.Errorf("signing key %q: secret shorter than 32 bytes", k.ID)
	}
	return nil
}

// NewSigningKey returns a random 256-bit key with a random id.
func NewSigningKey() (SigningKey, error) {
	secret := make([]byte, 32)
	id := make([]byte, 8)
	if _, err := rand.Read(secret); err != nil {
		return SigningKey{}, err
	}
	if _, err := rand.Read(id); err != nil {
		return SigningKey{}, err
	}
	return SigningKey{ID: hex.EncodeToString(id), Secret: secret}, nil
}

// tokenKind is the "typ" of a lobby token (a private claim, not the JOSE
// header).
type tokenKind string

const (
	kindSession tokenKind = "session"
	kindRefresh tokenKind = "refresh"
	kindSocket  tokenKind = "socket"
)

// claims are the claims of every lobby token. Subject is the player id in
// decimal; SID ties all tokens of one sign-in together so logout revokes
// them all.
type claims struct {
	Kind  tokenKind `json:"tt"`
	SID   string    `json:"sid"`
	Name  string    `json:"name,omitempty"`
	Match string    `json:"match,omitempty"`
	jwt.RegisteredClaims
}

func (c *claims) player() (PlayerID, error) {
	n, err := strconv.ParseUint(c.Subject, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%w: bad subject", ErrTokenInvalid)
	}
	return PlayerID(n), nil
}

// keyring signs with its first key and verifies with any. Immutable after
// New.
type keyring struct {
	active SigningKey
	byID   map[string][]byte
}

func newKeyring(keys []SigningKey) (*keyring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no signing keys", ErrInvalidConfig)
	}
	kr := &keyring{active: keys[0], byID: make(map[string][]byte, len(keys))}
	for _, k := range keys {
		if err := k.validate(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
		if _, dup := kr.byID[k.ID]; dup {
			return nil, fmt.Errorf("%w: duplicate key id %q", ErrInvalidConfig, k.ID)
		}
		kr.byID[k.ID] = k.Secret
	}
	return kr, nil
}

// tokens mints and parses lobby tokens. Immutable after New.
type tokens struct {
	keys   *keyring
	issuer string
	now    func() time.Time
	parser *jwt.Parser
}

func newTokens(keys *keyring, issuer string, now func() time.Time) *tokens {
	return &tokens{
		keys:   keys,
		issuer: issuer,
		now:    now,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(issuer),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithTimeFunc(now),
		),
	}
}

// randomID returns n random bytes in hex.
func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("lobby: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return hex.EncodeToString(b)
}

// mint signs a token of the given kind.
// A blank jti gets a random one.
func (t *tokens) mint(kind tokenKind, p PlayerID, name, sid, match, jti string, ttl time.Duration) (Token, time.Time, error) {
	if jti == "" {
		jti = randomID(12)
	}
	now := t.now().Truncate(time.Second)
	exp := now.Add(ttl)
	c := claims{
		Kind:  kind,
		SID:   sid,
		Name:  name,
		Match: match,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.issuer,
			Subject:   strconv.FormatUint(uint64(p), 10),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        jti,
		},
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = t.keys.active.ID
	s, err := tok.SignedString(t.keys.active.Secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("lobby: sign token: %w", err)
	}
	return Token(s), exp, nil
}

// parse verifies signature, issuer, expiry and kind. It does not check
// revocation. Errors wrap ErrTokenExpired or ErrTokenInvalid.
func (t *tokens) parse(raw string, want tokenKind) (*claims, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: empty", ErrTokenInvalid)
	}
	if len(raw) > 4096 {
		return nil, fmt.Errorf("%w: too long", ErrTokenInvalid)
	}
	var c claims
	_, err := t.parser.ParseWithClaims(raw, &c, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		secret, ok := t.keys.byID[kid]
		if !ok {
			return nil, errors.New("unknown key id")
		}
		return secret, nil
	})
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired) && !errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, fmt.Errorf("%w", ErrTokenExpired)
	default:
		return nil, fmt.Errorf("%w: %v", ErrTokenInvalid, err)
	}
	if c.Kind != want {
		return nil, fmt.Errorf("%w: a %q token where a %q token is required", ErrTokenInvalid, c.Kind, want)
	}
	if c.SID == "" {
		return nil, fmt.Errorf("%w: no session id", ErrTokenInvalid)
	}
	if want == kindSocket && c.Match == "" {
		return nil, fmt.Errorf("%w: socket token without match", ErrTokenInvalid)
	}
	if _, err := c.player(); err != nil {
		return nil, err
	}
	return &c, nil
}
