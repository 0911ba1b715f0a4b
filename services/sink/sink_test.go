package sink

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/deadletter"
	"github.com/trailstream/trailstream/pkg/generate"
	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/normalize"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestRun loads events and detections through a running sink into a private ClickHouse
// database; a redelivered event is counted once and an undecodable message is dead-lettered.
func TestRun(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	brokers := testenv.Cluster(t, c)
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

// BenchmarkInsertEvents measures decoding Avro events and inserting them into ClickHouse:
// 20,000 generated records, normalized, in batches of each size, by one or two inserts at
// a time, and in one insert of four batches sent as blocks, as the sink's loader does on a
// backlog (inserter).
func BenchmarkInsertEvents(b *testing.B) {
	c := testenv.Config(b)
	conn := testenv.ClickHouse(b, c)
	const n = 20000
	msgs := make([]kafka.Message, 0, n)
	for r := range generate.Records(generate.Options{Events: n, Seed: 7, Start: time.Now().Add(-2 * time.Hour)}) {
		e, err := normalize.Normalize(r.JSON, "bench")
		if err != nil {
			b.Fatal(err)
		}
		v, err := model.EncodeEvent(nil, e)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Value: v})
	}
	b.Run("batch=5000/one-insert", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			in := newInserter(conn, c.ClickHouseDatabase+".events", model.EventFields())
			for j := 0; j < n; j += 5000 {
				if _, err := eventRows(nil)(context.Background(), in, msgs[j:j+5000]); err != nil {
					b.Fatal(err)
				}
			}
			if err := in.close(1); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
	})
	for _, bc := range []struct{ batch, inserts int }{{5000, 1}, {5000, 2}, {20000, 1}} {
		b.Run(fmt.Sprintf("batch=%d/inserts=%d", bc.batch, bc.inserts), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				work := make(chan []kafka.Message, n/bc.batch)
				for j := 0; j < n; j += bc.batch {
					work <- msgs[j:min(j+bc.batch, n)]
				}
				close(work)
				errs := make(chan error, bc.inserts)
				for range bc.inserts {
					go func() {
						for batch := range work {
							if _, err := InsertEvents(context.Background(), conn, c.ClickHouseDatabase, batch); err != nil {
								errs <- err
								return
							}
						}
						errs <- nil
					}()
				}
				for range bc.inserts {
					if err := <-errs; err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// TestTimesOutOfRange inserts events and detections whose times ClickHouse's DateTime cannot
// hold: each such row is dead-lettered with the reason and the rest of the batch is loaded,
// instead of the whole batch failing again and again.
func TestTimesOutOfRange(t *testing.T) {
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	ctx := context.Background()
	ok := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	event := func(id string, at time.Time) kafka.Message {
		v, err := model.EncodeEvent(nil, &model.Event{EventID: id, EventTime: at, AccountID: "111122223333", Raw: "{}"})
		if err != nil {
			t.Fatal(err)
		}
		return kafka.Message{Topic: c.TopicEvents, Value: v}
	}
	detection := func(id string, first, last, detected time.Time) kafka.Message {
		v, err := model.EncodeDetection(nil, &model.Detection{DetectionID: id, RuleID: "r", AccountID: "111122223333",
			FirstTime: first, LastTime: last, DetectedAt: detected})
		if err != nil {
			t.Fatal(err)
		}
		return kafka.Message{Topic: c.TopicDetections, Value: v}
	}
	tests := []struct {
		name    string
		insert  func(context.Context, driver.Conn, string, []kafka.Message) ([]deadletter.Entry, error)
		msgs    []kafka.Message
		table   string
		rows    uint64
		reasons []string // of the dead letters, in order
	}{
		{"events", InsertEvents, []kafka.Message{
			event("ok-1", ok),
			event("before-1970", time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)),
			event("after-2105", time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)),
			event("ok-2", ok),
		}, "events", 2, []string{"event_time 1960-01-01T00:00:00Z", "event_time 2200-01-01T00:00:00Z"}},
		{"detections", InsertDetections, []kafka.Message{
			detection("ok", ok, ok, ok),
			detection("bad-first", time.UnixMilli(-1), ok, ok),
			detection("last-second", time.Unix(0, 0), ok, time.Unix(math.MaxUint32, 0)),
			detection("bad-detected", ok, ok, time.Date(2106, 2, 7, 6, 28, 16, 0, time.UTC)),
		}, "detections", 2, []string{"first_time 1969-12-31T23:59:59.999Z", "detected_at 2106-02-07T06:28:16Z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dead, err := tc.insert(ctx, conn, c.ClickHouseDatabase, tc.msgs)
			if err != nil {
				t.Fatalf("insert failed as a whole: %v", err)
			}
			var reasons []string
			for _, e := range dead {
				reasons = append(reasons, e.Reason)
			}
			if len(reasons) != len(tc.reasons) {
				t.Fatalf("dead letters %q, want %d", reasons, len(tc.reasons))
			}
			for i, want := range tc.reasons {
				if !strings.Contains(reasons[i], want) || !strings.Contains(reasons[i], "out of the range") {
					t.Errorf("dead letter %d: %q, want it to name %q and the range", i, reasons[i], want)
				}
			}
			var rows uint64
			if err := conn.QueryRow(ctx, "SELECT count() FROM "+c.ClickHouseDatabase+"."+tc.table).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			if rows != tc.rows {
				t.Fatalf("%d rows in %s, want %d", rows, tc.table, tc.rows)
			}
		})
	}
}
