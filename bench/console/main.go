// Command console times every panel of the console (`make bench-console`) on generated data:
// it loads BENCH_CONSOLE_EVENTS generated CloudTrail events (10 million) spread over the 30
// days before now into a database of its own, with about 1 % of them delivered twice, as a
// redelivery would, so that FINAL has duplicates to fold; serves the console's handler on a
// loopback port; asks GET /api/panels/{id} for each panel at its default window and at 30
// days (range=720h) several times; and writes p50 and p95 per panel as a markdown table to
// stdout and to bench/results/console.md. For a few panels it also runs the panel's SQL with
// and without FINAL on the events table, to show what FINAL costs.
//
// The database is kept between runs: when it already holds exactly the events asked for and
// its newest event is less than an hour old, loading is skipped; otherwise it is dropped and
// loaded again.
//
// Settings (environment): BENCH_CONSOLE_EVENTS (10000000), BENCH_CONSOLE_DATABASE
// (bench_console), BENCH_CONSOLE_RUNS (timed requests per panel and window, 5),
// BENCH_CONSOLE_LONG_RUNS (at 30 days, 3), BENCH_CONSOLE_WORKERS (loading goroutines, the number of CPUs), BENCH_CONSOLE_FINAL_PANELS
// (comma-separated panel IDs of the FINAL comparison), BENCH_CONSOLE_OUT
// (bench/results/console.md), TRAILSTREAM_CLICKHOUSE_ADDR, _USER, _PASSWORD.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trailstream/trailstream/pkg/admins"
	"github.com/trailstream/trailstream/pkg/chstore"
	"github.com/trailstream/trailstream/pkg/generate"
	"github.com/trailstream/trailstream/pkg/geo"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
	"github.com/trailstream/trailstream/pkg/rules"
	"github.com/trailstream/trailstream/services/console"
)

const (
	span       = 30 * 24 * time.Hour // the time the events spread over, ending now
	chunks     = 30                  // the load is generated a day at a time, each day its own seed
	batchRows  = 100_000             // rows a ClickHouse insert
	dupEvery   = 100                 // every 100th event is delivered again: 1 %
	staleAfter = time.Hour           // a kept database whose newest event is older is loaded again
	slowP95    = time.Second         // the goal for a panel at its default window
)

// defaultFinalPanels are the panels of the FINAL comparison: a count over every user's
// events, an hourly series of all events, a selective single value, a table behind the
// admin-list subquery, a table reading the raw record, a map, and the day-over-day compare.
var defaultFinalPanels = []string{"overview-top-users", "ops-services-over-time", "overview-failed-logins",
	"users-admin-recent-activity", "netsec-sg-nacl-changes", "overview-geo", "logins-time-compare"}

type settings struct {
	events, runs, workers int
	longRuns              int // runs at 30 days
	db, out               string
	addr, user, password  string
	finalPanels           []string
}

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s, err := readSettings()
	if err == nil {
		err = run(ctx, s)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-console:", err)
		os.Exit(1)
	}
}

