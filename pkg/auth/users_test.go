package auth_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/trailstream/trailstream/pkg/auth"
)

// hashOf is a bcrypt hash of password at the lowest cost, for fast tests.
func hashOf(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestParseUsers(t *testing.T) {
	h := hashOf(t, "alice's long password")
	tests := []struct {
		name, in string
		wantErr  []string // each in the error
		users    int
	}{
		{"two users, comments, blanks", "# users\n\nalice:" + h + ":admin\n bob:" + h + ":viewer \n", nil, 2},
		{"empty", "", nil, 0},
		{"no role", "alice:" + h + "\n", []string{"line 1", "role"}, 0},
		{"bad role", "alice:" + h + ":root\n", []string{"line 1", `role "root"`}, 0},
		{"not bcrypt", "alice:plaintext:admin\n", []string{"line 1", "not a bcrypt hash"}, 0},
		{"one field", "alice\n", []string{"line 1", "name:bcrypt-hash:role"}, 0},
		{"twice", "alice:" + h + ":admin\nalice:" + h + ":viewer\n", []string{"line 2", "twice"}, 0},
		{"control character", "al\x1bice:" + h + ":admin\n", []string{"line 1", "not printable"}, 0},
		{"invalid UTF-8", "al\xffice:" + h + ":admin\n", []string{"line 1", "UTF-8"}, 0},
		{"every error reported", "alice\n# ok\nbob:x:admin\n", []string{"line 1", "line 3"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := auth.ParseUsers(strings.NewReader(tt.in))
			if len(tt.wantErr) == 0 {
				if err != nil || u.Len() != tt.users {
					t.Fatalf("ParseUsers = %d users, %v; want %d", u.Len(), err, tt.users)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseUsers accepted %q", tt.in)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestCheck(t *testing.T) {
	u, err := auth.ParseUsers(strings.NewReader("alice:" + hashOf(t, "alice's long password") + ":admin\nbob:" + hashOf(t, "bob's long password") + ":viewer\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, password string
		ok             bool
		role           auth.Role
	}{
		{"alice", "alice's long password", true, auth.Admin},
		{"bob", "bob's long password", true, auth.Viewer},
		{"alice", "bob's long password", false, 0},
		{"Alice", "alice's long password", false, 0},
		{"carol", "alice's long password", false, 0},
		{"alice", "", false, 0},
	} {
		user, ok := u.Check(tt.name, tt.password)
		if ok != tt.ok || (ok && user.Role != tt.role) {
			t.Errorf("Check(%q, %q) = %v %v, want %v %v", tt.name, tt.password, user.Role, ok, tt.role, tt.ok)
		}
	}
}

func TestAddUser(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	if err := auth.AddUser(path, "alice", "first long password", auth.Admin); err != nil {
		t.Fatal(err)
	}
	if err := auth.AddUser(path, "bob", "bob's long password", auth.Viewer); err != nil {
		t.Fatal(err)
	}
	// alice again: her line is replaced, bob's kept.
	if err := auth.AddUser(path, "alice", "second long password", auth.Viewer); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("users file mode %v (%v), want 0600", st.Mode(), err)
	}
	u, err := auth.LoadUsers(path)
	if err != nil || u.Len() != 2 {
		t.Fatalf("LoadUsers = %d users, %v", u.Len(), err)
	}
	if _, ok := u.Check("alice", "first long password"); ok {
		t.Error("alice's old password still works")
	}
	if user, ok := u.Check("alice", "second long password"); !ok || user.Role != auth.Viewer {
		t.Errorf("alice: %v %v, want her new password and role viewer", user.Role, ok)
	}
	if _, ok := u.Check("bob", "bob's long password"); !ok {
		t.Error("bob lost")
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "long password") {
		t.Error("the users file holds a password in clear")
	}
	for _, tt := range []struct{ name, password, want string }{
		{"carol", "short", "shorter than"},
		{"ca:rol", "a long enough password", "colon"},
		{"car\nol", "a long enough password", "not printable"},
		{"", "a long enough password", "empty"},
		{"carol", strings.Repeat("x", 73), "72 bytes"},
	} {
		if err := auth.AddUser(path, tt.name, tt.password, auth.Admin); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("AddUser(%q, %q) = %v, want an error with %q", tt.name, tt.password, err, tt.want)
		}
	}
}

func TestThrottle(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	th := auth.NewThrottle()
	th.Now = func() time.Time { return now }
	keys := []string{"user:alice", "ip:192.0.2.1"}
	for i := range th.Limit - 1 {
		if th.Fail(keys...) {
			t.Fatalf("locked after %d failures, limit %d", i+1, th.Limit)
		}
		now = now.Add(time.Minute)
	}
	if th.Locked(keys...) != 0 {
		t.Fatal("locked before the limit")
	}
	if !th.Fail(keys...) {
		t.Fatalf("not locked after %d failures", th.Limit)
	}
	if d := th.Locked("user:alice"); d != th.Lockout {
		t.Fatalf("locked for %v, want %v", d, th.Lockout)
	}
	if th.Locked("ip:192.0.2.1") == 0 || th.Locked("user:bob", "ip:192.0.2.1") == 0 {
		t.Fatal("the address is not locked with the user")
	}
	th.Succeed("user:alice") // a right password does not lift a lockout
	if th.Locked("user:alice") == 0 {
		t.Fatal("Succeed lifted the lockout")
	}
	now = now.Add(th.Lockout)
	if th.Locked(keys...) != 0 {
		t.Fatal("still locked after the lockout")
	}
	// Failures spread wider than the window never lock.
	for range 3 * th.Limit {
		if th.Fail("user:carol") {
			t.Fatal("failures a window apart locked")
		}
		now = now.Add(th.Window/time.Duration(th.Limit-1) + time.Second)
	}
	// Memory is bounded.
	th.MaxKeys = 100
	for i := range 1000 {
		th.Fail("ip:" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String())
	}
	if n := th.Len(); n > th.MaxKeys {
		t.Fatalf("the throttle remembers %d keys, more than its %d", n, th.MaxKeys)
	}
}
