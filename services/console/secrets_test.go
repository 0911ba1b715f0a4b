package console_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a buffer safe for the handlers' concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoSecretsInConsoleOutput signs in with right and wrong passwords, makes, uses and
// revokes a token, and reads every page and answer an admin can: no password, session or
// token appears in the console's log or in any answer but the one that creates the token.
func TestNoSecretsInConsoleOutput(t *testing.T) {
	var logs syncBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(old) })

	s := newSecuredConsole(t, nil)
	const wrong = "a wrong password that must not show"
	s.login(t, "alice", wrong, "/")
	s.login(t, wrong, wrong, "/") // a password typed as the user name
	admin := s.session(t, "alice", alicePassword)
	viewer := s.session(t, "bob", bobPassword)
	id, token := s.token(t, admin, "scan", "viewer")
	secrets := map[string]string{"alice's password": alicePassword, "bob's password": bobPassword, "the wrong password": wrong,
		"alice's session": admin.Value, "bob's session": viewer.Value, "the token": token}

	var answers []string
	for _, path := range []string{"/", "/d/overview", "/detections", "/events", "/sources", "/audit", "/login", "/metrics", "/healthz",
		"/api/me", "/api/tokens", "/api/audit", "/api/sources", "/api/admin-users", "/api/dashboards"} {
		for _, c := range []*http.Cookie{admin, viewer} {
			_, b := s.request(t, http.MethodGet, path, "", c, "")
			answers = append(answers, path+": "+b)
		}
		_, b := s.request(t, http.MethodGet, path, "", nil, token)
		answers = append(answers, path+" (token): "+b)
	}
	if res, b := s.request(t, http.MethodDelete, "/api/tokens/"+id, "", admin, ""); res.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %s %s", res.Status, b)
	}
	_, b := s.request(t, http.MethodGet, "/api/me", "", nil, token)
	answers = append(answers, "revoked token: "+b)
	s.request(t, http.MethodPost, "/logout", "", admin, "")

	out := logs.String()
	if !strings.Contains(out, "login-failed") {
		t.Fatalf("the log holds no failed sign-in: the scan saw nothing:\n%s", out)
	}
	for what, secret := range secrets {
		if strings.Contains(out, secret) {
			t.Errorf("the console's log holds %s", what)
		}
		for _, a := range answers {
			if strings.Contains(a, secret) {
				t.Errorf("an answer holds %s: %.120s", what, a)
			}
		}
	}
}
