package sink

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/registry"
	"github.com/trailstream/trailstream/pkg/registry/registrytest"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestRunBothFramings loads one events topic holding both framings into ClickHouse: a
// single-object event, one in the Confluent wire format, one written by another producer
// with the first version of the event schema (schemas/history) under its own ID, and one
// whose ID is of a schema not ours, which is dead-lettered saying so. The sink starts while
// the registry is down: nothing is inserted or dead-lettered, /readyz names the registry,
// and once it is back every row arrives, once.
func TestRunBothFramings(t *testing.T) {
	c := testenv.Config(t)
	c.MetricsAddr = testenv.FreeAddr(t)
	conn := testenv.ClickHouse(t, c)
	brokers := testenv.Cluster(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := kafkautil.EnsureTopics(ctx, brokers, 3, c.TopicEvents, c.TopicDetections, c.TopicDeadLetter); err != nil {
		t.Fatal(err)
	}
	reg := registrytest.New()
	srv, err := registrytest.Start(reg, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.SchemaRegistryURL = srv.URL()
	producer, err := registry.Open(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := producer.RegisterEvents(ctx, c.TopicEvents); err != nil {
		t.Fatal(err)
	}
	if err := producer.RegisterDetections(ctx, c.TopicDetections); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	ev := func(id, user string) *model.Event {
		return &model.Event{EventID: id, EventTime: t0, EventName: "CreateUser", AccountID: "111122223333", UserName: user, Raw: "{}"}
	}
	single, err := model.EncodeEvent(nil, ev("e-single", "sam"))
	if err != nil {
		t.Fatal(err)
	}
	framed, err := producer.EncodeEvent(nil, ev("e-framed", "fran"))
	if err != nil {
		t.Fatal(err)
	}
	old := oldEvent(t, ctx, producer.Client(), c.TopicEvents)
	client := producer.Client()
	otherID, err := client.Register(ctx, "other-value", `{"type":"record","name":"Other","fields":[{"name":"x","type":"string"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	h := registry.Header(uint32(otherID))
	foreign := append(h[:], 2, 'x')
	det, err := producer.EncodeDetection(nil, &model.Detection{DetectionID: "d-framed", RuleID: "root-login", Severity: "high",
		AccountID: "111122223333", EventIDs: []string{"e-framed"}, FirstTime: t0, LastTime: t0, DetectedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	ew := kafkautil.NewWriter(brokers, c.TopicEvents)
	defer ew.Close()
	dw := kafkautil.NewWriter(brokers, c.TopicDetections)
	defer dw.Close()
	var msgs []kafka.Message
	for _, v := range [][]byte{single, framed, old, foreign, framed} { // framed twice: a redelivery
		msgs = append(msgs, kafka.Message{Key: []byte("111122223333"), Value: v})
	}
	if err := ew.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := dw.WriteMessages(ctx, kafka.Message{Value: det}); err != nil {
		t.Fatal(err)
	}

	// The registry goes away before the sink starts.
	addr := srv.Addr()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()
	// Ready but for the registry: /readyz answers 503 naming it (answers are kept 5 s).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var status int
		var body string
		if res, err := http.Get("http://" + c.MetricsAddr + "/readyz"); err == nil { // not yet listening: try again
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			status, body = res.StatusCode, string(b)
		}
		if status == http.StatusServiceUnavailable && strings.Contains(body, "schema-registry") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz while the registry is down: %d %q, want 503 naming schema-registry", status, body)
		}
	}
	time.Sleep(3 * time.Second) // batches are read and wait
	count := func(table string) uint64 {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+c.ClickHouseDatabase+"."+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Single-object messages of a batch wait with the framed ones: a batch is inserted whole.
	if n, d := count("events"), testenv.TopicSize(t, brokers, c.TopicDeadLetter); n != 0 || d != 0 {
		t.Fatalf("with the registry down: %d events inserted, %d dead letters; want 0 and 0", n, d)
	}
	srv2, err := registrytest.Restart(reg, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()

	want := "e-framed fran\ne-old olive\ne-single sam\n"
	deadline := time.Now().Add(60 * time.Second)
	for {
		rows, err := conn.Query(ctx, "SELECT event_id, user_name FROM "+c.ClickHouseDatabase+".events FINAL ORDER BY event_id")
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		for rows.Next() {
			var id, user string
			if err := rows.Scan(&id, &user); err != nil {
				t.Fatal(err)
			}
			got.WriteString(id + " " + user + "\n")
		}
		rows.Close()
		var dets uint64
		_ = conn.QueryRow(ctx, "SELECT count() FROM "+c.ClickHouseDatabase+".detections FINAL WHERE detection_id = 'd-framed'").Scan(&dets)
		if got.String() == want && dets == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the registry came back: events\n%s(want\n%s), %d detections (want 1)", got.String(), want, dets)
		}
		time.Sleep(200 * time.Millisecond)
	}
	dead := testenv.DeadLetters(t, c, 1, 30*time.Second)[0]
	if dead.Stage != "sink" || !strings.Contains(dead.Reason, "is no version of the event schema") || dead.Payload != string(foreign) {
		t.Errorf("dead letter %+v, want the foreign message, saying its schema is not the event's", dead)
	}
	metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusOK, 30*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := testenv.TopicSize(t, brokers, c.TopicDeadLetter); d != 1 {
		t.Fatalf("%d dead letters, want only the foreign message's", d)
	}
}

// oldEvent is an event written by a producer that still has version 1 of the event schema,
// registered under topic's subject before the current one would be, framed with its ID and
// encoded by goavro.
func oldEvent(t *testing.T, ctx context.Context, client *registry.Client, topic string) []byte {
	t.Helper()
	v1, err := os.ReadFile("../../schemas/history/cloudtrail_event.1.avsc")
	if err != nil {
		t.Fatal(err)
	}
	id, err := client.Register(ctx, "old-"+topic+"-value", string(v1))
	if err != nil {
		t.Fatal(err)
	}
	codec, err := goavro.NewCodec(string(v1))
	if err != nil {
		t.Fatal(err)
	}
	rec := map[string]any{}
	for _, f := range codecFields(t, v1) {
		rec[f.name] = f.zero
	}
	rec["event_id"], rec["user_name"], rec["account_id"] = "e-old", "olive", "111122223333"
	rec["event_time"] = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	h := registry.Header(uint32(id))
	b, err := codec.BinaryFromNative(h[:], rec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type schemaField struct {
	name string
	zero any
}

// codecFields returns the fields of a record schema with a zero value of each one's type.
func codecFields(t *testing.T, schema []byte) []schemaField {
	t.Helper()
	var rec struct {
		Fields []struct {
			Name string
			Type json.RawMessage
		}
	}
	if err := json.Unmarshal(schema, &rec); err != nil {
		t.Fatal(err)
	}
	var out []schemaField
	for _, f := range rec.Fields {
		var zero any
		switch string(f.Type) {
		case `"string"`:
			zero = ""
		case `"boolean"`:
			zero = false
		case `"double"`:
			zero = 0.0
		default:
			var typ struct{ Type, LogicalType string }
			if err := json.Unmarshal(f.Type, &typ); err != nil {
				t.Fatalf("field %s: type %s", f.Name, f.Type)
			}
			switch {
			case typ.LogicalType == "timestamp-millis":
				zero = time.Unix(0, 0).UTC()
			case typ.Type == "array":
				zero = []any{}
			default:
				t.Fatalf("field %s: type %s", f.Name, f.Type)
			}
		}
		out = append(out, schemaField{f.Name, zero})
	}
	return out
}
