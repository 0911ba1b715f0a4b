package normalizer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestRun feeds raw records through a running normalizer on an embedded broker: good records
// come out as Avro events keyed by account, bad ones as dead letters with their reason.
func TestRun(t *testing.T) {
	c := testenv.Config(t)
	brokers := testenv.Cluster(t, c)
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
		kafka.Message{Value: []byte(`{"eventID":"future","eventTime":"3000-01-01T00:00:00Z"}`), Headers: env},
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
	// The event carries its raw record's headers, so that a later stage that cannot
	// process it can say which file it came from.
	if fmt.Sprintf("%q", got.Headers) != fmt.Sprintf("%q", env) {
		t.Fatalf("event headers %v, want the raw record's %v", got.Headers, env)
	}
	reasons := map[string]string{}
	for _, d := range testenv.DeadLetters(t, c, 3, 30*time.Second) {
		if d.Stage != "normalizer" || d.Key != "k.json.gz" || d.SourceTopic != c.TopicRaw {
			t.Fatalf("dead letter lost its provenance: %+v", d)
		}
		reasons[d.Payload] = d.Reason
	}
	if reasons[`not json`] == "" || reasons[`{"eventID":"no-time"}`] == "" ||
		!strings.Contains(reasons[`{"eventID":"future","eventTime":"3000-01-01T00:00:00Z"}`], "3000-01-01") {
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

// withTags adds 24 tags with SHA-256 values (a build's commit and artefact hashes, say) to
// the instances a RunInstances record launches, different for every seed: records then
// differ as real ones do, and compression cannot shrink a batch of them below the limit.
func withTags(t *testing.T, rec []byte, seed int) []byte {
	var r map[string]any
	if err := json.Unmarshal(rec, &r); err != nil {
		t.Fatal(err)
	}
	var tags []any
	for i := 0; i < 24; i++ {
		h := sha256.Sum256([]byte(fmt.Sprint(seed, "/", i)))
		tags = append(tags, map[string]any{"key": fmt.Sprintf("build-%02d", i), "value": hex.EncodeToString(h[:])})
	}
	r["requestParameters"].(map[string]any)["tagSpecificationSet"] = map[string]any{
		"items": []any{map[string]any{"resourceType": "instance", "tags": tags}}}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRunLargeRecords feeds 1,000 RunInstances records of one account, about 6 KB each, to
// a normalizer whose topics have Kafka's default 1 MB limit: one account's events go to one
// partition, so their batch is several times the limit. Every event must arrive, once.
func TestRunLargeRecords(t *testing.T) {
	c := testenv.Config(t)
	brokers := testenv.Cluster(t, c)
	for _, topic := range []string{c.TopicRaw, c.TopicEvents, c.TopicDeadLetter} {
		testenv.CreateTopic(t, brokers, topic, 3, testenv.KafkaDefaultMaxMessageBytes)
	}
	sample, err := os.ReadFile("testdata/run_instances.json")
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := kafkautil.NewWriter(brokers, c.TopicRaw)
	defer w.Close()
	for i := 0; i < n; i += 100 { // in writes of 100, which fit the raw topic's limit
		var msgs []kafka.Message
		for j := i; j < i+100; j++ {
			rec := withTags(t, bytes.Replace(sample, []byte(`"eventID": "`), []byte(fmt.Sprintf(`"eventID": "%04d-`, j)), 1), j)
			msgs = append(msgs, kafka.Message{Value: rec, Headers: []kafka.Header{{Key: "s3_key", Value: []byte("k.json.gz")}}})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()
	ids := map[string]bool{}
	for _, m := range testenv.ReadTopic(t, brokers, c.TopicEvents, n, 60*time.Second) {
		e, err := model.DecodeEvent(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		ids[e.EventID] = true
	}
	if len(ids) != n {
		t.Fatalf("%d distinct events, want %d", len(ids), n)
	}
	deadline := time.Now().Add(30 * time.Second)
	for testenv.Committed(t, brokers, c.GroupPrefix+"-normalizer", c.TopicRaw) != n {
		if time.Now().After(deadline) {
			t.Fatal("the raw records were not all committed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := testenv.TopicSize(t, brokers, c.TopicEvents); got != n {
		t.Fatalf("events topic holds %d messages for %d events: part of a batch was written again", got, n)
	}
}
