package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trailstream/trailstream/pkg/testenv"
)

// limitsConsole is an open console over a private, migrated and empty database.
func limitsConsole(t *testing.T) (driver.Conn, string, string) {
	t.Helper()
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	srv := httptest.NewServer(Handler(conn, c.ClickHouseDatabase, Options{}))
	t.Cleanup(srv.Close)
	return conn, c.ClickHouseDatabase, srv.URL
}

// reply is an answer of the console: status, header and body, and the JSON error if any.
type reply struct {
	status int
	header http.Header
	body   string
	err    string // the "error" of a JSON answer
}

func send(t *testing.T, method, url, contentType string, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := reply{status: res.StatusCode, header: res.Header, body: string(b)}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		var e struct{ Error string }
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("%s %s: the answer is not JSON: %v: %q", method, url, err, clip(string(b), 200))
		}
		out.err = e.Error
	}
	return out
}

// TestWindowLimits checks the time ranges and page sizes a request may ask for: every
// route with a time range refuses one longer than 92 days, empty, outside 1971-2100 or
// ending more than a day from now, with 400 saying so, and takes one at the limits.
func TestWindowLimits(t *testing.T) {
	_, _, base := limitsConsole(t)
	now := time.Now().UTC()
	rfc := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	day := 24 * time.Hour
	routes := []string{"/api/panels/overview-geo", "/api/panels/logins-outlier-success", "/api/panels/detections-list",
		"/api/events", "/api/events.jsonl", "/api/detections/summary"}
	tests := []struct {
		name  string
		query url.Values
		says  string // "" for a 200
	}{
		{"92 days", url.Values{"range": {"2208h"}}, ""},
		{"92 days from to", url.Values{"from": {rfc(-92*day + time.Hour)}, "to": {rfc(time.Hour)}}, ""},
		{"ends 23 hours ahead", url.Values{"from": {rfc(-time.Hour)}, "to": {rfc(23 * time.Hour)}}, ""},
		{"a range of 93 days", url.Values{"range": {"2232h"}}, "longer than the 92 days allowed (it is 93 days)"},
		{"from to 400 days apart", url.Values{"from": {"2023-01-01T00:00:00Z"}, "to": {"2024-02-05T00:00:00Z"}}, "longer than the 92 days allowed"},
		{"from after to", url.Values{"from": {"2024-05-02T00:00:00Z"}, "to": {"2024-05-01T00:00:00Z"}}, "empty"},
		{"from in the future, no to", url.Values{"from": {rfc(2 * day)}}, "empty"},
		{"to two days ahead", url.Values{"from": {rfc(-time.Hour)}, "to": {rfc(2 * day)}}, "more than a day after now"},
		{"to far in the future", url.Values{"from": {"2099-12-01T00:00:00Z"}, "to": {"2099-12-02T00:00:00Z"}}, "more than a day after now"},
		{"after 2100", url.Values{"from": {"2150-01-01T00:00:00Z"}, "to": {"2150-01-02T00:00:00Z"}}, "between 1971"},
		{"before 1971", url.Values{"from": {"1969-12-31T00:00:00Z"}, "to": {"1970-01-02T00:00:00Z"}}, "between 1971"},
		{"year 0001", url.Values{"from": {"0001-01-01T00:00:00Z"}, "to": {"0001-01-02T00:00:00Z"}}, "between 1971"},
		{"a duration that overflows", url.Values{"range": {"9999999999999h"}}, "range: want"},
		{"the largest duration", url.Values{"range": {"2562047h"}}, "between 1971"},
		{"a negative range", url.Values{"range": {"-5m"}}, "empty"},
		{"a range in days", url.Values{"range": {"400d"}}, "range: want"},
		{"1e309", url.Values{"range": {"1e309"}}, "range: want"},
	}
	for _, route := range routes {
		for _, tt := range tests {
			t.Run(route+"/"+tt.name, func(t *testing.T) {
				a := send(t, http.MethodGet, base+route+"?"+tt.query.Encode(), "", nil)
				switch {
				case tt.says == "" && a.status != http.StatusOK:
					t.Errorf("%d %q, want 200", a.status, a.err)
				case tt.says != "" && (a.status != http.StatusBadRequest || !strings.Contains(a.err, tt.says)):
					t.Errorf("%d %q, want 400 saying %q", a.status, a.err, tt.says)
				}
			})
		}
	}

	pages := []struct {
		path, says string
	}{
		{"/api/events?limit=500", ""},
		{"/api/events?offset=10000", ""},
		{"/api/events?limit=501", "from 1 to 500"},
		{"/api/events?limit=0", "from 1 to 500"},
		{"/api/events?limit=-1", "from 1 to 500"},
		{"/api/events?limit=1e309", "from 1 to 500"},
		{"/api/events?limit=NaN", "from 1 to 500"},
		{"/api/events?offset=10001", "from 0 to 10000"},
		{"/api/events?offset=1000000", "from 0 to 10000"},
		{"/api/events?offset=-1", "from 0 to 10000"},
		{"/api/events?offset=99999999999999999999", "from 0 to 10000"},
		{"/api/sources?days=31", ""},
		{"/api/sources?days=32", "1 to 31"},
		{"/api/sources?days=-1", "1 to 31"},
		{"/api/sources?days=1e309", "1 to 31"},
		{"/api/sources?from=2024-01-01&to=2024-03-01", "at most 31"},
		{"/api/sources?from=2024-03-01&to=2024-01-01", "after"},
		{"/api/audit?limit=1000", ""},
		{"/api/audit?limit=1001", "1 to 1000"},
		{"/api/detections/" + strings.Repeat("d", maxFilterValue+1), "longer than the 1024 bytes"},
		{"/api/events?detection_id=" + strings.Repeat("d", maxFilterValue+1), "longer than the 1024 bytes"},
		{"/api/events?user_name=" + strings.Repeat("u", maxFilterValue+1), "longer than the 1024 bytes"},
	}
	for _, tt := range pages {
		a := send(t, http.MethodGet, base+tt.path, "", nil)
		switch {
		case tt.says == "" && a.status != http.StatusOK:
			t.Errorf("GET %s: %d %q, want 200", clip(tt.path, 80), a.status, a.err)
		case tt.says != "" && (a.status != http.StatusBadRequest || !strings.Contains(a.err, tt.says)):
			t.Errorf("GET %s: %d %q, want 400 saying %q", clip(tt.path, 80), a.status, a.err, tt.says)
		}
	}

	// A refusal quotes no more than a short piece of what was sent.
	long := strings.Repeat("x", 5000)
	for _, path := range []string{"/api/events?range=" + long, "/api/events?from=" + long, "/api/events?limit=" + long,
		"/api/panels/" + long, "/api/panels/overview-geo?format=" + long, "/api/events?" + long + "=1",
		"/api/sources?days=" + long, "/api/sources/" + long} {
		a := send(t, http.MethodGet, base+path, "", nil)
		if a.status < 400 || a.status >= 500 || len(a.body) > 1000 || strings.Contains(a.body, strings.Repeat("x", maxQuoted+1)) {
			t.Errorf("GET %s: %d, %d bytes: %q, want a 4xx quoting at most %d bytes", clip(path, 60), a.status, len(a.body), clip(a.body, 200), maxQuoted)
		}
	}
}

