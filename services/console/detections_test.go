package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	acctA = "123456789012"
	acctB = "210987654321"
	// policyChanged and policyTags are what the three iam-policy-changed detections of the
	// fixture carry.
	policyChanged = "An IAM policy attached, detached, put, deleted or versioned."
)

// list is a JSON array of strings as an answer decodes it.
func list(s ...string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

var policyTags = list("attack.privilege_escalation", "attack.t1098")

// detectionIDs returns the detection_id column (the 12th) of detections-list rows.
func detectionIDs(rows [][]any) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, r[11].(string))
	}
	return out
}

// TestDetectionsPanels checks the detections page's panels on the hand-written detections
// of testdata/detections.jsonl; d01 is stored twice, d07 began 25 hours ago.
func TestDetectionsPanels(t *testing.T) {
	f := loadDetections(t)
	day := f.day()
	f.check(t, []panelCase{
		// Per hour of the first event, by severity; d01, stored twice, counts once.
		{"over time", "detections-over-time", day, [][]any{
			{f.h(-7), "high", 1.0},
			{f.h(-4), "low", 1.0}, {f.h(-4), "medium", 1.0},
			{f.h(-3), "medium", 1.0},
			{f.h(-2), "low", 1.0},
			{f.h(-1), "critical", 1.0}, {f.h(-1), "high", 2.0}, {f.h(-1), "info", 1.0}}},
		{"over time, default window", "detections-over-time", nil, [][]any{
			{f.h(-7), "high", 1.0},
			{f.h(-4), "low", 1.0}, {f.h(-4), "medium", 1.0},
			{f.h(-3), "medium", 1.0},
			{f.h(-2), "low", 1.0},
			{f.h(-1), "critical", 1.0}, {f.h(-1), "high", 2.0}, {f.h(-1), "info", 1.0}}},
		{"over time, high", "detections-over-time", with(day, "severity", "high"), [][]any{
			{f.h(-7), "high", 1.0}, {f.h(-1), "high", 2.0}}},
		{"over time, a rule", "detections-over-time", with(day, "rule_id", "iam-policy-changed"), [][]any{
			{f.h(-4), "low", 1.0}, {f.h(-4), "medium", 1.0}, {f.h(-2), "low", 1.0}}},
		{"over time, 30 hours", "detections-over-time", url.Values{"from": {f.h(-30)}, "to": {f.h(1)}}, [][]any{
			{f.h(-25), "info", 1.0},
			{f.h(-7), "high", 1.0},
			{f.h(-4), "low", 1.0}, {f.h(-4), "medium", 1.0},
			{f.h(-3), "medium", 1.0},
			{f.h(-2), "low", 1.0},
			{f.h(-1), "critical", 1.0}, {f.h(-1), "high", 2.0}, {f.h(-1), "info", 1.0}}},

		// By rule, the most first, with the rule's highest severity.
		{"by rule", "detections-by-rule", day, [][]any{
			{"iam-policy-changed", 3.0, "medium"},
			{"cloudtrail-trail-weakened", 1.0, "info"},
			{"console-login-brute-force", 1.0, "medium"},
			{"console-login-without-mfa", 1.0, "high"},
			{"root-console-login", 1.0, "critical"},
			{"s3-bucket-made-public", 1.0, "high"},
			{"short-lived-iam-object", 1.0, "high"}}},
		{"by rule, high", "detections-by-rule", with(day, "severity", "high"), [][]any{
			{"console-login-without-mfa", 1.0, "high"}, {"s3-bucket-made-public", 1.0, "high"}, {"short-lived-iam-object", 1.0, "high"}}},
		{"by rule, a rule and a severity", "detections-by-rule", with(day, "rule_id", "iam-policy-changed", "severity", "low"), [][]any{
			{"iam-policy-changed", 2.0, "low"}}},
		{"by rule, an account", "detections-by-rule", with(day, "account_id", acctB), [][]any{
			{"iam-policy-changed", 1.0, "medium"}, {"root-console-login", 1.0, "critical"}}},
		{"by rule, an unknown severity", "detections-by-rule", with(day, "severity", "severe"), [][]any{}},

		// Every detection of the window, newest first, with its detail columns.
		{"list", "detections-list", day, [][]any{
			{f.at(-5), "info", "cloudtrail-trail-weakened", "Trail main updated", acctA, "prod", "cloudtrail-trail", "main", list("alice"), 1.0,
				f.at(-5), "d09", "UpdateTrail, event selectors that drop management events, a deleted event data store.",
				list("attack.defense_evasion", "attack.t1562.008"), "builtin", `{"event":"UpdateTrail","multi_region":false}`},
			{f.at(-28), "high", "console-login-without-mfa", "dave signed in without MFA", acctA, "dev", "iam-user", "dave", list("dave"), 1.0,
				f.at(-28), "d04", "A successful console login of an IAM user without MFA.",
				list("attack.initial_access", "attack.t1078.004"), "builtin", `{}`},
			{f.at(-30), "critical", "root-console-login", "Root signed in to the console without MFA", acctB, "prod", "iam-user", "root", list("root"), 1.0,
				f.at(-30), "d03", "Root signs in to the console.",
				list("attack.initial_access", "attack.t1078.004"), "builtin", `{"mfa":false,"source_ip":"133.242.0.1"}`},
			{f.at(-60), "high", "s3-bucket-made-public", "Bucket public-site made public by its policy", acctA, "prod", "s3-bucket", "public-site", list("bob"), 1.0,
				f.at(-60), "d08", "A bucket made public by ACL, policy or removal of its public access block.",
				list("attack.exfiltration", "attack.t1537"), "builtin", `{"how":"policy"}`},
			{f.at(-65), "low", "iam-policy-changed", "bob created the policy p-dev", acctA, "prod", "iam-policy", "p-dev", list("bob"), 1.0,
				f.at(-65), "d10", policyChanged, policyTags, "builtin", `{"admin":true}`},
			{f.at(-130), "medium", "console-login-brute-force", "3 failed console logins of carol in 10m0s", acctA, "prod", "iam-user", "carol",
				list("carol", "carol", "carol"), 3.0, f.at(-125), "d02", "Failed console logins for one user in 10 minutes.",
				list("attack.credential_access", "attack.t1110.001"), "rules/local.yaml", `{"failures":3,"threshold":3,"window":"10m0s"}`},
			{f.at(-190), "medium", "iam-policy-changed", "erin attached ReadOnlyAccess to ops-role", acctB, "dev", "iam-role", "ops-role", list("erin"), 1.0,
				f.at(-190), "d06", policyChanged, policyTags, "builtin", `{"admin":false}`},
			{f.at(-200), "low", "iam-policy-changed", "alice changed the policy p-admin", acctA, "prod", "iam-policy", "p-admin", list("alice"), 1.0,
				f.at(-200), "d05", policyChanged, policyTags, "builtin", `{"admin":true}`},
			{f.at(-400), "high", "short-lived-iam-object", "IAM user tmp-deploy created and deleted within 5m0s", acctA, "prod", "iam-user", "tmp-deploy",
				list("alice", "bob"), 2.0, f.at(-395), "d01", "An IAM object created and deleted again within 10 minutes.",
				list("attack.persistence", "attack.t1136.003"), "builtin", `{"seconds_alive":300,"window":"10m0s"}`}}},
	})

	// The list's filters, by the detections they leave.
	for _, tt := range []struct {
		name  string
		query url.Values
		want  []string
	}{
		{"the default window", nil, []string{"d09", "d04", "d03", "d08", "d10", "d02", "d06", "d05", "d01"}},
		{"30 hours", url.Values{"from": {f.h(-30)}, "to": {f.h(1)}}, []string{"d09", "d04", "d03", "d08", "d10", "d02", "d06", "d05", "d01", "d07"}},
		{"the last hour", with(day, "from", f.h(-1)), []string{"d09", "d04", "d03", "d08"}},
		{"severity", with(day, "severity", "high"), []string{"d04", "d08", "d01"}},
		{"severity info", with(day, "severity", "info"), []string{"d09"}},
		{"an unknown severity", with(day, "severity", "severe"), []string{}},
		{"rule", with(day, "rule_id", "iam-policy-changed"), []string{"d10", "d06", "d05"}},
		{"rule and severity", with(day, "rule_id", "iam-policy-changed", "severity", "low"), []string{"d10", "d05"}},
		{"a rule that found nothing", with(day, "rule_id", "root-access-key-created"), []string{}},
		{"account", with(day, "account_id", acctB), []string{"d03", "d06"}},
		{"environment", with(day, "environment", "dev"), []string{"d04", "d06"}},
		{"every environment", with(day, "environment", "all"), []string{"d09", "d04", "d03", "d08", "d10", "d02", "d06", "d05", "d01"}},
		{"resource", with(day, "resource_name", "tmp-deploy"), []string{"d01"}},
		{"actor", with(day, "actor", "alice"), []string{"d09", "d05", "d01"}},
		{"tag", with(day, "tag", "attack.t1098"), []string{"d10", "d06", "d05"}},
		{"source", with(day, "source", "rules/local.yaml"), []string{"d02"}},
		// An events filter selects the detections with an event that matches it: carol's
		// x10 is no detection's event.
		{"a user of the events", with(day, "user_name", "carol"), []string{"d02"}},
		{"another user of the events", with(day, "user_name", "bob"), []string{"d08", "d10", "d01"}},
		{"an event name", with(day, "event_name", "ConsoleLogin"), []string{"d04", "d03", "d02"}},
		{"severity and a user of the events", with(day, "severity", "high", "user_name", "bob"), []string{"d08", "d01"}},
		{"a region of the events, 30 hours", url.Values{"from": {f.h(-30)}, "to": {f.h(1)}, "aws_region": {"ap-south-1"}}, []string{"d07"}},
	} {
		t.Run("list "+tt.name, func(t *testing.T) {
			a := get(t, f.srv.URL, "/api/panels/detections-list?"+tt.query.Encode(), http.StatusOK)
			if got := detectionIDs(a.Rows); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("detections %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("answer", func(t *testing.T) {
		a := get(t, f.srv.URL, "/api/panels/detections-list?"+with(day, "severity", "high", "user_name", "bob").Encode(), http.StatusOK)
		if a.Kind != "detections" || a.Title != "Detections" || !reflect.DeepEqual(a.Filters, map[string]string{"severity": "high", "user_name": "bob"}) {
			t.Errorf("answer: kind %q title %q filters %v", a.Kind, a.Title, a.Filters)
		}
		for _, want := range []string{f.db + ".detections FINAL", "severity = @severity", "user_name = @user_name",
			"first_time >= @from AND first_time < @to", f.db + ".events FINAL"} {
			if !strings.Contains(a.SQL, want) {
				t.Errorf("the SQL lacks %q: %s", want, a.SQL)
			}
		}
		if strings.Contains(a.SQL, "'high'") || strings.Contains(a.SQL, "'bob'") {
			t.Errorf("the SQL holds a filter value: %s", a.SQL)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for path, says := range map[string]string{
			// The detections' own filters are not events filters.
			"/api/panels/overview-top-users?severity=high":      "unknown parameter",
			"/api/panels/overview-top-users?rule_id=x":          "unknown parameter",
			"/api/panels/detections-list?sev=high":              "unknown parameter",
			"/api/panels/detections-list?severity=a&severity=b": "once",
			"/api/panels/detections-by-rule?range=1w":           "range",
			"/api/detections/summary?rule=x":                    "unknown parameter",
			"/api/events?panel=detections-list":                 "not events",
		} {
			if a := get(t, f.srv.URL, path, http.StatusBadRequest); !strings.Contains(a.Error, says) {
				t.Errorf("GET %s: error %q does not say %q", path, a.Error, says)
			}
		}
	})

	t.Run("hostile values", func(t *testing.T) {
		for _, panel := range []string{"detections-over-time", "detections-by-rule", "detections-list"} {
			for _, param := range []string{"severity", "rule_id", "actor", "user_name"} {
				for _, v := range hostile {
					if rows := get(t, f.srv.URL, "/api/panels/"+panel+"?"+with(day, param, v).Encode(), http.StatusOK).Rows; len(rows) != 0 {
						t.Errorf("%s with %s=%q: %v, want none", panel, param, v, rows)
					}
				}
			}
		}
	})

	t.Run("CSV", func(t *testing.T) {
		res, b := body(t, f.srv.URL, "/api/panels/detections-list?format=csv&"+with(day, "rule_id", "short-lived-iam-object").Encode())
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Disposition") != `attachment; filename="detections-list.csv"` {
			t.Fatalf("CSV: %d %q", res.StatusCode, res.Header.Get("Content-Disposition"))
		}
		want := "time,severity,rule_id,title,account_id,environment,resource_type,resource_name,actors,events,last_time,detection_id,description,tags,source,context\n" +
			f.at(-400) + ",high,short-lived-iam-object,IAM user tmp-deploy created and deleted within 5m0s,123456789012,prod,iam-user,tmp-deploy,\"alice, bob\",2," +
			f.at(-395) + ",d01,An IAM object created and deleted again within 10 minutes.,\"attack.persistence, attack.t1136.003\",builtin," +
			`"{""seconds_alive"":300,""window"":""10m0s""}"` + "\n"
		if b != want {
			t.Errorf("CSV:\n got  %q\n want %q", b, want)
		}
	})
}

// TestDetectionsCountOnce checks that a detection stored twice (d01) counts once: the
// panels answer the same before and after ClickHouse merged the duplicate away.
func TestDetectionsCountOnce(t *testing.T) {
	f := loadDetections(t)
	ctx := context.Background()
	count := func(q string) uint64 {
		var n uint64
		if err := f.conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if rows, ids := count("SELECT count() FROM "+f.db+".detections"), count("SELECT uniqExact(detection_id) FROM "+f.db+".detections"); rows != 11 || ids != 10 {
		t.Fatalf("%d rows for %d detections, want 11 for 10: d01 twice", rows, ids)
	}
	answers := func() map[string][][]any {
		out := map[string][][]any{}
		for _, p := range []string{"detections-over-time", "detections-by-rule", "detections-list"} {
			for _, q := range []url.Values{f.day(), with(f.day(), "rule_id", "short-lived-iam-object"), with(f.day(), "user_name", "alice")} {
				out[p+"?"+q.Encode()] = get(t, f.srv.URL, "/api/panels/"+p+"?"+q.Encode(), http.StatusOK).Rows
			}
		}
		s := summary(t, f.srv.URL, f.day(), http.StatusOK)
		out["summary"] = [][]any{{s.Total}}
		return out
	}
	before := answers()
	if got := before["detections-by-rule?"+with(f.day(), "rule_id", "short-lived-iam-object").Encode()]; !reflect.DeepEqual(got, [][]any{{"short-lived-iam-object", 1.0, "high"}}) {
		t.Errorf("short-lived-iam-object by rule with d01 stored twice: %v, want one detection", got)
	}
	if got := before["summary"]; !reflect.DeepEqual(got, [][]any{{9.0}}) {
		t.Errorf("the summary counts %v with d01 stored twice, want 9", got)
	}
	for _, q := range []string{"SYSTEM START MERGES " + f.db + ".detections", "OPTIMIZE TABLE " + f.db + ".detections FINAL"} {
		if err := f.conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if n := count("SELECT count() FROM " + f.db + ".detections"); n != 10 {
		t.Fatalf("%d rows after the merge, want 10", n)
	}
	after := answers()
	for k, rows := range before {
		if !reflect.DeepEqual(rows, after[k]) {
			t.Errorf("%s with d01 stored twice: %v\n after the merge: %v", k, rows, after[k])
		}
	}
}

// summaryAnswer is the answer of /api/detections/summary.
type summaryAnswer struct {
	From, To   string
	Filters    map[string]string
	Total      float64
	BySeverity map[string]float64 `json:"by_severity"`
	SQL        string
	Error      string
}

func summary(t *testing.T, base string, q url.Values, status int) summaryAnswer {
	t.Helper()
	a, _ := getJSON[summaryAnswer](t, base, "/api/detections/summary?"+q.Encode(), status)
	return a
}

// TestDetectionsSummary checks the count behind the Overview's "detections in window".
func TestDetectionsSummary(t *testing.T) {
	f := loadDetections(t)
	day := f.day()
	for _, tt := range []struct {
		name  string
		query url.Values
		total float64
		by    map[string]float64
	}{
		{"the window", day, 9, map[string]float64{"critical": 1, "high": 3, "medium": 2, "low": 2, "info": 1}},
		{"the default 24 hours", nil, 9, map[string]float64{"critical": 1, "high": 3, "medium": 2, "low": 2, "info": 1}},
		{"30 hours", url.Values{"from": {f.h(-30)}, "to": {f.h(1)}}, 10, map[string]float64{"critical": 1, "high": 3, "medium": 2, "low": 2, "info": 2}},
		{"the last hour", with(day, "from", f.h(-1)), 4, map[string]float64{"critical": 1, "high": 2, "info": 1}},
		{"an environment", with(day, "environment", "dev"), 2, map[string]float64{"high": 1, "medium": 1}},
		{"an account", with(day, "account_id", acctB), 2, map[string]float64{"critical": 1, "medium": 1}},
		{"a user of the events", with(day, "user_name", "bob"), 3, map[string]float64{"high": 2, "low": 1}},
		{"an event name and an environment", with(day, "event_name", "ConsoleLogin", "environment", "prod"), 2, map[string]float64{"critical": 1, "medium": 1}},
		{"a user nobody is", with(day, "user_name", "nobody"), 0, map[string]float64{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := summary(t, f.srv.URL, tt.query, http.StatusOK)
			if a.Total != tt.total || !reflect.DeepEqual(a.BySeverity, tt.by) {
				t.Errorf("total %v by severity %v, want %v %v", a.Total, a.BySeverity, tt.total, tt.by)
			}
		})
	}
	a := summary(t, f.srv.URL, with(day, "environment", "dev"), http.StatusOK)
	if a.From != f.h(-24) || a.To != f.h(1) || !reflect.DeepEqual(a.Filters, map[string]string{"environment": "dev"}) ||
		!strings.Contains(a.SQL, "environment = @environment") || !strings.Contains(a.SQL, f.db+".detections FINAL") {
		t.Errorf("summary answer: from %s to %s filters %v sql %s", a.From, a.To, a.Filters, a.SQL)
	}
}

// TestDetectionEvents checks /events?detection_id=: exactly the detection's events, over
// its time span, paged as any search.
func TestDetectionEvents(t *testing.T) {
	f := loadDetections(t)
	for _, tt := range []struct {
		name  string
		query url.Values
		total int
		want  []string
	}{
		// carol's x10 lies in d02's span but is not one of its events; x04, stored twice,
		// counts once.
		{"a detection", url.Values{"detection_id": {"d02"}}, 3, []string{"x05", "x04", "x03"}},
		{"a page", url.Values{"detection_id": {"d02"}, "limit": {"2"}}, 3, []string{"x05", "x04"}},
		{"the next page", url.Values{"detection_id": {"d02"}, "limit": {"2"}, "offset": {"2"}}, 3, []string{"x03"}},
		{"a detection stored twice", url.Values{"detection_id": {"d01"}}, 2, []string{"x02", "x01"}},
		{"a detection older than the search's default day", url.Values{"detection_id": {"d07"}}, 1, []string{"x11"}},
		{"a detection and a filter", url.Values{"detection_id": {"d01"}, "user_name": {"bob"}}, 1, []string{"x02"}},
		// A time range the request gives replaces the span.
		{"a detection outside the given range", url.Values{"detection_id": {"d02"}, "range": {"1h"}}, 0, []string{}},
		{"a detection within the given range", url.Values{"detection_id": {"d02"}, "from": {f.h(-3)}, "to": {f.h(1)}}, 3, []string{"x05", "x04", "x03"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := events(t, f.srv.URL, tt.query, http.StatusOK)
			if a.Total != tt.total || !reflect.DeepEqual(ids(a), tt.want) {
				t.Errorf("total %d, %v; want %d, %v", a.Total, ids(a), tt.total, tt.want)
			}
		})
	}
	a := events(t, f.srv.URL, url.Values{"detection_id": {"d02"}}, http.StatusOK)
	if a.From != f.at(-130) || a.To != f.time(-125).Add(time.Second).Format(time.RFC3339) || a.Filters["detection_id"] != "d02" {
		t.Errorf("the search of d02 spans %s to %s with filters %v, want %s to a second after %s", a.From, a.To, a.Filters, f.at(-130), f.at(-125))
	}
	if !strings.Contains(a.SQL, "detection_id = @detection_id") || strings.Contains(a.SQL, "'d02'") {
		t.Errorf("sql %s", a.SQL)
	}
	if a := events(t, f.srv.URL, url.Values{"detection_id": {"nothing"}}, http.StatusNotFound); !strings.Contains(a.Error, `no detection "nothing"`) {
		t.Errorf("an unknown detection: %q", a.Error)
	}
	if a := events(t, f.srv.URL, url.Values{"detection_id": {"d02'"}}, http.StatusNotFound); !strings.Contains(a.Error, "no detection") {
		t.Errorf("a hostile detection ID: %q", a.Error)
	}
	res, got := jsonl(t, f.srv.URL, url.Values{"detection_id": {"d02"}})
	if res.StatusCode != http.StatusOK || !reflect.DeepEqual(got, []string{"x05", "x04", "x03"}) {
		t.Errorf("the download of d02's events: %d %v", res.StatusCode, got)
	}
	if res, _ := body(t, f.srv.URL, "/api/events.jsonl?detection_id=nothing"); res.StatusCode != http.StatusNotFound {
		t.Errorf("the download of an unknown detection's events: %d, want 404", res.StatusCode)
	}
}

// TestDetectionAPI checks GET /api/detections/{id}.
func TestDetectionAPI(t *testing.T) {
	f := loadDetections(t)
	res, b := body(t, f.srv.URL, "/api/detections/d02")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("GET /api/detections/d02: %d %s: %s", res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(b), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"detection_id": "d02", "rule_id": "console-login-brute-force", "severity": "medium",
		"title": "3 failed console logins of carol in 10m0s", "account_id": acctA, "environment": "prod",
		"resource_type": "iam-user", "resource_name": "carol", "event_ids": list("x03", "x04", "x05"),
		"actors": list("carol", "carol", "carol"), "first_time": f.at(-130), "last_time": f.at(-125),
		"detected_at": f.time(-125).Add(30 * time.Second).Format(time.RFC3339),
		"description": "Failed console logins for one user in 10 minutes.", "tags": list("attack.credential_access", "attack.t1110.001"),
		"source": "rules/local.yaml", "context": map[string]any{"failures": 3.0, "threshold": 3.0, "window": "10m0s"},
		"events_url": "/events?detection_id=d02",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GET /api/detections/d02:\n got  %v\n want %v", got, want)
	}
	// An empty context is an empty object; a detection stored twice is one.
	_, b = body(t, f.srv.URL, "/api/detections/d04")
	var d04 struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal([]byte(b), &d04); err != nil || d04.Context == nil || len(d04.Context) != 0 {
		t.Errorf("d04's context: %s (%v), want {}", b, err)
	}
	_, b = body(t, f.srv.URL, "/api/detections/d01")
	var d01 struct {
		EventIDs []string `json:"event_ids"`
	}
	if err := json.Unmarshal([]byte(b), &d01); err != nil || !reflect.DeepEqual(d01.EventIDs, []string{"x01", "x02"}) {
		t.Errorf("d01: %s (%v)", b, err)
	}
	for _, id := range []string{"nothing", "d02'%20OR%20'1'='1"} {
		if a := get(t, f.srv.URL, "/api/detections/"+id, http.StatusNotFound); !strings.Contains(a.Error, "no detection") {
			t.Errorf("GET /api/detections/%s: %q", id, a.Error)
		}
	}
}

// TestDetectionsPages checks what the pages write about detections: the navigation bar,
// the detections page's panels and filter bar, the events search of one detection and the
// Overview's figure.
func TestDetectionsPages(t *testing.T) {
	f := loadDetections(t)
	res, page := body(t, f.srv.URL, "/detections?severity=high&rule_id=iam-policy-changed")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /detections: %d", res.StatusCode)
	}
	for _, want := range []string{
		`<a href="/detections" class="active" aria-current="page">Detections</a>`,
		`data-panel="detections-over-time" data-kind="stacked-column"`, `data-panel="detections-by-rule" data-kind="bar"`,
		`data-panel="detections-list" data-kind="detections"`, `data-drill-page="/detections"`, `data-palette="severity"`,
		`<option value="high" selected>High</option>`, `<option value="critical">Critical</option>`,
		`name="rule_id" id="rule_id" value="iam-policy-changed"`, `list="rule-ids"`,
		`<option value="console-login-brute-force"></option>`, `<option value="short-lived-iam-object"></option>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("GET /detections lacks %s", want)
		}
	}
	if n := strings.Count(page, "data-panel="); n != 3 {
		t.Errorf("GET /detections has %d panels, want 3", n)
	}
	if strings.Contains(page, `name="user_name"`) || strings.Contains(page, "detections-figure") || strings.Contains(page, "events-link") {
		t.Error("the detections page has the dashboards' user filter, the Overview's figure or a panel's events link")
	}
	if _, page := body(t, f.srv.URL, "/detections?severity=high&sev=1"); !strings.Contains(page, `class="problem"`) || !strings.Contains(page, `unknown parameter &#34;sev&#34;`) {
		t.Error("an unknown parameter of the detections page is not reported")
	}

	_, page = body(t, f.srv.URL, "/")
	for _, want := range []string{`<a href="/detections">Detections</a>`, `id="detections-figure"`, "detections in window"} {
		if !strings.Contains(page, want) {
			t.Errorf("the Overview lacks %s", want)
		}
	}
	if _, page := body(t, f.srv.URL, "/d/operations"); strings.Contains(page, "detections-figure") {
		t.Error("a dashboard other than the Overview shows the detections figure")
	}

	_, page = body(t, f.srv.URL, "/events?detection_id=d02")
	for _, want := range []string{`id="detection" data-detection="d02"`, `<span class="sev sev-medium">medium</span>`,
		"<b>3 failed console logins of carol in 10m0s</b>", "console-login-brute-force · account 123456789012 · prod · carol",
		"3 events", `<a href="/api/detections/d02">`} {
		if !strings.Contains(page, want) {
			t.Errorf("the events of d02 lack %s", want)
		}
	}
	if strings.Contains(page, `class="problem"`) {
		t.Error("the events page of d02 reports a problem")
	}
	if _, page := body(t, f.srv.URL, "/events?detection_id=nothing"); !strings.Contains(page, `class="problem"`) || !strings.Contains(page, "no detection") {
		t.Error("the events page of an unknown detection reports no problem")
	}

	var api struct {
		Dashboards []struct{ ID string }
		Detections struct {
			ID, Path, Title string
			Panels          []struct{ ID, Kind, Window string }
		}
	}
	_, b := body(t, f.srv.URL, "/api/dashboards")
	if err := json.Unmarshal([]byte(b), &api); err != nil {
		t.Fatal(err)
	}
	var ps []string
	for _, p := range api.Detections.Panels {
		ps = append(ps, p.ID+" "+p.Kind+" "+p.Window)
	}
	if len(api.Dashboards) != 6 || api.Detections.Path != "/detections" || api.Detections.Title != "Detections" ||
		!reflect.DeepEqual(ps, []string{"detections-over-time stacked-column 24h", "detections-by-rule bar 24h", "detections-list detections 24h"}) {
		t.Errorf("/api/dashboards: %d dashboards, detections page %+v", len(api.Dashboards), api.Detections)
	}
}
