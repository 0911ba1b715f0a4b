package sigma

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/rules"
)

// matcher tests one value of a field against one value of a rule.
type matcher interface {
	// matchString tests a string.
	matchString(s string) bool
	// matchValue tests a scalar of the parsed record: a string, a float64, a bool or nil
	// (JSON null).
	matchValue(v any) bool
}

// globMatcher compares with a Sigma string; numbers and booleans by their string forms.
type globMatcher struct{ g *glob }

func (m globMatcher) matchString(s string) bool { return m.g.match(s) }
func (m globMatcher) matchValue(v any) bool {
	if s, ok := v.(string); ok {
		return m.g.match(s)
	}
	s, ok := str(v)
	return ok && m.g.match(s)
}

// nullMatcher is the value null: the field is absent, or null.
type nullMatcher struct{}

func (nullMatcher) matchString(string) bool { return false }
func (nullMatcher) matchValue(v any) bool   { return v == nil }

// reMatcher is a regular expression, searched anywhere in the value. lit, when set, is a
// string every match contains: a value without it is passed over without running the
// expression.
type reMatcher struct {
	re  *regexp.Regexp
	lit string
}

func (m reMatcher) matchString(s string) bool {
	if m.lit != "" && !strings.Contains(s, m.lit) {
		return false
	}
	return m.re.MatchString(s)
}
func (m reMatcher) matchValue(v any) bool {
	s, ok := str(v)
	return ok && m.matchString(s)
}

// cidrMatcher is a network: the value is an IP address in it.
type cidrMatcher struct{ p netip.Prefix }

func (m cidrMatcher) matchString(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	return m.p.Contains(a.Unmap().WithZone(""))
}
func (m cidrMatcher) matchValue(v any) bool {
	s, ok := v.(string)
	return ok && m.matchString(s)
}

// cmpMatcher compares numbers: the value is a number, or a string that reads as one.
type cmpMatcher struct {
	op string // lt, lte, gt, gte
	n  float64
}

func (m cmpMatcher) matchString(s string) bool {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil && m.cmp(f)
}
func (m cmpMatcher) matchValue(v any) bool {
	switch x := v.(type) {
	case float64:
		return m.cmp(x)
	case string:
		return m.matchString(x)
	}
	return false
}
func (m cmpMatcher) cmp(f float64) bool {
	switch m.op {
	case "lt":
		return f < m.n
	case "lte":
		return f <= m.n
	case "gt":
		return f > m.n
	}
	return f >= m.n
}

// fieldRef compares a field with another field of the same record.
type fieldRef struct {
	field string
	fast  func(*model.Event) string
	mode  string // "" (equal), contains, startswith, endswith
	cased bool
}

func (r *fieldRef) test(a, b string) bool {
	if r.cased {
		switch r.mode {
		case "contains":
			return strings.Contains(a, b)
		case "startswith":
			return strings.HasPrefix(a, b)
		case "endswith":
			return strings.HasSuffix(a, b)
		}
		return a == b
	}
	switch r.mode {
	case "contains":
		return indexFold(a, b) >= 0
	case "startswith":
		_, ok := prefixFold(a, b)
		return ok
	case "endswith":
		return hasSuffixFold(a, b)
	}
	return strings.EqualFold(a, b)
}

// hasSuffixFold reports whether s ends with p under simple case folding: its last
// characters, as many as p has, fold to p's.
func hasSuffixFold(s, p string) bool {
	i := len(s)
	for range utf8.RuneCountInString(p) {
		if i == 0 {
			return false
		}
		_, w := utf8.DecodeLastRuneInString(s[:i])
		i -= w
	}
	return strings.EqualFold(s[i:], p)
}

// cond is one field of a selection (a key of its map) with its values, or a keyword
// search (field ""): true when the field matches one of the values (every one, with all).
type cond struct {
	key      string // as written, with its modifiers
	field    string
	line     int
	fast     func(*model.Event) string
	matchers []matcher
	null     bool // one of the values is null: an absent field matches
	all      bool
	neq      bool // the field has a value and it is none of the values
	exists   int  // 1: the field must exist; -1: it must not
	ref      *fieldRef
	eventIdx []string // equality values of eventName usable by the engine's index
}

