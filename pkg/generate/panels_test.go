package generate

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/geo"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
)

// The console's 44 panels (services/console/dashboards.go), each of which generated data
// must fill. The conditions below restate each panel's semantics on normalized events; they
// are written here, not taken from the console, so a change on either side shows.
var panelIDs = []string{
	"overview-geo", "overview-created-resources", "overview-deleted-resources", "overview-top-users",
	"overview-failed-logins", "overview-network-security-events",
	"users-geo", "users-admin-activity-over-time", "users-admin-top-activities", "users-top-users",
	"users-instances-by-user", "users-admin-recent-activity",
	"netsec-authz-failures-geo", "netsec-authz-failures-recent", "netsec-authz-failures-over-time",
	"netsec-events-over-time", "netsec-sg-nacl-changes", "netsec-nacl-allow-all", "netsec-created-deleted",
	"netsec-short-lived",
	"ops-action-events", "ops-services-over-time", "ops-regions-over-time", "ops-eip-recent",
	"ops-created-over-time", "ops-deleted-over-time",
	"logins-geo", "logins-by-user", "logins-over-time", "logins-multiple-ip", "logins-outside-country",
	"logins-outlier-success", "logins-time-compare", "logins-outlier-failure", "logins-without-mfa",
	"s3-new-public-objects", "s3-new-public-objects-over-time", "s3-new-public-objects-table",
	"s3-public-buckets", "s3-public-buckets-over-time", "s3-public-buckets-table",
	"s3-modified-public-objects", "s3-modified-public-objects-over-time", "s3-modified-public-objects-table",
}

// ev is a normalized event with the requestParameters the event model does not carry.
type ev struct {
	*model.Event
	req map[string]any
}

var (
	readName     = regexp.MustCompile(`^(Get|Describe|List|Head)([A-Z]|$)`)
	createdName  = regexp.MustCompile(`^(Create|Run)[A-Z]`)
	deletedName  = regexp.MustCompile(`^Delete[A-Z]`)
	authzCode    = regexp.MustCompile(`^AccessDenied|UnauthorizedOperation$`)
	nounVerb     = regexp.MustCompile(`^[A-Z][a-z]*`)
	createDelete = regexp.MustCompile(`^(Create|Delete)[A-Z]`)
)

