package console_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/trailstream/trailstream/services/console"
)

// hostileValues are what a hostile client puts in a parameter: quotes and backslashes,
// SQL that would select every row if it were spliced into a query, NUL bytes, very long
// strings, SQL keywords, the placeholders of the console's own SQL and of the driver's
// binding, invalid UTF-8, JSON, HTML and CSV metacharacters, and numbers a parser may
// choke on. No stored row has any of them as a value.
var hostileValues = []string{
	`'`, `''`, `"`, "`", `\`, `\'`, `\\'`, `' OR 1=1 --`, `' OR '1'='1`, `x' OR 1=1 #`, `\' OR 1=1 --`,
	`x' OR user_name = 'alice`, `') OR ('1'='1`, `" OR "1"="1`, `' UNION ALL SELECT raw FROM events --`,
	`'; DROP TABLE events; --`, `SELECT`, `/* x */`, "\x00", "a\x00' OR 1=1 --", `%00`, `%27 OR 1=1`, "\r\nX-Injected: 1",
	strings.Repeat("A", 1024), strings.Repeat(`'`, 1024), strings.Repeat("x", 5000),
	`{database}`, `{events}`, `{filter}`, `@from`, `?`, `$1`, `{from:DateTime}`,
	"\xff\xfe", "\xc3\x28", `{"a":1}`, `</script><script>alert(1)</script>`,
	`=cmd|' /C calc'!A0`, "a,b\n\"c\"", `-1`, `-9223372036854775809`, `99999999999999999999`, `1e309`, `NaN`,
	`../../etc/passwd`, `.`,
}

// hostileInjections are the values tried on every filter: the shortest ways to change a
// query, had the value been spliced into it.
var hostileInjections = []string{`' OR '1'='1`, `\' OR 1=1 --`, `x' OR 1=1 #`, "a\x00' OR 1=1 --", `{filter}`, `@from`, "\xff'"}

// eventFilterNames are the events filters, as the console documents them.
var eventFilterNames = []string{"environment", "account_id", "aws_region", "user_name", "event_name",
	"source_ip", "country_code", "outcome", "error_code", "event_source", "event_id", "event_version", "event_type",
	"user_agent", "user_type", "user_arn", "error_message", "action", "role_name", "session_name", "principal_id",
	"access_key_id", "actor_account_id", "invoked_by", "login_result", "event_category", "resource_type",
	"country_name", "city", "mfa_used", "session_mfa", "user_name_hidden", "is_read_only", "is_network_security",
	"is_public_exposure", "is_admin", "event_id_derived", "resource_name", "resource_arn", "noun"}

// detectionFilterNames are the detections' own filters; a detections panel takes the
// events filters too.
var detectionFilterNames = []string{"environment", "account_id", "severity", "rule_id", "resource_type",
	"resource_name", "detection_id", "source", "actor", "tag"}

// adminUsersRoute is the admin-users route, every method.
const adminUsersRoute = "/api/admin-users"

// deepFilters get every hostile value; the other filters, which the same code compares,
// get hostileInjections.
var deepFilters = []string{"user_name", "resource_name", "mfa_used", "noun", "severity", "actor"}

// hostileAnswer is one answer of the console.
type hostileAnswer struct {
	status int
	header http.Header
	body   string
}

// hostileRun sends requests to a console and checks what every answer must be: not 5xx,
// valid JSON when it says JSON, JSON or the route's own format on the API, HTML that
// does not carry the value unescaped. It records the routes it exercised.
// Requests run hostileWorkers at a time (go, then wait); send is safe for concurrent use.
type hostileRun struct {
	t      *testing.T
	base   string
	client *http.Client
	jobs   chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex
	covered  map[string]bool
	requests int
}

// hostileWorkers is how many requests run at once.
const hostileWorkers = 4

// do runs f beside the others, hostileWorkers at a time.
func (h *hostileRun) do(f func()) {
	h.wg.Go(func() {
		h.jobs <- struct{}{}
		defer func() { <-h.jobs }()
		f()
	})
}

