// The CloudFormation templates cannot be deployed here (no AWS is reachable), so this test
// checks what would make them fail or grant the wrong access: the template's structure, the
// resource types and their properties, every reference, the IAM policy documents, and what
// trailstream needs of each template.
package aws_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// cfn is a template value: a string, number, bool, nil, []any or map[string]any, with the
// short forms of intrinsic functions (!Ref X, !Sub s, !GetAtt A.B, ...) turned into their long
// forms ({"Ref": "X"}, {"Fn::Sub": "s"}, {"Fn::GetAtt": ["A", "B"]}).
type cfn struct{ v any }

// shortTags are CloudFormation's YAML short forms.
var shortTags = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition", "!Sub": "Fn::Sub", "!GetAtt": "Fn::GetAtt", "!If": "Fn::If",
	"!Not": "Fn::Not", "!Equals": "Fn::Equals", "!And": "Fn::And", "!Or": "Fn::Or", "!Join": "Fn::Join",
	"!Select": "Fn::Select", "!Split": "Fn::Split", "!FindInMap": "Fn::FindInMap", "!Base64": "Fn::Base64",
	"!Cidr": "Fn::Cidr", "!GetAZs": "Fn::GetAZs", "!ImportValue": "Fn::ImportValue",
}

// UnmarshalYAML reads a template value from its node.
func (c *cfn) UnmarshalYAML(n *yaml.Node) error {
	budget := maxNodes
	v, err := convert(n, &budget)
	c.v = v
	return err
}

// maxNodes bounds the nodes of a template, aliases expanded (a few anchors can stand for
// billions of nodes).
const maxNodes = 100000

func convert(n *yaml.Node, budget *int) (any, error) {
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("line %d: more than %d nodes", n.Line, maxNodes)
	}
	if fn, ok := shortTags[n.Tag]; ok {
		plain := *n
		plain.Tag = ""
		if n.Kind == yaml.ScalarNode {
			plain.Tag = "!!str"
		}
		v, err := convert(&plain, budget)
		if err != nil {
			return nil, err
		}
		if s, ok := v.(string); ok && fn == "Fn::GetAtt" {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q is not Resource.Attribute", n.Line, s)
			}
			v = []any{res, attr}
		}
		return map[string]any{fn: v}, nil
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("a template is one YAML document")
		}
		return convert(n.Content[0], budget)
	case yaml.AliasNode:
		return convert(n.Alias, budget)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := convert(c, budget)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key that is not a string", k.Line)
			}
			if _, dup := out[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %s appears twice", k.Line, k.Value)
			}
			v, err := convert(n.Content[i+1], budget)
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
		}
		return out, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, fmt.Errorf("line %d: %w", n.Line, err)
	}
	return v, nil
}

func parse(b []byte) (map[string]any, error) {
	var c cfn
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	m, ok := c.v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the template is not a mapping")
	}
	return m, nil
}

// resourceType is what the test knows of a resource type (from the CloudFormation resource
// reference): its required and allowed properties and its GetAtt attributes.
type resourceType struct {
	required, allowed, attributes []string
	policies                      func(props map[string]any) []policy // the IAM policy documents in its properties
}

type policy struct {
	where    string
	doc      any
	trust    bool // a role's trust policy: a principal, no resource
	resource bool // a resource policy: a principal and a resource
}

var resourceTypes = map[string]resourceType{
	"AWS::IAM::Role": {
		required:   []string{"AssumeRolePolicyDocument"},
		allowed:    []string{"Description", "ManagedPolicyArns", "MaxSessionDuration", "Path", "PermissionsBoundary", "Policies", "RoleName", "Tags"},
		attributes: []string{"Arn", "RoleId"},
		policies: func(p map[string]any) []policy {
			out := []policy{{where: "AssumeRolePolicyDocument", doc: p["AssumeRolePolicyDocument"], trust: true}}
			pols, _ := p["Policies"].([]any)
			for i, x := range pols {
				m, _ := x.(map[string]any)
				out = append(out, policy{where: fmt.Sprintf("Policies[%d] (%v)", i, m["PolicyName"]), doc: m["PolicyDocument"]})
			}
			return out
		},
	},
	"AWS::SQS::Queue": {
		allowed: []string{"ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue", "FifoThroughputLimit",
			"KmsDataKeyReusePeriodSeconds", "KmsMasterKeyId", "MaximumMessageSize", "MessageRetentionPeriod", "QueueName",
			"ReceiveMessageWaitTimeSeconds", "RedriveAllowPolicy", "RedrivePolicy", "SqsManagedSseEnabled", "Tags", "VisibilityTimeout"},
		attributes: []string{"Arn", "QueueName", "QueueUrl"},
	},
	"AWS::SQS::QueuePolicy": {
		required:   []string{"PolicyDocument", "Queues"},
		attributes: []string{"Id"},
		policies: func(p map[string]any) []policy {
			return []policy{{where: "PolicyDocument", doc: p["PolicyDocument"], resource: true}}
		},
	},
	"AWS::S3::Bucket": {
		allowed: []string{"AccelerateConfiguration", "AccessControl", "AnalyticsConfigurations", "BucketEncryption", "BucketName",
			"CorsConfiguration", "IntelligentTieringConfigurations", "InventoryConfigurations", "LifecycleConfiguration",
			"LoggingConfiguration", "MetricsConfigurations", "NotificationConfiguration", "ObjectLockConfiguration",
			"ObjectLockEnabled", "OwnershipControls", "PublicAccessBlockConfiguration", "ReplicationConfiguration", "Tags",
			"VersioningConfiguration", "WebsiteConfiguration"},
		attributes: []string{"Arn", "DomainName", "DualStackDomainName", "RegionalDomainName", "WebsiteURL"},
	},
	"AWS::S3::BucketPolicy": {
		required: []string{"Bucket", "PolicyDocument"},
		policies: func(p map[string]any) []policy {
			return []policy{{where: "PolicyDocument", doc: p["PolicyDocument"], resource: true}}
		},
	},
}

