package console

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

const (
	// eventsWindow is the time the events search shows when the request names none.
	eventsWindow = 24 * time.Hour
	// maxEventsPage bounds one page of the events search.
	maxEventsPage = 500
	// maxEventsOffset bounds how deep the events search pages: ClickHouse sorts offset+limit
	// whole events (raw records included) to answer a page, so a deep page is a heavy
	// query; narrow the time range or the filters instead, or download events.jsonl.
	maxEventsOffset = 10_000
	// exportTimeout bounds the time a JSON-lines download takes.
	exportTimeout = 2 * time.Minute
)

// maxEventsExport bounds a JSON-lines download.
var maxEventsExport = 100_000

// eventColumns are the columns of the events search, named as the events table's columns
// (which are also their filters); raw is the CloudTrail record as received.
var eventColumns = []column{
	tim("event_time", "Time"), str("user_name", "User"), str("event_name", "Event"), str("event_source", "Source"),
	str("aws_region", "Region"), str("account_id", "Account"), str("source_ip", "Source IP"),
	str("country_code", "Country"), str("outcome", "Outcome"), str("error_code", "Error"),
	{Name: "raw", Label: "Record", Type: "json"}, str("event_id", "Event ID"),
}

// eventsSQL lists the matching events, newest first.
const eventsSQL = `SELECT event_time, user_name, event_name, event_source, aws_region, account_id, source_ip,
	country_code, outcome, error_code, raw, event_id
FROM {events} WHERE {filter} AND {match} ORDER BY event_time DESC, event_id DESC`

// lineBreaks turns the line breaks of a record into spaces.
var lineBreaks = strings.NewReplacer("\r", " ", "\n", " ")

// eventsData is the JSON answer of the events search.
type eventsData struct {
	From    time.Time         `json:"from"`
	To      time.Time         `json:"to"`
	Filters map[string]string `json:"filters"`
	Panel   string            `json:"panel,omitempty"`
	Total   uint64            `json:"total"`
	Limit   int               `json:"limit"`
	Offset  int               `json:"offset"`
	Columns []column          `json:"columns"`
	Rows    [][]any           `json:"rows"`
	SQL     string            `json:"sql"`
}

// eventsRequest reads the events search's parameters: the selection, panel (whose events
// only), detection_id (the events of that detection only, by default over the detection's
// time span) and, with paging, limit and offset. An unknown detection is an error wrapping
// errNoDetection.
func (s *server) eventsRequest(ctx context.Context, r *http.Request, paged bool) (sel selection, match string, p panel, limit, offset int, err error) {
	q := r.URL.Query()
	extra := []string{"panel", "detection_id"}
	if paged {
		extra = append(extra, "limit", "offset")
	}
	if sel, err = parseSelection(q, time.Now(), eventsWindow, extra...); err != nil {
		return
	}
	if id := q.Get("panel"); id != "" {
		var ok bool
		if p, ok = findPanel(id); !ok {
			err = fmt.Errorf("panel: no panel %s; GET /api/dashboards lists them", quote(id))
			return
		}
		if p.Table != "" {
			err = fmt.Errorf("panel: %s lists %s, not events; a detection's events are /events?detection_id=ID", id, p.Table)
			return
		}
		match = p.Match
	}
	if id := q.Get("detection_id"); id != "" {
		if len(id) > maxFilterValue {
			err = fmt.Errorf("detection_id: longer than the %d bytes allowed", maxFilterValue)
			return
		}
		c, d, derr := s.store.detectionEvents(ctx, id)
		if derr != nil {
			err = derr
			if !errors.Is(derr, errNoDetection) {
				err = fmt.Errorf("%w: %w", errQuery, derr)
			}
			return
		}
		if q.Get("range") == "" && q.Get("from") == "" && q.Get("to") == "" {
			sel.From, sel.To = d.span()
		}
		sel.Filters = append(sel.Filters, c)
	}
	if !paged {
		return
	}
	limit = 100
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxEventsPage {
			err = fmt.Errorf("limit: want a number from 1 to %d, not %s", maxEventsPage, quote(v))
			return
		}
	}
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 || offset > maxEventsOffset {
			err = fmt.Errorf("offset: want a number from 0 to %d, not %s: narrow the time range or the filters to see older events, "+
				"or download them (/api/events.jsonl, up to %d)", maxEventsOffset, quote(v), maxEventsExport)
			return
		}
	}
	return
}

