// Package ledger keeps the ledger of files in ClickHouse (table files): one row per
// CloudTrail object read, with what became of it, so that no file is read twice and every
// file a digest lists can be shown read. It also stores the digests' listings (table
// digest_files), which the completeness check compares with the ledger.
//
// Rows are written in batches: Record returns once the batch holding its entry is stored,
// which takes at most Wait, so that many files read at once cost one insert.
package ledger

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/coalesce"
	"github.com/trailstream/trailstream/pkg/sources"
)

// Paths: how a file came to be read.
const (
	PathNotification = "notification"
	PathScan         = "scan"
	PathBackfill     = "backfill"
	PathImport       = "import"
	PathHeal         = "heal"
)

// Outcomes of a file.
const (
	OutcomeRead    = "read"
	OutcomePartial = "partial" // read, with some records sent to the dead-letter topic
	OutcomeSkipped = "skipped" // not CloudTrail log data (Reason says what)
	OutcomeFailed  = "failed"  // cannot be read at all (Reason); reported on the dead-letter topic
)

// Entry is one row of the ledger.
type Entry struct {
	Source      string
	Bucket      string
	Key         string
	Kind        string // layout.Kind
	Account     string
	Region      string
	Day         time.Time
	Records     int
	DeadLetters int
	Bytes       int64
	SHA256      string
	FirstEvent  time.Time
	LastEvent   time.Time
	ReadAt      time.Time
	Path        string
	Outcome     string
	Reason      string
}

// DigestFile is a log file an hourly digest lists.
type DigestFile struct {
	Source      string
	DigestKey   string
	Bucket      string
	Key         string
	Account     string
	Region      string
	Hour        time.Time
	SHA256      string
	OldestEvent time.Time
	NewestEvent time.Time
	ReadAt      time.Time
}

// Ledger writes and reads the ledger of one database.
type Ledger struct {
	conn driver.Conn
	db   string
	// Wait and Max bound a batch: it is stored Wait after its first entry, or once it holds
	// Max entries.
	Wait time.Duration
	Max  int

	mu  sync.Mutex
	cur *batch

	lookups coalesce.Group[string, string, bool] // bucket, key, whether the ledger has it
}

type batch struct {
	entries []Entry
	once    sync.Once
	done    chan struct{}
	err     error
}

// New returns the ledger in database db (migrated: see pkg/chstore).
func New(conn driver.Conn, db string) *Ledger {
	l := &Ledger{conn: conn, db: db, Wait: 200 * time.Millisecond, Max: 500}
	l.lookups.Do = l.lookup
	return l
}

// Record stores e, with others recorded at about the same time, and returns once it is
// stored (or could not be).
func (l *Ledger) Record(ctx context.Context, e Entry) error {
	return l.Add(e).Wait(ctx)
}

// Pending is an entry on its way into the ledger.
type Pending struct{ b *batch }

