package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/trailstream/trailstream/pkg/admins"
	"github.com/trailstream/trailstream/pkg/geo"
	"github.com/trailstream/trailstream/pkg/testenv"
	"github.com/trailstream/trailstream/services/console"
)

// body fetches path and returns the response and its body.
func body(t *testing.T, base, path string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// contract is the dashboards and panels of issue 7, in page order: ID, kind and default window.
var contract = []struct {
	dashboard string
	panels    [][3]string
}{
	{"overview", [][3]string{
		{"overview-geo", "map", "24h"}, {"overview-created-resources", "pie", "24h"},
		{"overview-deleted-resources", "stacked-column", "24h"}, {"overview-top-users", "column", "24h"},
		{"overview-failed-logins", "single", "24h"}, {"overview-network-security-events", "pie", "24h"}}},
	{"user-monitoring", [][3]string{
		{"users-geo", "map", "24h"}, {"users-admin-activity-over-time", "stacked-column", "24h"},
		{"users-admin-top-activities", "bar", "24h"}, {"users-top-users", "column", "24h"},
		{"users-instances-by-user", "stacked-column", "24h"}, {"users-admin-recent-activity", "table", "3h"}}},
	{"network-security", [][3]string{
		{"netsec-authz-failures-geo", "map", "24h"}, {"netsec-authz-failures-recent", "table", "3h"},
		{"netsec-authz-failures-over-time", "column", "24h"}, {"netsec-events-over-time", "stacked-column", "24h"},
		{"netsec-sg-nacl-changes", "table", "3h"}, {"netsec-nacl-allow-all", "table", "24h"},
		{"netsec-created-deleted", "pie", "24h"}, {"netsec-short-lived", "table", "24h"}}},
	{"operations", [][3]string{
		{"ops-action-events", "table", "1h"}, {"ops-services-over-time", "stacked-column", "24h"},
		{"ops-regions-over-time", "stacked-column", "24h"}, {"ops-eip-recent", "table", "3h"},
		{"ops-created-over-time", "stacked-column", "24h"}, {"ops-deleted-over-time", "stacked-column", "24h"}}},
	{"console-logins", [][3]string{
		{"logins-geo", "map", "24h"}, {"logins-by-user", "stacked-column", "24h"}, {"logins-over-time", "line", "24h"},
		{"logins-multiple-ip", "table", "24h"}, {"logins-outside-country", "table", "24h"},
		{"logins-outlier-success", "outlier-line", "24h"}, {"logins-time-compare", "table", "24h"},
		{"logins-outlier-failure", "outlier-line", "24h"}, {"logins-without-mfa", "table", "24h"}}},
	{"s3-public", [][3]string{
		{"s3-new-public-objects", "single", "24h"}, {"s3-new-public-objects-over-time", "stacked-column", "24h"},
		{"s3-new-public-objects-table", "table", "24h"}, {"s3-public-buckets", "single", "24h"},
		{"s3-public-buckets-over-time", "stacked-column", "24h"}, {"s3-public-buckets-table", "table", "24h"},
		{"s3-modified-public-objects", "single", "24h"}, {"s3-modified-public-objects-over-time", "stacked-column", "24h"},
		{"s3-modified-public-objects-table", "table", "24h"}}},
}

// shapes are the leading columns of each kind's rows, which the front end relies on.
var shapes = map[string][]string{
	"map":            {"location:string", "country_code:string", "latitude:number", "longitude:number", "events:number"},
	"pie":            {"name:string", "value:number"},
	"column":         {"name:", "value:number"},
	"bar":            {"name:string", "value:number"},
	"stacked-column": {"time:time", "series:string", "value:number"},
	"line":           {"time:time", "series:string", "value:number"},
	"outlier-line":   {"time:time", "value:number", "mean:number", "lower:number", "upper:number", "outlier:bool"},
	"single":         {"value:number"},
}

func TestDashboardsAPI(t *testing.T) {
	srv := httpServer(t, console.Handler(nil, "trailstream", console.Options{}))
	res, b := body(t, srv, "/api/dashboards")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("GET /api/dashboards: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var list struct {
		Dashboards []struct {
			ID, Path, Title, Description string
			Panels                       []struct {
				ID, Title, Kind, Window, Description string
				Columns                              []struct{ Name, Label, Type string }
			}
		}
	}
	if err := json.Unmarshal([]byte(b), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Dashboards) != len(contract) {
		t.Fatalf("%d dashboards, want %d", len(list.Dashboards), len(contract))
	}
	total := 0
	for i, d := range list.Dashboards {
		want := contract[i]
		if d.ID != want.dashboard || d.Path != "/d/"+want.dashboard || d.Title == "" || d.Description == "" {
			t.Errorf("dashboard %d: id %q path %q title %q, want %s", i, d.ID, d.Path, d.Title, want.dashboard)
		}
		var got [][3]string
		for _, p := range d.Panels {
			got = append(got, [3]string{p.ID, p.Kind, p.Window})
			total++
			if p.Title == "" || p.Description == "" || len(p.Columns) == 0 {
				t.Errorf("panel %s: title %q, description %q, %d columns", p.ID, p.Title, p.Description, len(p.Columns))
			}
			for j, c := range shapes[p.Kind] {
				name, typ, _ := strings.Cut(c, ":")
				if j >= len(p.Columns) || p.Columns[j].Name != name || typ != "" && p.Columns[j].Type != typ || p.Columns[j].Label == "" {
					t.Errorf("panel %s (%s): column %d is %+v, want %s", p.ID, p.Kind, j, p.Columns, c)
					break
				}
			}
		}
		if !reflect.DeepEqual(got, want.panels) {
			t.Errorf("dashboard %s panels (id, kind, window):\n got  %v\n want %v", d.ID, got, want.panels)
		}
	}
	if total != 44 {
		t.Errorf("%d panels, want 44", total)
	}

	res, b = body(t, srv, "/api/panels")
	var panels struct {
		Panels []struct{ ID, Dashboard string }
	}
	if err := json.Unmarshal([]byte(b), &panels); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/panels: %d %v", res.StatusCode, err)
	}
	if len(panels.Panels) != 44 || panels.Panels[43].ID != "s3-modified-public-objects-table" || panels.Panels[43].Dashboard != "s3-public" {
		t.Errorf("GET /api/panels lists %d panels, the last %+v", len(panels.Panels), panels.Panels[len(panels.Panels)-1])
	}
}