func readSettings() (settings, error) {
	s := settings{
		events: 10_000_000, runs: 5, longRuns: 3, workers: runtime.NumCPU(),
		db: env("BENCH_CONSOLE_DATABASE", "bench_console"), out: env("BENCH_CONSOLE_OUT", "bench/results/console.md"),
		addr: env("TRAILSTREAM_CLICKHOUSE_ADDR", "127.0.0.1:9000"), user: env("TRAILSTREAM_CLICKHOUSE_USER", "default"),
		password: os.Getenv("TRAILSTREAM_CLICKHOUSE_PASSWORD"), finalPanels: defaultFinalPanels,
	}
	for _, n := range []struct {
		name string
		dst  *int
	}{{"BENCH_CONSOLE_EVENTS", &s.events}, {"BENCH_CONSOLE_RUNS", &s.runs}, {"BENCH_CONSOLE_LONG_RUNS", &s.longRuns}, {"BENCH_CONSOLE_WORKERS", &s.workers}} {
		v := os.Getenv(n.name)
		if v == "" {
			continue
		}
		i, err := strconv.Atoi(v)
		if err != nil || i < 1 {
			return s, fmt.Errorf("%s=%q: want a whole number of at least 1", n.name, v)
		}
		*n.dst = i
	}
	if s.events < chunks*1000 {
		return s, fmt.Errorf("BENCH_CONSOLE_EVENTS=%d: want at least %d (a thousand a day)", s.events, chunks*1000)
	}
	if v := os.Getenv("BENCH_CONSOLE_FINAL_PANELS"); v != "" {
		s.finalPanels = strings.Split(v, ",")
	}
	return s, nil
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, s settings) error {
	log := slog.Default()
	conn, err := chstore.ConnectMigrated(ctx, chstore.Options{Addr: s.addr, User: s.user, Password: s.password}, s.db, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	fresh, err := loaded(ctx, conn, s)
	if err != nil {
		return err
	}
	if !fresh {
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+s.db); err != nil {
			return fmt.Errorf("drop %s: %w", s.db, err)
		}
		if err := chstore.Migrate(ctx, conn, s.db, log); err != nil {
			return err
		}
		if err := load(ctx, conn, s); err != nil {
			return err
		}
		if err := settle(ctx, conn, s.db); err != nil {
			return err
		}
	}
	info, err := describe(ctx, conn, s)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: console.Handler(conn, s.db, console.Options{HomeCountries: []string{"US"}}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	list, err := panelList(ctx, base)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "timing %d panels, %d runs each at the default window and %d at 30 days ...\n", len(list), s.runs, s.longRuns)
	results := make([]panelResult, len(list))
	for i, p := range list {
		r := panelResult{info: p, def: timePanel(ctx, base, p.ID, "", s.runs), month: timePanel(ctx, base, p.ID, "720h", s.longRuns)}
		if err := ctx.Err(); err != nil {
			return err
		}
		results[i] = r
		fmt.Fprintf(os.Stderr, "  %-40s default %s p95 %s   30 days %s p95 %s\n", p.ID,
			r.def.cell(r.def.p50), r.def.cell(r.def.p95), r.month.cell(r.month.p50), r.month.cell(r.month.p95))
	}
	var finals []finalResult
	for _, id := range s.finalPanels {
		for _, rng := range []string{"", "720h"} {
			f, err := compareFinal(ctx, conn, base, s, id, rng)
			if err != nil {
				fmt.Fprintf(os.Stderr, "  %-40s %s: FINAL comparison skipped: %v\n", id, rng, err)
				continue
			}
			finals = append(finals, f)
			fmt.Fprintf(os.Stderr, "  %-40s %-7s FINAL p95 %s, without %s\n", id, f.window, ms(f.final), ms(f.plain))
		}
	}
	md := report(s, info, results, finals)
	fmt.Print(md)
	if err := os.MkdirAll(dirOf(s.out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(s.out, []byte(md), 0o644)
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i]
	}
	return "."
}

// loaded tells whether the database already holds the events asked for, recent enough for
// the default windows.
func loaded(ctx context.Context, conn driver.Conn, s settings) (bool, error) {
	var n uint64
	var newest time.Time
	if err := conn.QueryRow(ctx, "SELECT count(), max(event_time) FROM "+s.db+".events FINAL").Scan(&n, &newest); err != nil {
		return false, fmt.Errorf("count the events of %s: %w", s.db, err)
	}
	switch {
	case n == 0:
		return false, nil
	case n != uint64(s.events):
		fmt.Fprintf(os.Stderr, "%s holds %d events, not %d: loading again\n", s.db, n, s.events)
		return false, nil
	case time.Since(newest) > staleAfter:
		fmt.Fprintf(os.Stderr, "%s: its newest event is from %s, older than %v: loading again\n", s.db, newest.UTC().Format(time.RFC3339), staleAfter)
		return false, nil
	}
	fmt.Fprintf(os.Stderr, "%s already holds the %d events: loading skipped\n", s.db, n)
	return true, nil
}

