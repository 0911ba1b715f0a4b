package normalize

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/model"
)

func TestNormalizeSumoSample(t *testing.T) {
	raw, err := os.ReadFile("testdata/console_login_failure.json")
	if err != nil {
		t.Fatal(err)
	}
	e, err := Normalize(raw, "prod")
	if err != nil {
		t.Fatal(err)
	}
	want := model.Event{
		EventID: "f36c1d07-73cf-4ab8-84b1-04c93ac2aaeb", EventTime: time.Date(2017, 9, 27, 20, 0, 10, 0, time.UTC),
		EventVersion: "1.01", EventSource: "signin.amazonaws.com", EventName: "ConsoleLogin", AWSRegion: "us-east-1",
		AccountID: "956882708938", SourceIP: "65.98.119.36",
		UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/37.0.2062.124 Safari/537.36",
		UserType:  "IAMUser", UserName: "system", UserARN: "arn:aws:iam::956882708938:user/Olaf",
		Outcome: "failure", MFAUsed: false, Action: "login", Environment: "prod", Raw: string(raw),
		PrincipalID: "AIDAJ6IGVQ4XQZQDAYEOA", ActorAccountID: "956882708938", LoginResult: "failure",
		EventCategory: "authentication",
	}
	if !reflect.DeepEqual(*e, want) {
		t.Fatalf("got  %+v\nwant %+v", *e, want)
	}
}

