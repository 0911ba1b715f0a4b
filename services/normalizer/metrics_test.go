package normalizer

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestEndpoint runs the normalizer with its metrics endpoint on a broker behind a proxy: 3
// records and 2 that cannot be normalized are counted in, out and dead-lettered by reason,
// with the consumer's lag; /readyz is 200, and 503 naming Kafka while the broker's port is
// closed; /healthz is 200.
func TestEndpoint(t *testing.T) {
	metrics.CheckTTL = 200 * time.Millisecond
	defer func() { metrics.CheckTTL = 5 * time.Second }()
	proxy := testenv.NewProxy(t, "")
	broker, err := kafkautil.StartEmbedded(0, 3, kafkautil.Advertise(proxy.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	proxy.SetTarget(broker.ListenAddr())
	c := testenv.Config(t)
	c.KafkaBrokers = proxy.Addr()
	c.MetricsAddr = testenv.FreeAddr(t)
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
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()
	metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusOK, 30*time.Second)
	before := metricstest.Read(t, c.MetricsAddr)

	w := kafkautil.NewWriter(brokers, c.TopicRaw)
	defer w.Close()
	var msgs []kafka.Message
	for range 3 {
		msgs = append(msgs, kafka.Message{Value: sample})
	}
	msgs = append(msgs, kafka.Message{Value: []byte(`not json`)}, kafka.Message{Value: []byte(`{"eventID":"no-time"}`)})
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	s := metricstest.Wait(t, c.MetricsAddr, 30*time.Second, "5 records in", func(s metricstest.Scrape) bool {
		return s.Sum("trailstream_stage_records_in_total", "stage", "normalizer")-before.Sum("trailstream_stage_records_in_total", "stage", "normalizer") == 5
	})
	delta := func(name string, pairs ...string) float64 { return s.Sum(name, pairs...) - before.Sum(name, pairs...) }
	for _, tc := range []struct {
		name  string
		pairs []string
		want  float64
	}{
		{"trailstream_stage_records_out_total", []string{"stage", "normalizer"}, 3},
		{"trailstream_stage_dead_letters_total", []string{"stage", "normalizer", "reason", "normalize"}, 2},
		{"trailstream_stage_batch_records_sum", []string{"stage", "normalizer"}, 5},
		{"trailstream_kafka_produced_messages_total", []string{"topic", c.TopicEvents}, 3},
		{"trailstream_kafka_produced_messages_total", []string{"topic", c.TopicDeadLetter}, 2},
	} {
		if got := delta(tc.name, tc.pairs...); got != tc.want {
			t.Errorf("%s%q: %v more, want %v", tc.name, tc.pairs, got, tc.want)
		}
	}
	group := c.GroupPrefix + "-normalizer"
	// The lag is set once the batch is handled, just after what it counted.
	metricstest.Wait(t, c.MetricsAddr, 10*time.Second, "the consumer lag reported, 0 once all is handled", func(s metricstest.Scrape) bool {
		return s.Has("trailstream_kafka_consumer_lag_messages", "group", group, "topic", c.TopicRaw) &&
			s.Sum("trailstream_kafka_consumer_lag_messages", "group", group, "topic", c.TopicRaw) == 0
	})
	if got := testenv.TopicSize(t, brokers, c.TopicEvents); got != 3 {
		t.Fatalf("%d events on the topic, want 3", got)
	}

	proxy.Cut()
	body := metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusServiceUnavailable, 30*time.Second)
	if !strings.Contains(body, "kafka: does not answer") || strings.Contains(body, proxy.Addr()) {
		t.Errorf("readyz with the broker's port closed: %q, want Kafka named, without its address", body)
	}
	if status, _ := metricstest.Get(t, c.MetricsAddr, "/healthz"); status != http.StatusOK {
		t.Errorf("healthz with Kafka away: %d, want 200", status)
	}
	proxy.Restore()
	metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusOK, 30*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
