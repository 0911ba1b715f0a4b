package sink

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/kafkautil"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestEndpoint runs the sink with its metrics endpoint, ClickHouse behind a proxy: after 5
// events an hour old and a message that is no event, /metrics counts the rows inserted, the
// records in and out, the dead letter by reason and the events' end-to-end lag; /readyz is
// 200, 503 naming ClickHouse (and not where it is) while its port is closed, and 200 again
// once it is back; /healthz is 200 throughout.
func TestEndpoint(t *testing.T) {
	metrics.CheckTTL = 200 * time.Millisecond
	defer func() { metrics.CheckTTL = 5 * time.Second }()
	c := testenv.Config(t)
	conn := testenv.ClickHouse(t, c)
	proxy := testenv.NewProxy(t, c.ClickHouseAddr)
	c.ClickHouseAddr = proxy.Addr()
	c.MetricsAddr = testenv.FreeAddr(t)
	brokers := testenv.Cluster(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := kafkautil.EnsureTopics(ctx, brokers, 3, c.TopicEvents, c.TopicDetections); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()
	metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusOK, 30*time.Second)
	before := metricstest.Read(t, c.MetricsAddr)

	const n = 5
	at := time.Now().Add(-time.Hour)
	var msgs []kafka.Message
	for i := range n {
		v, err := model.EncodeEvent(nil, &model.Event{EventID: fmt.Sprintf("m%d", i), EventTime: at, EventName: "CreateUser",
			AccountID: "111122223333", Raw: "{}"})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Key: []byte("111122223333"), Value: v})
	}
	msgs = append(msgs, kafka.Message{Key: []byte("111122223333"), Value: []byte("not avro")})
	w := kafkautil.NewWriter(brokers, c.TopicEvents)
	defer w.Close()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	s := metricstest.Wait(t, c.MetricsAddr, 30*time.Second, "the 6 messages handled", func(s metricstest.Scrape) bool {
		return s.Sum("trailstream_stage_records_in_total", "stage", "sink")-before.Sum("trailstream_stage_records_in_total", "stage", "sink") == n+1
	})
	delta := func(name string, pairs ...string) float64 { return s.Sum(name, pairs...) - before.Sum(name, pairs...) }
	for _, tc := range []struct {
		name  string
		pairs []string
		want  float64
	}{
		{"trailstream_clickhouse_rows_inserted_total", []string{"table", "events"}, n},
		{"trailstream_stage_records_out_total", []string{"stage", "sink"}, n},
		{"trailstream_stage_dead_letters_total", []string{"stage", "sink", "reason", "decode"}, 1},
		{"trailstream_kafka_produced_messages_total", []string{"topic", c.TopicDeadLetter}, 1},
		{"trailstream_sink_event_lag_seconds_count", nil, n},
		{"trailstream_sink_event_lag_seconds_bucket", []string{"le", "3600"}, 0}, // an hour and a little
		{"trailstream_sink_event_lag_seconds_bucket", []string{"le", "7200"}, n},
	} {
		if got := delta(tc.name, tc.pairs...); got != tc.want {
			t.Errorf("%s%q: %v more, want %v", tc.name, tc.pairs, got, tc.want)
		}
	}
	if got := delta("trailstream_clickhouse_insert_duration_seconds_count", "table", "events"); got < 1 {
		t.Errorf("%v inserts timed, want at least one", got)
	}
	if lag := delta("trailstream_sink_event_lag_seconds_sum"); lag < n*3600 || lag > n*3700 {
		t.Errorf("lag sum %v s, want about %d × 3600", lag, n)
	}
	// The lag is set once the batch is handled, just after what it counted.
	metricstest.Wait(t, c.MetricsAddr, 10*time.Second, "the events' consumer lag reported, 0 once all is handled", func(s metricstest.Scrape) bool {
		return s.Has("trailstream_kafka_consumer_lag_messages", "group", c.GroupPrefix+"-sink-events", "topic", c.TopicEvents) &&
			s.Sum("trailstream_kafka_consumer_lag_messages", "group", c.GroupPrefix+"-sink-events", "topic", c.TopicEvents) == 0
	})
	for _, family := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if !s.Family(family) {
			t.Errorf("/metrics has no %s", family)
		}
	}
	var rows uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+c.ClickHouseDatabase+".events").Scan(&rows); err != nil || rows != n {
		t.Fatalf("%d rows in ClickHouse (%v), want %d: the metric counts what is not there", rows, err, n)
	}

	proxy.Cut()
	body := metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusServiceUnavailable, 30*time.Second)
	if !strings.Contains(body, "clickhouse: does not answer") || strings.Contains(body, "kafka") || strings.Contains(body, proxy.Addr()) {
		t.Errorf("readyz with ClickHouse's port closed: %q, want ClickHouse named, nothing else, and no address", body)
	}
	if status, body := metricstest.Get(t, c.MetricsAddr, "/healthz"); status != http.StatusOK {
		t.Errorf("healthz with ClickHouse away: %d %q, want 200: the sink is alive, waiting", status, body)
	}
	proxy.Restore()
	metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusOK, 30*time.Second)

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
