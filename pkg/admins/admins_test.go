package admins_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/admins"
	"github.com/trailstream/trailstream/pkg/testenv"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		wantErr  bool
	}{
		{"Sumo's example", "dtaylor\nlanderson\nathomas\nrjackson\n", []string{"dtaylor", "landerson", "athomas", "rjackson"}, false},
		{"header, blanks, comments, CRLF, extra columns", "user_name,team\r\n# admins\r\n\r\nalice,sec\r\n bob \r\n", []string{"alice", "bob"}, false},
		{"empty", "", nil, false},
		{"space inside a name", "alice smith\n", nil, true},
		{"broken quoting", "\"alice\n", nil, true},
		{"a control character", "ali\x1bce\n", nil, true},
		{"a terminal escape", "alice\x1b[2J\n", nil, true},
		{"invalid UTF-8", "al\xffice\n", nil, true},
		{"a right-to-left override", "ali\u202ece\n", nil, true},
		{"a zero-width space", "ali\u200bce\n", nil, true},
		{"a non-breaking space", "ali\u00a0ce\n", nil, true},
		{"letters of other scripts", "zoë\n日本\n", []string{"zoë", "日本"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := admins.Parse(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestList(t *testing.T) {
	var l admins.List
	if l.IsAdmin("alice") {
		t.Fatal("empty list has an admin")
	}
	l.Set([]string{"Alice"})
	if !l.IsAdmin("alice") || !l.IsAdmin("ALICE") || l.IsAdmin("bob") {
		t.Fatal("case-insensitive membership is wrong")
	}
}

// TestFollow stores two uploads in a real ClickHouse and checks the latest one is followed.
func TestFollow(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := admins.Store(ctx, conn, c.ClickHouseDatabase, []string{"alice", "bob"}); err != nil {
		t.Fatal(err)
	}
	var l admins.List
	go l.Follow(ctx, conn, c.ClickHouseDatabase, 50*time.Millisecond, slog.Default())
	waitFor(t, func() bool { return l.IsAdmin("bob") })
	if err := admins.Store(ctx, conn, c.ClickHouseDatabase, []string{"carol"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return l.IsAdmin("carol") && !l.IsAdmin("bob") })
	if err := admins.Store(ctx, conn, c.ClickHouseDatabase, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return l.Len() == 0 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
