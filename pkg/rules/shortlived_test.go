package rules

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
)

var detectedAt = time.Date(2024, 3, 14, 15, 0, 0, 0, time.UTC)

func newRule(c ShortLivedIAMConfig) *ShortLivedIAM {
	c.Now = func() time.Time { return detectedAt }
	return NewShortLivedIAM(c)
}

// fixtures normalizes the records of testdata as the normalizer does, but with its clock in
// the year 3001: the rules must hold up against event times a normalizer rejects, which
// events written by earlier versions or by other producers may have.
var fixtures = normalize.Normalizer{Environment: "prod", Now: func() time.Time { return time.Date(3001, 1, 1, 0, 0, 0, 0, time.UTC) }}

// load reads a CloudTrail log file from testdata and normalizes its records.
func load(t testing.TB, file string) []*model.Event {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Records []json.RawMessage }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	events := make([]*model.Event, len(f.Records))
	for i, raw := range f.Records {
		if events[i], err = fixtures.Normalize(raw); err != nil {
			t.Fatalf("%s record %d: %v", file, i, err)
		}
	}
	return events
}

// named returns a copy of e acting on the IAM object called name.
func named(e *model.Event, name string) *model.Event {
	c := *e
	c.ResourceNames = []string{name}
	return &c
}

// pair loads a fixture holding a create and a delete and lets edit change the delete.
func pair(file string, edit func(create, del *model.Event)) func(t testing.TB) []*model.Event {
	return func(t testing.TB) []*model.Event {
		ev := load(t, file)
		if edit != nil {
			edit(ev[0], ev[1])
		}
		return ev
	}
}

func reversed(f func(t testing.TB) []*model.Event) func(t testing.TB) []*model.Event {
	return func(t testing.TB) []*model.Event {
		ev := f(t)
		return []*model.Event{ev[1], ev[0]}
	}
}

func deleteAfter(d time.Duration) func(create, del *model.Event) {
	return func(create, del *model.Event) { del.EventTime = create.EventTime.Add(d) }
}