func isUser(e ev) bool {
	return e.UserName != "" && !e.UserNameHidden && e.UserType != "AWSService" &&
		!(e.UserType == "AssumedRole" && strings.HasPrefix(e.RoleName, "AWSServiceRoleFor"))
}
func nonRead(e ev) bool { return !readName.MatchString(e.EventName) }
func isAdmin(e ev) bool {
	return slices.ContainsFunc(AdminUsers(), func(n string) bool { return strings.EqualFold(n, e.UserName) })
}
func adminWrite(e ev) bool   { return isAdmin(e) && nonRead(e) }
func isCreated(e ev) bool    { return e.Outcome == "success" && createdName.MatchString(e.EventName) }
func isDeleted(e ev) bool    { return e.Outcome == "success" && deletedName.MatchString(e.EventName) }
func noun(e ev) string       { return nounVerb.ReplaceAllString(e.EventName, "") }
func isLogin(e ev) bool      { return e.EventName == "ConsoleLogin" }
func loginOK(e ev) bool      { return isLogin(e) && e.Outcome == "success" }
func loginFailed(e ev) bool  { return isLogin(e) && e.Outcome == "failure" }
func authzFailure(e ev) bool { return authzCode.MatchString(e.ErrorCode) }
func netsecName(e ev) bool {
	return strings.Contains(e.EventName, "Security") || strings.Contains(e.EventName, "Network")
}
func located(e ev) bool            { return e.CountryCode != "" }
func netsecCreateDelete(e ev) bool { return netsecName(e) && createDelete.MatchString(e.EventName) }
func sgChange(e ev) bool {
	switch e.EventName {
	case "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress":
		return e.Outcome == "success"
	}
	return false
}
func naclChange(e ev) bool {
	switch e.EventName {
	case "CreateNetworkAcl", "CreateNetworkAclEntry", "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation":
		return e.Outcome == "success"
	}
	return false
}
func naclAllowAll(e ev) bool {
	return (e.EventName == "CreateNetworkAclEntry" || e.EventName == "ReplaceNetworkAclEntry") && e.Outcome == "success" &&
		e.req["aclProtocol"] == "-1" && e.req["ruleAction"] == "allow" && (e.req["cidrBlock"] == "0.0.0.0/0" || e.req["ipv6CidrBlock"] == "::/0")
}
func egress(e ev) bool { return e.req["egress"] == true }
func eip(e ev) bool {
	switch e.EventName {
	case "AllocateAddress", "AssociateAddress", "DisassociateAddress", "ReleaseAddress":
		return true
	}
	return false
}
func instances(e ev) bool {
	return (e.EventName == "RunInstances" || e.EventName == "TerminateInstances") && e.Outcome == "success" && e.ResourceType == "ec2-instance"
}
func publicObjectNew(e ev) bool {
	switch e.EventName {
	case "PutObject", "CopyObject", "CreateMultipartUpload":
		return e.IsPublicExposure && e.ResourceType == "s3-object"
	}
	return false
}
func publicObjectACL(e ev) bool {
	return e.EventName == "PutObjectAcl" && e.IsPublicExposure && e.ResourceType == "s3-object"
}
func publicBucket(e ev) bool {
	switch e.EventName {
	case "PutBucketAcl", "CreateBucket", "PutBucketPolicy", "PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock":
		return e.IsPublicExposure && e.ResourceType == "s3-bucket"
	}
	return false
}
func cannedPublic(e ev) bool {
	switch e.req["x-amz-acl"] {
	case "public-read", "public-read-write", "authenticated-read":
		return true
	}
	return false
}
func grantsPublic(e ev) bool {
	b, _ := json.Marshal(e.req)
	return strings.Contains(string(b), "acs.amazonaws.com/groups/global/AllUsers") || strings.Contains(string(b), "acs.amazonaws.com/groups/global/AuthenticatedUsers")
}

func both(a, b func(ev) bool) func(ev) bool { return func(e ev) bool { return a(e) && b(e) } }
func not(a func(ev) bool) func(ev) bool     { return func(e ev) bool { return !a(e) } }
func named(name string) func(ev) bool       { return func(e ev) bool { return e.EventName == name } }

// distinct counts the distinct keys of the matching events.
func distinct(es []ev, match func(ev) bool, key func(ev) string) int {
	seen := map[string]bool{}
	for _, e := range es {
		if match(e) {
			seen[key(e)] = true
		}
	}
	return len(seen)
}

func count(es []ev, match func(ev) bool) int {
	n := 0
	for _, e := range es {
		if match(e) {
			n++
		}
	}
	return n
}

// outlierHours returns the hours of [end-24h, end) whose count of matching events is above
// mean + 3σ (population) of the 10 hours before it, hours without events counting zero.
func outlierHours(es []ev, match func(ev) bool, end time.Time) []time.Time {
	counts := map[time.Time]float64{}
	for _, e := range es {
		if match(e) {
			counts[e.EventTime.Truncate(time.Hour)]++
		}
	}
	var out []time.Time
	for h := end.Add(-24 * time.Hour).Truncate(time.Hour); h.Before(end); h = h.Add(time.Hour) {
		var sum, sq float64
		for i := 1; i <= 10; i++ {
			sum += counts[h.Add(-time.Duration(i)*time.Hour)]
		}
		mean := sum / 10
		for i := 1; i <= 10; i++ {
			d := counts[h.Add(-time.Duration(i)*time.Hour)] - mean
			sq += d * d
		}
		if counts[h] > mean+3*math.Sqrt(sq/10) {
			out = append(out, h)
		}
	}
	return out
}

