// Package normalize turns one raw CloudTrail record into a model.Event: who acted (for
// every userIdentity type, with the human behind an assumed role), on which account and
// resources, with what outcome, what kind of action it was, whether it touched network
// security or exposed something publicly, and from where. CloudTrail Insights records,
// which report unusual call or error rates rather than a call, become events of their own
// category (setInsight).
package normalize

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/trailstream/trailstream/pkg/geo"
	"github.com/trailstream/trailstream/pkg/model"
)

// lenient decodes CloudTrail as AWS writes it, tolerating what strict JSON would reject
// rather than losing a record over it: duplicate keys and invalid UTF-8. Unknown fields are
// ignored, so newer eventVersions decode too.
var lenient = json.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// record holds the parts of a CloudTrail record the event model reads.
type record struct {
	EventVersion       string               `json:"eventVersion"`
	UserIdentity       identity             `json:"userIdentity"`
	EventTime          string               `json:"eventTime"`
	EventSource        string               `json:"eventSource"`
	EventName          string               `json:"eventName"`
	EventType          string               `json:"eventType"`
	AWSRegion          string               `json:"awsRegion"`
	SourceIPAddress    string               `json:"sourceIPAddress"`
	UserAgent          string               `json:"userAgent"`
	ErrorCode          string               `json:"errorCode"`
	ErrorMessage       string               `json:"errorMessage"`
	EventID            string               `json:"eventID"`
	RecipientAccountID string               `json:"recipientAccountId"`
	ReadOnly           jsontext.Value       `json:"readOnly"`
	RequestParameters  jsontext.Value       `json:"requestParameters"`
	ResponseElements   jsontext.Value       `json:"responseElements"`
	AdditionalData     jsontext.Value       `json:"additionalEventData"`
	ServiceDetails     jsontext.Value       `json:"serviceEventDetails"`
	Resources          []cloudTrailResource `json:"resources"`
	// The fields of Insights events, raw so that no other record fails over their types.
	EventCategory  jsontext.Value `json:"eventCategory"`
	SharedEventID  jsontext.Value `json:"sharedEventID"`
	InsightDetails jsontext.Value `json:"insightDetails"`
}

// Geolocator finds where a public IP address is; *geo.Locator is one.
type Geolocator interface {
	Lookup(ip string) (geo.Location, bool)
}

// AdminList tells whether a user is one of the administrators.
type AdminList interface {
	IsAdmin(userName string) bool
}

// Normalizer normalizes records for one deployment. The zero value works: no environment
// label, no geolocation, no administrators, the system clock.
type Normalizer struct {
	Environment string
	Geo         Geolocator       // nil: no geolocation
	Admins      AdminList        // nil: nobody is an administrator
	Now         func() time.Time // the present, which no eventTime may lead by more than maxLead; nil: time.Now
}

// earliestEventTime and maxLead bound the eventTime of a record. Outside them it cannot be
// true, and the record is an error, not an event: one impossible time would run ahead the
// event-time clock of its account's rules.
//
// earliestEventTime is the start, in UTC, of 13 November 2013, the day AWS launched
// CloudTrail (in us-east-1 and us-west-2, announced at re:Invent in Las Vegas). That midnight
// precedes the launch in every US time zone, so no record CloudTrail wrote is older.
var earliestEventTime = time.Date(2013, 11, 13, 0, 0, 0, 0, time.UTC)

// maxLead is how far an eventTime may be ahead of the normalizer's clock. AWS stamps
// eventTime; a day covers any skew between its clocks and this machine's, while a record
// dated further ahead is wrong, whatever wrote it.
const maxLead = 24 * time.Hour

// Normalize decodes one CloudTrail record with no geolocation and no administrators.
func Normalize(raw []byte, environment string) (*model.Event, error) {
	return (&Normalizer{Environment: environment}).Normalize(raw)
}

