package console_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/trailstream/trailstream/pkg/geo"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
	"github.com/trailstream/trailstream/pkg/rules"
	"github.com/trailstream/trailstream/pkg/testenv"
	"github.com/trailstream/trailstream/services/console"
)

// fixtureLine is one line of a testdata/*.jsonl file: a CloudTrail record as AWS writes it,
// when it happened (Minute, minutes from the start of the current hour), who made it (Who,
// one of identities, unless the record has its own userIdentity), the environment that
// read it (prod unless Env says otherwise), and whether it is delivered twice.
type fixtureLine struct {
	Minute      int             `json:"minute"`
	Who         string          `json:"who"`
	Env         string          `json:"env"`
	Redelivered bool            `json:"redelivered"`
	Record      json.RawMessage `json:"record"`
}

// identities are the userIdentity blocks of the fixtures' actors.
var identities = map[string]string{
	"alice":  `{"type":"IAMUser","principalId":"AIDAALICE","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","accessKeyId":"AKIAALICE","userName":"alice"}`,
	"bob":    `{"type":"IAMUser","principalId":"AIDABOB","arn":"arn:aws:iam::123456789012:user/bob","accountId":"123456789012","accessKeyId":"AKIABOB","userName":"bob"}`,
	"carol":  `{"type":"IAMUser","principalId":"AIDACAROL","arn":"arn:aws:iam::123456789012:user/carol","accountId":"123456789012","accessKeyId":"AKIACAROL","userName":"carol"}`,
	"dave":   `{"type":"IAMUser","principalId":"AIDADAVE","arn":"arn:aws:iam::123456789012:user/dave","accountId":"123456789012","accessKeyId":"AKIADAVE","userName":"dave"}`,
	"erin":   `{"type":"IAMUser","principalId":"AIDAERIN","arn":"arn:aws:iam::123456789012:user/erin","accountId":"123456789012","accessKeyId":"AKIAERIN","userName":"erin"}`,
	"obrien": `{"type":"IAMUser","principalId":"AIDAOBRIEN","arn":"arn:aws:iam::123456789012:user/obrien","accountId":"123456789012","accessKeyId":"AKIAOBRIEN","userName":"o'brien\\"}`,
	// bob through the Admin role: the user is the session name, bob.
	"bob-role": `{"type":"AssumedRole","principalId":"AROAADMIN:bob","arn":"arn:aws:sts::123456789012:assumed-role/Admin/bob","accountId":"123456789012","accessKeyId":"ASIABOB",` +
		`"sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAADMIN","arn":"arn:aws:iam::123456789012:role/Admin","accountId":"123456789012","userName":"Admin"},"attributes":{"creationDate":"2026-01-01T00:00:00Z","mfaAuthenticated":"false"}}}`,
	// carol through the Ops role, in a session that signed in with MFA.
	"carol-mfa": `{"type":"AssumedRole","principalId":"AROAOPS:carol","arn":"arn:aws:sts::123456789012:assumed-role/Ops/carol","accountId":"123456789012","accessKeyId":"ASIACAROL",` +
		`"sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAOPS","arn":"arn:aws:iam::123456789012:role/Ops","accountId":"123456789012","userName":"Ops"},"attributes":{"creationDate":"2026-01-01T00:00:00Z","mfaAuthenticated":"true"}}}`,
	// AWS services acting on their own: not users.
	"ec2-service": `{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}`,
	"autoscaling": `{"type":"AssumedRole","principalId":"AROASLR:AutoScaling","arn":"arn:aws:sts::123456789012:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling","accountId":"123456789012",` +
		`"sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROASLR","arn":"arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling","accountId":"123456789012","userName":"AWSServiceRoleForAutoScaling"}},"invokedBy":"autoscaling.amazonaws.com"}`,
	// A sign-in with a mistyped user name.
	"hidden": `{"type":"IAMUser","accountId":"123456789012","accessKeyId":"","userName":"HIDDEN_DUE_TO_SECURITY_REASONS"}`,
}

// place is where a fixture address is, as a city database would say.
type place = geo.Location