// load generates, normalizes and inserts s.events events over the span before now, a day at
// a time in s.workers goroutines, each day with its own seed, with the detections of the
// built-in rules, and every dupEvery-th event inserted a second time in a later insert.
func load(ctx context.Context, conn driver.Conn, s settings) error {
	t0 := time.Now()
	end := t0.UTC().Truncate(time.Second)
	start := end.Add(-span)
	loc, err := geo.New("")
	if err != nil {
		return err
	}
	defer loc.Close()
	var list admins.List
	list.Set(generate.AdminUsers())
	if err := admins.Store(ctx, conn, s.db, generate.AdminUsers()); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "loading %d events (%d redelivered) from %s to %s into %s with %d workers ...\n",
		s.events, s.events/dupEvery, start.Format(time.RFC3339), end.Format(time.RFC3339), s.db, s.workers)
	var done atomic.Int64
	jobs := make(chan int)
	errc := make(chan error, s.workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range s.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := &normalize.Normalizer{Environment: "bench", Geo: loc, Admins: &list}
			for c := range jobs {
				if err := loadChunk(ctx, conn, s, n, start, c, &done); err != nil {
					errc <- fmt.Errorf("day %d: %w", c+1, err)
					cancel()
					return
				}
				fmt.Fprintf(os.Stderr, "  %d of %d events, %.0f s\n", done.Load(), s.events, time.Since(t0).Seconds())
			}
		}()
	}
send:
	for c := range chunks {
		select {
		case jobs <- c:
		case <-ctx.Done():
			break send
		}
	}
	close(jobs)
	wg.Wait()
	close(errc)
	if err := errors.Join(<-errc, ctx.Err()); err != nil {
		return err
	}
	secs := time.Since(t0).Seconds()
	fmt.Fprintf(os.Stderr, "loaded %d events in %.0f s, %.0f events/s\n", s.events, secs, float64(s.events)/secs)
	return nil
}

