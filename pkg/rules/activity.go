package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

// Rules on what principals do across the account: bursts of denied calls, offensive tools,
// regions nobody uses, and secrets read in bulk.

// awsInternal reports whether AWS made the call rather than a principal of the account: a
// service on a user's behalf (invokedBy), a service principal, a service event, or a call
// from within AWS (a source of "AWS Internal" or a service's host name).
func awsInternal(e *model.Event) bool {
	return e.InvokedBy != "" || e.UserType == "AWSService" || e.EventType == "AwsServiceEvent" ||
		e.SourceIP == "AWS Internal" || strings.HasSuffix(e.SourceIP, ".amazonaws.com")
}

// awsInternalSQL is awsInternal as a condition on the events table.
const awsInternalSQL = "(invoked_by != '' OR user_type = 'AWSService' OR event_type = 'AwsServiceEvent' OR " +
	"source_ip = 'AWS Internal' OR source_ip LIKE '%.amazonaws.com')"

// principalOf names the principal of e for a rule's key: its ARN, else its principal ID,
// else the actor's name.
func principalOf(e *model.Event) string {
	switch {
	case e.UserARN != "":
		return e.UserARN
	case e.PrincipalID != "":
		return e.PrincipalID
	}
	return userOf(e)
}

// isWrite reports whether e changes something: not read-only, and a create, delete or
// modify (not a sign-in, nor a call such as AssumeRole or Decrypt that only uses a thing).
func isWrite(e *model.Event) bool {
	switch e.Action {
	case "create", "delete", "modify":
		return !e.IsReadOnly
	}
	return false
}

// isWriteSQL is isWrite as a condition on the events table.
const isWriteSQL = "(is_read_only = 0 AND action IN ('create', 'delete', 'modify'))"

// accessDenied are the error codes of a call refused for want of permission.
var accessDenied = map[string]bool{
	"AccessDenied": true, "AccessDeniedException": true, "Client.AccessDenied": true,
	"UnauthorizedOperation": true, "Client.UnauthorizedOperation": true,
}

// defaultOffensiveUserAgents are the user-agent fragments of offensive tools (and of the
// penetration-testing distributions whose AWS CLI says so) looked for when the rules config
// names none: exploitation frameworks, credential and bucket scanners, recon and attack
// simulation tools.
var defaultOffensiveUserAgents = []string{
	"pacu", "trufflehog", "cloudfox", "stratus-red-team", "weirdaal", "s3scanner",
	"kali", "parrot", "pentoo",
}

// offensiveTool returns the first of tools (lower case) found in userAgent, case
// insensitively; "" when none is.
func offensiveTool(userAgent string, tools []string) string {
	ua := strings.ToLower(userAgent)
	for _, t := range tools {
		if t != "" && strings.Contains(ua, t) {
			return t
		}
	}
	return ""
}

// maxUserAgents bounds the user agents a toolMatcher remembers.
const maxUserAgents = 10_000

// toolMatcher is offensiveTool with a memory of the user agents it judged: a stream holds
// few distinct user agents, and looking one up costs a fraction of lowering and searching it.
type toolMatcher struct {
	tools []string
	seen  map[string]string
}

func newToolMatcher(tools []string) *toolMatcher {
	return &toolMatcher{tools: tools, seen: make(map[string]string)}
}

// tool returns offensiveTool(userAgent, m.tools).
func (m *toolMatcher) tool(userAgent string) string {
	if t, ok := m.seen[userAgent]; ok {
		return t
	}
	t := offensiveTool(userAgent, m.tools)
	if len(m.seen) >= maxUserAgents {
		clear(m.seen)
	}
	m.seen[strings.Clone(userAgent)] = t // not a slice of the event's message, which it would keep
	return t
}

// days renders a period of whole days as "30 days", others as a duration.
func days(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}

func init() {
	register(authorizationFailureBurst)
	register(offensiveUserAgent)
	register(newRegionActivity)
	register(secretsMassRetrieval)
}