func TestNormalizeFields(t *testing.T) {
	base := `"eventVersion":"1.08","eventTime":"2026-11-21T10:00:00Z","eventID":"id1","awsRegion":"eu-west-1"`
	tests := []struct {
		name   string
		record string
		check  func(*model.Event) bool
	}{
		{"recipientAccountId wins", `{` + base + `,"recipientAccountId":"111","userIdentity":{"accountId":"222"}}`,
			func(e *model.Event) bool { return e.AccountID == "111" }},
		{"userIdentity.accountId as fallback", `{` + base + `,"userIdentity":{"accountId":"222"}}`,
			func(e *model.Event) bool { return e.AccountID == "222" }},
		{"error code is a failure", `{` + base + `,"eventName":"CreateUser","errorCode":"AccessDenied","errorMessage":"no"}`,
			func(e *model.Event) bool {
				return e.Outcome == "failure" && e.ErrorCode == "AccessDenied" && e.ErrorMessage == "no"
			}},
		{"successful login with MFA", `{` + base + `,"eventName":"ConsoleLogin","responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"Yes"}}`,
			func(e *model.Event) bool { return e.Outcome == "success" && e.MFAUsed && e.Action == "login" }},
		{"root", `{` + base + `,"userIdentity":{"type":"Root","arn":"arn:aws:iam::111:root","accountId":"111"}}`,
			func(e *model.Event) bool { return e.UserName == "root" && e.UserType == "Root" }},
		{"assumed role is the session", `{` + base + `,"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111:assumed-role/Admin/alice@example.com","userName":""}}`,
			func(e *model.Event) bool { return e.UserName == "alice@example.com" }},
		{"AWS service", `{` + base + `,"userIdentity":{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}}`,
			func(e *model.Event) bool { return e.UserName == "ec2.amazonaws.com" }},
		{"responseElements null and odd additionalEventData", `{` + base + `,"responseElements":null,"additionalEventData":"x"}`,
			func(e *model.Event) bool { return e.Outcome == "success" && !e.MFAUsed }},
		{"unknown fields and newer version", `{` + base + `,"eventVersion":"1.99","somethingNew":{"a":[1,2]}}`,
			func(e *model.Event) bool { return e.EventVersion == "1.99" }},

		// Identity.
		{"assumed role: issuer role, session, MFA, invoking service", `{` + base + `,"userIdentity":{"type":"AssumedRole",` +
			`"principalId":"AROA1:s","arn":"arn:aws:sts::111:assumed-role/R/s","accountId":"111","accessKeyId":"ASIA1","invokedBy":"ecs.amazonaws.com",` +
			`"sessionContext":{"sessionIssuer":{"type":"Role","userName":"R","arn":"arn:aws:iam::111:role/team/R"},"attributes":{"mfaAuthenticated":"true"}}}}`,
			func(e *model.Event) bool {
				return e.UserName == "s" && e.SessionName == "s" && e.RoleName == "R" && e.SessionMFA && e.PrincipalID == "AROA1:s" &&
					e.AccessKeyID == "ASIA1" && e.ActorAccountID == "111" && e.InvokedBy == "ecs.amazonaws.com"
			}},
		{"assumed role without session issuer: role from the ARN", `{` + base + `,"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111:assumed-role/R/s"}}`,
			func(e *model.Event) bool { return e.RoleName == "R" && e.UserName == "s" }},
		{"role", `{` + base + `,"userIdentity":{"type":"Role","arn":"arn:aws:iam::111:role/etl"}}`,
			func(e *model.Event) bool { return e.UserName == "etl" && e.RoleName == "etl" && e.SessionName == "" }},
		{"federated user: the name of the ARN", `{` + base + `,"userIdentity":{"type":"FederatedUser","principalId":"111:carol","arn":"arn:aws:sts::111:federated-user/carol"}}`,
			func(e *model.Event) bool { return e.UserName == "carol" && e.RoleName == "" }},
		{"AWS account: the other account's principal", `{` + base + `,"userIdentity":{"type":"AWSAccount","principalId":"AIDA1","accountId":"444"}}`,
			func(e *model.Event) bool { return e.UserName == "AIDA1" && e.ActorAccountID == "444" }},
		{"AWS account: anonymous", `{` + base + `,"userIdentity":{"type":"AWSAccount","principalId":"","accountId":"anonymous"}}`,
			func(e *model.Event) bool { return e.UserName == "anonymous" }},
		{"Identity Center user: the user ID", `{` + base + `,"userIdentity":{"type":"IdentityCenterUser","accountId":"111","onBehalfOf":{"userId":"u-1"}}}`,
			func(e *model.Event) bool { return e.UserName == "u-1" }},
		{"Identity Center user named in additionalEventData", `{` + base + `,"userIdentity":{"type":"IdentityCenterUser","onBehalfOf":{"userId":"u-1"}},"additionalEventData":{"UserName":"dana"}}`,
			func(e *model.Event) bool { return e.UserName == "dana" }},
		{"SAML user without userName: the principal's name", `{` + base + `,"userIdentity":{"type":"SAMLUser","principalId":"idp:dana"}}`,
			func(e *model.Event) bool { return e.UserName == "dana" }},
		{"web identity user", `{` + base + `,"userIdentity":{"type":"WebIdentityUser","principalId":"accounts.google.com:app:123","userName":"123"}}`,
			func(e *model.Event) bool { return e.UserName == "123" }},
		{"directory user", `{` + base + `,"userIdentity":{"type":"Directory","principalId":"S-1-5-21-1","userName":"jdoe"}}`,
			func(e *model.Event) bool { return e.UserName == "jdoe" }},
		{"unknown type with a principal only", `{` + base + `,"userIdentity":{"type":"Unknown","principalId":"p-1"}}`,
			func(e *model.Event) bool { return e.UserName == "p-1" && e.UserType == "Unknown" }},
		{"a type yet to come", `{` + base + `,"userIdentity":{"type":"Robot","userName":"r2"}}`,
			func(e *model.Event) bool { return e.UserName == "r2" && e.UserType == "Robot" }},
		{"hidden user name is flagged, never a user", `{` + base + `,"userIdentity":{"type":"IAMUser","accountId":"111","userName":"HIDDEN_DUE_TO_SECURITY_REASONS"}}`,
			func(e *model.Event) bool { return e.UserName == "" && e.UserNameHidden && !e.IsAdmin }},
		{"hidden user name in additionalEventData", `{` + base + `,"userIdentity":{"type":"Unknown"},"additionalEventData":{"UserName":"HIDDEN_DUE_TO_SECURITY_REASONS"}}`,
			func(e *model.Event) bool { return e.UserName == "" && e.UserNameHidden }},
		{"admin, in another case", `{` + base + `,"userIdentity":{"type":"IAMUser","userName":"Alice"}}`,
			func(e *model.Event) bool { return e.IsAdmin }},
		{"not an admin", `{` + base + `,"userIdentity":{"type":"IAMUser","userName":"bob"}}`,
			func(e *model.Event) bool { return !e.IsAdmin }},

		// Sign-in and outcome.
		{"failed console login", `{` + base + `,"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","errorMessage":"Failed authentication","responseElements":{"ConsoleLogin":"Failure"}}`,
			func(e *model.Event) bool {
				return e.Outcome == "failure" && e.LoginResult == "failure" && e.Action == "login"
			}},
		{"failed MFA check", `{` + base + `,"eventSource":"signin.amazonaws.com","eventName":"CheckMfa","responseElements":{"CheckMfa":"Failure"}}`,
			func(e *model.Event) bool { return e.Outcome == "failure" && e.LoginResult == "failure" }},
		{"passed MFA check", `{` + base + `,"eventSource":"signin.amazonaws.com","eventName":"CheckMfa","responseElements":{"CheckMfa":"Success"}}`,
			func(e *model.Event) bool { return e.Outcome == "success" && e.LoginResult == "success" }},
		{"failed Identity Center credential", `{` + base + `,"eventSource":"signin.amazonaws.com","eventName":"CredentialVerification","serviceEventDetails":{"CredentialVerification":"Failure"}}`,
			func(e *model.Event) bool {
				return e.Outcome == "failure" && e.LoginResult == "failure" && e.Action == "login"
			}},
		{"Identity Center sign-in", `{` + base + `,"eventSource":"signin.amazonaws.com","eventName":"UserAuthentication","serviceEventDetails":{"UserAuthentication":"Success"}}`,
			func(e *model.Event) bool {
				return e.Outcome == "success" && e.LoginResult == "success" && e.Action == "login"
			}},
		{"another sign-in of the sign-in service", `{` + base + `,"eventSource":"signin.amazonaws.com","eventName":"ExternalIdPDirectoryLogin"}`,
			func(e *model.Event) bool { return e.LoginResult == "success" && e.Action == "login" }},
		{"console role switch is no sign-in", `{` + base + `,"eventSource":"signin.amazonaws.com","eventName":"SwitchRole","responseElements":{"SwitchRole":"Success"}}`,
			func(e *model.Event) bool { return e.LoginResult == "" && e.Action == "other" }},
		{"a call is no sign-in", `{` + base + `,"eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","errorCode":"Client.UnauthorizedOperation"}`,
			func(e *model.Event) bool { return e.LoginResult == "" && e.Outcome == "failure" }},
		{"MFAUsed other than Yes", `{` + base + `,"eventName":"ConsoleLogin","additionalEventData":{"MFAUsed":"No"}}`,
			func(e *model.Event) bool { return !e.MFAUsed }},

		// Read-only.
		{"readOnly true", `{` + base + `,"eventName":"Decrypt","readOnly":true}`,
			func(e *model.Event) bool { return e.IsReadOnly }},
		{"readOnly as a string", `{` + base + `,"eventName":"DescribeInstances","readOnly":"false"}`,
			func(e *model.Event) bool { return !e.IsReadOnly }},
		{"readOnly absent: from the action", `{` + base + `,"eventName":"ListBuckets"}`,
			func(e *model.Event) bool { return e.IsReadOnly }},
		{"readOnly absent, a change", `{` + base + `,"eventName":"DeleteBucket"}`,
			func(e *model.Event) bool { return !e.IsReadOnly }},

		// Geolocation.
		{"public IPv4 address", `{` + base + `,"sourceIPAddress":"81.2.69.142"}`,
			func(e *model.Event) bool {
				return e.CountryCode == "GB" && e.CountryName == "United Kingdom" && e.Latitude != 0
			}},
		{"public IPv6 address", `{` + base + `,"sourceIPAddress":"2a01:4f8:c2c:123f::1"}`,
			func(e *model.Event) bool { return e.CountryCode == "DE" }},
		{"private address", `{` + base + `,"sourceIPAddress":"10.1.2.3"}`,
			func(e *model.Event) bool { return e.CountryCode == "" && e.Latitude == 0 && e.Longitude == 0 }},
		{"AWS service source", `{` + base + `,"sourceIPAddress":"ec2.amazonaws.com"}`,
			func(e *model.Event) bool { return e.CountryCode == "" && e.CountryName == "" }},
		{"AWS Internal", `{` + base + `,"sourceIPAddress":"AWS Internal"}`,
			func(e *model.Event) bool { return e.CountryCode == "" }},
	}
	n := goldenNormalizer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := n.Normalize([]byte(tt.record))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(e) {
				t.Fatalf("unexpected event %+v", *e)
			}
		})
	}
}