// loadChunk loads day c of the span.
func loadChunk(ctx context.Context, conn driver.Conn, s settings, n *normalize.Normalizer, start time.Time, c int, done *atomic.Int64) error {
	count := s.events / chunks
	if c == chunks-1 {
		count = s.events - count*(chunks-1)
	}
	day := span / chunks
	opts := generate.Options{Events: count, Seed: uint64(c + 1), Start: start.Add(time.Duration(c) * day), Span: day}
	engine := rules.NewEngine(rules.Default())
	ins := newInserter(conn, s.db+".events", model.EventFields())
	var dups, dets [][]any
	i := 0
	for rec := range generate.Records(opts) {
		e, err := n.Normalize(rec.JSON)
		if err != nil {
			return fmt.Errorf("normalize a generated record: %w", err)
		}
		row := e.Values(nil)
		if err := ins.add(ctx, row); err != nil {
			return err
		}
		if i%dupEvery == dupEvery-1 {
			dups = append(dups, row)
		}
		for _, d := range engine.Observe(e, rules.Position{Offset: int64(i)}) {
			dets = append(dets, d.Values(nil))
		}
		i++
		if i%batchRows == 0 {
			done.Add(batchRows)
		}
	}
	if err := ins.flush(ctx); err != nil {
		return err
	}
	done.Add(int64(i % batchRows))
	// The redelivered events arrive in an insert of their own, as a redelivery does.
	for _, b := range []struct {
		table   string
		columns []string
		rows    [][]any
	}{{s.db + ".events", model.EventFields(), dups}, {s.db + ".detections", model.DetectionFields(), dets}} {
		in := newInserter(conn, b.table, b.columns)
		for _, r := range b.rows {
			if err := in.add(ctx, r); err != nil {
				return err
			}
		}
		if err := in.flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// inserter inserts rows into a table batchRows at a time, naming the columns as ClickHouse
// 18.16 needs.
type inserter struct {
	conn    driver.Conn
	query   string
	batch   driver.Batch
	pending int
}

func newInserter(conn driver.Conn, table string, columns []string) *inserter {
	return &inserter{conn: conn, query: "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ")"}
}

func (in *inserter) add(ctx context.Context, row []any) error {
	if in.batch == nil {
		b, err := in.conn.PrepareBatch(ctx, in.query)
		if err != nil {
			return fmt.Errorf("%s: %w", in.query, err)
		}
		in.batch = b
	}
	if err := in.batch.Append(row...); err != nil {
		return fmt.Errorf("%s: %w", in.query, err)
	}
	in.pending++
	if in.pending >= batchRows {
		return in.flush(ctx)
	}
	return nil
}

func (in *inserter) flush(ctx context.Context) error {
	if in.batch == nil {
		return nil
	}
	b := in.batch
	in.batch, in.pending = nil, 0
	if err := b.Send(); err != nil {
		return fmt.Errorf("%s: %w", in.query, err)
	}
	return nil
}

// settle waits, up to five minutes, until ClickHouse has no merge of db running, so that the
// timings do not share the machine with the merges the load started.
func settle(ctx context.Context, conn driver.Conn, db string) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.merges WHERE database = ?", db).Scan(&n); err != nil {
			return fmt.Errorf("read system.merges: %w", err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	fmt.Fprintln(os.Stderr, "merges still running after five minutes; timing anyway")
	return nil
}

// dataInfo describes the database the panels were timed on.
type dataInfo struct {
	version              string
	rows, events, parts  uint64
	oldest, newest       time.Time
	detections, bytesOnD uint64
}

func describe(ctx context.Context, conn driver.Conn, s settings) (dataInfo, error) {
	var d dataInfo
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&d.version); err != nil {
		return d, err
	}
	if err := conn.QueryRow(ctx, "SELECT count(), min(event_time), max(event_time) FROM "+s.db+".events").Scan(&d.rows, &d.oldest, &d.newest); err != nil {
		return d, err
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+s.db+".events FINAL").Scan(&d.events); err != nil {
		return d, err
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+s.db+".detections FINAL").Scan(&d.detections); err != nil {
		return d, err
	}
	if err := conn.QueryRow(ctx, "SELECT count(), sum(bytes_on_disk) FROM system.parts WHERE active AND database = ? AND table = 'events'", s.db).Scan(&d.parts, &d.bytesOnD); err != nil {
		return d, err
	}
	return d, nil
}

// panelInfo is what the bench reads of GET /api/dashboards.
type panelInfo struct {
	ID, Title, Kind, Dashboard string
	Window                     string
}

func panelList(ctx context.Context, base string) ([]panelInfo, error) {
	var body struct {
		Dashboards []struct {
			ID     string `json:"id"`
			Panels []struct {
				ID     string `json:"id"`
				Title  string `json:"title"`
				Kind   string `json:"kind"`
				Window string `json:"window"`
			} `json:"panels"`
		} `json:"dashboards"`
	}
	b, _, err := get(ctx, base+"/api/dashboards")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return nil, fmt.Errorf("GET /api/dashboards: %w", err)
	}
	var out []panelInfo
	for _, d := range body.Dashboards {
		for _, p := range d.Panels {
			out = append(out, panelInfo{ID: p.ID, Title: p.Title, Kind: p.Kind, Dashboard: d.ID, Window: p.Window})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("GET /api/dashboards lists no panels")
	}
	return out, nil
}

// get fetches url and returns its body and how long the whole answer took.
func get(ctx context.Context, url string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	d := time.Since(t0)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(b))
	}
	return b, d, nil
}

// timing is the p50 and p95 of a panel's timed requests at one window, and the rows the
// last one returned; or the error of the request that failed.
type timing struct {
	p50, p95 time.Duration
	rows     int
	err      error
}

// cell is d as a table cell, or "failed" when the panel failed.
func (t timing) cell(d time.Duration) string {
	if t.err != nil {
		return "failed"
	}
	return ms(d)
}

