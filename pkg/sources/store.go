package sources

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Store keeps sources, their state and their checkpoints in ClickHouse. Nothing is updated in
// place: every change is a new row with a higher version, and reads take the latest.
type Store struct {
	conn driver.Conn
	db   string
}

// NewStore returns the store in database db (migrated: see pkg/chstore).
func NewStore(conn driver.Conn, db string) *Store { return &Store{conn: conn, db: db} }

var lastVersion atomic.Int64

// Version returns a row version: nanoseconds since the epoch, increasing within the process.
func Version() uint64 {
	for {
		last, now := lastVersion.Load(), time.Now().UnixNano()
		if now <= last {
			now = last + 1
		}
		if lastVersion.CompareAndSwap(last, now) {
			return uint64(now)
		}
	}
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

const sourceColumns = "id, name, origin, bucket, prefix, region, role_arn, external_id, environment, queue, enabled, trail_arn, organization, deleted, version"

// List returns every source, by ID.
func (s *Store) List(ctx context.Context) ([]Source, error) {
	rows, err := s.conn.Query(ctx, fmt.Sprintf(`SELECT id, name, origin, bucket, prefix, region, role_arn, external_id,
		environment, queue, enabled, trail_arn, organization FROM %s.sources FINAL WHERE deleted = 0 ORDER BY id`, s.db))
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	defer rows.Close()
	var out []Source
	for rows.Next() {
		var (
			src          Source
			enabled, org uint8
		)
		if err := rows.Scan(&src.ID, &src.Name, &src.Origin, &src.Bucket, &src.Prefix, &src.Region, &src.RoleARN, &src.ExternalID,
			&src.Environment, &src.Queue, &enabled, &src.TrailARN, &org); err != nil {
			return nil, fmt.Errorf("list sources: %w", err)
		}
		src.Enabled, src.Organization = enabled == 1, org == 1
		out = append(out, src)
	}
	return out, rows.Err()
}

// Get returns the source id; ok is false when there is none.
func (s *Store) Get(ctx context.Context, id string) (src Source, ok bool, err error) {
	all, err := s.List(ctx)
	if err != nil {
		return Source{}, false, err
	}
	for _, src := range all {
		if src.ID == id {
			return src, true, nil
		}
	}
	return Source{}, false, nil
}

// Put stores srcs, replacing the sources of the same IDs.
func (s *Store) Put(ctx context.Context, srcs ...Source) error {
	return s.write(ctx, srcs, false)
}

// Remove removes the sources ids. The files already read from them stay in the ledger.
func (s *Store) Remove(ctx context.Context, ids ...string) error {
	srcs := make([]Source, len(ids))
	for i, id := range ids {
		srcs[i] = Source{ID: id}
	}
	return s.write(ctx, srcs, true)
}

func (s *Store) write(ctx context.Context, srcs []Source, deleted bool) error {
	if len(srcs) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.sources (%s)", s.db, sourceColumns))
	if err != nil {
		return fmt.Errorf("store sources: %w", err)
	}
	defer b.Abort()
	for _, src := range srcs {
		if err := b.Append(src.ID, src.Name, src.Origin, src.Bucket, src.Prefix, src.Region, src.RoleARN, src.ExternalID,
			src.Environment, src.Queue, b2u(src.Enabled), src.TrailARN, b2u(src.Organization), b2u(deleted), Version()); err != nil {
			return fmt.Errorf("store sources: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("store sources: %w", err)
	}
	return nil
}

// SetEnabled enables or disables the source id.
func (s *Store) SetEnabled(ctx context.Context, id string, enabled bool) error {
	src, ok, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no source %q", id)
	}
	src.Enabled = enabled
	return s.Put(ctx, src)
}

// Sync makes the sources of origin exactly want: new ones are added, changed ones replaced,
// and those of origin not in want removed. With keepEnabled an existing source keeps its
// stored enabled flag (set on the console), else want's flag wins.
func (s *Store) Sync(ctx context.Context, origin string, want []Source, keepEnabled bool) (added, removed []string, err error) {
	have, err := s.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	old := map[string]Source{}
	for _, h := range have {
		if h.Origin == origin {
			old[h.ID] = h
		}
	}
	var put []Source
	for _, w := range want {
		w.Origin = origin
		h, exists := old[w.ID]
		delete(old, w.ID)
		if exists && keepEnabled {
			w.Enabled = h.Enabled
		}
		if exists && h == w {
			continue
		}
		if !exists {
			added = append(added, w.ID)
		}
		put = append(put, w)
	}
	for id := range old {
		removed = append(removed, id)
	}
	if err := s.Put(ctx, put...); err != nil {
		return nil, nil, err
	}
	if err := s.Remove(ctx, removed...); err != nil {
		return nil, nil, err
	}
	return added, removed, nil
}

// Backfill states of a source.
const (
	BackfillPending = "pending" // not started
	BackfillListing = "listing" // counting the stored files
	BackfillReading = "reading"
	BackfillDone    = "done"
	BackfillOff     = "off" // --backfill-since was negative: new files only
)

// State is a source's collection state.
type State struct {
	Source        string
	Backfill      string
	BackfillSince time.Time
	ScanInterval  time.Duration // the current one: doubles while scans find nothing
	LastScan      time.Time
	NextScan      time.Time
	LastNew       time.Time // when a scan last found new files
	LastError     string
	ErrorAt       time.Time
}

// States returns the state of every source that has one, by source ID.
func (s *Store) States(ctx context.Context) (map[string]State, error) {
	rows, err := s.conn.Query(ctx, fmt.Sprintf(`SELECT source, backfill, backfill_since, scan_interval, last_scan, next_scan,
		last_new, last_error, error_at FROM %s.source_state FINAL`, s.db))
	if err != nil {
		return nil, fmt.Errorf("read source states: %w", err)
	}
	defer rows.Close()
	out := map[string]State{}
	for rows.Next() {
		var (
			st       State
			interval uint32
		)
		if err := rows.Scan(&st.Source, &st.Backfill, &st.BackfillSince, &interval, &st.LastScan, &st.NextScan,
			&st.LastNew, &st.LastError, &st.ErrorAt); err != nil {
			return nil, fmt.Errorf("read source states: %w", err)
		}
		st.ScanInterval = time.Duration(interval) * time.Second
		for _, t := range []*time.Time{&st.BackfillSince, &st.LastScan, &st.NextScan, &st.LastNew, &st.ErrorAt} {
			if t.Unix() <= 0 { // never: stored as the epoch
				*t = time.Time{}
			}
		}
		out[st.Source] = st
	}
	return out, rows.Err()
}

// PutState stores states.
func (s *Store) PutState(ctx context.Context, states ...State) error {
	if len(states) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(ctx, fmt.Sprintf(`INSERT INTO %s.source_state (source, backfill, backfill_since,
		scan_interval, last_scan, next_scan, last_new, last_error, error_at, version)`, s.db))
	if err != nil {
		return fmt.Errorf("store source state: %w", err)
	}
	defer b.Abort()
	for _, st := range states {
		if err := b.Append(st.Source, st.Backfill, Clamp(st.BackfillSince), uint32(st.ScanInterval/time.Second), Clamp(st.LastScan),
			Clamp(st.NextScan), Clamp(st.LastNew), st.LastError, Clamp(st.ErrorAt), Version()); err != nil {
			return fmt.Errorf("store source state: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("store source state: %w", err)
	}
	return nil
}

// Clamp keeps t inside what a DateTime column holds; the zero time becomes the epoch.
func Clamp(t time.Time) time.Time {
	if t.Before(time.Unix(0, 0)) {
		return time.Unix(0, 0).UTC()
	}
	if max := time.Unix(1<<32-1, 0); t.After(max) {
		return max.UTC()
	}
	return t.UTC()
}

// Checkpoint kinds.
const (
	CheckpointBackfill = "backfill"
	CheckpointScan     = "scan"
)

// Checkpoint is how far backfill or scanning got in one day folder of a source.
type Checkpoint struct {
	Source     string
	Prefix     string // the day folder
	Kind       string // CheckpointBackfill or CheckpointScan
	Account    string
	Region     string
	Day        time.Time
	After      string // every key up to and including this one is handled
	FilesTotal int    // listed, for backfill
	BytesTotal int64
	Files      int // handled
	Records    int64
	Bytes      int64
	Done       bool
}

// Checkpoints returns the checkpoints of kind of the source, by prefix.
func (s *Store) Checkpoints(ctx context.Context, source, kind string) ([]Checkpoint, error) {
	rows, err := s.conn.Query(ctx, fmt.Sprintf(`SELECT source, prefix, kind, account_id, aws_region, day, after, files_total,
		bytes_total, files, records, bytes, done FROM %s.checkpoints FINAL WHERE source = ? AND kind = ? ORDER BY prefix`, s.db), source, kind)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints of %s: %w", source, err)
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		var (
			c                          Checkpoint
			filesTotal, files          uint32
			bytesTotal, records, bytes uint64
			done                       uint8
		)
		if err := rows.Scan(&c.Source, &c.Prefix, &c.Kind, &c.Account, &c.Region, &c.Day, &c.After, &filesTotal, &bytesTotal,
			&files, &records, &bytes, &done); err != nil {
			return nil, fmt.Errorf("read checkpoints of %s: %w", source, err)
		}
		c.FilesTotal, c.BytesTotal, c.Files = int(filesTotal), int64(bytesTotal), int(files)
		c.Records, c.Bytes, c.Done = int64(records), int64(bytes), done == 1
		out = append(out, c)
	}
	return out, rows.Err()
}

// PutCheckpoints stores cps.
func (s *Store) PutCheckpoints(ctx context.Context, cps ...Checkpoint) error {
	if len(cps) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(ctx, fmt.Sprintf(`INSERT INTO %s.checkpoints (source, prefix, kind, account_id, aws_region,
		day, after, files_total, bytes_total, files, records, bytes, done, version)`, s.db))
	if err != nil {
		return fmt.Errorf("store checkpoints: %w", err)
	}
	defer b.Abort()
	for _, c := range cps {
		if err := b.Append(c.Source, c.Prefix, c.Kind, c.Account, c.Region, Clamp(c.Day), c.After, uint32(c.FilesTotal),
			uint64(c.BytesTotal), uint32(c.Files), uint64(c.Records), uint64(c.Bytes), b2u(c.Done), Version()); err != nil {
			return fmt.Errorf("store checkpoints: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("store checkpoints: %w", err)
	}
	return nil
}
