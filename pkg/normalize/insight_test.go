package normalize

import (
	"slices"
	"testing"
)

// TestInsightShapes checks Insights records of every shape, including broken ones: each
// is an event of the insight category, never an error and never a call.
func TestInsightShapes(t *testing.T) {
	const head = `{"eventVersion":"1.08","eventTime":"2026-11-21T14:37:00Z","awsRegion":"eu-west-1","eventID":"e1","recipientAccountId":"111122223333",`
	tests := []struct {
		name              string
		record            string
		source, eventName string
		resources         []string
	}{
		{"trail record", head + `"eventType":"AwsCloudTrailInsight","sharedEventID":"s1","insightDetails":{"state":"Start","eventSource":"iam.amazonaws.com","eventName":"DeleteUser","insightType":"ApiCallRateInsight"}}`,
			"iam.amazonaws.com", "DeleteUser", []string{"s1"}},
		{"only eventCategory says Insight", head + `"eventCategory":"Insight","sharedEventID":"s2","insightDetails":{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging"}}`,
			"cloudtrail.amazonaws.com", "StopLogging", []string{"s2"}},
		{"no insightDetails", head + `"eventType":"AwsCloudTrailInsight","sharedEventID":"s3"}`, "", "", []string{"s3"}},
		{"insightDetails not an object", head + `"eventType":"AwsCloudTrailInsight","insightDetails":"Start"}`, "", "", nil},
		{"sharedEventID not a string", head + `"eventType":"AwsCloudTrailInsight","sharedEventID":42,"insightDetails":{"eventSource":"s3.amazonaws.com","eventName":"PutObject"}}`,
			"s3.amazonaws.com", "PutObject", nil},
		{"insightDetails of the wrong types", head + `"eventType":"AwsCloudTrailInsight","insightDetails":{"eventSource":7,"eventName":["x"]}}`, "", "", nil},
		{"a call's fields beside insightDetails are not read", head + `"eventType":"AwsCloudTrailInsight","eventSource":"sts.amazonaws.com","eventName":"ConsoleLogin","errorCode":"AccessDenied",` +
			`"userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root"},"sourceIPAddress":"1.2.3.4","userAgent":"x","responseElements":{"ConsoleLogin":"Failure"},` +
			`"insightDetails":{"eventSource":"kms.amazonaws.com","eventName":"Decrypt"}}`,
			"kms.amazonaws.com", "Decrypt", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Normalize([]byte(tt.record), "test")
			if err != nil {
				t.Fatalf("an Insights record is an error: %v", err)
			}
			if e.EventSource != tt.source || e.EventName != tt.eventName {
				t.Errorf("event %s %s, want %s %s", e.EventSource, e.EventName, tt.source, tt.eventName)
			}
			if e.EventCategory != "insight" || e.Action != "other" || e.Outcome != "" || e.LoginResult != "" || e.IsReadOnly {
				t.Errorf("category %q, action %q, outcome %q, login %q, read-only %v; want insight, other, no outcome, no login, not read-only",
					e.EventCategory, e.Action, e.Outcome, e.LoginResult, e.IsReadOnly)
			}
			if e.ResourceType != "cloudtrail-insight" || !slices.Equal(e.ResourceNames, tt.resources) {
				t.Errorf("resource %s %v, want cloudtrail-insight %v", e.ResourceType, e.ResourceNames, tt.resources)
			}
			if e.AccountID != "111122223333" || e.AWSRegion != "eu-west-1" || e.EventID != "e1" {
				t.Errorf("account %s, region %s, ID %s", e.AccountID, e.AWSRegion, e.EventID)
			}
			if e.UserType != "" || e.UserName != "" || e.UserARN != "" || e.SourceIP != "" || e.UserAgent != "" || e.ErrorCode != "" ||
				e.IsPublicExposure || e.IsNetworkSecurity || e.NetworkRule != "" || e.MFAUsed {
				t.Errorf("an insight has an actor, an error or a call's flags: %+v", e)
			}
		})
	}
}

// TestNotInsight checks that the Insights fields decide nothing for other records, whatever
// their types: a call stays a call.
func TestNotInsight(t *testing.T) {
	const call = `{"eventTime":"2026-11-21T14:37:00Z","eventID":"e1","eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventType":"AwsApiCall",`
	tests := []struct{ name, record string }{
		{"eventCategory Management", call + `"eventCategory":"Management"}`},
		{"eventCategory a number", call + `"eventCategory":7}`},
		{"an insight's fields on a call", call + `"sharedEventID":["x"],"insightDetails":{"eventSource":"kms.amazonaws.com","eventName":"Decrypt"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Normalize([]byte(tt.record), "test")
			if err != nil {
				t.Fatal(err)
			}
			if e.EventCategory != "iam" || e.EventName != "CreateUser" || e.Outcome != "success" || e.Action != "create" {
				t.Errorf("category %s, name %s, outcome %s, action %s; want iam, CreateUser, success, create", e.EventCategory, e.EventName, e.Outcome, e.Action)
			}
		})
	}
}
