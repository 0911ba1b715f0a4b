package sigma

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trailstream/trailstream/pkg/rules"
)

// IDPrefix starts the rule_id of every Sigma rule: "sigma:" and the rule's id.
const IDPrefix = rules.SigmaPrefix

// Options say how rules are loaded.
type Options struct {
	// Statuses are the statuses of the rules that load; nil: all but deprecated and
	// unsupported. A rule without a status always loads, and so does a rule a correlation
	// that loads refers to (as its part).
	Statuses []string
	// Placeholders are the values of the placeholders (%name%) of the expand modifier.
	Placeholders map[string][]string
	// Lateness is how far behind its account's clock an event still counts in a
	// correlation (rules.Threshold.Lateness); 0: its default.
	Lateness time.Duration
	// MaxHeld caps the groups a correlation holds (rules.Threshold.MaxHeld); 0: its default.
	MaxHeld int
	// Now gives the detections' detected_at; nil: time.Now.
	Now func() time.Time
}

// DefaultStatuses are the statuses that load when Options.Statuses is nil.
var DefaultStatuses = []string{"stable", "test", "experimental"}

// Problem is a rule that did not load.
type Problem struct {
	File   string
	Line   int
	RuleID string // its id (or name), "" when it has none or the file is not YAML
	Title  string
	Reason string
}

// Report says what Load made of the rule files.
type Report struct {
	Files int // rule files read
	// Loaded are the rule_ids of the rules loaded, each making detections of its own.
	Loaded []string
	// Parts are the rule_ids of the rules loaded only as parts of correlations (those a
	// correlation refers to without generate: true): they make no detections of their own.
	Parts    []string
	Ignored  int // rules for other log sources than AWS CloudTrail
	Skipped  int // rules skipped for their status
	Problems []Problem
}

// Failed reports whether a CloudTrail rule (or a file that is not a rule) failed to load.
func (r *Report) Failed() bool { return len(r.Problems) > 0 }

// Write prints the report: a line per problem (file:line: rule: reason) and a summary.
func (r *Report) Write(w io.Writer) error {
	for _, p := range r.Problems {
		who := p.RuleID
		if who == "" {
			who = "(no id)"
		}
		if p.Title != "" {
			who += " (" + p.Title + ")"
		}
		if _, err := fmt.Fprintf(w, "%s:%d: %s: %s\n", p.File, p.Line, who, p.Reason); err != nil {
			return err
		}
	}
	failed := map[string]bool{}
	for _, p := range r.Problems {
		failed[p.File+"\x00"+p.RuleID+"\x00"+p.Title] = true
	}
	_, err := fmt.Fprintf(w, "%d files: %d rules loaded (%d more as parts of correlations), %d failed (%d problems), %d ignored (not AWS CloudTrail), %d skipped (status)\n",
		r.Files, len(r.Loaded), len(r.Parts), len(failed), len(r.Problems), r.Ignored, r.Skipped)
	return err
}

// Load reads the Sigma rules in paths (directories, walked for .yml and .yaml files, or
// single files) and returns those for AWS CloudTrail (logsource product aws, service
// cloudtrail) as rules, each a fresh instance. A rule that cannot be read, or uses what is
// not supported, is a problem of the report and the others load. The error is for a path
// that cannot be read at all.
func Load(paths []string, o Options) ([]rules.Rule, Report, error) {
	var rep Report
	files, err := ruleFiles(paths)
	if err != nil {
		return nil, rep, err
	}
	l := &loader{o: &o, rep: &rep, byKey: map[string]*entry{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			rep.Problems = append(rep.Problems, Problem{File: f, Reason: err.Error()})
			continue
		}
		rep.Files++
		l.add(f, b)
	}
	return l.build(), rep, nil
}

// ruleFiles lists the files of paths, in order, each once.
func ruleFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		p = filepath.Clean(p)
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("sigma rules: %w", err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ext := strings.ToLower(filepath.Ext(path)); !d.IsDir() && (ext == ".yml" || ext == ".yaml") {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("sigma rules: %w", err)
		}
		slices.Sort(found)
		out = append(out, found...)
	}
	seen := map[string]bool{}
	return slices.DeleteFunc(out, func(f string) bool {
		if seen[f] {
			return true
		}
		seen[f] = true
		return false
	}), nil
}

// state is where a document stands.
type state uint8

const (
	pending state = iota
	resolving
	ok
	ignored
	failed
)

// entry is one document being loaded.
type entry struct {
	d     *document
	id    string // rule_id without the prefix: its id, name, or a name made of its file
	st    state
	det   *detection   // a Sigma rule's
	corr  *correlation // a correlation's
	refs  []*entry     // a correlation's rules
	sev   string
	part  bool // a correlation refers to it
	alone bool // and it makes detections of its own too
}

type loader struct {
	o       *Options
	rep     *Report
	entries []*entry
	byKey   map[string]*entry // by id and by name
}

func (l *loader) add(file string, b []byte) {
	docs, issues := parseFile(file, b)
	for _, is := range issues {
		l.rep.Problems = append(l.rep.Problems, Problem{File: file, Line: is.line, Reason: is.reason})
	}
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	for i, d := range docs {
		e := &entry{d: d, id: d.key()}
		if e.id == "" {
			e.id = base
			if i > 0 {
				e.id += "-" + strconv.Itoa(i+1)
			}
		}
		l.entries = append(l.entries, e)
	}
}

