package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/trailstream/trailstream/pkg/auth"
	"github.com/trailstream/trailstream/pkg/sources"
)

// The sources page (/sources) is collection's scheduler and status page: every source (where
// CloudTrail files come from, pkg/sources) with its enabled switch, how its files are
// noticed, the last file read, today's files and records, the lag behind the newest event,
// the backfill's progress by day, the next scan, the completeness that CloudTrail's digests
// prove or disprove, and the errors. The fetchers write the tables (sources, files,
// checkpoints, source_state, digest_files); the console reads them and edits the sources
// through pkg/sources.Store, which the fetchers read again at every scan.
//
// An answer takes five queries whatever the number of sources (six about one source, whose
// missing keys come in order), run concurrently: the
// sources, their states, one pass over the files ledger grouped by source (last file, lag
// and today's counts), the backfill checkpoints grouped by source and day, and the
// digest listings of the completeness days checked against the ledger. None reads the
// whole ledger with FINAL: today's counts and the lag are plain aggregates, and the
// completeness check reads only the ledger days the digests are about.

const (
	// defaultCompletenessDays is how many UTC days, today included, completeness shows
	// when the request names none; maxCompletenessDays bounds what a request may ask.
	defaultCompletenessDays = 7
	maxCompletenessDays     = 31
	// listMissingFiles is how many missing keys the list shows of each source (the oldest
	// of at most as many a day); sourceMissingFiles how many the answer about one source
	// shows, the oldest.
	listMissingFiles   = 10
	sourceMissingFiles = 1000
	// listBackfillDays is how many backfill days (the newest) the list shows of each
	// source; the answer about one source has them all.
	listBackfillDays = 31
	// maxSourceBody bounds the body of POST /api/sources.
	maxSourceBody = 64 << 10
	// dayLayout writes a UTC day.
	dayLayout = "2006-01-02"
)

// sourceView is one source as /api/sources answers it.
type sourceView struct {
	ID     string `json:"id"`
	URL    string `json:"url"` // of this answer, /api/sources/{id}
	Name   string `json:"name"`
	Origin string `json:"origin"` // flags, file, discovery or console
	// Kind is how new files are noticed: notifications, scan or discovered trail.
	Kind          string `json:"kind"`
	Bucket        string `json:"bucket"`
	Prefix        string `json:"prefix"`
	Region        string `json:"region"`
	Environment   string `json:"environment"`
	Queue         string `json:"queue"`
	RoleARN       string `json:"role_arn"`
	ExternalIDSet bool   `json:"external_id_set"` // the external ID itself is never shown
	Enabled       bool   `json:"enabled"`
	TrailARN      string `json:"trail_arn"`
	Organization  bool   `json:"organization"`
	// Removable: added on the console, so DELETE removes it; the others come from the
	// --sources file, trail discovery or the flags.
	Removable bool `json:"removable"`
	// LastFile is the newest log or Insights file read; nil before the first.
	LastFile *lastFile  `json:"last_file"`
	Today    todayCount `json:"today"`
	// NewestEvent is the newest event time of the log files read, and LagSeconds how long
	// before the answer it was; both nil before the first file.
	NewestEvent  *time.Time       `json:"newest_event"`
	LagSeconds   *int64           `json:"lag_seconds"`
	Backfill     backfillView     `json:"backfill"`
	Scan         scanView         `json:"scan"`
	Completeness completenessView `json:"completeness"`
	Errors       errorsView       `json:"errors"`
}

type lastFile struct {
	Key    string    `json:"key"`
	ReadAt time.Time `json:"read_at"`
}

// todayCount counts the log and Insights files read (outcome read or partial) since the
// start of the UTC day. A file read twice today (--reread) counts twice until ClickHouse
// merges its ledger rows.
type todayCount struct {
	Files   uint64 `json:"files"`
	Records uint64 `json:"records"`
	Bytes   uint64 `json:"bytes"`
}

// backfillView is how far the reading of the files stored before the source was first
// collected got, from source_state and the backfill checkpoints.
type backfillView struct {
	// State is pending, listing, reading, done or off; nil while no fetcher has recorded
	// the source's state.
	State *string `json:"state"`
	// Since is the oldest day read; nil for all of them (or no state).
	Since      *time.Time    `json:"since"`
	FilesDone  uint64        `json:"files_done"`
	FilesTotal uint64        `json:"files_total"` // listed so far
	Records    uint64        `json:"records"`
	BytesDone  uint64        `json:"bytes_done"`
	BytesTotal uint64        `json:"bytes_total"`
	Days       []backfillDay `json:"days"`
	// DaysTotal is how many days have checkpoints; the list shows the newest 31 of them.
	DaysTotal int `json:"days_total"`
}

