package sigma

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"go.yaml.in/yaml/v3"
)

// maxValues bounds the values one field of a selection expands to (windash, expand,
// base64offset): beyond it the rule is refused rather than slow.
const maxValues = 4096

// issue is one thing wrong with a rule: where, and why.
type issue struct {
	line   int
	reason string
}

func issuef(n *yaml.Node, format string, args ...any) issue {
	line := 0
	if n != nil {
		line = n.Line
	}
	return issue{line: line, reason: fmt.Sprintf(format, args...)}
}

// value is one value of a field as the rule writes it.
type value struct {
	s    string // a Sigma string (numbers and booleans in their string forms)
	null bool
	num  bool // written as a number
	f    float64
	bool bool // written as a boolean
	node *yaml.Node
}

// scalarValues returns the values of a field: a scalar or a list of scalars.
func scalarValues(n *yaml.Node) ([]value, []issue) {
	n = resolve(n)
	var items []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		items = []*yaml.Node{n}
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return nil, []issue{issuef(n, "an empty list of values matches nothing")}
		}
		items = n.Content
	default:
		return nil, []issue{issuef(n, "a field takes a value or a list of values, not a map")}
	}
	var out []value
	var issues []issue
	for _, it := range items {
		it = resolve(it)
		if it.Kind != yaml.ScalarNode {
			issues = append(issues, issuef(it, "a list of values holds values only, not lists or maps"))
			continue
		}
		v, err := scalar(it)
		if err != nil {
			issues = append(issues, issuef(it, "%v", err))
			continue
		}
		out = append(out, v)
	}
	return out, issues
}

// scalar reads one YAML scalar as a Sigma value.
func scalar(n *yaml.Node) (value, error) {
	v := value{node: n}
	switch n.ShortTag() {
	case "!!null":
		v.null = true
	case "!!int", "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return v, fmt.Errorf("number %q: %w", n.Value, err)
		}
		v.num, v.f = true, f
		v.s = escapeValue(strconv.FormatFloat(f, 'f', -1, 64))
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return v, fmt.Errorf("boolean %q: %w", n.Value, err)
		}
		v.bool = true
		v.s = strconv.FormatBool(b)
	default:
		v.s = n.Value
	}
	return v, nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// The modifiers, by what they do.
var (
	typeModifiers = []string{"re", "cidr", "exists", "fieldref", "lt", "lte", "gt", "gte"}
	wrapModifiers = []string{"contains", "startswith", "endswith"}
	encModifiers  = []string{"base64", "base64offset", "utf16le", "utf16be", "utf16", "wide", "windash", "expand"}
	reFlags       = []string{"i", "m", "s"}
	timeModifiers = []string{"minute", "hour", "day", "week", "month", "year"}
)

// windashes are the characters the windash modifier puts for one another.
var windashes = []string{"-", "/", "\u2013", "\u2014", "\u2015"}