// normalizeAll generates o's records and normalizes each, failing on any error.
func normalizeAll(t *testing.T, o Options) []ev {
	t.Helper()
	loc, err := geo.New("")
	if err != nil {
		t.Fatal(err)
	}
	n := &normalize.Normalizer{Environment: "test", Geo: loc}
	var out []ev
	for rec := range Records(o) {
		e, err := n.Normalize(rec.JSON)
		if err != nil {
			t.Fatalf("record does not normalize: %v\n%s", err, rec.JSON)
		}
		var r struct {
			RequestParameters map[string]any `json:"requestParameters"`
		}
		if err := json.Unmarshal(rec.JSON, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev{e, r.RequestParameters})
	}
	if len(out) != o.Events {
		t.Fatalf("%d records, want %d", len(out), o.Events)
	}
	return out
}

// panelData is what each panel needs, grouped by what they need: the panels a check fills,
// the window it looks at (a panel's default, ending with the data), and the check.
var panelData = []struct {
	name   string
	panels []string
	window time.Duration
	ok     func(es []ev, end time.Time) error
}{
	{"events from at least 4 countries", []string{"overview-geo", "users-geo"}, 24 * time.Hour, atLeast(4, located, func(e ev) string { return e.CountryCode })},
	{"successful Create/Run of at least 5 nouns", []string{"overview-created-resources", "ops-created-over-time"}, 24 * time.Hour, atLeast(5, isCreated, noun)},
	{"successful Delete of at least 4 nouns", []string{"overview-deleted-resources", "ops-deleted-over-time"}, 24 * time.Hour, atLeast(4, isDeleted, noun)},
	{"at least 10 users", []string{"overview-top-users", "users-top-users"}, 24 * time.Hour, atLeast(10, isUser, func(e ev) string { return e.UserName })},
	{"failed ConsoleLogin", []string{"overview-failed-logins"}, 24 * time.Hour, atLeast(1, loginFailed, eventID)},
	{"Create/Delete of Security or Network, 3 event names", []string{"overview-network-security-events", "netsec-created-deleted"}, 24 * time.Hour, atLeast(3, netsecCreateDelete, eventName)},
	{"non-read calls of at least 2 admins", []string{"users-admin-activity-over-time"}, 24 * time.Hour, atLeast(2, adminWrite, func(e ev) string { return e.UserName })},
	{"admins' non-read calls of at least 5 event names", []string{"users-admin-top-activities"}, 24 * time.Hour, atLeast(5, adminWrite, eventName)},
	{"admins' non-read calls in the last 3 hours", []string{"users-admin-recent-activity"}, 3 * time.Hour, atLeast(1, adminWrite, eventID)},
	{"instances launched by at least 2 users", []string{"users-instances-by-user"}, 24 * time.Hour, atLeast(2, both(instances, named("RunInstances")), userName)},
	{"instances terminated by at least 2 users", []string{"users-instances-by-user"}, 24 * time.Hour, atLeast(2, both(instances, named("TerminateInstances")), userName)},
	{"a launch of several instances", []string{"users-instances-by-user"}, 24 * time.Hour, atLeast(1, both(instances, func(e ev) bool { return len(e.ResourceNames) > 1 }), eventID)},
	{"authorization failures from at least 3 countries", []string{"netsec-authz-failures-geo", "netsec-authz-failures-over-time"}, 24 * time.Hour, atLeast(3, both(authzFailure, located), func(e ev) string { return e.CountryCode })},
	{"AccessDenied* and Client.UnauthorizedOperation", []string{"netsec-authz-failures-over-time"}, 24 * time.Hour, atLeast(2, authzFailure, func(e ev) string {
		return strings.TrimSuffix(e.ErrorCode, "Exception") // AccessDenied, AccessDeniedException: one family
	})},
	{"authorization failures in the last 3 hours", []string{"netsec-authz-failures-recent"}, 3 * time.Hour, atLeast(1, authzFailure, eventID)},
	{"Security or Network calls", []string{"netsec-events-over-time"}, 24 * time.Hour, atLeast(3, netsecName, eventName)},
	{"security-group changes in the last 3 hours", []string{"netsec-sg-nacl-changes"}, 3 * time.Hour, atLeast(1, sgChange, eventID)},
	{"network ACL changes in the last 3 hours", []string{"netsec-sg-nacl-changes"}, 3 * time.Hour, atLeast(1, naclChange, eventID)},
	{"security-group ingress from anywhere", []string{"netsec-sg-nacl-changes"}, 24 * time.Hour, atLeast(1, func(e ev) bool {
		return sgChange(e) && e.EventName == "AuthorizeSecurityGroupIngress" && e.IsPublicExposure
	}, eventID)},
	{"NACL allow-all ingress", []string{"netsec-nacl-allow-all"}, 24 * time.Hour, atLeast(1, both(naclAllowAll, not(egress)), eventID)},
	{"NACL allow-all egress", []string{"netsec-nacl-allow-all"}, 24 * time.Hour, atLeast(1, both(naclAllowAll, egress), eventID)},
	{"NACL allow-all from ::/0", []string{"netsec-nacl-allow-all"}, 24 * time.Hour, atLeast(1, both(naclAllowAll, func(e ev) bool { return e.req["ipv6CidrBlock"] == "::/0" }), eventID)},
	{"IAM objects created and deleted within 10 minutes", []string{"netsec-short-lived"}, 24 * time.Hour, shortLivedIAM},
	{"non-read calls in the last hour", []string{"ops-action-events"}, time.Hour, atLeast(5, nonRead, eventName)},
	{"calls of at least 8 services", []string{"ops-services-over-time"}, 24 * time.Hour, atLeast(8, all, func(e ev) string { return e.EventSource })},
	{"calls in at least 2 regions", []string{"ops-regions-over-time"}, 24 * time.Hour, atLeast(2, all, func(e ev) string { return e.AWSRegion })},
	{"all four elastic IP operations", []string{"ops-eip-recent"}, 24 * time.Hour, atLeast(4, eip, eventName)},
	{"elastic IP operations in the last 3 hours", []string{"ops-eip-recent"}, 3 * time.Hour, atLeast(1, eip, eventID)},
	{"ConsoleLogin from at least 3 countries", []string{"logins-geo"}, 24 * time.Hour, atLeast(3, both(isLogin, located), func(e ev) string { return e.CountryCode })},
	{"ConsoleLogin successes and failures", []string{"logins-by-user", "logins-over-time", "logins-time-compare"}, 24 * time.Hour, atLeast(2, isLogin, func(e ev) string { return e.Outcome })},
	{"a user signing in from at least 2 addresses", []string{"logins-multiple-ip"}, 24 * time.Hour, multipleIPs},
	{"ConsoleLogin from outside the US", []string{"logins-outside-country"}, 24 * time.Hour, atLeast(2, both(isLogin, func(e ev) bool { return located(e) && e.CountryCode != "US" }), func(e ev) string { return e.CountryCode })},
	{"an hour of successful logins above its band", []string{"logins-outlier-success"}, 24 * time.Hour, outlier(loginOK)},
	{"an hour of failed logins above its band", []string{"logins-outlier-failure"}, 24 * time.Hour, outlier(loginFailed)},
	{"ConsoleLogin without MFA", []string{"logins-without-mfa"}, 24 * time.Hour, atLeast(1, func(e ev) bool { return isLogin(e) && !e.MFAUsed && !e.SessionMFA }, eventID)},
	{"public objects by PutObject, CopyObject and CreateMultipartUpload", []string{"s3-new-public-objects", "s3-new-public-objects-over-time", "s3-new-public-objects-table"}, 24 * time.Hour,
		atLeast(3, publicObjectNew, eventName)},
	{"a public object by canned ACL", []string{"s3-new-public-objects"}, 24 * time.Hour, atLeast(1, both(publicObjectNew, cannedPublic), eventID)},
	{"a public object by grant", []string{"s3-new-public-objects"}, 24 * time.Hour, atLeast(1, both(publicObjectNew, grantsPublic), eventID)},
	{"public buckets by ACL grant, canned ACL, policy, access block removed and weakened", []string{"s3-public-buckets", "s3-public-buckets-over-time", "s3-public-buckets-table"}, 24 * time.Hour,
		atLeast(5, publicBucket, func(e ev) string {
			switch {
			case e.EventName == "PutBucketAcl" && cannedPublic(e), e.EventName == "CreateBucket" && cannedPublic(e):
				return "canned acl"
			case e.EventName == "PutBucketAcl" || e.EventName == "CreateBucket":
				return "acl grant"
			}
			return e.EventName
		})},
	{"existing objects made public by PutObjectAcl, canned and granted", []string{"s3-modified-public-objects", "s3-modified-public-objects-over-time", "s3-modified-public-objects-table"}, 24 * time.Hour,
		modifiedObjects},
}

