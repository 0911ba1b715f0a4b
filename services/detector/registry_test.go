package detector

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/registry"
	"github.com/trailstream/trailstream/pkg/registry/registrytest"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestRunSchemaRegistry feeds the detector a user's creation in the Confluent wire format
// and its deletion single-object encoded, both framings on one topic, and reads the
// detection as another team would: the wire format, the registry's schema for its ID,
// goavro. An event whose ID is of a schema not ours is a dead letter saying so.
func TestRunSchemaRegistry(t *testing.T) {
	reg := registrytest.NewServer(t)
	c := testenv.Config(t)
	c.SchemaRegistryURL = reg.URL()
	brokers := testenv.Cluster(t, c)
	ctx := context.Background()
	if err := kafkautil.EnsureTopics(ctx, brokers, c.Partitions, c.TopicEvents, c.TopicDetections, c.TopicDeadLetter); err != nil {
		t.Fatal(err)
	}
	create, del := userEvents(t, c.Environment)
	producer, err := registry.Open(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := producer.RegisterEvents(ctx, c.TopicEvents); err != nil {
		t.Fatal(err)
	}
	framed, err := producer.EncodeEvent(nil, create)
	if err != nil {
		t.Fatal(err)
	}
	client, _ := registry.NewClient(reg.URL(), "", "")
	otherID, err := client.Register(ctx, "other-value", `{"type":"record","name":"Other","fields":[{"name":"x","type":"string"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	h := registry.Header(uint32(otherID))
	foreign := append(h[:], 2, 'x')

	stop := start(t, c)
	defer stop()
	w := kafkautil.NewWriter(brokers, c.TopicEvents)
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(create.AccountID), Value: framed},
		kafka.Message{Key: []byte(create.AccountID), Value: foreign}, event(t, del)); err != nil {
		t.Fatal(err)
	}

	got := testenv.ReadTopic(t, brokers, c.TopicDetections, 1, 30*time.Second)[0]
	subject := c.TopicDetections + "-value"
	id, _, err := registrytest.Latest(reg.URL(), subject)
	if err != nil {
		t.Fatalf("subject %s: %v", subject, err)
	}
	if got.Value[0] != 0 || int(binary.BigEndian.Uint32(got.Value[1:5])) != id {
		t.Fatalf("detection starts % x, want 00 and schema ID %d", got.Value[:5], id)
	}
	schema, err := registrytest.SchemaByID(reg.URL(), id)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	native, _, err := codec.NativeFromBinary(got.Value[5:])
	if err != nil {
		t.Fatal(err)
	}
	rec := native.(map[string]any)
	for k, want := range map[string]any{"rule_id": "short-lived-iam-object", "severity": "high", "account_id": "123456789012",
		"resource_type": "iam-user", "resource_name": "svc-backup-tmp", "environment": c.Environment} {
		if rec[k] != want {
			t.Errorf("%s = %#v, want %#v", k, rec[k], want)
		}
	}
	ids, _ := rec["event_ids"].([]any)
	if len(ids) != 2 || ids[0] != "b64ce422-8c38-4b29-98f1-35d25f557203" || ids[1] != "451abd81-f1d6-4ed6-97f5-e837d70820fe" {
		t.Errorf("event_ids = %v", rec["event_ids"])
	}
	if tm, _ := rec["first_time"].(time.Time); !tm.Equal(time.Date(2024, 3, 14, 9, 21, 7, 0, time.UTC)) {
		t.Errorf("first_time = %v", rec["first_time"])
	}
	dead := testenv.DeadLetters(t, c, 1, 30*time.Second)[0]
	if dead.Stage != "detector" || !strings.Contains(dead.Reason, "is no version of the event schema") {
		t.Errorf("dead letter %+v, want the detector's, saying the schema is not the event's", dead)
	}
	stop()
}
