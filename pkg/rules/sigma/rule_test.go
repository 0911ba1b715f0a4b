package sigma

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/rules"
)

func TestDetection(t *testing.T) {
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	rs := mustLoad(t, Options{Now: func() time.Time { return now }}, "testdata/load/good.yml")
	e := at(t, "ev-stop", 0, `{"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging",
		"requestParameters": {"name": "arn:aws:cloudtrail:us-east-1:123456789012:trail/main"}}`)
	eng := rules.NewEngine(rs)
	got := eng.Observe(e, rules.Position{Offset: 7})
	if len(got) != 1 {
		t.Fatalf("%d detections, want 1", len(got))
	}
	d := got[0]
	want := model.Detection{
		DetectionID:  rules.DetectionID("sigma:l-good", "ev-stop"),
		RuleID:       "sigma:l-good",
		Severity:     "high",
		Title:        "Trail stopped by alice",
		AccountID:    "123456789012",
		Environment:  "test",
		ResourceType: e.ResourceType,
		ResourceName: d.ResourceName,
		EventIDs:     []string{"ev-stop"},
		Actors:       []string{"alice"},
		FirstTime:    t0,
		LastTime:     t0,
		DetectedAt:   now,
		Description:  "A trail stopped logging.",
		Tags:         []string{"attack.defense-evasion", "attack.t1562.008"},
		Source:       "testdata/load/good.yml",
		Context:      d.Context,
	}
	if len(e.ResourceNames) > 0 {
		want.ResourceName = e.ResourceNames[0]
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("detection\n%+v\nwant\n%+v", d, want)
	}
	var ctx map[string]any
	if err := json.Unmarshal([]byte(d.Context), &ctx); err != nil {
		t.Fatal(err)
	}
	wantCtx := map[string]any{
		"selections": []any{"selection"},
		"fields": map[string]any{ // the rule's fields:
			"requestParameters.name": "arn:aws:cloudtrail:us-east-1:123456789012:trail/main",
			"userIdentity.arn":       "arn:aws:iam::123456789012:user/alice",
		},
	}
	if !reflect.DeepEqual(ctx, wantCtx) {
		t.Errorf("context %v, want %v", ctx, wantCtx)
	}

	// Delivered again: no second detection; to a new instance: the same detection.
	if again := eng.Observe(e, rules.Position{Offset: 8}); len(again) != 0 {
		t.Errorf("the event again: %d detections", len(again))
	}
	fresh := rules.NewEngine(mustLoad(t, Options{}, "testdata/load/good.yml")).Observe(e, rules.Position{Offset: 8})
	if len(fresh) != 1 || fresh[0].DetectionID != d.DetectionID {
		t.Errorf("after a restart: %v, want the detection %s", fresh, d.DetectionID)
	}
	// A plain rule holds nothing a restart needs.
	if _, ok := eng.Oldest(0); ok {
		t.Error("a plain rule holds state to rebuild")
	}
}

func TestDetectionContextFields(t *testing.T) {
	// Without fields:, the context shows the fields the selections test, and the
	// selections that matched.
	rs, rep := loadText("f.yml", `title: Fields
id: f-1
logsource: {product: aws, service: cloudtrail}
detection:
    selection:
        eventName: CreateUser
        requestParameters.userName|startswith: tmp-
    by_cli:
        userAgent|startswith: aws-cli
    by_console:
        userAgent: console.amazonaws.com
    condition: selection and 1 of by_*
`, Options{})
	if len(rep.Problems) > 0 {
		t.Fatal(rep.Problems)
	}
	ds := rules.NewEngine(rs).Observe(record(t, ""), rules.Position{})
	if len(ds) != 1 {
		t.Fatalf("%d detections", len(ds))
	}
	var ctx map[string]any
	if err := json.Unmarshal([]byte(ds[0].Context), &ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"selections": []any{"selection", "by_cli"},
		"fields":     map[string]any{"eventName": "CreateUser", "requestParameters.userName": "tmp-x", "userAgent": "aws-cli/2.15.30 md/awscrt#0.19.19"},
	}
	if !reflect.DeepEqual(ctx, want) {
		t.Errorf("context %v, want %v", ctx, want)
	}
}

func TestSeverity(t *testing.T) {
	for level, want := range map[string]string{"informational": "info", "low": "low", "medium": "medium", "high": "high", "critical": "critical", "High": "high", "": "medium"} {
		text := "title: L\nid: s-1\nlogsource: {product: aws, service: cloudtrail}\ndetection: {s: {eventName: X}, condition: s}\n"
		if level != "" {
			text += "level: " + level + "\n"
		}
		rs, rep := loadText("s.yml", text, Options{})
		if len(rs) != 1 || rs[0].Info().Severity != want {
			t.Errorf("level %q: %v %v, want severity %s", level, rs, rep.Problems, want)
		}
	}
	_, rep := loadText("s.yml", "title: L\nid: s-1\nlogsource: {product: aws, service: cloudtrail}\ndetection: {s: {eventName: X}, condition: s}\nlevel: urgent\n", Options{})
	if len(rep.Problems) != 1 || rep.Problems[0].Line != 5 {
		t.Errorf("level urgent: %v, want a problem on line 5", rep.Problems)
	}
}

// FuzzParse loads arbitrary rule files: no panic, every problem has a line in the file, and
// the rules loaded run on a record.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	e := record(f, `{"requestParameters": {"userName": "tmp-x", "layers": ["a", "b"]}, "errorCode": "AccessDenied"}`)
	o := Options{Placeholders: map[string][]string{"Administrators": {"admin"}, "Accounts": {"1"}}}
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, rep := loadText("f.yml", string(b), o)
		lines := strings.Count(string(b), "\n") + 1
		for _, p := range rep.Problems {
			if p.Line < 1 || p.Line > lines || p.Reason == "" {
				t.Errorf("problem at line %d of %d: %q", p.Line, lines, p.Reason)
			}
		}
		eng := rules.NewEngine(rs)
		for i := range 3 {
			eng.Observe(e, rules.Position{Offset: int64(i)})
		}
		if len(rs) != len(rep.Loaded) || slices.ContainsFunc(rs, func(r rules.Rule) bool { return !strings.HasPrefix(r.Info().ID, IDPrefix) }) {
			t.Errorf("%d rules, %d loaded", len(rs), len(rep.Loaded))
		}
	})
}
