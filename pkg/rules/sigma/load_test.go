package sigma

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/trailstream/trailstream/pkg/rules"
)

func TestLoadFolder(t *testing.T) {
	tests := []struct {
		name     string
		o        Options
		loaded   []string
		skipped  int
		problems []string // file:line
	}{
		{"default statuses", Options{},
			[]string{"l-after-broken", "l-experimental", "l-good", "l-named", "l-nested", "l-stable", "unnamed-2"}, 2,
			[]string{"testdata/load/after-broken.yml:3"}},
		{"deprecated asked for", Options{Statuses: []string{"deprecated", "stable"}},
			[]string{"l-after-broken", "l-deprecated", "l-named", "l-nested", "l-stable", "unnamed-2"}, 3,
			[]string{"testdata/load/after-broken.yml:3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, rep, err := Load([]string{"testdata/load"}, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range rs {
				ids = append(ids, strings.TrimPrefix(r.Info().ID, IDPrefix))
			}
			slices.Sort(ids)
			want := tt.loaded
			if !slices.Equal(ids, want) {
				t.Errorf("loaded %v, want %v", ids, want)
			}
			if got := slices.Sorted(slices.Values(rep.Loaded)); !slices.Equal(got, prefixed(want)) {
				t.Errorf("report's loaded %v, want %v", got, prefixed(want))
			}
			if rep.Files != 6 {
				t.Errorf("%d files read, want 6 (the .yml and .yaml files, in sub/ too)", rep.Files)
			}
			if rep.Ignored != 1 {
				t.Errorf("%d ignored, want 1 (windows.yml)", rep.Ignored)
			}
			if rep.Skipped != tt.skipped {
				t.Errorf("%d skipped, want %d", rep.Skipped, tt.skipped)
			}
			var where []string
			for _, p := range rep.Problems {
				where = append(where, p.File+":"+strconv.Itoa(p.Line))
			}
			if !slices.Equal(where, tt.problems) {
				t.Errorf("problems at %v, want %v", where, tt.problems)
			}
			if !rep.Failed() {
				t.Error("the report does not say a rule failed")
			}
		})
	}
}

func prefixed(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = IDPrefix + id
	}
	return out
}

func TestLoadMeta(t *testing.T) {
	rs := mustLoad(t, Options{}, "testdata/load/good.yml", "testdata/load/statuses.yml")
	m := byID(t, rs, "l-good").Info()
	if m.Severity != "high" || m.Description != "A trail stopped logging." || m.Source != "testdata/load/good.yml" {
		t.Errorf("meta %+v", m)
	}
	if !slices.Equal(m.Tags, []string{"attack.defense-evasion", "attack.t1562.008"}) {
		t.Errorf("tags %v", m.Tags)
	}
	if !slices.Equal(m.Events, []string{"StopLogging"}) {
		t.Errorf("events %v, want [StopLogging]", m.Events)
	}
	if s := byID(t, rs, "l-stable").Info().Severity; s != "info" {
		t.Errorf("informational is severity %q, want info", s)
	}
	if s := byID(t, rs, "l-experimental").Info().Severity; s != "medium" {
		t.Errorf("no level is severity %q, want medium", s)
	}
}

