package notifier

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
	"github.com/trailstream/trailstream/pkg/model"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// TestEndpoint runs the notifier with its metrics endpoint and two webhooks, one that fails
// once before it accepts and one that refuses everything: 3 detections, a message that is no
// detection, and the first detection again. /metrics counts each webhook's deliveries by
// outcome and its retries, the records in and out and the dead letter by reason.
func TestEndpoint(t *testing.T) {
	accepts := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n == 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}
		return false
	})
	refuses := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		w.WriteHeader(http.StatusBadRequest)
		return true
	})
	c := setup(t, accepts.URL+"/a", refuses.URL+"/b")
	c.MetricsAddr = testenv.FreeAddr(t)
	start(t, c)
	metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusOK, 30*time.Second)
	before := metricstest.Read(t, c.MetricsAddr)

	dets := []*model.Detection{detection("a", "111111111111", "high"), detection("b", "111111111111", "high"), detection("c", "222222222222", "low")}
	publish(t, c, dets...)
	publishRaw(t, c, kafka.Message{Key: []byte("111111111111"), Value: []byte("not a detection")})
	waitCommitted(t, c, 4)
	publish(t, c, dets[0])
	waitCommitted(t, c, 5)

	s := metricstest.Read(t, c.MetricsAddr)
	a, b := WebhookID(accepts.URL+"/a"), WebhookID(refuses.URL+"/b")
	for _, tc := range []struct {
		name  string
		pairs []string
		want  float64
	}{
		{"trailstream_notifier_deliveries_total", []string{"webhook", a, "outcome", "delivered"}, 3},
		{"trailstream_notifier_deliveries_total", []string{"webhook", a, "outcome", "already_sent"}, 1},
		{"trailstream_notifier_deliveries_total", []string{"webhook", b, "outcome", "refused"}, 3},
		{"trailstream_notifier_deliveries_total", []string{"webhook", b, "outcome", "already_sent"}, 1},
		{"trailstream_notifier_delivery_retries_total", []string{"webhook", a}, 1},
		{"trailstream_notifier_delivery_retries_total", []string{"webhook", b}, 0},
		{"trailstream_notifier_delivery_duration_seconds_count", []string{"webhook", a}, 3},
		{"trailstream_stage_records_in_total", []string{"stage", "notifier"}, 5},
		{"trailstream_stage_records_out_total", []string{"stage", "notifier"}, 3},
		{"trailstream_stage_dead_letters_total", []string{"stage", "notifier", "reason", "decode"}, 1},
	} {
		if got := s.Sum(tc.name, tc.pairs...) - before.Sum(tc.name, tc.pairs...); got != tc.want {
			t.Errorf("%s%q: %v more, want %v", tc.name, tc.pairs, got, tc.want)
		}
	}
	if got := len(accepts.accepted()); got != 3 {
		t.Fatalf("the webhook accepted %d detections, want the 3 counted", got)
	}
	if strings.Contains(s.Lines("trailstream_notifier"), accepts.URL) {
		t.Error("a webhook's URL is a label")
	}
}

// TestEndpointKafkaDown: a notifier whose Kafka does not answer is alive and not ready,
// saying Kafka, not where it is.
func TestEndpointKafkaDown(t *testing.T) {
	metrics.CheckTTL = 200 * time.Millisecond
	defer func() { metrics.CheckTTL = 5 * time.Second }()
	c := testenv.Config(t)
	c.AlertWebhooks = []string{"http://127.0.0.1:9/hook"}
	c.KafkaBrokers = testenv.FreeAddr(t)
	c.MetricsAddr = testenv.FreeAddr(t)
	start(t, c)
	body := metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusServiceUnavailable, 30*time.Second)
	if !strings.Contains(body, "kafka: does not answer") || !strings.Contains(body, "notifier starting") || strings.Contains(body, c.KafkaBrokers) {
		t.Errorf("readyz: %q, want Kafka named, the notifier starting, and no address", body)
	}
	if status, _ := metricstest.Get(t, c.MetricsAddr, "/healthz"); status != http.StatusOK {
		t.Errorf("healthz: %d, want 200", status)
	}
}
