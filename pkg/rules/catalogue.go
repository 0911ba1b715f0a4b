package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

// Builtin is a rule of trailstream's catalogue: its description, the parameters a rules
// config may set (with their defaults) and how to make it with them.
type Builtin struct {
	Meta
	// Params are the rule's settings and their defaults: an int, a float64, a
	// time.Duration, a string or a []string.
	Params map[string]any
	// New makes the rule. p holds the defaults overridden by the rules config.
	New func(p *Params) Rule
}

var builtins []Builtin

// register adds b to the catalogue; the rule files call it from init.
func register(b Builtin) {
	if b.Source == "" {
		b.Source = "builtin"
	}
	if slices.ContainsFunc(builtins, func(o Builtin) bool { return o.ID == b.ID }) {
		panic("rules: rule " + b.ID + " registered twice")
	}
	builtins = append(builtins, b)
}

// Builtins returns the catalogue, by rule ID.
func Builtins() []Builtin {
	out := slices.Clone(builtins)
	slices.SortFunc(out, func(a, b Builtin) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Default returns a fresh instance of every built-in rule with its default settings.
func Default() []Rule {
	rs, err := New(&Config{})
	if err != nil {
		panic(err) // the defaults are valid
	}
	return rs
}

// New returns a fresh instance of every rule c enables, with c's settings: severities
// overridden, parameters set, allow-lists applied.
func New(c *Config) ([]Rule, error) {
	var out []Rule
	for _, b := range Builtins() {
		rc := c.Rules[b.ID]
		if rc.Enabled != nil && !*rc.Enabled {
			continue
		}
		p, err := b.params(c, rc)
		if err != nil {
			return nil, err
		}
		r := b.New(p)
		m := r.Info()
		*m = b.Meta
		m.Tags, m.Events = slices.Clone(b.Tags), slices.Clone(b.Events)
		if rc.Severity != "" {
			m.Severity = rc.Severity
		}
		out = append(out, allowing(r, c.Allow.merge(rc.Allow)))
	}
	return out, nil
}

// Configure applies the rules config to rules loaded from elsewhere (Sigma): a rule whose
// entry in c.Rules (by its ID) disables it is left out, severity and allow-lists apply as to
// a built-in rule. They take no parameters.
func Configure(c *Config, loaded []Rule) []Rule {
	var out []Rule
	for _, r := range loaded {
		m := r.Info()
		rc := c.Rules[m.ID]
		if rc.Enabled != nil && !*rc.Enabled {
			continue
		}
		if rc.Severity != "" {
			m.Severity = rc.Severity
		}
		out = append(out, allowing(r, c.Allow.merge(rc.Allow)))
	}
	return out
}

// params returns b's parameters: its defaults, overridden by rc.
func (b *Builtin) params(c *Config, rc RuleConfig) (*Params, error) {
	p := &Params{Config: c, values: make(map[string]any, len(b.Params))}
	for k, v := range b.Params {
		p.values[k] = v
	}
	for k, v := range rc.Params {
		def, ok := b.Params[k]
		if !ok {
			return nil, fmt.Errorf("rule %s has no parameter %q (it has %s)", b.ID, k, strings.Join(sortedKeys(b.Params), ", "))
		}
		got, err := convert(def, v)
		if err != nil {
			return nil, fmt.Errorf("rule %s, parameter %s: %w", b.ID, k, err)
		}
		p.values[k] = got
	}
	return p, nil
}

// Params are one rule's settings: its parameters and the whole rules config.
type Params struct {
	*Config
	values map[string]any
}

// Int returns the int parameter name.
func (p *Params) Int(name string) int { return p.values[name].(int) }

// Float returns the float64 parameter name.
func (p *Params) Float(name string) float64 { return p.values[name].(float64) }

// Duration returns the duration parameter name.
func (p *Params) Duration(name string) time.Duration { return p.values[name].(time.Duration) }

// String returns the string parameter name.
func (p *Params) String(name string) string { return p.values[name].(string) }

// Strings returns the string-list parameter name.
func (p *Params) Strings(name string) []string { return p.values[name].([]string) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// allowed wraps a rule so that it never sees the events of allow-listed principals.
type allowed struct {
	Rule
	allow Allow
	nets  []netip.Prefix
}

func allowing(r Rule, a Allow) Rule {
	if a.empty() {
		return r
	}
	w := &allowed{Rule: r, allow: a}
	for _, s := range a.IPs {
		if p, err := parsePrefix(s); err == nil {
			w.nets = append(w.nets, p)
		}
	}
	return w
}

// parsePrefix reads a CIDR prefix or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("neither an address nor a CIDR prefix")
	}
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// Unwrap returns the rule w filters.
func (w *allowed) Unwrap() Rule { return w.Rule }

func (w *allowed) Observe(in *Input) []model.Detection {
	e := in.Event
	if slices.Contains(w.allow.Users, e.UserName) || slices.Contains(w.allow.Roles, e.RoleName) ||
		slices.Contains(w.allow.Accounts, e.AccountID) {
		return nil
	}
	if len(w.nets) > 0 {
		if ip, err := netip.ParseAddr(e.SourceIP); err == nil {
			for _, n := range w.nets {
				if n.Contains(ip) {
					return nil
				}
			}
		}
	}
	return w.Rule.Observe(in)
}