func TestShortLivedIAM(t *testing.T) {
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	userX := model.Detection{
		RuleID: ShortLivedIAMID, Severity: "high", Title: `IAM user "tmp-x" created and deleted within 4m10s`,
		AccountID: "123456789012", Environment: "prod", ResourceType: "iam-user", ResourceName: "tmp-x",
		EventIDs: []string{"b64ce422-8c38-4b29-98f1-35d25f557203", "451abd81-f1d6-4ed6-97f5-e837d70820fe"},
		Actors:   []string{"alice", "bob"}, FirstTime: at("2024-03-14T09:21:07Z"), LastTime: at("2024-03-14T09:25:17Z"),
		DetectedAt: detectedAt,
	}
	tests := []struct {
		name   string
		events func(t testing.TB) []*model.Event
		want   []model.Detection // DetectionID is filled in from EventIDs
	}{
		{"user", pair("iam_user.json", nil), []model.Detection{userX}},
		{"user deleted before created", reversed(pair("iam_user.json", nil)), []model.Detection{userX}},
		{"group", pair("iam_group.json", nil), []model.Detection{{
			RuleID: ShortLivedIAMID, Severity: "high", Title: `IAM group "tmp-auditors" created and deleted within 2m17s`,
			AccountID: "123456789012", Environment: "prod", ResourceType: "iam-group", ResourceName: "tmp-auditors",
			EventIDs: []string{"a8948c89-3b61-4676-a6bb-7dbd2d1c9af0", "dfd43f37-1200-439d-8687-39fa9d1de2a0"},
			Actors:   []string{"alice", "alice"}, FirstTime: at("2024-03-14T10:02:44Z"), LastTime: at("2024-03-14T10:05:01Z"),
			DetectedAt: detectedAt,
		}}},
		{"role", pair("iam_role.json", nil), []model.Detection{{
			RuleID: ShortLivedIAMID, Severity: "high", Title: `IAM role "tmp-deploy" created and deleted within 8m30s`,
			AccountID: "123456789012", Environment: "prod", ResourceType: "iam-role", ResourceName: "tmp-deploy",
			EventIDs: []string{"9cfc8652-3919-4242-a2ed-dbbd5464ecc2", "16353d03-551f-48f9-a2c6-8e45ca04c79f"},
			Actors:   []string{"alice", "carol"}, FirstTime: at("2024-03-14T11:40:00Z"), LastTime: at("2024-03-14T11:48:30Z"),
			DetectedAt: detectedAt,
		}}},
		{"policy", pair("iam_policy.json", nil), []model.Detection{{
			RuleID: ShortLivedIAMID, Severity: "high", Title: `IAM policy "arn:aws:iam::123456789012:policy/tmp-s3-read" created and deleted within 1m10s`,
			AccountID: "123456789012", Environment: "prod", ResourceType: "iam-policy", ResourceName: "arn:aws:iam::123456789012:policy/tmp-s3-read",
			EventIDs: []string{"6bae4b5b-844a-4034-a77f-fe48d0a6ec17", "50e40d54-712e-46b3-a471-fde41f229dd0"},
			Actors:   []string{"alice", "alice"}, FirstTime: at("2024-03-14T12:00:05Z"), LastTime: at("2024-03-14T12:01:15Z"),
			DetectedAt: detectedAt,
		}}},
		{"policy created without response", pair("iam_policy_no_response.json", nil), []model.Detection{{
			RuleID: ShortLivedIAMID, Severity: "high", Title: `IAM policy "arn:aws:iam::123456789012:policy/ops/tmp-ec2-admin" created and deleted within 3m20s`,
			AccountID: "123456789012", Environment: "prod", ResourceType: "iam-policy", ResourceName: "arn:aws:iam::123456789012:policy/ops/tmp-ec2-admin",
			EventIDs: []string{"83239ef5-4ba2-4161-9fb9-af5084768b8c", "449274d2-ea59-479a-ad3a-32a86af25748"},
			Actors:   []string{"alice", "alice"}, FirstTime: at("2024-03-14T12:30:00Z"), LastTime: at("2024-03-14T12:33:20Z"),
			DetectedAt: detectedAt,
		}}},
		{"access key", reversed(pair("iam_access_key.json", nil)), []model.Detection{{
			RuleID: ShortLivedIAMID, Severity: "high", Title: `IAM access key "AKIAYQ4KMXH2CIBOTKEY" created and deleted within 1m40s`,
			AccountID: "123456789012", Environment: "prod", ResourceType: "iam-access-key", ResourceName: "AKIAYQ4KMXH2CIBOTKEY",
			EventIDs: []string{"23c49cae-a2cf-42ba-ba95-8810b4ebf4b6", "33736dcc-a7f0-499e-80b5-244a4767e1fa"},
			Actors:   []string{"alice", "dave"}, FirstTime: at("2024-03-14T13:15:00Z"), LastTime: at("2024-03-14T13:16:40Z"),
			DetectedAt: detectedAt,
		}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRule(ShortLivedIAMConfig{})
			var got []model.Detection
			for _, e := range tc.events(t) {
				got = append(got, r.observe(e, Position{})...)
			}
			for i := range tc.want {
				w := &tc.want[i]
				w.DetectionID = DetectionID(ShortLivedIAMID, w.EventIDs...)
				w.Description, w.Tags, w.Source = shortLivedMeta.Description, shortLivedMeta.Tags, "builtin"
				w.Context = fmt.Sprintf(`{"seconds_alive":%g,"window":"10m0s"}`, w.LastTime.Sub(w.FirstTime).Seconds())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("detections:\n got %+v\nwant %+v", got, tc.want)
			}
			if r.Held() != 0 {
				t.Errorf("%d entries held after the pair was reported, want 0", r.Held())
			}
		})
	}
}