var authorizationFailureBurst = Builtin{
	Meta: Meta{ID: "authorization-failure-burst", Severity: "medium",
		Description: "Many calls of one principal refused for want of permission (default 15 AccessDenied or " +
			"UnauthorizedOperation in 10 minutes): stolen credentials probing what they may do. Calls AWS makes itself, " +
			"and anonymous requests, are left out.",
		Tags: []string{"attack.discovery", "attack.t1580", "attack.t1087.004"}},
	Params: map[string]any{"window": 10 * time.Minute, "count": 15},
	New: func(p *Params) Rule {
		return &Threshold{
			Select: func(in *Input) bool {
				e := in.Event
				return accessDenied[e.ErrorCode] && !awsInternal(e) && !(e.UserType == "AWSAccount" && e.UserName == "anonymous")
			},
			Key:    func(in *Input) string { return principalOf(in.Event) },
			Count:  p.Int("count"),
			Window: p.Duration("window"),
			Describe: func(t *Tally) Finding {
				return Finding{
					Title:        fmt.Sprintf("%s was denied %d calls within %s", t.Hits[0].User, len(t.Hits), t.Window),
					ResourceType: "principal", ResourceName: t.Key,
					Context: map[string]any{"denied": len(t.Hits), "threshold": t.Count, "window": t.Window.String()},
				}
			},
		}
	},
}

var offensiveUserAgent = Builtin{
	Meta: Meta{ID: "offensive-tool-user-agent", Severity: "medium",
		Description: "A call made with the user agent of a known offensive tool or penetration-testing system " +
			"(TruffleHog, Pacu, Kali Linux and the like; the rules config's offensive_user_agents replace the list), " +
			"successful or not. Reported once per principal and tool per hour.",
		Tags: []string{"attack.discovery", "attack.execution", "attack.t1580", "attack.t1059.009"}},
	Params: map[string]any{"dedup": time.Hour},
	New: func(p *Params) Rule {
		tools := defaultOffensiveUserAgents
		if len(p.OffensiveUserAgents) > 0 {
			tools = make([]string, len(p.OffensiveUserAgents))
			for i, t := range p.OffensiveUserAgents {
				tools[i] = strings.ToLower(t)
			}
		}
		m := newToolMatcher(tools)
		return &Match{
			When: func(in *Input) (Finding, bool) {
				e := in.Event
				tool := m.tool(e.UserAgent)
				if tool == "" {
					return Finding{}, false
				}
				call := strings.TrimSuffix(e.EventSource, ".amazonaws.com") + ":" + e.EventName
				ua := e.UserAgent
				if len(ua) > 200 {
					ua = ua[:200]
				}
				return Finding{
					Title:        fmt.Sprintf("%s called %s with the user agent of %s, from %s", userOf(e), call, tool, sourcePlace(e)),
					ResourceType: "principal", ResourceName: principalOf(e),
					Context: map[string]any{"tool": tool, "user_agent": ua, "call": call, "source_ip": e.SourceIP, "outcome": e.Outcome},
				}, true
			},
			Dedup: &Dedup{Period: p.Duration("dedup"), Key: func(in *Input) string {
				return principalOf(in.Event) + "\x00" + m.tool(in.Event.UserAgent)
			}},
		}
	},
}

