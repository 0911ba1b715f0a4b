// Package deadletter builds the messages of the dead-letter topic: input trailstream could
// not process, with where it came from and why, so that nothing is lost silently.
package deadletter

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"
)

// Entry is one dead-letter message. It is published as JSON; the payload is the input as
// received (a string when it is UTF-8, else base64 with PayloadEncoding "base64").
type Entry struct {
	Stage           string    `json:"stage"`
	Reason          string    `json:"reason"`
	Time            time.Time `json:"time"`
	Environment     string    `json:"environment,omitempty"`
	Bucket          string    `json:"bucket,omitempty"`
	Key             string    `json:"key,omitempty"`
	SourceTopic     string    `json:"source_topic,omitempty"`
	SourcePartition int       `json:"source_partition"`
	SourceOffset    int64     `json:"source_offset"`
	Payload         string    `json:"payload,omitempty"`
	PayloadEncoding string    `json:"payload_encoding,omitempty"`
}

// FromMessage describes a Kafka message that stage could not process.
func FromMessage(stage string, m kafka.Message, reason error) Entry {
	e := Entry{Stage: stage, Reason: reason.Error(), Time: time.Now().UTC(),
		SourceTopic: m.Topic, SourcePartition: m.Partition, SourceOffset: m.Offset}
	for _, h := range m.Headers {
		switch h.Key {
		case "s3_bucket":
			e.Bucket = string(h.Value)
		case "s3_key":
			e.Key = string(h.Value)
		case "environment":
			e.Environment = string(h.Value)
		}
	}
	e.setPayload(m.Value)
	return e
}

func (e *Entry) setPayload(b []byte) {
	if utf8.Valid(b) {
		e.Payload = string(b)
		return
	}
	enc, _ := json.Marshal(b) // a []byte marshals as a base64 JSON string
	e.Payload, e.PayloadEncoding = string(enc[1:len(enc)-1]), "base64"
}

// Message returns the Kafka message for e, keyed by the S3 object when there is one.
func (e Entry) Message() kafka.Message {
	v, _ := json.Marshal(e) // cannot fail: only strings, numbers and a time
	key := e.Bucket + "/" + e.Key
	return kafka.Message{Key: []byte(key), Value: v, Headers: []kafka.Header{
		{Key: "stage", Value: []byte(e.Stage)},
		{Key: "reason", Value: []byte(e.Reason)},
	}}
}

// Write publishes the dead-letter messages msgs with w, logging how many there were; with
// none it does nothing. It returns only once Kafka acknowledged them all.
func Write(ctx context.Context, w *kafka.Writer, msgs []kafka.Message, log *slog.Logger) error {
	if len(msgs) == 0 {
		return nil
	}
	log.Warn("input sent to the dead-letter topic", "count", len(msgs), "topic", w.Topic)
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("write %s: %w", w.Topic, err)
	}
	return nil
}