var pseudoParameters = []string{"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition", "AWS::Region",
	"AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}

var (
	actionRE = regexp.MustCompile(`^[a-z0-9-]+:[A-Za-z0-9*]+$`)
	sidRE    = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	subVarRE = regexp.MustCompile(`\$\{([^}]*)\}`)
)

// conditionOperators are the IAM condition operators the templates may use.
var conditionOperators = []string{"StringEquals", "StringNotEquals", "StringLike", "StringNotLike", "ArnEquals", "ArnLike",
	"ArnNotLike", "Bool", "IpAddress", "NumericLessThan", "ForAnyValue:StringEquals", "ForAllValues:StringEquals", "Null"}

// resourceStarActions are actions that support no resource-level permissions: the only ones
// an Allow with Resource "*" may grant.
var resourceStarActions = []string{"cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "ec2:DescribeRegions"}

// template is a parsed template and the problems found in it.
type template struct {
	name     string
	t        map[string]any
	params   map[string]any
	conds    map[string]any
	res      map[string]any
	outputs  map[string]any
	problems []string
}

func (c *template) errorf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func section(t map[string]any, name string) map[string]any {
	m, _ := t[name].(map[string]any)
	return m
}

// validate returns every problem of a template.
func validate(name string, b []byte) []string {
	t, err := parse(b)
	if err != nil {
		return []string{"parse: " + err.Error()}
	}
	c := &template{name: name, t: t, params: section(t, "Parameters"), conds: section(t, "Conditions"),
		res: section(t, "Resources"), outputs: section(t, "Outputs")}
	c.structure()
	c.parameters()
	c.resources()
	c.references()
	return c.problems
}

func (c *template) structure() {
	for k := range c.t {
		if !slices.Contains([]string{"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Mappings",
			"Conditions", "Transform", "Resources", "Outputs", "Rules"}, k) {
			c.errorf("unknown top-level section %s", k)
		}
	}
	if v := c.t["AWSTemplateFormatVersion"]; v != "2010-09-09" {
		c.errorf("AWSTemplateFormatVersion %v, want 2010-09-09", v)
	}
	if d, _ := c.t["Description"].(string); d == "" {
		c.errorf("no Description")
	} else if len(d) > 1024 {
		c.errorf("Description of %d characters, more than CloudFormation's 1024", len(d))
	}
	if len(c.res) == 0 {
		c.errorf("no Resources")
	}
	for name, o := range c.outputs {
		m, _ := o.(map[string]any)
		if m["Value"] == nil {
			c.errorf("output %s has no Value", name)
		}
		if d, _ := m["Description"].(string); d == "" {
			c.errorf("output %s has no Description", name)
		}
		for k := range m {
			if !slices.Contains([]string{"Value", "Description", "Export", "Condition"}, k) {
				c.errorf("output %s: unknown key %s", name, k)
			}
		}
		c.condition("output "+name, m["Condition"])
	}
}

func (c *template) condition(where string, v any) {
	if v == nil {
		return
	}
	s, ok := v.(string)
	if _, declared := c.conds[s]; !ok || !declared {
		c.errorf("%s: condition %v is not declared", where, v)
	}
}

func (c *template) parameters() {
	for name, p := range c.params {
		m, _ := p.(map[string]any)
		typ, _ := m["Type"].(string)
		if !slices.Contains([]string{"String", "Number", "CommaDelimitedList", "List<Number>"}, typ) && !strings.HasPrefix(typ, "AWS::") {
			c.errorf("parameter %s: type %q", name, typ)
		}
		if d, _ := m["Description"].(string); d == "" {
			c.errorf("parameter %s has no Description", name)
		}
		for k := range m {
			if !slices.Contains([]string{"Type", "Description", "Default", "AllowedPattern", "AllowedValues", "ConstraintDescription",
				"MinLength", "MaxLength", "MinValue", "MaxValue", "NoEcho"}, k) {
				c.errorf("parameter %s: unknown key %s", name, k)
			}
		}
		var re *regexp.Regexp
		if pat, ok := m["AllowedPattern"].(string); ok {
			var err error
			if re, err = regexp.Compile(pat); err != nil {
				c.errorf("parameter %s: AllowedPattern: %v", name, err)
			}
		}
		def, hasDefault := m["Default"]
		if !hasDefault {
			continue
		}
		ds := fmt.Sprint(def)
		if re != nil && !re.MatchString(ds) {
			c.errorf("parameter %s: Default %q does not match AllowedPattern", name, ds)
		}
		if av, ok := m["AllowedValues"].([]any); ok && !slices.ContainsFunc(av, func(x any) bool { return fmt.Sprint(x) == ds }) {
			c.errorf("parameter %s: Default %q is not among AllowedValues", name, ds)
		}
		if n, ok := m["MinLength"].(int); ok && len(ds) < n {
			c.errorf("parameter %s: Default shorter than MinLength", name)
		}
		if typ == "Number" {
			f, err := strconv.ParseFloat(ds, 64)
			if err != nil {
				c.errorf("parameter %s: Default %q is not a number", name, ds)
			}
			if lo, ok := m["MinValue"].(int); ok && f < float64(lo) {
				c.errorf("parameter %s: Default below MinValue", name)
			}
			if hi, ok := m["MaxValue"].(int); ok && f > float64(hi) {
				c.errorf("parameter %s: Default above MaxValue", name)
			}
		}
	}
}

func (c *template) resources() {
	for name, r := range c.res {
		m, _ := r.(map[string]any)
		typ, _ := m["Type"].(string)
		rt, known := resourceTypes[typ]
		if !known {
			c.errorf("resource %s: type %q is not one the test knows", name, typ)
			continue
		}
		for k := range m {
			if !slices.Contains([]string{"Type", "Properties", "Condition", "DependsOn", "DeletionPolicy", "UpdateReplacePolicy", "Metadata"}, k) {
				c.errorf("resource %s: unknown key %s", name, k)
			}
		}
		c.condition("resource "+name, m["Condition"])
		var deps []any
		switch d := m["DependsOn"].(type) {
		case string:
			deps = []any{d}
		case []any:
			deps = d
		}
		for _, d := range deps {
			if _, ok := c.res[fmt.Sprint(d)]; !ok {
				c.errorf("resource %s: DependsOn %v is not a resource", name, d)
			}
		}
		props, _ := m["Properties"].(map[string]any)
		for _, req := range rt.required {
			if _, ok := props[req]; !ok {
				c.errorf("resource %s (%s): required property %s missing", name, typ, req)
			}
		}
		for k := range props {
			if !slices.Contains(rt.required, k) && !slices.Contains(rt.allowed, k) {
				c.errorf("resource %s (%s): unknown property %s", name, typ, k)
			}
		}
		if rt.policies != nil {
			for _, p := range rt.policies(props) {
				c.policy(name+" "+p.where, p)
			}
		}
	}
}

// branches returns the values v stands for: both branches of an Fn::If (without
// AWS::NoValue), or v itself.
func branches(v any) []any {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return []any{v}
	}
	args, ok := m["Fn::If"].([]any)
	if !ok || len(args) != 3 {
		return []any{v}
	}
	var out []any
	for _, b := range args[1:] {
		if ref, ok := b.(map[string]any); ok && ref["Ref"] == "AWS::NoValue" {
			continue
		}
		out = append(out, branches(b)...)
	}
	return out
}

// strs returns a string or list of strings as a list; ok is false for anything else.
func strs(v any) (out []string, ok bool) {
	switch x := v.(type) {
	case string:
		return []string{x}, true
	case []any:
		for _, e := range x {
			s, isStr := e.(string)
			if !isStr {
				return nil, false
			}
			out = append(out, s)
		}
		return out, len(out) > 0
	}
	return nil, false
}

// statements returns a policy document's statements, each Fn::If branch as one.
func statements(doc any) []map[string]any {
	m, _ := doc.(map[string]any)
	var list []any
	switch s := m["Statement"].(type) {
	case []any:
		list = s
	case map[string]any:
		list = []any{s}
	}
	var out []map[string]any
	for _, st := range list {
		for _, b := range branches(st) {
			if sm, ok := b.(map[string]any); ok {
				out = append(out, sm)
			} else {
				out = append(out, map[string]any{"not a statement": b})
			}
		}
	}
	return out
}

func (c *template) policy(where string, p policy) {
	doc, ok := p.doc.(map[string]any)
	if !ok {
		c.errorf("%s: not a policy document", where)
		return
	}
	if v := doc["Version"]; v != "2012-10-17" {
		c.errorf("%s: Version %v, want 2012-10-17", where, v)
	}
	for k := range doc {
		if k != "Version" && k != "Statement" && k != "Id" {
			c.errorf("%s: unknown key %s", where, k)
		}
	}
	sts := statements(doc)
	if len(sts) == 0 {
		c.errorf("%s: no statements", where)
	}
	sids := map[string]bool{}
	for i, st := range sts {
		at := fmt.Sprintf("%s statement %d", where, i+1)
		for k := range st {
			if !slices.Contains([]string{"Sid", "Effect", "Principal", "Action", "Resource", "Condition"}, k) {
				c.errorf("%s: key %s (NotAction, NotResource and NotPrincipal are not used here)", at, k)
			}
		}
		if sid, ok := st["Sid"].(string); ok {
			if !sidRE.MatchString(sid) {
				c.errorf("%s: Sid %q is not alphanumeric", at, sid)
			}
			if sids[sid] {
				c.errorf("%s: Sid %s twice", at, sid)
			}
			sids[sid] = true
		}
		effect := st["Effect"]
		if effect != "Allow" && effect != "Deny" {
			c.errorf("%s: Effect %v", at, effect)
		}
		actions, ok := strs(st["Action"])
		if !ok {
			c.errorf("%s: Action %v is not a string or list of strings", at, st["Action"])
		}
		for _, a := range actions {
			if !actionRE.MatchString(a) {
				c.errorf("%s: action %q is not service:Action", at, a)
			}
			if effect == "Allow" && strings.Contains(a, "*") {
				c.errorf("%s: Allow of the wildcard action %q", at, a)
			}
		}
		_, hasPrincipal := st["Principal"]
		_, hasResource := st["Resource"]
		switch {
		case p.trust:
			if !hasPrincipal || hasResource {
				c.errorf("%s: a trust policy statement has a Principal and no Resource", at)
			}
		case p.resource:
			if !hasPrincipal || !hasResource {
				c.errorf("%s: a resource policy statement has a Principal and a Resource", at)
			}
		default:
			if hasPrincipal || !hasResource {
				c.errorf("%s: an identity policy statement has a Resource and no Principal", at)
			}
		}
		if hasPrincipal && effect == "Allow" && st["Principal"] == "*" {
			c.errorf("%s: Allow to every principal", at)
		}
		if hasResource {
			res := st["Resource"]
			if l, ok := res.([]any); ok && len(l) == 0 || res == nil {
				c.errorf("%s: empty Resource", at)
			}
			if res == "*" && effect == "Allow" {
				for _, a := range actions {
					if !slices.Contains(resourceStarActions, a) {
						c.errorf("%s: %s on every resource", at, a)
					}
				}
			}
		}
		if cond, ok := st["Condition"]; ok {
			cm, isMap := cond.(map[string]any)
			if !isMap || len(cm) == 0 {
				c.errorf("%s: Condition %v", at, cond)
			}
			for op := range cm {
				if !slices.Contains(conditionOperators, op) {
					c.errorf("%s: condition operator %s", at, op)
				}
			}
		}
	}
}

// references checks every Ref, Fn::GetAtt, Fn::Sub, Fn::If and Condition of the template,
// and that every parameter and condition is used.
func (c *template) references() {
	used := map[string]bool{}
	var walk func(where string, v any, inConditions bool)
	ref := func(where, name string, inConditions bool) {
		used[name] = true
		_, isParam := c.params[name]
		_, isRes := c.res[name]
		switch {
		case isParam || slices.Contains(pseudoParameters, name):
		case isRes && !inConditions:
		default:
			c.errorf("%s: %s is not a parameter, resource or pseudo parameter", where, name)
		}
	}
	getAtt := func(where, res, attr string) {
		used[res] = true
		r, ok := c.res[res].(map[string]any)
		if !ok {
			c.errorf("%s: GetAtt of %s, which is not a resource", where, res)
			return
		}
		typ, _ := r["Type"].(string)
		if rt, ok := resourceTypes[typ]; ok && !slices.Contains(rt.attributes, attr) {
			c.errorf("%s: %s (%s) has no attribute %s", where, res, typ, attr)
		}
	}
	walk = func(where string, v any, inConditions bool) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(where, e, inConditions)
			}
		case map[string]any:
			if len(x) == 1 {
				for fn, arg := range x {
					switch fn {
					case "Ref":
						if s, ok := arg.(string); ok {
							ref(where, s, inConditions)
						} else {
							c.errorf("%s: Ref %v", where, arg)
						}
						return
					case "Fn::GetAtt":
						l, ok := arg.([]any)
						if !ok || len(l) != 2 {
							c.errorf("%s: GetAtt %v", where, arg)
							return
						}
						getAtt(where, fmt.Sprint(l[0]), fmt.Sprint(l[1]))
						return
					case "Fn::Sub":
						s, ok := arg.(string)
						vars := map[string]any{}
						if l, isList := arg.([]any); isList && len(l) == 2 {
							s, ok = l[0].(string)
							vars, _ = l[1].(map[string]any)
							walk(where, l[1], inConditions)
						}
						if !ok {
							c.errorf("%s: Sub %v", where, arg)
							return
						}
						for _, m := range subVarRE.FindAllStringSubmatch(s, -1) {
							name := m[1]
							if strings.HasPrefix(name, "!") {
								continue // ${!Literal}
							}
							if _, ok := vars[name]; ok {
								continue
							}
							if res, attr, isAtt := strings.Cut(name, "."); isAtt && !strings.HasPrefix(name, "AWS::") {
								getAtt(where, res, attr)
								continue
							}
							ref(where, name, inConditions)
						}
						return
					case "Fn::If":
						l, ok := arg.([]any)
						if !ok || len(l) != 3 {
							c.errorf("%s: If %v", where, arg)
							return
						}
						used[fmt.Sprint(l[0])] = true
						c.condition(where, l[0])
						walk(where, l[1:], inConditions)
						return
					case "Condition":
						if inConditions {
							used[fmt.Sprint(arg)] = true
							c.condition(where, arg)
							return
						}
					}
				}
			}
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(where+"."+k, x[k], inConditions)
			}
		}
	}
	for name, cond := range c.conds {
		walk("condition "+name, cond, true)
	}
	for name, r := range c.res {
		m, _ := r.(map[string]any)
		if cond, ok := m["Condition"].(string); ok {
			used[cond] = true
		}
		walk("resource "+name, m["Properties"], false)
	}
	for name, o := range c.outputs {
		m, _ := o.(map[string]any)
		if cond, ok := m["Condition"].(string); ok {
			used[cond] = true
		}
		walk("output "+name, m, false)
	}
	for name := range c.params {
		if !used[name] {
			c.errorf("parameter %s is not used", name)
		}
	}
	for name := range c.conds {
		if !used[name] {
			c.errorf("condition %s is not used", name)
		}
	}
}