// fail records the issues of e.
func (l *loader) fail(e *entry, issues ...issue) {
	e.st = failed
	for _, is := range issues {
		l.rep.Problems = append(l.rep.Problems, Problem{File: e.d.file, Line: is.line, RuleID: e.d.key(), Title: e.d.title, Reason: is.reason})
	}
}

func (l *loader) build() []rules.Rule {
	// Index by id and name; a second rule of an id fails.
	for _, e := range l.entries {
		for _, k := range []string{e.d.id, e.d.name} {
			if k == "" {
				continue
			}
			if o := l.byKey[k]; o != nil && o != e {
				if k == e.d.id {
					l.fail(e, issuef(e.d.attr("id"), "id %s is already the id or name of the rule at %s:%d", k, o.d.file, o.d.line))
				}
				continue
			}
			l.byKey[k] = e
		}
	}
	for _, e := range l.entries {
		l.resolve(e)
	}
	// Which rules make detections of their own.
	for _, e := range l.entries {
		if e.corr == nil {
			continue
		}
		for _, r := range e.refs {
			r.part = true
			r.alone = r.alone || e.d.generate
		}
	}
	var out []rules.Rule
	for _, e := range l.entries {
		if e.st != ok {
			continue
		}
		id := IDPrefix + e.id
		if e.part && !e.alone {
			l.rep.Parts = append(l.rep.Parts, id)
			continue
		}
		if !l.statusLoads(e.d.status) {
			l.rep.Skipped++
			continue
		}
		r := l.instance(e)
		l.rep.Loaded = append(l.rep.Loaded, id)
		out = append(out, r)
	}
	for _, e := range l.entries {
		if e.st == ignored {
			l.rep.Ignored++
		}
	}
	return out
}

func (l *loader) statusLoads(status string) bool {
	if status == "" {
		return true
	}
	allowed := l.o.Statuses
	if allowed == nil {
		allowed = DefaultStatuses
	}
	return slices.ContainsFunc(allowed, func(s string) bool { return strings.EqualFold(s, status) })
}

// resolve compiles e, and the rules a correlation refers to first.
func (l *loader) resolve(e *entry) state {
	switch e.st {
	case resolving:
		l.fail(e, issuef(e.d.attr("correlation"), "the correlation refers to itself, through the rules it names"))
		return failed
	case pending:
	default:
		return e.st
	}
	e.st = resolving
	d := e.d
	var issues []issue
	issues = append(issues, d.issues...)
	if d.title == "" {
		issues = append(issues, issuef(d.root, "no title"))
	}
	sev, err := d.severity()
	if err != nil {
		issues = append(issues, issuef(d.attr("level"), "%v", err))
	}
	e.sev = sev
	switch {
	case d.correlation != nil:
		c, is := parseCorrelation(d)
		issues = append(issues, is...)
		if c == nil {
			break
		}
		e.corr = c
		states := map[state]int{}
		for i, ref := range c.refs {
			r := l.byKey[ref]
			n := d.correlation
			if i < len(c.refNodes) {
				n = c.refNodes[i]
			}
			if r == nil {
				issues = append(issues, issuef(n, "the correlation refers to rule %q, which is none of the rules loaded (by id or name)", ref))
				continue
			}
			st := l.resolve(r)
			states[st]++
			switch st {
			case failed:
				issues = append(issues, issuef(n, "the correlation refers to rule %q, which did not load", ref))
			case ignored:
				if len(c.refs) > 1 {
					issues = append(issues, issuef(n, "the correlation refers to rule %q, which is not for AWS CloudTrail", ref))
				}
			}
			e.refs = append(e.refs, r)
		}
		if states[ignored] > 0 && states[ignored] == len(c.refs) {
			e.st = ignored // a correlation of other log sources' rules
			return e.st
		}
	case d.detection != nil:
		if !d.cloudTrail() && len(d.issues) == 0 {
			if d.logsource == nil {
				issues = append(issues, issuef(d.root, "no logsource (product: aws, service: cloudtrail)"))
			} else {
				e.st = ignored
				return e.st
			}
		}
		det, is := compileDetection(d, l.o.Placeholders)
		issues = append(issues, is...)
		e.det = det
	default:
		if len(issues) == 0 {
			issues = append(issues, issuef(d.root, "neither a rule (detection) nor a correlation (correlation)"))
		}
	}
	if len(issues) > 0 {
		l.fail(e, issues...)
		return failed
	}
	e.st = ok
	return ok
}

// meta returns the rules.Meta of e.
func (l *loader) meta(e *entry) rules.Meta {
	return rules.Meta{
		ID:          IDPrefix + e.id,
		Severity:    e.sev,
		Description: strings.TrimSpace(e.d.description),
		Tags:        slices.Clone(e.d.tags),
		Source:      e.d.file,
	}
}

// instance makes a fresh rule of e.
func (l *loader) instance(e *entry) rules.Rule {
	if e.det != nil {
		m := l.meta(e)
		m.Events = slices.Clone(e.det.events)
		return newPlainRule(m, e.d.title, e.det, l.o.Now)
	}
	return l.correlation(e)
}

func (l *loader) correlation(e *entry) *corrRule {
	sources := make([]source, len(e.refs))
	for i, r := range e.refs {
		sources[i] = source{ref: e.corr.refs[i], name: r.d.name, det: r.det}
		if r.corr != nil {
			sources[i].inner = l.correlation(r)
		}
	}
	return newCorrRule(l.meta(e), e.d.title, e.corr, sources, l.o)
}
