package notifier

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

// update rewrites the goldens: go test ./services/notifier -run TestBody -update. Read a
// changed golden before committing it: it is what receivers get.
var update = flag.Bool("update", false, "rewrite testdata/slack.golden from the Slack format's output")

func TestParseSeverity(t *testing.T) {
	tests := []struct {
		in      string
		want    Severity
		wantErr bool
	}{
		{"info", Info, false},
		{"low", Low, false},
		{"medium", Medium, false},
		{"high", High, false},
		{"critical", Critical, false},
		{" HIGH ", High, false},
		{"Critical", Critical, false},
		{"", 0, true},
		{"urgent", 0, true},
		{"hi", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSeverity(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSeverity(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Fatalf("ParseSeverity(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if err == nil && got.String() != strings.ToLower(strings.TrimSpace(tt.in)) {
				t.Fatalf("%v.String() = %q, want %q back", got, got.String(), tt.in)
			}
		})
	}
	if !(Info < Low && Low < Medium && Medium < High && High < Critical) {
		t.Fatal("severities are not ranked info < low < medium < high < critical")
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{"json", JSON, false},
		{"slack", Slack, false},
		{"SLACK", Slack, false},
		{"", 0, true},
		{"xml", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFormat(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseFormat(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && (got != tt.want || got.String() != strings.ToLower(tt.in)) {
				t.Fatalf("ParseFormat(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// sample is the detection of the goldens.
func sample() *model.Detection {
	return &model.Detection{
		DetectionID:  "5b8e0f4c3d2a1b0e9f8d7c6b5a4e3d2c1b0a9f8e7d6c5b4a3e2d1c0b9a8f7e6d",
		RuleID:       "short-lived-iam-object",
		Severity:     "high",
		Title:        `IAM user "svc-backup-tmp" created and deleted within 4m10s`,
		AccountID:    "123456789012",
		Environment:  "prod",
		ResourceType: "iam-user",
		ResourceName: "svc-backup-tmp",
		EventIDs:     []string{"e-create", "e-delete"},
		Actors:       []string{"alice", "bob"},
		FirstTime:    time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC),
		LastTime:     time.Date(2026, 11, 21, 10, 4, 10, 0, time.UTC),
		DetectedAt:   time.Date(2026, 11, 21, 10, 4, 11, 250e6, time.UTC),
	}
}

// TestBody checks the body of the sample detection in each format: in JSON the detection as
// AppendJSON writes it, keyed by every Avro field name; for Slack {"text": ...} alone, as
// its golden.
func TestBody(t *testing.T) {
	tests := []struct {
		format Format
		check  func(t *testing.T, body []byte, v map[string]any)
	}{
		{JSON, func(t *testing.T, body []byte, v map[string]any) {
			if want := sample().AppendJSON(nil); !bytes.Equal(body, want) {
				t.Errorf("JSON body\n got %s\nwant %s", body, want)
			}
			for _, name := range model.DetectionFields() {
				if _, ok := v[name]; !ok {
					t.Errorf("JSON body lacks the Avro field %q", name)
				}
			}
			if len(v) != len(model.DetectionFields()) {
				t.Errorf("JSON body has %d keys, the schema %d fields", len(v), len(model.DetectionFields()))
			}
		}},
		{Slack, func(t *testing.T, body []byte, v map[string]any) {
			if _, ok := v["text"].(string); !ok || len(v) != 1 {
				t.Errorf("Slack body %s is not {\"text\": \"...\"} alone", body)
			}
			const golden = "testdata/slack.golden"
			if *update {
				if err := os.WriteFile(golden, append(body, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(append(body, '\n'), want) {
				t.Errorf("Slack body differs from %s (-update rewrites it):\n got %s\nwant %s", golden, body, want)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format.String(), func(t *testing.T) {
			body := tt.format.Body(sample())
			var v map[string]any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, body)
			}
			tt.check(t, body, v)
		})
	}
}

func TestSlackText(t *testing.T) {
	tests := []struct {
		name   string
		change func(d *model.Detection)
		has    []string
		hasNot []string
		lines  int
	}{
		{"complete", func(d *model.Detection) {}, []string{
			"*[HIGH]* IAM user \"svc-backup-tmp\" created and deleted within 4m10s",
			"Rule: short-lived-iam-object", "Account: 123456789012 (environment prod)",
			"Resource: iam-user svc-backup-tmp", "Time: 2026-11-21 10:00:00 UTC to 2026-11-21 10:04:10 UTC",
			"Actors: alice, bob", "Detection: 5b8e0f4c",
		}, nil, 7},
		{"markup escaped", func(d *model.Detection) { d.Title = "a <b> & c"; d.ResourceName = "<!channel>" },
			[]string{"a &lt;b&gt; &amp; c", "&lt;!channel&gt;"}, []string{"<b>", "<!channel>"}, 7},
		{"no resource, actors or environment", func(d *model.Detection) {
			d.ResourceType, d.ResourceName, d.Actors, d.Environment = "", "", nil, ""
		}, []string{"Account: 123456789012\n"}, []string{"Resource:", "Actors:", "environment"}, 5},
		{"one time", func(d *model.Detection) { d.LastTime = d.FirstTime },
			[]string{"Time: 2026-11-21 10:00:00 UTC\n"}, []string{" to "}, 7},
		{"many actors", func(d *model.Detection) { d.Actors = []string{"a", "b", "c", "d", "e", "f", "g"} },
			[]string{"Actors: a, b, c, d, e and 2 more"}, []string{", f"}, 7},
		{"times in UTC", func(d *model.Detection) {
			d.FirstTime = d.FirstTime.In(time.FixedZone("CET", 3600))
		}, []string{"Time: 2026-11-21 10:00:00 UTC to"}, nil, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sample()
			tt.change(d)
			got := slackText(d)
			for _, s := range tt.has {
				if !strings.Contains(got, s) {
					t.Errorf("text lacks %q:\n%s", s, got)
				}
			}
			for _, s := range tt.hasNot {
				if strings.Contains(got, s) {
					t.Errorf("text has %q:\n%s", s, got)
				}
			}
			if n := strings.Count(got, "\n") + 1; n != tt.lines {
				t.Errorf("%d lines, want %d:\n%s", n, tt.lines, got)
			}
		})
	}
}
