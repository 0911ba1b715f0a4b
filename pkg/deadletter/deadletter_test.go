package deadletter

import (
	"encoding/base64"
	"encoding/json"
	"errors"
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