func TestLoadErrors(t *testing.T) {
	_, rep, err := Load([]string{"testdata/broken/errors.yml"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line   int
		rule   string
		reason string
	}{
		{8, "b-many", `unknown modifier "containz"`},
		{9, "b-many", "error parsing regexp: invalid named capture"},
		{10, "b-many", `cidr "10.0.0.0/33"`},
		{13, "b-many", `names "filters", which is no selection`},
		{14, "b-many", `level "severe"`},
		{19, "b-no-condition", "no condition"},
		{29, "b-aggregation", "Sigma v1; write a correlation rule"},
		{37, "b-timeframe", "timeframe"},
		{40, "b-no-title", "no title"},
		{48, "b-many", "id b-many is already the id or name of the rule at testdata/broken/errors.yml:1"},
		{60, "b-values", "cannot encode a value with wildcards"},
		{61, "b-values", "placeholder %Nobody% has no values"},
		{62, "b-values", "exists takes true or false"},
		{64, "b-values", "not a map"},
		{65, "b-values", "the condition ends where a selection was expected"},
		{73, "b-correlation", `rule "b-missing", which is none of the rules loaded`},
		{76, "b-correlation", `timespan "1 hour"`},
		{78, "b-correlation", "condition lt is not supported"},
		{86, "b-twice", `key "eventName" comes twice (first on line 85)`},
	}
	got := rep.Problems
	slices.SortStableFunc(got, func(a, b Problem) int { return a.Line - b.Line })
	for i, w := range want {
		if i >= len(got) {
			t.Errorf("no problem at line %d (%s: %s)", w.line, w.rule, w.reason)
			continue
		}
		p := got[i]
		if p.File != "testdata/broken/errors.yml" || p.Line != w.line || p.RuleID != w.rule || !strings.Contains(p.Reason, w.reason) {
			t.Errorf("problem %d: %s:%d: %s: %s\nwant line %d, rule %s, reason with %q", i, p.File, p.Line, p.RuleID, p.Reason, w.line, w.rule, w.reason)
		}
	}
	for _, p := range got[min(len(want), len(got)):] {
		t.Errorf("unexpected problem %s:%d: %s: %s", p.File, p.Line, p.RuleID, p.Reason)
	}
	if len(rep.Loaded) != 0 || !rep.Failed() {
		t.Errorf("loaded %v, failed %v: want nothing loaded, failed", rep.Loaded, rep.Failed())
	}
}

func TestReportWrite(t *testing.T) {
	_, rep := loadText("r.yml", `title: One
id: r-1
logsource: {product: aws, service: cloudtrail}
detection:
    selection:
        eventName|nope: X
    condition: selection
---
title: Two
id: r-2
logsource: {product: aws, service: cloudtrail}
detection:
    selection:
        eventName: X
    condition: selection
---
title: Three
logsource: {product: gcp, service: audit}
detection:
    selection:
        x: y
    condition: selection
`, Options{})
	var b bytes.Buffer
	if err := rep.Write(&b); err != nil {
		t.Fatal(err)
	}
	want := `r.yml:6: r-1 (One): unknown modifier "nope"
1 files: 1 rules loaded (0 more as parts of correlations), 1 failed (1 problems), 1 ignored (not AWS CloudTrail), 0 skipped (status)
`
	if b.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", b.String(), want)
	}
	if !rep.Failed() {
		t.Error("not failed")
	}
	_, rep = loadText("ok.yml", "title: Two\nid: r-2\nlogsource: {product: aws, service: cloudtrail}\ndetection: {s: {eventName: X}, condition: s}\n", Options{})
	if rep.Failed() || len(rep.Loaded) != 1 {
		t.Errorf("a good file: failed %v, loaded %v", rep.Failed(), rep.Loaded)
	}
}

func TestLoadPaths(t *testing.T) {
	if _, _, err := Load([]string{"testdata/no-such-folder"}, Options{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing folder: error %v, want one of fs.ErrNotExist", err)
	}
	// A single file is read whatever its name; a folder given twice is read once.
	dir := t.TempDir()
	f := filepath.Join(dir, "rule.sigma")
	if err := os.WriteFile(f, []byte("title: T\nid: p-1\nlogsource: {product: aws, service: cloudtrail}\ndetection: {s: {eventName: X}, condition: s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, rep, err := Load([]string{f, dir, "testdata/load/sub", "testdata/load/sub/"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rep.Files != 2 {
		t.Errorf("%d rules from %d files, want 2 from 2 (%v)", len(rs), rep.Files, rep.Loaded)
	}
	var _ rules.Rule = rs[0]
}