// The templates' own checks: what trailstream needs of each.

func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func isRef(v any, name string) bool { return get(v, "Ref") == name }

func isGetAtt(v any, res, attr string) bool {
	l, ok := get(v, "Fn::GetAtt").([]any)
	return ok && len(l) == 2 && l[0] == res && l[1] == attr
}

// resourcesOf returns the resources of a type, by name.
func resourcesOf(t map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for name, r := range section(t, "Resources") {
		if m, _ := r.(map[string]any); m["Type"] == typ {
			out[name] = m
		}
	}
	return out
}

func only(problems *[]string, what string, m map[string]map[string]any) (string, map[string]any) {
	if len(m) != 1 {
		*problems = append(*problems, fmt.Sprintf("%d resources of type %s, want 1", len(m), what))
		return "", nil
	}
	for k, v := range m {
		return k, v
	}
	return "", nil
}

// readRole checks trailstream-read-role.yaml's promises.
func readRole(t map[string]any) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	params := section(t, "Parameters")
	for _, name := range []string{"TrustedPrincipalArn", "ExternalId", "TrailBucketName", "KmsKeyArn", "QueueArn"} {
		if params[name] == nil {
			bad("parameter %s missing", name)
		}
	}
	ext, _ := params["ExternalId"].(map[string]any)
	if ext["NoEcho"] != true {
		bad("ExternalId is not NoEcho")
	}
	if n, _ := ext["MinLength"].(int); n < 2 {
		bad("ExternalId MinLength %v, want at least 2 (STS's minimum)", ext["MinLength"])
	}
	for _, name := range []string{"KmsKeyArn", "QueueArn"} {
		if d, ok := get(params, name, "Default").(string); !ok || d != "" {
			bad("parameter %s is not optional (Default \"\")", name)
		}
	}
	roleName, role := only(&p, "AWS::IAM::Role", resourcesOf(t, "AWS::IAM::Role"))
	if role == nil {
		return p
	}
	// The trust policy: only with the external ID.
	trust := statements(get(role, "Properties", "AssumeRolePolicyDocument"))
	if len(trust) == 0 {
		bad("no trust policy statements")
	}
	for i, st := range trust {
		if st["Effect"] != "Allow" {
			continue
		}
		if a, _ := strs(st["Action"]); !slices.Equal(a, []string{"sts:AssumeRole"}) {
			bad("trust statement %d allows %v, want sts:AssumeRole", i+1, st["Action"])
		}
		if !isRef(get(st, "Principal", "AWS"), "TrustedPrincipalArn") {
			bad("trust statement %d: Principal %v, want AWS: !Ref TrustedPrincipalArn", i+1, st["Principal"])
		}
		if !isRef(get(st, "Condition", "StringEquals", "sts:ExternalId"), "ExternalId") {
			bad("trust statement %d has no condition StringEquals sts:ExternalId: !Ref ExternalId", i+1)
		}
	}
	// The permissions: exactly the read actions trailstream uses, each on its resources.
	pols, _ := get(role, "Properties", "Policies").([]any)
	granted := map[string][]any{} // action -> resources
	conditional := map[string]string{}
	for _, pol := range pols {
		list, _ := get(pol, "PolicyDocument", "Statement").([]any)
		for _, raw := range list {
			cond := ""
			if args, ok := get(raw, "Fn::If").([]any); ok && len(args) == 3 {
				cond = fmt.Sprint(args[0])
			}
			for _, b := range branches(raw) {
				st, _ := b.(map[string]any)
				if st["Effect"] != "Allow" {
					continue
				}
				actions, _ := strs(st["Action"])
				for _, a := range actions {
					granted[a] = append(granted[a], st["Resource"])
					if cond != "" {
						conditional[a] = cond
					}
				}
			}
		}
	}
	want := []string{"cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "ec2:DescribeRegions", "kms:Decrypt",
		"s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage",
		"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"}
	if got := slices.Sorted(maps.Keys(granted)); !slices.Equal(got, want) {
		bad("the role allows %v, want exactly %v", got, want)
	}
	bucketARN := "arn:${AWS::Partition}:s3:::${TrailBucketName}"
	for _, a := range []string{"s3:ListBucket", "s3:GetBucketLocation"} {
		for _, r := range granted[a] {
			if get(r, "Fn::Sub") != bucketARN {
				bad("%s on %v, want the bucket's ARN %s (bucket-level action)", a, r, bucketARN)
			}
		}
	}
	for _, r := range granted["s3:GetObject"] {
		s, _ := get(r, "Fn::Sub").(string)
		if !strings.HasPrefix(s, bucketARN+"/") || !strings.HasSuffix(s, "*") {
			bad("s3:GetObject on %v, want objects of the bucket (%s/...*)", r, bucketARN)
		}
	}
	for _, r := range granted["kms:Decrypt"] {
		if !isRef(r, "KmsKeyArn") {
			bad("kms:Decrypt on %v, want !Ref KmsKeyArn", r)
		}
	}
	for _, r := range granted["sqs:ReceiveMessage"] {
		if !isRef(r, "QueueArn") {
			bad("sqs:ReceiveMessage on %v, want !Ref QueueArn", r)
		}
	}
	for action, param := range map[string]string{"kms:Decrypt": "KmsKeyArn", "sqs:ReceiveMessage": "QueueArn"} {
		cond := conditional[action]
		def := get(t, "Conditions", cond)
		not, _ := get(def, "Fn::Not").([]any)
		var eq []any
		if len(not) == 1 {
			eq, _ = get(not[0], "Fn::Equals").([]any)
		}
		if !slices.ContainsFunc(eq, func(x any) bool { return isRef(x, param) }) || !slices.Contains(eq, any("")) {
			bad("%s is not granted only when %s is given (condition %q = %v)", action, param, cond, def)
		}
	}
	if out := get(t, "Outputs", "RoleArn", "Value"); !isGetAtt(out, roleName, "Arn") {
		bad("output RoleArn is %v, want !GetAtt %s.Arn", out, roleName)
	}
	return p
}

