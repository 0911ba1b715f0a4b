package model

import (
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/linkedin/goavro/v2"

	"github.com/trailstream/trailstream/schemas"
)

// history returns the earlier versions of the schema named prefix.
func history(t *testing.T, prefix string) map[string]string {
	t.Helper()
	files, err := fs.Glob(schemas.History, "history/"+prefix+".*.avsc")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := fs.ReadFile(schemas.History, f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = string(b)
	}
	return out
}

// TestSchemasEvolveCompatibly checks with Avro's resolution rules that every earlier version
// and the current schema read each other's messages.
func TestSchemasEvolveCompatibly(t *testing.T) {
	for prefix, current := range map[string]string{"cloudtrail_event": schemas.Event, "detection": schemas.Detection} {
		cur := avro.MustParse(current)
		for name, old := range history(t, prefix) {
			prev := avro.MustParse(old)
			sc := avro.NewSchemaCompatibility()
			if err := sc.Compatible(prev, cur); err != nil {
				t.Errorf("%s: a reader holding it cannot read the current schema's messages: %v", name, err)
			}
			if err := sc.Compatible(cur, prev); err != nil {
				t.Errorf("%s: the current schema cannot read its messages: %v", name, err)
			}
		}
	}
}

// TestPreviousReaderReadsNewEvent decodes an event written by this binary with a reader
// that holds the previous schema, as another team's consumer not yet upgraded would.
func TestPreviousReaderReadsNewEvent(t *testing.T) {
	e := benchEventFor(t)
	e.CountryCode, e.ResourceNames, e.IsPublicExposure, e.EventIDDerived = "DE", []string{"sg-1"}, true, true
	msg, err := EncodeEvent(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	versions := history(t, "cloudtrail_event")
	if len(versions) == 0 {
		t.Fatal("no earlier event schema in schemas/history")
	}
	for name, old := range versions {
		reader := avro.MustParse(old)
		resolved, err := avro.NewSchemaCompatibility().Resolve(reader, avro.MustParse(schemas.Event))
		if err != nil {
			t.Fatal(err)
		}
		// Without caching: the resolved schemas of two versions share a cache fingerprint, so
		// a cached decoder would read for one reader what the other's schema holds.
		var got map[string]any
		if err := (avro.Config{DisableCaching: true}).Freeze().Unmarshal(resolved, msg[10:], &got); err != nil {
			t.Fatalf("%s reader: %v", name, err)
		}
		if got["event_id"] != e.EventID || got["user_name"] != e.UserName || got["raw"] != e.Raw {
			t.Fatalf("%s reader read %v", name, got)
		}
		var fields []string
		for _, f := range reader.(*avro.RecordSchema).Fields() {
			fields = append(fields, f.Name())
		}
		if len(got) != len(fields) {
			t.Fatalf("%s reader read %d fields, want its %d: %v", name, len(got), len(fields), got)
		}
		for _, f := range fields {
			if _, ok := got[f]; !ok {
				t.Fatalf("%s reader lacks its field %s: %v", name, f, got)
			}
		}
	}
}

// TestDecodeEarlierVersion decodes a message written with the first event schema: the
// fields it has come through, the others take their defaults.
func TestDecodeEarlierVersion(t *testing.T) {
	old := history(t, "cloudtrail_event")["history/cloudtrail_event.1.avsc"]
	codec, err := goavro.NewCodec(old)
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	msg, err := codec.SingleFromNative(nil, map[string]any{
		"event_id": "old-1", "event_time": when, "event_version": "1.08", "event_source": "iam.amazonaws.com",
		"event_name": "CreateUser", "event_type": "AwsApiCall", "aws_region": "us-east-1", "account_id": "111122223333",
		"source_ip": "81.2.69.160", "user_agent": "aws-cli", "user_type": "IAMUser", "user_name": "alice",
		"user_arn": "arn:aws:iam::111122223333:user/alice", "error_code": "", "error_message": "", "outcome": "success",
		"mfa_used": true, "action": "create", "environment": "prod", "raw": "{}",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEvent(msg)
	if err != nil {
		t.Fatalf("a message of the first schema version: %v", err)
	}
	want := &Event{EventID: "old-1", EventTime: when, EventVersion: "1.08", EventSource: "iam.amazonaws.com",
		EventName: "CreateUser", EventType: "AwsApiCall", AWSRegion: "us-east-1", AccountID: "111122223333",
		SourceIP: "81.2.69.160", UserAgent: "aws-cli", UserType: "IAMUser", UserName: "alice",
		UserARN: "arn:aws:iam::111122223333:user/alice", Outcome: "success", MFAUsed: true, Action: "create",
		Environment: "prod", Raw: "{}", EventCategory: "other", ResourceNames: []string{}, ResourceARNs: []string{}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	current, err := EncodeEvent(nil, want)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		want bool
	}{
		{"first version", msg, true},
		{"current version", current, false},
		{"unknown fingerprint", append([]byte{0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8}, msg[10:]...), false},
		{"too short", msg[:9], false},
		{"not single-object encoded", []byte(`{"eventID":"x"}`), false},
	} {
		if got := EarlierEvent(tc.msg); got != tc.want {
			t.Errorf("EarlierEvent of %s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestDecodeSecondVersion decodes a message written with the second event schema, which
// lacks event_id_derived: every field it has comes through, event_id_derived is false. A
// message of the current schema keeps event_id_derived true.
func TestDecodeSecondVersion(t *testing.T) {
	codec, err := goavro.NewCodec(history(t, "cloudtrail_event")["history/cloudtrail_event.2.avsc"])
	if err != nil {
		t.Fatal(err)
	}
	e := benchEventFor(t)
	e.RoleName, e.SessionMFA, e.EventCategory, e.ResourceType = "Admin", true, "kms", "kms-key"
	e.ResourceNames, e.ResourceARNs = []string{"k-1"}, []string{"arn:aws:kms:us-west-2:365704883948:key/k-1"}
	e.CountryCode, e.CountryName, e.Latitude, e.Longitude, e.IsAdmin = "DE", "Germany", 51.5, 10.5, true
	native := goavroEvent(e)
	delete(native, "event_id_derived")
	msg, err := codec.SingleFromNative(nil, native)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEvent(msg)
	if err != nil {
		t.Fatalf("a message of the second schema version: %v", err)
	}
	if want := e.stored(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if !EarlierEvent(msg) {
		t.Error("a message of the second schema version is not reported as earlier")
	}

	e.EventIDDerived = true
	current, err := EncodeEvent(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeEvent(current); err != nil || !got.EventIDDerived || EarlierEvent(current) {
		t.Fatalf("a current message with event_id_derived: %+v, %v, earlier %v", got, err, EarlierEvent(current))
	}
}

func TestHistoryMustOnlyAppend(t *testing.T) {
	swapped := strings.Replace(schemas.Event, `"name": "event_source"`, `"name": "event_sourcex"`, 1)
	if _, _, err := leadingPart(swapped, eventCodec.fields); err == nil || !strings.Contains(err.Error(), "only append") {
		t.Fatalf("a history version that renames a field was accepted: %v", err)
	}
}