func all(ev) bool            { return true }
func eventID(e ev) string    { return e.EventID }
func eventName(e ev) string  { return e.EventName }
func userName(e ev) string   { return e.UserName }
func resourceOf(e ev) string { return e.AccountID + "/" + strings.Join(e.ResourceNames, ",") }

// atLeast checks that the matching events have at least n distinct keys.
func atLeast(n int, match func(ev) bool, key func(ev) string) func([]ev, time.Time) error {
	return func(es []ev, _ time.Time) error {
		if got := distinct(es, match, key); got < n {
			return fmt.Errorf("%d distinct, want at least %d", got, n)
		}
		return nil
	}
}

func outlier(match func(ev) bool) func([]ev, time.Time) error {
	return func(es []ev, end time.Time) error {
		if len(outlierHours(es, match, end)) == 0 {
			return fmt.Errorf("no hour above mean + 3σ of the 10 before")
		}
		return nil
	}
}

func multipleIPs(es []ev, _ time.Time) error {
	ips := map[string]map[string]bool{}
	for _, e := range es {
		if isLogin(e) && isUser(e) {
			if ips[e.UserName] == nil {
				ips[e.UserName] = map[string]bool{}
			}
			ips[e.UserName][e.SourceIP] = true
		}
	}
	for _, set := range ips {
		if len(set) >= 2 {
			return nil
		}
	}
	return fmt.Errorf("no user signed in from two addresses")
}

