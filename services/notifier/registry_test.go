package notifier

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/registry"
	"github.com/trailstream/trailstream/pkg/registry/registrytest"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestBothFramings: detections in the Confluent wire format and single-object encoded, on
// one topic, each reach the webhook once; one whose schema ID is not the detection
// schema's is a dead letter saying so.
func TestBothFramings(t *testing.T) {
	reg := registrytest.NewServer(t)
	hook := newReceiver(t, nil)
	c := setup(t, hook.URL)
	c.SchemaRegistryURL = reg.URL()
	producer, err := registry.Open(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := producer.RegisterDetections(ctx, c.TopicDetections); err != nil {
		t.Fatal(err)
	}
	if err := producer.RegisterEvents(ctx, c.TopicEvents); err != nil {
		t.Fatal(err)
	}
	framedDet, single := detection("framed", "111111111111", "high"), detection("single", "111111111111", "high")
	framed, err := producer.EncodeDetection(nil, framedDet)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := model.EncodeDetection(nil, single)
	if err != nil {
		t.Fatal(err)
	}
	// An event's ID on the detections topic: a schema that is not the detection's.
	event, err := producer.EncodeEvent(nil, &model.Event{EventID: "e", EventTime: time.Now(), AccountID: "111111111111"})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, c)
	defer stop()
	publishRaw(t, c, kafka.Message{Key: []byte("111111111111"), Value: framed}, kafka.Message{Key: []byte("111111111111"), Value: event},
		kafka.Message{Key: []byte("111111111111"), Value: plain})
	waitCommitted(t, c, 3)
	stop()
	checkOnceInOrder(t, hook.accepted(), []*model.Detection{framedDet, single})
	dead := testenv.DeadLetters(t, c, 1, 30*time.Second)[0]
	if dead.Stage != "notifier" || !strings.Contains(dead.Reason, "is no version of the detection schema") {
		t.Errorf("dead letter %+v, want the notifier's, saying the schema is not the detection's", dead)
	}
}
