// Package auth is who may use the console: the roles, the local users file with bcrypt
// password hashes, the throttle of failed sign-ins, the credentials (sign-in sessions and
// API tokens, stored hashed in ClickHouse) and the audit log.
package auth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Role is what a user may do on the console.
type Role int

// The roles, each allowed what the one before it is. Public routes need no role.
const (
	Public Role = iota
	Viewer      // dashboards, events, detections
	Admin       // also the admin-users upload, sources, tokens and the audit log
)

// ParseRole returns the role named viewer or admin.
func ParseRole(s string) (Role, error) {
	switch s {
	case "viewer":
		return Viewer, nil
	case "admin":
		return Admin, nil
	}
	return Public, fmt.Errorf("role %q: want viewer or admin", s)
}

func (r Role) String() string {
	switch r {
	case Viewer:
		return "viewer"
	case Admin:
		return "admin"
	}
	return "public"
}

// User is a local user of the console.
type User struct {
	Name string
	Hash []byte // bcrypt
	Role Role
}

// BcryptCost is the cost new password hashes are made with.
const BcryptCost = 12

// MaxNameLength bounds user names.
const MaxNameLength = 128

// CheckName reports why name cannot be a user name: empty, too long, not UTF-8, a control
// or other invisible character, a space at either end, or a colon (the file's separator).
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("user name is empty")
	case len(name) > MaxNameLength:
		return fmt.Errorf("user name is longer than %d bytes", MaxNameLength)
	case !utf8.ValidString(name):
		return errors.New("user name is not valid UTF-8")
	case strings.TrimSpace(name) != name:
		return errors.New("user name starts or ends with a space")
	case strings.Contains(name, ":"):
		return errors.New("user name contains a colon")
	}
	for _, r := range name {
		if !unicode.IsGraphic(r) {
			return fmt.Errorf("user name contains the character %U, which is not printable", r)
		}
	}
	return nil
}

// Users are the local users, from a users file: a line per user, "name:hash:role", blank
// lines and lines starting with # ignored.
type Users struct {
	byName map[string]User
}

// ParseUsers reads a users file; an error names the line.
func ParseUsers(r io.Reader) (*Users, error) {
	u := &Users{byName: map[string]User{}}
	sc := bufio.NewScanner(r)
	var errs []error
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, err := parseLine(line)
		if err == nil {
			if _, dup := u.byName[user.Name]; dup {
				err = fmt.Errorf("user %q is listed twice", user.Name)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", n, err))
			continue
		}
		u.byName[user.Name] = user
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return u, nil
}

func parseLine(line string) (User, error) {
	// The name may not hold a colon, and a bcrypt hash holds none, so the fields are split
	// at the first and the last.
	name, rest, ok := strings.Cut(line, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i < 0 {
		return User{}, errors.New("want name:bcrypt-hash:role")
	}
	hash, roleName := rest[:i], rest[i+1:]
	if err := CheckName(name); err != nil {
		return User{}, err
	}
	role, err := ParseRole(roleName)
	if err != nil {
		return User{}, err
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return User{}, fmt.Errorf("user %q: the password hash is not a bcrypt hash: %w", name, err)
	}
	return User{Name: name, Hash: []byte(hash), Role: role}, nil
}

// LoadUsers reads the users file at path.
func LoadUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("console users: %w", err)
	}
	defer f.Close()
	u, err := ParseUsers(f)
	if err != nil {
		return nil, fmt.Errorf("console users %s: %w", path, err)
	}
	return u, nil
}

// Len returns the number of users.
func (u *Users) Len() int {
	if u == nil {
		return 0
	}
	return len(u.byName)
}

// Has reports whether name is a user.
func (u *Users) Has(name string) bool {
	if u == nil {
		return false
	}
	_, ok := u.byName[name]
	return ok
}

// dummyHash is compared with when the user is unknown, so that a sign-in takes as long
// whether or not the name exists. It is made at the first sign-in, not when the binary
// starts: at cost 12 that takes a quarter of a second, which every target would pay.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("not a password"), BcryptCost)
	return h
})

// Check returns the user of name when password is theirs.
func (u *Users) Check(name, password string) (User, bool) {
	user, known := User{}, false
	if u != nil {
		user, known = u.byName[name]
	}
	hash := user.Hash
	if !known {
		hash = dummyHash()
	}
	ok := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	return user, ok && known
}

// MinPasswordLength is the shortest password AddUser accepts.
const MinPasswordLength = 12

// AddUser writes user name with password and role to the users file at path, replacing the
// line of a user of that name and keeping every other line. The file is created (mode 0600)
// when missing, and replaced atomically.
func AddUser(path, name, password string, role Role) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if role != Viewer && role != Admin {
		return fmt.Errorf("role %v: want viewer or admin", role)
	}
	if len(password) < MinPasswordLength {
		return fmt.Errorf("the password is shorter than %d characters", MinPasswordLength)
	}
	if len(password) > 72 {
		return errors.New("the password is longer than 72 bytes, which bcrypt cannot hold")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if _, err := ParseUsers(bytes.NewReader(old)); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var out bytes.Buffer
	if len(old) == 0 {
		out.WriteString("# trailstream console users: name:bcrypt-hash:role (viewer or admin)\n")
	}
	entry := fmt.Sprintf("%s:%s:%s\n", name, hash, role)
	replaced := false
	for line := range strings.Lines(string(old)) {
		if n, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && n == name && !strings.HasPrefix(n, "#") {
			if !replaced {
				out.WriteString(entry)
				replaced = true
			}
			continue
		}
		out.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			out.WriteByte('\n')
		}
	}
	if !replaced {
		out.WriteString(entry)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".users-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(out.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