// TestShortLivedIAMPairing checks which create/delete sequences make a detection, by the
// event IDs of the detections made.
func TestShortLivedIAMPairing(t *testing.T) {
	user := pair("iam_user.json", nil)
	tests := []struct {
		name   string
		events func(t testing.TB) []*model.Event
		want   [][2]int // indexes of the create and the delete of each detection
	}{
		{"exactly 10m counts", pair("iam_user.json", deleteAfter(10*time.Minute)), [][2]int{{0, 1}}},
		{"exactly 10m counts, delete first", reversed(pair("iam_user.json", deleteAfter(10*time.Minute))), [][2]int{{1, 0}}},
		{"10m1s does not", pair("iam_user.json", deleteAfter(10*time.Minute+time.Second)), nil},
		{"11m does not, delete first", reversed(pair("iam_user.json", deleteAfter(11*time.Minute))), nil},
		{"delete before create in event time", pair("iam_user.json", deleteAfter(-time.Minute)), nil},
		{"different accounts", pair("iam_user.json", func(_, del *model.Event) { del.AccountID = "210987654321" }), nil},
		{"failed calls", pair("iam_user_denied.json", nil), nil},
		{"failed delete", pair("iam_user.json", func(_, del *model.Event) {
			del.Outcome, del.ErrorCode = "failure", "DeleteConflict"
		}), nil},
		{"error code on a success outcome", pair("iam_user.json", func(_, del *model.Event) { del.ErrorCode = "NoSuchEntity" }), nil},
		{"not IAM", pair("iam_user.json", func(create, del *model.Event) {
			create.EventSource, del.EventSource = "identitystore.amazonaws.com", "identitystore.amazonaws.com"
		}), nil},
		{"different names", pair("iam_user.json", func(_, del *model.Event) { del.ResourceNames = []string{"tmp-z"} }), nil},
		{"same name, another kind of object", pair("iam_user.json", func(_, del *model.Event) { del.ResourceType = "iam-group" }), nil},
		{"no object named", pair("iam_user.json", func(create, _ *model.Event) { create.ResourceNames = nil }), nil},
		{"policy paired by ARN, not by name", pair("iam_policy.json", func(_, del *model.Event) {
			del.ResourceARNs = []string{strings.Replace(del.ResourceARNs[0], ":policy/", ":policy/other-path/", 1)}
		}), nil},
		{"duplicate delivery", func(t testing.TB) []*model.Event {
			ev := user(t)
			return []*model.Event{ev[0], ev[1], ev[0], ev[1]}
		}, [][2]int{{0, 1}, {2, 3}}},
		{"create delivered twice", func(t testing.TB) []*model.Event {
			ev := user(t)
			return []*model.Event{ev[0], ev[0], ev[1]}
		}, [][2]int{{1, 2}}},
		{"a later cycle of the same name", func(t testing.TB) []*model.Event {
			c1, d1 := user(t), user(t)
			d1[1].EventTime = c1[0].EventTime.Add(11 * time.Minute)
			c2, d2 := user(t), user(t)
			c2[0].EventID, c2[0].EventTime = "c2", c1[0].EventTime.Add(20*time.Minute)
			d2[1].EventID, d2[1].EventTime = "d2", c1[0].EventTime.Add(22*time.Minute)
			return []*model.Event{c1[0], d1[1], d2[1], c2[0]}
		}, [][2]int{{3, 2}}},
		{"two short cycles", func(t testing.TB) []*model.Event {
			a, b := user(t), user(t)
			for i, e := range b {
				e.EventID, e.EventTime = fmt.Sprintf("second-%d", i), e.EventTime.Add(30*time.Minute)
			}
			return []*model.Event{a[0], a[1], b[1], b[0]}
		}, [][2]int{{0, 1}, {3, 2}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRule(ShortLivedIAMConfig{})
			ev := tc.events(t)
			var got []string
			for _, e := range ev {
				for _, d := range r.observe(e, Position{}) {
					got = append(got, d.DetectionID)
				}
			}
			var want []string
			for _, p := range tc.want {
				want = append(want, DetectionID(ShortLivedIAMID, ev[p[0]].EventID, ev[p[1]].EventID))
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("detections %q, want %q", got, want)
			}
		})
	}
}

func TestShortLivedIAMLateness(t *testing.T) {
	ev := load(t, "iam_user.json")
	create, del := ev[0], ev[1]
	other := *create
	other.EventID, other.EventSource, other.EventName = "other", "s3.amazonaws.com", "GetObject"

	tests := []struct {
		name    string
		clock   time.Duration // event time of an unrelated event of the account after the create
		account string        // account of that event
		want    int
	}{
		{"within the lateness", 70 * time.Minute, create.AccountID, 1},
		{"beyond the lateness", 71 * time.Minute, create.AccountID, 0},
		{"another account's clock", 24 * time.Hour, "210987654321", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRule(ShortLivedIAMConfig{})
			r.observe(create, Position{})
			o := other
			o.EventTime, o.AccountID = create.EventTime.Add(tc.clock), tc.account
			r.observe(&o, Position{})
			if got := len(r.observe(del, Position{})); got != tc.want {
				t.Fatalf("%d detections for a delete arriving after event time reached +%s, want %d", got, tc.clock, tc.want)
			}
		})
	}
}

