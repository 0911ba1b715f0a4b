package all

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/config"
	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// pipeline is trailstream all run by a test on a CloudTrail file, with a webhook so the
// notifier runs too, and a console request made: what its one endpoint showed before the
// file and once every part had done its work.
type pipeline struct {
	cfg     config.Config
	records int                // of the file
	before  metricstest.Scrape // once ready, before the file: other tests of the process count too
	after   metricstest.Scrape // once the file's events, detections and deliveries are counted
	hooked  *atomic.Int32      // requests the webhook got
	cancel  context.CancelFunc
	ended   chan struct{} // closed once Run returned err
	err     error
}

// runPipeline starts trailstream all, sends it the notification of testdata/trail.json and
// waits until every part recorded its work: the rows in ClickHouse, the detections
// delivered, the console's request timed and every consumer's lag set. TestEndpoint checks
// the figures; TestGrafanaDashboard the dashboard's queries against the same kind of scrape.
func runPipeline(t *testing.T) *pipeline {
	t.Helper()
	c := testenv.Config(t)
	c.ConsoleAddr = testenv.FreeAddr(t)
	c.MetricsAddr = testenv.FreeAddr(t)
	p := &pipeline{hooked: new(atomic.Int32), ended: make(chan struct{})}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hooked.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	c.AlertWebhooks = []string{hook.URL + "/alerts"}
	testenv.ClickHouse(t, c)
	cl, queueURL := testenv.AWS(t, c)
	file, records := trail(t)
	notice := testenv.PutObject(t, cl, c, "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/21/111122223333_CloudTrail_us-east-1_20261121T1000Z_m.json.gz", file)
	p.cfg, p.records = c, len(records)

	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	// Stopped before the servers' cleanups, registered earlier, remove what it uses.
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.ended:
		case <-time.After(time.Minute):
			t.Error("trailstream all did not stop within a minute")
		}
	})
	go func() { p.err = Run(ctx, c); close(p.ended) }()
	metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusOK, 60*time.Second)
	p.before = metricstest.Read(t, c.MetricsAddr)
	testenv.SendMessage(t, cl, queueURL, notice)
	n := float64(len(records))
	metricstest.Wait(t, c.MetricsAddr, 90*time.Second, "the file's events and detections in ClickHouse, the detections delivered", func(s metricstest.Scrape) bool {
		return p.delta(s, "trailstream_clickhouse_rows_inserted_total", "table", "events") == n &&
			p.delta(s, "trailstream_clickhouse_rows_inserted_total", "table", "detections") == 3 &&
			p.delta(s, "trailstream_notifier_deliveries_total", "outcome", "delivered") == 3
	})
	if res, err := http.Get("http://" + c.ConsoleAddr + "/api/dashboards"); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
	}
	// A request is timed once its handler returned, a consumer's lag set once its batch was
	// handled: either may be just after the client or the counts saw it.
	groups := []string{c.GroupPrefix + "-normalizer", c.GroupPrefix + "-detector", c.GroupPrefix + "-sink-events", c.GroupPrefix + "-notifier"}
	p.after = metricstest.Wait(t, c.MetricsAddr, 10*time.Second, "the console request timed, every consumer's lag reported", func(s metricstest.Scrape) bool {
		for _, g := range groups {
			if !s.Has("trailstream_kafka_consumer_lag_messages", "group", g) {
				return false
			}
		}
		return p.delta(s, "trailstream_console_request_duration_seconds_count", "route", "GET /api/dashboards") >= 1
	})
	return p
}

// delta returns how much the samples of name with the labels of pairs grew in s since the
// file was sent.
func (p *pipeline) delta(s metricstest.Scrape, name string, pairs ...string) float64 {
	return s.Sum(name, pairs...) - p.before.Sum(name, pairs...)
}

// stop stops trailstream all and fails the test when it did not end cleanly.
func (p *pipeline) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	<-p.ended
	if p.err != nil {
		t.Fatalf("Run: %v", p.err)
	}
}

