package lobby

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

// Identity is who an [Authenticator] says the caller is. Exactly one of
// Player, Subject or neither is set:
//   - Player: the authenticator already knows the lobby player id;
//   - Subject: an external stable id (such as a studio account id), which
//     the lobby maps to a stable PlayerID, persisted in its Store;
//   - neither: a new anonymous player id is allocated (guests).
type Identity struct {
	Player  PlayerID
	Subject string
	Name    string
}

// Authenticator turns a sign-in request into an Identity. It reads what it
// needs from r (its body is already size-limited). Errors should wrap
// ErrInvalidCredentials (401), ErrInvalidName or ErrBadRequest (400).
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (Identity, error)
}

// MaxNameLen is the longest display name, in characters.
const MaxNameLen = 24

// ValidateName checks a display name: 1 to MaxNameLen printable characters,
// not starting or ending with a space. Errors wrap ErrInvalidName.
func ValidateName(name string) error {
	n := utf8.RuneCountInString(name)
	if n == 0 || n > MaxNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("%w: need 1 to %d characters", ErrInvalidName, MaxNameLen)
	}
	if strings.TrimSpace(name) != name {
		return fmt.Errorf("%w: leading or trailing space", ErrInvalidName)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: unprintable character %U", ErrInvalidName, r)
		}
	}
	return nil
}

// decodeJSON decodes a JSON body into v. Errors wrap ErrBadRequest or are
// an *http.MaxBytesError.
func decodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body) // bounded by Config.MaxBodyBytes
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return fmt.Errorf("%w: reading the body: %v", ErrBadRequest, err)
	}
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD; a name
	// stored that way is not what the client sent.
	if !utf8.Valid(body) {
		return errInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty body", ErrBadRequest)
		}
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after JSON", ErrBadRequest)
	}
	return nil
}

// errInvalidUTF8 is a body that is not valid UTF-8 (so not JSON).
var errInvalidUTF8 = fmt.Errorf("%w: the body is not valid UTF-8", ErrBadRequest)

// Guest is the default Authenticator: POST /v1/auth/guest {"name": "..."}
// signs in a new anonymous player.
type Guest struct{}

// Authenticate reads {"name"} and returns a new anonymous identity.
func (Guest) Authenticate(ctx context.Context, r *http.Request) (Identity, error) {
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(r, &req); err != nil {
		if errors.Is(err, errInvalidUTF8) {
			return Identity{}, fmt.Errorf("%w: not valid UTF-8", ErrInvalidName)
		}
		return Identity{}, err
	}
	if err := ValidateName(req.Name); err != nil {
		return Identity{}, err
	}
	return Identity{Name: req.Name}, nil
}

// StudioJWT accepts players signed in by a studio's own account system:
// POST /v1/auth/{name} {"token": "<studio JWT>"}. The token's "sub" becomes
// a stable lobby PlayerID (the mapping persists in the Store, keyed by
// Provider and subject), and its name claim the display name.
//
// Exactly one of Secret (HS256) or PublicKey (RS256 for *rsa.PublicKey,
// ES256 for *ecdsa.PublicKey; parse PEM with jwt.ParseRSAPublicKeyFromPEM or
// jwt.ParseECPublicKeyFromPEM) must be set. Tokens must carry "exp".
type StudioJWT struct {
	// Provider namespaces subjects in the player mapping. If empty,
	// "studio" is used.
	Provider string
	// Secret is the shared HS256 secret (at least 32 bytes).
	Secret []byte
	// PublicKey verifies RS256 or ES256 tokens.
	PublicKey crypto.PublicKey
	// Issuer, if set, must equal the token's "iss".
	Issuer string
	// Audience, if set, must be in the token's "aud".
	Audience string
	// NameClaim is the claim holding the display name. If empty, "name" is
	// used; if the claim is missing or invalid, "player-<id>" is used.
	NameClaim string
	// Leeway tolerates clock skew between the studio and the lobby. If
	// zero, 30 seconds is used.
	Leeway time.Duration
	// Now is the clock. If nil, time.Now is used.
	Now func() time.Time
}

