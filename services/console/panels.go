package console

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// panel is one dashboard panel: what it shows and the query behind it. Adding a panel or a
// whole dashboard is adding rows to the panels and dashboards tables.
type panel struct {
	ID        string
	Dashboard string
	Title     string
	// Kind says how the rows are drawn and shaped:
	//
	//	map                  location, country_code, latitude, longitude, events, city, and the panel's own
	//	pie, column, bar     name, value
	//	stacked-column, line time (start of the hour), series, value: one row per hour and series with data
	//	outlier-line         time, value, mean, lower, upper, outlier: every hour of the window
	//	single               value
	//	table                the panel's columns
	//	detections           a table of detections: time, severity, rule_id, title, account_id,
	//	                     environment, resource_type, resource_name, actors, events, then
	//	                     the columns marked Detail, which a row's expandable detail shows
	Kind string
	// Table says what the panel's rows count: "" events, "detections" detections. A
	// detections panel reads {dfilter} (the time range on first_time and the filters) and
	// takes the filters of parseDetectionSelection.
	Table   string
	Columns []column
	// Window is the time the panel shows when the request names none, ending now.
	Window time.Duration
	// Description says what the panel counts, and where it deliberately differs from the
	// product the dashboards answer.
	Description string
	// Match is the condition selecting the events the panel counts. SQL reads it as
	// {match}, and the events search's panel=ID applies it, so a drill-down lists the
	// events behind an element.
	Match string
	// SQL returns the columns in order. It reads {events} (the events table with FINAL,
	// so a redelivered event counts once), {detections} and {admin_users}, and restricts
	// events with {filter} (time range and filters) or {dims} (the filters alone), and
	// detections with {detection_filter} (the events filters, through the detections'
	// events) or, in a detections panel, {dfilter} (time range and filters), whose
	// values are bound as parameters: @from, @to, @lookback (ten hours before the hour of
	// @from), @home_countries and one named after each filter.
	SQL string
	// Drill maps a row column to the events filter a click on it adds: a filter name, or
	// "hour" (the hour starting at the time) or "second" (the second of the time).
	Drill map[string]string
	// Geolocated panels show where source addresses are; a page with one credits the
	// geolocation data (geo.Attribution).
	Geolocated bool
	// DrillPage is the page a click opens: "" the events search (with panel=ID), or
	// "/detections", which a click filters in place. A drill to detection_id opens the
	// events of that detection alone.
	DrillPage string
	// Palette names the colours of the series: "" the default palette, "severity" the
	// severities' colours, from calm to alarming.
	Palette string
}

// column describes one column of a panel's rows.
type column struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Type  string `json:"type"` // string, number, bool, time (RFC 3339, UTC), list (of strings) or json (a JSON text)
	// Detail columns are shown in a row's expandable detail rather than as a column.
	Detail bool `json:"detail,omitempty"`
}

// findPanel returns the panel with the given ID, of a dashboard or of the detections page.
func findPanel(id string) (panel, bool) {
	for _, ps := range [][]panel{panels, detectionPanels} {
		for _, p := range ps {
			if p.ID == id {
				return p, true
			}
		}
	}
	return panel{}, false
}

// panelData is the JSON answer for one panel.
type panelData struct {
	Panel   string            `json:"panel"`
	Title   string            `json:"title"`
	Kind    string            `json:"kind"`
	From    time.Time         `json:"from"`
	To      time.Time         `json:"to"`
	Filters map[string]string `json:"filters"`
	Columns []column          `json:"columns"`
	Rows    [][]any           `json:"rows"`
	// Truncated: the query returned more than maxPanelRows rows; Rows are the first.
	Truncated bool   `json:"truncated,omitempty"`
	SQL       string `json:"sql"`
}

// maxPanelRows bounds the rows of a panel's answer. The tables and lists stop at 1000
// rows or fewer by their own LIMIT; this bounds the hourly series too, whose rows grow
// with the window and the number of series (92 days of hours is 2208 rows a series).
const maxPanelRows = 10_000

// store runs the panel queries against one ClickHouse database.
type store struct {
	// conn runs at most maxQueries queries at once: the panels, the events search and
	// download, the detections and the sources page all query through it.
	conn *limitedConn
	db   string
	home []string // the home countries of logins-outside-country
}

func newStore(conn driver.Conn, db string, home []string) *store {
	return &store{conn: limitQueries(conn, maxQueries, queryWait), db: db, home: home}
}

const (
	// maxQueries bounds the ClickHouse queries the console's pages and API run at once,
	// whatever the number of requests: below clickhouse-go's pool of 10 connections, so
	// sign-ins and uploads still find one, and few enough that ClickHouse's cores are not
	// split between dozens of heavy scans.
	maxQueries = 8
	// queryWait is how long a query waits for one of the maxQueries slots; after it the
	// request is answered 503 with Retry-After rather than queued without end.
	queryWait = 3 * time.Second
)

