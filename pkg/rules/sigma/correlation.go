package sigma

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/rules"
)

// correlation is a parsed correlation section.
type correlation struct {
	typ      string
	refs     []string
	refNodes []*yaml.Node
	groupBy  []string
	timespan time.Duration
	span     string
	count    int      // the threshold: at least count events, values or rules
	fields   []string // value_count: the fields whose distinct values are counted
	aliases  map[string]map[string]string
}

var timespanRE = regexp.MustCompile(`^(\d+)([smhdw])$`)

// parseCorrelation reads the correlation section of d.
func parseCorrelation(d *document) (*correlation, []issue) {
	n := d.correlation
	if n.Kind != yaml.MappingNode {
		return nil, []issue{issuef(n, "correlation is a map (type, rules, group-by, timespan, condition)")}
	}
	c := &correlation{}
	issues := duplicates(n)
	bad := func(n *yaml.Node, format string, args ...any) { issues = append(issues, issuef(n, format, args...)) }
	var condNode, typeNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		switch k.Value {
		case "type":
			c.typ, typeNode = v.Value, k
		case "rules":
			c.refs = d.strs(k, v)
			if v.Kind == yaml.SequenceNode {
				c.refNodes = v.Content
			} else {
				c.refNodes = []*yaml.Node{v}
			}
		case "group-by":
			c.groupBy = d.strs(k, v)
		case "timespan":
			m := timespanRE.FindStringSubmatch(v.Value)
			if m == nil {
				bad(v, "timespan %q: write a number and s, m, h, d or w (5m, 1h)", v.Value)
				continue
			}
			num, _ := strconv.Atoi(m[1])
			unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
			c.timespan, c.span = time.Duration(num)*unit, v.Value
			if c.timespan <= 0 {
				bad(v, "timespan %q is no time", v.Value)
			}
		case "condition":
			condNode = v
		case "aliases":
			c.aliases = map[string]map[string]string{}
			if v.Kind != yaml.MappingNode {
				bad(v, "aliases is a map: alias: {rule name: field}")
				continue
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				a, m := v.Content[j].Value, resolve(v.Content[j+1])
				if m.Kind != yaml.MappingNode {
					bad(m, "alias %s is a map of rule names to fields", a)
					continue
				}
				c.aliases[a] = map[string]string{}
				for l := 0; l+1 < len(m.Content); l += 2 {
					c.aliases[a][m.Content[l].Value] = resolve(m.Content[l+1]).Value
				}
			}
		case "generate":
		default:
			bad(k, "correlation attribute %q is not supported", k.Value)
		}
	}
	switch c.typ {
	case "event_count", "value_count", "temporal":
	case "":
		bad(n, "correlation has no type")
	case "temporal_ordered":
		bad(typeNode, "correlation type temporal_ordered is not supported yet (temporal is, in any order)")
	default:
		bad(typeNode, "correlation type %q is not supported (event_count, value_count, temporal)", c.typ)
	}
	if len(c.refs) == 0 {
		bad(n, "correlation names no rules")
	}
	if c.timespan == 0 && !slices.ContainsFunc(issues, func(i issue) bool { return strings.HasPrefix(i.reason, "timespan") }) {
		bad(n, "correlation has no timespan")
	}
	issues = append(issues, c.condition(condNode, n)...)
	return c, issues
}

// condition reads the correlation's condition into count (and fields).
func (c *correlation) condition(n, section *yaml.Node) []issue {
	if n == nil {
		if c.typ == "temporal" {
			c.count = len(c.refs) // every rule
			return nil
		}
		return []issue{issuef(section, "correlation %s has no condition", c.typ)}
	}
	if n.Kind != yaml.MappingNode {
		return []issue{issuef(n, "condition is a map such as {gte: 10}")}
	}
	var issues []issue
	bounds := 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		switch k.Value {
		case "field":
			if c.typ != "value_count" {
				issues = append(issues, issuef(k, "condition field is for value_count"))
			}
			switch v.Kind {
			case yaml.ScalarNode:
				c.fields = []string{v.Value}
			case yaml.SequenceNode:
				for _, f := range v.Content {
					c.fields = append(c.fields, resolve(f).Value)
				}
			}
		case "gt", "gte":
			var num int
			if err := v.Decode(&num); err != nil || num < 0 {
				issues = append(issues, issuef(v, "condition %s takes a whole number, not %q", k.Value, v.Value))
				continue
			}
			if k.Value == "gt" {
				num++
			}
			c.count = max(num, 1)
			bounds++
		case "lt", "lte", "eq":
			issues = append(issues, issuef(k, "condition %s is not supported: it needs the end of every window; gt and gte are", k.Value))
			bounds++
		default:
			issues = append(issues, issuef(k, "condition %q is none of gt, gte, lt, lte, eq, field", k.Value))
		}
	}
	if bounds == 0 {
		issues = append(issues, issuef(n, "condition has no gt or gte"))
	} else if bounds > 1 && len(issues) == 0 {
		issues = append(issues, issuef(n, "condition has more than one bound"))
	}
	if c.typ == "value_count" && len(c.fields) == 0 {
		issues = append(issues, issuef(n, "value_count needs the field whose values it counts (condition: {field: ..., gte: ...})"))
	}
	if c.typ == "temporal" && c.count > len(c.refs) {
		issues = append(issues, issuef(n, "temporal: %d rules cannot reach %d", len(c.refs), c.count))
	}
	return issues
}

