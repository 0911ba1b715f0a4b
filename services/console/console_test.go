package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
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

type panelAnswer struct {
	ID          string `json:"id"`
	Dashboard   string `json:"dashboard"`
	Title       string `json:"title"`
	Kind        string `json:"kind"`
	From        string `json:"from"`
	To          string `json:"to"`
	Environment string `json:"environment"`
	Columns     []struct {
		Name, Label, Type string
		Hidden            bool
	}
	Rows  [][]any `json:"rows"`
	Error string  `json:"error"`
}

// get fetches path from the console and decodes its JSON answer, checking the status.
func get(t *testing.T, base, path string, status int) panelAnswer {
	t.Helper()
	res, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("GET %s: Content-Type %q, want JSON", path, ct)
	}
	var a panelAnswer
	if err := json.NewDecoder(res.Body).Decode(&a); err != nil {
		t.Fatalf("GET %s: decode: %v", path, err)
	}
	if res.StatusCode != status {
		t.Fatalf("GET %s: status %d (error %q), want %d", path, res.StatusCode, a.Error, status)
	}
	return a
}

func TestPanels(t *testing.T) {
	f := newFixture(t)
	day := url.Values{"from": {f.at(0)}, "to": {f.at(24)}}
	with := func(q url.Values, k, v string) url.Values {
		out := url.Values{}
		for key, vs := range q {
			out[key] = vs
		}
		out.Set(k, v)
		return out
	}
	prod, dev := with(day, "environment", "prod"), with(day, "environment", "dev")
	// country returns the geo panel's row maker for one country: code, name, events, users
	// and the country's point as pkg/geo's embedded data gives it.
	country := func(code, name string, lat, lon float64) func(events, users float64) []any {
		return func(events, users float64) []any { return []any{code, name, events, users, lat, lon} }
	}
	gb, nl := country("GB", "United Kingdom", 55.378051, -3.435973), country("NL", "Netherlands", 52.132633, 5.291266)
	de, us := country("DE", "Germany", 51.165691, 10.451526), country("US", "United States", 37.09024, -95.712891)
	jp := country("JP", "Japan", 36.204824, 138.252924)
	tests := []struct {
		name  string
		panel string
		query url.Values
		want  [][]any
	}{
		{"geo", "overview-geo", day, [][]any{gb(5, 2), nl(5, 2), de(3, 1), us(2, 1), jp(1, 0)}},
		{"geo prod", "overview-geo", prod, [][]any{gb(5, 2), nl(5, 2), us(2, 1), jp(1, 0)}},
		{"geo dev", "overview-geo", dev, [][]any{de(3, 1)}},
		{"geo from the second hour", "overview-geo", with(day, "from", f.at(1)), [][]any{de(2, 1), gb(2, 1)}},
		{"geo last minute", "overview-geo", url.Values{"range": {"1m"}}, [][]any{}},
		{"created", "overview-created-resources", day, [][]any{
			{"CreateUser", 3.0}, {"CreateNetworkAcl", 1.0}, {"CreateSecurityGroup", 1.0}, {"RunInstances", 1.0}}},
		{"created prod", "overview-created-resources", prod, [][]any{
			{"CreateUser", 2.0}, {"CreateNetworkAcl", 1.0}, {"CreateSecurityGroup", 1.0}, {"RunInstances", 1.0}}},
		{"created from the second hour", "overview-created-resources", with(day, "from", f.at(1)), [][]any{{"CreateNetworkAcl", 1.0}}},
		{"created last 24h", "overview-created-resources", url.Values{"range": {"24h"}}, [][]any{
			{"CreateUser", 4.0}, {"CreateNetworkAcl", 1.0}, {"CreateSecurityGroup", 1.0}, {"RunInstances", 1.0}}},
		{"created default range", "overview-created-resources", nil, [][]any{
			{"CreateUser", 4.0}, {"CreateNetworkAcl", 1.0}, {"CreateSecurityGroup", 1.0}, {"RunInstances", 1.0}}},
		{"created last minute", "overview-created-resources", url.Values{"range": {"1m"}}, [][]any{}},
		{"deleted", "overview-deleted-resources", day, [][]any{{f.at(1), 2.0}, {f.at(2), 2.0}}},
		{"deleted prod", "overview-deleted-resources", prod, [][]any{{f.at(1), 1.0}, {f.at(2), 2.0}}},
		{"deleted dev", "overview-deleted-resources", dev, [][]any{{f.at(1), 1.0}}},
		{"top users", "overview-top-users", day, [][]any{
			{"alice", 5.0}, {"bob", 4.0}, {"dave", 4.0}, {"carol", 3.0}, {"erin", 3.0}}},
		{"top users prod", "overview-top-users", prod, [][]any{{"alice", 5.0}, {"bob", 4.0}, {"dave", 4.0}, {"carol", 3.0}}},
		{"top users from the second hour", "overview-top-users", with(day, "from", f.at(1)), [][]any{
			{"alice", 2.0}, {"carol", 2.0}, {"erin", 2.0}}},
		{"failed logins", "overview-failed-logins", day, [][]any{{4.0}}},
		{"failed logins prod", "overview-failed-logins", prod, [][]any{{3.0}}},
		{"failed logins dev", "overview-failed-logins", dev, [][]any{{1.0}}},
		{"failed logins unknown environment", "overview-failed-logins", with(day, "environment", "staging"), [][]any{{0.0}}},
		{"failed logins last minute", "overview-failed-logins", url.Values{"range": {"1m"}}, [][]any{{0.0}}},
		{"network and security", "overview-network-security-events", day, [][]any{
			{"CreateNetworkAcl", 1.0}, {"CreateSecurityGroup", 1.0}, {"DeleteSecurityGroup", 1.0}}},
		{"network and security dev", "overview-network-security-events", dev, [][]any{}},
		{"environment all", "overview-failed-logins", with(day, "environment", "all"), [][]any{{4.0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := get(t, f.srv.URL, "/api/panels/"+tt.panel+"?"+tt.query.Encode(), http.StatusOK)
			if a.ID != tt.panel || a.Dashboard != "overview" || a.Title == "" || a.Kind == "" {
				t.Errorf("panel header: id %q dashboard %q title %q kind %q", a.ID, a.Dashboard, a.Title, a.Kind)
			}
			if !reflect.DeepEqual(a.Rows, tt.want) {
				t.Errorf("rows:\n got  %v\n want %v", a.Rows, tt.want)
			}
			for _, r := range a.Rows {
				if len(r) != len(a.Columns) {
					t.Errorf("row %v has %d values for %d columns", r, len(r), len(a.Columns))
				}
			}
		})
	}
}

func TestPanelSelectionEcho(t *testing.T) {
	f := newFixture(t)
	a := get(t, f.srv.URL, "/api/panels/overview-top-users?from="+url.QueryEscape(f.at(0))+"&to="+url.QueryEscape(f.at(24))+"&environment=prod", http.StatusOK)
	if a.From != f.at(0) || a.To != f.at(24) || a.Environment != "prod" {
		t.Errorf("answer for from %s to %s in prod says from %s to %s in %q", f.at(0), f.at(24), a.From, a.To, a.Environment)
	}
	if a.Kind != "column" || len(a.Columns) != 2 || a.Columns[0].Name != "user_name" || a.Columns[1].Type != "number" {
		t.Errorf("kind %q columns %+v", a.Kind, a.Columns)
	}
	a = get(t, f.srv.URL, "/api/panels/overview-geo", http.StatusOK)
	var cols []string
	for _, c := range a.Columns {
		cols = append(cols, fmt.Sprintf("%s:%s:%v", c.Name, c.Type, c.Hidden))
	}
	if want := "country_code:string:false country_name:string:false events:number:false users:number:false latitude:number:true longitude:number:true"; strings.Join(cols, " ") != want {
		t.Errorf("geo panel columns (name:type:hidden) %s, want %s", strings.Join(cols, " "), want)
	}
	a = get(t, f.srv.URL, "/api/panels/overview-top-users", http.StatusOK)
	from, _ := time.Parse(time.RFC3339, a.From)
	to, _ := time.Parse(time.RFC3339, a.To)
	if to.Sub(from) != 24*time.Hour || time.Since(to) > time.Minute || a.Environment != "all" {
		t.Errorf("default selection: from %s to %s in %q, want the last 24 hours in all", a.From, a.To, a.Environment)
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
		{"bad range", "/api/panels/overview-geo?range=7d", http.StatusBadRequest, "range"},
		{"negative range", "/api/panels/overview-geo?range=-1h", http.StatusBadRequest, "empty"},
		{"from after to", "/api/panels/overview-geo?from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z", http.StatusBadRequest, "empty"},
		{"range too long", "/api/panels/overview-geo?range=10000h", http.StatusBadRequest, "longer"},
		{"environment too long", "/api/panels/overview-geo?environment=" + strings.Repeat("x", 300), http.StatusBadRequest, "environment"},
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

func TestPanelList(t *testing.T) {
	f := newFixture(t)
	res, err := http.Get(f.srv.URL + "/api/panels")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var list struct {
		Panels []struct{ ID, Dashboard, Title, Kind string }
	}
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"overview-geo": "table", "overview-created-resources": "pie", "overview-deleted-resources": "bar",
		"overview-top-users": "column", "overview-failed-logins": "single", "overview-network-security-events": "pie",
	}
	got := map[string]string{}
	for _, p := range list.Panels {
		got[p.ID] = p.Kind
		if p.Dashboard != "overview" || p.Title == "" {
			t.Errorf("panel %s: dashboard %q title %q", p.ID, p.Dashboard, p.Title)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("panels %v, want %v", got, want)
	}
}

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

func TestDashboardPage(t *testing.T) {
	f := newFixture(t)
	res, page := body(t, f.srv.URL, "/?environment=%3Cscript%3Ealert(1)%3C/script%3E")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for _, id := range []string{"overview-geo", "overview-created-resources", "overview-deleted-resources",
		"overview-top-users", "overview-failed-logins", "overview-network-security-events"} {
		if !strings.Contains(page, `data-panel="`+id+`"`) {
			t.Errorf("the page has no panel %s", id)
		}
	}
	for _, want := range []string{`<option value="prod">prod</option>`, `<option value="dev">dev</option>`,
		`<option value="24h" selected>Last 24 hours</option>`, "&lt;script&gt;alert(1)&lt;/script&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	for _, want := range []string{
		`<a href="https://db-ip.com">` + geo.Attribution + `</a>`,
		`Admin users: <a href="/api/admin-users" id="admin-users">0</a>`,
		"<code>curl -T admin_users.csv " + f.srv.URL + "/api/admin-users</code>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page's footer lacks %s", want)
		}
	}
	if err := admins.Store(context.Background(), f.conn, f.db, []string{"alice", "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, page := body(t, f.srv.URL, "/"); !strings.Contains(page, `id="admin-users">2</a>`) {
		t.Error("the page does not count the two admin users stored")
	}
	if strings.Contains(page, "<script>alert(1)") {
		t.Error("the environment parameter is rendered unescaped")
	}
	if _, page := body(t, f.srv.URL, "/?from=bad"); !strings.Contains(page, `class="problem"`) || !strings.Contains(page, `value="custom" selected`) {
		t.Error("a bad time range is not reported on the page")
	}
	if res, _ := body(t, f.srv.URL, "/nothing"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing: %d, want 404", res.StatusCode)
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
	srv := httpServer(t, console.Handler(down, "trailstream"))
	res, b = body(t, srv, "/healthz")
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "ClickHouse does not answer") {
		t.Errorf("healthz with ClickHouse down: %d %q", res.StatusCode, b)
	}

	srv = httpServer(t, console.Handler(f.conn, "bad-name; DROP"))
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