// queue checks trailstream-queue.yaml's promises.
func queue(t map[string]any) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	queues := resourcesOf(t, "AWS::SQS::Queue")
	var main, dlq string
	for name, q := range queues {
		if rp := get(q, "Properties", "RedrivePolicy"); rp != nil {
			main = name
			target, _ := get(rp, "deadLetterTargetArn").(map[string]any)
			if l, ok := target["Fn::GetAtt"].([]any); ok && len(l) == 2 {
				dlq = fmt.Sprint(l[0])
			}
			if n, _ := get(rp, "maxReceiveCount").(int); n < 1 && !isRef(get(rp, "maxReceiveCount"), "MaxReceiveCount") {
				bad("maxReceiveCount %v", get(rp, "maxReceiveCount"))
			}
		}
	}
	if main == "" || dlq == "" || queues[dlq] == nil || dlq == main || len(queues) != 2 {
		bad("want a queue whose RedrivePolicy sends to a dead-letter queue of its own (queues %v, main %q, dlq %q)",
			slices.Sorted(maps.Keys(queues)), main, dlq)
		return p
	}
	mainRet, _ := get(queues[main], "Properties", "MessageRetentionPeriod").(int)
	dlqRet, _ := get(queues[dlq], "Properties", "MessageRetentionPeriod").(int)
	if dlqRet <= mainRet {
		bad("the dead-letter queue keeps messages %d s, not longer than the queue's %d s", dlqRet, mainRet)
	}
	// The queue policy: S3, from the trail bucket of the right account only.
	_, qp := only(&p, "AWS::SQS::QueuePolicy", resourcesOf(t, "AWS::SQS::QueuePolicy"))
	if qp != nil {
		if l, _ := get(qp, "Properties", "Queues").([]any); len(l) != 1 || !isRef(l[0], main) {
			bad("the queue policy is not on %s", main)
		}
		found := false
		for _, st := range statements(get(qp, "Properties", "PolicyDocument")) {
			if st["Effect"] != "Allow" {
				continue
			}
			if get(st, "Principal", "Service") != "s3.amazonaws.com" || st["Action"] != "sqs:SendMessage" || !isGetAtt(st["Resource"], main, "Arn") {
				bad("queue policy Allow %v to %v on %v, want sqs:SendMessage to s3.amazonaws.com on the queue", st["Action"], st["Principal"], st["Resource"])
				continue
			}
			src, _ := get(st, "Condition", "ArnLike", "aws:SourceArn").(map[string]any)
			if s, _ := src["Fn::Sub"].(string); !strings.Contains(s, "${TrailBucketName}") {
				bad("the queue policy's aws:SourceArn %v is not the trail bucket", src)
			}
			if get(st, "Condition", "StringEquals", "aws:SourceAccount") == nil {
				bad("the queue policy has no aws:SourceAccount condition")
			}
			found = true
		}
		if !found {
			bad("the queue policy allows S3 nothing")
		}
	}
	// The bucket's notifications, when the stack makes the bucket.
	bucketName, bucket := only(&p, "AWS::S3::Bucket", resourcesOf(t, "AWS::S3::Bucket"))
	if bucket != nil {
		qcs, _ := get(bucket, "Properties", "NotificationConfiguration", "QueueConfigurations").([]any)
		ok := false
		for _, qc := range qcs {
			rules, _ := get(qc, "Filter", "S3Key", "Rules").([]any)
			prefix := false
			for _, r := range rules {
				s, _ := get(r, "Value", "Fn::Sub").(string)
				if get(r, "Name") == "prefix" && strings.HasSuffix(s, "AWSLogs/") {
					prefix = true
				}
			}
			if get(qc, "Event") == "s3:ObjectCreated:*" && isGetAtt(get(qc, "Queue"), main, "Arn") && prefix {
				ok = true
			}
		}
		if !ok {
			bad("the bucket does not notify %s of s3:ObjectCreated:* under AWSLogs/", main)
		}
		deps, _ := strs(bucket["DependsOn"])
		if !slices.ContainsFunc(deps, func(d string) bool { return resourcesOf(t, "AWS::SQS::QueuePolicy")[d] != nil }) {
			bad("the bucket does not depend on the queue policy (S3 checks it may send when the notification is set)")
		}
		if bucket["DeletionPolicy"] != "Retain" {
			bad("the trail bucket's DeletionPolicy is %v: deleting the stack would delete the logs", bucket["DeletionPolicy"])
		}
		_, bp := only(&p, "AWS::S3::BucketPolicy", resourcesOf(t, "AWS::S3::BucketPolicy"))
		if bp != nil {
			if !isRef(get(bp, "Properties", "Bucket"), bucketName) {
				bad("the bucket policy is not on %s", bucketName)
			}
			var acl, write bool
			for _, st := range statements(get(bp, "Properties", "PolicyDocument")) {
				if st["Effect"] != "Allow" || get(st, "Principal", "Service") != "cloudtrail.amazonaws.com" {
					continue
				}
				switch st["Action"] {
				case "s3:GetBucketAcl":
					acl = true
				case "s3:PutObject":
					write = get(st, "Condition", "StringEquals", "s3:x-amz-acl") == "bucket-owner-full-control"
				}
			}
			if !acl || !write {
				bad("the bucket policy does not let CloudTrail check the ACL (%v) and write with bucket-owner-full-control (%v)", acl, write)
			}
		}
	}
	outs := section(t, "Outputs")
	for _, name := range []string{"QueueArn", "QueueUrl", "DeadLetterQueueArn", "BucketNotificationConfiguration"} {
		if outs[name] == nil {
			bad("output %s missing", name)
		}
	}
	if !isGetAtt(get(outs, "QueueArn", "Value"), main, "Arn") || !isRef(get(outs, "QueueUrl", "Value"), main) {
		bad("outputs QueueArn and QueueUrl are not the queue's")
	}
	// The notification configuration for an existing bucket is the JSON the CLI takes.
	s, _ := get(outs, "BucketNotificationConfiguration", "Value", "Fn::Sub").(string)
	var nc struct {
		QueueConfigurations []struct {
			QueueArn string
			Events   []string
			Filter   struct {
				Key struct {
					FilterRules []struct{ Name, Value string }
				}
			}
		}
	}
	filled := subVarRE.ReplaceAllString(s, "x")
	if err := json.Unmarshal([]byte(filled), &nc); err != nil || len(nc.QueueConfigurations) != 1 {
		bad("output BucketNotificationConfiguration is not a notification configuration: %v (%s)", err, filled)
	} else if c := nc.QueueConfigurations[0]; !slices.Equal(c.Events, []string{"s3:ObjectCreated:*"}) ||
		len(c.Filter.Key.FilterRules) != 1 || c.Filter.Key.FilterRules[0].Value != "xAWSLogs/" || !strings.Contains(s, "${"+main+".Arn}") {
		bad("output BucketNotificationConfiguration %s is not for s3:ObjectCreated:* under AWSLogs/ to the queue", s)
	}
	return p
}

