// Package deadletter builds the messages of the dead-letter topic: input trailstream could
// not process, with where it came from and why, so that nothing is lost silently.
package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/metrics"
)

// Entry is one dead-letter message. It is published as JSON; the payload is the input as
// received (a string when it is UTF-8, else base64 with PayloadEncoding "base64"), cut to
// fit the dead-letter topic when it is larger (PayloadTruncated; PayloadBytes is its whole
// size), since the input itself is still where Bucket and Key or the source topic say.
type Entry struct {
	Stage       string    `json:"stage"`
	Reason      string    `json:"reason"`
	Time        time.Time `json:"time"`
	Environment string    `json:"environment,omitempty"`
	Bucket      string    `json:"bucket,omitempty"`
	Key         string    `json:"key,omitempty"`
	// RecordIndex is the place of the record in the Records array of its file, from 0;
	// ByteOffset where in the file's JSON (after gunzip) it starts, or where reading
	// stopped. Both are set by the fetcher only.
	RecordIndex *int   `json:"record_index,omitempty"`
	ByteOffset  *int64 `json:"byte_offset,omitempty"`
	// MessageID is the SQS message ID of a notification that could not be handled.
	MessageID        string `json:"message_id,omitempty"`
	SourceTopic      string `json:"source_topic,omitempty"`
	SourcePartition  int    `json:"source_partition"`
	SourceOffset     int64  `json:"source_offset"`
	Payload          string `json:"payload,omitempty"`
	PayloadEncoding  string `json:"payload_encoding,omitempty"`
	PayloadBytes     int    `json:"payload_bytes"`
	PayloadTruncated bool   `json:"payload_truncated,omitempty"`

	payload []byte // as given, for cutting to size
	kind    string // of the reason (Because), for the metrics; not published
}

// The kinds of reasons, as the metric trailstream_stage_dead_letters_total counts dead
// letters (the reason itself, a sentence naming the input, is no label).
const (
	KindRecord       = "record"       // a record of a file that cannot be read (not JSON, not an object)
	KindTruncated    = "truncated"    // a file that stops being readable part-way: corrupt or cut short
	KindFile         = "file"         // a file that cannot be read at all: not CloudTrail's, not gzip, refused by S3
	KindNotification = "notification" // an SQS notification that cannot be parsed
	KindRejected     = "rejected"     // refused by the output topic: too large, or invalid
	KindNormalize    = "normalize"    // a raw record that cannot be normalized
	KindDecode       = "decode"       // a message that is not the Avro its topic carries
	KindTimeRange    = "time_range"   // a time a ClickHouse DateTime cannot hold
	KindOther        = "other"        // none of the above
)

// reason is an error with the kind of reason it is.
type reason struct {
	kind string
	err  error
}

func (r *reason) Error() string { return r.err.Error() }
func (r *reason) Unwrap() error { return r.err }

// Because returns err marked as a reason of kind (Kind*), for the entries made of it; its
// text is err's.
func Because(kind string, err error) error {
	if err == nil {
		return nil
	}
	return &reason{kind: kind, err: err}
}

// kindOf returns the kind err was marked with by Because, else KindOther.
func kindOf(err error) string {
	var r *reason
	if errors.As(err, &r) {
		return r.kind
	}
	return KindOther
}

// Kind returns the kind of e's reason (Kind*).
func (e Entry) Kind() string {
	if e.kind == "" {
		return KindOther
	}
	return e.kind
}

// New returns an entry of stage for input that did not come from Kafka (a file, a
// notification), with its reason and payload.
func New(stage string, reason error, payload []byte) Entry {
	e := Entry{Stage: stage, Reason: reason.Error(), Time: time.Now().UTC(), SourcePartition: -1, SourceOffset: -1, kind: kindOf(reason)}
	e.SetPayload(payload)
	return e
}

// FromMessage describes a Kafka message that stage could not process.
func FromMessage(stage string, m kafka.Message, reason error) Entry {
	e := Entry{Stage: stage, Reason: reason.Error(), Time: time.Now().UTC(),
		SourceTopic: m.Topic, SourcePartition: m.Partition, SourceOffset: m.Offset, kind: kindOf(reason)}
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
	e.SetPayload(m.Value)
	return e
}

// SetPayload sets the payload to b.
func (e *Entry) SetPayload(b []byte) {
	e.payload, e.PayloadBytes, e.PayloadTruncated = b, len(b), false
	e.setPayload(b)
}

func (e *Entry) setPayload(b []byte) {
	e.PayloadEncoding = ""
	if utf8.Valid(b) {
		e.Payload = string(b)
		return
	}
	enc, _ := json.Marshal(b) // a []byte marshals as a base64 JSON string
	e.Payload, e.PayloadEncoding = string(enc[1:len(enc)-1]), "base64"
}

// Message returns the Kafka message for e, keyed by the S3 object when there is one,
// with the payload cut so that the message is at most limit bytes (as kafkautil.Size
// counts); limit <= 0 keeps it whole.
func (e Entry) Message(limit int) kafka.Message {
	m := e.message()
	for cut := len(e.payload); limit > 0 && kafkautil.Size(m) > limit && cut > 0; {
		// The payload grows when encoded (escapes, base64), so cut by what is over and
		// a margin, then measure again.
		cut = max(0, min(cut-(kafkautil.Size(m)-limit)-1024, cut/2+cut/4))
		for cut > 0 && !utf8.RuneStart(e.payload[cut]) {
			cut--
		}
		e.setPayload(e.payload[:cut])
		e.PayloadTruncated = true
		m = e.message()
	}
	return m
}

func (e Entry) message() kafka.Message {
	v, _ := json.Marshal(e) // cannot fail: only strings, numbers and a time
	var key []byte
	if e.Bucket != "" {
		key = []byte(e.Bucket + "/" + e.Key)
	}
	return kafka.Message{Key: key, Value: v, Headers: []kafka.Header{
		{Key: "stage", Value: []byte(e.Stage)},
		{Key: "reason", Value: []byte(e.Reason)},
	}}
}

// Write publishes entries with w, each cut to fit w's topic, logging how many there were
// and counting them by stage and kind of reason once Kafka has them; with none it does
// nothing. It returns once Kafka acknowledged them all, or with ctx's error or a permanent
// one.
func Write(ctx context.Context, w *kafkautil.Writer, entries []Entry, log *slog.Logger) error {
	if len(entries) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(entries))
	for i, e := range entries {
		msgs[i] = e.Message(w.MaxMessage())
	}
	log.Warn("input sent to the dead-letter topic", "count", len(msgs), "topic", w.Topic(), "first_reason", entries[0].Reason)
	rejected, err := w.Write(ctx, msgs...)
	if err != nil {
		return fmt.Errorf("write %s: %w", w.Topic(), err)
	}
	count(entries)
	for _, r := range rejected { // cut to fit, so only a broker refusing valid JSON
		e := entries[r.Index]
		log.Error("dead letter refused by Kafka; the input is only in this log", "err", r.Err,
			"stage", e.Stage, "reason", e.Reason, "bucket", e.Bucket, "key", e.Key,
			"source_topic", e.SourceTopic, "source_partition", e.SourcePartition, "source_offset", e.SourceOffset)
	}
	return nil
}

// count adds entries to the dead-letter metric, by stage and kind.
func count(entries []Entry) {
	type key struct{ stage, kind string }
	n := map[key]int{}
	for _, e := range entries {
		n[key{e.Stage, e.Kind()}]++
	}
	for k, c := range n {
		metrics.DeadLetters.WithLabelValues(k.stage, k.kind).Add(float64(c))
	}
}
