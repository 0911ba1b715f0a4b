package detector

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
	"github.com/trailstream/trailstream/pkg/rules"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestRun feeds a user's deletion, a message that is not an event and the user's creation,
// in separate batches, and expects one detection and one dead letter.
func TestRun(t *testing.T) {
	c := testenv.Config(t)
	brokers := c.Brokers()
	ctx := context.Background()
	if err := kafkautil.EnsureTopics(ctx, brokers, c.Partitions, c.TopicEvents, c.TopicDetections, c.TopicDeadLetter); err != nil {
		t.Fatal(err)
	}
	create, del := userEvents(t, c.Environment)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(runCtx, c) }()

	w := kafkautil.NewWriter(brokers, c.TopicEvents)
	defer w.Close()
	garbage := []byte("not an Avro event")
	for _, m := range []kafka.Message{event(t, del), {Key: []byte(create.AccountID), Value: garbage}, event(t, create)} {
		if err := w.WriteMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
		waitHandled(t, c.GroupPrefix+"-detector", brokers, c.TopicEvents)
	}

	msgs := testenv.ReadTopic(t, brokers, c.TopicDetections, 1, 30*time.Second)
	if string(msgs[0].Key) != create.AccountID {
		t.Errorf("detection keyed %q, want the account ID %q", msgs[0].Key, create.AccountID)
	}
	got, err := model.DecodeDetection(msgs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	want := &model.Detection{
		DetectionID: rules.DetectionID("short-lived-iam-object", create.EventID, del.EventID),
		RuleID:      "short-lived-iam-object", Severity: "high",
		Title:     `IAM user "svc-backup-tmp" created and deleted within 4m10s`,
		AccountID: "123456789012", Environment: c.Environment, ResourceType: "iam-user", ResourceName: "svc-backup-tmp",
		EventIDs: []string{create.EventID, del.EventID}, Actors: []string{"alice", "bob"},
		FirstTime: create.EventTime, LastTime: del.EventTime, DetectedAt: got.DetectedAt,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("detection:\n got %+v\nwant %+v", got, want)
	}
	if time.Since(got.DetectedAt) > time.Minute {
		t.Errorf("detected_at %s is not the time of detection", got.DetectedAt)
	}

	msgs = testenv.ReadTopic(t, brokers, c.TopicDeadLetter, 1, 30*time.Second)
	var dl deadletter.Entry
	if err := json.Unmarshal(msgs[0].Value, &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Stage != "detector" || dl.SourceTopic != c.TopicEvents || dl.Payload != string(garbage) || dl.Reason == "" {
		t.Errorf("dead letter %+v, want stage detector, source %s, the payload and a reason", dl, c.TopicEvents)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after cancellation, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
	if n := testenv.TopicSize(t, brokers, c.TopicDetections); n != 1 {
		t.Fatalf("%d detections published, want 1", n)
	}
}

// userEvents normalizes the fixture's CreateUser and DeleteUser records.
func userEvents(t *testing.T, env string) (create, del *model.Event) {
	t.Helper()
	b, err := os.ReadFile("testdata/short_lived_user.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Records []json.RawMessage }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	ev := make([]*model.Event, len(f.Records))
	for i, raw := range f.Records {
		if ev[i], err = normalize.Normalize(raw, env); err != nil {
			t.Fatal(err)
		}
	}
	return ev[0], ev[1]
}

func event(t *testing.T, e *model.Event) kafka.Message {
	t.Helper()
	v, err := model.EncodeEvent(nil, e)
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Message{Key: []byte(e.AccountID), Value: v}
}

// waitHandled waits until group has committed every message of topic, so that each
// message written before is handled in a batch of its own.
func waitHandled(t *testing.T, group string, brokers []string, topic string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for testenv.Committed(t, brokers, group, topic) < testenv.TopicSize(t, brokers, topic) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not commit all of %s within 30s", group, topic)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
