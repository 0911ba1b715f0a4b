package stage_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
	"github.com/trailstream/trailstream/pkg/stage"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestRun upper-cases messages from one topic into another and dead-letters the empty ones,
// then checks every message landed once where it belongs and the input was committed.
func TestRun(t *testing.T) {
	brokers := kafkautil.Plain(testenv.Kafka(t)...)
	c := stage.Config{Kafka: brokers, Partitions: 2, Group: "g", From: "in", To: "out", DeadLetter: "dead",
		BatchSize: 3, BatchWait: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := kafkautil.EnsureTopics(ctx, brokers, c.Partitions, c.From); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- stage.Run(ctx, c, slog.Default(), func(msgs []kafka.Message) (out []stage.Output, dead []deadletter.Entry) {
			for i, m := range msgs {
				if len(m.Value) == 0 {
					dead = append(dead, deadletter.FromMessage("test", m, errEmpty))
					continue
				}
				out = append(out, stage.Output{Message: kafka.Message{Key: m.Key, Value: []byte(strings.ToUpper(string(m.Value)))}, Input: i})
			}
			return out, dead
		})
	}()

	w := kafkautil.NewWriter(brokers, c.From)
	defer w.Close()
	in := []string{"a", "b", "", "c", "d", "", "e"}
	for _, v := range in {
		if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, m := range testenv.ReadTopic(t, brokers, c.To, 5, 30*time.Second) {
		got = append(got, string(m.Value))
	}
	if strings.Join(got, "") != "ABCDE" {
		t.Fatalf("output %q, want A to E in order", got)
	}
	for _, m := range testenv.ReadTopic(t, brokers, c.DeadLetter, 2, 30*time.Second) {
		var e deadletter.Entry
		if err := json.Unmarshal(m.Value, &e); err != nil || e.Reason != errEmpty.Error() || e.SourceTopic != c.From {
			t.Fatalf("dead letter %s (%v), want the reason and the source topic", m.Value, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for testenv.Committed(t, brokers, c.Group, c.From) != int64(len(in)) {
		if time.Now().After(deadline) {
			t.Fatalf("committed %d of %d", testenv.Committed(t, brokers, c.Group, c.From), len(in))
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := testenv.TopicSize(t, brokers, c.To); n != 5 {
		t.Fatalf("%d output messages, want 5", n)
	}
}

var errEmpty = errors.New("empty message")

// TestRunMetrics runs a stage of a name of its own over 7 messages, 2 of them empty: the
// stage's records in and out, its dead letters by kind and its batches are counted.
func TestRunMetrics(t *testing.T) {
	brokers := kafkautil.Plain(testenv.Kafka(t)...)
	name := testenv.Name("stage-")
	c := stage.Config{Name: name, Kafka: brokers, Partitions: 1, Group: testenv.Name("g-"), From: "in", To: "out", DeadLetter: "dead",
		BatchSize: 100, BatchWait: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := kafkautil.EnsureTopics(ctx, brokers, c.Partitions, c.From); err != nil {
		t.Fatal(err)
	}
	w := kafkautil.NewWriter(brokers, c.From)
	defer w.Close()
	var in []kafka.Message
	for _, v := range []string{"a", "", "b", "c", "", "d", "e"} {
		in = append(in, kafka.Message{Value: []byte(v)})
	}
	if err := w.WriteMessages(ctx, in...); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- stage.Run(ctx, c, slog.Default(), func(msgs []kafka.Message) (out []stage.Output, dead []deadletter.Entry) {
			for i, m := range msgs {
				if len(m.Value) == 0 {
					dead = append(dead, deadletter.FromMessage(name, m, deadletter.Because(deadletter.KindDecode, errEmpty)))
					continue
				}
				out = append(out, stage.Output{Message: kafka.Message{Value: m.Value}, Input: i})
			}
			return out, dead
		})
	}()
	s := metricstest.WaitLocal(t, 30*time.Second, "7 records in", func(s metricstest.Scrape) bool {
		return s.Sum("trailstream_stage_records_in_total", "stage", name) == 7
	}, metrics.Stage)
	if got := s.Sum("trailstream_stage_records_out_total", "stage", name); got != 5 {
		t.Errorf("records out %v, want 5", got)
	}
	if got := s.Sum("trailstream_stage_dead_letters_total", "stage", name, "reason", "decode"); got != 2 {
		t.Errorf("dead letters (decode) %v, want 2", got)
	}
	if got, sum := s.Sum("trailstream_stage_batch_records_count", "stage", name), s.Sum("trailstream_stage_batch_records_sum", "stage", name); got < 1 || sum != 7 {
		t.Errorf("%v batches of %v records in all, want at least one, of 7 in all", got, sum)
	}
	if got := s.Sum("trailstream_stage_batch_duration_seconds_count", "stage", name); got < 1 {
		t.Errorf("%v batches timed", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
