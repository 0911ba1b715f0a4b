package sigma

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/rules"
)

// ev is one event of a test stream: an ID, its time after t0 and its record fragment.
type ev struct {
	id       string
	offset   time.Duration
	fragment string
}

func (e ev) event(t testing.TB) *model.Event { return at(t, e.id, e.offset, e.fragment) }

// run feeds the events, in the order given, through an engine of rs, their offsets in
// partition 0 counting from first, and returns each detection as "<event that completed
// it>: <rule_id> <event ids>", sorted.
func run(t testing.TB, rs []rules.Rule, events []*model.Event, first int) []string {
	t.Helper()
	eng := rules.NewEngine(rs)
	var out []string
	for i, e := range events {
		for _, d := range eng.Observe(e, rules.Position{Offset: int64(first + i)}) {
			out = append(out, fmt.Sprintf("%s: %s %s", e.EventID, d.RuleID, strings.Join(d.EventIDs, ",")))
		}
	}
	slices.Sort(out)
	return out
}

func events(t testing.TB, es []ev) []*model.Event {
	out := make([]*model.Event, len(es))
	for i, e := range es {
		out[i] = e.event(t)
	}
	return out
}

// Record fragments of the tests' streams.
func failure(ip string) string {
	return `{"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "sourceIPAddress": "` + ip + `",
		"errorMessage": "Failed authentication", "responseElements": {"ConsoleLogin": "Failure"},
		"additionalEventData": {"MFAUsed": "No"}}`
}

func success(ip string) string {
	return `{"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "sourceIPAddress": "` + ip + `",
		"responseElements": {"ConsoleLogin": "Success"}, "additionalEventData": {"MFAUsed": "No"}}`
}

func denied(arn, name string) string {
	return `{"eventName": "` + name + `", "errorCode": "AccessDenied", "userIdentity": {"type": "IAMUser", "arn": "` + arn + `", "userName": "u"}}`
}

func iamCall(name, user string) string {
	return `{"eventSource": "iam.amazonaws.com", "eventName": "` + name + `", "requestParameters": {"userName": "` + user + `"}}`
}

const noise = `{"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "requestParameters": {"bucketName": "b"}}`