type backfillDay struct {
	Day        string `json:"day"`
	FilesDone  uint64 `json:"files_done"`
	FilesTotal uint64 `json:"files_total"`
	Records    uint64 `json:"records"`
	Done       bool   `json:"done"` // every day folder of the day is read

	bytesDone, bytesTotal uint64 // summed into the backfill's
}

// scanView is the source's listing schedule; times are nil before the first scan.
type scanView struct {
	IntervalSeconds uint64     `json:"interval_seconds"`
	LastScan        *time.Time `json:"last_scan"`
	NextScan        *time.Time `json:"next_scan"`
	LastNew         *time.Time `json:"last_new"` // when a scan last found new files
}

// completenessView compares, per UTC day, the log files CloudTrail's hourly digests list
// with the ledger. Of the Expected files, Read are in the ledger read (or partially read),
// Unread are in it failed or skipped, Missing are not in it although their digest was
// read longer than the grace ago, and Waiting are not in it yet, within the grace.
type completenessView struct {
	From         string            `json:"from"` // first day, UTC
	To           string            `json:"to"`   // last day, UTC, included
	GraceSeconds int64             `json:"grace_seconds"`
	Days         []completenessDay `json:"days"`
	Expected     uint64            `json:"expected"`
	Read         uint64            `json:"read"`
	Missing      uint64            `json:"missing"`
	// MissingFiles are missing keys, oldest hour first: at most 10 in the list, 1000 in the
	// answer about one source.
	MissingFiles []missingFile `json:"missing_files"`
}

type completenessDay struct {
	Day      string `json:"day"`
	Expected uint64 `json:"expected"`
	Read     uint64 `json:"read"`
	Missing  uint64 `json:"missing"`
	Waiting  uint64 `json:"waiting"`
	Unread   uint64 `json:"unread"`
}

type missingFile struct {
	Bucket       string    `json:"bucket"`
	Key          string    `json:"key"`
	AccountID    string    `json:"account_id"`
	Region       string    `json:"aws_region"`
	Hour         time.Time `json:"hour"`           // of the digest listing it
	DigestReadAt time.Time `json:"digest_read_at"` // the grace runs from here
}

type errorsView struct {
	LastError         string     `json:"last_error"`
	ErrorAt           *time.Time `json:"error_at"`
	FailedFilesToday  uint64     `json:"failed_files_today"`
	SkippedFilesToday uint64     `json:"skipped_files_today"`
}

// sourcesAnswer is the answer of GET /api/sources.
type sourcesAnswer struct {
	Now     time.Time    `json:"now"`
	Sources []sourceView `json:"sources"`
}

// sourcesRequest is what a sources answer covers.
type sourcesRequest struct {
	ID       string    // one source; "" for every one
	Now      time.Time // what lag and today count from
	From, To time.Time // the completeness days: [From, To), UTC midnights
	Grace    time.Duration
}

// one reports whether the request is about one source.
func (q sourcesRequest) one() bool { return q.ID != "" }

// parseSourcesRequest reads the completeness days of a request: days=N (the last N UTC
// days, today included; 7 by default) or from and to (UTC days, YYYY-MM-DD, both included).
func parseSourcesRequest(v url.Values, now time.Time, grace time.Duration) (sourcesRequest, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	q := sourcesRequest{Now: now, To: today.AddDate(0, 0, 1), Grace: grace}
	for name := range v {
		if name != "days" && name != "from" && name != "to" {
			return q, fmt.Errorf("unknown parameter %s: /api/sources takes days, or from and to", quote(name))
		}
		if len(v[name]) > 1 {
			return q, fmt.Errorf("%s: give it once", name)
		}
	}
	from, to := v.Get("from"), v.Get("to")
	switch {
	case v.Has("days") && (from != "" || to != ""):
		return q, errors.New("give either days or from and to")
	case from != "" || to != "":
		if from == "" {
			return q, errors.New("to needs from")
		}
		f, err := time.Parse(dayLayout, from)
		if err != nil {
			return q, fmt.Errorf("from: want a day, YYYY-MM-DD: %s", quote(from))
		}
		t := today
		if to != "" {
			if t, err = time.Parse(dayLayout, to); err != nil {
				return q, fmt.Errorf("to: want a day, YYYY-MM-DD: %s", quote(to))
			}
		}
		if f.Before(earliest) || t.After(latest) {
			return q, fmt.Errorf("from and to: want days between %s and %s", earliest.Format(dayLayout), latest.Format(dayLayout))
		}
		if t.Before(f) {
			return q, fmt.Errorf("from %s is after to %s", from, t.Format(dayLayout))
		}
		if n := int(t.Sub(f)/(24*time.Hour)) + 1; n > maxCompletenessDays {
			return q, fmt.Errorf("from %s to %s is %d days: at most %d", from, t.Format(dayLayout), n, maxCompletenessDays)
		}
		q.From, q.To = f, t.AddDate(0, 0, 1)
		return q, nil
	}
	n := defaultCompletenessDays
	if v.Has("days") {
		var err error
		if n, err = strconv.Atoi(v.Get("days")); err != nil || n < 1 || n > maxCompletenessDays {
			return q, fmt.Errorf("days: want 1 to %d, not %s", maxCompletenessDays, quote(v.Get("days")))
		}
	}
	q.From = today.AddDate(0, 0, 1-n)
	return q, nil
}

