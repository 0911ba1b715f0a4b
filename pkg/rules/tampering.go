package rules

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/trailstream/trailstream/pkg/model"
)

// The rules of this file report defenses being taken down: CloudTrail, GuardDuty, AWS
// Config and the other security services an intruder switches off before acting.

func init() {
	register(Builtin{
		Meta: Meta{ID: "cloudtrail-logging-stopped", Severity: "high",
			Description: "CloudTrail logging stopped (StopLogging) or a trail deleted (DeleteTrail): the account's " +
				"API calls are no longer recorded, the usual first move of an intruder covering their tracks.",
			Tags:   []string{"attack.defense-evasion", "attack.t1562.008"},
			Events: []string{"StopLogging", "DeleteTrail"}},
		New: func(*Params) Rule { return &Match{When: loggingStopped} },
	})
	register(Builtin{
		Meta: Meta{ID: "cloudtrail-trail-weakened", Severity: "medium",
			Description: "A trail changed (UpdateTrail), event selectors that no longer record all management events, " +
				"or a CloudTrail Lake event data store deleted or its ingestion stopped: less is recorded from now on.",
			Tags:   []string{"attack.defense-evasion", "attack.t1562.008"},
			Events: []string{"UpdateTrail", "PutEventSelectors", "DeleteEventDataStore", "StopEventDataStoreIngestion"}},
		New: func(*Params) Rule { return &Match{When: trailWeakened} },
	})
	register(Builtin{
		Meta: Meta{ID: "guardduty-tampered", Severity: "high",
			Description: "A GuardDuty detector deleted or disabled (or protection plans of it), trusted IP or threat " +
				"lists changed, findings auto-archived by a filter or no longer exported, member accounts " +
				"disassociated: threat detection blinded where it would see the intruder.",
			Tags:   []string{"attack.defense-evasion", "attack.t1562.001"},
			Events: slices.Sorted(maps.Keys(guardDutyCalls))},
		New: func(*Params) Rule { return &Match{When: guardDutyTampered} },
	})
	register(Builtin{
		Meta: Meta{ID: "config-recording-stopped", Severity: "high",
			Description: "The AWS Config recorder stopped or deleted, or its delivery channel deleted: configuration " +
				"changes are no longer recorded, nor judged by Config rules.",
			Tags:   []string{"attack.defense-evasion", "attack.t1562.008"},
			Events: slices.Sorted(maps.Keys(configCalls))},
		New: func(*Params) Rule { return &Match{When: configStopped} },
	})
	register(Builtin{
		Meta: Meta{ID: "security-tooling-disabled", Severity: "medium",
			Description: "A security control switched off: VPC flow logs deleted, Security Hub, Macie, Inspector or " +
				"IAM Access Analyzer disabled, DNS query logging removed, a WAF web ACL disassociated, default EBS " +
				"encryption disabled, or the account leaving its organization (and its guardrails). High for " +
				"Security Hub, Macie and leaving the organization.",
			Tags:   []string{"attack.defense-evasion", "attack.t1562.001", "attack.t1562.008"},
			Events: slices.Sorted(maps.Keys(toolingCalls))},
		New: func(*Params) Rule { return &Match{When: toolingDisabled} },
	})
}

// okCall reports whether e is a call that succeeded.
func okCall(e *model.Event) bool { return e.Outcome == "success" && e.ErrorCode == "" }

// arnName returns the last part of an ARN (the name after its last / or :), or s itself.
func arnName(s string) string {
	if !strings.HasPrefix(s, "arn:") {
		return s
	}
	return s[strings.LastIndexAny(s, "/:")+1:]
}

// resourceOf returns the first object of e when the normalizer found one of type typ.
func resourceOf(e *model.Event, typ string) string {
	if e.ResourceType == typ && len(e.ResourceNames) > 0 {
		return e.ResourceNames[0]
	}
	return ""
}

// orField returns v, or when it is empty the raw record's field at path: the record is
// parsed only when the normalized value v is missing.
func orField(v string, in *Input, path string) string {
	if v != "" {
		return v
	}
	return in.Str(path)
}

// trailOf names the trail of a CloudTrail call.
func trailOf(in *Input) string {
	if t := resourceOf(in.Event, "cloudtrail-trail"); t != "" {
		return t
	}
	return arnName(cmp.Or(in.Str("requestParameters.name"), in.Str("requestParameters.trailName")))
}