// compileCond compiles one key of a selection map (field|modifiers) with its value.
func compileCond(key string, keyNode, val *yaml.Node, placeholders map[string][]string) (*cond, []issue) {
	parts := strings.Split(key, "|")
	c := &cond{key: key, field: parts[0], line: keyNode.Line, fast: fastFields[parts[0]]}
	mods := parts[1:]
	var issues []issue
	bad := func(format string, args ...any) { issues = append(issues, issuef(keyNode, format, args...)) }

	// The type modifier, the flags, and the transformations in their order.
	typ := ""
	cased := false
	var flags, steps []string
	for _, m := range mods {
		switch {
		case m == "all":
			c.all = true
		case m == "cased":
			cased = true
		case m == "neq":
			c.neq = true
		case slices.Contains(typeModifiers, m):
			if typ != "" {
				bad("modifiers %s and %s do not go together", typ, m)
			}
			typ = m
		case slices.Contains(reFlags, m):
			flags = append(flags, m)
		case slices.Contains(wrapModifiers, m), slices.Contains(encModifiers, m):
			steps = append(steps, m)
		case slices.Contains(timeModifiers, m):
			bad("modifier %s (a part of a date) is not supported", m)
		case m == "":
			bad("empty modifier (two | in a row)")
		default:
			bad("unknown modifier %q", m)
		}
	}
	if len(flags) > 0 && typ != "re" {
		bad("modifier %s applies to re only", flags[0])
	}
	values, vi := scalarValues(val)
	issues = append(issues, vi...)
	if len(issues) > 0 {
		return nil, issues
	}
	if c.field == "" && (typ == "exists" || typ == "fieldref") {
		return nil, []issue{issuef(keyNode, "a keyword search (no field name) cannot use %s", typ)}
	}

	switch typ {
	case "fieldref":
		c.ref = &fieldRef{cased: cased}
		for _, s := range steps {
			if !slices.Contains(wrapModifiers, s) {
				bad("modifier %s does not go with fieldref", s)
			} else if c.ref.mode != "" && c.ref.mode != s {
				bad("modifiers %s and %s do not go together", c.ref.mode, s)
			} else {
				c.ref.mode = s
			}
		}
		if len(values) != 1 || values[0].null {
			bad("fieldref takes one field name")
		}
		if len(issues) > 0 {
			return nil, issues
		}
		c.ref.field = values[0].node.Value
		c.ref.fast = fastFields[c.ref.field]
		return c, nil
	case "exists":
		if len(steps) > 0 || c.neq || c.all {
			bad("exists takes no other modifier")
		}
		if len(values) != 1 || !values[0].bool {
			bad("exists takes true or false")
		}
		if len(issues) > 0 {
			return nil, issues
		}
		c.exists = -1
		if values[0].s == "true" {
			c.exists = 1
		}
		return c, nil
	case "re", "cidr", "lt", "lte", "gt", "gte":
		if len(steps) > 0 {
			bad("modifier %s takes the value as written: it does not go with %s", typ, steps[0])
			return nil, issues
		}
	}

	for _, v := range values {
		if v.null && (typ != "" || len(steps) > 0) {
			return nil, []issue{issuef(v.node, "null takes no modifier")}
		}
	}
	if typ == "" && c.field == "" && !slices.ContainsFunc(steps, func(s string) bool { return slices.Contains(wrapModifiers, s) }) {
		steps = append(steps, "contains") // a keyword is found anywhere in a value
	}
	strs, nodes, nulls := make([]string, 0, len(values)), make([]*yaml.Node, 0, len(values)), 0
	for _, v := range values {
		if v.null {
			nulls++
			continue
		}
		strs, nodes = append(strs, v.s), append(nodes, v.node)
	}
	for _, step := range steps {
		var err error
		if strs, err = transform(step, strs, placeholders); err != nil {
			return nil, []issue{issuef(val, "%s: %v", step, err)}
		}
		if len(strs) > maxValues {
			return nil, []issue{issuef(val, "%s: more than %d values", step, maxValues)}
		}
	}
	if nulls > 0 {
		c.null = true
		c.matchers = append(c.matchers, nullMatcher{})
	}
	for i, s := range strs {
		n := val
		if len(steps) == 0 {
			n = nodes[i]
		}
		m, err := makeMatcher(typ, s, cased, flags)
		if err != nil {
			issues = append(issues, issuef(n, "%v", err))
			continue
		}
		c.matchers = append(c.matchers, m)
	}
	if len(issues) > 0 {
		return nil, issues
	}
	if c.field == "eventName" && typ == "" && len(steps) == 0 && !c.neq && nulls == 0 && (!c.all || len(strs) == 1) {
		c.eventIdx = indexValues(strs, cased)
	}
	return c, nil
}

// makeMatcher compiles one value for the type modifier typ ("" for a Sigma string).
func makeMatcher(typ, s string, cased bool, flags []string) (matcher, error) {
	switch typ {
	case "re":
		prefix := ""
		for _, f := range flags {
			prefix += "(?" + f + ")"
		}
		re, err := regexp.Compile(prefix + s)
		if err != nil {
			return nil, fmt.Errorf("regular expression %q (RE2: no lookarounds, no backreferences): %w", s, err)
		}
		return reMatcher{re: re, lit: requiredLiteral(prefix + s)}, nil
	case "cidr":
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("cidr %q is neither a network nor an address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		return cidrMatcher{p: p.Masked()}, nil
	case "lt", "lte", "gt", "gte":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%s takes a number, not %q", typ, s)
		}
		return cmpMatcher{op: typ, n: f}, nil
	}
	return globMatcher{g: compileGlob(s, cased)}, nil
}

// requiredLiteral returns a case-sensitive string every match of the regular expression
// expr contains (the longest literal of its top-level sequence), "" when it has none.
func requiredLiteral(expr string) string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return ""
	}
	re = re.Simplify()
	lit := func(r *syntax.Regexp) string {
		if r.Op == syntax.OpLiteral && r.Flags&syntax.FoldCase == 0 {
			return string(r.Rune)
		}
		return ""
	}
	if re.Op != syntax.OpConcat {
		return lit(re)
	}
	best := ""
	for _, sub := range re.Sub {
		if l := lit(sub); len(l) > len(best) {
			best = l
		}
	}
	return best
}

