package generate

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/geo"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
	"github.com/trailstream/trailstream/pkg/rules"
)

// nearMisses are the scenarios made to come close to a rule without meeting it (and a few
// of the older scenarios that do the same): none of their events (those match picks, all
// when it is nil) may be in a detection of the rules named.
var nearMisses = []struct {
	scenario string
	rules    []string
	match    func(e *model.Event) bool
}{
	{"forgotten-password", []string{"console-login-brute-force"}, nil},                          // 9 failures in 10 minutes
	{"unknown-names", []string{"console-login-brute-force"}, nil},                               // 9 hidden names from one address
	{"office-typos", []string{"console-password-spray"}, nil},                                   // 4 users failing from one address
	{"second-device", []string{"console-login-multiple-ips"}, nil},                              // 2 addresses of one country
	{"mfa-typo", []string{"mfa-challenge-failures"}, nil},                                       // 1 failed MFA code
	{"root-password-forgotten", []string{"root-console-login-failures"}, nil},                   // 4 failed root sign-ins
	{"root-login", []string{"root-account-activity"}, nil},                                      // root only reads
	{"denied-retries", []string{"authorization-failure-burst"}, nil},                            // 12 denials in 10 minutes
	{"read-only-granted", []string{"admin-policy-attached"}, nil},                               // ReadOnlyAccess
	{"inline-policy", []string{"admin-policy-attached"}, nil},                                   // a bucket's objects, not *
	{"key-rotation", []string{"access-key-created-for-other-user", rules.ShortLivedIAMID}, nil}, // one's own key
	{"org-trust", []string{"iam-role-trust-opened"}, nil},                                       // "*" within the organization
	{"guardduty-frequency", []string{"guardduty-tampered"}, nil},                                // findings hourly
	{"data-events-added", []string{"cloudtrail-trail-weakened"}, nil},                           // management events kept
	{"rds-resize", []string{"rds-instance-made-public"}, nil},                                   // a new instance class
	{"snapshot-shared", []string{"snapshot-or-image-made-public"}, nil},                         // with one account
	{"private-ingress", []string{"security-group-open-to-world"}, nil},                          // from 10.0.0.0/8
	{"allow-all-acl", []string{"network-acl-open-to-world"}, egressEntry},                       // allow-all egress
	{"bucket-acl", []string{"s3-bucket-made-public"}, nil},                                      // a private ACL
	{"bucket-policy", []string{"s3-bucket-made-public"}, nil},                                   // a policy confined to a VPC endpoint or an account
	{"bucket-lifecycle", []string{"s3-bucket-made-public", "s3-object-made-public"}, nil},       // all public access blocked
	{"object-owner-acl", []string{"s3-object-made-public"}, nil},                                // bucket-owner-full-control
	{"versioning-enabled", []string{"s3-bucket-protection-removed"}, nil},                       // versioning on
	{"cleanup-batch", []string{"s3-mass-object-deletion"}, nil},                                 // 40 objects in one batch
	{"instance-resized", []string{"ec2-user-data-modified"}, nil},                               // a new instance type
	{"lambda-trigger", []string{"lambda-backdoor-change"}, nil},                                 // invoked by its bucket, a URL with IAM auth
	{"service-start", []string{"secrets-mass-retrieval"}, nil},                                  // 10 to 12 secrets
}

// egressEntry picks the network ACL entries for outbound traffic.
func egressEntry(e *model.Event) bool {
	return e.EventName == "CreateNetworkAclEntry" && strings.Contains(e.Raw, `"egress":true`)
}

// detected is what the rules make of a generated run.
type detected struct {
	events     []*model.Event
	scenario   map[string]string // event ID: the scenario that made the event
	detections []model.Detection
}

// detectAll generates o's records, normalizes each as the demo's pipeline does (geolocated,
// no admin list yet) and runs every built-in rule over them in time order.
func detectAll(t *testing.T, o Options) detected {
	t.Helper()
	loc, err := geo.New("")
	if err != nil {
		t.Fatal(err)
	}
	n := &normalize.Normalizer{Environment: "demo", Geo: loc}
	eng := rules.NewEngine(rules.Default())
	out := detected{scenario: map[string]string{}}
	i := int64(0)
	for rec := range Records(o) {
		e, err := n.Normalize(rec.JSON)
		if err != nil {
			t.Fatalf("record does not normalize: %v\n%s", err, rec.JSON)
		}
		out.events = append(out.events, e)
		out.scenario[e.EventID] = rec.scenario
		out.detections = append(out.detections, eng.Observe(e, rules.Position{Offset: i})...)
		i++
	}
	return out
}

// TestRulesFire runs the detector's rules over the demo's day (20,000 records over 24
// hours) of several seeds: every built-in rule fires at least once, and the near misses
// generated beside the incidents do not.
func TestRulesFire(t *testing.T) {
	var want []string
	for _, b := range rules.Builtins() {
		want = append(want, b.ID)
	}
	for _, nm := range nearMisses {
		if !slices.ContainsFunc(scenarios, func(sc scenario) bool { return sc.name == nm.scenario }) {
			t.Errorf("near miss %q: no such scenario", nm.scenario)
		}
		for _, id := range nm.rules {
			if !slices.Contains(want, id) {
				t.Errorf("near miss %q names rule %q, which is not built in", nm.scenario, id)
			}
		}
	}
	for _, seed := range []uint64{13, 14} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			got := detectAll(t, Options{Events: 20000, Seed: seed, Start: t0, Span: 24 * time.Hour})
			fired := map[string]int{}
			for _, d := range got.detections {
				fired[d.RuleID]++
			}
			var table []string
			for _, id := range want {
				table = append(table, fmt.Sprintf("%-40s %4d", id, fired[id]))
				if fired[id] == 0 {
					t.Errorf("rule %s did not fire", id)
				}
			}
			t.Logf("detections by rule:\n%s", strings.Join(table, "\n"))
			for _, nm := range nearMisses {
				checkNearMiss(t, got, nm.scenario, nm.rules, nm.match)
			}
		})
	}
}

// checkNearMiss checks that the run has events of the scenario (those match picks) and that
// no detection of the rules holds one.
func checkNearMiss(t *testing.T, got detected, scenario string, ruleIDs []string, match func(*model.Event) bool) {
	t.Helper()
	ids := map[string]bool{}
	for _, e := range got.events {
		if got.scenario[e.EventID] == scenario && (match == nil || match(e)) {
			ids[e.EventID] = true
		}
	}
	if len(ids) == 0 {
		t.Errorf("near miss %s: no events", scenario)
		return
	}
	for _, d := range got.detections {
		if !slices.Contains(ruleIDs, d.RuleID) {
			continue
		}
		if i := slices.IndexFunc(d.EventIDs, func(id string) bool { return ids[id] }); i >= 0 {
			var with []string // the scenarios whose events it holds
			for _, id := range d.EventIDs {
				if sc := got.scenario[id]; !slices.Contains(with, sc) {
					with = append(with, sc)
				}
			}
			t.Errorf("near miss %s fired %s: %q (event %s; events of %s)", scenario, d.RuleID, d.Title, d.EventIDs[i], strings.Join(with, ", "))
		}
	}
}