func loggingStopped(in *Input) (Finding, bool) {
	e := in.Event
	if e.EventSource != "cloudtrail.amazonaws.com" || !okCall(e) {
		return Finding{}, false
	}
	trail := trailOf(in)
	title := fmt.Sprintf("logging stopped on CloudTrail trail %q by %s", trail, userOf(e))
	if e.EventName == "DeleteTrail" {
		title = fmt.Sprintf("CloudTrail trail %q deleted by %s", trail, userOf(e))
	}
	return Finding{
		Title:        title,
		ResourceType: "cloudtrail-trail", ResourceName: trail,
		Context: map[string]any{"call": e.EventName, "region": e.AWSRegion},
	}, true
}

func trailWeakened(in *Input) (Finding, bool) {
	e := in.Event
	if e.EventSource != "cloudtrail.amazonaws.com" || !okCall(e) {
		return Finding{}, false
	}
	ctx := map[string]any{"call": e.EventName}
	f := Finding{ResourceType: "cloudtrail-trail", ResourceName: trailOf(in), Context: ctx}
	switch e.EventName {
	case "UpdateTrail":
		params, _ := in.Field("requestParameters").(map[string]any)
		changed := slices.Sorted(maps.Keys(params))
		changed = slices.DeleteFunc(changed, func(k string) bool { return k == "name" })
		ctx["changed"] = changed
		f.Title = fmt.Sprintf("CloudTrail trail %q updated by %s: %s", f.ResourceName, userOf(e), strings.Join(changed, ", "))
	case "PutEventSelectors":
		lost := managementDropped(in)
		if lost == "" {
			return Finding{}, false
		}
		ctx["dropped"] = lost
		f.Title = fmt.Sprintf("CloudTrail trail %q no longer records %s (event selectors set by %s)", f.ResourceName, lost, userOf(e))
	default: // an event data store deleted or its ingestion stopped
		f.ResourceType = "cloudtrail-event-data-store"
		f.ResourceName = arnName(in.Str("requestParameters.eventDataStore"))
		what := "deleted"
		if e.EventName == "StopEventDataStoreIngestion" {
			what = "stopped ingesting"
		}
		f.Title = fmt.Sprintf("CloudTrail Lake event data store %q %s by %s", f.ResourceName, what, userOf(e))
	}
	return f, true
}

// selectorCover is what one event selector records of the management events.
type selectorCover struct {
	reads, writes bool
	excluded      []string // event sources left out
}

// managementDropped tells which management events a PutEventSelectors call no longer
// records ("management events", "management write events", "management events of
// kms.amazonaws.com", ...), "" when it records them all. It reads the basic selectors
// (includeManagementEvents, readWriteType, excludeManagementEventSources) and the advanced
// ones (eventCategory Management, readOnly, eventSource notEquals).
func managementDropped(in *Input) string {
	var covers []selectorCover
	if adv, ok := in.Field("requestParameters.advancedEventSelectors").([]any); ok {
		for _, s := range adv {
			if c, ok := advancedCover(s); ok {
				covers = append(covers, c)
			}
		}
	} else {
		sels, _ := in.Field("requestParameters.eventSelectors").([]any)
		for _, s := range sels {
			m, _ := s.(map[string]any)
			if m == nil || m["includeManagementEvents"] == false {
				continue
			}
			rw := cmp.Or(jsonString(m["readWriteType"]), "All")
			covers = append(covers, selectorCover{
				reads: rw == "All" || rw == "ReadOnly", writes: rw == "All" || rw == "WriteOnly",
				excluded: jsonStrings(m["excludeManagementEventSources"]),
			})
		}
	}
	var all selectorCover
	for i, c := range covers {
		all.reads, all.writes = all.reads || c.reads, all.writes || c.writes
		if i == 0 || len(c.excluded) < len(all.excluded) {
			all.excluded = c.excluded
		}
	}
	switch {
	case !all.reads && !all.writes:
		return "management events"
	case !all.writes:
		return "management write events"
	case !all.reads:
		return "management read events"
	case len(all.excluded) > 0:
		return "management events of " + strings.Join(all.excluded, ", ")
	}
	return ""
}

