package fetcher

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestEndpoint runs the fetcher with its metrics endpoint, the S3/SQS emulator behind a
// proxy, on four notifications: a good file of events half an hour old, a truncated file, a
// file that is not JSON, a file that does not exist, and a notification that is not one.
// /metrics counts the notifications received and deleted, the objects and bytes read, the
// missing object as an S3 error, the files by outcome, the records produced, the dead
// letters by reason and the delivery lag; /readyz is 200, and 503 naming SQS while the
// emulator's port is closed; /healthz is 200.
func TestEndpoint(t *testing.T) {
	metrics.CheckTTL = 200 * time.Millisecond
	defer func() { metrics.CheckTTL = 5 * time.Second }()
	c := testenv.Config(t)
	cl, queueURL := testenv.AWS(t, c)
	brokers := testenv.Cluster(t, c)
	proxy := testenv.NewProxy(t, strings.TrimPrefix(c.AWSEndpoint, "http://"))
	c.AWSEndpoint = "http://" + proxy.Addr()
	c.MetricsAddr = testenv.FreeAddr(t)
	c.MaxReceiveCount = 1
	c.BackfillSince = -1

	prefix := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/"
	at := time.Now().Add(-30 * time.Minute).UTC()
	record := func(i int) string {
		return fmt.Sprintf(`{"eventID":"m-%d","eventTime":"%s","requestParameters":{"blob":"%s"}}`, i, at.Format(time.RFC3339), testenv.Noise(i, 300))
	}
	good := testenv.Gzip([]byte(`{"Records":[` + record(0) + `,` + record(1) + `]}`))
	var many strings.Builder
	many.WriteString(`{"Records":[`)
	for i := range 200 {
		if i > 0 {
			many.WriteByte(',')
		}
		many.WriteString(record(100 + i))
	}
	many.WriteString(`]}`)
	truncated := testenv.Gzip([]byte(many.String()))
	truncated = truncated[:len(truncated)/2]
	notJSON := testenv.Gzip([]byte("this is not json"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c) }()
	metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusOK, 30*time.Second)
	before := metricstest.Read(t, c.MetricsAddr) // the metrics of the process: other tests' count too
	for _, f := range []struct {
		key  string
		body []byte
	}{{"good.json.gz", good}, {"truncated.json.gz", truncated}, {"notjson.json.gz", notJSON}, {"missing.json.gz", nil}} {
		testenv.SendMessage(t, cl, queueURL, testenv.PutObject(t, cl, c, prefix+f.key, f.body))
	}
	testenv.SendMessage(t, cl, queueURL, "not a notification")
	const deleted, inFlight = "trailstream_sqs_messages_deleted_total", "trailstream_sqs_messages_in_flight"
	s := metricstest.Wait(t, c.MetricsAddr, 60*time.Second, "5 notifications deleted, none in flight", func(s metricstest.Scrape) bool {
		return s.Sum(deleted, "source", DefaultSource)-before.Sum(deleted, "source", DefaultSource) == 5 && s.Sum(inFlight, "source", DefaultSource) == 0
	})
	raw := testenv.TopicSize(t, brokers, c.TopicRaw)
	if raw <= 2 || raw >= 202 {
		t.Fatalf("%d records on the raw topic: want the good file's 2 and some of the truncated one's", raw)
	}
	for _, tc := range []struct {
		name  string
		pairs []string
		want  float64
	}{
		{"trailstream_sqs_messages_received_total", []string{"source", DefaultSource}, 5},
		{"trailstream_sqs_messages_in_flight", []string{"source", DefaultSource}, 0},
		{"trailstream_s3_objects_read_total", []string{"kind", "log"}, 3},
		{"trailstream_s3_bytes_read_total", []string{"kind", "log"}, float64(len(good) + len(truncated) + len(notJSON))},
		{"trailstream_s3_errors_total", []string{"kind", "not_found"}, 1},
		{"trailstream_fetcher_files_total", []string{"path", "notification", "outcome", "read"}, 1},
		{"trailstream_fetcher_files_total", []string{"path", "notification", "outcome", "partial"}, 1},
		{"trailstream_fetcher_files_total", []string{"path", "notification", "outcome", "failed"}, 2},
		{"trailstream_stage_records_out_total", []string{"stage", "fetcher"}, float64(raw)},
		{"trailstream_kafka_produced_messages_total", []string{"topic", c.TopicRaw}, float64(raw)},
		{"trailstream_stage_dead_letters_total", []string{"stage", "fetcher", "reason", "truncated"}, 1},
		{"trailstream_stage_dead_letters_total", []string{"stage", "fetcher", "reason", "file"}, 2},
		{"trailstream_stage_dead_letters_total", []string{"stage", "fetcher", "reason", "notification"}, 1},
		// the newest events of both readable files are half an hour old
		{"trailstream_fetcher_delivery_lag_seconds_bucket", []string{"source", DefaultSource, "path", "notification", "le", "900"}, 0},
		{"trailstream_fetcher_delivery_lag_seconds_bucket", []string{"source", DefaultSource, "path", "notification", "le", "3600"}, 2},
	} {
		if got := s.Sum(tc.name, tc.pairs...) - before.Sum(tc.name, tc.pairs...); got != tc.want {
			t.Errorf("%s%q: %v more, want %v", tc.name, tc.pairs, got, tc.want)
		}
	}
	if depth := testenv.QueueDepth(t, cl, queueURL); depth != 0 {
		t.Errorf("the queue holds %d messages, though all 5 are counted deleted", depth)
	}
	if status, _ := metricstest.Get(t, c.MetricsAddr, "/readyz"); status != http.StatusOK {
		t.Errorf("readyz: %d, want 200", status)
	}

	proxy.Cut()
	body := metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusServiceUnavailable, 30*time.Second)
	if !strings.Contains(body, "sqs: does not answer") || strings.Contains(body, proxy.Addr()) || strings.Contains(body, queueURL) {
		t.Errorf("readyz with the emulator's port closed: %q, want SQS named, without its address", body)
	}
	if status, _ := metricstest.Get(t, c.MetricsAddr, "/healthz"); status != http.StatusOK {
		t.Errorf("healthz with SQS away: %d, want 200", status)
	}
	const failed = "trailstream_sqs_errors_total"
	if s := metricstest.Read(t, c.MetricsAddr); s.Sum(failed, "source", DefaultSource, "operation", "receive")-before.Sum(failed, "source", DefaultSource, "operation", "receive") < 1 {
		t.Errorf("no failed receive counted:\n%s", s.Lines("trailstream_sqs"))
	}
	proxy.Restore()
	metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusOK, 90*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