type panelResult struct {
	info       panelInfo
	def, month timing
}

// panelAnswer is what the bench reads of GET /api/panels/{id}.
type panelAnswer struct {
	From time.Time         `json:"from"`
	To   time.Time         `json:"to"`
	SQL  string            `json:"sql"`
	Rows []json.RawMessage `json:"rows"`
}

// timePanel asks for panel id at range rng ("": its default window) once to warm up, then
// runs times, and returns the percentiles of the timed ones. A failed request (the
// console gives a query 30 s) ends the panel's timing at that window with its error.
func timePanel(ctx context.Context, base, id, rng string, runs int) timing {
	url := base + "/api/panels/" + id
	if rng != "" {
		url += "?range=" + rng
	}
	var t timing
	ds := make([]time.Duration, 0, runs)
	for i := 0; i <= runs; i++ {
		t0 := time.Now()
		b, d, err := get(ctx, url)
		if err != nil {
			t.err = fmt.Errorf("after %s: %w", ms(time.Since(t0)), err)
			return t
		}
		if i == 0 {
			continue
		}
		ds = append(ds, d)
		var a panelAnswer
		if err := json.Unmarshal(b, &a); err != nil {
			t.err = fmt.Errorf("GET %s: %w", url, err)
			return t
		}
		t.rows = len(a.Rows)
	}
	t.p50, t.p95 = percentile(ds, 50), percentile(ds, 95)
	return t
}

// percentile is the nearest-rank percentile p of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(i, 0)]
}

// finalResult compares a panel's SQL with and without FINAL on the events table.
type finalResult struct {
	panel, window string
	final, plain  time.Duration // p95
	same          bool          // both give the same rows
}

// compareFinal runs the SQL the console answers for panel id at range rng, as it is and
// without FINAL on the events table, runs times each after a warm-up, alternating.
func compareFinal(ctx context.Context, conn driver.Conn, base string, s settings, id, rng string) (finalResult, error) {
	f := finalResult{panel: id, window: "default"}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	url := base + "/api/panels/" + id
	if rng != "" {
		url += "?range=" + rng
		f.window = "30 days"
	}
	b, _, err := get(ctx, url)
	if err != nil {
		return f, err
	}
	var a panelAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return f, fmt.Errorf("GET %s: %w", url, err)
	}
	withFinal := s.db + ".events FINAL"
	if !strings.Contains(a.SQL, withFinal) {
		return f, fmt.Errorf("panel %s: its SQL does not read %s", id, withFinal)
	}
	plain := strings.ReplaceAll(a.SQL, withFinal, s.db+".events")
	// The parameters the console binds (services/console/panels.go, store.args).
	args := []any{
		clickhouse.Named("from", a.From.UTC()),
		clickhouse.Named("to", a.To.UTC()),
		clickhouse.Named("lookback", a.From.UTC().Truncate(time.Hour).Add(-10*time.Hour)),
		clickhouse.Named("home_countries", []string{"US"}),
	}
	var df, dp []time.Duration
	var rf, rp string
	runs := s.runs
	if rng != "" {
		runs = s.longRuns
	}
	for i := 0; i <= runs; i++ {
		for _, q := range []struct {
			sql  string
			ds   *[]time.Duration
			rows *string
		}{{a.SQL, &df, &rf}, {plain, &dp, &rp}} {
			t0 := time.Now()
			rows, err := queryRows(ctx, conn, q.sql, args)
			if err != nil {
				return f, fmt.Errorf("panel %s: %w", id, err)
			}
			if i > 0 {
				*q.ds = append(*q.ds, time.Since(t0))
			}
			*q.rows = rows
		}
	}
	f.final, f.plain, f.same = percentile(df, 95), percentile(dp, 95), rf == rp
	return f, nil
}

