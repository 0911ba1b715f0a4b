package normalizer

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestRun feeds raw records through a running normalizer on an embedded broker: good records
// come out as Avro events keyed by account, bad ones as dead letters with their reason.
func TestRun(t *testing.T) {
	c := testenv.Config(t)
	brokers := c.Brokers()
	sample, err := os.ReadFile("testdata/console_login_failure.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := kafkautil.EnsureTopics(ctx, brokers, 3, c.TopicRaw); err != nil {
		t.Fatal(err)
	}
	w := kafkautil.NewWriter(brokers, c.TopicRaw)
	defer w.Close()
	env := []kafka.Header{{Key: "environment", Value: []byte("prod")}, {Key: "s3_key", Value: []byte("k.json.gz")}}
	if err := w.WriteMessages(ctx,
		kafka.Message{Value: sample, Headers: env},
		kafka.Message{Value: []byte(`{"eventID":"no-time"}`), Headers: env},
		kafka.Message{Value: []byte(`not json`), Headers: env},
	); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()

	got := testenv.ReadTopic(t, brokers, c.TopicEvents, 1, 30*time.Second)[0]
	e, err := model.DecodeEvent(got.Value)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Key) != "956882708938" || e.AccountID != "956882708938" || e.Outcome != "failure" || e.Environment != "prod" {
		t.Fatalf("event %+v with key %q", e, got.Key)
	}
	reasons := map[string]string{}
	for _, m := range testenv.ReadTopic(t, brokers, c.TopicDeadLetter, 2, 30*time.Second) {
		var d deadletter.Entry
		if err := json.Unmarshal(m.Value, &d); err != nil {
			t.Fatal(err)
		}
		if d.Stage != "normalizer" || d.Key != "k.json.gz" || d.SourceTopic != c.TopicRaw {
			t.Fatalf("dead letter lost its provenance: %+v", d)
		}
		reasons[d.Payload] = d.Reason
	}
	if reasons[`not json`] == "" || reasons[`{"eventID":"no-time"}`] == "" {
		t.Fatalf("dead letters %v", reasons)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := testenv.TopicSize(t, brokers, c.TopicEvents); n != 1 {
		t.Fatalf("events topic holds %d messages, want 1", n)
	}
}