// TestEndpoint runs every part in one process with a webhook, so the notifier runs too, on
// a CloudTrail file: one endpoint serves the families of every part with what they did,
// /readyz and /healthz are 200, and every family defined is registered by some part.
func TestEndpoint(t *testing.T) {
	p := runPipeline(t)
	c, s, n, delta := p.cfg, p.after, float64(p.records), p.delta
	for _, tc := range []struct {
		part, name string
		pairs      []string
		want       float64
	}{
		{"fetcher", "trailstream_sqs_messages_deleted_total", []string{"source", "default"}, 1},
		{"fetcher", "trailstream_s3_objects_read_total", []string{"kind", "log"}, 1},
		{"fetcher", "trailstream_stage_records_out_total", []string{"stage", "fetcher"}, n},
		{"normalizer", "trailstream_stage_records_out_total", []string{"stage", "normalizer"}, n},
		{"detector", "trailstream_stage_records_in_total", []string{"stage", "detector"}, n},
		{"detector", "trailstream_detections_total", []string{"rule", "short-lived-iam-object", "severity", "high"}, 1},
		{"detector", "trailstream_detections_total", []string{"rule", "console-login-outside-home-countries"}, 2},
		{"sink", "trailstream_stage_records_out_total", []string{"stage", "sink"}, n + 3},
		{"sink", "trailstream_sink_event_lag_seconds_count", nil, n},
		{"notifier", "trailstream_stage_records_out_total", []string{"stage", "notifier"}, 3},
		{"console", "trailstream_console_request_duration_seconds_count", []string{"route", "GET /api/dashboards", "code", "200"}, 1},
	} {
		if got := delta(s, tc.name, tc.pairs...); got != tc.want {
			t.Errorf("%s: %s%q: %v more, want %v", tc.part, tc.name, tc.pairs, got, tc.want)
		}
	}
	if !s.Has("trailstream_detector_state_entries", "rule", "short-lived-iam-object") {
		t.Error("no detector state on the endpoint")
	}
	if p.hooked.Load() != 3 {
		t.Errorf("the webhook got %d requests, want the 3 counted", p.hooked.Load())
	}
	for _, family := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if !s.Family(family) {
			t.Errorf("no %s on the endpoint", family)
		}
	}
	if status, body := metricstest.Get(t, c.MetricsAddr, "/healthz"); status != http.StatusOK {
		t.Errorf("healthz: %d %q", status, body)
	}
	if status, body := metricstest.Get(t, c.MetricsAddr, "/readyz"); status != http.StatusOK {
		t.Errorf("readyz: %d %q", status, body)
	}
	var registered []string
	for _, f := range metrics.Registered() {
		registered = append(registered, f.Name)
	}
	for _, f := range metrics.All() {
		if !slices.Contains(registered, f.Name) {
			t.Errorf("%s is defined, and no part of trailstream all registers it", f.Name)
		}
	}
	p.stop(t)
}

// TestMetricsDocumented keeps the README's table of metrics and the families defined in
// step: every family is a row with its type and labels, and every row is a family. (That
// every family is registered by some service, TestEndpoint checks.)
func TestMetricsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Metrics and health\n")
	if !ok {
		t.Fatal("README.md has no section Metrics and health")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `(trailstream_[a-z0-9_]+)` \\| ([a-z]+) \\|([^|]*)\\|")
	documented := map[string]metrics.Info{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		var labels []string
		for _, l := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(m[3], -1) {
			labels = append(labels, l[1])
		}
		if _, dup := documented[m[1]]; dup {
			t.Errorf("README: %s twice", m[1])
		}
		documented[m[1]] = metrics.Info{Name: m[1], Type: m[2], Labels: labels}
	}
	if len(documented) == 0 {
		t.Fatal("README: no metric in the table")
	}
	for _, f := range metrics.All() {
		d, ok := documented[f.Name]
		switch {
		case !ok:
			t.Errorf("README: no row for %s (%s)", f.Name, f.Help)
		case d.Type != f.Type:
			t.Errorf("README: %s is a %s, the table says %s", f.Name, f.Type, d.Type)
		case !slices.Equal(d.Labels, f.Labels):
			t.Errorf("README: %s has the labels %q, the table says %q", f.Name, f.Labels, d.Labels)
		}
		delete(documented, f.Name)
	}
	for name := range documented {
		t.Errorf("README: %s is in the table, and no such family is defined", name)
	}
}