func TestPages(t *testing.T) {
	f := newFixture(t)
	for _, d := range contract {
		for _, path := range []string{"/d/" + d.dashboard, map[bool]string{true: "/"}[d.dashboard == "overview"]} {
			if path == "" {
				continue
			}
			res, page := body(t, f.srv.URL, path)
			if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("GET %s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
				t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
			}
			for _, p := range d.panels {
				if !strings.Contains(page, `data-panel="`+p[0]+`" data-kind="`+p[1]+`"`) {
					t.Errorf("GET %s: no panel %s of kind %s", path, p[0], p[1])
				}
			}
			if n := strings.Count(page, "data-panel="); n != len(d.panels) {
				t.Errorf("GET %s: %d panels, want %d", path, n, len(d.panels))
			}
		}
	}
	res, page := body(t, f.srv.URL, "/events?user_name=alice")
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-panel="events" data-kind="events"`) {
		t.Errorf("GET /events: %d, no events table", res.StatusCode)
	}

	_, page = body(t, f.srv.URL, "/d/network-security?environment=%3Cscript%3Ealert(1)%3C/script%3E")
	for _, want := range []string{`<option value="prod">prod</option>`, `<option value="dev">dev</option>`,
		`<option value="" selected>Panel defaults</option>`, "&lt;script&gt;alert(1)&lt;/script&gt;",
		`<a href="https://db-ip.com">` + geo.Attribution + `</a>`,
		`Admin users: <a href="/api/admin-users" id="admin-users">0</a>`,
		"<code>curl -T admin_users.csv " + f.srv.URL + "/api/admin-users</code>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script>alert(1)") {
		t.Error("the environment parameter is rendered unescaped")
	}
	if _, page := body(t, f.srv.URL, "/d/operations?range=7d"); !strings.Contains(page, `<option value="7d" selected>Last 7 days</option>`) {
		t.Error("the 7d range is not selected")
	}
	if _, page := body(t, f.srv.URL, "/d/s3-public"); strings.Contains(page, "db-ip.com") {
		t.Error("a page without locations credits the geolocation data")
	}
	if err := admins.Store(context.Background(), f.conn, f.db, []string{"alice", "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, page := body(t, f.srv.URL, "/"); !strings.Contains(page, `id="admin-users">2</a>`) {
		t.Error("the page does not count the two admin users stored")
	}
	for _, q := range []string{"?from=bad", "?usr_name=x"} {
		if _, page := body(t, f.srv.URL, "/"+q); !strings.Contains(page, `class="problem"`) {
			t.Errorf("GET /%s: the problem is not reported on the page", q)
		}
	}
	for _, path := range []string{"/nothing", "/d/nothing", "/d/"} {
		if res, _ := body(t, f.srv.URL, path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
}

// TestPanelAnswer checks what an answer says besides its rows: the time range, the filters
// in force and the SQL, whose filter values are parameters, never spliced in.
func TestPanelAnswer(t *testing.T) {
	f := newFixture(t)
	q := with(f.day(), "user_name", "x' OR '1'='1", "environment", "prod")
	a := get(t, f.srv.URL, "/api/panels/overview-top-users?"+q.Encode(), http.StatusOK)
	if a.From != f.h(-24) || a.To != f.h(1) || a.Kind != "column" || a.Title != "Top 10 Users" {
		t.Errorf("answer: from %s to %s kind %s title %q", a.From, a.To, a.Kind, a.Title)
	}
	if !reflect.DeepEqual(a.Filters, map[string]string{"user_name": "x' OR '1'='1", "environment": "prod"}) {
		t.Errorf("filters %v", a.Filters)
	}
	if !strings.Contains(a.SQL, "user_name = @user_name") || !strings.Contains(a.SQL, "environment = @environment") ||
		!strings.Contains(a.SQL, "event_time >= @from AND event_time < @to") || strings.Contains(a.SQL, "OR '1'") || !strings.Contains(a.SQL, f.db+".events FINAL") {
		t.Errorf("sql %s", a.SQL)
	}
	if len(a.Rows) != 0 {
		t.Errorf("rows %v for a user that does not exist", a.Rows)
	}
	for panel, window := range map[string]time.Duration{"overview-top-users": 24 * time.Hour, "users-admin-recent-activity": 3 * time.Hour, "ops-action-events": time.Hour} {
		a := get(t, f.srv.URL, "/api/panels/"+panel, http.StatusOK)
		from, _ := time.Parse(time.RFC3339, a.From)
		to, _ := time.Parse(time.RFC3339, a.To)
		if to.Sub(from) != window || time.Since(to) > time.Minute {
			t.Errorf("%s default window: from %s to %s, want the last %v", panel, a.From, a.To, window)
		}
	}
	a = get(t, f.srv.URL, "/api/panels/users-admin-recent-activity?range=30d", http.StatusOK)
	from, _ := time.Parse(time.RFC3339, a.From)
	to, _ := time.Parse(time.RFC3339, a.To)
	if to.Sub(from) != 30*24*time.Hour {
		t.Errorf("range=30d: from %s to %s", a.From, a.To)
	}
}

func TestPanelErrors(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, path string
		status     int
		says       string
	}{
		{"unknown panel", "/api/panels/overview-nothing", http.StatusNotFound, "no panel"},
		{"bad from", "/api/panels/overview-geo?from=yesterday", http.StatusBadRequest, "from"},
		{"bad to", "/api/panels/overview-geo?from=2024-05-01T00:00:00Z&to=2024-05-02", http.StatusBadRequest, "to"},
		{"to without from", "/api/panels/overview-geo?to=2024-05-01T00:00:00Z", http.StatusBadRequest, "to needs from"},
		{"range and from", "/api/panels/overview-geo?range=1h&from=2024-05-01T00:00:00Z", http.StatusBadRequest, "either"},
		{"bad range", "/api/panels/overview-geo?range=1w", http.StatusBadRequest, "range"},
		{"negative range", "/api/panels/overview-geo?range=-1h", http.StatusBadRequest, "empty"},
		{"from after to", "/api/panels/overview-geo?from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z", http.StatusBadRequest, "empty"},
		{"range too long", "/api/panels/overview-geo?range=10000h", http.StatusBadRequest, "longer"},
		{"unknown filter", "/api/panels/overview-geo?username=alice", http.StatusBadRequest, "unknown parameter"},
		{"a column that is no filter", "/api/panels/overview-geo?raw=x", http.StatusBadRequest, "unknown parameter"},
		{"filter twice", "/api/panels/overview-geo?user_name=a&user_name=b", http.StatusBadRequest, "once"},
		{"filter too long", "/api/panels/overview-geo?environment=" + strings.Repeat("x", 1100), http.StatusBadRequest, "environment"},
		{"bad format", "/api/panels/overview-geo?format=xml", http.StatusBadRequest, "format"},
		{"bad boolean", "/api/panels/overview-geo?is_admin=yes", http.StatusBadRequest, "true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := get(t, f.srv.URL, tt.path, tt.status)
			if !strings.Contains(a.Error, tt.says) {
				t.Errorf("error %q does not say %q", a.Error, tt.says)
			}
		})
	}
}

func TestPanelCSV(t *testing.T) {
	f := newFixture(t)
	res, b := body(t, f.srv.URL, "/api/panels/overview-geo?format=csv&"+with(f.day(), "environment", "dev").Encode())
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		res.Header.Get("Content-Disposition") != `attachment; filename="overview-geo.csv"` {
		t.Fatalf("CSV: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
	}
	if want := "location,country_code,latitude,longitude,events,city,users\n\"Berlin, Germany\",DE,52.5244,13.4105,2,Berlin,2\n"; b != want {
		t.Errorf("CSV:\n got  %q\n want %q", b, want)
	}
}

func TestStaticAssets(t *testing.T) {
	f := newFixture(t)
	for path, ct := range map[string]string{"/static/app.js": "text/javascript; charset=utf-8", "/static/app.css": "text/css; charset=utf-8"} {
		res, b := body(t, f.srv.URL, path)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != ct || len(b) == 0 {
			t.Errorf("GET %s: %d %q, %d bytes", path, res.StatusCode, res.Header.Get("Content-Type"), len(b))
		}
		if b = strings.ReplaceAll(b, `"http://www.w3.org/2000/svg"`, ""); strings.Contains(b, "http://") || strings.Contains(b, "https://") {
			t.Errorf("%s refers to an outside address", path)
		}
	}
}

func TestHealthz(t *testing.T) {
	f := newFixture(t)
	res, b := body(t, f.srv.URL, "/healthz")
	if res.StatusCode != http.StatusOK || b != "ok\n" {
		t.Errorf("healthz with ClickHouse up: %d %q", res.StatusCode, b)
	}

	down, err := clickhouse.Open(&clickhouse.Options{Addr: []string{closedPort(t)}, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	srv := httpServer(t, console.Handler(down, "trailstream", console.Options{}))
	res, b = body(t, srv, "/healthz")
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "ClickHouse does not answer") {
		t.Errorf("healthz with ClickHouse down: %d %q", res.StatusCode, b)
	}

	srv = httpServer(t, console.Handler(f.conn, "bad-name; DROP", console.Options{}))
	res, b = body(t, srv, "/healthz")
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "database name") {
		t.Errorf("healthz with a bad database name: %d %q", res.StatusCode, b)
	}
}

func TestRun(t *testing.T) {
	c := testenv.Config(t)
	testenv.ClickHouse(t, c)
	c.ConsoleAddr = closedPort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- console.Run(ctx, c) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://" + c.ConsoleAddr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the console did not answer /healthz with 200 on %s: %v", c.ConsoleAddr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}

	c.HomeCountries = "US,USA"
	if err := console.Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "--home-countries") {
		t.Errorf("Run with a bad home country: %v", err)
	}

	c.ClickHouseDatabase = "bad-name"
	if err := console.Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "database name") {
		t.Errorf("Run with a bad database name: %v", err)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
	return addr
}

func httpServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