// limitedConn is a ClickHouse connection that runs at most cap(slots) queries at once. A
// query waits up to wait for a slot, then fails with errBusy; it holds its slot until its
// rows are closed (Query), its row is read (QueryRow) or it returns (Select). Every query
// also tells ClickHouse its context's deadline (max_execution_time), so the server stops
// it on time even when the client's cancel does not reach it. Inserts and statements go
// through unbounded.
type limitedConn struct {
	driver.Conn
	slots chan struct{}
	wait  time.Duration
}

// limitQueries returns conn bounded to n queries at once, each waiting up to wait for its
// turn; conn itself when it is bounded already.
func limitQueries(conn driver.Conn, n int, wait time.Duration) *limitedConn {
	if c, ok := conn.(*limitedConn); ok {
		return c
	}
	return &limitedConn{Conn: conn, slots: make(chan struct{}, n), wait: wait}
}

// acquire takes a slot, waiting up to c.wait, and returns the function that gives it back
// (once, however often it is called).
func (c *limitedConn) acquire(ctx context.Context) (func(), error) {
	select {
	case c.slots <- struct{}{}:
	default:
		t := time.NewTimer(c.wait)
		defer t.Stop()
		select {
		case c.slots <- struct{}{}:
		case <-t.C:
			return nil, fmt.Errorf("%w (%d): none was free within %v", errBusy, cap(c.slots), c.wait)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var once sync.Once
	return func() { once.Do(func() { <-c.slots }) }, nil
}

// timed returns ctx with ClickHouse's max_execution_time set to the time left before its
// deadline, whole seconds rounded up; ctx itself when it has none.
func timed(ctx context.Context) context.Context {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ctx
	}
	secs := int(math.Ceil(time.Until(deadline).Seconds()))
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_execution_time": max(secs, 1)}))
}

// Query implements driver.Conn.
func (c *limitedConn) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	release, err := c.acquire(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.Conn.Query(timed(ctx), query, args...)
	if err != nil {
		release()
		return nil, err
	}
	return &limitedRows{Rows: rows, release: release}, nil
}

// QueryRow implements driver.Conn; the slot is given back when the row is scanned or its
// error read.
func (c *limitedConn) QueryRow(ctx context.Context, query string, args ...any) driver.Row {
	release, err := c.acquire(ctx)
	if err != nil {
		return failedRow{err}
	}
	return &limitedRow{Row: c.Conn.QueryRow(timed(ctx), query, args...), release: release}
}

// Select implements driver.Conn.
func (c *limitedConn) Select(ctx context.Context, dest any, query string, args ...any) error {
	release, err := c.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	return c.Conn.Select(timed(ctx), dest, query, args...)
}

type limitedRows struct {
	driver.Rows
	release func()
}

func (r *limitedRows) Close() error {
	defer r.release()
	return r.Rows.Close()
}

type limitedRow struct {
	driver.Row
	release func()
}

func (r *limitedRow) Err() error {
	defer r.release()
	return r.Row.Err()
}

func (r *limitedRow) Scan(dest ...any) error {
	defer r.release()
	return r.Row.Scan(dest...)
}

func (r *limitedRow) ScanStruct(dest any) error {
	defer r.release()
	return r.Row.ScanStruct(dest)
}

// failedRow is the row of a query that did not start.
type failedRow struct{ err error }

func (r failedRow) Err() error           { return r.err }
func (r failedRow) Scan(...any) error    { return r.err }
func (r failedRow) ScanStruct(any) error { return r.err }

// expand returns sql with its placeholders replaced for sel: the tables, the filter
// conditions (with their parameter names, never their values) and match.
func (s *store) expand(sql, match string, sel selection) string {
	// The events conditions, and the detections' own.
	var onEvents, onDetections []string
	for _, c := range sel.Filters {
		if c.Detection {
			onDetections = append(onDetections, c.SQL)
		} else {
			onEvents = append(onEvents, c.SQL)
		}
	}
	dims := "1"
	if len(onEvents) > 0 {
		dims = strings.Join(onEvents, " AND ")
	}
	// A detection matches the events filters when one of its events does; its events lie
	// within ten minutes of each other, so a day around the window holds them.
	detections := "1"
	if len(onEvents) > 0 {
		detections = "hasAny(event_ids, (SELECT groupArray(event_id) FROM {events} WHERE event_time >= @from - 86400 AND event_time < @to + 86400 AND " + dims + "))"
	}
	// The detections of a detections panel: those that began in the window, with the
	// detections filters and, for the events filters, an event that matches them.
	dfilter := "first_time >= @from AND first_time < @to"
	for _, c := range onDetections {
		dfilter += " AND " + c
	}
	if len(onEvents) > 0 {
		dfilter += " AND " + detections
	}
	home := "0"
	if len(s.home) > 0 {
		home = "has(@home_countries, country_code)"
	}
	if match == "" {
		match = "1"
	}
	filter := "event_time >= @from AND event_time < @to"
	if len(onEvents) > 0 {
		filter += " AND " + dims
	}
	// In three passes, as a replacement may hold the placeholders of a later pass: the
	// match and the detections conditions, then the events conditions, then the tables.
	sql = strings.NewReplacer("{match}", "("+match+")", "{detection_filter}", detections, "{dfilter}", dfilter).Replace(sql)
	sql = strings.NewReplacer("{filter}", filter, "{dims}", dims, "{home}", home).Replace(sql)
	return strings.NewReplacer(
		"{events}", s.db+".events FINAL",
		"{detections}", s.db+".detections FINAL",
		"{admin_users}", s.db+".admin_users",
	).Replace(sql)
}

// args returns the bound parameters of sel.
func (s *store) args(sel selection) []any {
	home := s.home
	if home == nil {
		home = []string{}
	}
	args := []any{
		clickhouse.Named("from", sel.From.UTC()),
		clickhouse.Named("to", sel.To.UTC()),
		clickhouse.Named("lookback", sel.From.UTC().Truncate(time.Hour).Add(-bandHours*time.Hour)),
		clickhouse.Named("home_countries", home),
	}
	for _, c := range sel.Filters {
		args = append(args, clickhouse.Named(c.Name, c.Value))
	}
	return args
}

// query runs p's query for sel and returns its answer, times as RFC 3339 UTC strings.
func (s *store) query(ctx context.Context, p panel, sel selection) (panelData, error) {
	sql := s.expand(p.SQL, p.Match, sel)
	out := panelData{Panel: p.ID, Title: p.Title, Kind: p.Kind, From: sel.From.UTC(), To: sel.To.UTC(),
		Filters: sel.filterMap(), Columns: p.Columns, SQL: sql}
	rows, truncated, err := s.rows(ctx, sql, s.args(sel), maxPanelRows)
	if err != nil {
		return panelData{}, fmt.Errorf("panel %s: %w", p.ID, err)
	}
	out.Truncated = truncated
	if p.Kind == "outlier-line" {
		rows, err = band(rows, sel.From, sel.To)
		if err != nil {
			return panelData{}, fmt.Errorf("panel %s: %w", p.ID, err)
		}
	}
	for _, r := range rows {
		if len(r) != len(p.Columns) {
			return panelData{}, fmt.Errorf("panel %s: query returns %d columns, the panel has %d", p.ID, len(r), len(p.Columns))
		}
	}
	out.Rows = rows
	return out, nil
}

// rows runs sql and returns its first limit rows, times as RFC 3339 UTC strings, and
// whether there were more.
func (s *store) rows(ctx context.Context, sql string, args []any, limit int) ([][]any, bool, error) {
	rows, err := s.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	out := [][]any{}
	for rows.Next() {
		if len(out) == limit {
			return out, true, nil
		}
		dest := make([]any, len(types))
		for i, t := range types {
			dest[i] = reflect.New(t.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, false, err
		}
		row := make([]any, len(dest))
		for i, d := range dest {
			v := reflect.ValueOf(d).Elem().Interface()
			if t, ok := v.(time.Time); ok {
				v = t.UTC().Format(time.RFC3339)
			}
			row[i] = v
		}
		out = append(out, row)
	}
	return out, false, rows.Err()
}

// bandHours is how many hours before a point its outlier band is computed from.
const bandHours = 10

// band turns hourly counts (rows of time, count, from bandHours before the hour of from up
// to to) into an outlier line: every hour of [from, to), its count, and the band mean ± 3σ
// (population standard deviation) of the bandHours before it, the point outside the band
// marked. Hours without a row count zero.
func band(rows [][]any, from, to time.Time) ([][]any, error) {
	counts := map[int64]float64{}
	for _, r := range rows {
		if len(r) != 2 {
			return nil, fmt.Errorf("hourly counts: %d columns, want time and count", len(r))
		}
		t, err := time.Parse(time.RFC3339, fmt.Sprint(r[0]))
		if err != nil {
			return nil, fmt.Errorf("hourly counts: %w", err)
		}
		n, ok := r[1].(uint64)
		if !ok {
			return nil, fmt.Errorf("hourly counts: count is %T, want uint64", r[1])
		}
		counts[t.Unix()] = float64(n)
	}
	first := from.UTC().Truncate(time.Hour)
	out := [][]any{}
	for h := first; h.Before(to); h = h.Add(time.Hour) {
		var sum, sq float64
		for i := 1; i <= bandHours; i++ {
			sum += counts[h.Add(-time.Duration(i)*time.Hour).Unix()]
		}
		mean := sum / bandHours
		for i := 1; i <= bandHours; i++ {
			d := counts[h.Add(-time.Duration(i)*time.Hour).Unix()] - mean
			sq += d * d
		}
		sigma := math.Sqrt(sq / bandHours)
		v := counts[h.Unix()]
		lower, upper := mean-3*sigma, mean+3*sigma
		out = append(out, []any{h.Format(time.RFC3339), v, round(mean), round(lower), round(upper), v < lower || v > upper})
	}
	return out, nil
}

// round rounds to six decimals, which a chart needs and which keeps the answers exact to read.
func round(v float64) float64 {
	return math.Round(v*1e6) / 1e6
}
