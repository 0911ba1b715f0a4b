package kafkautil_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestConsumeBatches checks the delivery promise: a failing batch is retried, not skipped,
// and offsets are committed only once the handler succeeded.
func TestConsumeBatches(t *testing.T) {
	brokers := kafkautil.Plain(testenv.Kafka(t)...)
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

// TestConsumeHolding checks that commits stop where the handler holds state, never run
// ahead of what was handled, and move on once the hold is released.
func TestConsumeHolding(t *testing.T) {
	brokers := kafkautil.Plain(testenv.Kafka(t)...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const topic, group = "held", "g"
	if err := kafkautil.EnsureTopics(ctx, brokers, 1, topic); err != nil {
		t.Fatal(err)
	}
	w := kafkautil.NewWriter(brokers, topic)
	defer w.Close()
	write := func(n int) {
		t.Helper()
		for range n {
			if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("m")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var (
		held    atomic.Int64 // the offset held in partition 0; -1 holds nothing
		handled atomic.Int64
	)
	r := kafkautil.NewReader(brokers, group, topic)
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		done <- kafkautil.ConsumeHolding(ctx, r, 100, 50*time.Millisecond, slog.Default(),
			func(_ context.Context, msgs []kafka.Message) error { handled.Add(int64(len(msgs))); return nil },
			func(partition int) (int64, bool) {
				off := held.Load()
				return off, partition == 0 && off >= 0
			})
	}()
	// waitFor polls cond for 20 s.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("waited 20 s for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	tests := []struct {
		name   string
		hold   int64
		write  int
		commit int64
	}{
		{"nothing held", -1, 3, 3},
		{"offset 4 held", 4, 3, 4},
		{"still held", 4, 2, 4},
		{"a hold beyond the batch commits only what was handled", 100, 1, 9},
		{"released", -1, 1, 10},
	}
	written := int64(0)
	for _, tc := range tests {
		held.Store(tc.hold)
		write(tc.write)
		written += int64(tc.write)
		waitFor("the messages to be handled", func() bool { return handled.Load() == written })
		committed := func() int64 { return testenv.Committed(t, brokers, group, topic) }
		waitFor(fmt.Sprintf("%s: commit at %d", tc.name, tc.commit), func() bool { return committed() == tc.commit })
		time.Sleep(100 * time.Millisecond) // the batch's commit has had time to land
		if got := committed(); got != tc.commit {
			t.Fatalf("%s: committed %d, want %d", tc.name, got, tc.commit)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ConsumeHolding: %v", err)
	}
}

// TestConsumeSurvivesBrokerErrors drops the broker's connections in the middle of fetches
// and commits, as a broker restarting or a network timing out does: the consumer must keep
// going (the client reconnects) and commit everything in the end, not exit.
func TestConsumeSurvivesBrokerErrors(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := kafkautil.Plain(c.ListenAddrs()...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const topic, group, n = "flaky", "g", 20
	if err := kafkautil.EnsureTopics(ctx, brokers, 1, topic); err != nil {
		t.Fatal(err)
	}
	w := kafkautil.NewWriter(brokers, topic)
	defer w.Close()
	write := func(from int) {
		for i := from; i < from+n/2; i++ {
			if err := w.WriteMessages(ctx, kafka.Message{Value: []byte(fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0)
	// Each of the next few commits and fetches has its connection closed instead of an answer.
	var commits, fetches atomic.Int32
	c.ControlKey(int16(kmsg.OffsetCommit), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if commits.Add(1) <= 1 {
			return nil, errors.New("connection dropped"), true
		}
		return nil, nil, false
	})
	c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if f := fetches.Add(1); f > 2 && f <= 5 {
			return nil, errors.New("connection dropped"), true
		}
		return nil, nil, false
	})
	var handled atomic.Int64
	r := kafkautil.NewReader(brokers, group, topic)
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		done <- kafkautil.ConsumeBatches(ctx, r, 5, 50*time.Millisecond, slog.Default(), func(_ context.Context, msgs []kafka.Message) error {
			handled.Add(int64(len(msgs)))
			return nil
		})
	}()
	deadline := time.Now().Add(60 * time.Second)
	for wrote := false; testenv.Committed(t, brokers, group, topic) != n; {
		select {
		case err := <-done:
			t.Fatalf("ConsumeBatches returned on a passing broker error: %v", err)
		default:
		}
		if !wrote && handled.Load() >= n/2 {
			write(n / 2)
			wrote = true
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed %d of %d after %d dropped commits", testenv.Committed(t, brokers, group, topic), n, commits.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if commits.Load() <= 1 {
		t.Fatalf("%d commits: the dropped ones were not tried again", commits.Load())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ConsumeBatches: %v", err)
	}
}

// TestCompression maps --kafka-compression to kafka-go's codecs and refuses other names.
func TestCompression(t *testing.T) {
	for _, tc := range []struct {
		name string
		want kafka.Compression
	}{{"", 0}, {"none", 0}, {"gzip", kafka.Gzip}, {"snappy", kafka.Snappy}, {"lz4", kafka.Lz4}, {"zstd", kafka.Zstd}} {
		c, err := kafkautil.NewCluster(config.Config{KafkaCompression: tc.name})
		if err != nil || c.Compression != tc.want {
			t.Errorf("--kafka-compression %q: %v, %v; want %v", tc.name, c.Compression, err, tc.want)
		}
	}
	if _, err := kafkautil.NewCluster(config.Config{KafkaCompression: "brotli"}); err == nil || !strings.Contains(err.Error(), `--kafka-compression "brotli"`) {
		t.Errorf("--kafka-compression brotli: %v, want an error naming it", err)
	}
	if got := config.Default().KafkaCompression; got != "snappy" {
		t.Errorf("default --kafka-compression %q, want snappy", got)
	}
}