// eval reports whether the event meets c.
func (c *cond) eval(ev *event) bool {
	switch {
	case c.ref != nil:
		return c.evalRef(ev)
	case c.field == "":
		return c.keywords(ev.in)
	}
	if cd, ok := ev.quick(c.field, c.fast); ok {
		if c.exists != 0 {
			return (cd.kind != rawAbsent) == (c.exists > 0)
		}
		return c.evalCand(cd)
	}
	rec := ev.in.Record()
	if c.exists != 0 {
		_, seen := find(rec, c.field, nil)
		return seen == (c.exists > 0)
	}
	if c.neq {
		m, seen := find(rec, c.field, c.matchers)
		return seen && !m
	}
	if c.all {
		for i := range c.matchers {
			if m, seen := find(rec, c.field, c.matchers[i:i+1]); !m && !(c.null && !seen) {
				return false
			}
		}
		return true
	}
	m, seen := find(rec, c.field, c.matchers)
	return m || (c.null && !seen)
}

// event is the event a rule is evaluating, with what reading it cost so far.
type event struct {
	in      *rules.Input
	scanned int // bytes of the raw record scanned
	// scans are the last values scanned from the raw record, for a rule that tests a field
	// twice and for its detection, which shows the fields it tested.
	scans [4]scan
	nscan int
}

// scan is a value scanned from the raw record.
type scan struct {
	field string
	cd    cand
}

// quick returns the field's value without parsing the record, when it can: the event's
// own copy, or the value scanned from the raw record while it is not parsed and the scans
// of this rule have not read it twice over (a parse is cheaper then).
func (ev *event) quick(field string, fast func(*model.Event) string) (cand, bool) {
	if fast != nil {
		if s := fast(ev.in.Event); s != "" {
			return cand{kind: rawString, s: s}, true
		}
	}
	for _, sc := range ev.scans[:min(ev.nscan, len(ev.scans))] {
		if sc.field == field {
			return sc.cd, true
		}
	}
	if raw := ev.in.Event.Raw; !ev.in.Parsed() && ev.scanned <= 2*len(raw) {
		cd, n := scanPath(raw, field)
		ev.scanned += n
		if cd.kind != rawUnknown {
			ev.scans[ev.nscan%len(ev.scans)] = scan{field, cd}
			ev.nscan++
			return cd, true
		}
	}
	return cand{}, false
}

// evalCand tests the field's one value (or its absence).
func (c *cond) evalCand(cd cand) bool {
	switch {
	case cd.kind == rawAbsent:
		return c.null && !c.neq
	case c.neq:
		for _, m := range c.matchers {
			if cd.match(m) {
				return false
			}
		}
		return true
	case c.all:
		for _, m := range c.matchers {
			if !cd.match(m) {
				return false
			}
		}
		return true
	}
	for _, m := range c.matchers {
		if cd.match(m) {
			return true
		}
	}
	return false
}

// keywords searches every value of the record.
func (c *cond) keywords(in *rules.Input) bool {
	rec := in.Record()
	if rec == nil {
		return false
	}
	if c.all {
		for i := range c.matchers {
			if !leaf(rec, c.matchers[i:i+1]) {
				return false
			}
		}
		return true
	}
	return leaf(rec, c.matchers)
}

// evalRef compares the field's values with the referenced field's.
func (c *cond) evalRef(ev *event) bool {
	var a, b [4]string
	own, other := ev.values(c.field, c.fast, a[:0]), ev.values(c.ref.field, c.ref.fast, b[:0])
	if len(own) == 0 || len(other) == 0 {
		return false
	}
	for _, a := range own {
		for _, b := range other {
			if c.ref.test(a, b) {
				return !c.neq
			}
		}
	}
	return c.neq
}

// values appends the string forms of the field's values to out.
func (ev *event) values(field string, fast func(*model.Event) string, out []string) []string {
	if cd, ok := ev.quick(field, fast); ok {
		if s, ok := str(cd.value()); ok {
			out = append(out, s)
		}
		return out
	}
	return scalars(ev.in.Record(), field, out)
}
