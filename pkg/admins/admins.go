// Package admins holds the list of administrative users: the user names whose activity the
// administrator panels follow. The list comes from a CSV file (one user name per line, as
// in admin_users.csv) or from the ClickHouse table the console's upload fills, reloaded
// periodically.
package admins

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// List is a set of user names, safe for concurrent use and replaceable as a whole. Names
// compare case-insensitively, as IAM user names do.
type List struct {
	names atomic.Pointer[map[string]struct{}]
}

// IsAdmin tells whether userName is on the list.
func (l *List) IsAdmin(userName string) bool {
	m := l.names.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[strings.ToLower(userName)]
	return ok
}

// Len returns how many names the list holds.
func (l *List) Len() int {
	if m := l.names.Load(); m != nil {
		return len(*m)
	}
	return 0
}

// Set replaces the list with names.
func (l *List) Set(names []string) {
	m := make(map[string]struct{}, len(names))
	for _, n := range names {
		m[strings.ToLower(n)] = struct{}{}
	}
	l.names.Store(&m)
}

// Parse reads admin_users.csv: one user name per line, in the first column; blank lines,
// lines starting with # and a header naming the column (user, username, user_name,
// admin_user) are skipped.
func Parse(r io.Reader) ([]string, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	var names []string
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return nil, fmt.Errorf("admin users CSV: %w", err)
		}
		name := strings.TrimSpace(rec[0])
		switch strings.ToLower(name) {
		case "":
			continue
		case "user", "username", "user_name", "admin_user", "admin_users":
			if line == 1 {
				continue
			}
		}
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("admin users CSV line %d: %q is not a user name: %w", line, name, err)
		}
		names = append(names, name)
	}
}

// checkName refuses what an IAM user name cannot hold and a console would show wrongly:
// invalid UTF-8, spaces, control and other invisible characters.
func checkName(name string) error {
	if !utf8.ValidString(name) {
		return errors.New("invalid UTF-8")
	}
	for _, r := range name {
		if unicode.IsSpace(r) || !unicode.IsGraphic(r) {
			return fmt.Errorf("it holds the character %U", r)
		}
	}
	return nil
}

// LoadFile sets l from a CSV file.
func (l *List) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("admin users: %w", err)
	}
	defer f.Close()
	names, err := Parse(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	l.Set(names)
	return nil
}

// Current returns the names of the latest upload in db.admin_users.
func Current(ctx context.Context, conn driver.Conn, db string) ([]string, error) {
	rows, err := conn.Query(ctx, "SELECT user_name FROM "+db+".admin_users WHERE upload_id = (SELECT max(upload_id) FROM "+db+".admin_users) AND user_name != ''")
	if err != nil {
		return nil, fmt.Errorf("read %s.admin_users: %w", db, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("read %s.admin_users: %w", db, err)
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// Store records names as the new list in db.admin_users (the previous uploads stay, for the
// record; the latest one counts). An empty list is recorded as one row with an empty name,
// so that it replaces the previous list too.
func Store(ctx context.Context, conn driver.Conn, db string, names []string) error {
	if len(names) == 0 {
		names = []string{""}
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".admin_users (upload_id, user_name, uploaded_at)")
	if err != nil {
		return fmt.Errorf("store admin users: %w", err)
	}
	now := time.Now()
	id := uint64(now.UnixNano())
	for _, n := range names {
		if err := b.Append(id, n, now); err != nil {
			return fmt.Errorf("store admin users: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("store admin users: %w", err)
	}
	return nil
}

// Follow reloads l from db.admin_users every interval until ctx is done. A failed reload
// keeps the previous list.
func (l *List) Follow(ctx context.Context, conn driver.Conn, db string, interval time.Duration, log *slog.Logger) {
	for {
		if names, err := Current(ctx, conn, db); err != nil {
			if ctx.Err() == nil {
				log.Warn("admin users not reloaded; keeping the previous list", "err", err, "held", l.Len())
			}
		} else {
			if len(names) != l.Len() {
				log.Info("admin users loaded", "count", len(names))
			}
			l.Set(names)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