// advancedCover reads an advanced event selector; ok is false when it selects no
// management events.
func advancedCover(s any) (selectorCover, bool) {
	m, _ := s.(map[string]any)
	fields, _ := m["fieldSelectors"].([]any)
	c := selectorCover{reads: true, writes: true}
	management := false
	for _, f := range fields {
		fs, _ := f.(map[string]any)
		equals := jsonStrings(fs["equals"])
		switch jsonString(fs["field"]) {
		case "eventCategory":
			management = slices.Contains(equals, "Management")
		case "readOnly":
			if len(equals) == 1 {
				c.reads, c.writes = equals[0] == "true", equals[0] == "false"
			}
		case "eventSource":
			c.excluded = append(c.excluded, jsonStrings(fs["notEquals"])...)
		}
	}
	return c, management
}

// guardDutyCalls are the GuardDuty calls the rule looks at and what each does; "" for
// those judged by their parameters.
var guardDutyCalls = map[string]string{
	"DeleteDetector":                       "detector deleted",
	"UpdateDetector":                       "",
	"CreateIPSet":                          "trusted IP list created",
	"UpdateIPSet":                          "trusted IP list changed",
	"DeleteIPSet":                          "trusted IP list deleted",
	"CreateThreatIntelSet":                 "threat list created",
	"UpdateThreatIntelSet":                 "threat list changed",
	"DeleteThreatIntelSet":                 "threat list deleted",
	"CreateFilter":                         "",
	"UpdateFilter":                         "",
	"DeletePublishingDestination":          "findings export deleted",
	"DisassociateMembers":                  "member accounts disassociated",
	"DeleteMembers":                        "member accounts deleted",
	"StopMonitoringMembers":                "member accounts no longer monitored",
	"DisassociateFromMasterAccount":        "detector left its administrator account",
	"DisassociateFromAdministratorAccount": "detector left its administrator account",
}

func guardDutyTampered(in *Input) (Finding, bool) {
	e := in.Event
	if e.EventSource != "guardduty.amazonaws.com" || !okCall(e) {
		return Finding{}, false
	}
	what := guardDutyCalls[e.EventName]
	switch e.EventName {
	case "UpdateDetector":
		what = detectorWeakened(in)
	case "CreateFilter", "UpdateFilter":
		if in.Str("requestParameters.action") == "ARCHIVE" {
			what = fmt.Sprintf("findings auto-archived by filter %q", in.Str("requestParameters.name"))
		}
	}
	if what == "" {
		return Finding{}, false
	}
	detector := in.Str("requestParameters.detectorId")
	return Finding{
		Title:        fmt.Sprintf("GuardDuty %s by %s (detector %s)", what, userOf(e), detector),
		ResourceType: "guardduty-detector", ResourceName: detector,
		Context: map[string]any{"call": e.EventName, "change": what, "region": e.AWSRegion},
	}, true
}

// detectorWeakened tells what an UpdateDetector call turns off, "" when nothing: the
// detector itself, or protection plans (features, or the older dataSources).
func detectorWeakened(in *Input) string {
	if in.Field("requestParameters.enable") == false {
		return "detector disabled"
	}
	var off []string
	features, _ := in.Field("requestParameters.features").([]any)
	for _, f := range features {
		if m, _ := f.(map[string]any); jsonString(m["status"]) == "DISABLED" {
			off = append(off, jsonString(m["name"]))
		}
	}
	if in.Field("requestParameters.dataSources.s3Logs.enable") == false {
		off = append(off, "S3_DATA_EVENTS")
	}
	if in.Field("requestParameters.dataSources.kubernetes.auditLogs.enable") == false {
		off = append(off, "EKS_AUDIT_LOGS")
	}
	if len(off) == 0 {
		return ""
	}
	return "protection plans disabled: " + strings.Join(off, ", ")
}

// configCalls are the AWS Config calls that stop recording: what they act on, what they do
// to it, and the request parameter naming it.
var configCalls = map[string]struct{ noun, done, param, typ string }{
	"StopConfigurationRecorder":   {"recorder", "stopped", "configurationRecorderName", "config-configuration-recorder"},
	"DeleteConfigurationRecorder": {"recorder", "deleted", "configurationRecorderName", "config-configuration-recorder"},
	"DeleteDeliveryChannel":       {"delivery channel", "deleted", "deliveryChannelName", "config-delivery-channel"},
}

