package kafkautil_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/kafkautil"
)

// TestTrim drops from the embedded broker what every listed group has committed past, and
// nothing of a partition one of them has not committed in.
func TestTrim(t *testing.T) {
	e, kc := embeddedWith(t, 2, "trimmed")
	ctx := context.Background()
	w := kafkautil.NewWriter(kc, "trimmed")
	w.Balancer = kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition })
	defer w.Close()
	var msgs []kafka.Message
	for i := range 200 {
		msgs = append(msgs, kafka.Message{Partition: i % 2, Value: fmt.Appendf(nil, "m%d", i)})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	cl := kc.Client(5 * time.Second)
	for group, offsets := range map[string]map[int]int64{
		"reads-both": {0: 60, 1: 30},
		"reads-one":  {0: 40},        // nothing committed in partition 1: it keeps everything
		"unlisted":   {0: 90, 1: 90}, // not a consumer Trim is given
	} {
		var commits []kafka.OffsetCommit
		for p, off := range offsets {
			commits = append(commits, kafka.OffsetCommit{Partition: p, Offset: off})
		}
		resp, err := cl.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{"trimmed": commits}})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range resp.Topics["trimmed"] {
			if p.Error != nil {
				t.Fatalf("commit of %s in partition %d: %v", group, p.Partition, p.Error)
			}
		}
	}
	tctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	e.Trim(tctx, 50*time.Millisecond, map[string][]string{"trimmed": {"reads-both", "reads-one"}}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if got, want := fmt.Sprint(e.LogStart("trimmed")), fmt.Sprint(map[int32]int64{0: 40, 1: 0}); got != want {
		t.Errorf("first offsets held %s, want %s", got, want)
	}
	// A reader from the start gets what is left: partition 0 from offset 40.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.Brokers(), Topic: "trimmed", Partition: 0, Dialer: kc.Dialer(0), MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(kafka.FirstOffset); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	m, err := r.ReadMessage(rctx)
	if err != nil || m.Offset != 40 || string(m.Value) != "m80" {
		t.Fatalf("first message left in partition 0: offset %d %q, %v; want offset 40, m80", m.Offset, m.Value, err)
	}
}

// TestTrimCapped keeps the newest of a topic that no group reads within its byte limit,
// spread over its partitions, and drops nothing of a topic within its limit.
func TestTrimCapped(t *testing.T) {
	e, kc := embeddedWith(t, 2, "capped", "small")
	ctx := context.Background()
	value := make([]byte, 1000)
	for _, topic := range []string{"capped", "small"} {
		w := kafkautil.NewWriter(kc, topic)
		w.Balancer = kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition })
		w.BatchSize = 1 // a batch a message: the broker drops whole batches
		for i := range 100 {
			if err := w.WriteMessages(ctx, kafka.Message{Partition: i % 2, Value: value}); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
	}
	full, small := e.Held("capped"), e.Held("small")
	if full < 100*1000 || small != full {
		t.Fatalf("held %d and %d bytes; want at least the 100,000 bytes written to each", full, small)
	}
	const limit = 30 << 10
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	e.Trim(tctx, 50*time.Millisecond, nil, map[string]int64{"capped": limit, "small": 2 * small}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if held := e.Held("capped"); held > limit || held < limit-2*full/100 {
		t.Errorf("capped holds %d bytes, want at most the limit, %d, and within a message a partition of it", held, limit)
	}
	if got := e.Held("small"); got != small {
		t.Errorf("small holds %d bytes, want all %d: it is within its limit", got, small)
	}
	for p, start := range e.LogStart("capped") {
		if start < 30 || start > 40 {
			t.Errorf("partition %d of capped starts at offset %d, want 35 of its 50 messages dropped, give or take", p, start)
		}
	}
	// The newest message is still there.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.Brokers(), Topic: "capped", Partition: 1, Dialer: kc.Dialer(0), MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(49); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	if m, err := r.ReadMessage(rctx); err != nil || m.Offset != 49 {
		t.Fatalf("newest message of partition 1: offset %d, %v; want 49", m.Offset, err)
	}
}

// TestWaitBelow holds a producer back while the embedded broker holds as many bytes of the
// topics as the limit, and lets it go once their consumer committed and Trim dropped them.
func TestWaitBelow(t *testing.T) {
	e, kc := embeddedWith(t, 1, "held", "other")
	ctx := context.Background()
	w := kafkautil.NewWriter(kc, "held")
	defer w.Close()
	value := make([]byte, 1000)
	msgs := make([]kafka.Message, 100)
	for i := range msgs {
		msgs[i] = kafka.Message{Value: value}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	held := e.Held("held")
	if held < 100*1000 || e.Held("other") != 0 {
		t.Fatalf("held %d bytes of held, %d of other; want at least the 100,000 bytes written, and none", held, e.Held("other"))
	}
	wait := e.WaitBelow(held, "held", "other")
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := wait(wctx)
	cancel()
	if err == nil {
		t.Fatal("the wait returned while the broker held the limit")
	}
	if err := e.WaitBelow(held+1, "held")(ctx); err != nil {
		t.Fatalf("the wait below more than is held: %v", err)
	}
	cl := kc.Client(5 * time.Second)
	if _, err := cl.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: "reader", GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{"held": {{Partition: 0, Offset: 100}}}}); err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 5*time.Second)
	defer tcancel()
	go e.Trim(tctx, 50*time.Millisecond, map[string][]string{"held": {"reader"}}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := wait(tctx); err != nil {
		t.Fatalf("the wait did not return once the messages were committed and dropped: %v (held %d bytes)", err, e.Held("held"))
	}
}

// embeddedWith starts an embedded broker, closed at the test's end, holding topics of
// partitions partitions each.
func embeddedWith(t *testing.T, partitions int, topics ...string) (*kafkautil.Embedded, kafkautil.Cluster) {
	t.Helper()
	e, err := kafkautil.StartEmbedded(0, partitions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	kc := kafkautil.Plain(e.Brokers()...)
	if err := kafkautil.EnsureTopics(context.Background(), kc, partitions, topics...); err != nil {
		t.Fatal(err)
	}
	return e, kc
}
