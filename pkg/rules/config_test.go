package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name, yaml string
		errs       []string // each must be in the error; none: the config is good
	}{
		{"empty", "", nil},
		{"comments only", "# nothing\n", nil},
		{"every setting", `
home_countries: [US, CA]
known_accounts: ["111122223333"]
allow:
  users: [ci]
  ips: [10.0.0.0/8, 192.0.2.7, "2001:db8::/32"]
rules:
  short-lived-iam-object:
    severity: critical
    allow: {roles: [Deployer]}
`, nil},
		{"unknown top-level key", "home_country: [US]\n", []string{"line 1", "home_country"}},
		{"unknown rule", "rules:\n  short-lived-iam-object: {}\n  no-such-rule:\n    enabled: false\n", []string{"line 3", `no rule "no-such-rule"`}},
		{"bad severity", "rules:\n  short-lived-iam-object:\n    severity: urgent\n", []string{"line 2", `severity "urgent"`}},
		{"unknown parameter", "rules:\n  short-lived-iam-object:\n    params: {window: 5m}\n", []string{"line 2", `no parameter "window"`}},
		{"bad address", "allow:\n  ips: [10.0.0.300]\n", []string{`"10.0.0.300"`}},
		{"a Sigma rule", "placeholders:\n  admins: [alice]\nrules:\n  sigma:0b5a3c0e-1111-4a4a-9a9a-000000000001:\n    severity: high\n", nil},
		{"a Sigma rule with params", "rules:\n  sigma:x:\n    params: {n: 1}\n", []string{"line 2", "Sigma rules take no params"}},
		{"a Sigma rule with a bad severity", "rules:\n  sigma:x:\n    severity: urgent\n", []string{"line 2", `severity "urgent"`}},
		{"not YAML", "rules: [\n", []string{"line"}},
		{"two errors, both reported", "rules:\n  nope-1: {}\n  nope-2: {}\n", []string{"line 2", "line 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml))
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatalf("ParseConfig: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseConfig accepted it; want an error with %q", tt.errs)
			}
			for _, want := range tt.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// TestConfigApplied checks that New honours a config: a disabled rule is gone, a severity is
// overridden, and an allow-listed principal's events reach no rule.
func TestConfigApplied(t *testing.T) {
	off := false
	all, err := New(&Config{})
	if err != nil {
		t.Fatal(err)
	}
	fewer, err := New(&Config{Rules: map[string]RuleConfig{ShortLivedIAMID: {Enabled: &off}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(fewer) != len(all)-1 {
		t.Errorf("%d rules with one disabled, want %d", len(fewer), len(all)-1)
	}
	for _, r := range fewer {
		if r.Info().ID == ShortLivedIAMID {
			t.Error("the disabled rule is still there")
		}
	}

	create := &model.Event{EventID: "c", EventSource: "iam.amazonaws.com", EventName: "CreateUser", Outcome: "success",
		AccountID: "1", UserName: "alice", SourceIP: "10.1.2.3", ResourceType: "iam-user", ResourceNames: []string{"tmp"},
		EventTime: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}
	del := *create
	del.EventID, del.EventName, del.EventTime = "d", "DeleteUser", create.EventTime.Add(time.Minute)
	detect := func(c *Config) []model.Detection {
		rs, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		e := NewEngine(rs)
		return append(e.Observe(create, Position{}), e.Observe(&del, Position{Offset: 1})...)
	}
	if got := detect(&Config{Rules: map[string]RuleConfig{ShortLivedIAMID: {Severity: "critical"}}}); len(got) != 1 || got[0].Severity != "critical" {
		t.Errorf("severity override: %+v", got)
	}
	for _, a := range []Allow{{Users: []string{"alice"}}, {IPs: []string{"10.0.0.0/8"}}, {Accounts: []string{"1"}}} {
		if got := detect(&Config{Allow: a}); len(got) != 0 {
			t.Errorf("allow-list %+v: %d detections, want none", a, len(got))
		}
	}
	if got := detect(&Config{Allow: Allow{Users: []string{"bob"}}}); len(got) != 1 {
		t.Errorf("allow-list of someone else: %d detections, want 1", len(got))
	}
}

// FuzzParseConfig feeds the rules-config parser arbitrary bytes: it returns a config or an
// error, never panics, and an accepted config makes rules.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{"", "rules:\n  short-lived-iam-object:\n    severity: high\n", "allow: {ips: [10.0.0.0/8]}",
		"home_countries: [US]\nrules: {x: {params: {a: 1}}}", "rules: [", "a: &a [*a]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		if _, err := New(c); err != nil {
			t.Fatalf("ParseConfig accepted %q but New refused it: %v", b, err)
		}
	})
}
