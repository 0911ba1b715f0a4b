package rules

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// policyDoc is an IAM policy document, as far as the rules read one: its statements.
type policyDoc struct {
	Statements []policyStatement
}

// policyStatement is one statement of a policy. Action, Resource and the principals are
// lists whatever the document wrote (a string or an array).
type policyStatement struct {
	Effect       string
	Action       []string
	NotAction    []string
	Resource     []string
	Principal    principals
	NotPrincipal bool // the statement names NotPrincipal: with Allow, everyone but them
	Condition    map[string]map[string]any
}

// principals are the Principal of a statement.
type principals struct {
	Any                     bool // "*", or "*" among the AWS principals
	AWS, Service, Federated []string
}

// parsePolicy reads a policy document as CloudTrail records one: a JSON object, a string
// holding the JSON, or that string URL-encoded (IAM writes policyDocument and
// assumeRolePolicyDocument both ways). A single statement not wrapped in an array is read
// too. ok is false for anything that is not a policy.
func parsePolicy(v any) (doc policyDoc, ok bool) {
	m, ok := v.(map[string]any)
	if s, isString := v.(string); isString {
		m, ok = policyObject(s)
	}
	if !ok {
		return policyDoc{}, false
	}
	var stmts []any
	switch s := m["Statement"].(type) {
	case map[string]any:
		stmts = []any{s}
	case []any:
		stmts = s
	default:
		return policyDoc{}, false
	}
	for _, raw := range stmts {
		s, isMap := raw.(map[string]any)
		if !isMap {
			continue
		}
		st := policyStatement{
			Effect:    jsonString(s["Effect"]),
			Action:    jsonStrings(s["Action"]),
			NotAction: jsonStrings(s["NotAction"]),
			Resource:  jsonStrings(s["Resource"]),
			Condition: policyConditions(s["Condition"]),
		}
		if p, has := s["NotPrincipal"]; has {
			st.NotPrincipal, st.Principal = true, principalsOf(p)
		} else {
			st.Principal = principalsOf(s["Principal"])
		}
		doc.Statements = append(doc.Statements, st)
	}
	return doc, true
}

// policyObject decodes a policy held in a string, URL-encoded or not.
func policyObject(s string) (map[string]any, bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "%") {
		dec, err := url.PathUnescape(s)
		if err != nil {
			dec, err = url.QueryUnescape(s)
		}
		if err != nil {
			return nil, false
		}
		s = dec
	}
	var m map[string]any
	if json.Unmarshal([]byte(s), &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

func jsonString(v any) string {
	s, _ := v.(string)
	return s
}

// jsonStrings reads a string or an array of strings.
func jsonStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func principalsOf(v any) principals {
	switch x := v.(type) {
	case string:
		return principals{Any: x == "*"}
	case map[string]any:
		p := principals{AWS: jsonStrings(x["AWS"]), Service: jsonStrings(x["Service"]), Federated: jsonStrings(x["Federated"])}
		p.Any = slices.Contains(p.AWS, "*")
		return p
	}
	return principals{}
}

func policyConditions(v any) map[string]map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]map[string]any, len(m))
	for op, tests := range m {
		if t, ok := tests.(map[string]any); ok {
			out[op] = t
		}
	}
	return out
}

// grantsAll reports whether a statement of the policy allows every action ("*" or "*:*")
// on every resource ("*"): administrator access, whatever the policy is called.
func (d policyDoc) grantsAll() bool {
	for _, s := range d.Statements {
		if s.Effect == "Allow" && (slices.Contains(s.Action, "*") || slices.Contains(s.Action, "*:*")) &&
			slices.Contains(s.Resource, "*") {
			return true
		}
	}
	return false
}

// openTrust returns who a role's trust policy lets in that it should not: "*" for
// everyone (Principal "*" or {"AWS": "*"} that no condition confines to known accounts or
// an organization, or an Allow with NotPrincipal), and the IDs of the accounts of AWS
// principals that are neither own nor one of known. Service and federated principals are
// not judged. The result is sorted, without repeats; nil when the trust is closed.
func (d policyDoc) openTrust(own string, known []string) []string {
	var out []string
	for _, s := range d.Statements {
		if s.Effect != "Allow" {
			continue
		}
		if s.NotPrincipal || (s.Principal.Any && !confinedBy(s.Condition)) {
			out = append(out, "*")
			continue
		}
		for _, p := range s.Principal.AWS {
			if acct := principalAccount(p); acct != "" && acct != own && !slices.Contains(known, acct) {
				out = append(out, acct)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

var accountIDPattern = regexp.MustCompile(`^\d{12}$`)

// principalAccount returns the account of an AWS principal: the ID itself, or the account
// of an ARN (arn:aws:iam::111122223333:root, ...:role/x); "" for anything else (a
// principal's unique ID, left when the principal was deleted).
func principalAccount(p string) string {
	if accountIDPattern.MatchString(p) {
		return p
	}
	if f := strings.SplitN(p, ":", 6); len(f) == 6 && f[0] == "arn" && accountIDPattern.MatchString(f[4]) {
		return f[4]
	}
	return ""
}

// confiningKeys are the condition keys that, required to equal given values, confine a
// statement with Principal "*" to known networks, accounts, organizations or principals
// (lower case: condition keys are case-insensitive).
var confiningKeys = map[string]bool{
	"aws:sourceip": true, "aws:sourcevpc": true, "aws:sourcevpce": true, "aws:sourcearn": true,
	"aws:sourceaccount": true, "aws:sourceowner": true, "aws:sourceorgid": true, "aws:sourceorgpaths": true,
	"aws:principalorgid": true, "aws:principalorgpaths": true, "aws:principalaccount": true,
	"aws:principalarn": true, "aws:userid": true,
}

// confinedBy reports whether conditions confine a statement: a positive test (not a Not…
// operator, not …IfExists, which passes when the key is absent, not Null) of a confining
// key, and for aws:SourceIp a range that is not the whole Internet.
func confinedBy(cond map[string]map[string]any) bool {
	for op, tests := range cond {
		if strings.Contains(op, "Not") || strings.HasSuffix(op, "IfExists") || op == "Null" {
			continue
		}
		for key, val := range tests {
			key = strings.ToLower(key)
			if !confiningKeys[key] {
				continue
			}
			if vals := jsonStrings(val); key == "aws:sourceip" && (slices.Contains(vals, "0.0.0.0/0") || slices.Contains(vals, "::/0")) {
				continue
			}
			return true
		}
	}
	return false
}