// TestPanelRowLimit checks that a panel's answer stops at maxPanelRows rows and says so.
func TestPanelRowLimit(t *testing.T) {
	conn, db, base := limitsConsole(t)
	ctx := context.Background()
	// A deleted user an hour for each of 80 users over the last 10 days.
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".events (event_id, event_time, user_name, event_name, outcome)")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Truncate(time.Hour).Add(-10 * 24 * time.Hour)
	n := 0
	for h := 0; h < 10*24; h++ {
		for u := 0; u < 80; u++ {
			if err := b.Append(fmt.Sprintf("e-%d-%d", h, u), start.Add(time.Duration(h)*time.Hour), fmt.Sprintf("user%02d", u),
				"DeleteUser", "success"); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	var p struct {
		Rows      [][]any `json:"rows"`
		Truncated bool    `json:"truncated"`
	}
	get := func(q string) {
		t.Helper()
		a := send(t, http.MethodGet, base+"/api/panels/overview-deleted-resources?"+q, "", nil)
		if a.status != http.StatusOK {
			t.Fatalf("%s: %d %q", q, a.status, a.err)
		}
		p.Rows, p.Truncated = nil, false
		if err := json.Unmarshal([]byte(a.body), &p); err != nil {
			t.Fatal(err)
		}
	}
	// One series (the noun User), so 240 rows: not truncated.
	get("range=" + fmt.Sprint(11*24) + "h")
	if len(p.Rows) != 240 || p.Truncated {
		t.Errorf("one series over 10 days: %d rows, truncated %v; want 240, false", len(p.Rows), p.Truncated)
	}
	// A series per user (as logins-by-user draws for ConsoleLogin): 80 series over 10
	// days are 19,200 rows, run through the store as every panel runs.
	byUser := panel{ID: "test-by-user", Kind: "stacked-column", Columns: seriesColumns("User", "Events"), SQL: hourly("user_name", "count()")}
	st := newStore(conn, db, nil)
	sel := selection{From: start, To: start.Add(10 * 24 * time.Hour)}
	data, err := st.query(ctx, byUser, sel)
	if err != nil {
		t.Fatal(err)
	}
	if len(data.Rows) != maxPanelRows || !data.Truncated {
		t.Errorf("80 series over 10 days (%d rows): %d rows, truncated %v; want %d, true", n, len(data.Rows), data.Truncated, maxPanelRows)
	}
	sel.To = start.Add(24 * time.Hour)
	if data, err = st.query(ctx, byUser, sel); err != nil || len(data.Rows) != 24*80 || data.Truncated {
		t.Errorf("80 series over a day: %d rows, truncated %v (%v); want %d, false", len(data.Rows), data.Truncated, err, 24*80)
	}
}

// TestBodyLimits checks that every route reading a body refuses one larger than its cap
// with 413 saying the cap, whether the size is announced or not, and takes one at the cap.
func TestBodyLimits(t *testing.T) {
	_, _, base := limitsConsole(t)
	hide := func(s string) io.Reader { return struct{ io.Reader }{strings.NewReader(s)} } // no Content-Length: chunked
	// A source padded to size: with spaces in JSON, with a long environment label in a form
	// (a prefix is at most 1024 bytes, and a form has no room for spaces).
	jsonSource := func(size int) string {
		s := `{"name":"big","bucket":"big-bucket","prefix":"p"`
		return s + strings.Repeat(" ", size-len(s)-1) + `}`
	}
	formSource := func(size int) string {
		s := "name=big&bucket=big-bucket&prefix=p&environment="
		return s + strings.Repeat("p", size-len(s))
	}
	multipartSource := func(size int) (string, string) {
		var b bytes.Buffer
		b.WriteString("--B\r\nContent-Disposition: form-data; name=\"prefix\"\r\n\r\n")
		tail := "\r\n--B--\r\n"
		b.WriteString(strings.Repeat("p", size-b.Len()-len(tail)))
		b.WriteString(tail)
		return b.String(), "multipart/form-data; boundary=B"
	}
	csv := func(size int) string { return strings.Repeat("alice\n", size/6+1)[:size] }
	token := func(size int) string {
		s := `{"name":"t","role":"viewer","expires":"`
		return s + strings.Repeat("1", size-len(s)-2) + `"}`
	}
	login := func(size int) string { return "user=a&password=" + strings.Repeat("p", size-len("user=a&password=")) }
	mp, mpType := multipartSource(maxSourceBody + 1)
	tests := []struct {
		name, method, path, contentType, body string
		limit                                 int
	}{
		{"admin users", http.MethodPut, "/api/admin-users", "text/csv", csv(maxAdminUpload + 1), maxAdminUpload},
		{"admin users by POST", http.MethodPost, "/api/admin-users", "text/csv", csv(maxAdminUpload + 1), maxAdminUpload},
		{"source as JSON", http.MethodPost, "/api/sources", "application/json", jsonSource(maxSourceBody + 1), maxSourceBody},
		{"source as a form", http.MethodPost, "/api/sources", "application/x-www-form-urlencoded", formSource(maxSourceBody + 1), maxSourceBody},
		{"source as multipart", http.MethodPost, "/api/sources", mpType, mp, maxSourceBody},
		{"token", http.MethodPost, "/api/tokens", "application/json", token(maxTokenRequest + 1), maxTokenRequest},
		{"login", http.MethodPost, "/login", "application/x-www-form-urlencoded", login(maxLoginForm + 1), maxLoginForm},
	}
	for _, tt := range tests {
		for _, announced := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/announced=%v", tt.name, announced), func(t *testing.T) {
				body := io.Reader(strings.NewReader(tt.body))
				if !announced {
					body = hide(tt.body)
				}
				a := send(t, tt.method, base+tt.path, tt.contentType, body)
				if a.status != http.StatusRequestEntityTooLarge || !strings.Contains(a.body, fmt.Sprint(tt.limit)) {
					t.Errorf("%d bytes: %d %q, want 413 saying %d", len(tt.body), a.status, clip(a.body, 300), tt.limit)
				}
			})
		}
	}
	// At the cap, each is read.
	atCap := []struct {
		name, method, path, contentType, body string
		status                                int
	}{
		{"admin users", http.MethodPut, "/api/admin-users", "text/csv", csv(maxAdminUpload - 1), http.StatusOK},
		{"source as JSON", http.MethodPost, "/api/sources", "application/json", jsonSource(maxSourceBody), http.StatusCreated},
		{"source as a form", http.MethodPost, "/api/sources", "application/x-www-form-urlencoded", strings.Replace(formSource(maxSourceBody), "name=big", "name=bi2", 1), http.StatusCreated},
		{"token", http.MethodPost, "/api/tokens", "application/json", token(maxTokenRequest), http.StatusBadRequest},
	}
	for _, tt := range atCap {
		a := send(t, tt.method, base+tt.path, tt.contentType, hide(tt.body))
		// The token's expiry is too long to be valid: read, then refused for what it says,
		// not for its size.
		if a.status != tt.status || strings.Contains(a.body, "bytes allowed") {
			t.Errorf("%s of %d bytes: %d %q, want %d", tt.name, len(tt.body), a.status, clip(a.body, 300), tt.status)
		}
	}
}