func TestNormalizeRejects(t *testing.T) {
	for _, in := range []string{``, `[]`, `"x"`, `{}`, `{"eventID":"a"}`, `{"eventID":"a","eventTime":"yesterday"}`, `{"eventID":1}`} {
		if e, err := Normalize([]byte(in), ""); err == nil {
			t.Errorf("Normalize(%q) = %+v, want an error", in, e)
		}
	}
}

// TestNormalizeDerivedEventID checks that a record without an eventID is kept with an ID
// derived from its bytes: the same for the same bytes, another for other bytes, and marked.
// The IDs written down are those of the fixtures by hand: the first 32 hex digits of
// `sha256sum testdata/no_event_id/<file>`, cut 8-4-4-4-12, with the 13th digit made 8 (the
// version) and the 17th made 8, 9, a or b by keeping its low two bits (the variant).
func TestNormalizeDerivedEventID(t *testing.T) {
	tests := []struct {
		file        string
		wantID      string
		wantDerived bool
	}{
		// sha256sum 1e2be024bb3fdd809f328d3fb9f2fd09…
		{"no_event_id/create_user.json", "1e2be024-bb3f-8d80-9f32-8d3fb9f2fd09", true},
		// sha256sum b8728572396b5bd5573d6b1738360041…
		{"no_event_id/delete_user.json", "b8728572-396b-8bd5-973d-6b1738360041", true},
		{"corpus/iam_create_user.json", "ea17f72e-6bc3-59a2-97ad-cfe4ddf53fe1", false},
	}
	n := goldenNormalizer(t)
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // a redelivery gets the same ID
				e, err := n.Normalize(raw)
				if err != nil {
					t.Fatal(err)
				}
				if e.EventID != tt.wantID || e.EventIDDerived != tt.wantDerived {
					t.Fatalf("event_id %s, event_id_derived %v; want %s, %v", e.EventID, e.EventIDDerived, tt.wantID, tt.wantDerived)
				}
				if e.EventName == "" || e.UserName != "alice" || e.Raw != string(raw) {
					t.Fatalf("the record was not normalized in full: %+v", e)
				}
			}
		})
	}
}

