package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

// The root user rules: the account's root user should sign in rarely, always with MFA, and
// hardly ever call an API.

// isRoot reports whether the root user of the account made e.
func isRoot(e *model.Event) bool { return e.UserType == "Root" }

func init() {
	register(rootActivity)
	register(rootConsoleLogin)
	register(rootConsoleLoginFailures)
	register(rootAccessKeyCreated)
}

var rootActivity = Builtin{
	Meta: Meta{ID: "root-account-activity", Severity: "high",
		Description: "The root user makes a call that changes something, and AWS did not make it on root's behalf: " +
			"everyday work should use IAM users or roles. Sign-ins are left to the root-console-login rules. " +
			"Reported once per account and source IP per hour.",
		Tags: []string{"attack.privilege-escalation", "attack.persistence", "attack.t1078.004"}},
	Params: map[string]any{"dedup": time.Hour},
	New: func(p *Params) Rule {
		return &Match{
			When: func(in *Input) (Finding, bool) {
				e := in.Event
				if !isRoot(e) || e.Outcome != "success" || e.IsReadOnly || e.LoginResult != "" ||
					e.EventType == "AwsConsoleSignIn" || awsInternal(e) {
					return Finding{}, false
				}
				call := strings.TrimSuffix(e.EventSource, ".amazonaws.com") + ":" + e.EventName
				return Finding{
					Title:        fmt.Sprintf("root called %s in account %s from %s", call, e.AccountID, sourcePlace(e)),
					ResourceType: "user", ResourceName: "root",
					Context: map[string]any{"call": call, "source_ip": e.SourceIP, "region": e.AWSRegion, "dedup": p.Duration("dedup").String()},
				}, true
			},
			Dedup: &Dedup{Period: p.Duration("dedup"), Key: func(in *Input) string { return in.Event.SourceIP }},
		}
	},
}

var rootConsoleLogin = Builtin{
	Meta: Meta{ID: "root-console-login", Severity: "high",
		Description: "The root user signs in to the console; critical without MFA, as the password alone then opens " +
			"the whole account.",
		Tags:   []string{"attack.initial-access", "attack.privilege-escalation", "attack.t1078.004"},
		Events: []string{consoleLogin}},
	New: func(*Params) Rule {
		return &Match{When: func(in *Input) (Finding, bool) {
			e := in.Event
			if !signedIn(e) || !isRoot(e) {
				return Finding{}, false
			}
			f := Finding{
				Title:        fmt.Sprintf("root signed in to the console of account %s from %s", e.AccountID, sourcePlace(e)),
				ResourceType: "user", ResourceName: "root",
				Context: map[string]any{"mfa_used": e.MFAUsed, "source_ip": e.SourceIP, "country": e.CountryCode},
			}
			if !e.MFAUsed {
				f.Severity = "critical"
				f.Title += " without MFA"
			}
			return f, true
		}}
	},
}

var rootConsoleLoginFailures = Builtin{
	Meta: Meta{ID: "root-console-login-failures", Severity: "high",
		Description: "Repeated failed console sign-ins as root (default 5 in 15 minutes): someone is guessing the " +
			"password of the account's most powerful user.",
		Tags:   []string{"attack.credential-access", "attack.t1110.001"},
		Events: []string{consoleLogin}},
	Params: map[string]any{"window": 15 * time.Minute, "count": 5},
	New: func(p *Params) Rule {
		return &Threshold{
			Select: func(in *Input) bool { return signInFailed(in.Event) && isRoot(in.Event) },
			Key:    func(*Input) string { return "root" },
			Count:  p.Int("count"),
			Window: p.Duration("window"),
			Describe: func(t *Tally) Finding {
				return Finding{
					Title:        fmt.Sprintf("%d failed root console sign-ins in account %s within %s", len(t.Hits), t.Hits[0].Account, t.Window),
					ResourceType: "user", ResourceName: "root",
					Context: map[string]any{"failures": len(t.Hits), "threshold": t.Count, "window": t.Window.String()},
				}
			},
		}
	},
}

var rootAccessKeyCreated = Builtin{
	Meta: Meta{ID: "root-access-key-created", Severity: "critical",
		Description: "The root user creates an access key for itself: long-lived credentials with every permission " +
			"of the account, which AWS advises never to have.",
		Tags:   []string{"attack.persistence", "attack.t1098.001"},
		Events: []string{"CreateAccessKey"}},
	New: func(*Params) Rule {
		return &Match{When: func(in *Input) (Finding, bool) {
			e := in.Event
			// With a userName, root creates a key for an IAM user, not for itself.
			if e.EventSource != "iam.amazonaws.com" || !isRoot(e) || e.Outcome != "success" || in.Str("requestParameters.userName") != "" {
				return Finding{}, false
			}
			key := in.Str("responseElements.accessKey.accessKeyId")
			if len(e.ResourceNames) > 0 {
				key = e.ResourceNames[0]
			}
			return Finding{
				Title:        fmt.Sprintf("root created access key %s in account %s from %s", key, e.AccountID, sourcePlace(e)),
				ResourceType: "iam-access-key", ResourceName: key,
				Context: map[string]any{"source_ip": e.SourceIP},
			}, true
		}}
	},
}
