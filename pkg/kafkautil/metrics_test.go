package kafkautil_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestConsumerMetrics consumes 10 messages of one partition in batches of 4 while holding
// every commit back, as the detector does: the lag is measured from what was handled, not
// from what was committed; a failed batch and the messages produced are counted.
func TestConsumerMetrics(t *testing.T) {
	brokers := kafkautil.Plain(testenv.Kafka(t)...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	topic, group := testenv.Name("lag-"), testenv.Name("g-")
	if err := kafkautil.EnsureTopics(ctx, brokers, 1, topic); err != nil {
		t.Fatal(err)
	}
	w, err := kafkautil.OpenWriter(ctx, brokers, topic, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	msgs := make([]kafka.Message, 10)
	for i := range msgs {
		msgs[i] = kafka.Message{Value: []byte(fmt.Sprint(i))}
	}
	if _, err := w.Write(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	lag := func(s metricstest.Scrape) (float64, bool) {
		ok := s.Has("trailstream_kafka_consumer_lag_messages", "group", group, "topic", topic, "partition", "0")
		return s.Sum("trailstream_kafka_consumer_lag_messages", "group", group, "topic", topic, "partition", "0"), ok
	}

	var calls atomic.Int32
	second, release := make(chan struct{}), make(chan struct{})
	r := kafkautil.NewReader(brokers, group, topic)
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		done <- kafkautil.ConsumeHolding(ctx, r, 4, time.Second, slog.Default(), func(ctx context.Context, batch []kafka.Message) error {
			switch calls.Add(1) {
			case 1:
				return errors.New("ClickHouse is down") // tried again
			case 3:
				close(second)
				<-release
			}
			return nil
		}, func(int) (int64, bool) { return 0, true }) // every commit held back to the start
	}()
	<-second // the first batch (offsets 0 to 3) was handled
	s := metricstest.Local(t, metrics.Kafka)
	if got, ok := lag(s); !ok || got != 6 {
		t.Errorf("lag after the first batch of 4 of 10: %v (present %v), want 6", got, ok)
	}
	if got := s.Sum("trailstream_kafka_consumer_batch_errors_total", "group", group, "topic", topic); got != 1 {
		t.Errorf("batch errors %v, want 1", got)
	}
	if got := s.Sum("trailstream_kafka_produced_messages_total", "topic", topic); got != 10 {
		t.Errorf("produced %v, want 10", got)
	}
	close(release)
	metricstest.WaitLocal(t, 20*time.Second, "lag 0 once all 10 were handled", func(s metricstest.Scrape) bool {
		got, ok := lag(s)
		return ok && got == 0
	})
	if got := testenv.Committed(t, brokers, group, topic); got != 0 {
		t.Errorf("committed %d: the hold was not kept, so the lag proves nothing", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ConsumeHolding: %v", err)
	}
	if _, ok := lag(metricstest.Local(t)); ok {
		t.Error("the lag of a consumer that stopped is still reported")
	}
}

// TestWriterMetrics: a message too large for the topic is counted as rejected, the others
// as produced.
func TestWriterMetrics(t *testing.T) {
	brokers := kafkautil.Plain(testenv.Kafka(t)...)
	ctx := context.Background()
	topic := testenv.Name("small-")
	testenv.CreateTopic(t, brokers, topic, 1, 100<<10)
	w, err := kafkautil.OpenWriter(ctx, brokers, topic, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rejected, err := w.Write(ctx, kafka.Message{Value: []byte("a")}, kafka.Message{Value: []byte(strings.Repeat("x", 200<<10))}, kafka.Message{Value: []byte("b")})
	if err != nil || len(rejected) != 1 {
		t.Fatalf("Write: %v, rejected %v; want the large one rejected", err, rejected)
	}
	s := metricstest.Local(t, metrics.Kafka)
	if got := s.Sum("trailstream_kafka_produced_messages_total", "topic", topic); got != 2 {
		t.Errorf("produced %v, want 2", got)
	}
	if got := s.Sum("trailstream_kafka_rejected_messages_total", "topic", topic); got != 1 {
		t.Errorf("rejected %v, want 1", got)
	}
}

// TestReadyCheck: the check passes against a broker, fails against one whose port closed
// (every connection cut) and passes again once it is back, and fails against an address
// nothing listens on, naming it.
func TestReadyCheck(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	proxy := testenv.NewProxy(t, testenv.Kafka(t)[0])
	check := kafkautil.ReadyCheck(kafkautil.Plain(proxy.Addr()))
	if err := check(ctx); err != nil {
		t.Fatalf("check against the broker: %v", err)
	}
	proxy.Cut()
	if err := check(ctx); err == nil || !strings.Contains(err.Error(), proxy.Addr()) {
		t.Fatalf("check with the broker's port closed: %v, want an error naming %s", err, proxy.Addr())
	}
	proxy.Restore()
	if err := check(ctx); err != nil {
		t.Fatalf("check once the broker is back: %v", err)
	}
	closed := testenv.FreeAddr(t)
	if err := kafkautil.ReadyCheck(kafkautil.Plain(closed))(ctx); err == nil || !strings.Contains(err.Error(), closed) {
		t.Fatalf("check against %s, where nothing listens: %v, want an error naming it", closed, err)
	}
}
