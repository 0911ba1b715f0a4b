package sink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestRun loads events and detections through a running sink into a private ClickHouse
// database; a redelivered event is counted once and an undecodable message is dead-lettered.
func TestRun(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	brokers := c.Brokers()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := kafkautil.EnsureTopics(ctx, brokers, 3, c.TopicEvents, c.TopicDetections); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	var events []kafka.Message
	for _, id := range []string{"e1", "e2", "e1"} { // e1 twice: a redelivery
		v, err := model.EncodeEvent(nil, &model.Event{EventID: id, EventTime: t0,
			EventName: "CreateUser", AccountID: "111122223333", UserName: "alice", Outcome: "success", MFAUsed: true, Action: "create", Raw: "{}"})
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, kafka.Message{Key: []byte("111122223333"), Value: v})
	}
	events = append(events, kafka.Message{Value: []byte("not avro")})
	d, err := model.EncodeDetection(nil, &model.Detection{DetectionID: "d1", RuleID: "short-lived-iam-object", Severity: "high",
		AccountID: "111122223333", ResourceType: "iam-user", ResourceName: "tmp", EventIDs: []string{"e1", "e2"},
		Actors: []string{"alice", "bob"}, FirstTime: t0, LastTime: t0.Add(time.Minute), DetectedAt: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ew := kafkautil.NewWriter(brokers, c.TopicEvents)
	defer ew.Close()
	dw := kafkautil.NewWriter(brokers, c.TopicDetections)
	defer dw.Close()
	if err := ew.WriteMessages(ctx, events...); err != nil {
		t.Fatal(err)
	}
	if err := dw.WriteMessages(ctx, kafka.Message{Value: d}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()

	testenv.ReadTopic(t, brokers, c.TopicDeadLetter, 1, 30*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var events, detections uint64
		var mfa uint8
		var actors []string
		err1 := conn.QueryRow(ctx, "SELECT count(), max(mfa_used) FROM "+c.ClickHouseDatabase+".events FINAL").Scan(&events, &mfa)
		err2 := conn.QueryRow(ctx, "SELECT count(), any(actors) FROM "+c.ClickHouseDatabase+".detections FINAL").Scan(&detections, &actors)
		if err1 == nil && err2 == nil && events == 2 && detections == 1 {
			if mfa != 1 || len(actors) != 2 || actors[1] != "bob" {
				t.Fatalf("rows lost fields: mfa_used=%d actors=%q", mfa, actors)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: %d events (want 2, the redelivery counted once), %d detections (want 1); errors %v %v", events, detections, err1, err2)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// BenchmarkInsertEvents measures decoding Avro events and inserting them into ClickHouse in
// batches of 5,000.
func BenchmarkInsertEvents(b *testing.B) {
	c := testenv.Config(b)
	conn := testenv.ClickHouse(b, c)
	const batch = 5000
	msgs := make([]kafka.Message, batch)
	t0 := time.Now().Add(-time.Hour)
	raw := `{"eventVersion":"1.09","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1"}`
	for i := range msgs {
		v, err := model.EncodeEvent(nil, &model.Event{EventID: fmt.Sprintf("bench-%d", i), EventTime: t0, EventSource: "ec2.amazonaws.com",
			EventName: "DescribeInstances", AccountID: "111122223333", UserName: "alice", SourceIP: "81.2.69.160", Outcome: "success",
			Action: "read", Environment: "bench", Raw: raw})
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = kafka.Message{Value: v}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := InsertEvents(context.Background(), conn, c.ClickHouseDatabase, msgs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}