// transform applies one transformation modifier to the values.
func transform(step string, in []string, placeholders map[string][]string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, s := range in {
		switch step {
		case "contains":
			out = append(out, "*"+canonical(s)+"*")
		case "startswith":
			out = append(out, canonical(s)+"*")
		case "endswith":
			out = append(out, "*"+canonical(s))
		case "windash":
			out = append(out, windash(canonical(s))...)
		case "expand":
			vs, err := expand(s, placeholders)
			if err != nil {
				return nil, err
			}
			out = append(out, vs...)
		default: // the encodings, of plain text
			p, ok := plainValue(s)
			if !ok {
				return nil, fmt.Errorf("cannot encode a value with wildcards (%q)", s)
			}
			out = append(out, encode(step, p)...)
		}
		if len(out) > maxValues {
			return out, nil
		}
	}
	return out, nil
}

// encode returns the Sigma strings of the text p under an encoding modifier.
func encode(step, p string) []string {
	switch step {
	case "base64":
		return []string{escapeValue(base64.StdEncoding.EncodeToString([]byte(p)))}
	case "base64offset":
		// The text may start at any of the three byte offsets of a base64 group: encode it
		// shifted by 0, 1 and 2 bytes and keep the characters that depend on it alone.
		var out []string
		start := [3]int{0, 2, 3}
		end := [3]int{0, 3, 2} // characters dropped at the end, by the length mod 3
		for i := range 3 {
			enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat(" ", i) + p))
			lo, hi := start[i], len(enc)-end[(len(p)+i)%3]
			if lo < hi {
				out = append(out, escapeValue(enc[lo:hi]))
			}
		}
		return out
	case "utf16le", "wide":
		return []string{escapeValue(utf16Bytes(p, binary.LittleEndian, false))}
	case "utf16be":
		return []string{escapeValue(utf16Bytes(p, binary.BigEndian, false))}
	case "utf16":
		return []string{escapeValue(utf16Bytes(p, binary.LittleEndian, true))}
	}
	return nil
}

func utf16Bytes(s string, order binary.AppendByteOrder, bom bool) string {
	var b []byte
	if bom {
		b = order.AppendUint16(b, 0xFEFF)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = order.AppendUint16(b, u)
	}
	return string(b)
}

// windash returns s with each of its dashes and slashes replaced by each of windashes, in
// every combination.
func windash(s string) []string {
	out := []string{""}
	for len(s) > 0 {
		i, w := -1, 0
		for _, d := range windashes {
			if j := strings.Index(s, d); j >= 0 && (i < 0 || j < i) {
				i, w = j, len(d)
			}
		}
		if i < 0 {
			break
		}
		next := make([]string, 0, len(out)*len(windashes))
		for _, o := range out {
			for _, d := range windashes {
				next = append(next, o+s[:i]+d)
			}
		}
		out, s = next, s[i+w:]
		if len(out) > maxValues {
			return out
		}
	}
	for i := range out {
		out[i] += s
	}
	return out
}

// expand replaces the placeholders (%name%) of s with their values, in every
// combination; \% is a percent sign.
func expand(s string, placeholders map[string][]string) ([]string, error) {
	out := []string{""}
	var lit strings.Builder
	flush := func() {
		for i := range out {
			out[i] += lit.String()
		}
		lit.Reset()
	}
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '%':
			lit.WriteByte('%')
			i++
		case s[i] == '%':
			j := strings.IndexByte(s[i+1:], '%')
			if j < 0 {
				lit.WriteString(s[i:])
				i = len(s)
				continue
			}
			name := s[i+1 : i+1+j]
			vals, ok := placeholders[name]
			if !ok || len(vals) == 0 {
				return nil, fmt.Errorf("placeholder %%%s%% has no values (set them in the rules config's placeholders)", name)
			}
			flush()
			next := make([]string, 0, len(out)*len(vals))
			for _, o := range out {
				for _, v := range vals {
					next = append(next, o+v)
				}
			}
			out = next
			if len(out) > maxValues {
				return out, nil
			}
			i += j + 1
		default:
			lit.WriteByte(s[i])
		}
	}
	flush()
	return out, nil
}

// indexValues returns the eventName values the engine can index a rule by: their text,
// when each is a literal in the shape of a CloudTrail event name (DeleteBucket). The index
// is exact and the comparison is not (unless cased), so a value in another case
// (deletebucket), which would match events the index never hands the rule, leaves the
// rule unindexed; nil then.
func indexValues(strs []string, cased bool) []string {
	out := make([]string, 0, len(strs))
	for _, s := range strs {
		p, ok := plainValue(s)
		if !ok || (!cased && !eventNameShape(p)) {
			return nil
		}
		out = append(out, p)
	}
	return out
}

// eventNameShape reports whether s is written as AWS writes event names: a capital, then
// letters and digits, some in lower case.
func eventNameShape(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	lower := false
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z':
			lower = true
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			return false
		}
	}
	return lower
}