// Normalize decodes one CloudTrail record and returns its normalized event. The record must
// be a JSON object with a valid eventTime, no earlier than CloudTrail's launch (2013-11-13)
// and no more than a day ahead of the present; anything else in it is optional. A record
// without an eventID gets one derived from its bytes (see derivedID), and the event says so
// in EventIDDerived.
//
// The errors name the record by its event ID.
func (n *Normalizer) Normalize(raw []byte) (*model.Event, error) {
	var r record
	if err := json.Unmarshal(raw, &r, lenient); err != nil {
		return nil, fmt.Errorf("CloudTrail record is not a JSON object of the expected shape: %w", err)
	}
	id, derived := r.EventID, false
	if id == "" {
		id, derived = derivedID(raw), true
	}
	t, err := time.Parse(time.RFC3339, r.EventTime)
	if err != nil {
		return nil, fmt.Errorf("CloudTrail record %s: eventTime %q: %w", recordName(id, derived), r.EventTime, err)
	}
	if err := n.checkTime(t); err != nil {
		return nil, fmt.Errorf("CloudTrail record %s: %w", recordName(id, derived), err)
	}
	e := &model.Event{
		EventID:        id,
		EventIDDerived: derived,
		EventTime:      t.UTC(),
		EventVersion:   r.EventVersion,
		EventSource:    r.EventSource,
		EventName:      r.EventName,
		EventType:      r.EventType,
		AWSRegion:      r.AWSRegion,
		AccountID:      first(r.RecipientAccountID, r.UserIdentity.AccountID),
		SourceIP:       r.SourceIPAddress,
		UserAgent:      r.UserAgent,
		ErrorCode:      r.ErrorCode,
		ErrorMessage:   r.ErrorMessage,
		Outcome:        "success",
		Action:         Action(r.EventName),
		Environment:    n.Environment,
		Raw:            string(raw),
	}
	if isInsight(&r) {
		setInsight(e, &r, r.InsightDetails)
		return e, nil
	}
	var extra struct {
		MFAUsed  string `json:"MFAUsed"`
		UserName string `json:"UserName"`
	}
	decodeObject(r.AdditionalData, &extra)
	e.MFAUsed = extra.MFAUsed == "Yes"
	setIdentity(e, &r.UserIdentity, extra.UserName)

	if isSignIn(r.EventSource, r.EventName) {
		e.Action = "login"
		e.LoginResult = "success"
		if r.ErrorCode != "" || signInFailed(r.ResponseElements) || signInFailed(r.ServiceDetails) {
			e.LoginResult = "failure"
		}
	}
	if r.ErrorCode != "" || e.LoginResult == "failure" {
		e.Outcome = "failure"
	}

	e.IsReadOnly = readOnly(r.ReadOnly, e.Action)
	e.EventCategory = category(r.EventSource, r.EventName)
	e.IsNetworkSecurity = isNetworkSecurity(r.EventSource, r.EventName, e.IsReadOnly)
	var q request
	switch r.EventSource {
	case "iam.amazonaws.com", "ec2.amazonaws.com", "s3.amazonaws.com", "s3-control.amazonaws.com", "rds.amazonaws.com":
		decodeObject(r.RequestParameters, &q)
	}
	e.IsPublicExposure = e.Outcome == "success" && isPublicExposure(r.EventName, &q)
	e.NetworkRule = networkRule(r.EventSource, r.EventName, &q)
	setTarget(e, r.EventSource, &q)
	var p response
	decodeObject(r.ResponseElements, &p)
	tg := resources(r.EventSource, r.EventName, r.AWSRegion, e.AccountID, partition(e.UserARN, r.AWSRegion), &q, &p, r.Resources)
	e.ResourceType, e.ResourceNames, e.ResourceARNs = tg.typ, tg.names, tg.arns

	if n.Geo != nil {
		if loc, ok := n.Geo.Lookup(r.SourceIPAddress); ok {
			e.CountryCode, e.CountryName, e.City = loc.CountryCode, loc.CountryName, loc.City
			e.Latitude, e.Longitude = loc.Latitude, loc.Longitude
		}
	}
	if n.Admins != nil && e.UserName != "" {
		e.IsAdmin = n.Admins.IsAdmin(e.UserName)
	}
	return e, nil
}