// queryRows runs sql and returns its rows, read to the end, as text to compare.
func queryRows(ctx context.Context, conn driver.Conn, sql string, args []any) (string, error) {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	var out strings.Builder
	for rows.Next() {
		dest := make([]any, len(types))
		for i, t := range types {
			dest[i] = reflect.New(t.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return "", err
		}
		for _, d := range dest {
			fmt.Fprint(&out, reflect.ValueOf(d).Elem().Interface(), "\t")
		}
		out.WriteByte('\n')
	}
	return out.String(), rows.Err()
}

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.0f s", d.Seconds())
	}
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// report renders the results as markdown.
func report(s settings, d dataInfo, results []panelResult, finals []finalResult) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "# Console panels on %d generated events over 30 days\n\n", d.events)
	fmt.Fprintf(&b, "`make bench-console`, %s, host %s, %d CPUs, ClickHouse %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), d.version)
	fmt.Fprintf(&b, "Database `%s`: %d events (%d rows stored: %d redelivered events still stored twice), %s to %s, %d active parts of the events table, %.1f GiB on disk; %d detections of the built-in rules.\n\n",
		s.db, d.events, d.rows, d.rows-d.events, d.oldest.UTC().Format(time.RFC3339), d.newest.UTC().Format(time.RFC3339), d.parts, float64(d.bytesOnD)/(1<<30), d.detections)
	fmt.Fprintf(&b, "Each panel is asked for by `GET /api/panels/{id}` (the console's handler on a loopback port, one request at a time) once to warm up, then %d times at its default window "+
		"and %d times at 30 days (`?range=720h`); p50 and p95 are nearest-rank percentiles of those runs (with so few, p95 is the slowest). "+
		"Rows: what the panel returned. **Bold**: a default-window p95 over %v. The machine is shared, so a single slow run can be another process's doing.\n\n", s.runs, s.longRuns, slowP95)
	b.WriteString("| panel | kind | window | p50 | p95 | rows | 30 days p50 | 30 days p95 | rows |\n|---|---|---|--:|--:|--:|--:|--:|--:|\n")
	var slow, failed []string
	for _, r := range results {
		for _, t := range []struct {
			window string
			t      timing
		}{{r.info.Window, r.def}, {"30 days", r.month}} {
			if t.t.err != nil {
				failed = append(failed, fmt.Sprintf("%s at %s: %v", r.info.ID, t.window, t.t.err))
			}
		}
		p95 := r.def.cell(r.def.p95)
		if r.def.err != nil || r.def.p95 > slowP95 {
			p95 = "**" + p95 + "**"
			slow = append(slow, r.info.ID)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d | %s | %s | %d |\n", r.info.ID, r.info.Kind, r.info.Window,
			r.def.cell(r.def.p50), p95, r.def.rows, r.month.cell(r.month.p50), r.month.cell(r.month.p95), r.month.rows)
	}
	for _, f := range failed {
		fmt.Fprintf(&b, "\nFailed: %s\n", f)
	}
	if len(slow) == 0 {
		fmt.Fprintf(&b, "\nEvery panel's default-window p95 is under %v.\n", slowP95)
	} else {
		fmt.Fprintf(&b, "\nDefault-window p95 over %v: %s.\n", slowP95, strings.Join(slow, ", "))
	}
	if len(finals) > 0 {
		fmt.Fprintf(&b, "\n## What FINAL costs\n\nThe SQL the console ran for the panel, straight to ClickHouse (native protocol, rows read to the end), as it is and with `%s.events` read without FINAL; a warm-up, then %d runs of each (%d at 30 days), alternating. "+
			"Same rows: whether the answer without FINAL is the same (it differs when a redelivered event is in the window and not yet merged away).\n\n", s.db, s.runs, s.longRuns)
		b.WriteString("| panel | window | p95 with FINAL | p95 without | FINAL costs | same rows |\n|---|---|--:|--:|--:|---|\n")
		for _, f := range finals {
			same := "yes"
			if !f.same {
				same = "no"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %.1fx | %s |\n", f.panel, f.window, ms(f.final), ms(f.plain), f.final.Seconds()/max(f.plain.Seconds(), 1e-6), same)
		}
	}
	return b.String()
}