var templates = []struct {
	file  string
	check func(map[string]any) []string
}{
	{"trailstream-read-role.yaml", readRole},
	{"trailstream-queue.yaml", queue},
}

// problems returns every problem of template b checked as file.
func problems(t *testing.T, file string, b []byte, check func(map[string]any) []string) []string {
	t.Helper()
	out := validate(file, b)
	if tm, err := parse(b); err == nil {
		out = append(out, check(tm)...)
	}
	return out
}

func TestTemplates(t *testing.T) {
	for _, tt := range templates {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems(t, tt.file, b, tt.check) {
				t.Error(p)
			}
		})
	}
}

// A broken template fails: every defect of testdata/broken-read-role.yaml is found.
func TestBrokenCopy(t *testing.T) {
	b, err := os.ReadFile("testdata/broken-read-role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(problems(t, "broken-read-role.yaml", b, readRole), "\n")
	for _, want := range []string{
		"AWSTemplateFormatVersion 2010-09-10",
		"TrailBuckett is not a parameter",
		"ReadRole (AWS::IAM::Role) has no attribute Arnn",
		"Version 2008-10-17, want 2012-10-17",
		"Allow of the wildcard action \"s3:Put*\"",
		"trust statement 1 has no condition StringEquals sts:ExternalId",
		"ExternalId is not NoEcho",
		"s3:ListBucket on map[Fn::Sub:arn:${AWS::Partition}:s3:::${TrailBucketName}/*], want the bucket's ARN",
		"parameter QueueArn is not used",
		"condition HasQueue is not declared",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no problem %q among:\n%s", want, got)
		}
	}
}