// derivedID returns the event ID of a record that has none: a UUID of version 8 (RFC 9562)
// whose free bits are the first of the SHA-256 of the record's bytes as read. It is
// name-based, so every delivery of a record gets the same ID and deduplicates in the events
// table (a ReplacingMergeTree keyed by event_id) as one with its own ID does; a random
// version 4 would give each delivery another. Version 8 and not the name-based version 5,
// because version 5 hashes with SHA-1, whose collisions can be made: a crafted record
// could take another's ID and replace it in the table. RFC 9562 gives version 8 to
// name-based UUIDs made with another hash, SHA-256 its example. The record's bytes are the
// whole name; there is no namespace.
func derivedID(raw []byte) string {
	sum := sha256.Sum256(raw)
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // variant 10, RFC 9562's
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	hex.Encode(b[9:13], u[4:6])
	hex.Encode(b[14:18], u[6:8])
	hex.Encode(b[19:23], u[8:10])
	hex.Encode(b[24:36], u[10:16])
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	return string(b[:])
}

// recordName names a record in an error by its event ID, saying when the ID is derived.
func recordName(id string, derived bool) string {
	if derived {
		return id + " (no eventID; derived from the record)"
	}
	return id
}

// checkTime tells why t cannot be the eventTime of a real record, if it cannot.
func (n *Normalizer) checkTime(t time.Time) error {
	if t.Before(earliestEventTime) {
		return fmt.Errorf("eventTime %s is before %s, when CloudTrail began", t.UTC().Format(time.RFC3339), earliestEventTime.Format(time.RFC3339))
	}
	now := time.Now
	if n.Now != nil {
		now = n.Now
	}
	if limit := now().Add(maxLead); t.After(limit) {
		return fmt.Errorf("eventTime %s is after %s, %s ahead of the present", t.UTC().Format(time.RFC3339), limit.UTC().Format(time.RFC3339), maxLead)
	}
	return nil
}

// isSignIn tells the calls that are a sign-in attempt: console sign-in and its MFA step, and
// the steps of an IAM Identity Center sign-in.
func isSignIn(source, name string) bool {
	switch name {
	case "ConsoleLogin", "CheckMfa", "UserAuthentication", "CredentialChallenge", "CredentialVerification":
		return true
	}
	return source == "signin.amazonaws.com" && strings.HasSuffix(name, "Login")
}

// signInResult is where a sign-in records its result: responseElements for the console
// (ConsoleLogin, CheckMfa), serviceEventDetails for Identity Center.
type signInResult struct {
	ConsoleLogin           string `json:"ConsoleLogin"`
	CheckMfa               string `json:"CheckMfa"`
	UserAuthentication     string `json:"UserAuthentication"`
	CredentialChallenge    string `json:"CredentialChallenge"`
	CredentialVerification string `json:"CredentialVerification"`
}

// signInFailed tells whether v, a responseElements or serviceEventDetails object, reports a
// failed sign-in step.
func signInFailed(v jsontext.Value) bool {
	var s signInResult
	if !decodeObject(v, &s) {
		return false
	}
	for _, r := range []string{s.ConsoleLogin, s.CheckMfa, s.UserAuthentication, s.CredentialChallenge, s.CredentialVerification} {
		if r == "Failure" {
			return true
		}
	}
	return false
}

// readOnly is CloudTrail's readOnly when the record has it (true or "true"), else derived
// from the action.
func readOnly(v jsontext.Value, action string) bool {
	switch string(v) {
	case "true", `"true"`:
		return true
	case "false", `"false"`:
		return false
	}
	return action == "read" || action == "list"
}

// partition is the AWS partition (aws, aws-cn, aws-us-gov, ...) of the actor's ARN, else of
// the region: the actor and the resources it acts on are always in one partition.
func partition(arn, region string) string {
	if rest, ok := strings.CutPrefix(arn, "arn:"); ok {
		if p, _, ok := strings.Cut(rest, ":"); ok && p != "" {
			return p
		}
	}
	for _, r := range regionPartitions {
		if strings.HasPrefix(region, r.prefix) {
			return r.partition
		}
	}
	return "aws"
}