var newRegionActivity = Builtin{
	Meta: Meta{ID: "new-region-activity", Severity: "medium",
		Description: "A successful write call in a region the account has not written to in the last 30 days, or a " +
			"region enabled: resources hidden where nobody looks. An account is judged once it has been watched " +
			"for a week (learn).",
		Tags: []string{"attack.defense-evasion", "attack.t1535"}},
	Params: map[string]any{"period": 30 * 24 * time.Hour, "learn": 7 * 24 * time.Hour},
	New: func(p *Params) Rule {
		period := p.Duration("period")
		firstSeen := &Baseline{
			Select: func(in *Input) bool {
				e := in.Event
				return e.Outcome == "success" && isWrite(e) && e.AWSRegion != "" && !awsInternal(e)
			},
			Key:    func(*Input) string { return "" },
			Value:  func(in *Input) string { return in.Event.AWSRegion },
			Period: period,
			Learn:  p.Duration("learn"),
			Seed: &Seed{Value: "aws_region",
				Where: "outcome = 'success' AND " + isWriteSQL + " AND aws_region != '' AND NOT " + awsInternalSQL},
			Describe: func(in *Input, region string, last time.Time) Finding {
				e := in.Event
				call := strings.TrimSuffix(e.EventSource, ".amazonaws.com") + ":" + e.EventName
				ctx := map[string]any{"region": region, "call": call, "period": period.String()}
				if !last.IsZero() {
					ctx["last_seen"] = last.UTC().Format(time.RFC3339)
				}
				return Finding{
					Title: fmt.Sprintf("%s called %s in %s, a region account %s has not written to in %s",
						userOf(e), call, region, e.AccountID, days(period)),
					ResourceType: "region", ResourceName: region, Context: ctx,
				}
			},
		}
		enabled := &Match{When: func(in *Input) (Finding, bool) {
			e := in.Event
			if e.EventName != "EnableRegion" || e.EventSource != "account.amazonaws.com" || e.Outcome != "success" {
				return Finding{}, false
			}
			region := in.Str("requestParameters.RegionName")
			target := in.Str("requestParameters.AccountId")
			if target == "" {
				target = e.AccountID
			}
			return Finding{
				Title:        fmt.Sprintf("%s enabled the region %s for account %s", userOf(e), region, target),
				ResourceType: "region", ResourceName: region,
				Context: map[string]any{"region": region, "account": target},
			}, true
		}}
		return &Any{Rules: []Rule{firstSeen, enabled}}
	},
}

var secretsMassRetrieval = Builtin{
	Meta: Meta{ID: "secrets-mass-retrieval", Severity: "medium",
		Description: "One principal reads many secret values (default 20 GetSecretValue in an hour) or reads them in " +
			"many regions (default 5 in 10 minutes): secrets harvested with stolen credentials. Calls AWS makes " +
			"itself are left out. Reported once per principal per hour.",
		Tags:   []string{"attack.credential-access", "attack.t1555.006"},
		Events: []string{"GetSecretValue", "BatchGetSecretValue"}},
	Params: map[string]any{"window": time.Hour, "count": 20, "region_window": 10 * time.Minute, "regions": 5},
	New: func(p *Params) Rule {
		retrieval := func(in *Input) bool {
			e := in.Event
			return e.EventSource == "secretsmanager.amazonaws.com" && e.Outcome == "success" && !awsInternal(e) &&
				(e.EventName == "GetSecretValue" || e.EventName == "BatchGetSecretValue")
		}
		principal := func(in *Input) string { return principalOf(in.Event) }
		many := &Threshold{
			Select: retrieval, Key: principal, Count: p.Int("count"), Window: p.Duration("window"),
			Describe: func(t *Tally) Finding {
				return Finding{
					Title:        fmt.Sprintf("%s read %d secret values within %s", t.Hits[0].User, len(t.Hits), t.Window),
					ResourceType: "principal", ResourceName: t.Key,
					Context: map[string]any{"retrievals": len(t.Hits), "threshold": t.Count, "window": t.Window.String()},
				}
			},
		}
		regions := &Threshold{
			Select: retrieval, Key: principal, Count: p.Int("regions"), Window: p.Duration("region_window"),
			Distinct: func(in *Input) string { return in.Event.AWSRegion },
			Describe: func(t *Tally) Finding {
				return Finding{
					Title: fmt.Sprintf("%s read secret values in %d regions within %s (%s)", t.Hits[0].User, len(t.Distinct), t.Window,
						strings.Join(t.Distinct, ", ")),
					ResourceType: "principal", ResourceName: t.Key,
					Context: map[string]any{"regions": t.Distinct, "threshold": t.Count, "window": t.Window.String()},
				}
			},
		}
		return &Any{Rules: []Rule{many, regions}, Dedup: &Dedup{Key: principal, Period: p.Duration("window")}}
	},
}