// Authenticate verifies the studio token in the body's "token" field.
func (s *StudioJWT) Authenticate(ctx context.Context, r *http.Request) (Identity, error) {
	var req struct {
		Token string `json:"token"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return Identity{}, err
	}
	if req.Token == "" {
		return Identity{}, fmt.Errorf("%w: missing token", ErrBadRequest)
	}
	var key any
	var methods []string
	switch k := s.PublicKey.(type) {
	case nil:
		if len(s.Secret) < 32 {
			return Identity{}, fmt.Errorf("%w: studio authenticator has no key", ErrInvalidCredentials)
		}
		key, methods = s.Secret, []string{"HS256"}
	case *rsa.PublicKey:
		key, methods = k, []string{"RS256"}
	case *ecdsa.PublicKey:
		key, methods = k, []string{"ES256"}
	default:
		return Identity{}, fmt.Errorf("%w: unsupported studio key type %T", ErrInvalidCredentials, s.PublicKey)
	}
	leeway := s.Leeway
	if leeway == 0 {
		leeway = 30 * time.Second
	}
	now := s.Now
	if now == nil {
		now = time.Now
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithExpirationRequired(), jwt.WithLeeway(leeway), jwt.WithTimeFunc(now)}
	if s.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(s.Issuer))
	}
	if s.Audience != "" {
		opts = append(opts, jwt.WithAudience(s.Audience))
	}
	c := jwt.MapClaims{}
	if _, err := jwt.NewParser(opts...).ParseWithClaims(req.Token, c, func(*jwt.Token) (any, error) { return key, nil }); err != nil {
		return Identity{}, fmt.Errorf("%w: studio token: %v", ErrInvalidCredentials, err)
	}
	sub, _ := c.GetSubject()
	if sub == "" || len(sub) > 256 {
		return Identity{}, fmt.Errorf("%w: studio token without a usable sub", ErrInvalidCredentials)
	}
	claim := s.NameClaim
	if claim == "" {
		claim = "name"
	}
	name, _ := c[claim].(string)
	if ValidateName(name) != nil {
		name = ""
	}
	provider := s.Provider
	if provider == "" {
		provider = "studio"
	}
	return Identity{Subject: provider + ":" + sub, Name: name}, nil
}

// session is a verified session token.
type session struct {
	Player PlayerID
	Name   string
	SID    string
}

// authResponse is the body of a successful sign-in or refresh.
type authResponse struct {
	PlayerID         PlayerID  `json:"player_id"`
	Name             string    `json:"name"`
	SessionToken     Token     `json:"session_token"`
	RefreshToken     Token     `json:"refresh_token"`
	ExpiresAt        time.Time `json:"expires_at"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
}

// signIn resolves an identity to a player and opens a session.
func (l *Lobby) signIn(id Identity) (authResponse, error) {
	p := id.Player
	var err error
	switch {
	case p != 0:
	case id.Subject != "":
		p, err = l.store.PlayerForSubject(id.Subject)
	default:
		p, err = l.store.NewPlayer()
	}
	if err != nil {
		return authResponse{}, err
	}
	name := id.Name
	if name == "" {
		name = fmt.Sprintf("player-%d", p)
	}
	return l.openSession(p, name, randomID(16), "")
}

// openSession mints a session and refresh token pair for sid. If oldJTI is
// set, the refresh token is rotated from oldJTI (and fails with
// ErrTokenRevoked if oldJTI is not the live one).
func (l *Lobby) openSession(p PlayerID, name, sid, oldJTI string) (authResponse, error) {
	sess, exp, err := l.tok.mint(kindSession, p, name, sid, "", "", l.cfg.SessionTTL)
	if err != nil {
		return authResponse{}, err
	}
	jti := randomID(16)
	ref, rexp, err := l.tok.mint(kindRefresh, p, name, sid, "", jti, l.cfg.RefreshTTL)
	if err != nil {
		return authResponse{}, err
	}
	if oldJTI == "" {
		err = l.store.SetRefresh(sid, jti, rexp)
	} else {
		var ok bool
		ok, err = l.store.RotateRefresh(sid, oldJTI, jti, rexp)
		if err == nil && !ok {
			// A refresh token was used twice: it was stolen or the client
			// lost a response. Either way the session is no longer
			// trustworthy; end it (OAuth 2.0 Security BCP, refresh token
			// rotation).
			l.log.Info("refresh token reused; session revoked", zap.Uint32("player", uint32(p)))
			if rerr := l.revoke(p, sid, "session revoked"); rerr != nil {
				return authResponse{}, rerr
			}
			return authResponse{}, fmt.Errorf("%w: refresh token already used", ErrTokenRevoked)
		}
	}
	if err != nil {
		return authResponse{}, err
	}
	l.stats.tokensIssued.Add(2)
	return authResponse{PlayerID: p, Name: name, SessionToken: sess, RefreshToken: ref, ExpiresAt: exp, RefreshExpiresAt: rexp}, nil
}

// refresh trades a refresh token for a new pair.
func (l *Lobby) refresh(raw string) (authResponse, error) {
	c, err := l.verify(raw, kindRefresh)
	if err != nil {
		return authResponse{}, err
	}
	p, _ := c.player()
	return l.openSession(p, c.Name, c.SID, c.ID)
}

// revoke ends session sid of player p: every token carrying it is refused
// from now on, and the player's live game sockets are closed (4003) with
// reason, here or, through a SessionKicker, on every game node.
func (l *Lobby) revoke(p PlayerID, sid, reason string) error {
	ttl := max(l.cfg.RefreshTTL, l.cfg.SessionTTL, l.cfg.SocketTokenTTL)
	if err := l.store.Revoke(sid, l.cfg.Now().Add(ttl+time.Minute)); err != nil {
		return err
	}
	n := 0
	switch k := l.dir.(type) {
	case SessionKicker:
		n = k.KickSession(p, sid, reason)
	case Kicker:
		n = k.KickPlayer(p, reason)
	}
	if n > 0 {
		l.log.Info("revocation closed live sockets", zap.Uint32("player", uint32(p)), zap.Int("sockets", n))
	}
	return nil
}

// logout revokes the session and cancels its queued ticket.
func (l *Lobby) logout(s session) error {
	if err := l.revoke(s.Player, s.SID, "logged out"); err != nil {
		return err
	}
	id, ok, err := l.tickets.LiveTicket(s.Player)
	if err != nil || !ok {
		return err
	}
	t, err := l.tickets.Ticket(id)
	if err != nil || t.SID != s.SID || t.Placing {
		return nil
	}
	if l.dequeue(context.Background(), id) {
		l.finish(id, l.cfg.Now(), func(t *Ticket) { t.Status = StatusCancelled })
		l.stats.ticketsCancelled.Add(1)
	}
	return nil
}

// mintSocket mints a socket token for a seat in matchID, refusing if the
// session was revoked.
func (l *Lobby) mintSocket(p PlayerID, name, sid, matchID string) (Token, time.Time, error) {
	revoked, err := l.store.Revoked(sid)
	if err != nil {
		return "", time.Time{}, err
	}
	if revoked {
		return "", time.Time{}, fmt.Errorf("%w: session logged out", ErrTokenRevoked)
	}
	tok, exp, err := l.tok.mint(kindSocket, p, name, sid, matchID, "", l.cfg.SocketTokenTTL)
	if err == nil {
		l.stats.tokensIssued.Add(1)
	}
	return tok, exp, err
}
