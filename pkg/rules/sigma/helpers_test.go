package sigma

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
	"github.com/trailstream/trailstream/pkg/rules"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// baseRecord is the CloudTrail record the tests' records start from: an IAM user creating
// another.
const baseRecord = `{
  "eventVersion": "1.09",
  "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE1", "arn": "arn:aws:iam::123456789012:user/alice",
    "accountId": "123456789012", "accessKeyId": "AKIAEXAMPLE1", "userName": "alice"},
  "eventTime": "2026-11-20T10:00:00Z",
  "eventSource": "iam.amazonaws.com",
  "eventName": "CreateUser",
  "awsRegion": "us-east-1",
  "sourceIPAddress": "203.0.113.24",
  "userAgent": "aws-cli/2.15.30 md/awscrt#0.19.19",
  "requestParameters": {"userName": "tmp-x"},
  "responseElements": {"user": {"userName": "tmp-x", "arn": "arn:aws:iam::123456789012:user/tmp-x"}},
  "eventID": "ev-1",
  "readOnly": false,
  "eventType": "AwsApiCall",
  "managementEvent": true,
  "recipientAccountId": "123456789012"
}`

// absent, as the value of a key of a record fragment, removes the key.
const absent = "<absent>"

// record returns the normalized event of baseRecord with the top-level keys of fragment
// (a JSON object) put in, or removed (absent).
func record(t testing.TB, fragment string) *model.Event {
	t.Helper()
	var base, frag map[string]any
	if err := json.Unmarshal([]byte(baseRecord), &base); err != nil {
		t.Fatal(err)
	}
	if fragment != "" {
		if err := json.Unmarshal([]byte(fragment), &frag); err != nil {
			t.Fatalf("fragment %s: %v", fragment, err)
		}
	}
	for k, v := range frag {
		if v == absent {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	b, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	e, err := normalize.Normalize(b, "test")
	if err != nil {
		t.Fatalf("record %s: %v", b, err)
	}
	return e
}

// at returns the record of fragment with its event ID and time set.
func at(t testing.TB, id string, offset time.Duration, fragment string) *model.Event {
	t.Helper()
	e := record(t, fragment)
	e.EventID, e.EventTime = id, t0.Add(offset)
	return e
}

// loadText loads rules from YAML text as the file name.
func loadText(name, text string, o Options) ([]rules.Rule, Report) {
	var rep Report
	l := &loader{o: &o, rep: &rep, byKey: map[string]*entry{}}
	rep.Files++
	l.add(name, []byte(text))
	return l.build(), rep
}

// mustLoad loads the rule files at paths and fails on any problem.
func mustLoad(t testing.TB, o Options, paths ...string) []rules.Rule {
	t.Helper()
	rs, rep, err := Load(paths, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Errorf("%s:%d: %s: %s", p.File, p.Line, p.RuleID, p.Reason)
	}
	return rs
}

// byID returns the rule of rule_id "sigma:" + id.
func byID(t testing.TB, rs []rules.Rule, id string) rules.Rule {
	t.Helper()
	i := slices.IndexFunc(rs, func(r rules.Rule) bool { return r.Info().ID == IDPrefix+id })
	if i < 0 {
		t.Fatalf("no rule %s", id)
	}
	return rs[i]
}

// bare returns e with only what identifies it and its raw record: every field must then
// come from the record.
func bare(e *model.Event) *model.Event {
	return &model.Event{EventID: e.EventID, EventTime: e.EventTime, AccountID: e.AccountID, Raw: e.Raw}
}

// verdicts evaluates the rule's condition on e four ways: with the event's own fields and
// the record scanned, with them and the record parsed, and with the record alone, scanned
// and parsed. All four must agree.
func verdicts(r *plainRule, e *model.Event) [4]bool {
	var out [4]bool
	for i, ev := range []*model.Event{e, e, bare(e), bare(e)} {
		in := rules.NewInput(ev, rules.Position{}, ev.EventTime)
		if i%2 == 1 {
			in.Record()
		}
		out[i] = r.det.cond.eval(&event{in: in})
	}
	return out
}