// TestShortLivedIAMClock checks that events dated far ahead of the rest of their account
// do not expire the state of the account that is still inside its window, and that a real
// gap in the account's activity does, from the third event after it. The fixture holds a
// create and a delete of tmp-y two minutes apart (0, 1), events dated in the year 3000 (2, 3)
// of which one is a create (4), and three events three days after the pair (5, 6, 7).
func TestShortLivedIAMClock(t *testing.T) {
	ev := load(t, "clock.json")
	tests := []struct {
		name  string
		order []int    // indexes into the fixture
		held  []int    // entries held after each event
		want  [][2]int // indexes of the create and the delete of each detection
	}{
		{"an event of the year 3000 between create and delete", []int{0, 2, 1}, []int{1, 1, 0}, [][2]int{{0, 1}}},
		{"two of them between create and delete", []int{0, 2, 3, 1}, []int{1, 1, 1, 0}, [][2]int{{0, 1}}},
		{"a create of the year 3000 while the account holds nothing", []int{4, 0, 1}, []int{1, 2, 1}, [][2]int{{0, 1}}},
		// The clock of an account goes with its last entry: the delete, late, is held anew.
		{"a real gap: the third event after it expires the create", []int{0, 5, 6, 7, 1}, []int{1, 1, 1, 0, 1}, nil},
		{"three in a row move the clock", []int{0, 2, 3, 4, 1}, []int{1, 1, 1, 1, 1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRule(ShortLivedIAMConfig{})
			var got []string
			for i, at := range tc.order {
				for _, d := range r.observe(ev[at], Position{Offset: int64(i)}) {
					got = append(got, d.DetectionID)
				}
				if r.Held() != tc.held[i] {
					t.Errorf("%d entries held after event %d (%s at %s), want %d", r.Held(), at, ev[at].EventName, ev[at].EventTime, tc.held[i])
				}
			}
			var want []string
			for _, p := range tc.want {
				want = append(want, DetectionID(ShortLivedIAMID, ev[p[0]].EventID, ev[p[1]].EventID))
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("detections %q, want %q", got, want)
			}
		})
	}
}

// TestShortLivedIAMOldest follows where the oldest held event of each partition was read
// through creates, a pairing, a replaced create and an expiry.
func TestShortLivedIAMOldest(t *testing.T) {
	ev := load(t, "iam_user.json")
	create, del := ev[0], ev[1]
	at := func(d time.Duration, e *model.Event) *model.Event {
		c := *e
		c.EventTime = create.EventTime.Add(d)
		return &c
	}
	other := at(0, create)
	other.EventSource, other.EventName, other.ResourceType, other.ResourceNames = "s3.amazonaws.com", "GetObject", "s3-object", []string{"b/k"}
	otherAccount := func(e *model.Event) *model.Event { e.AccountID = "210987654321"; return e }

	none := int64(-1)
	steps := []struct {
		name   string
		event  *model.Event
		at     Position
		oldest [2]int64 // of partitions 0 and 1; none when nothing is held
	}{
		{"create A", at(0, create), Position{0, 10}, [2]int64{10, none}},
		{"create in another partition", otherAccount(named(at(0, create), "B")), Position{1, 3}, [2]int64{10, 3}},
		{"unrelated event", at(time.Minute, other), Position{0, 11}, [2]int64{10, 3}},
		{"create C", named(at(time.Minute, create), "C"), Position{0, 12}, [2]int64{10, 3}},
		{"delete A pairs and releases it", at(2*time.Minute, del), Position{0, 13}, [2]int64{12, 3}},
		{"a later create of C replaces the earlier", named(at(3*time.Minute, create), "C"), Position{0, 14}, [2]int64{14, 3}},
		{"the other account's clock moves on", otherAccount(at(2*time.Hour, other)), Position{1, 4}, [2]int64{14, none}},
	}
	r := newRule(ShortLivedIAMConfig{})
	for _, s := range steps {
		r.observe(s.event, s.at)
		for part, want := range s.oldest {
			off, ok := r.Oldest(part)
			if !ok {
				off = none
			}
			if off != want {
				t.Fatalf("after %s: oldest of partition %d is %d, want %d", s.name, part, off, want)
			}
		}
	}
}

// creates returns n successful CreateUser events of distinct users, one second apart.
func creates(t testing.TB, n int) []*model.Event {
	tmpl := load(t, "iam_user.json")[0]
	out := make([]*model.Event, n)
	for i := range out {
		e := named(tmpl, fmt.Sprintf("tmp-%d", i))
		e.EventID, e.EventTime = fmt.Sprintf("create-%d", i), tmpl.EventTime.Add(time.Duration(i)*time.Second)
		out[i] = e
	}
	return out
}