// places locates the fixtures' public addresses; 8.8.8.8 only to its country.
var places = fixedGeo{
	"81.2.69.160":    {CountryCode: "GB", CountryName: "United Kingdom", City: "London", Latitude: 51.5085, Longitude: -0.1257},
	"91.198.174.192": {CountryCode: "NL", CountryName: "Netherlands", City: "Amsterdam", Latitude: 52.374, Longitude: 4.8897},
	"8.8.8.8":        {CountryCode: "US", CountryName: "United States", Latitude: 37.751, Longitude: -97.822},
	"133.242.0.1":    {CountryCode: "JP", CountryName: "Japan", City: "Tokyo", Latitude: 35.6895, Longitude: 139.6917},
	"217.160.0.1":    {CountryCode: "DE", CountryName: "Germany", City: "Berlin", Latitude: 52.5244, Longitude: 13.4105},
	"5.135.0.10":     {CountryCode: "FR", CountryName: "France", City: "Paris", Latitude: 48.8534, Longitude: 2.3488},
}

type fixedGeo map[string]place

func (g fixedGeo) Lookup(ip string) (geo.Location, bool) {
	l, ok := g[ip]
	return l, ok
}

// normalizerAdmins is the admin list the fixtures' normalizer has (its --admin-users file):
// dave, whom the admin panels follow only until a list is uploaded to the console.
var normalizerAdmins = adminSet{"dave": true}

type adminSet map[string]bool

func (a adminSet) IsAdmin(user string) bool { return a[user] }

// defaults are the record fields a fixture line may leave out, in the order they are added.
var defaults = [][2]string{
	{"eventVersion", `"1.08"`}, {"userAgent", `"aws-cli/2.15.0"`}, {"awsRegion", `"us-east-1"`},
	{"eventType", `"AwsApiCall"`}, {"recipientAccountId", `"123456789012"`},
}

// fixture is a console over a private database holding the events of one testdata file.
type fixture struct {
	conn driver.Conn
	db   string
	hour time.Time // the start of the current hour, which the fixture's minutes count from
	srv  *httptest.Server
}

// newFixture is the Overview fixture, which fills every Overview panel.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	return loadFixture(t, "overview.jsonl")
}

// loadFixture normalizes the records of testdata/names (with pkg/normalize, locating the
// addresses with places), runs the detection rules over them, loads events and
// detections into a private database, and serves the console on it with US as the home
// country. Merges are stopped, so the redelivered rows stay duplicates that only the
// panels' reading can count once.
func loadFixture(t *testing.T, names ...string) *fixture {
	t.Helper()
	return load(t, true, names...)
}

// load loads the events of testdata/names as loadFixture does, running the detection
// rules over them when detect is set.
func load(t *testing.T, detect bool, names ...string) *fixture {
	t.Helper()
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	f := &fixture{conn: conn, db: c.ClickHouseDatabase, hour: time.Now().UTC().Truncate(time.Hour)}
	// A window ending now must hold the events of minute 0: wait out the first seconds of
	// an hour.
	if time.Since(f.hour) < 2*time.Second {
		time.Sleep(2 * time.Second)
	}
	ctx := context.Background()
	if err := conn.Exec(ctx, "SYSTEM STOP MERGES "+f.db+".events"); err != nil {
		t.Fatal(err)
	}
	var events, again []*model.Event
	for _, name := range names {
		for _, l := range readFixture(t, name) {
			e := f.normalize(t, name, l)
			events = append(events, e)
			if l.Redelivered {
				again = append(again, e)
			}
		}
	}
	f.insert(t, "events", model.EventFields(), events, func(e *model.Event, row []any) []any { return e.Values(row) })
	f.insert(t, "events", model.EventFields(), again, func(e *model.Event, row []any) []any { return e.Values(row) })
	var stored uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+f.db+".events").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if want := len(events) + len(again); stored != uint64(want) {
		t.Fatalf("the events table holds %d rows, want %d with the duplicates", stored, want)
	}

	if detect {
		byTime := slices.Clone(events)
		slices.SortStableFunc(byTime, func(a, b *model.Event) int { return a.EventTime.Compare(b.EventTime) })
		var found []model.Detection
		engine := rules.NewEngine(rules.Default())
		for i, e := range byTime {
			found = append(found, engine.Observe(e, rules.Position{Offset: int64(i)})...)
		}
		if len(found) > 0 {
			insertRows(t, f, "detections", model.DetectionFields(), found, func(d model.Detection, row []any) []any { return d.Values(row) })
		}
	}
	f.srv = httptest.NewServer(console.Handler(conn, f.db, console.Options{HomeCountries: []string{"US"}}))
	t.Cleanup(f.srv.Close)
	return f
}