// The files ledger in one pass, grouped by source: the newest log or Insights file read,
// the newest event of the log files read, and today's counts. No FINAL: a maximum does not
// mind a row a re-read replaced, and merging the whole ledger would cost seconds at
// millions of files.
const sourceFilesSQL = `SELECT source,
	argMaxIf(key, (read_at, key), kind IN ('log', 'insight') AND outcome IN ('read', 'partial')) AS last_key,
	maxIf(read_at, kind IN ('log', 'insight') AND outcome IN ('read', 'partial')) AS last_read,
	maxIf(last_event, kind = 'log' AND outcome IN ('read', 'partial')) AS newest_event,
	countIf(read_at >= @today AND kind IN ('log', 'insight') AND outcome IN ('read', 'partial')) AS files_today,
	sumIf(records, read_at >= @today AND kind IN ('log', 'insight') AND outcome IN ('read', 'partial')) AS records_today,
	sumIf(bytes, read_at >= @today AND kind IN ('log', 'insight') AND outcome IN ('read', 'partial')) AS bytes_today,
	countIf(read_at >= @today AND outcome = 'failed') AS failed_today,
	countIf(read_at >= @today AND outcome = 'skipped') AS skipped_today
FROM %s.files%s
GROUP BY source`

// The backfill checkpoints by source and day: every day folder (account and region) of a
// day adds up.
const sourceBackfillSQL = `SELECT source, day, sum(files) AS files_done, sum(files_total) AS files_total,
	sum(records) AS records, sum(bytes) AS bytes_done, sum(bytes_total) AS bytes_total, min(done) AS done
FROM %s.checkpoints FINAL
WHERE kind = 'backfill'%s
GROUP BY source, day
ORDER BY source, day`

// The digest listings of the completeness days against the ledger, by source and day.
// The ledger is read only on the days of the listed files (a day on either side for a
// file delivered across midnight): one set of the files read and one of those failed or
// skipped, looked up by exact bucket and key. A listed file in neither set is missing once
// its digest is older than the grace, waiting before. The missing keys come along, at most
// %d a day (tab-separated: bucket, account, region, hour, digest read, key).
const sourceCompletenessSQL = `SELECT source, toStartOfDay(hour, 'UTC') AS day, count() AS expected,
	countIf(is_read) AS read, countIf(is_unread) AS unread, countIf(is_missing) AS missing,
	countIf(NOT is_read AND NOT is_unread AND NOT is_missing) AS waiting,
	groupArrayIf(%d)(concat(bucket, '\t', account_id, '\t', aws_region, '\t', toString(toUInt32(hour)), '\t',
		toString(toUInt32(read_at)), '\t', key), is_missing) AS missing_files
FROM (
	SELECT source, bucket, key, account_id, aws_region, hour, read_at,
		(bucket, key) IN (SELECT bucket, key FROM %[2]s.files
			WHERE day >= toDate(@ledger_from) AND day <= toDate(@ledger_to) AND outcome IN ('read', 'partial')) AS is_read,
		NOT is_read AND (bucket, key) IN (SELECT bucket, key FROM %[2]s.files
			WHERE day >= toDate(@ledger_from) AND day <= toDate(@ledger_to) AND outcome NOT IN ('read', 'partial')) AS is_unread,
		NOT is_read AND NOT is_unread AND read_at < @cutoff AS is_missing
	FROM %[2]s.digest_files FINAL
	WHERE hour >= @from AND hour < @to%[3]s
)
GROUP BY source, day
ORDER BY source, day`

