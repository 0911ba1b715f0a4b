package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is a rules config (--rules-config FILE, YAML): which rules run, at what severity,
// with which parameters, and whose events they ignore. The zero Config runs every rule with
// its defaults.
//
//	home_countries: [US, CA]        # console sign-ins from elsewhere are from abroad
//	known_accounts: ["111122223333"] # the organization's accounts (role trust policies)
//	offensive_user_agents: [pacu]    # replaces the built-in list
//	allow:                           # every rule ignores these principals' events
//	  users: [ci-deployer]
//	  roles: [OrganizationAccountAccessRole]
//	  ips: [10.0.0.0/8, 192.0.2.7]
//	  accounts: ["444455556666"]
//	placeholders:                 # for Sigma rules' expand modifier (%admins%)
//	  admins: [alice, bob]
//	rules:
//	  sigma:4d1f6e2a-…:             # a Sigma rule, by "sigma:" and its id: enabled, severity, allow
//	    severity: high
//	  console-login-brute-force:
//	    severity: high
//	    params: {count: 20, window: 15m}
//	    allow: {ips: [198.51.100.0/24]}
//	  root-account-activity:
//	    enabled: false
type Config struct {
	// Placeholders are the values of the placeholders Sigma rules expand (%name%, the
	// expand modifier), by name.
	Placeholders        map[string][]string   `yaml:"placeholders"`
	HomeCountries       []string              `yaml:"home_countries"`
	KnownAccounts       []string              `yaml:"known_accounts"`
	OffensiveUserAgents []string              `yaml:"offensive_user_agents"`
	Allow               Allow                 `yaml:"allow"`
	Rules               map[string]RuleConfig `yaml:"rules"`
}

// RuleConfig is the settings of one rule.
type RuleConfig struct {
	Enabled  *bool          `yaml:"enabled"`
	Severity string         `yaml:"severity"`
	Params   map[string]any `yaml:"params"`
	Allow    Allow          `yaml:"allow"`
}

// Allow lists principals whose events a rule ignores.
type Allow struct {
	Users    []string `yaml:"users"`
	Roles    []string `yaml:"roles"`
	IPs      []string `yaml:"ips"` // addresses or CIDR prefixes
	Accounts []string `yaml:"accounts"`
}

func (a Allow) empty() bool {
	return len(a.Users)+len(a.Roles)+len(a.IPs)+len(a.Accounts) == 0
}

func (a Allow) merge(b Allow) Allow {
	return Allow{
		Users: append(slices.Clone(a.Users), b.Users...), Roles: append(slices.Clone(a.Roles), b.Roles...),
		IPs: append(slices.Clone(a.IPs), b.IPs...), Accounts: append(slices.Clone(a.Accounts), b.Accounts...),
	}
}

// HomeCountry reports whether code is one of the home countries (US when none are set).
func (c *Config) HomeCountry(code string) bool {
	if len(c.HomeCountries) == 0 {
		return code == "US"
	}
	return slices.ContainsFunc(c.HomeCountries, func(h string) bool { return strings.EqualFold(h, code) })
}

// LoadConfig reads the rules config at path. An error names the file, the line and the
// reason.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("rules config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig reads a rules config and checks it against the catalogue: every rule named
// exists, every severity is one of Severities, every parameter exists and has its type, and
// every address of an allow-list parses. Errors give the line they were found on.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return &Config{}, nil // an empty file: the defaults
		}
		return nil, err // yaml's errors name the line
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, err
	}
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = *root.Content[0]
	}
	var errs []error
	lines := ruleLines(&root)
	ids := map[string]bool{}
	for _, bi := range builtins {
		ids[bi.ID] = true
	}
	for _, id := range sortedKeys(c.Rules) {
		rc := c.Rules[id]
		at := lines[id]
		if strings.HasPrefix(id, SigmaPrefix) { // checked against the Sigma rules when they load
			if len(rc.Params) > 0 {
				errs = append(errs, fmt.Errorf("line %d: rule %s: Sigma rules take no params", at, id))
			}
			if rc.Severity != "" && SeverityRank(rc.Severity) < 0 {
				errs = append(errs, fmt.Errorf("line %d: rule %s: severity %q is not one of %s", at, id, rc.Severity, strings.Join(Severities, ", ")))
			}
			if err := checkIPs(rc.Allow.IPs); err != nil {
				errs = append(errs, fmt.Errorf("line %d: rule %s: %w", at, id, err))
			}
			continue
		}
		if !ids[id] {
			errs = append(errs, fmt.Errorf("line %d: no rule %q (trailstream rules list shows them)", at, id))
			continue
		}
		if rc.Severity != "" && SeverityRank(rc.Severity) < 0 {
			errs = append(errs, fmt.Errorf("line %d: rule %s: severity %q is not one of %s", at, id, rc.Severity, strings.Join(Severities, ", ")))
		}
		for _, bi := range builtins {
			if bi.ID == id {
				if _, err := bi.params(&c, rc); err != nil {
					errs = append(errs, fmt.Errorf("line %d: %w", at, err))
				}
			}
		}
		if err := checkIPs(rc.Allow.IPs); err != nil {
			errs = append(errs, fmt.Errorf("line %d: rule %s: %w", at, id, err))
		}
	}
	if err := checkIPs(c.Allow.IPs); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &c, nil
}

// ruleLines returns the line of each rule's entry under rules:.
func ruleLines(root *yaml.Node) map[string]int {
	out := map[string]int{}
	if root.Kind != yaml.MappingNode {
		return out
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "rules" && root.Content[i+1].Kind == yaml.MappingNode {
			rs := root.Content[i+1].Content
			for j := 0; j+1 < len(rs); j += 2 {
				out[rs[j].Value] = rs[j].Line
			}
		}
	}
	return out
}

func checkIPs(ips []string) error {
	for _, s := range ips {
		if _, err := parsePrefix(s); err != nil {
			return fmt.Errorf("allow-list address %q: %w", s, err)
		}
	}
	return nil
}

// convert gives v, a parameter read from YAML, the type of def.
func convert(def, v any) (any, error) {
	switch def.(type) {
	case int:
		if n, ok := v.(int); ok {
			return n, nil
		}
		return nil, fmt.Errorf("want a whole number, got %v", v)
	case float64:
		switch n := v.(type) {
		case int:
			return float64(n), nil
		case float64:
			return n, nil
		}
		return nil, fmt.Errorf("want a number, got %v", v)
	case time.Duration:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a duration such as 10m or 1h, got %v", v)
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("want a positive duration such as 10m or 1h, got %q", s)
		}
		return d, nil
	case string:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, fmt.Errorf("want a string, got %v", v)
	case []string:
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want a list of strings, got %v", v)
		}
		out := make([]string, len(list))
		for i, x := range list {
			out[i] = fmt.Sprint(x)
		}
		return out, nil
	}
	return nil, fmt.Errorf("parameter of unknown type %T", def)
}

// SigmaPrefix starts the rule_id of every Sigma rule: "sigma:" and the rule's id.
const SigmaPrefix = "sigma:"