// wait returns once every f given to do has returned.
func (h *hostileRun) wait() { h.wg.Wait() }

func (h *hostileRun) send(route, method, target, contentType, body, value string) hostileAnswer {
	t := h.t
	t.Helper()
	h.mu.Lock()
	h.covered[route] = true
	h.requests++
	h.mu.Unlock()
	req, err := http.NewRequest(method, h.base+target, strings.NewReader(body))
	if err != nil {
		t.Errorf("%s %.200s: %v", method, target, err)
		return hostileAnswer{}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := h.client.Do(req)
	if err != nil {
		t.Errorf("%s %.200s: %v", method, target, err)
		return hostileAnswer{}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Errorf("%s %.200s: %v", method, target, err)
		return hostileAnswer{}
	}
	a := hostileAnswer{status: res.StatusCode, header: res.Header, body: string(b)}
	what := fmt.Sprintf("%s %.120s (value %.40q)", method, target, value)
	if a.status >= 500 {
		t.Errorf("%s: %d %.300s", what, a.status, a.body)
	}
	ct := res.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		if !json.Valid(b) {
			t.Errorf("%s: the JSON answer is not valid: %.300q", what, a.body)
		}
	case strings.HasPrefix(ct, "application/x-ndjson"):
		for _, line := range strings.Split(strings.TrimSuffix(a.body, "\n"), "\n") {
			if line != "" && !json.Valid([]byte(line)) {
				t.Errorf("%s: a line is not JSON: %.300q", what, line)
			}
		}
	case strings.HasPrefix(ct, "text/html"):
		if strings.ContainsAny(value, "<>") && strings.Contains(a.body, value) {
			t.Errorf("%s: the page carries the value unescaped", what)
		}
	case strings.HasPrefix(target, "/api/") && a.status < 300 && !strings.HasPrefix(ct, "text/csv"):
		t.Errorf("%s: Content-Type %q on the API", what, ct)
	case strings.HasPrefix(target, "/api/") && a.status >= 400:
		t.Errorf("%s: a %d answer of the API in %q, want JSON", what, a.status, ct)
	}
	if res.Header.Get("X-Injected") != "" {
		t.Errorf("%s: a header came from the value", what)
	}
	return a
}

func (h *hostileRun) get(route, target, value string) hostileAnswer {
	h.t.Helper()
	return h.send(route, http.MethodGet, target, "", "", value)
}

// emptyCheck says whether an answer of a data route selected nothing.
type emptyCheck func(a hostileAnswer) (bool, string)

func jsonRows(a hostileAnswer) (bool, string) {
	var v struct {
		Rows  [][]any `json:"rows"`
		Total *int    `json:"total"`
	}
	if err := json.Unmarshal([]byte(a.body), &v); err != nil {
		return false, err.Error()
	}
	total := 0
	if v.Total != nil {
		total = *v.Total
	}
	return len(v.Rows) == 0 && total == 0, fmt.Sprintf("%d rows, total %d", len(v.Rows), total)
}

func jsonTotal(a hostileAnswer) (bool, string) {
	var v struct{ Total int }
	if err := json.Unmarshal([]byte(a.body), &v); err != nil {
		return false, err.Error()
	}
	return v.Total == 0, fmt.Sprintf("total %d", v.Total)
}

func jsonLines(a hostileAnswer) (bool, string) {
	return a.body == "" && a.header.Get("X-Total-Count") == "0", fmt.Sprintf("%d bytes, X-Total-Count %s", len(a.body), a.header.Get("X-Total-Count"))
}

func csvRows(a hostileAnswer) (bool, string) {
	lines := strings.Count(a.body, "\n")
	return lines == 1, fmt.Sprintf("%d lines", lines)
}

// queryRoute is a route whose parameters are in the query.
type queryRoute struct {
	pattern string // of console.Routes()
	path    string
	filters []string // its filters
	params  []string // its other parameters, besides range, from and to
	// empty checks an answer of a data route selected nothing; nil for the pages, whose
	// rows the browser asks for. With account_id=123456789012, which every stored row has,
	// the answer must not be empty, so that an empty answer means something.
	empty emptyCheck
}