func shortLivedIAM(es []ev, _ time.Time) error {
	created := map[string]time.Time{}
	for _, e := range es {
		if e.EventSource != "iam.amazonaws.com" || e.Outcome != "success" {
			continue
		}
		k := e.AccountID + "/" + e.ResourceType + "/" + strings.Join(e.ResourceNames, ",")
		switch {
		case strings.HasPrefix(e.EventName, "Create"):
			created[k] = e.EventTime
		case strings.HasPrefix(e.EventName, "Delete"):
			if at, ok := created[k]; ok && e.EventTime.Sub(at) <= 10*time.Minute {
				return nil
			}
		}
	}
	return fmt.Errorf("no IAM object deleted within 10 minutes of its creation")
}

// modifiedObjects checks PutObjectAcl making public an object written before, once by a
// canned ACL and once by a grant.
func modifiedObjects(es []ev, _ time.Time) error {
	written := map[string]bool{}
	var canned, granted bool
	for _, e := range es {
		switch {
		case e.EventName == "PutObject" && e.Outcome == "success":
			written[resourceOf(e)] = true
		case publicObjectACL(e) && written[resourceOf(e)]:
			canned = canned || cannedPublic(e)
			granted = granted || grantsPublic(e)
		}
	}
	if !canned || !granted {
		return fmt.Errorf("existing objects made public: by canned ACL %v, by grant %v; want both", canned, granted)
	}
	return nil
}

