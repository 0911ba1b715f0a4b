package sigma

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"go.yaml.in/yaml/v3"

	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/rules"
)

// detection is a rule's compiled detection section.
type detection struct {
	sels   []*selection
	cond   expr
	events []string // the event names it requires; nil: any
	fields []string // what a detection shows: the rule's fields, else those it tests
	// sortedFields are fields sorted, each once: the keys of a detection's context.
	sortedFields []string
}

// compileDetection compiles the detection section of d.
func compileDetection(d *document, placeholders map[string][]string) (*detection, []issue) {
	n := d.detection
	if n == nil {
		return nil, []issue{issuef(d.root, "no detection")}
	}
	if n.Kind != yaml.MappingNode {
		return nil, []issue{issuef(n, "detection is a map of selections and a condition")}
	}
	det := &detection{}
	issues := duplicates(n)
	var condNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "condition":
			condNode = resolve(v)
		case "timeframe":
			issues = append(issues, issuef(k, "timeframe (a Sigma v1 aggregation) is not supported; write a correlation rule"))
		default:
			s, is := compileSelection(k.Value, v, placeholders)
			issues = append(issues, is...)
			s.line = k.Line
			det.sels = append(det.sels, s)
		}
	}
	if condNode == nil {
		return nil, append(issues, issuef(d.attr("detection"), "detection has no condition"))
	}
	var conds []*yaml.Node
	switch condNode.Kind {
	case yaml.ScalarNode:
		conds = []*yaml.Node{condNode}
	case yaml.SequenceNode:
		conds = condNode.Content
	}
	if len(conds) == 0 {
		return nil, append(issues, issuef(condNode, "condition is a string or a list of strings"))
	}
	var alts orExpr
	for _, c := range conds {
		c = resolve(c)
		if c.Kind != yaml.ScalarNode {
			issues = append(issues, issuef(c, "condition is a string or a list of strings"))
			continue
		}
		e, err := parseCondition(c.Value, det.sels)
		if err != nil {
			issues = append(issues, issuef(c, "condition: %v", err))
			continue
		}
		alts = append(alts, e)
	}
	if len(issues) > 0 {
		return nil, issues
	}
	det.cond = alts
	if len(alts) == 1 {
		det.cond = alts[0]
	}
	if names, ok := det.cond.events(); ok && len(names) > 0 {
		slices.Sort(names)
		det.events = names
	}
	det.fields = d.fields
	if len(det.fields) == 0 {
		for _, s := range det.sels {
			det.fields = s.fields(det.fields)
		}
	}
	det.sortedFields = slices.Compact(slices.Sorted(slices.Values(det.fields)))
	return det, nil
}

// plainRule is a Sigma rule that reports every event it matches.
type plainRule struct {
	rules.Match
	title  string
	det    *detection
	recent recent
	ev     event
}

func newPlainRule(meta rules.Meta, title string, det *detection, now func() time.Time) *plainRule {
	r := &plainRule{title: title, det: det}
	r.Match = rules.Match{Meta: meta, When: r.when, Now: now}
	return r
}

// Observe implements rules.Rule. An event delivered again soon after gives no second
// detection (and a later one the same detection ID, rules.DetectionID).
func (r *plainRule) Observe(in *rules.Input) []model.Detection {
	out := r.Match.Observe(in)
	if len(out) > 0 && r.recent.seen(in.Event.EventID) {
		return nil
	}
	return out
}

// Held implements rules.Rule: the event IDs remembered for redeliveries.
func (r *plainRule) Held() int { return len(r.recent.ids) }

func (r *plainRule) when(in *rules.Input) (rules.Finding, bool) {
	r.ev = event{in: in}
	if !r.det.cond.eval(&r.ev) {
		return rules.Finding{}, false
	}
	return describe(&r.ev, r.title, r.det), true
}

// describe makes the finding of an event det matched: the selections that matched it and
// the values of the rule's fields.
func describe(ev *event, title string, det *detection) rules.Finding {
	e := ev.in.Event
	// The context, {"fields": {...}, "selections": [...]}, rendered here: a rule may match
	// a third of the events, and a map through encoding/json costs more than the match.
	b := append(make([]byte, 0, 256), `{"fields":{`...)
	for i, name := range det.sortedFields {
		if i > 0 {
			b = append(b, ',')
		}
		b, _ = jsontext.AppendQuote(b, name)
		b = append(b, ':')
		b = appendValue(b, ev.value(name))
	}
	b = append(b, `},"selections":`...)
	n := 0
	for _, s := range det.sels {
		if s.eval(ev) {
			if n == 0 {
				b = append(b, '[')
			} else {
				b = append(b, ',')
			}
			b, _ = jsontext.AppendQuote(b, s.name)
			n++
		}
	}
	if n == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, ']')
	}
	b = append(b, '}')
	f := rules.Finding{Title: title, ResourceType: e.ResourceType, ContextJSON: string(b)}
	if len(e.ResourceNames) > 0 {
		f.ResourceName = e.ResourceNames[0]
	}
	if a := actor(e); a != "" {
		f.Title += " by " + a
	}
	return f
}

// appendValue appends v, a value of a parsed record, as JSON.
func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		b, _ = jsontext.AppendQuote(b, v)
		return b
	case bool:
		return strconv.AppendBool(b, v)
	}
	j, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, j...)
}

// value returns the value of a field of the record, as parsed JSON.
func (ev *event) value(field string) any {
	if cd, ok := ev.quick(field, fastFields[field]); ok {
		return cd.value()
	}
	return first(ev.in.Record(), field)
}

// str returns the value of a field of the record as a string: scalars in their string
// forms, arrays and objects as JSON, "" when there is none.
func (ev *event) str(field string) string {
	v := ev.value(field)
	if s, ok := str(v); ok {
		return s
	}
	if v == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// actor names who acted in e.
func actor(e *model.Event) string {
	for _, s := range []string{e.UserName, e.RoleName, e.InvokedBy, e.PrincipalID} {
		if s != "" {
			return s
		}
	}
	return ""
}

// recent remembers the last event IDs a rule reported.
type recent struct {
	ids  map[string]struct{}
	ring []string
	next int
}

const recentMax = 4096

// seen reports whether id is among the remembered, and remembers it.
func (r *recent) seen(id string) bool {
	if _, ok := r.ids[id]; ok {
		return true
	}
	if r.ids == nil {
		r.ids = make(map[string]struct{})
	}
	if len(r.ring) < recentMax {
		r.ring = append(r.ring, id)
	} else {
		delete(r.ids, r.ring[r.next])
		r.ring[r.next] = id
		r.next = (r.next + 1) % recentMax
	}
	r.ids[id] = struct{}{}
	return false
}
