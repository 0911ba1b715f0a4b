package deadletter

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestFromMessage(t *testing.T) {
	tests := []struct {
		name     string
		value    []byte
		encoding string
	}{
		{"text", []byte(`{"eventID":`), ""},
		{"binary", []byte{0x1f, 0x8b, 0xff, 0x00}, "base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := kafka.Message{Topic: "cloudtrail.raw", Partition: 3, Offset: 42, Value: tt.value,
				Headers: []kafka.Header{{Key: "s3_bucket", Value: []byte("b")}, {Key: "s3_key", Value: []byte("k.json.gz")}}}
			msg := FromMessage("normalizer", m, errors.New("bad json")).Message(0)
			var got Entry
			if err := json.Unmarshal(msg.Value, &got); err != nil {
				t.Fatal(err)
			}
			if got.Reason != "bad json" || got.Bucket != "b" || got.Key != "k.json.gz" || got.SourceOffset != 42 || got.SourcePartition != 3 {
				t.Fatalf("entry lost its provenance: %+v", got)
			}
			payload := []byte(got.Payload)
			if got.PayloadEncoding == "base64" {
				var err error
				if payload, err = base64.StdEncoding.DecodeString(got.Payload); err != nil {
					t.Fatal(err)
				}
			}
			if got.PayloadEncoding != tt.encoding || string(payload) != string(tt.value) {
				t.Fatalf("payload %q (%s), want %q (%s)", payload, got.PayloadEncoding, tt.value, tt.encoding)
			}
		})
	}
}

// TestKind: an entry's kind is the one its reason was marked with, through wrapping, and
// other otherwise; the reason's text and errors.Is are unchanged by the mark; the kind is
// not published.
func TestKind(t *testing.T) {
	base := errors.New("unexpected EOF")
	tests := []struct {
		name   string
		reason error
		want   string
	}{
		{"marked", Because(KindDecode, base), KindDecode},
		{"marked, then wrapped", fmt.Errorf("record 3: %w", Because(KindRecord, base)), KindRecord},
		{"not marked", base, KindOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, e := range []Entry{New("fetcher", tt.reason, []byte("x")), FromMessage("sink", kafka.Message{Value: []byte("x")}, tt.reason)} {
				if e.Kind() != tt.want {
					t.Errorf("%s entry: kind %q, want %q", e.Stage, e.Kind(), tt.want)
				}
				if e.Reason != tt.reason.Error() || !errors.Is(tt.reason, base) {
					t.Errorf("%s entry: reason %q, want %q", e.Stage, e.Reason, tt.reason.Error())
				}
				if strings.Contains(string(e.Message(0).Value), tt.want+`"`) && tt.want != KindOther {
					t.Errorf("the kind is published: %s", e.Message(0).Value)
				}
			}
		})
	}
	if Because(KindDecode, nil) != nil {
		t.Error("Because of no error is an error")
	}
	if (Entry{}).Kind() != KindOther {
		t.Error("an entry made otherwise has a kind")
	}
}
