package sigma

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// selection is one search identifier of a detection: alternatives (a list of maps) each
// made of conditions that must all hold (a map).
type selection struct {
	name string
	line int
	alts [][]*cond
}

func (s *selection) eval(ev *event) bool {
	for _, alt := range s.alts {
		ok := true
		for _, c := range alt {
			if !c.eval(ev) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// events returns the event names the selection requires, ok false when it requires none.
func (s *selection) events() ([]string, bool) {
	var out []string
	for _, alt := range s.alts {
		var names []string
		found := false
		for _, c := range alt {
			if c.eventIdx == nil {
				continue
			}
			if !found {
				names, found = slices.Clone(c.eventIdx), true
			} else {
				names = intersect(names, c.eventIdx)
			}
		}
		if !found {
			return nil, false
		}
		out = union(out, names)
	}
	return out, true
}

// cheap reports whether every condition of s reads fields the normalized event carries.
func (s *selection) cheap() bool {
	for _, alt := range s.alts {
		for _, c := range alt {
			if c.fast == nil || c.ref != nil {
				return false
			}
		}
	}
	return true
}

// fields appends the fields s tests to out, once each.
func (s *selection) fields(out []string) []string {
	add := func(f string) {
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	for _, alt := range s.alts {
		for _, c := range alt {
			add(c.field)
			if c.ref != nil {
				add(c.ref.field)
			}
		}
	}
	return out
}

// compileSelection compiles the search identifier name.
func compileSelection(name string, n *yaml.Node, placeholders map[string][]string) (*selection, []issue) {
	n = resolve(n)
	s := &selection{name: name, line: n.Line}
	var issues []issue
	mapping := func(m *yaml.Node) {
		if len(m.Content) == 0 {
			issues = append(issues, issuef(m, "selection %s: an empty map matches everything; write the fields it tests", name))
			return
		}
		issues = append(issues, duplicates(m)...)
		var alt []*cond
		for i := 0; i+1 < len(m.Content); i += 2 {
			k := m.Content[i]
			c, is := compileCond(k.Value, k, m.Content[i+1], placeholders)
			issues = append(issues, is...)
			if c != nil {
				alt = append(alt, c)
			}
		}
		// Conditions on the event's own fields first: they decide most events without
		// the raw record.
		slices.SortStableFunc(alt, func(a, b *cond) int { return boolCmp(a.fast == nil, b.fast == nil) })
		s.alts = append(s.alts, alt)
	}
	switch n.Kind {
	case yaml.MappingNode:
		mapping(n)
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			issues = append(issues, issuef(n, "selection %s is an empty list", name))
		}
		keywords := &yaml.Node{Kind: yaml.SequenceNode, Line: n.Line, Column: n.Column}
		for _, it := range n.Content {
			it = resolve(it)
			switch it.Kind {
			case yaml.MappingNode:
				mapping(it)
			case yaml.ScalarNode:
				keywords.Content = append(keywords.Content, it)
			default:
				issues = append(issues, issuef(it, "selection %s: a list holds maps or keywords, not lists", name))
			}
		}
		if len(keywords.Content) > 0 {
			c, is := compileCond("", keywords.Content[0], keywords, placeholders)
			issues = append(issues, is...)
			if c != nil {
				s.alts = append(s.alts, []*cond{c})
			}
		}
	case yaml.ScalarNode:
		c, is := compileCond("", n, n, placeholders)
		issues = append(issues, is...)
		if c != nil {
			s.alts = append(s.alts, []*cond{c})
		}
	default:
		issues = append(issues, issuef(n, "selection %s is neither a map nor a list", name))
	}
	return s, issues
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// expr is a compiled condition.
type expr interface {
	eval(ev *event) bool
	// events returns the event names the expression requires to be true; ok false when
	// it requires none.
	events() ([]string, bool)
	cheap() bool
}

type selExpr struct{ s *selection }

func (e selExpr) eval(ev *event) bool      { return e.s.eval(ev) }
func (e selExpr) events() ([]string, bool) { return e.s.events() }
func (e selExpr) cheap() bool              { return e.s.cheap() }

type andExpr []expr

func (e andExpr) eval(ev *event) bool {
	for _, x := range e {
		if !x.eval(ev) {
			return false
		}
	}
	return true
}
func (e andExpr) events() ([]string, bool) {
	var out []string
	found := false
	for _, x := range e {
		names, ok := x.events()
		if !ok {
			continue
		}
		if !found {
			out, found = names, true
		} else {
			out = intersect(out, names)
		}
	}
	return out, found
}
func (e andExpr) cheap() bool {
	return !slices.ContainsFunc(e, func(x expr) bool { return !x.cheap() })
}

type orExpr []expr

func (e orExpr) eval(ev *event) bool {
	for _, x := range e {
		if x.eval(ev) {
			return true
		}
	}
	return false
}
func (e orExpr) events() ([]string, bool) {
	var out []string
	for _, x := range e {
		names, ok := x.events()
		if !ok {
			return nil, false
		}
		out = union(out, names)
	}
	return out, true
}
func (e orExpr) cheap() bool { return !slices.ContainsFunc(e, func(x expr) bool { return !x.cheap() }) }

type notExpr struct{ x expr }

func (e notExpr) eval(ev *event) bool      { return !e.x.eval(ev) }
func (e notExpr) events() ([]string, bool) { return nil, false }
func (e notExpr) cheap() bool              { return e.x.cheap() }

// ofExpr is "N of pattern": at least n of the selections hold (all of them when n is 0).
type ofExpr struct {
	n    int
	sels []*selection
}

func (e ofExpr) eval(ev *event) bool {
	need := e.n
	if need == 0 {
		need = len(e.sels)
	}
	for i, s := range e.sels {
		if s.eval(ev) {
			if need--; need == 0 {
				return true
			}
		} else if e.n == 0 || len(e.sels)-i-1 < need {
			return false
		}
	}
	return need <= 0
}
func (e ofExpr) parts() []expr {
	out := make([]expr, len(e.sels))
	for i, s := range e.sels {
		out[i] = selExpr{s}
	}
	return out
}
func (e ofExpr) events() ([]string, bool) {
	if e.n == 0 {
		return andExpr(e.parts()).events()
	}
	return orExpr(e.parts()).events()
}
func (e ofExpr) cheap() bool { return andExpr(e.parts()).cheap() }

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// parseCondition parses one condition over the selections.
func parseCondition(text string, sels []*selection) (expr, error) {
	if strings.Contains(text, "|") {
		return nil, errorf("%q: an aggregation (| count() ...) is Sigma v1; write a correlation rule", text)
	}
	p := &condParser{toks: lexCondition(text), sels: sels}
	if len(p.toks) == 0 {
		return nil, errorf("the condition is empty")
	}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, errorf("unexpected %q after a complete condition", p.toks[p.pos])
	}
	return order(e), nil
}

// order puts the cheap parts of ands and ors first (a condition has no side effects).
func order(e expr) expr {
	switch x := e.(type) {
	case andExpr:
		for i := range x {
			x[i] = order(x[i])
		}
		slices.SortStableFunc(x, func(a, b expr) int { return boolCmp(!a.cheap(), !b.cheap()) })
	case orExpr:
		for i := range x {
			x[i] = order(x[i])
		}
		slices.SortStableFunc(x, func(a, b expr) int { return boolCmp(!a.cheap(), !b.cheap()) })
	case notExpr:
		return notExpr{order(x.x)}
	}
	return e
}

func lexCondition(s string) []string {
	var out []string
	cur := strings.Builder{}
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch {
		case r == '(' || r == ')':
			flush()
			out = append(out, string(r))
		case unicode.IsSpace(r):
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return out
}

type condParser struct {
	toks []string
	pos  int
	sels []*selection
}

func (p *condParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *condParser) keyword(k string) bool {
	if strings.EqualFold(p.peek(), k) {
		p.pos++
		return true
	}
	return false
}

func (p *condParser) or() (expr, error) {
	var xs orExpr
	for {
		x, err := p.and()
		if err != nil {
			return nil, err
		}
		xs = append(xs, x)
		if !p.keyword("or") {
			break
		}
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	return xs, nil
}

func (p *condParser) and() (expr, error) {
	var xs andExpr
	for {
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		xs = append(xs, x)
		if !p.keyword("and") {
			break
		}
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	return xs, nil
}

func (p *condParser) not() (expr, error) {
	if p.keyword("not") {
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return notExpr{x}, nil
	}
	return p.primary()
}

func (p *condParser) primary() (expr, error) {
	t := p.peek()
	switch {
	case t == "":
		return nil, errorf("the condition ends where a selection was expected")
	case t == "(":
		p.pos++
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, errorf("missing ) in the condition")
		}
		p.pos++
		return x, nil
	case t == ")":
		return nil, errorf("unexpected ) in the condition")
	case p.pos+1 < len(p.toks) && strings.EqualFold(p.toks[p.pos+1], "of"):
		return p.of()
	}
	for _, k := range []string{"and", "or", "not", "of"} {
		if strings.EqualFold(t, k) {
			return nil, errorf("unexpected %q where a selection was expected", t)
		}
	}
	p.pos++
	for _, s := range p.sels {
		if s.name == t {
			return selExpr{s}, nil
		}
	}
	return nil, errorf("the condition names %q, which is no selection of the rule", t)
}

// of parses "1 of X", "all of X", "any of X", "N of X", X a pattern or them.
func (p *condParser) of() (expr, error) {
	q := p.toks[p.pos]
	p.pos += 2
	n := 0
	switch {
	case strings.EqualFold(q, "all"):
	case strings.EqualFold(q, "any"):
		n = 1
	default:
		v, err := strconv.Atoi(q)
		if err != nil || v < 1 {
			return nil, errorf("%q of: want 1, any, all or a number of selections", q)
		}
		n = v
	}
	target := p.peek()
	if target == "" || target == "(" || target == ")" {
		return nil, errorf("%s of what? (a selection pattern or them)", q)
	}
	p.pos++
	var sels []*selection
	if strings.EqualFold(target, "them") {
		for _, s := range p.sels {
			if !strings.HasPrefix(s.name, "_") {
				sels = append(sels, s)
			}
		}
	} else {
		g := compileGlob(target, true)
		for _, s := range p.sels {
			if g.match(s.name) {
				sels = append(sels, s)
			}
		}
	}
	if len(sels) == 0 {
		return nil, errorf("%s of %s: no selection matches %s", q, target, target)
	}
	if n > len(sels) {
		return nil, errorf("%s of %s: only %d selections match", q, target, len(sels))
	}
	return ofExpr{n: n, sels: sels}, nil
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
