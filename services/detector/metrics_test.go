package detector

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestEndpoint runs the detector with its metrics endpoint: a user's creation is state the
// short-lived rule holds, and its commit is held back for replay while the consumer's lag,
// measured from what was processed, is 0; a message that is no event is a dead letter by
// reason; the deletion completes a detection, counted by rule and severity, and the state
// is let go.
func TestEndpoint(t *testing.T) {
	c := testenv.Config(t)
	c.MetricsAddr = testenv.FreeAddr(t)
	brokers := testenv.Cluster(t, c)
	ctx := context.Background()
	if err := kafkautil.EnsureTopics(ctx, brokers, c.Partitions, c.TopicEvents, c.TopicDetections, c.TopicDeadLetter); err != nil {
		t.Fatal(err)
	}
	create, del := userEvents(t, c.Environment)
	stop := start(t, c)
	defer stop()
	metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusOK, 60*time.Second)
	before := metricstest.Read(t, c.MetricsAddr)
	const rule = "short-lived-iam-object"
	state := func(s metricstest.Scrape) float64 {
		return s.Sum("trailstream_detector_state_entries", "rule", rule)
	}
	if !before.Has("trailstream_detector_state_entries", "rule", rule) || !before.Has("trailstream_detector_state_entries", "rule", "root-account-activity") {
		t.Fatalf("no state gauge per rule before the first batch:\n%s", before.Lines("trailstream_detector"))
	}

	w := kafkautil.NewWriter(brokers, c.TopicEvents)
	defer w.Close()
	if err := w.WriteMessages(ctx, event(t, create), kafka.Message{Key: []byte(create.AccountID), Value: []byte("not an event")}); err != nil {
		t.Fatal(err)
	}
	group := c.GroupPrefix + "-detector"
	s := metricstest.Wait(t, c.MetricsAddr, 30*time.Second, "the creation held as state", func(s metricstest.Scrape) bool {
		return state(s) == 1 && s.Sum("trailstream_stage_records_in_total", "stage", "detector")-before.Sum("trailstream_stage_records_in_total", "stage", "detector") == 2
	})
	// The lag is set once the batch is handled, just after what it counted.
	metricstest.Wait(t, c.MetricsAddr, 10*time.Second, "the lag with everything processed reported, 0", func(s metricstest.Scrape) bool {
		return s.Has("trailstream_kafka_consumer_lag_messages", "group", group, "topic", c.TopicEvents) &&
			s.Sum("trailstream_kafka_consumer_lag_messages", "group", group, "topic", c.TopicEvents) == 0
	})
	if got := testenv.Committed(t, brokers, group, c.TopicEvents); got >= 2 {
		t.Fatalf("committed %d of 2 while the rule holds the creation: the replay hold is gone, and the lag test with it", got)
	}
	if got := s.Sum("trailstream_stage_dead_letters_total", "stage", "detector", "reason", "decode") -
		before.Sum("trailstream_stage_dead_letters_total", "stage", "detector", "reason", "decode"); got != 1 {
		t.Errorf("dead letters (decode) %v more, want 1", got)
	}

	if err := w.WriteMessages(ctx, event(t, del)); err != nil {
		t.Fatal(err)
	}
	s = metricstest.Wait(t, c.MetricsAddr, 30*time.Second, "the detection counted", func(s metricstest.Scrape) bool {
		return s.Sum("trailstream_detections_total", "rule", rule, "severity", "high")-before.Sum("trailstream_detections_total", "rule", rule, "severity", "high") == 1
	})
	if got := state(s); got != 0 {
		t.Errorf("state of %s after the detection: %v, want 0", rule, got)
	}
	delta := func(name string, pairs ...string) float64 { return s.Sum(name, pairs...) - before.Sum(name, pairs...) }
	if in, out := delta("trailstream_stage_records_in_total", "stage", "detector"), delta("trailstream_stage_records_out_total", "stage", "detector"); in != 3 || out != 1 {
		t.Errorf("records in %v, out %v; want 3 and 1", in, out)
	}
	if n := testenv.TopicSize(t, brokers, c.TopicDetections); n != 1 {
		t.Fatalf("%d detections on the topic, want the 1 counted", n)
	}
}

// TestEndpointKafkaDown: a detector whose Kafka does not answer serves /healthz 200 and
// /readyz 503 naming Kafka, without its address.
func TestEndpointKafkaDown(t *testing.T) {
	metrics.CheckTTL = 200 * time.Millisecond
	defer func() { metrics.CheckTTL = 5 * time.Second }()
	c := testenv.Config(t)
	c.KafkaBrokers = testenv.FreeAddr(t)
	c.MetricsAddr = testenv.FreeAddr(t)
	stop := start(t, c)
	defer stop()
	// The first 503 may come while the detector is still starting, before Kafka is checked.
	var body string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if body = metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusServiceUnavailable, 60*time.Second); strings.Contains(body, "kafka: does not answer") {
			break
		}
	}
	if !strings.Contains(body, "kafka: does not answer") || strings.Contains(body, c.KafkaBrokers) {
		t.Errorf("readyz: %q, want Kafka named, without its address", body)
	}
	if status, body := metricstest.Get(t, c.MetricsAddr, "/healthz"); status != http.StatusOK {
		t.Errorf("healthz: %d %q, want 200", status, body)
	}
}