// TestHostileParameters sends hostile values in every parameter of every route (query
// parameters, path values, form and JSON fields, the CSV upload) and checks that no
// answer is a 5xx, that every JSON answer is valid, that a filter value never selects a
// row (every data route answers as for a value nobody has, though the same route with a
// real value has rows), that a value naming a real detection, source or token by
// injection finds none, and that the tables hold what they held.
func TestHostileParameters(t *testing.T) {
	f := loadDetections(t)
	h := &hostileRun{t: t, base: f.srv.URL, covered: map[string]bool{}, jobs: make(chan struct{}, hostileWorkers),
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	from, to := f.h(-48), f.h(1)
	window := url.Values{"from": {from}, "to": {to}}

	// A source and a token of the console's, to name by injection.
	if a := h.send("POST /api/sources", http.MethodPost, "/api/sources", "application/json",
		`{"name":"real-source","bucket":"real-bucket"}`, ""); a.status != http.StatusCreated {
		t.Fatalf("add the real source: %d %s", a.status, a.body)
	}
	var tok struct{ ID string }
	a := h.send("POST /api/tokens", http.MethodPost, "/api/tokens", "application/json", `{"name":"real-token","role":"viewer"}`, "")
	if err := json.Unmarshal([]byte(a.body), &tok); err != nil || a.status != http.StatusCreated || tok.ID == "" {
		t.Fatalf("create the real token: %d %s", a.status, a.body)
	}
	tables := []string{"events", "detections", "files", "checkpoints", "digest_files", "source_state"}
	counts := func() map[string]uint64 {
		out := map[string]uint64{}
		for _, tb := range append(slices.Clone(tables), "sources FINAL WHERE deleted = 0", "credentials FINAL WHERE revoked = 0") {
			var n uint64
			if err := f.conn.QueryRow(t.Context(), "SELECT count() FROM "+f.db+"."+tb).Scan(&n); err != nil {
				t.Fatal(err)
			}
			out[tb] = n
		}
		return out
	}
	before := counts()
	if before["events"] == 0 || before["detections"] == 0 {
		t.Fatalf("the fixture holds %v", before)
	}

	both := append(slices.Clone(detectionFilterNames), eventFilterNames...)
	pageParams := []string{"panel", "limit", "offset", "refresh"}
	routes := []queryRoute{
		{"GET /api/events", "/api/events", eventFilterNames, []string{"limit", "offset", "panel", "detection_id"}, jsonRows},
		{"GET /api/events.jsonl", "/api/events.jsonl", eventFilterNames, []string{"panel", "detection_id"}, jsonLines},
		{"GET /api/panels/{id}", "/api/panels/overview-top-users", eventFilterNames, []string{"format"}, jsonRows},
		{"GET /api/panels/{id}", "/api/panels/detections-list", both, []string{"format"}, jsonRows},
		{"GET /api/detections/summary", "/api/detections/summary", both, nil, jsonTotal},
		{"GET /{$}", "/", eventFilterNames, pageParams, nil},
		{"GET /d/{id}", "/d/console-logins", eventFilterNames, pageParams, nil},
		{"GET /events", "/events", eventFilterNames, append(slices.Clone(pageParams), "detection_id"), nil},
		{"GET /detections", "/detections", both, []string{"refresh"}, nil},
	}
	for _, rt := range routes {
		if rt.empty != nil {
			all := with(window, "account_id", "123456789012")
			if empty, says := rt.empty(h.get(rt.pattern, rt.path+"?"+all.Encode(), "")); empty {
				t.Fatalf("%s with account_id of every row: %s, want rows", rt.path, says)
			}
		}
		// The console's own list of its filters is the one tried here.
		a := h.get(rt.pattern, rt.path+"?"+with(window, "no_such_filter", "1").Encode(), "")
		if rt.empty != nil {
			var e struct{ Error string }
			_ = json.Unmarshal([]byte(a.body), &e)
			_, list, _ := strings.Cut(e.Error, "the filters are ")
			listed := strings.Split(list, ", ")
			slices.Sort(listed)
			want := slices.Clone(rt.filters)
			slices.Sort(want)
			if !slices.Equal(slices.Compact(listed), slices.Compact(want)) {
				t.Errorf("%s: the console's filters are %v, the table tries %v", rt.path, listed, want)
			}
		}
		for _, param := range append(append([]string{"range", "from", "to"}, rt.params...), rt.filters...) {
			// Every value on the parameters that are not filters, and on the deep filters of
			// the data routes (the pages only read the filters).
			values := hostileInjections
			if !slices.Contains(rt.filters, param) || rt.empty != nil && slices.Contains(deepFilters, param) {
				values = hostileValues
			}
			for _, v := range values {
				var q url.Values
				switch param {
				case "range":
					q = url.Values{"range": {v}}
				case "from":
					q = url.Values{"from": {v}}
				case "to":
					q = url.Values{"from": {from}, "to": {v}}
				default:
					q = with(window, param, v)
				}
				h.do(func() {
					a := h.get(rt.pattern, rt.path+"?"+q.Encode(), v)
					isFilter := slices.Contains(rt.filters, param) || param == "detection_id"
					if rt.empty != nil && isFilter && a.status == http.StatusOK {
						if empty, says := rt.empty(a); !empty {
							t.Errorf("%s with %s=%.60q: %s, want nothing selected", rt.path, param, v, says)
						}
					}
				})
			}
		}
		// The value as a parameter's name.
		for _, v := range hostileValues {
			h.do(func() { h.get(rt.pattern, rt.path+"?"+url.Values{v: {"1"}}.Encode(), v) })
		}
		// The panels' CSV.
		if strings.HasPrefix(rt.path, "/api/panels/") {
			for _, v := range hostileInjections {
				h.do(func() {
					a := h.get(rt.pattern, rt.path+"?"+with(window, "format", "csv", "account_id", v).Encode(), v)
					if empty, says := csvRows(a); a.status != http.StatusOK || !empty {
						t.Errorf("%s CSV with account_id=%q: %d, %s; want the header alone", rt.path, v, a.status, says)
					}
				})
			}
		}
	}

	// Every panel, with an injection in a filter of its own table, selects nothing: as a
	// value nobody has.
	var list struct {
		Dashboards []struct{ Panels []struct{ ID string } }
		Detections struct{ Panels []struct{ ID string } }
	}
	if err := json.Unmarshal([]byte(h.get("GET /api/dashboards", "/api/dashboards", "").body), &list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range list.Dashboards {
		for _, p := range d.Panels {
			ids = append(ids, p.ID)
		}
	}
	for _, p := range list.Detections.Panels {
		ids = append(ids, p.ID)
	}
	for _, id := range ids {
		h.do(func() {
			want := h.get("GET /api/panels/{id}", "/api/panels/"+id+"?"+with(window, "account_id", "000000000000").Encode(), "").body
			for _, v := range []string{`' OR '1'='1`, `x' OR 1=1 --`} {
				got := h.get("GET /api/panels/{id}", "/api/panels/"+id+"?"+with(window, "account_id", v).Encode(), v).body
				if rowsOf(t, got) != rowsOf(t, want) {
					t.Errorf("panel %s with account_id=%q: rows %s, want %s as for an account nobody has", id, v, rowsOf(t, got), rowsOf(t, want))
				}
			}
		})
	}

	// Path values: a panel, a dashboard, a detection, a source, a token, a static file.
	inject := func(real string) []string {
		return []string{real + `' OR '1'='1`, real + `'--`, real + `' OR 1=1 #`, real + "\x00", real + `\`, " " + real}
	}
	pathRoutes := []struct {
		pattern, method, prefix, suffix string
		real                            string // a value that names a row: found as itself only
		found                           int    // the status for real; 0: not asked (it would remove it)
	}{
		{"GET /api/panels/{id}", http.MethodGet, "/api/panels/", "", "overview-geo", http.StatusOK},
		{"GET /d/{id}", http.MethodGet, "/d/", "", "overview", http.StatusOK},
		{"GET /api/detections/{id}", http.MethodGet, "/api/detections/", "", "d01", http.StatusOK},
		{"GET /api/sources/{id}", http.MethodGet, "/api/sources/", "", "real-source", http.StatusOK},
		{"POST /api/sources/{id}/enable", http.MethodPost, "/api/sources/", "/enable", "real-source", http.StatusOK},
		{"POST /api/sources/{id}/disable", http.MethodPost, "/api/sources/", "/disable", "real-source", http.StatusOK},
		{"DELETE /api/sources/{id}", http.MethodDelete, "/api/sources/", "", "real-source", 0},
		{"DELETE /api/tokens/{id}", http.MethodDelete, "/api/tokens/", "", tok.ID, 0},
		{"GET /static/", http.MethodGet, "/static/", "", "app.js", http.StatusOK},
	}
	for _, pr := range pathRoutes {
		values := append(slices.Clone(hostileValues), inject(pr.real)...)
		if pr.found != 0 {
			if a := h.send(pr.pattern, pr.method, pr.prefix+url.PathEscape(pr.real)+pr.suffix, "", "", ""); a.status != pr.found {
				t.Errorf("%s %s: %d, want %d", pr.method, pr.real, a.status, pr.found)
			}
		}
		for _, v := range values {
			if v == "" {
				continue
			}
			h.do(func() {
				a := h.send(pr.pattern, pr.method, pr.prefix+url.PathEscape(v)+pr.suffix, "", "", v)
				if a.status < 300 && v != "." {
					t.Errorf("%s %s%.60q%s: %d, want nothing found", pr.method, pr.prefix, v, pr.suffix, a.status)
				}
			})
		}
	}
	// The events of a detection named by injection.
	for _, v := range inject("d01") {
		h.do(func() {
			if a := h.get("GET /api/events", "/api/events?"+url.Values{"detection_id": {v}}.Encode(), v); a.status != http.StatusNotFound {
				t.Errorf("events of detection %q: %d, want 404", v, a.status)
			}
		})
	}

	// Routes without parameters of their own: a hostile one is ignored or refused.
	for _, pattern := range []string{"GET /sources", "GET /audit", "GET /metrics", "GET /healthz", "GET /api/me",
		"GET /api/dashboards", "GET /api/panels", "GET /api/tokens", "POST /logout"} {
		method, path, _ := strings.Cut(pattern, " ")
		for _, v := range hostileInjections {
			h.do(func() { h.send(pattern, method, path+"?"+url.Values{"x": {v}, v: {v}}.Encode(), "", "", v) })
		}
	}
	for _, v := range hostileInjections {
		h.get(adminUsersRoute, "/api/admin-users?"+url.Values{"x": {v}, v: {v}}.Encode(), v)
	}
	for _, rt := range []struct{ pattern, path, param string }{
		{"GET /api/sources", "/api/sources", "days"}, {"GET /api/sources", "/api/sources", "from"},
		{"GET /api/sources", "/api/sources", "to"}, {"GET /api/sources/{id}", "/api/sources/real-source", "days"},
		{"GET /api/audit", "/api/audit", "limit"}, {"GET /login", "/login", "next"},
		{"GET /auth/oidc/login", "/auth/oidc/login", "next"}, {"GET /auth/oidc/callback", "/auth/oidc/callback", "code"},
		{"GET /auth/oidc/callback", "/auth/oidc/callback", "state"}, {"GET /auth/oidc/callback", "/auth/oidc/callback", "error"},
	} {
		for _, v := range hostileValues {
			q := url.Values{rt.param: {v}}
			if rt.param == "to" {
				q.Set("from", "2024-05-01")
			}
			h.do(func() {
				a := h.get(rt.pattern, rt.path+"?"+q.Encode(), v)
				if rt.param == "next" && a.status == http.StatusOK && strings.Contains(a.body, `name="next" value="`+v) && !strings.HasPrefix(v, "/") {
					t.Errorf("login with next=%q: the form sends the browser there", v)
				}
			})
		}
	}

	// Bodies: each field of a source (JSON and form), of a token, of the login form, and
	// the admin-users CSV. A value accepted is stored as sent, and read back as sent.
	fields := []string{"name", "bucket", "prefix", "region", "role_arn", "external_id", "environment", "queue", "enabled"}
	var (
		created   []string
		createdMu sync.Mutex
	)
	keep := func(ids []string) {
		createdMu.Lock()
		created = append(created, ids...)
		createdMu.Unlock()
	}
	for _, field := range fields {
		values := hostileInjections
		if field == "name" || field == "prefix" || field == "environment" {
			values = hostileValues
		}
		for i, v := range values {
			h.do(func() {
				src := map[string]any{"name": fmt.Sprintf("hostile-%s-%d", field, i), "bucket": "hostile-bucket"}
				src[field] = v
				if field == "enabled" {
					src[field] = json.RawMessage(fmt.Sprintf("%q", v)) // a string where a boolean goes
				}
				b, _ := json.Marshal(src)
				a := h.send("POST /api/sources", http.MethodPost, "/api/sources", "application/json", string(b), v)
				keep(checkSource(t, h, a, src, field, v))
				if field != "name" && !slices.Contains(hostileInjections, v) {
					return // the form's fields are read alike: every value on the name, the injections on the others
				}
				form := url.Values{}
				for k, x := range src {
					form.Set(k, fmt.Sprint(x))
				}
				form.Set("name", fmt.Sprintf("hostile-form-%s-%d", field, i))
				form.Set(field, v)
				if field == "name" {
					form.Set("name", v+"-form")
				}
				src["name"] = form.Get("name")
				src[field] = form.Get(field)
				a = h.send("POST /api/sources", http.MethodPost, "/api/sources", "application/x-www-form-urlencoded", form.Encode(), v)
				keep(checkSource(t, h, a, src, field, v))
			})
		}
	}
	for _, body := range []string{`[]`, `null`, `{"name":1e309}`, `{"name":NaN}`, `{"name":"a"}{"name":"b"}`,
		"{\"name\":\"\xff\"}", `{"name":"\u0000"}`, `{"name":{"$ne":1}}`, `{"unknown":"x"}`, `{"enabled":"yes"}`,
		strings.Repeat("[", 10000), `{"name":"x' OR '1'='1","bucket":"hostile-bucket"}`} {
		h.do(func() {
			a := h.send("POST /api/sources", http.MethodPost, "/api/sources", "application/json", body, body)
			if a.status < 300 {
				t.Errorf("POST /api/sources %.60q: %d, want refused", body, a.status)
			}
		})
	}
	// A key given twice: the last counts, as encoding/json reads it.
	if a := h.send("POST /api/sources", http.MethodPost, "/api/sources", "application/json",
		`{"name":"twice-a","name":"twice-b","bucket":"hostile-bucket"}`, ""); a.status == http.StatusCreated {
		keep([]string{"twice-b"})
	} else if a.status != http.StatusBadRequest {
		t.Errorf("a source with a key given twice: %d %s", a.status, a.body)
	}
	for _, field := range []string{"name", "role", "expires"} {
		for _, v := range hostileValues {
			h.do(func() {
				tr := map[string]string{"name": "hostile-token", "role": "viewer", field: v}
				b, _ := json.Marshal(tr)
				a := h.send("POST /api/tokens", http.MethodPost, "/api/tokens", "application/json", string(b), v)
				if a.status != http.StatusCreated {
					return
				}
				var c struct{ ID, Name string }
				wantName := strings.TrimSpace(tr["name"])
				if b, err := json.Marshal(wantName); err == nil {
					_ = json.Unmarshal(b, &wantName)
				}
				if err := json.Unmarshal([]byte(a.body), &c); err != nil || c.Name != wantName {
					t.Errorf("token named %q: stored as %q (%v)", tr["name"], c.Name, err)
				}
				if d := h.send("DELETE /api/tokens/{id}", http.MethodDelete, "/api/tokens/"+url.PathEscape(c.ID), "", "", ""); d.status != http.StatusOK {
					t.Errorf("revoke token %s: %d", c.ID, d.status)
				}
			})
		}
	}
	for _, field := range []string{"user", "password", "next"} {
		for _, v := range hostileValues {
			form := url.Values{"user": {"alice"}, "password": {"x"}, field: {v}}
			h.do(func() {
				h.send("POST /login", http.MethodPost, "/login", "application/x-www-form-urlencoded", form.Encode(), v)
			})
		}
	}
	// The admin list is one for the whole console: its uploads run one after the other.
	h.wait()
	for _, v := range hostileValues {
		var b bytes.Buffer
		cw := csv.NewWriter(&b)
		cw.Write([]string{v})
		cw.Flush()
		for _, method := range []string{http.MethodPut, http.MethodPost} {
			a := h.send(adminUsersRoute, method, "/api/admin-users", "text/csv", b.String(), v)
			if a.status != http.StatusOK {
				continue
			}
			var got struct {
				AdminUsers []string `json:"admin_users"`
			}
			if err := json.Unmarshal([]byte(h.get(adminUsersRoute, "/api/admin-users", v).body), &got); err != nil ||
				!slices.Equal(got.AdminUsers, []string{v}) {
				t.Errorf("admin users after uploading %q: %q (%v), want it alone", v, got.AdminUsers, err)
			}
		}
	}
	for _, id := range created {
		h.do(func() {
			if a := h.send("DELETE /api/sources/{id}", http.MethodDelete, "/api/sources/"+url.PathEscape(id), "", "", id); a.status != http.StatusOK {
				t.Errorf("remove source %q: %d %s", id, a.status, a.body)
			}
		})
	}
	h.wait()

	// Every route was tried.
	for _, rt := range console.Routes() {
		if !h.covered[rt.Pattern] {
			t.Errorf("route %s has no hostile values in this test", rt.Pattern)
		}
	}
	// The tables hold what they held: the sources and tokens created along the way are
	// removed and revoked again.
	if after := counts(); !mapsEqual(after, before) {
		t.Errorf("row counts after the hostile requests: %v, want %v", after, before)
	}
	t.Logf("%d requests, %d sources created and removed", h.requests, len(created))

}