// TestNormalizeEventTimeBounds checks that a record dated before CloudTrail existed, or
// more than a day ahead of the normalizer's clock, is an error naming its time and the bound
// it broke, and that the times within the bounds pass.
func TestNormalizeEventTimeBounds(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	n := &Normalizer{Environment: "test", Now: func() time.Time { return now }}
	tests := []struct {
		file    string // in testdata/event_time
		want    time.Time
		wantErr []string // all in the error; nil: accepted with event time want
	}{
		{"year_3000.json", time.Time{}, []string{"5d0c1a3e-7f26-4b8e-9c41-3000a0000001", "eventTime 3000-01-01T00:00:00Z", "after 2026-11-22T12:00:00Z"}},
		{"a_day_and_a_second_ahead.json", time.Time{}, []string{"eventTime 2026-11-22T12:00:01Z", "after 2026-11-22T12:00:00Z"}},
		{"a_day_ahead.json", time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), nil},
		{"one_hour_ahead.json", time.Date(2026, 11, 21, 13, 0, 0, 0, time.UTC), nil},
		{"year_2014.json", time.Date(2014, 1, 15, 8, 30, 0, 0, time.UTC), nil},
		{"launch_day.json", time.Date(2013, 11, 13, 0, 0, 0, 0, time.UTC), nil},
		{"day_before_launch.json", time.Time{}, []string{"eventTime 2013-11-12T23:59:59Z", "before 2013-11-13T00:00:00Z"}},
		{"year_1999.json", time.Time{}, []string{"5d0c1a3e-7f26-4b8e-9c41-1999a0000001", "eventTime 1999-12-31T23:59:59Z", "before 2013-11-13T00:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata/event_time", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			e, err := n.Normalize(raw)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if !e.EventTime.Equal(tt.want) {
					t.Fatalf("event time %s, want %s", e.EventTime, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted as an event of %s, want an error", e.EventTime)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// FuzzNormalize checks that whatever Normalize accepts becomes a complete event, dated
// within the bounds of a true eventTime, that encodes. Its seeds are the corpus records, some cut short, and a few odd shapes.
func FuzzNormalize(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*.json")
	if len(files) == 0 {
		f.Fatal("no corpus in testdata/corpus")
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
		f.Add(raw[:len(raw)/2])
	}
	f.Add([]byte(`{"eventID":"a","eventTime":"2026-11-21T10:00:00Z","userIdentity":{"type":"AssumedRole","arn":"x/y"}}`))
	f.Add([]byte(`{"eventID":"a","eventTime":"2026-11-21T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","requestParameters":{"bucketPolicy":"{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\"}}"}}`))
	f.Add([]byte(`{"eventID":"a","eventTime":"2026-11-21T10:00:00Z","resources":[{"type":"AWS::X::Y","ARN":"arn:aws:x:::y/z"},{}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := Normalize(in, "fuzz")
		if err != nil {
			return
		}
		// An Insights event reports a rate, not a call: it alone has no outcome.
		outcomeOK := e.Outcome == "success" || e.Outcome == "failure" || e.Outcome == "" && e.EventCategory == "insight"
		if e.EventID == "" || e.EventTime.IsZero() || !outcomeOK {
			t.Fatalf("accepted record gave an incomplete event: %+v", e)
		}
		if e.EventTime.Before(earliestEventTime) || e.EventTime.After(time.Now().Add(maxLead)) {
			t.Fatalf("accepted an event time that cannot be true: %s", e.EventTime)
		}
		if e.EventIDDerived && (len(e.EventID) != 36 || e.EventID[14] != '8') {
			t.Fatalf("derived event ID %q is not a version 8 UUID", e.EventID)
		}
		if _, err := model.EncodeEvent(nil, e); err != nil {
			t.Fatalf("accepted record does not encode: %v", err)
		}
	})
}

// benchRecords is the corpus of the benchmarks: every record in testdata/bench.jsonl.
func benchRecords(b *testing.B) [][]byte {
	data, err := os.ReadFile("testdata/bench.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	var recs [][]byte
	for _, l := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			recs = append(recs, l)
		}
	}
	return recs
}

// BenchmarkNormalize measures raw JSON bytes to Avro bytes.
func BenchmarkNormalize(b *testing.B) {
	recs := benchRecords(b)
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e, err := Normalize(recs[i%len(recs)], "bench")
		if err != nil {
			b.Fatal(err)
		}
		if buf, err = model.EncodeEvent(buf[:0], e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDecodeMap is the yardstick: the same records decoded into map[string]any.
func BenchmarkDecodeMap(b *testing.B) {
	recs := benchRecords(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var m map[string]any
		if err := json.Unmarshal(recs[i%len(recs)], &m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