func TestShortLivedIAMBoundedState(t *testing.T) {
	ev := creates(t, 20_000)
	tests := []struct {
		name    string
		cfg     ShortLivedIAMConfig
		maxHeld int
	}{
		{"hard cap", ShortLivedIAMConfig{MaxHeld: 500, Lateness: 100 * time.Hour}, 500},
		{"event-time expiry", ShortLivedIAMConfig{Lateness: 50 * time.Minute}, 3601}, // 60m of creates, 1 s apart
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRule(tc.cfg)
			for i, e := range ev {
				r.observe(e, Position{Offset: int64(i)})
				if r.Held() > tc.maxHeld {
					t.Fatalf("%d entries held after %d creates, want at most %d", r.Held(), i+1, tc.maxHeld)
				}
			}
			if r.Held() != tc.maxHeld {
				t.Fatalf("%d entries held at the end, want %d", r.Held(), tc.maxHeld)
			}
			if off, ok := r.Oldest(0); !ok || off != int64(len(ev)-tc.maxHeld) {
				t.Fatalf("oldest held offset %d (%v), want %d", off, ok, len(ev)-tc.maxHeld)
			}
			// The newest entries are kept: the last create still pairs with its delete.
			last := ev[len(ev)-1]
			del := named(load(t, "iam_user.json")[1], last.ResourceNames[0])
			del.EventTime = last.EventTime.Add(time.Minute)
			if n := len(r.observe(del, Position{})); n != 1 {
				t.Fatalf("%d detections for the newest create, want 1", n)
			}
		})
	}
}

func TestDetectionID(t *testing.T) {
	a := DetectionID(ShortLivedIAMID, "e1", "e2")
	if a != DetectionID(ShortLivedIAMID, "e1", "e2") {
		t.Fatal("same input, different IDs")
	}
	for _, other := range []string{
		DetectionID(ShortLivedIAMID, "e2", "e1"),
		DetectionID(ShortLivedIAMID, "e1e2"),
		DetectionID("other-rule", "e1", "e2"),
	} {
		if other == a {
			t.Fatalf("different input gave the same ID %s", a)
		}
	}
	if len(a) != 64 {
		t.Fatalf("ID %q is not hex SHA-256", a)
	}
}

// BenchmarkShortLivedIAM feeds streams of IAM user creates, each deleted 4 minutes later,
// alone (the worst case: every record is an IAM write) and diluted among other calls.
func BenchmarkShortLivedIAM(b *testing.B) {
	for _, iamShare := range []int{100, 1} {
		b.Run(fmt.Sprintf("iam=%d%%", iamShare), func(b *testing.B) {
			stream, pairs := benchStream(b, iamShare)
			r := NewShortLivedIAM(ShortLivedIAMConfig{})
			detections, n := 0, 0
			for b.Loop() {
				if n%len(stream) == 0 {
					r = NewShortLivedIAM(ShortLivedIAMConfig{})
				}
				detections += len(r.observe(stream[n%len(stream)], Position{Offset: int64(n)}))
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
			if n >= len(stream) && detections < pairs {
				b.Fatalf("%d detections from %d records, want at least %d", detections, n, pairs)
			}
		})
	}
}

// benchStream returns a stream in event-time order in which iamShare percent of the
// records are CreateUser and DeleteUser calls, each user deleted 4 minutes after its
// creation, the others S3 reads, and the number of create/delete pairs in it.
func benchStream(b *testing.B, iamShare int) ([]*model.Event, int) {
	const (
		step = 2 * time.Second
		lag  = 120 // 4 minutes of steps
	)
	pairs := max(50_000*iamShare/100, 5_000)
	cs := creates(b, pairs)
	tmpl := load(b, "iam_user.json")[1]
	read := *tmpl
	read.EventSource, read.EventName, read.ResourceType = "s3.amazonaws.com", "GetObject", "s3-object"
	others := 2*100/iamShare - 2 // per create/delete pair
	stream := make([]*model.Event, 0, pairs*(2+others))
	for i := range pairs + lag {
		now := cs[0].EventTime.Add(time.Duration(i) * step)
		if i < pairs {
			cs[i].EventTime = now
			stream = append(stream, cs[i])
		}
		if j := i - lag; j >= 0 {
			d := named(tmpl, fmt.Sprintf("tmp-%d", j))
			d.EventID, d.EventTime = fmt.Sprintf("delete-%d", j), now
			stream = append(stream, d)
		}
		o := read // shared by the step's reads: the rule keeps no pointer to events
		o.EventID, o.EventTime = fmt.Sprintf("read-%d", i), now
		for range others {
			stream = append(stream, &o)
		}
	}
	return stream, pairs
}
