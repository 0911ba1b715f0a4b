package sigma

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trailstream/trailstream/pkg/rules"
)

// manyRules writes n rules in the shapes of SigmaHQ's CloudTrail rules over the event
// names of the generated records (an eventSource and eventName selection and a test of
// another field, some with a filter), and a few that look at every event, and returns the
// folder.
func manyRules(b *testing.B, n int) string {
	names := map[string]string{}
	for _, e := range generated(b) {
		names[e.EventName] = e.EventSource
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range names {
			if !yield(k) {
				return
			}
		}
	})
	var sb strings.Builder
	extra := []string{
		"        userAgent|contains: 'S3 Browser'\n",
		"        requestParameters.userName|startswith: 'svc-'\n",
		"        errorCode:\n            - 'Success'\n            - null\n        userAgent|contains: 'Boto3/1.9.'\n",
		"        userIdentity.sessionContext.sessionIssuer.type: Role\n        sourceIPAddress|cidr: '198.18.0.0/15'\n",
		"        requestParameters|contains: 'Suspended'\n",
		"        userAgent|re: '^python-requests/'\n",
	}
	for i := range n {
		name := keys[i%len(keys)]
		fmt.Fprintf(&sb, "title: Rule %d\nid: bench-%d\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n    selection:\n        eventSource: '%s'\n        eventName: '%s'\n%s",
			i, i, names[name], name, extra[i%len(extra)])
		if i%4 == 0 {
			sb.WriteString("    filter:\n        userIdentity.type: AssumedRole\n    condition: selection and not filter\n---\n")
		} else {
			sb.WriteString("    condition: selection\n---\n")
		}
	}
	// Rules on every event, as a few of SigmaHQ's are.
	sb.WriteString(`title: Root
id: bench-root
logsource: {product: aws, service: cloudtrail}
detection:
    selection:
        userIdentity.type: Root
    filter:
        eventType: AwsServiceEvent
    condition: selection and not filter
---
title: A tool's user agent
id: bench-ua
logsource: {product: aws, service: cloudtrail}
detection:
    selection:
        userAgent|contains:
            - 'TruffleHog'
            - 'Pacu'
            - 'ScoutSuite'
    condition: selection
---
title: An instance role's credentials
id: bench-imds
logsource: {product: aws, service: cloudtrail}
detection:
    selection:
        userIdentity.arn|re: '.+:assumed-role/aws:.+'
    condition: selection
`)
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// roleSessions is a rule in the shape of SigmaHQ's AssumeRole misuse rule, which matches
// every call made with a role's session: a third of the generated events. What a
// detection costs counts here.
const roleSessions = `title: Role sessions
id: bench-role-sessions
logsource: {product: aws, service: cloudtrail}
tags: [attack.lateral-movement, attack.t1550]
detection:
    selection:
        userIdentity.type: AssumedRole
        userIdentity.sessionContext.sessionIssuer.type: Role
    condition: selection
level: low
`

// writeRule writes a rule file and returns its path.
func writeRule(b *testing.B, rule string) string {
	p := filepath.Join(b.TempDir(), "rule.yml")
	if err := os.WriteFile(p, []byte(rule), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkSigma runs Sigma rules over a day of generated records: the rules written for
// the tests, and 300 rules shaped like SigmaHQ's with the tests' correlations, and one rule that matches a third of
// the events, against the engine with no rule at all.
func BenchmarkSigma(b *testing.B) {
	stream := generated(b)
	for _, tc := range []struct {
		name  string
		paths func() []string
	}{
		{"no rules", func() []string { return nil }},
		{"test rules", func() []string { return []string{"testdata/match", "testdata/index", "testdata/correlation"} }},
		{"300 rules", func() []string { return []string{manyRules(b, 300), "testdata/correlation"} }},
		{"role sessions", func() []string { return []string{writeRule(b, roleSessions)} }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			paths := tc.paths()
			o := Options{Placeholders: map[string][]string{"Administrators": {"admin"}, "Accounts": {"123456789012"}}}
			load := func() []rules.Rule {
				if len(paths) == 0 {
					return nil
				}
				rs, rep, err := Load(paths, o)
				if err != nil || rep.Failed() {
					b.Fatal(err, rep.Problems)
				}
				return rs
			}
			rs := load()
			eng := rules.NewEngine(rs)
			n, detections := 0, 0
			for b.Loop() {
				if n%len(stream) == 0 && n > 0 {
					eng = rules.NewEngine(load()) // the stream starts over: so do the rules
				}
				detections += len(eng.Observe(stream[n%len(stream)], rules.Position{Offset: int64(n)}))
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(detections)/float64(n), "detections/record")
			b.ReportMetric(float64(len(rs)), "rules")
		})
	}
}