// Wait returns once the entry is stored, or could not be.
func (p *Pending) Wait(ctx context.Context) error {
	select {
	case <-p.b.done:
		return p.b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Add queues e for the next batch, which is stored within Wait, and returns at once.
func (l *Ledger) Add(e Entry) *Pending {
	l.mu.Lock()
	b := l.cur
	if b == nil {
		b = &batch{done: make(chan struct{})}
		l.cur = b
		time.AfterFunc(l.Wait, func() { l.flush(b) })
	}
	b.entries = append(b.entries, e)
	full := len(b.entries) >= l.Max
	l.mu.Unlock()
	if full {
		go l.flush(b)
	}
	return &Pending{b}
}

// flush stores b, once.
func (l *Ledger) flush(b *batch) {
	b.once.Do(func() {
		l.mu.Lock()
		if l.cur == b {
			l.cur = nil
		}
		entries := b.entries
		l.mu.Unlock()
		// The insert does not belong to any one caller: it ends by its own timeout.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer chstore.CancelLater(cancel)
		b.err = l.insert(ctx, entries)
		close(b.done)
	})
}

const columns = `source, bucket, key, kind, account_id, aws_region, day, records, dead_letters, bytes, sha256,
	first_event, last_event, read_at, path, outcome, reason, version`

func (l *Ledger) insert(ctx context.Context, entries []Entry) error {
	b, err := l.conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.files (%s)", l.db, columns))
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	defer b.Abort()
	for _, e := range entries {
		if err := b.Append(e.Source, e.Bucket, e.Key, e.Kind, e.Account, e.Region, sources.Clamp(e.Day), uint32(e.Records),
			uint32(e.DeadLetters), uint64(e.Bytes), e.SHA256, sources.Clamp(e.FirstEvent), sources.Clamp(e.LastEvent),
			sources.Clamp(e.ReadAt), e.Path, e.Outcome, e.Reason, sources.Version()); err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("ledger: %d files: %w", len(entries), err)
	}
	return nil
}

// Seen returns which of keys of bucket are in the ledger. keys need not be sorted; one query
// reads the range they span, along the table's primary key.
func (l *Ledger) Seen(ctx context.Context, bucket string, keys []string) (map[string]bool, error) {
	seen := map[string]bool{}
	if len(keys) == 0 {
		return seen, nil
	}
	found, err := l.found(ctx, bucket, len(keys), "key >= ? AND key <= ?", slices.Min(keys), slices.Max(keys))
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if found[k] {
			seen[k] = true
		}
	}
	return seen, nil
}

// Has tells whether key of bucket is in the ledger. Lookups that come while one of their
// bucket runs are answered together by the next, one query for all their keys
// (pkg/coalesce): a fetcher reading files by the dozen asks ClickHouse a few times instead of
// once a file, and every answer is of a query started after the call.
func (l *Ledger) Has(ctx context.Context, bucket, key string) (bool, error) {
	return l.lookups.Call(ctx, bucket, key)
}

// lookup tells which of keys of bucket, wherever in the bucket they are, the ledger has: one
// query for that set of keys, which the primary key finds. It belongs to none of the callers
// of Has it answers, so it ends by its own timeout.
func (l *Ledger) lookup(bucket string, keys []string) ([]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	set := slices.Compact(slices.Sorted(slices.Values(keys)))
	args := make([]any, len(set))
	for i, k := range set {
		args[i] = k
	}
	found, err := l.found(ctx, bucket, len(set), "key IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(set)), ", ")+")", args...)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(keys))
	for i, k := range keys {
		out[i] = found[k]
	}
	return out, nil
}

// found returns the keys of bucket in the ledger that match where, a condition on key with
// its arguments args; n is how many keys were asked for, for the error.
func (l *Ledger) found(ctx context.Context, bucket string, n int, where string, args ...any) (map[string]bool, error) {
	rows, err := l.conn.Query(ctx, fmt.Sprintf(`SELECT DISTINCT key FROM %s.files WHERE bucket = ? AND %s`, l.db, where), append([]any{bucket}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("ledger: look up %d keys of %s: %w", n, bucket, err)
	}
	defer rows.Close()
	found := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		found[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: look up %d keys of %s: %w", n, bucket, err)
	}
	return found, nil
}

// Digest stores the listing of one digest.
func (l *Ledger) Digest(ctx context.Context, files []DigestFile) error {
	if len(files) == 0 {
		return nil
	}
	b, err := l.conn.PrepareBatch(ctx, fmt.Sprintf(`INSERT INTO %s.digest_files (source, digest_key, bucket, key, account_id,
		aws_region, hour, sha256, oldest_event, newest_event, read_at)`, l.db))
	if err != nil {
		return fmt.Errorf("digest listing: %w", err)
	}
	defer b.Abort()
	for _, f := range files {
		if err := b.Append(f.Source, f.DigestKey, f.Bucket, f.Key, f.Account, f.Region, sources.Clamp(f.Hour), f.SHA256,
			sources.Clamp(f.OldestEvent), sources.Clamp(f.NewestEvent), sources.Clamp(f.ReadAt)); err != nil {
			return fmt.Errorf("digest listing: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("digest listing of %s: %w", files[0].DigestKey, err)
	}
	return nil
}

// Missing returns the files that the digests of source for the hours since since list,
// read before now minus grace, and that the ledger does not have: oldest hour first, at most
// limit, as the digests list them (without their event times).
func (l *Ledger) Missing(ctx context.Context, source string, since time.Time, grace time.Duration, limit int) ([]DigestFile, error) {
	rows, err := l.conn.Query(ctx, fmt.Sprintf(`SELECT source, digest_key, bucket, key, account_id, aws_region, hour, sha256
		FROM %[1]s.digest_files
		WHERE source = ? AND hour >= ? AND read_at < ?
		  AND (bucket, key) NOT IN (SELECT bucket, key FROM %[1]s.files WHERE day >= toDate(?))
		ORDER BY hour, key LIMIT ?`, l.db), source, sources.Clamp(since), time.Now().Add(-grace), dayBefore(since), limit)
	if err != nil {
		return nil, fmt.Errorf("missing files of %s: %w", source, err)
	}
	defer rows.Close()
	var out []DigestFile
	seen := map[string]bool{}
	for rows.Next() {
		var m DigestFile
		if err := rows.Scan(&m.Source, &m.DigestKey, &m.Bucket, &m.Key, &m.Account, &m.Region, &m.Hour, &m.SHA256); err != nil {
			return nil, fmt.Errorf("missing files of %s: %w", source, err)
		}
		if !seen[m.Bucket+"/"+m.Key] { // a digest read twice lists it twice until a merge
			seen[m.Bucket+"/"+m.Key] = true
			out = append(out, m)
		}
	}
	return out, rows.Err()
}

// Cadence is how often an account and region of a source delivered log files.
type Cadence struct {
	Account, Region string
	Files           int
	Oldest, Newest  time.Time // the newest event times of the oldest and newest files
}

// Cadence returns, for each account and region of source, its log files of the days since
// since.
func (l *Ledger) Cadence(ctx context.Context, source string, since time.Time) ([]Cadence, error) {
	rows, err := l.conn.Query(ctx, fmt.Sprintf(`SELECT account_id, aws_region, uniqExact(key), min(last_event), max(last_event)
		FROM %s.files WHERE source = ? AND kind = 'log' AND day >= toDate(?) AND last_event > toDateTime(0)
		GROUP BY account_id, aws_region ORDER BY account_id, aws_region`, l.db), source, sources.Clamp(since))
	if err != nil {
		return nil, fmt.Errorf("cadence of %s: %w", source, err)
	}
	defer rows.Close()
	var out []Cadence
	for rows.Next() {
		var (
			c Cadence
			n uint64
		)
		if err := rows.Scan(&c.Account, &c.Region, &n, &c.Oldest, &c.Newest); err != nil {
			return nil, fmt.Errorf("cadence of %s: %w", source, err)
		}
		c.Files = int(n)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Changed returns the files that the digests of source for the hours since since list and
// that were read with content of another SHA-256 than the digest gives: changed after
// CloudTrail delivered them, or read from somewhere else. At most limit, oldest hour first.
func (l *Ledger) Changed(ctx context.Context, source string, since time.Time, limit int) ([]DigestFile, error) {
	rows, err := l.conn.Query(ctx, fmt.Sprintf(`SELECT source, digest_key, bucket, key, account_id, aws_region, hour, sha256
		FROM %[1]s.digest_files
		ANY INNER JOIN (
			SELECT bucket, key, sha256 AS read_sha256 FROM %[1]s.files
			WHERE day >= toDate(?) AND sha256 != '' AND outcome IN ('read', 'partial')
		) AS ledger USING (bucket, key)
		WHERE source = ? AND hour >= ? AND sha256 != '' AND read_sha256 != sha256
		ORDER BY hour, key LIMIT ?`, l.db), dayBefore(since), source, sources.Clamp(since), limit)
	if err != nil {
		return nil, fmt.Errorf("changed files of %s: %w", source, err)
	}
	defer rows.Close()
	var out []DigestFile
	for rows.Next() {
		var m DigestFile
		if err := rows.Scan(&m.Source, &m.DigestKey, &m.Bucket, &m.Key, &m.Account, &m.Region, &m.Hour, &m.SHA256); err != nil {
			return nil, fmt.Errorf("changed files of %s: %w", source, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// dayBefore returns the day before since's, as a DateTime column holds it: a file delivered
// in the first minutes of an hour may sit in the folder of the day before.
func dayBefore(since time.Time) time.Time {
	return sources.Clamp(since.Add(-24 * time.Hour))
}
