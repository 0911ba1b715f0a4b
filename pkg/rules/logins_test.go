package rules

import (
	"slices"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

func TestSignInKey(t *testing.T) {
	tests := []struct {
		name string
		e    model.Event
		key  string
		typ  string
		res  string
	}{
		{"a user", model.Event{UserName: "alice", SourceIP: "81.2.69.160"}, "alice", "user", "alice"},
		{"root", model.Event{UserName: "root", UserType: "Root", SourceIP: "81.2.69.160"}, "root", "user", "root"},
		{"a hidden name", model.Event{UserNameHidden: true, SourceIP: "81.2.69.160"}, "ip:81.2.69.160", "source-ip", "81.2.69.160"},
		{"nothing known", model.Event{UserNameHidden: true}, "", "source-ip", ""},
	}
	for _, tt := range tests {
		typ, res := signInResource(&tt.e)
		if got := signInKey(&tt.e); got != tt.key || typ != tt.typ || res != tt.res {
			t.Errorf("%s: key %q, resource %s %q; want %q, %s %q", tt.name, got, typ, res, tt.key, tt.typ, tt.res)
		}
	}
}

func TestIsConsoleLogin(t *testing.T) {
	tests := []struct {
		source, name, result string
		login, ok, failed    bool
	}{
		{"signin.amazonaws.com", "ConsoleLogin", "success", true, true, false},
		{"signin.amazonaws.com", "ConsoleLogin", "failure", true, false, true},
		{"signin.amazonaws.com", "CheckMfa", "failure", false, false, false},
		{"sso.amazonaws.com", "ConsoleLogin", "success", false, false, false},
		{"signin.amazonaws.com", "UserAuthentication", "success", false, false, false},
	}
	for _, tt := range tests {
		e := &model.Event{EventSource: tt.source, EventName: tt.name, LoginResult: tt.result}
		if isConsoleLogin(e) != tt.login || signedIn(e) != tt.ok || signInFailed(e) != tt.failed {
			t.Errorf("%s %s %s: login %v, signed in %v, failed %v; want %v, %v, %v", tt.source, tt.name, tt.result,
				isConsoleLogin(e), signedIn(e), signInFailed(e), tt.login, tt.ok, tt.failed)
		}
	}
}

func TestMFACredential(t *testing.T) {
	for typ, want := range map[string]bool{"TOTP": true, "WEBAUTHN": true, "SMARTCARD": true, "PASSWORD": false, "password": false, "": false} {
		if got := mfaCredential(typ); got != want {
			t.Errorf("mfaCredential(%q) = %v, want %v", typ, got, want)
		}
	}
}

func TestDistinctValues(t *testing.T) {
	hits := []Hit{{User: "a"}, {User: ""}, {User: "b"}, {User: "a"}, {User: "c"}, {User: "d"}}
	user := func(h Hit) string { return h.User }
	if got := distinctValues(hits, user, 10); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("distinctValues = %v", got)
	}
	if got := distinctValues(hits, user, 2); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("distinctValues, at most 2 = %v", got)
	}
}

func TestSliceName(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "hour", 30 * time.Minute: "30m0s", 2 * time.Hour: "2h0m0s"} {
		if got := sliceName(d); got != want {
			t.Errorf("sliceName(%s) = %q, want %q", d, got, want)
		}
	}
}
