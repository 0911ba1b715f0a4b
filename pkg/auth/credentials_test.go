package auth_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/auth"
	"github.com/trailstream/trailstream/pkg/testenv"
)

func TestCredentials(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	ctx := context.Background()
	now := time.Now()
	store := auth.NewCredentials(conn, c.ClickHouseDatabase)
	store.Now = func() time.Time { return now }
	other := auth.NewCredentials(conn, c.ClickHouseDatabase) // another console instance
	other.Now = store.Now

	sess, secret, err := store.Issue(ctx, auth.KindSession, "", "alice", auth.Admin, "password", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) < 40 || strings.HasPrefix(secret, auth.TokenPrefix) {
		t.Fatalf("session secret %q", secret)
	}
	var stored uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+c.ClickHouseDatabase+".credentials WHERE hash = ? AND position(hash, ?) = 0", auth.Hash(secret), secret).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("stored rows with the secret's hash: %d (%v)", stored, err)
	}
	for name, s := range map[string]*auth.Credentials{"same": store, "other": other} {
		got, err := s.Lookup(ctx, secret)
		if err != nil || got == nil || got.User != "alice" || got.Role != auth.Admin || got.Kind != auth.KindSession || got.ID != sess.ID {
			t.Fatalf("%s instance: Lookup = %+v, %v", name, got, err)
		}
	}
	if got, err := store.Lookup(ctx, secret+"x"); got != nil || err != nil {
		t.Fatalf("a wrong secret: %+v %v", got, err)
	}

	// Expiry: an hour later the session is gone, on both.
	now = now.Add(time.Hour + time.Second)
	for name, s := range map[string]*auth.Credentials{"same": store, "other": other} {
		if got, err := s.Lookup(ctx, secret); got != nil || err != nil {
			t.Fatalf("%s instance: an expired session: %+v %v", name, got, err)
		}
	}

	// Revocation: at once here, within CacheFor on the other instance.
	_, s2, err := store.Issue(ctx, auth.KindSession, "", "bob", auth.Viewer, "password", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := other.Lookup(ctx, s2); got == nil {
		t.Fatal("the other instance does not see bob's session")
	}
	if err := store.Revoke(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Lookup(ctx, s2); got != nil {
		t.Fatal("a revoked session still works")
	}
	now = now.Add(other.CacheFor)
	if got, _ := other.Lookup(ctx, s2); got != nil {
		t.Fatal("a revoked session still works on the other instance after CacheFor")
	}

	// Tokens: listed without secrets, revoked by ID.
	tok, tsec, err := store.Issue(ctx, auth.KindToken, "ci upload", "alice", auth.Admin, "token", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tsec, auth.TokenPrefix) || !tok.ExpiresAt.IsZero() {
		t.Fatalf("token %q expires %v", tsec, tok.ExpiresAt)
	}
	now = now.Add(24 * 365 * time.Hour)
	if got, _ := other.Lookup(ctx, tsec); got == nil || got.Kind != auth.KindToken || got.Name != "ci upload" {
		t.Fatalf("a token that does not expire, a year on: %+v", got)
	}
	list, err := store.Tokens(ctx)
	if err != nil || len(list) != 1 || list[0].ID != tok.ID {
		t.Fatalf("Tokens = %+v, %v", list, err)
	}
	if _, err := store.RevokeToken(ctx, "nope"); !errors.Is(err, auth.ErrNoToken) {
		t.Fatalf("RevokeToken(unknown) = %v", err)
	}
	if _, err := store.RevokeToken(ctx, sess.ID); !errors.Is(err, auth.ErrNoToken) {
		t.Fatalf("RevokeToken of a session's ID = %v, want ErrNoToken", err)
	}
	if _, err := store.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Lookup(ctx, tsec); got != nil {
		t.Fatal("a revoked token still works")
	}
	if list, _ := store.Tokens(ctx); len(list) != 1 || !list[0].Revoked {
		t.Fatalf("Tokens after revoking: %+v", list)
	}
}

func TestAudit(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	ctx := context.Background()
	a := auth.NewAudit(conn, c.ClickHouseDatabase, slog.Default())
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i, e := range []auth.Entry{
		{User: "alice", Role: "admin", Action: "login", Outcome: auth.OK, Remote: "192.0.2.1", Detail: "password"},
		{Action: "login-failed", Outcome: auth.Denied, Remote: "192.0.2.9"},
		{User: "alice", Role: "admin", Action: "source-add", Target: "prod", Outcome: auth.OK, Detail: "bucket=b"},
	} {
		e.Time = t0.Add(time.Duration(i) * time.Minute)
		if err := a.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.Recent(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Action != "source-add" || got[0].Target != "prod" || got[1].Action != "login-failed" || got[1].Remote != "192.0.2.9" ||
		!got[0].Time.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("Recent(2) = %+v", got)
	}
}
