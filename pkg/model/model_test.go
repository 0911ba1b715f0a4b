package model

import (
	"reflect"
	"testing"
	"time"
)

func TestEventRoundTrip(t *testing.T) {
	in := &Event{
		EventID: "f36c1d07-73cf-4ab8-84b1-04c93ac2aaeb", EventTime: time.Date(2017, 9, 27, 20, 0, 10, 0, time.UTC),
		EventSource: "signin.amazonaws.com", EventName: "ConsoleLogin", AWSRegion: "us-east-1",
		AccountID: "956882708938", SourceIP: "65.98.119.36", UserType: "IAMUser", UserName: "system",
		Outcome: "failure", Action: "login", MFAUsed: true, Environment: "prod", Raw: `{"eventVersion":"1.01"}`,
	}
	b, err := EncodeEvent(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0xC3 || b[1] != 0x01 {
		t.Fatalf("not Avro single-object encoding: % x", b[:2])
	}
	out, err := DecodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip changed the event:\n in: %+v\nout: %+v", in, out)
	}
	if _, err := DecodeEvent(b[:len(b)-3]); err == nil {
		t.Fatal("truncated message decoded without error")
	}
}

func TestDetectionRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := &Detection{
		DetectionID: "d1", RuleID: "short-lived-iam-object", Severity: "high", Title: "t",
		AccountID: "123456789012", ResourceType: "iam-user", ResourceName: "tmp",
		EventIDs: []string{"a", "b"}, Actors: []string{"alice", "bob"},
		FirstTime: t0, LastTime: t0.Add(time.Minute), DetectedAt: t0.Add(time.Hour),
	}
	b, err := EncodeDetection(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeDetection(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip changed the detection:\n in: %+v\nout: %+v", in, out)
	}
}