// requestError answers an error of eventsRequest: 404 for an unknown detection, an
// internal error for a query that failed, 400 with the reason otherwise.
func requestError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errQuery):
		internalError(w, r, "the detection could not be read", err)
	case errors.Is(err, errNoDetection):
		writeError(w, http.StatusNotFound, err.Error())
	default:
		writeError(w, http.StatusBadRequest, err.Error())
	}
}

// errQuery marks an error of eventsRequest that ClickHouse gave.
var errQuery = errors.New("query failed")

// events serves GET /api/events: a page of the matching events, newest first.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	sel, match, p, limit, offset, err := s.eventsRequest(ctx, r, true)
	if err != nil {
		requestError(w, r, err)
		return
	}
	sql := s.store.expand(eventsSQL, match, sel) + " LIMIT @limit OFFSET @offset"
	args := s.store.args(sel)
	out := eventsData{From: sel.From, To: sel.To, Filters: sel.filterMap(), Panel: p.ID, Limit: limit, Offset: offset, Columns: eventColumns, SQL: sql}
	countSQL := s.store.expand("SELECT count() FROM {events} WHERE {filter} AND {match}", match, sel)
	if err := s.store.conn.QueryRow(ctx, countSQL, args...).Scan(&out.Total); err != nil {
		internalError(w, r, "the events could not be counted", err)
		return
	}
	rows, _, err := s.store.rows(ctx, sql, append(args, clickhouse.Named("limit", limit), clickhouse.Named("offset", offset)), limit)
	if err != nil {
		internalError(w, r, "the events could not be read", err)
		return
	}
	out.Rows = rows
	writeJSON(w, http.StatusOK, out)
}

// eventsJSONL serves GET /api/events.jsonl: the raw records of the matching events, one a
// line, newest first, at most maxEventsExport of them. X-Total-Count says how many match;
// X-Truncated is set when there are more than the download holds. A failure while the
// records stream aborts the response, so a cut download never looks complete.
func (s *server) eventsJSONL(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), exportTimeout)
	defer cancel()
	sel, match, _, _, _, err := s.eventsRequest(ctx, r, false)
	if err != nil {
		requestError(w, r, err)
		return
	}
	if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(exportTimeout + 15*time.Second)); err != nil {
		slog.Warn("events export: keep the default write deadline", "err", err)
	}
	args := s.store.args(sel)
	var total uint64
	countSQL := s.store.expand("SELECT count() FROM {events} WHERE {filter} AND {match}", match, sel)
	if err := s.store.conn.QueryRow(ctx, countSQL, args...).Scan(&total); err != nil {
		internalError(w, r, "the events could not be counted", err)
		return
	}
	sql := s.store.expand("SELECT raw FROM {events} WHERE {filter} AND {match} ORDER BY event_time DESC, event_id DESC LIMIT @limit", match, sel)
	rows, err := s.store.conn.Query(ctx, sql, append(args, clickhouse.Named("limit", maxEventsExport))...)
	if err != nil {
		internalError(w, r, "the events could not be read", err)
		return
	}
	defer rows.Close()
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="events.jsonl"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Total-Count", strconv.FormatUint(total, 10))
	if total > uint64(maxEventsExport) {
		h.Set("X-Truncated", fmt.Sprintf("the first %d of %d matching events; narrow the filters for the rest", maxEventsExport, total))
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			slog.Error("events export cut", "err", err)
			panic(http.ErrAbortHandler)
		}
		// A record is one line: in JSON a line break can only be white space between tokens.
		bw.WriteString(lineBreaks.Replace(raw))
		if err := bw.WriteByte('\n'); err != nil {
			return // the client went away
		}
	}
	if err := rows.Err(); err != nil {
		slog.Error("events export cut", "err", err)
		panic(http.ErrAbortHandler)
	}
	if err := bw.Flush(); err != nil {
		slog.Warn("events export", "err", err)
	}
}