// source is one rule a correlation refers to: a Sigma rule, or a correlation whose
// detections are the events of this one.
type source struct {
	ref   string // as the correlation names it
	name  string // the rule's name, for aliases
	det   *detection
	inner *corrRule
}

// corrRule is a correlation rule: a rules.Threshold over the events of its rules.
type corrRule struct {
	*rules.Threshold
	title   string
	c       *correlation
	sources []source
	cur     int // the source the event being observed is of; -1 none
	ev      event
}

func newCorrRule(meta rules.Meta, title string, c *correlation, sources []source, o *Options) *corrRule {
	r := &corrRule{title: title, c: c, sources: sources, cur: -1}
	r.Threshold = &rules.Threshold{
		Meta:     meta,
		Select:   func(*rules.Input) bool { return r.cur >= 0 },
		Key:      r.key,
		Count:    c.count,
		Window:   c.timespan,
		Describe: r.describe,
		Lateness: o.Lateness,
		MaxHeld:  o.MaxHeld,
		Now:      o.Now,
	}
	switch c.typ {
	case "temporal":
		r.Distinct = func(*rules.Input) string { return r.sources[r.cur].ref }
	case "value_count":
		r.Distinct = r.values
	}
	var events []string
	for _, s := range sources {
		ev := s.events()
		if ev == nil {
			events = nil
			break
		}
		events = union(events, ev)
	}
	slices.Sort(events)
	r.Events = events
	return r
}

func (s *source) events() []string {
	if s.inner != nil {
		return s.inner.Events
	}
	return s.det.events
}

// Observe implements rules.Rule.
func (r *corrRule) Observe(in *rules.Input) []model.Detection {
	r.ev = event{in: in}
	r.cur = r.match(in)
	out := r.Threshold.Observe(in)
	r.cur = -1
	return out
}

// match returns the source the event is of, -1 for none. Every correlation it is made of
// sees the event.
func (r *corrRule) match(in *rules.Input) int {
	got := -1
	for i := range r.sources {
		s := &r.sources[i]
		if s.inner != nil {
			if len(s.inner.Observe(in)) > 0 && got < 0 {
				got = i
			}
			continue
		}
		if got < 0 && s.det.cond.eval(&r.ev) {
			got = i
		}
	}
	if got >= 0 && r.c.typ == "value_count" {
		for _, f := range r.c.fields {
			if r.ev.value(r.field(f, got)) == nil {
				return -1 // no value to count
			}
		}
	}
	return got
}

// field returns the field an alias stands for in the events of source i.
func (r *corrRule) field(name string, i int) string {
	if m, ok := r.c.aliases[name]; ok {
		if f, ok := m[r.sources[i].name]; ok {
			return f
		}
		if f, ok := m[r.sources[i].ref]; ok {
			return f
		}
	}
	return name
}

// key groups the event by the group-by fields; an absent field is a value too (empty).
func (r *corrRule) key(in *rules.Input) string {
	var b strings.Builder
	b.WriteByte('g')
	for _, g := range r.c.groupBy {
		b.WriteByte(0x1f)
		b.WriteString(r.ev.str(r.field(g, r.cur)))
	}
	return b.String()
}

// values is what value_count counts: the values of the condition's fields.
func (r *corrRule) values(in *rules.Input) string {
	parts := make([]string, len(r.c.fields))
	for i, f := range r.c.fields {
		parts[i] = r.ev.str(r.field(f, r.cur))
	}
	return strings.Join(parts, "\x1f")
}

func (r *corrRule) describe(t *rules.Tally) rules.Finding {
	group := map[string]any{}
	vals := strings.Split(t.Key, "\x1f")[1:]
	var shown []string
	for i, g := range r.c.groupBy {
		if i < len(vals) {
			group[g] = vals[i]
			shown = append(shown, g+"="+vals[i])
		}
	}
	ctx := map[string]any{
		"correlation": r.c.typ,
		"timespan":    r.c.span,
		"group":       group,
		"events":      len(t.Hits),
	}
	switch r.c.typ {
	case "value_count":
		ctx["field"] = strings.Join(r.c.fields, ",")
		ctx["values"] = strings.Join(t.Distinct, ", ")
		ctx["count"] = len(t.Distinct)
	case "temporal":
		ctx["rules"] = t.Distinct
	}
	title := r.title
	if len(shown) > 0 {
		title += " (" + strings.Join(shown, ", ") + ")"
	}
	return rules.Finding{Title: title, Context: ctx}
}

// Held implements rules.Rule, with the state of the correlations it is made of.
func (r *corrRule) Held() int {
	n := r.Threshold.Held()
	for _, s := range r.sources {
		if s.inner != nil {
			n += s.inner.Held()
		}
	}
	return n
}

// Oldest implements rules.Rule, with the state of the correlations it is made of.
func (r *corrRule) Oldest(partition int) (int64, bool) {
	oldest, held := r.Threshold.Oldest(partition)
	for _, s := range r.sources {
		if s.inner == nil {
			continue
		}
		if off, ok := s.inner.Oldest(partition); ok && (!held || off < oldest) {
			oldest, held = off, true
		}
	}
	return oldest, held
}
