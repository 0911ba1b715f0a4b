package rules

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

// matchOn is a part of an Any that reports the events of the given names, each with its
// severity ("" for the rule's), titled by the event name.
func matchOn(severities map[string]string) *Match {
	return &Match{
		When: func(in *Input) (Finding, bool) {
			sev, ok := severities[in.Event.EventName]
			return Finding{Severity: sev, Title: in.Event.EventName}, ok
		},
		Now: func() time.Time { return detectedAt },
	}
}

func TestAny(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	type ev struct {
		name, user string
		at         time.Duration
	}
	type got struct{ id, sev, title string }
	tests := []struct {
		name   string
		dedup  *Dedup
		events []ev
		want   []got
	}{
		{
			name:   "each part reports under the composite's meta",
			events: []ev{{"A", "alice", 0}, {"B", "alice", time.Minute}, {"C", "alice", 2 * time.Minute}},
			want:   []got{{"composite", "medium", "A"}, {"composite", "critical", "B"}},
		},
		{
			name:   "without dedup, both parts report the same event",
			events: []ev{{"AB", "alice", 0}},
			want:   []got{{"composite", "medium", "AB"}, {"composite", "medium", "AB"}},
		},
		{
			name:   "dedup folds the parts' detections of one key",
			dedup:  &Dedup{Key: func(in *Input) string { return in.Event.UserName }, Period: time.Hour},
			events: []ev{{"AB", "alice", 0}, {"A", "alice", 30 * time.Minute}, {"B", "bob", 40 * time.Minute}, {"A", "alice", time.Hour}},
			want:   []got{{"composite", "medium", "AB"}, {"composite", "critical", "B"}, {"composite", "medium", "A"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := matchOn(map[string]string{"A": "", "AB": ""})
			b := matchOn(map[string]string{"B": "critical", "AB": ""})
			r := &Any{Rules: []Rule{a, b}, Dedup: tt.dedup}
			// As catalogue.New does: the meta is set after the rule is made.
			*r.Info() = Meta{ID: "composite", Severity: "medium", Tags: []string{"attack.t1078"}, Source: "builtin"}
			var out []got
			for i, e := range tt.events {
				ev := &model.Event{EventID: e.name + string(rune('0'+i)), EventName: e.name, UserName: e.user,
					AccountID: "123456789012", EventTime: t0.Add(e.at)}
				for _, d := range r.Observe(NewInput(ev, Position{Offset: int64(i)}, ev.EventTime)) {
					if !slices.Equal(d.Tags, []string{"attack.t1078"}) || d.Source != "builtin" {
						t.Errorf("detection %s carries tags %v and source %q, not the composite's", d.Title, d.Tags, d.Source)
					}
					out = append(out, got{d.RuleID, d.Severity, d.Title})
				}
			}
			if !slices.Equal(out, tt.want) {
				t.Errorf("got %v, want %v", out, tt.want)
			}
		})
	}
}

func TestAnyState(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	failures := &Threshold{
		Select:   func(in *Input) bool { return in.Event.EventName == "F" },
		Key:      func(in *Input) string { return in.Event.UserName },
		Count:    3,
		Window:   10 * time.Minute,
		Describe: func(t *Tally) Finding { return Finding{Title: "three"} },
	}
	match := matchOn(map[string]string{"M": ""})
	match.Dedup = &Dedup{Key: func(in *Input) string { return "" }, Period: time.Hour}
	r := &Any{Meta: Meta{ID: "composite", Severity: "low"}, Rules: []Rule{failures, match},
		Dedup: &Dedup{Key: func(in *Input) string { return in.Event.UserName }, Period: time.Hour}}
	feed := func(name string, off int64, at time.Duration, user ...string) int {
		ev := &model.Event{EventID: name + string(rune('0'+off)), EventName: name, UserName: append(user, "alice")[0], AccountID: "123456789012", EventTime: t0.Add(at)}
		return len(r.Observe(NewInput(ev, Position{Partition: 0, Offset: off}, ev.EventTime)))
	}
	if _, held := r.Oldest(0); held || r.Held() != 0 {
		t.Fatalf("a fresh Any holds %d entries", r.Held())
	}
	feed("F", 7, 0)
	feed("F", 8, time.Minute)
	if off, held := r.Oldest(0); !held || off != 7 {
		t.Errorf("Oldest = %d, %v after failures at 7 and 8; want 7", off, held)
	}
	if n := feed("M", 9, 2*time.Minute); n != 1 {
		t.Errorf("the match reported %d detections, want 1", n)
	}
	// The threshold's key, the match's dedup and the composite's dedup.
	if got := r.Held(); got != 3 {
		t.Errorf("Held = %d, want 3", got)
	}
	if n := feed("F", 10, 3*time.Minute); n != 0 {
		t.Errorf("the threshold's detection was not folded into the match's: %d reported", n)
	}
	feed("F", 11, 4*time.Minute, "bob")
	feed("F", 12, 5*time.Minute, "bob")
	if n := feed("F", 13, 6*time.Minute, "bob"); n != 1 {
		t.Errorf("another key's threshold reported %d detections, want 1", n)
	}
}

// TestSeedersInsideAny checks that the engine finds a seeded part of a composite, behind
// the catalogue's allow-list wrapper, named by the composite's rule ID.
func TestSeedersInsideAny(t *testing.T) {
	seeded := &Baseline{Select: func(*Input) bool { return true }, Key: func(*Input) string { return "" },
		Value: func(in *Input) string { return in.Event.AWSRegion }, Seed: &Seed{Where: "1", Value: "aws_region"}}
	unseeded := &Baseline{Select: func(*Input) bool { return true }, Key: func(*Input) string { return "" },
		Value: func(in *Input) string { return in.Event.AWSRegion }}
	r := &Any{Meta: Meta{ID: "composite"}, Rules: []Rule{matchOn(nil), unseeded, seeded}}
	got := NewEngine([]Rule{allowing(r, Allow{Users: []string{"ci"}})}).Seeders()
	if len(got) != 1 || got[0] != Seeder(seeded) || got[0].Info().ID != "composite" {
		t.Fatalf("Seeders = %v, want the seeded baseline, as rule composite", got)
	}
}

// TestCatalogueSeeders checks that the rules with a long memory of the catalogue rebuild it
// at start: both sign-in outliers and the new-region baseline.
func TestCatalogueSeeders(t *testing.T) {
	want := map[string]string{
		"console-login-success-outlier": "login_result = 'success'",
		"console-login-failure-outlier": "login_result = 'failure'",
		"new-region-activity":           "action IN ('create', 'delete', 'modify')",
	}
	for _, s := range NewEngine(Default()).Seeders() {
		id := s.Info().ID
		if frag, ok := want[id]; ok {
			if sql := s.SeedSQL("db.events", time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)); !strings.Contains(sql, frag) {
				t.Errorf("%s seeds with\n%s\nwhich lacks %q", id, sql, frag)
			}
			delete(want, id)
		}
	}
	for id := range want {
		t.Errorf("%s is not seeded", id)
	}
}
