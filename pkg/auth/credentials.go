package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Kinds of credentials.
const (
	KindSession = "session"
	KindToken   = "token"
)

// TokenPrefix starts every API token, so that a leaked one is easy to recognize.
const TokenPrefix = "ts_"

// Credential is a sign-in session or an API token, as stored: the secret itself is never
// kept, only its SHA-256.
type Credential struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name,omitempty"`
	User      string    `json:"user"`
	Role      Role      `json:"-"`
	RoleName  string    `json:"role"`
	Method    string    `json:"method"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"` // zero: never
	Revoked   bool      `json:"revoked"`
	hash      string
}

// Valid reports whether c may be used at now.
func (c *Credential) Valid(now time.Time) bool {
	return c != nil && !c.Revoked && (c.ExpiresAt.IsZero() || now.Before(c.ExpiresAt))
}

// Credentials are the sessions and tokens of db.credentials. Lookups are cached for
// CacheFor, so a console asks ClickHouse once per credential and period, not per request;
// a revocation through this store takes effect at once, through another console instance
// within CacheFor.
type Credentials struct {
	conn     driver.Conn
	db       string
	CacheFor time.Duration
	Now      func() time.Time

	mu    sync.Mutex
	cache map[string]cached // by hash
}

type cached struct {
	c  *Credential // nil: none
	at time.Time
}

// maxCached bounds the cache: beyond it, it starts over.
const maxCached = 50_000

// NewCredentials returns the credentials store of database db.
func NewCredentials(conn driver.Conn, db string) *Credentials {
	return &Credentials{conn: conn, db: db, CacheFor: 10 * time.Second, Now: time.Now, cache: map[string]cached{}}
}

// secret returns a new random secret, URL-safe.
func secret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Hash returns the hex SHA-256 of a secret: the secrets are random 256-bit values, so a
// plain hash is what stores them safely (a slow hash is for passwords people choose).
func Hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Issue creates a credential of kind for user with role, valid for ttl (0: until revoked),
// and returns it with its secret, which only the client keeps.
func (s *Credentials) Issue(ctx context.Context, kind, name, user string, role Role, method string, ttl time.Duration) (*Credential, string, error) {
	sec := secret()
	if kind == KindToken {
		sec = TokenPrefix + sec
	}
	now := s.Now().UTC().Truncate(time.Second)
	c := &Credential{ID: secret()[:16], Kind: kind, Name: name, User: user, Role: role, RoleName: role.String(), Method: method,
		CreatedAt: now, hash: Hash(sec)}
	if ttl > 0 {
		c.ExpiresAt = now.Add(ttl)
	}
	if err := s.write(ctx, c); err != nil {
		return nil, "", err
	}
	return c, sec, nil
}

func (s *Credentials) write(ctx context.Context, c *Credential) error {
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+".credentials (id, hash, kind, name, user, role, method, created_at, expires_at, revoked, version)")
	if err != nil {
		return fmt.Errorf("store credential: %w", err)
	}
	expires := c.ExpiresAt
	if expires.IsZero() {
		expires = time.Unix(0, 0)
	}
	revoked := uint8(0)
	if c.Revoked {
		revoked = 1
	}
	if err := b.Append(c.ID, c.hash, c.Kind, c.Name, c.User, c.RoleName, c.Method, c.CreatedAt, expires, revoked, uint64(s.Now().UnixNano())); err != nil {
		return fmt.Errorf("store credential: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("store credential: %w", err)
	}
	s.mu.Lock()
	s.put(c.hash, c)
	s.mu.Unlock()
	return nil
}

func (s *Credentials) put(hash string, c *Credential) {
	if len(s.cache) >= maxCached {
		clear(s.cache)
	}
	s.cache[hash] = cached{c: c, at: s.Now()}
}

const credentialColumns = "id, hash, kind, name, user, role, method, created_at, expires_at, revoked"

// Lookup returns the valid credential whose secret is sec, nil when there is none (unknown,
// expired or revoked).
func (s *Credentials) Lookup(ctx context.Context, sec string) (*Credential, error) {
	if sec == "" || len(sec) > 200 {
		return nil, nil
	}
	h := Hash(sec)
	now := s.Now()
	s.mu.Lock()
	e, ok := s.cache[h]
	s.mu.Unlock()
	if ok && now.Sub(e.at) < s.CacheFor {
		if !e.c.Valid(now) {
			return nil, nil
		}
		return e.c, nil
	}
	cs, err := s.query(ctx, "hash = ?", h)
	if err != nil {
		return nil, err
	}
	var c *Credential
	if len(cs) > 0 {
		c = cs[0]
	}
	s.mu.Lock()
	s.put(h, c)
	s.mu.Unlock()
	if !c.Valid(now) {
		return nil, nil
	}
	return c, nil
}

func (s *Credentials) query(ctx context.Context, where string, args ...any) ([]*Credential, error) {
	rows, err := s.conn.Query(ctx, "SELECT "+credentialColumns+" FROM "+s.db+".credentials FINAL WHERE "+where+" ORDER BY created_at DESC", args...)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	defer rows.Close()
	var out []*Credential
	for rows.Next() {
		c := &Credential{}
		var revoked uint8
		if err := rows.Scan(&c.ID, &c.hash, &c.Kind, &c.Name, &c.User, &c.RoleName, &c.Method, &c.CreatedAt, &c.ExpiresAt, &revoked); err != nil {
			return nil, fmt.Errorf("read credentials: %w", err)
		}
		c.Revoked = revoked != 0
		if c.ExpiresAt.Unix() <= 0 {
			c.ExpiresAt = time.Time{}
		}
		c.CreatedAt, c.ExpiresAt = c.CreatedAt.UTC(), c.ExpiresAt.UTC()
		if c.Role, err = ParseRole(c.RoleName); err != nil {
			continue // a row no console wrote: never a credential
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Revoke revokes the credential whose secret is sec (a session signing out).
func (s *Credentials) Revoke(ctx context.Context, sec string) error {
	cs, err := s.query(ctx, "hash = ?", Hash(sec))
	if err != nil || len(cs) == 0 {
		return err
	}
	cs[0].Revoked = true
	return s.write(ctx, cs[0])
}

// ErrNoToken is RevokeToken's error for an ID that names no token.
var ErrNoToken = errors.New("no such token")

// RevokeToken revokes the API token of ID id and returns it.
func (s *Credentials) RevokeToken(ctx context.Context, id string) (*Credential, error) {
	cs, err := s.query(ctx, "id = ? AND kind = ?", id, KindToken)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, ErrNoToken
	}
	c := cs[0]
	c.Revoked = true
	return c, s.write(ctx, c)
}

// Tokens returns the API tokens, newest first, revoked ones included.
func (s *Credentials) Tokens(ctx context.Context) ([]*Credential, error) {
	return s.query(ctx, "kind = ?", KindToken)
}

// BearerToken returns the token of an Authorization header "Bearer <token>", "" when the
// header is not one.
func BearerToken(header string) string {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