// countingConn is a ClickHouse connection that counts the queries running through it at
// once, each held delay longer than ClickHouse takes, as a slow server would.
type countingConn struct {
	driver.Conn
	delay         time.Duration
	running, peak atomic.Int64
}

func (c *countingConn) start() {
	n := c.running.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(c.delay)
}

func (c *countingConn) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	c.start()
	rows, err := c.Conn.Query(ctx, query, args...)
	if err != nil {
		c.running.Add(-1)
		return nil, err
	}
	return &countedRows{Rows: rows, c: c}, nil
}

func (c *countingConn) QueryRow(ctx context.Context, query string, args ...any) driver.Row {
	c.start()
	defer c.running.Add(-1)
	row := c.Conn.QueryRow(ctx, query, args...)
	return row
}

type countedRows struct {
	driver.Rows
	c    *countingConn
	once sync.Once
}

func (r *countedRows) Close() error {
	r.once.Do(func() { r.c.running.Add(-1) })
	return r.Rows.Close()
}

// TestQueryLimit checks the bound on the ClickHouse queries at once: with every slot held,
// each route that queries answers 503 with Retry-After within the wait, and answers again
// once the slots are free; under load no more than the bound run at once.
func TestQueryLimit(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	lc := limitQueries(conn, 2, 300*time.Millisecond)
	srv := httptest.NewServer(Handler(lc, c.ClickHouseDatabase, Options{}))
	t.Cleanup(srv.Close)
	routes := []struct {
		path   string
		status int // once the slots are free
	}{
		{"/api/panels/overview-geo", http.StatusOK},
		{"/api/panels/detections-list", http.StatusOK},
		{"/api/panels/overview-geo?format=csv", http.StatusOK},
		{"/api/events", http.StatusOK},
		{"/api/events?detection_id=d-1", http.StatusNotFound},
		{"/api/events.jsonl", http.StatusOK},
		{"/api/detections/summary", http.StatusOK},
		{"/api/detections/d-1", http.StatusNotFound},
		{"/api/sources", http.StatusOK},
		{"/api/sources/s-1", http.StatusNotFound},
	}
	lc.slots <- struct{}{}
	lc.slots <- struct{}{}
	for _, rt := range routes {
		began := time.Now()
		a := send(t, http.MethodGet, srv.URL+rt.path, "", nil)
		took := time.Since(began)
		if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || !strings.Contains(a.err, "at once") ||
			!strings.Contains(a.err, "reference") {
			t.Errorf("GET %s with every slot held: %d Retry-After %q %q; want 503 with Retry-After saying the console runs as many queries as it allows",
				rt.path, a.status, a.header.Get("Retry-After"), a.err)
		}
		if took < 300*time.Millisecond || took > 5*time.Second {
			t.Errorf("GET %s with every slot held answered after %v, want after the 300ms wait", rt.path, took)
		}
	}
	// A page shows the problem instead of failing.
	if a := send(t, http.MethodGet, srv.URL+"/d/overview", "", nil); a.status != http.StatusOK || !strings.Contains(a.body, "at once") {
		t.Errorf("the Overview page with every slot held: %d, want 200 saying the console is busy", a.status)
	}
	<-lc.slots
	<-lc.slots
	for _, rt := range routes {
		if a := send(t, http.MethodGet, srv.URL+rt.path, "", nil); a.status != rt.status {
			t.Errorf("GET %s with the slots free: %d %q, want %d", rt.path, a.status, a.err, rt.status)
		}
	}
	if n := len(lc.slots); n != 0 {
		t.Errorf("%d slots still held after the requests ended", n)
	}

	// Under load: 24 requests at once, each query held 100ms, run 8 at a time through the
	// console's own bound, and none waits past its turn long enough to be refused.
	counting := &countingConn{Conn: conn, delay: 100 * time.Millisecond}
	h := Handler(counting, c.ClickHouseDatabase, Options{})
	busy := httptest.NewServer(h)
	t.Cleanup(busy.Close)
	var wg sync.WaitGroup
	statuses := make([]int, 24)
	for i := range statuses {
		path := []string{"/api/panels/overview-geo", "/api/events", "/api/detections/summary", "/api/panels/detections-list"}[i%4]
		wg.Go(func() {
			res, err := http.Get(busy.URL + path)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			statuses[i] = res.StatusCode
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("request %d under load: %d, want 200", i, s)
		}
	}
	if p := counting.peak.Load(); p > maxQueries || p < 2 {
		t.Errorf("%d queries ran at once under load, want at most %d (and more than one)", p, maxQueries)
	} else {
		t.Logf("at most %d queries at once under load (bound %d)", p, maxQueries)
	}
}

// TestInternalErrorsHidden makes ClickHouse fail under the console (a database without the
// console's tables, then a connection to an address where nothing listens) and checks that
// no answer names the database, a table or an address, that each gives a reference, and
// that the log has the error under that reference.
func TestInternalErrorsHidden(t *testing.T) {
	var logged syncBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	missing := testenv.Name("ts_test_missing_")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	down, err := clickhouse.Open(&clickhouse.Options{Addr: []string{closed}, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { down.Close() })
	_, port, _ := net.SplitHostPort(closed)
	_, chPort, _ := net.SplitHostPort(c.ClickHouseAddr)

	requests := []struct{ method, path, contentType, body string }{
		{http.MethodGet, "/api/panels/overview-geo", "", ""},
		{http.MethodGet, "/api/panels/overview-geo?format=csv", "", ""},
		{http.MethodGet, "/api/panels/detections-list", "", ""},
		{http.MethodGet, "/api/panels/logins-outlier-success", "", ""},
		{http.MethodGet, "/api/events", "", ""},
		{http.MethodGet, "/api/events?detection_id=d-1", "", ""},
		{http.MethodGet, "/api/events.jsonl", "", ""},
		{http.MethodGet, "/api/detections/summary", "", ""},
		{http.MethodGet, "/api/detections/d-1", "", ""},
		{http.MethodGet, "/api/sources", "", ""},
		{http.MethodGet, "/api/sources/s-1", "", ""},
		{http.MethodPost, "/api/sources", "application/json", `{"name":"s-2","bucket":"a-bucket"}`},
		{http.MethodPost, "/api/sources/s-1/enable", "", ""},
		{http.MethodDelete, "/api/sources/s-1", "", ""},
		{http.MethodGet, "/api/admin-users", "", ""},
		{http.MethodPut, "/api/admin-users", "text/csv", "alice\n"},
	}
	for _, tt := range []struct {
		name   string
		conn   driver.Conn
		db     string
		status int
		hidden []string // what no answer may say
		// what no page may say: pages show the console's own address (the upload URL)
		pageHidden []string
	}{
		{"missing tables", conn, missing, http.StatusInternalServerError,
			[]string{missing, "DB::Exception", "doesn't exist", "Table", "Database", "code:", c.ClickHouseAddr, ":" + chPort, "127.0.0.1"},
			[]string{missing, "DB::Exception", "doesn't exist", c.ClickHouseAddr}},
		{"nothing listening", down, c.ClickHouseDatabase, http.StatusServiceUnavailable,
			[]string{closed, port, "127.0.0.1", "dial", "connection refused", c.ClickHouseDatabase},
			[]string{closed, ":" + port, "dial tcp", "connection refused", c.ClickHouseDatabase}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(Handler(tt.conn, tt.db, Options{}))
			t.Cleanup(srv.Close)
			for _, rq := range requests {
				var body io.Reader
				if rq.body != "" {
					body = strings.NewReader(rq.body)
				}
				a := send(t, rq.method, srv.URL+rq.path, rq.contentType, body)
				what := rq.method + " " + rq.path
				if a.status != tt.status {
					t.Errorf("%s: %d %q, want %d", what, a.status, a.err, tt.status)
				}
				if tt.status == http.StatusServiceUnavailable && a.header.Get("Retry-After") == "" {
					t.Errorf("%s: 503 without Retry-After", what)
				}
				for _, h := range tt.hidden {
					if strings.Contains(a.body, h) {
						t.Errorf("%s: the answer says %q: %q", what, h, a.body)
					}
				}
				var e struct{ Error, Reference string }
				if err := json.Unmarshal([]byte(a.body), &e); err != nil || len(e.Reference) != 12 || !strings.Contains(e.Error, e.Reference) {
					t.Errorf("%s: %q, want a JSON error with its reference", what, a.body)
					continue
				}
				// The log has the error itself under the reference.
				line := logged.line("reference=" + e.Reference)
				if line == "" || !strings.Contains(line, "err=") {
					t.Errorf("%s: no log line with reference %s and the error", what, e.Reference)
				}
				if tt.name == "missing tables" && !strings.Contains(line, missing) {
					t.Errorf("%s: the log line of %s does not name the database: %s", what, e.Reference, line)
				}
			}
			for _, path := range []string{"/d/overview", "/detections", "/events?detection_id=d-1", "/healthz"} {
				a := send(t, http.MethodGet, srv.URL+path, "", nil)
				if a.status >= 500 && path != "/healthz" {
					t.Errorf("GET %s: %d, want the page with its problem", path, a.status)
				}
				for _, h := range tt.pageHidden {
					if strings.Contains(a.body, h) {
						t.Errorf("GET %s: the page says %q", path, h)
					}
				}
			}
		})
	}
}

// syncBuffer is a log sink that tests read while handlers write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// line returns the first logged line containing sub, "" when there is none.
func (s *syncBuffer) line(sub string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range strings.Split(s.b.String(), "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