// checkSource checks the answer to adding src, whose field holds the hostile v: refused
// with 400 or 409, or created with every field as sent (spaces trimmed). It returns the
// ID of a source created.
func checkSource(t *testing.T, h *hostileRun, a hostileAnswer, src map[string]any, field, v string) []string {
	t.Helper()
	if a.status != http.StatusCreated {
		if a.status != http.StatusBadRequest && a.status != http.StatusConflict {
			t.Errorf("POST /api/sources with %s=%.60q: %d %.200s, want 201, 400 or 409", field, v, a.status, a.body)
		}
		return nil
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(a.body), &got); err != nil {
		t.Errorf("POST /api/sources with %s=%.60q: %v", field, v, err)
		return nil
	}
	id, _ := got["id"].(string)
	read := h.get("GET /api/sources/{id}", "/api/sources/"+url.PathEscape(id), v)
	var back map[string]any
	if err := json.Unmarshal([]byte(read.body), &back); err != nil || read.status != http.StatusOK {
		t.Errorf("GET the source %q added with %s=%.60q: %d %v", id, field, v, read.status, err)
		return []string{id}
	}
	for k, want := range src {
		if k == "enabled" || k == "external_id" {
			continue // a boolean; the external ID is never shown
		}
		// As JSON carries it: invalid UTF-8 reads back as U+FFFD, byte by byte.
		w := strings.TrimSpace(fmt.Sprint(want))
		if b, err := json.Marshal(w); err == nil {
			_ = json.Unmarshal(b, &w)
		}
		if back[k] != w {
			t.Errorf("source added with %s=%.60q: %s reads back %.60q, want %.60q", field, v, k, back[k], w)
		}
	}
	return []string{id}
}

// rowsOf returns the rows of a panel's JSON answer, as JSON.
func rowsOf(t *testing.T, body string) string {
	t.Helper()
	var v struct{ Rows json.RawMessage }
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%v: %.200s", err, body)
	}
	return string(v.Rows)
}

func mapsEqual(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