// Each single defect, made in a copy of the real template, is found.
func TestDefects(t *testing.T) {
	tests := []struct {
		file, old, new, want string
	}{
		{"trailstream-read-role.yaml", "!Ref ExternalId", "!Ref ExternalID", "ExternalID is not a parameter"},
		{"trailstream-read-role.yaml", "Type: AWS::IAM::Role", "Type: AWS::IAM::Rolle", `type "AWS::IAM::Rolle"`},
		{"trailstream-read-role.yaml", "      AssumeRolePolicyDocument:", "      AssumeRolePolicy:", "required property AssumeRolePolicyDocument missing"},
		{"trailstream-read-role.yaml", "s3:GetObject", "s3:GetObject*", `wildcard action "s3:GetObject*"`},
		{"trailstream-read-role.yaml", "- sqs:GetQueueUrl", "- sqs:SendMessage", "the role allows"},
		{"trailstream-read-role.yaml", "Resource: !Ref QueueArn", `Resource: "*"`, "sqs:ReceiveMessage on every resource"},
		{"trailstream-read-role.yaml", "Effect: Allow\n            Principal", "Effect: Permit\n            Principal", "Effect Permit"},
		{"trailstream-read-role.yaml", "- HasKmsKey\n", "- HasQueue\n", "kms:Decrypt is not granted only when KmsKeyArn is given"},
		{"trailstream-read-role.yaml", "Value: !GetAtt ReadRole.Arn", "Value: !GetAtt ReadRole.RoleId", "output RoleArn"},
		{"trailstream-read-role.yaml", "MinLength: 16", "MinLength: 1", "ExternalId MinLength"},
		{"trailstream-read-role.yaml", "${TrailKeyPrefix}*", "${TrailPrefix}*", "TrailPrefix is not a parameter"},
		{"trailstream-read-role.yaml", "Default: trailstream-read", "Default: trailstream read", "Default \"trailstream read\" does not match"},
		{"trailstream-queue.yaml", "      RedrivePolicy:", "      RedrivePolicyX:", "unknown property RedrivePolicyX"},
		{"trailstream-queue.yaml", "deadLetterTargetArn: !GetAtt DeadLetterQueue.Arn", "deadLetterTargetArn: !GetAtt Queue.Arn", "a dead-letter queue of its own"},
		{"trailstream-queue.yaml", "                aws:SourceAccount: !If", "                aws:SourceOwner: !If", "no aws:SourceAccount condition"},
		{"trailstream-queue.yaml", "- Event: s3:ObjectCreated:*", "- Event: s3:ObjectRemoved:*", "does not notify Queue"},
		{"trailstream-queue.yaml", "    DependsOn: QueuePolicy\n", "", "does not depend on the queue policy"},
		{"trailstream-queue.yaml", "    DeletionPolicy: Retain\n", "", "would delete the logs"},
		{"trailstream-queue.yaml", "Condition: CreateBucket\n    # S3", "Condition: MakeBucket\n    # S3", "condition MakeBucket is not declared"},
		{"trailstream-queue.yaml", "Queue: !GetAtt Queue.Arn", "Queue: !GetAtt Queue.Url", "has no attribute Url"},
		{"trailstream-queue.yaml", `"Events":["s3:ObjectCreated:*"]`, `"Events":"s3:ObjectCreated:*"`, "is not a notification configuration"},
		{"trailstream-queue.yaml", "Principal: \"*\"\n            Action: sqs:*", "Principal: \"*\"\n            Action: sqs:*\n            NotResource: x", "key NotResource"},
		{"trailstream-queue.yaml", "Default: \"false\"", "Default: \"no\"", "not among AllowedValues"},
		{"trailstream-queue.yaml", "        - !Ref Queue\n", "        - !Ref Queue\n        - !Reff Queue\n", "unknown tag !Reff"},
	}
	for _, tt := range tests {
		t.Run(tt.file+" "+tt.want, func(t *testing.T) {
			b, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.old) {
				t.Fatalf("%s has no %q to break", tt.file, tt.old)
			}
			broken := strings.Replace(string(b), tt.old, tt.new, 1)
			check := readRole
			if tt.file == "trailstream-queue.yaml" {
				check = queue
			}
			got := problems(t, tt.file, []byte(broken), check)
			if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("no problem %q among %q", tt.want, got)
			}
		})
	}
}

