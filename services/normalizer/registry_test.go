package normalizer

import (
	"context"
	"encoding/binary"
	"os"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/registry/registrytest"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestRunSchemaRegistry normalizes a record with --schema-registry-url and reads the event
// topic's bytes as another team's consumer would: the Confluent wire format, the schema the
// registry answers for its ID, decoded by goavro. The values expected are the fixture's.
func TestRunSchemaRegistry(t *testing.T) {
	reg := registrytest.NewServer(t)
	c := testenv.Config(t)
	c.SchemaRegistryURL = reg.URL()
	brokers := testenv.Cluster(t, c)
	sample, err := os.ReadFile("testdata/console_login_failure.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := kafkautil.EnsureTopics(ctx, brokers, 3, c.TopicRaw); err != nil {
		t.Fatal(err)
	}
	w := kafkautil.NewWriter(brokers, c.TopicRaw)
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Value: sample, Headers: []kafka.Header{{Key: "environment", Value: []byte("prod")}}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()

	got := testenv.ReadTopic(t, brokers, c.TopicEvents, 1, 30*time.Second)[0]
	subject := c.TopicEvents + "-value"
	id, _, err := registrytest.Latest(reg.URL(), subject)
	if err != nil {
		t.Fatalf("subject %s: %v", subject, err)
	}
	if level, err := registrytest.Compatibility(reg.URL(), subject); err != nil || level != "BACKWARD" {
		t.Fatalf("compatibility of %s: %q, %v; want BACKWARD", subject, level, err)
	}
	if len(got.Value) < 5 || got.Value[0] != 0 {
		t.Fatalf("message starts % x, want the magic byte 0", got.Value[:min(len(got.Value), 5)])
	}
	if gotID := int(binary.BigEndian.Uint32(got.Value[1:5])); gotID != id {
		t.Fatalf("schema ID %d in the message, the registry has %d for %s", gotID, id, subject)
	}
	schema, err := registrytest.SchemaByID(reg.URL(), id)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	native, rest, err := codec.NativeFromBinary(got.Value[5:])
	if err != nil || len(rest) != 0 {
		t.Fatalf("goavro: %v, %d bytes left", err, len(rest))
	}
	rec := native.(map[string]any)
	for k, want := range map[string]any{
		"event_id": "f36c1d07-73cf-4ab8-84b1-04c93ac2aaeb", "event_version": "1.01", "event_source": "signin.amazonaws.com",
		"event_name": "ConsoleLogin", "aws_region": "us-east-1", "account_id": "956882708938", "source_ip": "65.98.119.36",
		"user_type": "IAMUser", "user_arn": "arn:aws:iam::956882708938:user/Olaf", "principal_id": "AIDAJ6IGVQ4XQZQDAYEOA",
		"outcome": "failure", "mfa_used": false, "environment": "prod",
	} {
		if rec[k] != want {
			t.Errorf("%s = %#v, want %#v", k, rec[k], want)
		}
	}
	if tm, _ := rec["event_time"].(time.Time); !tm.Equal(time.Date(2017, 9, 27, 20, 0, 10, 0, time.UTC)) {
		t.Errorf("event_time = %v, want 2017-09-27T20:00:10Z", rec["event_time"])
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
