package detector

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
	"github.com/trailstream/trailstream/pkg/rules"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestRun feeds a user's deletion, a message that is not an event and the user's creation,
// the creation in a later batch, and expects one detection and one dead letter.
func TestRun(t *testing.T) {
	c := testenv.Config(t)
	brokers := testenv.Cluster(t, c)
	ctx := context.Background()
	if err := kafkautil.EnsureTopics(ctx, brokers, c.Partitions, c.TopicEvents, c.TopicDetections, c.TopicDeadLetter); err != nil {
		t.Fatal(err)
	}
	create, del := userEvents(t, c.Environment)

	stop := start(t, c)
	defer stop()

	w := kafkautil.NewWriter(brokers, c.TopicEvents)
	defer w.Close()
	garbage := []byte("not an Avro event")
	if err := w.WriteMessages(ctx, event(t, del), kafka.Message{Key: []byte(create.AccountID), Value: garbage}); err != nil {
		t.Fatal(err)
	}
	testenv.ReadTopic(t, brokers, c.TopicDeadLetter, 1, 30*time.Second) // the deletion was handled
	if err := w.WriteMessages(ctx, event(t, create)); err != nil {
		t.Fatal(err)
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
		Description: got.Description, Tags: []string{"attack.persistence", "attack.defense-evasion", "attack.t1136.003", "attack.t1078.004"},
		Source: "builtin", Context: `{"seconds_alive":250,"window":"10m0s"}`,
	}
	if !reflect.DeepEqual(got, want) || !strings.HasPrefix(got.Description, "An IAM user, group, role, policy or access key created and deleted") {
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

	stop()
	if n := testenv.TopicSize(t, brokers, c.TopicDetections); n != 1 {
		t.Fatalf("%d detections published, want 1", n)
	}
	if got, want := testenv.Committed(t, brokers, c.GroupPrefix+"-detector", c.TopicEvents), int64(3); got != want {
		t.Fatalf("committed %d of the 3 events, nothing being held any more", got)
	}
}

// TestRestart stops a detector after a user's creation and starts another before the
// deletion comes: with a replay limit the second reads the creation again and detects;
// without one the creation is forgotten.
func TestRestart(t *testing.T) {
	tests := []struct {
		name        string
		replayLimit time.Duration
		committed   int64 // after the first detector
		detections  int64
		deadLetters int64 // the bad message is read again with the creation
	}{
		{"replay", time.Hour, 1, 1, 2},
		{"no replay", 0, 3, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testenv.Config(t)
			c.ReplayLimit = tc.replayLimit
			brokers, group := testenv.Cluster(t, c), c.GroupPrefix+"-detector"
			ctx := context.Background()
			if err := kafkautil.EnsureTopics(ctx, brokers, c.Partitions, c.TopicEvents, c.TopicDetections, c.TopicDeadLetter); err != nil {
				t.Fatal(err)
			}
			create, del := userEvents(t, c.Environment)
			unrelated := *create
			unrelated.EventID, unrelated.EventSource, unrelated.EventName = "unrelated", "s3.amazonaws.com", "ListBuckets"
			w := kafkautil.NewWriter(brokers, c.TopicEvents)
			defer w.Close()
			write := func(msgs ...kafka.Message) {
				t.Helper()
				if err := w.WriteMessages(ctx, msgs...); err != nil {
					t.Fatal(err)
				}
			}
			// One account, so one partition: offsets 0 unrelated, 1 create, 2 bad, 3 delete.
			stop := start(t, c)
			write(event(t, &unrelated))
			waitCommitted(t, brokers, group, c.TopicEvents, 1)
			write(event(t, create), kafka.Message{Key: []byte(create.AccountID), Value: []byte("not an event")})
			testenv.ReadTopic(t, brokers, c.TopicDeadLetter, 1, 30*time.Second)
			waitCommitted(t, brokers, group, c.TopicEvents, tc.committed)
			time.Sleep(200 * time.Millisecond) // a commit beyond the creation would have landed
			stop()
			if got := testenv.Committed(t, brokers, group, c.TopicEvents); got != tc.committed {
				t.Fatalf("first detector committed %d, want %d", got, tc.committed)
			}

			stop = start(t, c)
			defer stop()
			write(event(t, del))
			waitCommitted(t, brokers, group, c.TopicEvents, 4)
			if n := testenv.TopicSize(t, brokers, c.TopicDetections); n != tc.detections {
				t.Fatalf("%d detections after the restart, want %d", n, tc.detections)
			}
			if n := testenv.TopicSize(t, brokers, c.TopicDeadLetter); n != tc.deadLetters {
				t.Fatalf("%d dead letters, want %d", n, tc.deadLetters)
			}
		})
	}
}

// start runs a detector until the returned stop is called; stop waits for it to return.
func start(t *testing.T, c config.Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run returned %v after cancellation, want nil", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("Run did not return after cancellation")
			}
		})
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

// waitCommitted waits until group has committed offsets of topic summing to want.
func waitCommitted(t *testing.T, brokers kafkautil.Cluster, group, topic string, want int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for testenv.Committed(t, brokers, group, topic) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s committed %d of %s within 30s, want %d", group, testenv.Committed(t, brokers, group, topic), topic, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
