package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailstream/trailstream/pkg/auth"
)

func TestUsersAdd(t *testing.T) {
	dir := t.TempDir()
	users, pw := filepath.Join(dir, "users"), filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte("carol's long password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"users", "add", "carol", "--role", "admin", "--console-users", users, "--password-file", pw}, 0, "user carol (admin) written"},
		{[]string{"users", "add", "--console-users", users, "--password-file", pw, "dave"}, 0, "user dave (viewer) written"},
		{[]string{"users", "add", "erin", "--role", "root", "--console-users", users, "--password-file", pw}, 1, "--role"},
		{[]string{"users", "add", "erin", "--password-file", pw}, 1, "--console-users"},
		{[]string{"users", "add", "--console-users", users}, 1, "name the user"},
		{[]string{"users", "add", "a\x1bb", "--console-users", users, "--password-file", pw}, 1, "not printable"},
	} {
		code, out := captured(t, tt.args)
		if code != tt.code || !strings.Contains(out, tt.out) {
			t.Errorf("%q: exit %d, output %q; want %d and %q", tt.args, code, out, tt.code, tt.out)
		}
		if strings.Contains(out, "carol's long password") {
			t.Errorf("%q printed the password", tt.args)
		}
	}
	u, err := auth.LoadUsers(users)
	if err != nil || u.Len() != 2 {
		t.Fatalf("users file: %d users, %v", u.Len(), err)
	}
	if user, ok := u.Check("carol", "carol's long password"); !ok || user.Role != auth.Admin {
		t.Errorf("carol: %v %v", user.Role, ok)
	}
	if user, ok := u.Check("dave", "carol's long password"); !ok || user.Role != auth.Viewer {
		t.Errorf("dave: %v %v", user.Role, ok)
	}
}