func TestCorrelations(t *testing.T) {
	const a, b = "198.51.100.7", "203.0.113.9"
	const alice, bob = "arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/bob"
	m := time.Minute
	tests := []struct {
		name   string
		file   string
		events []ev
		want   []string
	}{
		{"event_count: three within the timespan", "event_count.yml",
			[]ev{{"f1", 0, failure(a)}, {"f2", 3 * m, failure(a)}, {"x", 4 * m, noise}, {"f3", 9 * m, failure(a)}},
			[]string{"f3: sigma:k-many-failures f1,f2,f3"}},
		{"event_count: not within one timespan, then within the next", "event_count.yml",
			[]ev{{"f1", 0, failure(a)}, {"f2", 5 * m, failure(a)}, {"f3", 11 * m, failure(a)}, {"f4", 14 * m, failure(a)}},
			[]string{"f4: sigma:k-many-failures f2,f3,f4"}},
		{"event_count: groups apart", "event_count.yml",
			[]ev{{"f1", 0, failure(a)}, {"f2", m, failure(b)}, {"f3", 2 * m, failure(a)}, {"s", 3 * m, success(a)}},
			nil},
		{"event_count: once per window, again in the next", "event_count.yml",
			[]ev{{"f1", 0, failure(a)}, {"f2", m, failure(a)}, {"f3", 2 * m, failure(a)}, {"f4", 3 * m, failure(a)},
				{"f5", 20 * m, failure(a)}, {"f6", 21 * m, failure(a)}, {"f7", 22 * m, failure(a)}},
			[]string{"f3: sigma:k-many-failures f1,f2,f3", "f7: sigma:k-many-failures f5,f6,f7"}},
		{"event_count: out of order", "event_count.yml",
			[]ev{{"f2", 5 * m, failure(a)}, {"f3", 7 * m, failure(a)}, {"f1", m, failure(a)}},
			[]string{"f1: sigma:k-many-failures f1,f2,f3"}},
		{"event_count: later than the lateness", "event_count.yml",
			[]ev{{"f1", 0, failure(a)}, {"f2", m, failure(a)}, {"x1", 90 * m, noise}, {"x2", 170 * m, noise}, {"f3", 2 * m, failure(a)}},
			nil},
		{"event_count: a redelivered event counts once", "event_count.yml",
			[]ev{{"f1", 0, failure(a)}, {"f2", m, failure(a)}, {"f2", m, failure(a)}},
			nil},
		{"value_count: distinct calls", "value_count.yml",
			[]ev{{"d1", 0, denied(alice, "ListUsers")}, {"d2", m, denied(alice, "ListRoles")}, {"d3", 2 * m, denied(alice, "ListUsers")},
				{"d4", 3 * m, denied(bob, "GetUser")}, {"d5", 4 * m, denied(alice, "GetUser")}},
			[]string{"d5: sigma:k-denied-calls d2,d3,d5"}},
		{"value_count: not within the timespan", "value_count.yml",
			[]ev{{"d1", 0, denied(alice, "ListUsers")}, {"d2", 3 * m, denied(alice, "ListRoles")}, {"d3", 6 * m, denied(alice, "GetUser")}},
			nil},
		{"temporal: all three in any order, the rules reporting too (generate)", "temporal.yml",
			[]ev{{"pa", 0, iamCall("AttachUserPolicy", "eve")}, {"ka", 4 * m, iamCall("CreateAccessKey", "eve")},
				{"kb", 5 * m, iamCall("CreateAccessKey", "bob")}, {"lp", 14 * m, iamCall("CreateLoginProfile", "eve")}},
			[]string{"ka: sigma:k-key-created ka", "kb: sigma:k-key-created kb", "lp: sigma:k-persistence pa,ka,lp",
				"lp: sigma:k-profile-created lp", "pa: sigma:k-policy-attached pa"}},
		{"temporal: not within the timespan", "temporal.yml",
			[]ev{{"pa", 0, iamCall("PutUserPolicy", "eve")}, {"ka", 4 * m, iamCall("CreateAccessKey", "eve")},
				{"lp", 16 * m, iamCall("CreateLoginProfile", "eve")}},
			[]string{"ka: sigma:k-key-created ka", "lp: sigma:k-profile-created lp", "pa: sigma:k-policy-attached pa"}},
		{"temporal: one rule twice is not two", "temporal.yml",
			[]ev{{"pa", 0, iamCall("PutUserPolicy", "eve")}, {"pb", m, iamCall("AttachUserPolicy", "eve")}, {"ka", 2 * m, iamCall("CreateAccessKey", "eve")}},
			[]string{"ka: sigma:k-key-created ka", "pa: sigma:k-policy-attached pa", "pb: sigma:k-policy-attached pb"}},
		{"chain: a correlation of a correlation", "chain.yml",
			[]ev{{"s0", -40 * m, success(a)}, {"f1", m, failure(a)}, {"f2", 2 * m, failure(a)}, {"s1", 5 * m, success(a)}},
			[]string{"s1: sigma:k-guessed f2,s1"}},
		{"chain: success without the failures", "chain.yml",
			[]ev{{"f1", m, failure(a)}, {"s1", 5 * m, success(a)}, {"f2", 12 * m, failure(a)}},
			nil},
		{"aliases: a field of each rule", "aliases.yml",
			[]ev{{"u1", 0, iamCall("CreateUser", "carol")},
				{"l0", 5 * m, `{"eventName": "ConsoleLogin", "userIdentity": {"type": "IAMUser", "userName": "dave"}}`},
				{"l1", 10 * m, `{"eventName": "ConsoleLogin", "userIdentity": {"type": "IAMUser", "userName": "carol"}}`}},
			[]string{"l1: sigma:k-new-user-login u1,l1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := mustLoad(t, Options{}, "testdata/correlation/"+tt.file)
			if got := run(t, rs, events(t, tt.events), 0); !slices.Equal(got, tt.want) {
				t.Errorf("detections\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestCorrelationLoad(t *testing.T) {
	rs, rep, err := Load([]string{"testdata/correlation"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Errorf("%s:%d: %s", p.File, p.Line, p.Reason)
	}
	want := []string{"k-denied-calls", "k-guessed", "k-key-created", "k-many-failures", "k-new-user-login", "k-persistence", "k-policy-attached", "k-profile-created"}
	if got := slices.Sorted(slices.Values(rep.Loaded)); !slices.Equal(got, prefixed(want)) {
		t.Errorf("loaded %v, want %v", got, prefixed(want))
	}
	parts := []string{"k-denied", "k-failed-login", "k-failure", "k-failures", "k-success", "k-user-created", "k-user-login"}
	if got := slices.Sorted(slices.Values(rep.Parts)); !slices.Equal(got, prefixed(parts)) {
		t.Errorf("parts %v, want %v", got, prefixed(parts))
	}
	if rep.Ignored != 2 {
		t.Errorf("%d ignored, want 2 (the Windows rule and its correlation)", rep.Ignored)
	}
	for id, events := range map[string][]string{
		"k-many-failures": {"ConsoleLogin"},
		"k-denied-calls":  nil,
		"k-persistence":   {"AttachUserPolicy", "CreateAccessKey", "CreateLoginProfile", "PutUserPolicy"},
		"k-guessed":       {"ConsoleLogin"},
	} {
		if got := byID(t, rs, id).Info().Events; !slices.Equal(got, events) {
			t.Errorf("%s: events %v, want %v", id, got, events)
		}
	}
}

func TestCorrelationDetection(t *testing.T) {
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	rs := mustLoad(t, Options{Now: func() time.Time { return now }}, "testdata/correlation/event_count.yml")
	eng := rules.NewEngine(rs)
	var got []model.Detection
	for i, e := range events(t, []ev{{"f1", 0, failure("198.51.100.7")}, {"f2", time.Minute, failure("198.51.100.7")}, {"f3", 2 * time.Minute, failure("198.51.100.7")}}) {
		got = append(got, eng.Observe(e, rules.Position{Offset: int64(i)})...)
	}
	if len(got) != 1 {
		t.Fatalf("%d detections, want 1", len(got))
	}
	d := got[0]
	if d.RuleID != "sigma:k-many-failures" || d.Severity != "high" || d.Title != "Console sign-in failures from one address (sourceIPAddress=198.51.100.7)" ||
		d.Source != "testdata/correlation/event_count.yml" || !slices.Equal(d.Tags, []string{"attack.credential-access", "attack.t1110"}) ||
		d.DetectionID != rules.DetectionID("sigma:k-many-failures", "f1", "f2", "f3") || !d.DetectedAt.Equal(now) ||
		d.Description != "Three failed console sign-ins from one address within ten minutes." {
		t.Errorf("detection %+v", d)
	}
	var ctx map[string]any
	if err := json.Unmarshal([]byte(d.Context), &ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"correlation": "event_count", "timespan": "10m", "events": float64(3), "group": map[string]any{"sourceIPAddress": "198.51.100.7"}}
	if fmt.Sprint(ctx) != fmt.Sprint(want) {
		t.Errorf("context %v, want %v", ctx, want)
	}
}

// TestCorrelationRestart stops a correlation halfway and starts a new instance, as a
// restarted detector does: fed again from where the first said it holds state from
// (Oldest), it reports what the first would have, with the same detection ID.
func TestCorrelationRestart(t *testing.T) {
	const a = "198.51.100.7"
	m := time.Minute
	for _, tt := range []struct {
		file   string
		stream []ev
		cut    int // the events the first instance sees
	}{
		{"event_count.yml", []ev{{"x0", 0, noise}, {"f1", m, failure(a)}, {"x1", 2 * m, noise}, {"f2", 3 * m, failure(a)}, {"x2", 4 * m, noise}, {"f3", 5 * m, failure(a)}}, 5},
		{"chain.yml", []ev{{"x0", 0, noise}, {"f1", m, failure(a)}, {"f2", 2 * m, failure(a)}, {"x1", 3 * m, noise}, {"s1", 6 * m, success(a)}}, 4},
		{"value_count.yml", []ev{{"d1", 0, denied("arn:x", "A")}, {"x0", m, noise}, {"d2", 2 * m, denied("arn:x", "B")}, {"d3", 3 * m, denied("arn:x", "C")}}, 3},
	} {
		t.Run(tt.file, func(t *testing.T) {
			stream := events(t, tt.stream)
			whole := run(t, mustLoad(t, Options{}, "testdata/correlation/"+tt.file), stream, 0)
			if len(whole) != 1 {
				t.Fatalf("uninterrupted: %v, want one detection", whole)
			}
			first := mustLoad(t, Options{}, "testdata/correlation/"+tt.file)
			if got := run(t, first, stream[:tt.cut], 0); len(got) != 0 {
				t.Fatalf("before the cut: %v", got)
			}
			oldest, ok := rules.NewEngine(first).Oldest(0)
			if !ok {
				t.Fatal("the first instance holds nothing")
			}
			if oldest >= int64(tt.cut) {
				t.Fatalf("oldest %d is past the cut", oldest)
			}
			again := run(t, mustLoad(t, Options{}, "testdata/correlation/"+tt.file), stream[oldest:], int(oldest))
			if !slices.Equal(again, whole) {
				t.Errorf("restarted from %d: %v, want %v", oldest, again, whole)
			}
			// Not from the offset after the events seen: the state would be lost.
			if lost := run(t, mustLoad(t, Options{}, "testdata/correlation/"+tt.file), stream[tt.cut:], tt.cut); len(lost) != 0 {
				t.Errorf("restarted after the cut: %v, want nothing (the test needs state to rebuild)", lost)
			}
		})
	}
}

func TestCorrelationBounded(t *testing.T) {
	rs := mustLoad(t, Options{MaxHeld: 10}, "testdata/correlation/event_count.yml")
	eng := rules.NewEngine(rs)
	for i := range 100 {
		e := at(t, fmt.Sprint("f", i), time.Duration(i)*time.Second, failure(fmt.Sprintf("198.51.100.%d", i)))
		eng.Observe(e, rules.Position{Offset: int64(i)})
	}
	if n := eng.Held(); n > 10 {
		t.Errorf("%d groups held, want at most 10", n)
	}
	// The lateness is the option's.
	rs = mustLoad(t, Options{Lateness: time.Minute}, "testdata/correlation/event_count.yml")
	es := events(t, []ev{{"f1", 0, failure("198.51.100.7")}, {"f2", time.Minute, failure("198.51.100.7")}, {"x", 20 * time.Minute, noise}, {"f3", 2 * time.Minute, failure("198.51.100.7")}})
	if got := run(t, rs, es, 0); len(got) != 0 {
		t.Errorf("an event 18 minutes late with a lateness of 1 minute: %v", got)
	}
}
