package auth

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Entry is a line of the audit log: who did what, to what, with what outcome.
type Entry struct {
	Time    time.Time `json:"time"`
	User    string    `json:"user"`
	Role    string    `json:"role"`
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Outcome string    `json:"outcome"`
	Remote  string    `json:"remote"`
	Detail  string    `json:"detail"`
}

// Outcomes of an audited action.
const (
	OK     = "ok"
	Denied = "denied"
	Failed = "failed"
)

// Audit is the audit log, db.audit_log. Each entry is also logged, so that a log that
// could not be written to ClickHouse is not lost.
type Audit struct {
	conn driver.Conn
	db   string
	log  *slog.Logger
	Now  func() time.Time
}

// NewAudit returns the audit log of database db.
func NewAudit(conn driver.Conn, db string, log *slog.Logger) *Audit {
	return &Audit{conn: conn, db: db, log: log, Now: time.Now}
}

// Record writes e, stamped now when it has no time. Its context should outlive a request
// that is cancelled, so that a change is audited even when its client went away.
func (a *Audit) Record(ctx context.Context, e Entry) error {
	if e.Time.IsZero() {
		e.Time = a.Now()
	}
	nanos := uint64(e.Time.UnixNano())
	e.Time = e.Time.UTC()
	a.log.Info("audit", "user", e.User, "role", e.Role, "action", e.Action, "target", e.Target, "outcome", e.Outcome,
		"remote", e.Remote, "detail", e.Detail)
	b, err := a.conn.PrepareBatch(ctx, "INSERT INTO "+a.db+".audit_log (time, nanos, user, role, action, target, outcome, remote, detail)")
	if err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	if err := b.Append(e.Time, nanos, e.User, e.Role, e.Action, e.Target, e.Outcome, e.Remote, e.Detail); err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	return nil
}

// Recent returns the newest entries, at most limit, newest first.
func (a *Audit) Recent(ctx context.Context, limit int) ([]Entry, error) {
	rows, err := a.conn.Query(ctx, "SELECT time, nanos, user, role, action, target, outcome, remote, detail FROM "+a.db+
		".audit_log ORDER BY time DESC, nanos DESC LIMIT ?", uint64(limit))
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var e Entry
		var nanos uint64
		if err := rows.Scan(&e.Time, &nanos, &e.User, &e.Role, &e.Action, &e.Target, &e.Outcome, &e.Remote, &e.Detail); err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		e.Time = time.Unix(0, int64(nanos)).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