// mixes are the near misses that keep the data plausible: most of everything is ordinary.
var mixes = []struct {
	name string
	ok   func(es []ev) bool
}{
	{"most successful logins use MFA", func(es []ev) bool {
		return 2*count(es, both(loginOK, func(e ev) bool { return e.MFAUsed })) > count(es, loginOK)
	}},
	{"most logins succeed", func(es []ev) bool { return 2*count(es, loginOK) > count(es, isLogin) }},
	{"admins are a minority of the users", func(es []ev) bool {
		return 4*distinct(es, both(isUser, isAdmin), userName) < distinct(es, isUser, userName)
	}},
	{"most object writes are private", func(es []ev) bool {
		return 2*count(es, publicObjectNew) < count(es, func(e ev) bool {
			return e.EventName == "PutObject" || e.EventName == "CopyObject" || e.EventName == "CreateMultipartUpload"
		})
	}},
	{"some bucket ACL changes and policies are not public", func(es []ev) bool {
		return count(es, both(named("PutBucketAcl"), not(publicBucket))) > 0 && count(es, both(named("PutBucketPolicy"), not(publicBucket))) > 0
	}},
	{"some object ACL changes are not public", func(es []ev) bool {
		return count(es, both(named("PutObjectAcl"), not(publicObjectACL))) > 0
	}},
	{"most network ACL entries do not allow all", func(es []ev) bool {
		return 2*count(es, naclAllowAll) < count(es, named("CreateNetworkAclEntry"))
	}},
	{"authorization failures are under 8% of the calls", func(es []ev) bool { return 100*count(es, authzFailure) < 8*len(es) }},
	{"reads are most of the calls", func(es []ev) bool { return 2*count(es, not(nonRead)) > len(es) }},
}

// TestPanelsHaveData generates the demo's data sets, normalizes every record, and checks
// that each of the console's panels would show something at its default window, ending
// where the data ends, and that the mix stays plausible.
func TestPanelsHaveData(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range panelData {
		for _, p := range c.panels {
			if !slices.Contains(panelIDs, p) {
				t.Errorf("check %q names panel %q, which is not a panel", c.name, p)
			}
			covered[p] = true
		}
	}
	for _, p := range panelIDs {
		if !covered[p] {
			t.Errorf("no check for panel %s", p)
		}
	}
	if len(panelIDs) != 44 {
		t.Fatalf("%d panel IDs, want the console's 44", len(panelIDs))
	}
	sets := []struct {
		name string
		o    Options
	}{
		{"the default span", Options{Events: DefaultEvents, Seed: 11, Start: t0}},
		{"the default span, another seed", Options{Events: DefaultEvents, Seed: 12, Start: t0}},
		{"the demo's day", Options{Events: 20000, Seed: 13, Start: t0, Span: 24 * time.Hour}},
		{"the demo's day, another seed", Options{Events: 20000, Seed: 14, Start: t0, Span: 24 * time.Hour}},
	}
	for _, set := range sets {
		t.Run(set.name, func(t *testing.T) {
			es := normalizeAll(t, set.o)
			end := set.o.Start.Add(set.o.withDefaults(t0).Span)
			for _, c := range panelData {
				t.Run(c.name, func(t *testing.T) {
					from := end.Add(-c.window)
					in := slices.DeleteFunc(slices.Clone(es), func(e ev) bool { return e.EventTime.Before(from) })
					if err := c.ok(in, end); err != nil {
						t.Errorf("%v: %v", c.panels, err)
					}
				})
			}
			for _, m := range mixes {
				t.Run(m.name, func(t *testing.T) {
					if !m.ok(es) {
						t.Error("not so")
					}
				})
			}
		})
	}
}

// TestLoginBursts checks that every day of a longer span has an hour of successful and an
// hour of failed sign-ins above the console's outlier band, however dense the data.
func TestLoginBursts(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"three sparse days", Options{Events: 6000, Seed: 21, Start: t0, Span: 72 * time.Hour}},
		{"three dense days", Options{Events: 90000, Seed: 22, Start: t0, Span: 72 * time.Hour, Accounts: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := normalizeAll(t, tt.o)
			for day := 1; day <= 3; day++ {
				end := t0.Add(time.Duration(day) * 24 * time.Hour)
				for _, k := range []struct {
					what  string
					match func(ev) bool
				}{{"successful", loginOK}, {"failed", loginFailed}} {
					if len(outlierHours(es, k.match, end)) == 0 {
						t.Errorf("day %d: no hour of %s sign-ins above mean + 3σ of the 10 before", day, k.what)
					}
				}
			}
		})
	}
}
