package kafkautil_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestConsumeBatches checks the delivery promise: a failing batch is retried, not skipped,
// and offsets are committed only once the handler succeeded.
func TestConsumeBatches(t *testing.T) {
	brokers := testenv.Kafka(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const topic, group, n = "in", "g", 7
	if err := kafkautil.EnsureTopics(ctx, brokers, 1, topic); err != nil {
		t.Fatal(err)
	}
	if err := kafkautil.EnsureTopics(ctx, brokers, 1, topic); err != nil {
		t.Fatalf("creating an existing topic again: %v", err)
	}
	w := kafkautil.NewWriter(brokers, topic)
	defer w.Close()
	for i := 0; i < n; i++ {
		if err := w.WriteMessages(ctx, kafka.Message{Value: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu       sync.Mutex
		calls    int
		seen     []string
		released = make(chan struct{})
	)
	r := kafkautil.NewReader(brokers, group, topic)
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		done <- kafkautil.ConsumeBatches(ctx, r, 3, 50*time.Millisecond, slog.Default(), func(ctx context.Context, msgs []kafka.Message) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if len(msgs) > 3 {
				t.Errorf("batch of %d, more than the size of 3", len(msgs))
			}
			if calls <= 2 {
				return errors.New("ClickHouse is down")
			}
			if calls == 3 {
				<-released
			}
			for _, m := range msgs {
				seen = append(seen, string(m.Value))
			}
			return nil
		})
	}()
	// While the first batch keeps failing nothing is committed.
	time.Sleep(500 * time.Millisecond)
	if got := testenv.Committed(t, brokers, group, topic); got != 0 {
		t.Fatalf("committed %d before any batch succeeded", got)
	}
	close(released)
	deadline := time.Now().Add(20 * time.Second)
	for testenv.Committed(t, brokers, group, topic) != n {
		if time.Now().After(deadline) {
			t.Fatalf("committed %d of %d", testenv.Committed(t, brokers, group, topic), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ConsumeBatches: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen) != "[0 1 2 3 4 5 6]" {
		t.Fatalf("handled %v: every message once, in order", seen)
	}
}
