package kafkautil_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestWriter writes batches that a topic's max.message.bytes would refuse in one piece:
// every message that fits arrives exactly once, and only a message too large even alone
// comes back rejected, with its index.
func TestWriter(t *testing.T) {
	tests := []struct {
		name     string
		limit    int // the topic's max.message.bytes; 0: created by EnsureTopics
		sizes    []int
		rejected []int // indexes
	}{
		{"1,000 records of 17 KB into Kafka's default 1 MB", testenv.KafkaDefaultMaxMessageBytes, repeat(1000, 17<<10), nil},
		{"1,000 records of 5.6 KB into 1 MB", testenv.KafkaDefaultMaxMessageBytes, repeat(1000, 5600), nil},
		{"a 2 MB record among small ones into 1 MB", testenv.KafkaDefaultMaxMessageBytes, []int{300, 300, 300, 2 << 20, 300, 300}, []int{3}},
		{"a record just over the limit", testenv.KafkaDefaultMaxMessageBytes, []int{300, testenv.KafkaDefaultMaxMessageBytes, 300}, []int{1}},
		{"a 2 MB record into a topic trailstream created", 0, []int{300, 2 << 20, 300}, nil},
		{"a 9 MB record into a topic trailstream created", 0, []int{300, 9 << 20, 300}, []int{1}},
	}
	brokers := kafkautil.Plain(testenv.Kafka(t)...)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			topic := fmt.Sprintf("w%d", i)
			if tt.limit > 0 {
				testenv.CreateTopic(t, brokers, topic, 3, tt.limit)
			} else if err := kafkautil.EnsureTopics(ctx, brokers, 3, topic); err != nil {
				t.Fatal(err)
			}
			w, err := kafkautil.OpenWriter(ctx, brokers, topic, slog.Default())
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			msgs := make([]kafka.Message, len(tt.sizes))
			for j, n := range tt.sizes {
				// One key: every message goes to one partition, the worst case for a batch.
				msgs[j] = kafka.Message{Key: []byte("111122223333"), Value: record(j, n)}
			}
			rejected, err := w.Write(ctx, msgs...)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			var got []int
			for _, r := range rejected {
				got = append(got, r.Index)
				if !strings.Contains(r.Err.Error(), topic) {
					t.Errorf("rejection %q does not name the topic", r.Err)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.rejected) && !(len(got) == 0 && len(tt.rejected) == 0) {
				t.Fatalf("rejected %v, want %v", got, tt.rejected)
			}
			want := len(tt.sizes) - len(tt.rejected)
			if n := testenv.TopicSize(t, brokers, topic); n != int64(want) {
				t.Fatalf("topic holds %d messages, want %d: each message that fits exactly once", n, want)
			}
		})
	}
}

func repeat(n, size int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = size
	}
	return out
}

// record returns a JSON record of about n bytes that compresses poorly, as large
// requestParameters of real records with IDs and hashes do.
func record(i, n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"eventID":"e-%d","requestParameters":{"blob":"`, i)
	x := uint64(i)*0x9E3779B97F4A7C15 + 1
	for b.Len() < n-3 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b.WriteByte("abcdefghijklmnopqrstuvwxyz0123456789"[x%36])
	}
	b.WriteString(`"}}`)
	return b.Bytes()
}

// TestOpenWriterLimit checks that a writer reads the limit of the topic it writes to.
func TestOpenWriterLimit(t *testing.T) {
	brokers := kafkautil.Plain(testenv.Kafka(t)...)
	ctx := context.Background()
	testenv.CreateTopic(t, brokers, "small", 1, 256<<10)
	if err := kafkautil.EnsureTopics(ctx, brokers, 1, "ours"); err != nil {
		t.Fatal(err)
	}
	for topic, limit := range map[string]int{"small": 256 << 10, "ours": kafkautil.TopicMaxMessageBytes} {
		w, err := kafkautil.OpenWriter(ctx, brokers, topic, slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		if max := w.MaxMessage(); max >= limit || max < limit*9/10 {
			t.Errorf("%s: largest message %d, want a little under its max.message.bytes %d", topic, max, limit)
		}
		w.Close()
	}
}

// TestWriterLimitLowered lowers a topic's limit after the writer read it, so that the
// broker refuses the writer's batches: it writes the messages one by one instead, each
// exactly once, and rejects the one the topic no longer takes at all.
func TestWriterLimitLowered(t *testing.T) {
	brokers := kafkautil.Plain(testenv.Kafka(t)...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	testenv.CreateTopic(t, brokers, "lowered", 1, testenv.KafkaDefaultMaxMessageBytes)
	w, err := kafkautil.OpenWriter(ctx, brokers, "lowered", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cl := &kafka.Client{Addr: kafka.TCP(brokers.Brokers...)}
	resp, err := cl.AlterConfigs(ctx, &kafka.AlterConfigsRequest{Resources: []kafka.AlterConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: "lowered",
		Configs: []kafka.AlterConfigRequestConfig{{Name: "max.message.bytes", Value: "262144"}},
	}}})
	if err != nil || resp.Errors[kafka.AlterConfigsResponseResource{Type: int8(kafka.ResourceTypeTopic), Name: "lowered"}] != nil {
		t.Fatalf("lower the limit: %v %+v", err, resp)
	}
	msgs := make([]kafka.Message, 100)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte("k"), Value: record(i, 17<<10)}
	}
	msgs[50].Value = record(50, 300<<10)
	rejected, err := w.Write(ctx, msgs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 1 || rejected[0].Index != 50 {
		idx := make([]int, len(rejected))
		for i, r := range rejected {
			idx[i] = r.Index
		}
		t.Fatalf("rejected messages %v, want message 50 alone", idx)
	}
	if n := testenv.TopicSize(t, brokers, "lowered"); n != 99 {
		t.Fatalf("topic holds %d messages, want 99, each once", n)
	}
}