func TestShortTags(t *testing.T) {
	b := []byte(`A: !Ref X
B: !GetAtt R.Arn
C: !Sub "${X}-${R.Arn}"
D: !If [C1, !Ref X, !Ref AWS::NoValue]
E: !Join ["", [a, !Select [0, !GetAZs ""]]]
F: !Not [!Equals [!Ref X, ""]]
`)
	got, err := parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"A": map[string]any{"Ref": "X"},
		"B": map[string]any{"Fn::GetAtt": []any{"R", "Arn"}},
		"C": map[string]any{"Fn::Sub": "${X}-${R.Arn}"},
		"D": map[string]any{"Fn::If": []any{"C1", map[string]any{"Ref": "X"}, map[string]any{"Ref": "AWS::NoValue"}}},
		"E": map[string]any{"Fn::Join": []any{"", []any{"a", map[string]any{"Fn::Select": []any{0, map[string]any{"Fn::GetAZs": ""}}}}}},
		"F": map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "X"}, ""}}}},
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("parse:\n got %s\nwant %s", gj, wj)
	}
	if _, err := parse([]byte("A: !GetAtt NoDot\n")); err == nil {
		t.Error("!GetAtt without an attribute accepted")
	}
	// Nested aliases: 10^6 nodes from a few lines.
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i, prev := range []string{"a", "b", "c", "d", "e"} {
		name := string(rune('b' + i))
		bomb += name + ": &" + name + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
	}
	if _, err := parse([]byte(bomb)); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("an alias bomb: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, tt := range templates {
		b, err := os.ReadFile(tt.file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("A: !If [x, !Sub '${A.B}', !GetAtt C.D]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := parse(b); err != nil {
			return
		}
		_ = validate("fuzz", b) // must not panic on any template
	})
}
