package ruletest

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/trailstream/trailstream/pkg/rules"
)

// TestBuiltinCases runs the built-in rules' own cases: every case passes, and every rule
// has a case that fires and one that must not.
func TestBuiltinCases(t *testing.T) {
	cases, err := Load(rules.Cases, rules.CasesDir)
	if err != nil {
		t.Fatal(err)
	}
	results := Run(cases, rules.New, Options{})
	fires, quiet := map[string]int{}, map[string]int{}
	for _, r := range results {
		if !r.Passed() {
			t.Errorf("%s:%d %s %q: %v", r.File, r.Line, r.Rule, r.Name, r.Err)
		}
		if r.Fires {
			fires[r.Rule]++
		} else {
			quiet[r.Rule]++
		}
	}
	for _, b := range rules.Builtins() {
		if fires[b.ID] == 0 || quiet[b.ID] == 0 {
			t.Errorf("rule %s has %d cases that fire and %d that must not; want at least one of each", b.ID, fires[b.ID], quiet[b.ID])
		}
	}
}

func TestReport(t *testing.T) {
	cases, err := Load(os.DirFS("testdata"), "mixed.yml")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	failed := Report(&out, Run(cases, rules.New, Options{}), false)
	want := []string{
		"PASS short-lived-iam-object passes: mixed.yml:9",
		"FAIL short-lived-iam-object expects the wrong severity: mixed.yml:15",
		`    detection 1: expected severity low, got severity high, resource g, title "IAM group \"g\" created and deleted within 1m0s", events c,d`,
		"FAIL no-such-rule no such rule: mixed.yml:21",
		`    no rule "no-such-rule" is enabled`,
		"1 passed, 2 failed",
	}
	if got := strings.Split(strings.TrimSpace(out.String()), "\n"); failed != 2 || !slices.Equal(got, want) {
		t.Errorf("Report returned %d and wrote\n%s\nwant 2 and\n%s", failed, out.String(), strings.Join(want, "\n"))
	}
	out.Reset()
	Report(&out, Run(cases, rules.New, Options{Rule: "no-such-rule"}), true)
	if got := out.String(); got != "FAIL no-such-rule no such rule: mixed.yml:21\n    no rule \"no-such-rule\" is enabled\n0 passed, 1 failed\n" {
		t.Errorf("--rule and --failures-only: %q", got)
	}
}

func TestExpand(t *testing.T) {
	c := Case{
		Base: map[string]any{"userIdentity": map[string]any{"type": "IAMUser", "userName": "base"}},
		Records: []map[string]any{{"eventID": "f", "eventTime": "2026-11-20T10:00:00Z", "_repeat": 3, "_step": "30s",
			"_each": map[string]any{"userIdentity.userName": []any{"a", "b"}}}},
	}
	got, err := expand(c)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"eventID":"f-0","eventTime":"2026-11-20T10:00:00Z","userIdentity":{"type":"IAMUser","userName":"a"}}`,
		`{"eventID":"f-1","eventTime":"2026-11-20T10:00:30Z","userIdentity":{"type":"IAMUser","userName":"b"}}`,
		`{"eventID":"f-2","eventTime":"2026-11-20T10:01:00Z","userIdentity":{"type":"IAMUser","userName":"a"}}`,
	}
	for i := range want {
		if i >= len(got) || string(got[i]) != want[i] {
			t.Fatalf("expand gave %q, want %q", got, want)
		}
	}
}

// FuzzParse feeds the rule test file parser arbitrary bytes: cases or an error, never a
// panic, and every case it accepts runs (to a result, pass or fail).
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "cases: []", "cases:\n  - {name: a, rule: short-lived-iam-object, records: [{eventID: x}], expect: []}",
		"base: {a: 1}\ncases:\n  - {rule: r, records: [{_repeat: 2, _step: 1s, eventTime: \"2026-11-20T10:00:00Z\"}]}", "cases: [{records: [{_each: {a.b: [1]}}]}]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cases, err := parse("fuzz.yml", b)
		if err != nil {
			return
		}
		for _, c := range cases {
			if r, ok := c.Records[0]["_repeat"].(int); ok && r > 1000 {
				return // the runner would make that many records; not a parser question
			}
		}
		if res := Run(cases, rules.New, Options{}); len(res) != len(cases) {
			t.Fatalf("%d results for %d cases", len(res), len(cases))
		}
	})
}
