package normalize

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
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
		{"hidden user name is no user", `{` + base + `,"userIdentity":{"type":"IAMUser","userName":"HIDDEN_DUE_TO_SECURITY_REASONS"}}`,
			func(e *model.Event) bool { return e.UserName == "" }},
		{"responseElements null and odd additionalEventData", `{` + base + `,"responseElements":null,"additionalEventData":"x"}`,
			func(e *model.Event) bool { return e.Outcome == "success" && !e.MFAUsed }},
		{"unknown fields and newer version", `{` + base + `,"eventVersion":"1.99","somethingNew":{"a":[1,2]}}`,
			func(e *model.Event) bool { return e.EventVersion == "1.99" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Normalize([]byte(tt.record), "")
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
	for _, in := range []string{``, `[]`, `"x"`, `{"eventTime":"2026-11-21T10:00:00Z"}`, `{"eventID":"a"}`, `{"eventID":"a","eventTime":"yesterday"}`, `{"eventID":1}`} {
		if e, err := Normalize([]byte(in), ""); err == nil {
			t.Errorf("Normalize(%q) = %+v, want an error", in, e)
		}
	}
}

func TestAction(t *testing.T) {
	for name, want := range map[string]string{
		"CreateUser": "create", "RunInstances": "create", "AllocateAddress": "create", "PutBucketAcl": "create",
		"DeleteUser": "delete", "TerminateInstances": "delete", "ReleaseAddress": "delete", "RemoveUserFromGroup": "delete",
		"DescribeInstances": "read", "GetObject": "read", "ListBuckets": "list", "ConsoleLogin": "login",
		"AuthorizeSecurityGroupIngress": "modify", "UpdateTrail": "modify", "AssumeRole": "other", "Putty": "other", "": "other",
	} {
		if got := Action(name); got != want {
			t.Errorf("Action(%q) = %q, want %q", name, got, want)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	raw, _ := os.ReadFile("testdata/console_login_failure.json")
	f.Add(raw)
	f.Add([]byte(`{"eventID":"a","eventTime":"2026-11-21T10:00:00Z","userIdentity":{"type":"AssumedRole","arn":"x/y"}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := Normalize(in, "fuzz")
		if err != nil {
			return
		}
		if e.EventID == "" || e.EventTime.IsZero() || (e.Outcome != "success" && e.Outcome != "failure") {
			t.Fatalf("accepted record gave an incomplete event: %+v", e)
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