// The missing files of one source, oldest first: the digest-listed keys of the days not in
// the ledger at all, whose digest is older than the grace. The ledger lookup stays out of
// WHERE: there ClickHouse 18.16 would also match the set against digest_files' primary
// key, which doubled the time at millions of listed files.
const sourceMissingSQL = `SELECT bucket, key, account_id, aws_region, hour, read_at
FROM (
	SELECT bucket, key, account_id, aws_region, hour, read_at,
		(bucket, key) IN (SELECT bucket, key FROM %[1]s.files WHERE day >= toDate(@ledger_from) AND day <= toDate(@ledger_to)) AS in_ledger
	FROM %[1]s.digest_files FINAL
	WHERE source = @source AND hour >= @from AND hour < @to AND read_at < @cutoff
)
WHERE NOT in_ledger
ORDER BY hour, key
LIMIT %[2]d`

// sourceViews answers q: every source (not removed), or the one of q.ID (none when it does
// not exist), by ID.
func (s *server) sourceViews(ctx context.Context, q sourcesRequest) ([]sourceView, error) {
	var (
		list     []sources.Source
		states   map[string]sources.State
		files    map[string]fileStats
		backfill map[string][]backfillDay
		complete map[string]*completenessView
		missing  []missingFile
	)
	tasks := []func() error{
		func() (err error) { list, err = s.sources.List(ctx); return err },
		func() (err error) { states, err = s.sources.States(ctx); return err },
		func() (err error) { files, err = s.fileStats(ctx, q); return err },
		func() (err error) { backfill, err = s.backfillDays(ctx, q); return err },
		func() (err error) { complete, err = s.completeness(ctx, q); return err },
	}
	if q.one() {
		tasks = append(tasks, func() (err error) { missing, err = s.missingFiles(ctx, q); return err })
	}
	if err := concurrently(tasks...); err != nil {
		return nil, err
	}
	out := []sourceView{}
	for _, src := range list {
		if q.one() && src.ID != q.ID {
			continue
		}
		v := sourceView{
			ID: src.ID, URL: "/api/sources/" + url.PathEscape(src.ID), Name: src.Name, Origin: src.Origin, Kind: src.Kind(),
			Bucket: src.Bucket, Prefix: src.Prefix, Region: src.Region, Environment: src.Environment, Queue: src.Queue,
			RoleARN: src.RoleARN, ExternalIDSet: src.ExternalID != "", Enabled: src.Enabled, TrailARN: src.TrailARN,
			Organization: src.Organization, Removable: src.Origin == sources.OriginConsole,
		}
		if f, ok := files[src.ID]; ok {
			if f.LastKey != "" {
				v.LastFile = &lastFile{Key: f.LastKey, ReadAt: f.LastRead.UTC()}
			}
			if t := when(f.NewestEvent); t != nil {
				lag := int64(max(q.Now.Sub(*t), 0) / time.Second)
				v.NewestEvent, v.LagSeconds = t, &lag
			}
			v.Today = todayCount{Files: f.Files, Records: f.Records, Bytes: f.Bytes}
			v.Errors.FailedFilesToday, v.Errors.SkippedFilesToday = f.Failed, f.Skipped
		}
		if st, ok := states[src.ID]; ok {
			state := st.Backfill
			v.Backfill.State, v.Backfill.Since = &state, when(st.BackfillSince)
			v.Scan = scanView{IntervalSeconds: uint64(st.ScanInterval / time.Second), LastScan: when(st.LastScan),
				NextScan: when(st.NextScan), LastNew: when(st.LastNew)}
			v.Errors.LastError, v.Errors.ErrorAt = st.LastError, when(st.ErrorAt)
		}
		days := backfill[src.ID]
		for _, d := range days {
			v.Backfill.FilesDone += d.FilesDone
			v.Backfill.FilesTotal += d.FilesTotal
			v.Backfill.Records += d.Records
		}
		v.Backfill.BytesDone, v.Backfill.BytesTotal = backfillBytes(days)
		v.Backfill.DaysTotal = len(days)
		if !q.one() && len(days) > listBackfillDays {
			days = days[len(days)-listBackfillDays:]
		}
		v.Backfill.Days = append([]backfillDay{}, days...)
		v.Completeness = fillDays(complete[src.ID], q)
		if q.one() {
			v.Completeness.MissingFiles = append([]missingFile{}, missing...)
		}
		out = append(out, v)
	}
	return out, nil
}

