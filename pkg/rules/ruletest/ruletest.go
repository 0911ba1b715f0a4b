// Package ruletest runs rule test files (`trailstream rules test`): YAML files of cases, each
// a sequence of raw CloudTrail records fed to one rule and the detections it must report.
//
//	base:                      # merged into every record of the file (a case may add its own)
//	  eventVersion: "1.08"
//	  awsRegion: us-east-1
//	  recipientAccountId: "123456789012"
//	cases:
//	  - name: ten failed sign-ins in ten minutes
//	    rule: console-login-brute-force
//	    config: {rules: {console-login-brute-force: {params: {count: 10}}}}  # a rules config
//	    admins: [alice]        # the admin-users list the events are normalized with
//	    records:
//	      - eventID: f
//	        eventTime: "2026-11-20T10:00:00Z"
//	        eventName: ConsoleLogin
//	        _repeat: 10        # ten copies: eventID f-0 .. f-9,
//	        _step: 30s         # eventTime 30 s apart,
//	        _each: {sourceIPAddress: [198.51.100.1, 198.51.100.2]}  # values taken in turn
//	    arrival: [9, 0, 1]     # optional: the order records arrive in (indexes after _repeat)
//	    expect:                # the rule's detections, in the order reported; [] for none
//	      - severity: medium
//	        resource: alice
//	        events: [f-0, f-1, f-2, f-3, f-4, f-5, f-6, f-7, f-8, f-9]
//
// Keys starting with _ are the runner's, not the record's. A record's eventTime, eventID
// and the like are ordinary fields; dotted keys in _each reach into nested objects.
package ruletest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/trailstream/trailstream/pkg/geo"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
	"github.com/trailstream/trailstream/pkg/rules"
)

// File is one rule test file.
type File struct {
	Base  map[string]any `yaml:"base"`
	Cases []Case         `yaml:"cases"`
}

// Case is one test case.
type Case struct {
	Name    string           `yaml:"name"`
	Rule    string           `yaml:"rule"`
	Config  *rules.Config    `yaml:"config"`
	Admins  []string         `yaml:"admins"`
	Base    map[string]any   `yaml:"base"`
	Records []map[string]any `yaml:"records"`
	Arrival []int            `yaml:"arrival"`
	Expect  []Expected       `yaml:"expect"`

	file string
	line int
}

// Expected is one detection a case expects. Empty fields are not compared.
type Expected struct {
	Severity string   `yaml:"severity"`
	Resource string   `yaml:"resource"`
	Title    string   `yaml:"title"`
	Events   []string `yaml:"events"`
}

// Result is the outcome of one case.
type Result struct {
	File, Rule, Name string
	Line             int
	Err              error // the case could not run, or failed: what differs
	Fires            bool  // it expects a detection
}

// Passed reports whether the case passed.
func (r Result) Passed() bool { return r.Err == nil }

// Factory makes the rules a case runs, from its rules config.
type Factory func(c *rules.Config) ([]rules.Rule, error)

// Options narrow a run.
type Options struct {
	Rule string // only the cases of this rule
}

// Load reads the cases of every .yml or .yaml file at the paths of fsys (files, or folders
// walked for them).
func Load(fsys fs.FS, paths ...string) ([]Case, error) {
	return load(paths, func(root string, fn fs.WalkDirFunc) error { return fs.WalkDir(fsys, root, fn) },
		func(name string) ([]byte, error) { return fs.ReadFile(fsys, name) })
}

// LoadFiles reads the cases of the files at paths of the operating system's file system
// (files, or folders walked for their .yml and .yaml files), named as given.
func LoadFiles(paths ...string) ([]Case, error) {
	return load(paths, filepath.WalkDir, os.ReadFile)
}