func readFixture(t *testing.T, name string) []fixtureLine {
	t.Helper()
	file, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var out []fixtureLine
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var l fixtureLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("testdata/%s:%d: %v", name, n, err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// normalize turns a fixture line into the event the normalizer makes of its record.
func (f *fixture) normalize(t *testing.T, name string, l fixtureLine) *model.Event {
	t.Helper()
	// The record's own fields keep their order, as AWS wrote them; the time, the
	// identity and the defaults go before them.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(l.Record, &fields); err != nil {
		t.Fatalf("testdata/%s: record: %v", name, err)
	}
	var head []string
	if _, ok := fields["userIdentity"]; !ok {
		id, ok := identities[l.Who]
		if !ok {
			t.Fatalf("testdata/%s: record %s: no identity %q", name, fields["eventID"], l.Who)
		}
		head = append(head, `"userIdentity":`+id)
	}
	head = append(head, `"eventTime":"`+f.at(l.Minute)+`"`)
	for _, d := range defaults {
		if _, ok := fields[d[0]]; !ok {
			head = append(head, `"`+d[0]+`":`+d[1])
		}
	}
	body := strings.TrimSpace(string(l.Record))
	body = strings.TrimSpace(body[1 : len(body)-1])
	if body != "" {
		head = append(head, body)
	}
	raw := []byte("{" + strings.Join(head, ",") + "}")
	env := l.Env
	if env == "" {
		env = "prod"
	}
	e, err := (&normalize.Normalizer{Environment: env, Geo: places, Admins: normalizerAdmins}).Normalize(raw)
	if err != nil {
		t.Fatalf("testdata/%s: %v", name, err)
	}
	return e
}

// insert writes rows into table in one batch, as the sink does.
func (f *fixture) insert(t *testing.T, table string, columns []string, events []*model.Event, values func(*model.Event, []any) []any) {
	t.Helper()
	insertRows(t, f, table, columns, events, values)
}

func insertRows[T any](t *testing.T, f *fixture, table string, columns []string, items []T, values func(T, []any) []any) {
	t.Helper()
	if len(items) == 0 {
		return
	}
	ctx := context.Background()
	b, err := f.conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.%s (%s)", f.db, table, strings.Join(columns, ", ")))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if err := b.Append(values(it, nil)...); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// at returns the fixture time m minutes after the start of the current hour, as the API
// writes times.
func (f *fixture) at(m int) string {
	return f.hour.Add(time.Duration(m) * time.Minute).Format(time.RFC3339)
}

// h returns the fixture time of the start of the hour n hours after the current one.
func (f *fixture) h(n int) string { return f.at(60 * n) }

// day is the fixtures' usual window: the 24 hours before the current one and the current
// hour, which holds every fixture event but those a test puts outside on purpose.
func (f *fixture) day() url.Values {
	return url.Values{"from": {f.h(-24)}, "to": {f.h(1)}}
}

// answer is the JSON answer of /api/panels/{id}.
type answer struct {
	Panel   string            `json:"panel"`
	Title   string            `json:"title"`
	Kind    string            `json:"kind"`
	From    string            `json:"from"`
	To      string            `json:"to"`
	Filters map[string]string `json:"filters"`
	Columns []struct {
		Name, Label, Type string
	} `json:"columns"`
	Rows  [][]any `json:"rows"`
	SQL   string  `json:"sql"`
	Error string  `json:"error"`
}

// get fetches path from the console and decodes its JSON answer, checking the status.
func get(t *testing.T, base, path string, status int) answer {
	t.Helper()
	a, h := getJSON[answer](t, base, path, status)
	if ct := h.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("GET %s: Content-Type %q, want JSON", path, ct)
	}
	return a
}

// getJSON asks base for path and decodes its JSON answer into a T, failing t unless the
// status is status; the answer's error field is quoted on a wrong status. It returns the
// answer's header too.
func getJSON[T any](t *testing.T, base, path string, status int) (T, http.Header) {
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
	var a T
	var e struct{ Error string }
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("GET %s: decode: %v", path, err)
	}
	if res.StatusCode != status {
		_ = json.Unmarshal(b, &e)
		t.Fatalf("GET %s: status %d (error %q), want %d", path, res.StatusCode, e.Error, status)
	}
	return a, res.Header
}

