package model

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/trailstream/trailstream/schemas"
)

// benchEventFor is a realistic event: a denied kms:Decrypt call whose raw record is 1.2 KB.
// It panics when the fixture cannot be read and tb is nil.
func benchEventFor(tb testing.TB) *Event {
	raw, err := os.ReadFile("testdata/kms_decrypt_denied.json")
	if err != nil {
		if tb == nil {
			panic(err)
		}
		tb.Fatal(err)
	}
	return &Event{
		EventID: "7074529f-19e5-401e-a5b2-4c3766b3143c", EventTime: time.Date(2026, 11, 21, 22, 49, 29, 0, time.UTC),
		EventVersion: "1.08", EventSource: "kms.amazonaws.com", EventName: "Decrypt", EventType: "AwsApiCall",
		AWSRegion: "us-west-2", AccountID: "365704883948", SourceIP: "79.215.3.14",
		UserAgent: "aws-cli/2.13.25 Python/3.11.5 Linux/6.5.0-1014-aws exe/x86_64.ubuntu.22 prompt/off",
		UserType:  "IAMUser", UserName: "erin", UserARN: "arn:aws:iam::365704883948:user/erin",
		ErrorCode: "AccessDeniedException",
		ErrorMessage: "User: arn:aws:iam::365704883948:user/erin is not authorized to perform: kms:Decrypt " +
			"because no identity-based policy allows the kms:Decrypt action",
		Outcome: "failure", Action: "other", Environment: "prod", Raw: string(bytes.TrimSpace(raw)),
	}
}

func reportRecords(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkEncodeEvent measures EncodeEvent into a reused buffer.
func BenchmarkEncodeEvent(b *testing.B) {
	e := benchEventFor(b)
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		if buf, err = EncodeEvent(buf[:0], e); err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b)
}

// BenchmarkEncodeEventGoavro is the yardstick: goavro encoding the same event from a map.
func BenchmarkEncodeEventGoavro(b *testing.B) {
	codec, err := goavro.NewCodec(schemas.Event)
	if err != nil {
		b.Fatal(err)
	}
	e := benchEventFor(b)
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if buf, err = codec.SingleFromNative(buf[:0], goavroEvent(e)); err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b)
}

// BenchmarkDecodeEvent measures DecodeEvent of the same event.
func BenchmarkDecodeEvent(b *testing.B) {
	msg, err := EncodeEvent(nil, benchEventFor(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeEvent(msg); err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b)
}

// BenchmarkEncodeEventConfluent measures EncodeEventAfter with the Confluent wire format's
// 5-byte header (0x00, schema ID) into a reused buffer: the framing adds no allocation.
func BenchmarkEncodeEventConfluent(b *testing.B) {
	e := benchEventFor(b)
	header := []byte{0, 0, 0, 0, 1}
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		if buf, err = EncodeEventAfter(buf[:0], header, e); err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b)
}

// BenchmarkDecodeEventDatum measures DecodeEventDatum of the same event's datum.
func BenchmarkDecodeEventDatum(b *testing.B) {
	msg, err := EncodeEventAfter(nil, []byte{0, 0, 0, 0, 1}, benchEventFor(b))
	if err != nil {
		b.Fatal(err)
	}
	fp := EventFingerprint()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeEventDatum(fp, msg[5:], 5); err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b)
}
