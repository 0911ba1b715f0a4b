package console_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/auth"
	"github.com/trailstream/trailstream/pkg/testenv"
	"github.com/trailstream/trailstream/services/console"
)

// TestRunOpenOnlyOnLoopback: a console without users refuses a network address.
func TestRunOpenOnlyOnLoopback(t *testing.T) {
	c := testenv.Config(t)
	testenv.ClickHouse(t, c)
	c.ConsoleAddr = "0.0.0.0:0"
	err := console.Run(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") || !strings.Contains(err.Error(), "users add") {
		t.Fatalf("Run on 0.0.0.0 without users = %v, want a refusal saying how to add a user", err)
	}
	c.ConsoleAuth.UsersFile = filepath.Join(t.TempDir(), "none")
	if err := console.Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "console users") {
		t.Fatalf("Run with a missing users file = %v", err)
	}
}

// TestRunHTTPS serves the console over HTTPS with users, and signs in through it.
func TestRunHTTPS(t *testing.T) {
	c := testenv.Config(t)
	testenv.ClickHouse(t, c)
	dir := t.TempDir()
	ca := testenv.NewCA(t, "console test CA")
	c.ConsoleAuth.TLSCert, c.ConsoleAuth.TLSKey = ca.ServerFiles("127.0.0.1", "localhost")
	pool := ca.Pool()
	c.ConsoleAuth.UsersFile = filepath.Join(dir, "users")
	if err := auth.AddUser(c.ConsoleAuth.UsersFile, "alice", alicePassword, auth.Admin); err != nil {
		t.Fatal(err)
	}
	c.ConsoleAddr = closedPort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- console.Run(ctx, c) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "https://" + c.ConsoleAddr
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := client.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS answer on %s: %v", c.ConsoleAddr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Plain HTTP gets no console.
	if res, err := http.Get("http://" + c.ConsoleAddr + "/api/me"); err == nil {
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the HTTPS console: %s", res.Status)
		}
		res.Body.Close()
	}
	if res, err := client.Get(base + "/api/me"); err != nil || res.StatusCode != http.StatusUnauthorized || res.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("GET /api/me without a sign-in over HTTPS: %v %v, want 401 and HSTS", res, err)
	}
	res, err := client.PostForm(base+"/login", url.Values{"user": {"alice"}, "password": {alicePassword}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var session *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "trailstream_session" {
			session = ck
		}
	}
	if session == nil || !session.Secure || !session.HttpOnly {
		t.Fatalf("sign-in over HTTPS: %s, cookie %+v", res.Status, session)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/api/me", nil)
	req.AddCookie(session)
	res, err = client.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/me signed in over HTTPS: %v %v", res, err)
	}
	res.Body.Close()
}
