package console_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/trailstream/trailstream/services/console"
)

// eventsAnswer is the JSON answer of /api/events.
type eventsAnswer struct {
	From, To string
	Filters  map[string]string
	Panel    string
	Total    int
	Limit    int
	Offset   int
	Columns  []struct{ Name, Label, Type string }
	Rows     [][]any
	SQL      string
	Error    string
}

func events(t *testing.T, base string, q url.Values, status int) eventsAnswer {
	t.Helper()
	a, _ := getJSON[eventsAnswer](t, base, "/api/events?"+q.Encode(), status)
	return a
}

// ids returns the event_id column of the events search's rows.
func ids(a eventsAnswer) []string {
	out := []string{}
	for _, r := range a.Rows {
		out = append(out, r[len(r)-1].(string))
	}
	return out
}

func TestEventsSearch(t *testing.T) {
	f := newFixture(t)
	day := f.day()
	a := events(t, f.srv.URL, with(day, "user_name", "alice"), http.StatusOK)
	var cols []string
	for _, c := range a.Columns {
		cols = append(cols, c.Name)
	}
	if want := "event_time user_name event_name event_source aws_region account_id source_ip country_code outcome error_code raw event_id"; strings.Join(cols, " ") != want {
		t.Errorf("columns %s, want %s", strings.Join(cols, " "), want)
	}
	if a.Total != 6 || a.Limit != 100 || a.Offset != 0 || !reflect.DeepEqual(ids(a), []string{"o21", "o13", "o07", "o05", "o02", "o01"}) {
		t.Errorf("alice's events: total %d limit %d offset %d, %v", a.Total, a.Limit, a.Offset, ids(a))
	}
	if len(a.Rows) > 0 {
		first := a.Rows[0]
		want := []any{f.at(-30), "alice", "GetObject", "s3.amazonaws.com", "us-east-1", "123456789012", "81.2.69.160", "GB", "success", ""}
		if !reflect.DeepEqual(first[:10], want) {
			t.Errorf("first row %v, want %v", first[:10], want)
		}
		var raw struct{ EventID, EventName string }
		if err := json.Unmarshal([]byte(first[10].(string)), &raw); err != nil || raw.EventID != "o21" || raw.EventName != "GetObject" {
			t.Errorf("raw record %q: %v", first[10], err)
		}
	}
	if !strings.Contains(a.SQL, "user_name = @user_name") || strings.Contains(a.SQL, "'alice'") {
		t.Errorf("sql %s", a.SQL)
	}

	tests := []struct {
		name  string
		query url.Values
		total int
		want  []string
	}{
		{"a page", with(day, "user_name", "alice", "limit", "2", "offset", "2"), 6, []string{"o07", "o05"}},
		{"the last page", with(day, "user_name", "alice", "limit", "4", "offset", "4"), 6, []string{"o02", "o01"}},
		{"the default 24 hours", url.Values{"user_name": {"alice"}}, 6, []string{"o21", "o13", "o07", "o05", "o02", "o01"}},
		{"a pie slice: the created users", with(day, "panel", "overview-created-resources", "noun", "User"), 2, []string{"o25", "o01"}},
		{"a single value: the failed logins", with(day, "panel", "overview-failed-logins"), 3, []string{"o18", "o15", "o14"}},
		{"an hour of a stacked column", url.Values{"panel": {"overview-deleted-resources"}, "noun": {"User"}, "from": {f.h(-4)}, "to": {f.h(-3)}}, 1, []string{"o07"}},
		{"source IP", with(day, "source_ip", "8.8.8.8"), 4, []string{"o25", "o11", "o04", "o03"}},
		{"country", with(day, "country_code", "NL"), 4, []string{"o24", "o17", "o16", "o14"}},
		{"outcome and service", with(day, "outcome", "failure", "event_source", "iam.amazonaws.com"), 2, []string{"o10", "o02"}},
		{"error code", with(day, "error_code", "AccessDenied"), 1, []string{"o02"}},
		{"hidden user names", with(day, "user_name_hidden", "true"), 1, []string{"o15"}},
		{"a resource", with(day, "resource_name", "sg-009"), 1, []string{"o08"}},
		{"account and region", with(day, "account_id", "210987654321", "aws_region", "us-east-1"), 1, []string{"o24"}},
		{"user type and role", with(day, "user_type", "AssumedRole", "role_name", "Admin"), 2, []string{"o24", "o03"}},
		{"environment", with(day, "environment", "dev"), 2, []string{"o18", "o09"}},
		{"a quote and a backslash", with(day, "user_name", `o'brien\`), 1, []string{"o26"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := events(t, f.srv.URL, tt.query, http.StatusOK)
			if a.Total != tt.total || !reflect.DeepEqual(ids(a), tt.want) {
				t.Errorf("total %d, %v; want %d, %v", a.Total, ids(a), tt.total, tt.want)
			}
		})
	}

	for _, bad := range []struct{ query, says string }{
		{"limit=0", "limit"}, {"limit=501", "limit"}, {"limit=x", "limit"}, {"offset=-1", "offset"},
		{"panel=nothing", "no panel"}, {"usr=alice", "unknown parameter"}, {"raw=x", "unknown parameter"},
		{"from=yesterday", "from"}, {"outcome=a&outcome=b", "once"},
	} {
		q, _ := url.ParseQuery(bad.query)
		if a := events(t, f.srv.URL, q, http.StatusBadRequest); !strings.Contains(a.Error, bad.says) {
			t.Errorf("%s: error %q does not say %q", bad.query, a.Error, bad.says)
		}
	}
}

// jsonl downloads the events as JSON lines and returns the response and the event IDs.
func jsonl(t *testing.T, base string, q url.Values) (*http.Response, []string) {
	t.Helper()
	res, err := http.Get(base + "/api/events.jsonl?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := []string{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			EventID string `json:"eventID"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, rec.EventID)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return res, out
}

func TestEventsDownload(t *testing.T) {
	f := newFixture(t)
	q := with(f.day(), "user_name", "alice")
	res, got := jsonl(t, f.srv.URL, q)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/x-ndjson; charset=utf-8" ||
		res.Header.Get("Content-Disposition") != `attachment; filename="events.jsonl"` {
		t.Fatalf("download: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
	}
	if want := []string{"o21", "o13", "o07", "o05", "o02", "o01"}; !reflect.DeepEqual(got, want) || res.Header.Get("X-Total-Count") != "6" || res.Header.Get("X-Truncated") != "" {
		t.Errorf("download: %v (X-Total-Count %q, X-Truncated %q), want %v", got, res.Header.Get("X-Total-Count"), res.Header.Get("X-Truncated"), want)
	}

	defer console.SetMaxEventsExport(4)()
	res, got = jsonl(t, f.srv.URL, q)
	if want := []string{"o21", "o13", "o07", "o05"}; !reflect.DeepEqual(got, want) || res.Header.Get("X-Total-Count") != "6" ||
		!strings.Contains(res.Header.Get("X-Truncated"), "the first 4 of 6") {
		t.Errorf("download cut at 4: %v (X-Total-Count %q, X-Truncated %q), want %v", got, res.Header.Get("X-Total-Count"), res.Header.Get("X-Truncated"), want)
	}

	res, _ = jsonl(t, f.srv.URL, url.Values{"limit": {"5"}})
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("download with limit: %d, want 400 (the download has no pages)", res.StatusCode)
	}
}

// hostile are filter values that would change a query spliced into SQL.
var hostile = []string{
	`x' OR '1'='1`, `\' OR 1=1 --`, `alice\`, `'; DROP TABLE events; --`, `") OR ("1"="1`,
	`@from`, `{filter}`, "a\x00b", `%`, `alice' --`,
}

// TestHostileFilters checks that filter values with quotes, backslashes and SQL match
// nothing, as any value no event has: every panel and the events search answer as for a
// name nobody has, for every text filter.
func TestHostileFilters(t *testing.T) {
	f := newFixture(t)
	day := f.day()
	var names []string
	res, b := body(t, f.srv.URL, "/api/dashboards")
	var list struct {
		Dashboards []struct{ Panels []struct{ ID string } }
	}
	if err := json.Unmarshal([]byte(b), &list); err != nil || res.StatusCode != http.StatusOK {
		t.Fatal(err)
	}
	for _, d := range list.Dashboards {
		for _, p := range d.Panels {
			names = append(names, p.ID)
		}
	}
	rows := func(panel string, q url.Values) [][]any {
		return get(t, f.srv.URL, "/api/panels/"+panel+"?"+q.Encode(), http.StatusOK).Rows
	}
	for _, panel := range names {
		for _, param := range []string{"user_name", "event_name"} {
			want := rows(panel, with(day, param, "nobody"))
			for _, v := range hostile {
				if got := rows(panel, with(day, param, v)); !reflect.DeepEqual(got, want) {
					t.Errorf("%s with %s=%q: %v, want %v as for nobody", panel, param, v, got, want)
				}
			}
		}
	}
	for _, param := range []string{"environment", "account_id", "aws_region", "user_name", "event_name",
		"source_ip", "country_code", "outcome", "error_code", "event_source", "event_id", "event_type",
		"user_agent", "user_type", "user_arn", "error_message", "action", "role_name", "session_name",
		"principal_id", "access_key_id", "actor_account_id", "invoked_by", "login_result", "event_category",
		"resource_type", "country_name", "city", "resource_name", "resource_arn", "noun"} {
		for _, v := range hostile {
			if got := rows("overview-top-users", with(day, param, v)); len(got) != 0 {
				t.Errorf("top users with %s=%q: %v, want none", param, v, got)
			}
			if a := events(t, f.srv.URL, with(day, param, v), http.StatusOK); a.Total != 0 || len(a.Rows) != 0 {
				t.Errorf("events with %s=%q: %d, want none", param, v, a.Total)
			}
		}
	}
	var stored uint64
	if err := f.conn.QueryRow(t.Context(), "SELECT count() FROM "+f.db+".events").Scan(&stored); err != nil || stored != 28 {
		t.Errorf("the events table holds %d rows after the hostile requests (%v), want the 28 loaded", stored, err)
	}
}
