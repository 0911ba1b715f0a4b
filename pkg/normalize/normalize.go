// Package normalize turns one raw CloudTrail record into a model.Event: who acted, on which
// account, with what outcome, and what kind of action it was.
package normalize

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/trailstream/trailstream/pkg/model"
)

// lenient decodes CloudTrail as AWS writes it, tolerating what strict JSON would reject
// rather than losing a record over it: duplicate keys and invalid UTF-8. Unknown fields are
// ignored, so newer eventVersions decode too.
var lenient = json.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// hiddenUser is what CloudTrail writes for a user name it will not reveal, e.g. the name
// typed in a sign-in that failed because no such user exists.
const hiddenUser = "HIDDEN_DUE_TO_SECURITY_REASONS"

// record holds the parts of a CloudTrail record the event model reads.
type record struct {
	EventVersion       string         `json:"eventVersion"`
	UserIdentity       identity       `json:"userIdentity"`
	EventTime          string         `json:"eventTime"`
	EventSource        string         `json:"eventSource"`
	EventName          string         `json:"eventName"`
	EventType          string         `json:"eventType"`
	AWSRegion          string         `json:"awsRegion"`
	SourceIPAddress    string         `json:"sourceIPAddress"`
	UserAgent          string         `json:"userAgent"`
	ErrorCode          string         `json:"errorCode"`
	ErrorMessage       string         `json:"errorMessage"`
	EventID            string         `json:"eventID"`
	RecipientAccountID string         `json:"recipientAccountId"`
	ResponseElements   jsontext.Value `json:"responseElements"`
	AdditionalData     jsontext.Value `json:"additionalEventData"`
}

type identity struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId"`
	UserName    string `json:"userName"`
	InvokedBy   string `json:"invokedBy"`
}

// Normalize decodes one CloudTrail record and returns its normalized event, stamped with
// environment. The record must be a JSON object with an eventID and a valid eventTime.
func Normalize(raw []byte, environment string) (*model.Event, error) {
	var r record
	if err := json.Unmarshal(raw, &r, lenient); err != nil {
		return nil, fmt.Errorf("CloudTrail record is not a JSON object: %w", err)
	}
	if r.EventID == "" {
		return nil, errors.New("CloudTrail record has no eventID")
	}
	t, err := time.Parse(time.RFC3339, r.EventTime)
	if err != nil {
		return nil, fmt.Errorf("CloudTrail record %s: eventTime %q: %w", r.EventID, r.EventTime, err)
	}
	e := &model.Event{
		EventID:      r.EventID,
		EventTime:    t.UTC(),
		EventVersion: r.EventVersion,
		EventSource:  r.EventSource,
		EventName:    r.EventName,
		EventType:    r.EventType,
		AWSRegion:    r.AWSRegion,
		AccountID:    r.RecipientAccountID,
		SourceIP:     r.SourceIPAddress,
		UserAgent:    r.UserAgent,
		UserType:     r.UserIdentity.Type,
		UserName:     userName(&r.UserIdentity),
		UserARN:      r.UserIdentity.ARN,
		ErrorCode:    r.ErrorCode,
		ErrorMessage: r.ErrorMessage,
		Outcome:      "success",
		Action:       Action(r.EventName),
		Environment:  environment,
		Raw:          string(raw),
	}
	if e.AccountID == "" {
		e.AccountID = r.UserIdentity.AccountID
	}
	if r.ErrorCode != "" || loginFailed(&r) {
		e.Outcome = "failure"
	}
	var extra struct {
		MFAUsed string `json:"MFAUsed"`
	}
	if len(r.AdditionalData) > 0 && r.AdditionalData[0] == '{' && json.Unmarshal(r.AdditionalData, &extra, lenient) == nil {
		e.MFAUsed = extra.MFAUsed == "Yes"
	}
	return e, nil
}

// loginFailed tells a sign-in that CloudTrail records as a call without error but with
// responseElements {"ConsoleLogin":"Failure"} (or CheckMfa: "Failure").
func loginFailed(r *record) bool {
	if len(r.ResponseElements) == 0 || r.ResponseElements[0] != '{' {
		return false
	}
	var resp struct {
		ConsoleLogin string `json:"ConsoleLogin"`
		CheckMfa     string `json:"CheckMfa"`
	}
	if json.Unmarshal(r.ResponseElements, &resp, lenient) != nil {
		return false
	}
	return resp.ConsoleLogin == "Failure" || resp.CheckMfa == "Failure"
}

// userName returns the actor a person would name: the IAM user, "root", the session
// behind an assumed role, or the service that called on the user's behalf.
func userName(id *identity) string {
	if id.UserName == hiddenUser {
		return ""
	}
	switch id.Type {
	case "Root":
		return "root"
	case "AssumedRole", "FederatedUser":
		if id.ARN != "" {
			return id.ARN[strings.LastIndexByte(id.ARN, '/')+1:]
		}
	case "AWSService":
		return id.InvokedBy
	}
	if id.UserName != "" {
		return id.UserName
	}
	return id.PrincipalID
}

// verbs maps the leading verb of an API name to its action; the first match wins.
var verbs = []struct{ prefix, action string }{
	{"ConsoleLogin", "login"}, {"CheckMfa", "login"}, {"SwitchRole", "login"},
	{"Create", "create"}, {"Run", "create"}, {"Allocate", "create"}, {"Put", "create"},
	{"Add", "create"}, {"Import", "create"}, {"Register", "create"}, {"Copy", "create"},
	{"Issue", "create"}, {"Request", "create"}, {"Upload", "create"}, {"Launch", "create"},
	{"Delete", "delete"}, {"Terminate", "delete"}, {"Release", "delete"}, {"Remove", "delete"},
	{"Deregister", "delete"},
	{"Describe", "read"}, {"Get", "read"}, {"Head", "read"}, {"Lookup", "read"}, {"Search", "read"},
	{"List", "list"},
	{"Update", "modify"}, {"Modify", "modify"}, {"Set", "modify"}, {"Attach", "modify"},
	{"Authorize", "modify"}, {"Associate", "modify"}, {"Enable", "modify"}, {"Disable", "modify"},
	{"Change", "modify"}, {"Replace", "modify"}, {"Reset", "modify"}, {"Start", "modify"},
	{"Stop", "modify"}, {"Reboot", "modify"}, {"Tag", "modify"}, {"Untag", "modify"},
	{"Revoke", "modify"}, {"Detach", "modify"}, {"Disassociate", "modify"},
	{"Assume", "other"},
}

// Action classifies an API name as create, delete, modify, read, list, login or other.
func Action(eventName string) string {
	for _, v := range verbs {
		if strings.HasPrefix(eventName, v.prefix) {
			rest := eventName[len(v.prefix):]
			// "Put" must be a whole verb: PutObject, not Putty.
			if rest == "" || (rest[0] >= 'A' && rest[0] <= 'Z') {
				return v.action
			}
		}
	}
	return "other"
}