// panelCase is one semantics check: a panel's rows for a query.
type panelCase struct {
	name  string
	panel string
	query url.Values
	want  [][]any
}

// check runs the cases against f, each as a subtest.
func (f *fixture) check(t *testing.T, cases []panelCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			a := get(t, f.srv.URL, "/api/panels/"+tt.panel+"?"+tt.query.Encode(), http.StatusOK)
			if a.Panel != tt.panel || a.Kind == "" || a.Title == "" || a.SQL == "" {
				t.Errorf("answer header: panel %q kind %q title %q sql %q", a.Panel, a.Kind, a.Title, a.SQL)
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

// with returns q with k set to v.
func with(q url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range q {
		out[k] = vs
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// detectionLine is one line of testdata/detections.jsonl: a detection as the detector
// writes it, with its first and last event's times in minutes from the start of the
// current hour, and whether it is delivered twice (the second time detected a minute
// later, as a detector that replays its input publishes it again).
type detectionLine struct {
	First       int  `json:"first"`
	Last        int  `json:"last"`
	Redelivered bool `json:"redelivered"`
	Detection   struct {
		DetectionID  string          `json:"detection_id"`
		RuleID       string          `json:"rule_id"`
		Severity     string          `json:"severity"`
		Title        string          `json:"title"`
		AccountID    string          `json:"account_id"`
		Environment  string          `json:"environment"`
		ResourceType string          `json:"resource_type"`
		ResourceName string          `json:"resource_name"`
		EventIDs     []string        `json:"event_ids"`
		Actors       []string        `json:"actors"`
		Description  string          `json:"description"`
		Tags         []string        `json:"tags"`
		Source       string          `json:"source"`
		Context      json.RawMessage `json:"context"`
	} `json:"detection"`
}

// loadDetections is a console over the hand-written detections of
// testdata/detections.jsonl and the events they are made of (testdata/detections-events.jsonl,
// with events of no detection among them). The rules do not run: the detections are the
// file's alone, whatever the rules catalogue finds. Merges are stopped, so a detection
// delivered twice stays stored twice.
func loadDetections(t *testing.T) *fixture {
	t.Helper()
	f := load(t, false, "detections-events.jsonl")
	ctx := context.Background()
	if err := f.conn.Exec(ctx, "SYSTEM STOP MERGES "+f.db+".detections"); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join("testdata", "detections.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var found, again []model.Detection
	for n, line := range strings.Split(strings.TrimSpace(string(file)), "\n") {
		var l detectionLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("testdata/detections.jsonl:%d: %v", n+1, err)
		}
		d := l.Detection
		var context bytes.Buffer
		if err := json.Compact(&context, d.Context); err != nil {
			t.Fatalf("testdata/detections.jsonl:%d: context: %v", n+1, err)
		}
		det := model.Detection{
			DetectionID: d.DetectionID, RuleID: d.RuleID, Severity: d.Severity, Title: d.Title, AccountID: d.AccountID,
			Environment: d.Environment, ResourceType: d.ResourceType, ResourceName: d.ResourceName, EventIDs: d.EventIDs,
			Actors: d.Actors, FirstTime: f.time(l.First), LastTime: f.time(l.Last), DetectedAt: f.time(l.Last).Add(30 * time.Second),
			Description: d.Description, Tags: d.Tags, Source: d.Source, Context: context.String(),
		}
		found = append(found, det)
		if l.Redelivered {
			det.DetectedAt = det.DetectedAt.Add(time.Minute)
			again = append(again, det)
		}
	}
	for _, ds := range [][]model.Detection{found, again} {
		insertRows(t, f, "detections", model.DetectionFields(), ds, func(d model.Detection, row []any) []any { return d.Values(row) })
	}
	return f
}

// time returns the fixture time m minutes after the start of the current hour.
func (f *fixture) time(m int) time.Time {
	return f.hour.Add(time.Duration(m) * time.Minute)
}