func configStopped(in *Input) (Finding, bool) {
	e := in.Event
	call, ok := configCalls[e.EventName]
	if !ok || e.EventSource != "config.amazonaws.com" || !okCall(e) {
		return Finding{}, false
	}
	name := in.Str("requestParameters." + call.param)
	return Finding{
		Title:        fmt.Sprintf("AWS Config %s %q %s by %s", call.noun, name, call.done, userOf(e)),
		ResourceType: call.typ, ResourceName: name,
		Context: map[string]any{"call": e.EventName, "region": e.AWSRegion},
	}, true
}

// toolingCall is a call that switches a security control off.
type toolingCall struct {
	sources []string // the services that have the call
	what    string
	high    bool
	// when, if set, tells whether the call switches the control off.
	when func(in *Input) bool
	// object names what it acted on: a request parameter (dotted path) and its type;
	// without it the account.
	param, typ string
}

var toolingCalls = map[string]toolingCall{
	"DeleteFlowLogs": {sources: []string{"ec2.amazonaws.com"}, what: "VPC flow logs deleted",
		param: "requestParameters.DeleteFlowLogsRequest.FlowLogId.content", typ: "ec2-flow-log"},
	"DisableSecurityHub":    {sources: []string{"securityhub.amazonaws.com"}, what: "Security Hub disabled", high: true},
	"BatchDisableStandards": {sources: []string{"securityhub.amazonaws.com"}, what: "Security Hub standards disabled"},
	"DisableMacie":          {sources: []string{"macie2.amazonaws.com", "macie.amazonaws.com"}, what: "Macie disabled", high: true},
	"UpdateMacieSession": {sources: []string{"macie2.amazonaws.com"}, what: "Macie paused", high: true,
		when: func(in *Input) bool { return in.Str("requestParameters.status") == "PAUSED" }},
	"Disable": {sources: []string{"inspector2.amazonaws.com"}, what: "Inspector scanning disabled"},
	"DeleteAnalyzer": {sources: []string{"access-analyzer.amazonaws.com"}, what: "IAM Access Analyzer deleted",
		param: "requestParameters.analyzerName", typ: "access-analyzer-analyzer"},
	"DeleteQueryLoggingConfig": {sources: []string{"route53.amazonaws.com"}, what: "DNS query logging deleted",
		param: "requestParameters.id", typ: "route53-query-logging-config"},
	"DeleteResolverQueryLogConfig": {sources: []string{"route53resolver.amazonaws.com"}, what: "Resolver query logging deleted",
		param: "requestParameters.resolverQueryLogConfigId", typ: "route53resolver-query-log-config"},
	"DisassociateResolverQueryLogConfig": {sources: []string{"route53resolver.amazonaws.com"}, what: "Resolver query logging removed from a VPC",
		param: "requestParameters.resourceId", typ: "ec2-vpc"},
	"DisassociateWebACL": {sources: []string{"wafv2.amazonaws.com", "waf-regional.amazonaws.com"}, what: "WAF web ACL disassociated",
		param: "requestParameters.resourceArn", typ: "waf-protected-resource"},
	"DisableEbsEncryptionByDefault": {sources: []string{"ec2.amazonaws.com"}, what: "default EBS encryption disabled"},
	"LeaveOrganization":             {sources: []string{"organizations.amazonaws.com"}, what: "account left its organization", high: true},
}

func toolingDisabled(in *Input) (Finding, bool) {
	e := in.Event
	call, ok := toolingCalls[e.EventName]
	if !ok || !slices.Contains(call.sources, e.EventSource) || !okCall(e) || (call.when != nil && !call.when(in)) {
		return Finding{}, false
	}
	f := Finding{
		Title:        fmt.Sprintf("%s by %s", upperFirst(call.what), userOf(e)),
		ResourceType: "aws-account", ResourceName: e.AccountID,
		Context: map[string]any{"call": e.EventName, "service": strings.TrimSuffix(e.EventSource, ".amazonaws.com"), "region": e.AWSRegion},
	}
	if call.param != "" {
		if name := in.Str(call.param); name != "" {
			f.ResourceType, f.ResourceName = call.typ, name
			f.Title += fmt.Sprintf(" (%s)", name)
		}
	}
	if call.high {
		f.Severity = "high"
	}
	return f, true
}

// upperFirst returns s with its first letter in upper case.
func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