// regionPartitions are the region name prefixes of the partitions other than aws.
var regionPartitions = []struct{ prefix, partition string }{
	{"cn-", "aws-cn"}, {"us-gov-", "aws-us-gov"}, {"us-isob-", "aws-iso-b"}, {"us-isof-", "aws-iso-f"},
	{"us-iso-", "aws-iso"}, {"eu-isoe-", "aws-iso-e"},
}

// verbs maps the leading verb of an API name to its action; the first match wins. Paired
// verbs go the same way: Add/Remove and Register/Deregister create and delete what they
// name, Attach/Detach, Associate/Disassociate and Authorize/Revoke modify what they attach
// to. A call that neither reads nor changes configuration (Decrypt, AssumeRole, SendCommand)
// is other.
var verbs = []struct{ prefix, action string }{
	{"ConsoleLogin", "login"}, {"CheckMfa", "login"}, {"UserAuthentication", "login"},
	{"CredentialChallenge", "login"}, {"CredentialVerification", "login"},
	{"Create", "create"}, {"Run", "create"}, {"Allocate", "create"}, {"Put", "create"},
	{"Add", "create"}, {"Import", "create"}, {"Register", "create"}, {"Copy", "create"},
	{"Issue", "create"}, {"Request", "create"}, {"Upload", "create"}, {"Launch", "create"},
	{"Publish", "create"}, {"Purchase", "create"}, {"Restore", "create"}, {"Subscribe", "create"},
	{"Delete", "delete"}, {"Terminate", "delete"}, {"Release", "delete"}, {"Remove", "delete"},
	{"Deregister", "delete"}, {"Purge", "delete"}, {"Retire", "delete"}, {"Unsubscribe", "delete"},
	{"Leave", "delete"},
	{"Describe", "read"}, {"Get", "read"}, {"Head", "read"}, {"Lookup", "read"}, {"Search", "read"},
	{"Query", "read"}, {"Scan", "read"}, {"Select", "read"}, {"Filter", "read"}, {"Download", "read"},
	{"Simulate", "read"}, {"Decode", "read"}, {"Estimate", "read"}, {"Validate", "read"},
	{"List", "list"},
	{"Update", "modify"}, {"Modify", "modify"}, {"Set", "modify"}, {"Attach", "modify"},
	{"Authorize", "modify"}, {"Associate", "modify"}, {"Enable", "modify"}, {"Disable", "modify"},
	{"Change", "modify"}, {"Replace", "modify"}, {"Reset", "modify"}, {"Start", "modify"},
	{"Stop", "modify"}, {"Reboot", "modify"}, {"Tag", "modify"}, {"Untag", "modify"},
	{"Revoke", "modify"}, {"Detach", "modify"}, {"Disassociate", "modify"}, {"Cancel", "modify"},
	{"Accept", "modify"}, {"Reject", "modify"}, {"Apply", "modify"}, {"Assign", "modify"},
	{"Unassign", "modify"}, {"Rotate", "modify"}, {"Suspend", "modify"}, {"Resume", "modify"},
	{"Activate", "modify"}, {"Deactivate", "modify"}, {"Move", "modify"}, {"Write", "modify"},
}

// Action classifies an API name as create, delete, modify, read, list, login or other by its
// leading verb. A Batch call is classified by the verb after Batch: BatchGetItem reads.
func Action(eventName string) string {
	if rest, ok := strings.CutPrefix(eventName, "Batch"); ok && wordStart(rest) {
		eventName = rest
	}
	for _, v := range verbs {
		// The verb must be a whole word: PutObject, not Putty.
		if rest, ok := strings.CutPrefix(eventName, v.prefix); ok && (rest == "" || wordStart(rest)) {
			return v.action
		}
	}
	return "other"
}

// wordStart tells whether s starts a new word of an API name: an upper-case letter.
func wordStart(s string) bool { return s != "" && s[0] >= 'A' && s[0] <= 'Z' }