func load(paths []string, walk func(string, fs.WalkDirFunc) error, read func(string) ([]byte, error)) ([]Case, error) {
	var cases []Case
	for _, p := range paths {
		err := walk(p, func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !(strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".yaml")) {
				return nil
			}
			b, err := read(name)
			if err != nil {
				return err
			}
			cs, err := parse(name, b)
			if err != nil {
				return err
			}
			cases = append(cases, cs...)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return cases, nil
}

func parse(name string, b []byte) ([]Case, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	lines := caseLines(&doc)
	for i := range f.Cases {
		c := &f.Cases[i]
		c.file = name
		if i < len(lines) {
			c.line = lines[i]
		}
		c.Base = merge(f.Base, c.Base)
		if c.Rule == "" {
			return nil, fmt.Errorf("%s:%d: case %q names no rule", name, c.line, c.Name)
		}
		if len(c.Records) == 0 {
			return nil, fmt.Errorf("%s:%d: case %q has no records", name, c.line, c.Name)
		}
	}
	return f.Cases, nil
}

// caseLines returns the line of each case.
func caseLines(doc *yaml.Node) []int {
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	var out []int
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "cases" {
			for _, c := range root.Content[i+1].Content {
				out = append(out, c.Line)
			}
		}
	}
	return out
}

// Run runs cases with the rules newRules makes and returns one result per case.
func Run(cases []Case, newRules Factory, o Options) []Result {
	loc, err := geo.New("")
	var out []Result
	for _, c := range cases {
		if o.Rule != "" && c.Rule != o.Rule {
			continue
		}
		res := Result{File: c.file, Rule: c.Rule, Name: c.Name, Line: c.line, Fires: len(c.Expect) > 0}
		if err != nil {
			res.Err = err
		} else {
			res.Err = run(c, newRules, loc)
		}
		out = append(out, res)
	}
	return out
}

func run(c Case, newRules Factory, loc *geo.Locator) error {
	cfg := c.Config
	if cfg == nil {
		cfg = &rules.Config{}
	}
	all, err := newRules(cfg)
	if err != nil {
		return err
	}
	var picked []rules.Rule
	for _, r := range all {
		if r.Info().ID == c.Rule {
			picked = append(picked, r)
		}
	}
	if len(picked) == 0 {
		return fmt.Errorf("no rule %q is enabled", c.Rule)
	}
	records, err := expand(c)
	if err != nil {
		return err
	}
	order := c.Arrival
	if order == nil {
		order = make([]int, len(records))
		for i := range order {
			order[i] = i
		}
	}
	n := &normalize.Normalizer{Environment: "test", Geo: loc, Admins: adminList(c.Admins)}
	engine := rules.NewEngine(picked)
	var got []model.Detection
	for pos, i := range order {
		if i < 0 || i >= len(records) {
			return fmt.Errorf("arrival names record %d; there are %d", i, len(records))
		}
		e, err := n.Normalize(records[i])
		if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		got = append(got, engine.Observe(e, rules.Position{Offset: int64(pos)})...)
	}
	return compare(c.Expect, got)
}

type adminList []string

func (a adminList) IsAdmin(user string) bool { return slices.Contains(a, user) }

// expand returns the case's records as JSON, with the base merged in and _repeat done.
func expand(c Case) ([][]byte, error) {
	var out [][]byte
	for i, r := range c.Records {
		rec := merge(c.Base, r)
		n, step := 1, time.Duration(0)
		each := map[string][]any{}
		if v, ok := rec["_repeat"]; ok {
			k, ok := v.(int)
			if !ok || k < 1 {
				return nil, fmt.Errorf("record %d: _repeat %v: want a whole number of at least 1", i, v)
			}
			n = k
		}
		if v, ok := rec["_step"]; ok {
			d, err := time.ParseDuration(fmt.Sprint(v))
			if err != nil {
				return nil, fmt.Errorf("record %d: _step %v: %w", i, v, err)
			}
			step = d
		}
		if v, ok := rec["_each"]; ok {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("record %d: _each: want a map of field paths to lists", i)
			}
			for p, l := range m {
				list, ok := l.([]any)
				if !ok || len(list) == 0 {
					return nil, fmt.Errorf("record %d: _each %s: want a list of values", i, p)
				}
				each[p] = list
			}
		}
		for _, k := range []string{"_repeat", "_step", "_each"} {
			delete(rec, k)
		}
		for j := 0; j < n; j++ {
			copy := deepCopy(rec).(map[string]any)
			if n > 1 {
				if id, ok := copy["eventID"].(string); ok {
					copy["eventID"] = fmt.Sprintf("%s-%d", id, j)
				}
			}
			if step != 0 {
				t, err := time.Parse(time.RFC3339, fmt.Sprint(copy["eventTime"]))
				if err != nil {
					return nil, fmt.Errorf("record %d: _step needs an RFC 3339 eventTime: %w", i, err)
				}
				copy["eventTime"] = t.Add(time.Duration(j) * step).UTC().Format(time.RFC3339)
			}
			for _, p := range slices.Sorted(maps.Keys(each)) {
				set(copy, p, each[p][j%len(each[p])])
			}
			b, err := json.Marshal(copy)
			if err != nil {
				return nil, fmt.Errorf("record %d: %w", i, err)
			}
			out = append(out, b)
		}
	}
	return out, nil
}