// backfillBytes: the bytes are kept beside the days (see backfillDays), summed here.
func backfillBytes(days []backfillDay) (done, total uint64) {
	for _, d := range days {
		done += d.bytesDone
		total += d.bytesTotal
	}
	return done, total
}

// when returns t in UTC, nil for the epoch: a DateTime column's zero.
func when(t time.Time) *time.Time {
	if t.Unix() <= 0 {
		return nil
	}
	u := t.UTC()
	return &u
}

// concurrently runs tasks at once and returns their errors joined.
func concurrently(tasks ...func() error) error {
	errs := make([]error, len(tasks))
	var wg sync.WaitGroup
	for i, task := range tasks {
		wg.Go(func() { errs[i] = task() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// fileStats is one source's row of sourceFilesSQL.
type fileStats struct {
	LastKey               string
	LastRead, NewestEvent time.Time
	Files, Records, Bytes uint64
	Failed, Skipped       uint64
}

// sourceFilter returns the condition restricting a query to q's source, and its argument.
func sourceFilter(q sourcesRequest, keyword string) (string, []any) {
	if !q.one() {
		return "", nil
	}
	return " " + keyword + " source = @source", []any{clickhouse.Named("source", q.ID)}
}

func (s *server) fileStats(ctx context.Context, q sourcesRequest) (map[string]fileStats, error) {
	cond, args := sourceFilter(q, "WHERE")
	today := q.Now.UTC().Truncate(24 * time.Hour)
	rows, err := s.store.conn.Query(ctx, fmt.Sprintf(sourceFilesSQL, s.db, cond), append(args, clickhouse.Named("today", today))...)
	if err != nil {
		return nil, fmt.Errorf("read the files ledger: %w", err)
	}
	defer rows.Close()
	out := map[string]fileStats{}
	for rows.Next() {
		var (
			id string
			f  fileStats
		)
		if err := rows.Scan(&id, &f.LastKey, &f.LastRead, &f.NewestEvent, &f.Files, &f.Records, &f.Bytes, &f.Failed, &f.Skipped); err != nil {
			return nil, fmt.Errorf("read the files ledger: %w", err)
		}
		out[id] = f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the files ledger: %w", err)
	}
	return out, nil
}

func (s *server) backfillDays(ctx context.Context, q sourcesRequest) (map[string][]backfillDay, error) {
	cond, args := sourceFilter(q, "AND")
	rows, err := s.store.conn.Query(ctx, fmt.Sprintf(sourceBackfillSQL, s.db, cond), args...)
	if err != nil {
		return nil, fmt.Errorf("read the backfill checkpoints: %w", err)
	}
	defer rows.Close()
	out := map[string][]backfillDay{}
	for rows.Next() {
		var (
			id   string
			day  time.Time
			d    backfillDay
			done uint8
		)
		if err := rows.Scan(&id, &day, &d.FilesDone, &d.FilesTotal, &d.Records, &d.bytesDone, &d.bytesTotal, &done); err != nil {
			return nil, fmt.Errorf("read the backfill checkpoints: %w", err)
		}
		d.Day, d.Done = day.Format(dayLayout), done == 1
		out[id] = append(out[id], d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the backfill checkpoints: %w", err)
	}
	return out, nil
}

// completenessArgs are the parameters of the completeness queries.
func completenessArgs(q sourcesRequest) []any {
	return []any{
		clickhouse.Named("from", q.From.UTC()),
		clickhouse.Named("to", q.To.UTC()),
		clickhouse.Named("ledger_from", q.From.AddDate(0, 0, -1).Format(dayLayout)),
		clickhouse.Named("ledger_to", q.To.Format(dayLayout)),
		clickhouse.Named("cutoff", q.Now.Add(-q.Grace).UTC()),
	}
}

func (s *server) completeness(ctx context.Context, q sourcesRequest) (map[string]*completenessView, error) {
	cond, args := sourceFilter(q, "AND")
	perDay := listMissingFiles
	if q.one() {
		perDay = 0 // the missing files come from missingFiles, in order
	}
	sql := fmt.Sprintf(sourceCompletenessSQL, max(perDay, 1), s.db, cond)
	rows, err := s.store.conn.Query(ctx, sql, append(args, completenessArgs(q)...)...)
	if err != nil {
		return nil, fmt.Errorf("check the digests against the ledger: %w", err)
	}
	defer rows.Close()
	out := map[string]*completenessView{}
	for rows.Next() {
		var (
			id    string
			day   time.Time
			d     completenessDay
			files []string
		)
		if err := rows.Scan(&id, &day, &d.Expected, &d.Read, &d.Unread, &d.Missing, &d.Waiting, &files); err != nil {
			return nil, fmt.Errorf("check the digests against the ledger: %w", err)
		}
		d.Day = day.UTC().Format(dayLayout)
		c := out[id]
		if c == nil {
			c = &completenessView{}
			out[id] = c
		}
		c.Days = append(c.Days, d)
		if perDay == 0 {
			continue
		}
		for _, f := range files {
			if m, ok := parseMissing(f); ok {
				c.MissingFiles = append(c.MissingFiles, m)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check the digests against the ledger: %w", err)
	}
	return out, nil
}

// parseMissing reads one missing file as sourceCompletenessSQL writes it.
func parseMissing(s string) (missingFile, bool) {
	p := strings.SplitN(s, "\t", 6)
	if len(p) != 6 {
		return missingFile{}, false
	}
	hour, err1 := strconv.ParseInt(p[3], 10, 64)
	read, err2 := strconv.ParseInt(p[4], 10, 64)
	if err1 != nil || err2 != nil {
		return missingFile{}, false
	}
	return missingFile{Bucket: p[0], AccountID: p[1], Region: p[2], Hour: time.Unix(hour, 0).UTC(),
		DigestReadAt: time.Unix(read, 0).UTC(), Key: p[5]}, true
}

func (s *server) missingFiles(ctx context.Context, q sourcesRequest) ([]missingFile, error) {
	args := append(completenessArgs(q), clickhouse.Named("source", q.ID))
	rows, err := s.store.conn.Query(ctx, fmt.Sprintf(sourceMissingSQL, s.db, sourceMissingFiles), args...)
	if err != nil {
		return nil, fmt.Errorf("list the missing files: %w", err)
	}
	defer rows.Close()
	var out []missingFile
	for rows.Next() {
		var m missingFile
		if err := rows.Scan(&m.Bucket, &m.Key, &m.AccountID, &m.Region, &m.Hour, &m.DigestReadAt); err != nil {
			return nil, fmt.Errorf("list the missing files: %w", err)
		}
		m.Hour, m.DigestReadAt = m.Hour.UTC(), m.DigestReadAt.UTC()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the missing files: %w", err)
	}
	return out, nil
}

// fillDays returns c with a row for every day of q, those without a digest at zero, and
// the totals; the missing files oldest first.
func fillDays(c *completenessView, q sourcesRequest) completenessView {
	out := completenessView{From: q.From.Format(dayLayout), To: q.To.AddDate(0, 0, -1).Format(dayLayout),
		GraceSeconds: int64(q.Grace / time.Second), Days: []completenessDay{}, MissingFiles: []missingFile{}}
	have := map[string]completenessDay{}
	if c != nil {
		for _, d := range c.Days {
			have[d.Day] = d
		}
		out.MissingFiles = append(out.MissingFiles, c.MissingFiles...)
	}
	for day := q.From; day.Before(q.To); day = day.AddDate(0, 0, 1) {
		d, ok := have[day.Format(dayLayout)]
		if !ok {
			d = completenessDay{Day: day.Format(dayLayout)}
		}
		out.Days = append(out.Days, d)
		out.Expected += d.Expected
		out.Read += d.Read
		out.Missing += d.Missing
	}
	slices.SortFunc(out.MissingFiles, func(a, b missingFile) int {
		if c := a.Hour.Compare(b.Hour); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	if !q.one() && len(out.MissingFiles) > listMissingFiles {
		out.MissingFiles = out.MissingFiles[:listMissingFiles]
	}
	return out
}

// sourcesAPI serves GET /api/sources.
func (s *server) sourcesAPI(w http.ResponseWriter, r *http.Request) {
	q, err := parseSourcesRequest(r.URL.Query(), s.now(), s.grace)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	views, err := s.sourceViews(ctx, q)
	if err != nil {
		internalError(w, r, "the sources could not be read", err)
		return
	}
	writeJSON(w, http.StatusOK, sourcesAnswer{Now: q.Now.UTC().Truncate(time.Second), Sources: views})
}

// sourceAPI serves GET /api/sources/{id}: the source with every backfill day and up to 1000
// missing files.
func (s *server) sourceAPI(w http.ResponseWriter, r *http.Request) {
	q, err := parseSourcesRequest(r.URL.Query(), s.now(), s.grace)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q.ID = r.PathValue("id")
	s.answerSource(w, r, q, http.StatusOK)
}

// answerSource writes the view of the source q.ID with status, 404 when there is none.
func (s *server) answerSource(w http.ResponseWriter, r *http.Request, q sourcesRequest, status int) {
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	views, err := s.sourceViews(ctx, q)
	if err != nil {
		internalError(w, r, "the source could not be read", err)
		return
	}
	if len(views) == 0 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no source %s (GET /api/sources lists them)", quote(q.ID)))
		return
	}
	writeJSON(w, status, views[0])
}

// sourceForm is the body of POST /api/sources.
type sourceForm struct {
	Name        string `json:"name"`
	Bucket      string `json:"bucket"`
	Prefix      string `json:"prefix"`
	Region      string `json:"region"`
	RoleARN     string `json:"role_arn"`
	ExternalID  string `json:"external_id"`
	Environment string `json:"environment"`
	Queue       string `json:"queue"`
	Enabled     *bool  `json:"enabled"` // true when not given
}

// readSourceForm reads a source from a JSON body or a form (URL-encoded or multipart).
func readSourceForm(w http.ResponseWriter, r *http.Request) (sourceForm, error) {
	var f sourceForm
	if r.ContentLength > maxSourceBody {
		return f, &http.MaxBytesError{Limit: maxSourceBody}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxSourceBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return f, fmt.Errorf("body: want a JSON object of name, bucket, prefix, region, role_arn, external_id, environment, queue and enabled: %w", err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return f, errors.New("body: one JSON object only")
		}
	case "application/x-www-form-urlencoded", "multipart/form-data":
		// ParseMultipartForm drops ParseForm's error (a body over the cap) for a body that
		// is not multipart: each is read by its own parser.
		parse := r.ParseForm
		if ct == "multipart/form-data" {
			parse = func() error { return r.ParseMultipartForm(maxSourceBody) }
		}
		if err := parse(); err != nil {
			return f, fmt.Errorf("form: %w", err)
		}
		for name, vs := range r.PostForm {
			v := vs[len(vs)-1] // a checkbox after its hidden default
			switch name {
			case "name":
				f.Name = v
			case "bucket":
				f.Bucket = v
			case "prefix":
				f.Prefix = v
			case "region":
				f.Region = v
			case "role_arn":
				f.RoleARN = v
			case "external_id":
				f.ExternalID = v
			case "environment":
				f.Environment = v
			case "queue":
				f.Queue = v
			case "enabled":
				b, err := parseBool(v)
				if err != nil {
					return f, fmt.Errorf("enabled: %w", err)
				}
				f.Enabled = &b
			default:
				return f, fmt.Errorf("unknown field %s: a source has name, bucket, prefix, region, role_arn, external_id, environment, queue and enabled", quote(name))
			}
		}
	default:
		return f, fmt.Errorf("Content-Type %s: send application/json or a form", quote(r.Header.Get("Content-Type")))
	}
	return f, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "on", "1", "yes":
		return true, nil
	case "false", "off", "0", "no", "":
		return false, nil
	}
	return false, fmt.Errorf("want true or false, not %s", quote(v))
}

// addSource serves POST /api/sources: a source of origin console, its ID its name,
// checked as pkg/sources checks every source. The fetchers start collecting it at their
// next scan.
func (s *server) addSource(w http.ResponseWriter, r *http.Request) {
	f, err := readSourceForm(w, r)
	if err != nil {
		badBody(w, err)
		return
	}
	name := strings.TrimSpace(f.Name)
	src := sources.Source{
		ID: name, Name: name, Origin: sources.OriginConsole, Bucket: strings.TrimSpace(f.Bucket),
		Prefix: strings.TrimSpace(f.Prefix), Region: strings.TrimSpace(f.Region), RoleARN: strings.TrimSpace(f.RoleARN),
		ExternalID: f.ExternalID, Environment: strings.TrimSpace(f.Environment), Queue: strings.TrimSpace(f.Queue),
		Enabled: f.Enabled == nil || *f.Enabled,
	}
	if err := src.Check(); err != nil {
		writeError(w, http.StatusBadRequest, "source: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	ctx, release := writeContext(r)
	defer release()
	old, exists, err := s.sources.Get(ctx, src.ID)
	if err != nil {
		internalError(w, r, "the source could not be added", err)
		return
	}
	if exists {
		writeError(w, http.StatusConflict, fmt.Sprintf("there is a source %q already (origin %s): choose another name", src.ID, old.Origin))
		return
	}
	if err := s.sources.Put(ctx, src); err != nil {
		internalError(w, r, "the source could not be added", err)
		return
	}
	slog.Info("source added on the console", "source", src.ID, "bucket", src.Bucket, "prefix", src.Prefix, "enabled", src.Enabled)
	s.record(r, "source-add", src.ID, auth.OK, fmt.Sprintf("bucket=%s prefix=%s enabled=%t", src.Bucket, src.Prefix, src.Enabled))
	q, _ := parseSourcesRequest(nil, s.now(), s.grace)
	q.ID = src.ID
	w.Header().Set("Location", "/api/sources/"+url.PathEscape(src.ID))
	s.answerSource(w, r, q, http.StatusCreated)
}

// setEnabled serves POST /api/sources/{id}/enable and /disable. The fetchers read the
// sources again at every scan, so the change takes effect within one scan interval.
func (s *server) setEnabled(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		ctx, release := writeContext(r)
		defer release()
		if _, ok, err := s.sources.Get(ctx, id); err != nil || !ok {
			if err != nil {
				internalError(w, r, "the source could not be switched", err)
				return
			}
			writeError(w, http.StatusNotFound, fmt.Sprintf("no source %s (GET /api/sources lists them)", quote(id)))
			return
		}
		if err := s.sources.SetEnabled(ctx, id, enabled); err != nil {
			internalError(w, r, "the source could not be switched", err)
			return
		}
		slog.Info("source switched on the console", "source", id, "enabled", enabled)
		s.record(r, map[bool]string{true: "source-enable", false: "source-disable"}[enabled], id, auth.OK, "")
		q, _ := parseSourcesRequest(nil, s.now(), s.grace)
		q.ID = id
		s.answerSource(w, r, q, http.StatusOK)
	}
}

// removeSource serves DELETE /api/sources/{id}, for a source added on the console only: the
// others would come back from where they are defined. The files read from it stay in the
// ledger.
func (s *server) removeSource(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx, release := writeContext(r)
	defer release()
	src, ok, err := s.sources.Get(ctx, id)
	switch {
	case err != nil:
		internalError(w, r, "the source could not be removed", err)
		return
	case !ok:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no source %s (GET /api/sources lists them)", quote(id)))
		return
	case src.Origin != sources.OriginConsole:
		writeError(w, http.StatusConflict, notRemovable(src))
		return
	}
	if err := s.sources.Remove(ctx, id); err != nil {
		internalError(w, r, "the source could not be removed", err)
		return
	}
	slog.Info("source removed on the console", "source", id)
	s.record(r, "source-remove", id, auth.OK, "")
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "removed": true})
}

// notRemovable says why the console does not remove src, and what to do instead.
func notRemovable(src sources.Source) string {
	switch src.Origin {
	case sources.OriginFile:
		return fmt.Sprintf("source %q comes from the --sources file: remove it there (the fetchers read the file at start), or disable it here", src.ID)
	case sources.OriginDiscovery:
		return fmt.Sprintf("source %q is the discovered trail %s: it goes when the trail is deleted; disable it here to stop collecting it", src.ID, src.TrailARN)
	case sources.OriginFlags:
		return fmt.Sprintf("source %q is the one of --s3-bucket and --sqs-queue: change the fetcher's flags, or disable it here", src.ID)
	}
	return fmt.Sprintf("source %q (origin %q) was not added on the console: disable it instead", src.ID, src.Origin)
}

// sourcesPageData is what the sources page template shows; the page's script draws the
// table from /api/sources.
type sourcesPageData struct {
	Title, Description string
	Header             pageHeader
	Days               []int // the completeness choices
}

// sourcesInfo is the sources page as the navigation bar names it.
var sourcesInfo = dashboard{"sources", "Sources",
	"Where CloudTrail files come from and how collection is doing: a switch per source (the fetchers follow it within one scan interval), " +
		"the last file read, today's files and records, the lag behind the newest event, backfill progress, the next scan, errors, and " +
		"per UTC day the files CloudTrail's digests list against those read; a missing count opens the keys never read."}

// sourcesPage serves GET /sources.
func (s *server) sourcesPage(w http.ResponseWriter, r *http.Request) {
	pg := sourcesPageData{Title: sourcesInfo.Title, Description: sourcesInfo.Description, Header: header(r, sourcesInfo.ID),
		Days: []int{1, 3, 7, 14, 31}}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := sourcesTemplate.Execute(w, pg); err != nil {
		slog.Error("render sources page", "err", err)
	}
}
