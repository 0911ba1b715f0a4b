package auth_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/trailstream/trailstream/pkg/auth"
)

// FuzzParseUsers checks that ParseUsers never panics, and that every user it accepts has
// a valid name, a role, and a line that parses again alone.
func FuzzParseUsers(f *testing.F) {
	const h = "$2a$04$0123456789012345678901uNZa9p0UqXZHZC0lHUl2o3Jw5Y3u6Rpe"
	for _, s := range []string{"", "# c\n", "alice:" + h + ":admin\n", "bob:" + h + ":viewer\r\nbob:x:admin", "a:b:c:d\n", "\xff:" + h + ":admin"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		u, err := auth.ParseUsers(bytes.NewReader(in))
		if err != nil {
			if !strings.Contains(err.Error(), "line ") && !strings.Contains(err.Error(), "token too long") {
				t.Fatalf("an error without its line: %v", err)
			}
			return
		}
		for line := range strings.Lines(string(in)) {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			name, _, _ := strings.Cut(line, ":")
			if err := auth.CheckName(name); err != nil || !u.Has(name) {
				t.Fatalf("accepted line %q: name %q (%v), has %v", line, name, err, u.Has(name))
			}
			if _, err := auth.ParseUsers(strings.NewReader(fmt.Sprintln(line))); err != nil {
				t.Fatalf("line %q accepted in the file, refused alone: %v", line, err)
			}
		}
	})
}