// merge returns base with over laid on it, nested objects merged.
func merge(base, over map[string]any) map[string]any {
	out := deepCopy(base).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = merge(bm, om)
				continue
			}
		}
		out[k] = deepCopy(v)
	}
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return map[string]any(nil)
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	case nil:
		return map[string]any(nil)
	}
	return v
}

// set sets the dotted path p of m to v, making the objects on the way.
func set(m map[string]any, p string, v any) {
	parts := strings.Split(p, ".")
	for _, k := range parts[:len(parts)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

// compare reports how got differs from want.
func compare(want []Expected, got []model.Detection) error {
	var diffs []string
	for i := 0; i < max(len(want), len(got)); i++ {
		switch {
		case i >= len(got):
			diffs = append(diffs, fmt.Sprintf("detection %d: expected %s, got none", i+1, describeWant(want[i])))
		case i >= len(want):
			diffs = append(diffs, fmt.Sprintf("detection %d: expected none, got %s", i+1, describeGot(got[i])))
		default:
			w, g := want[i], got[i]
			if (w.Severity != "" && w.Severity != g.Severity) || (w.Resource != "" && w.Resource != g.ResourceName) ||
				(w.Title != "" && w.Title != g.Title) || (w.Events != nil && !slices.Equal(w.Events, g.EventIDs)) {
				diffs = append(diffs, fmt.Sprintf("detection %d: expected %s, got %s", i+1, describeWant(w), describeGot(g)))
			}
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%s", strings.Join(diffs, "\n"))
	}
	return nil
}

func describeWant(w Expected) string {
	var parts []string
	if w.Severity != "" {
		parts = append(parts, "severity "+w.Severity)
	}
	if w.Resource != "" {
		parts = append(parts, "resource "+w.Resource)
	}
	if w.Title != "" {
		parts = append(parts, fmt.Sprintf("title %q", w.Title))
	}
	if w.Events != nil {
		parts = append(parts, "events "+strings.Join(w.Events, ","))
	}
	if len(parts) == 0 {
		return "a detection"
	}
	return strings.Join(parts, ", ")
}

func describeGot(d model.Detection) string {
	return fmt.Sprintf("severity %s, resource %s, title %q, events %s", d.Severity, d.ResourceName, d.Title, strings.Join(d.EventIDs, ","))
}

// Report writes one PASS or FAIL line per result (failures with what differs, indented)
// and a last line "N passed, N failed"; failuresOnly leaves out the PASS lines. It returns
// the number of failures.
func Report(w io.Writer, results []Result, failuresOnly bool) int {
	failed := 0
	for _, r := range results {
		where := fmt.Sprintf("%s:%d", path.Clean(r.File), r.Line)
		if r.Passed() {
			if !failuresOnly {
				fmt.Fprintf(w, "PASS %s %s: %s\n", r.Rule, r.Name, where)
			}
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL %s %s: %s\n", r.Rule, r.Name, where)
		for _, l := range strings.Split(r.Err.Error(), "\n") {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", len(results)-failed, failed)
	return failed
}
