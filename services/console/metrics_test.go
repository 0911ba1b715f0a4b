package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
	"github.com/trailstream/trailstream/pkg/testenv"
	"github.com/trailstream/trailstream/services/console"
)

// TestMetricsEndpoint runs the console with its metrics endpoint, ClickHouse behind a proxy:
// requests are timed by route pattern and status code; /readyz is 200, and 503 naming
// ClickHouse while its port is closed; /healthz is 200.
func TestMetricsEndpoint(t *testing.T) {
	metrics.CheckTTL = 200 * time.Millisecond
	defer func() { metrics.CheckTTL = 5 * time.Second }()
	c := testenv.Config(t)
	testenv.ClickHouse(t, c)
	proxy := testenv.NewProxy(t, c.ClickHouseAddr)
	c.ClickHouseAddr = proxy.Addr()
	c.ConsoleAddr = testenv.FreeAddr(t)
	c.MetricsAddr = testenv.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- console.Run(ctx, c) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusOK, 30*time.Second)
	before := metricstest.Read(t, c.MetricsAddr)
	for path, want := range map[string]int{"/api/dashboards": 200, "/api/panels/no-such-panel": 404} {
		for range 2 {
			res, err := http.Get("http://" + c.ConsoleAddr + path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != want {
				t.Fatalf("GET %s: %d, want %d", path, res.StatusCode, want)
			}
		}
	}
	// A request is timed once its handler returned, which may be just after its client
	// had the answer.
	const name = "trailstream_console_request_duration_seconds_count"
	routes := []struct{ route, code string }{{"GET /api/dashboards", "200"}, {"GET /api/panels/{id}", "404"}}
	s := metricstest.Wait(t, c.MetricsAddr, 10*time.Second, "the 4 requests timed", func(s metricstest.Scrape) bool {
		n := 0.0
		for _, r := range routes {
			n += s.Sum(name, "route", r.route) - before.Sum(name, "route", r.route)
		}
		return n >= 4
	})
	for _, tc := range routes {
		if got := s.Sum(name, "route", tc.route, "code", tc.code) - before.Sum(name, "route", tc.route, "code", tc.code); got != 2 {
			t.Errorf("%s{route=%q,code=%s}: %v more, want 2", name, tc.route, tc.code, got)
		}
	}
	if strings.Contains(s.Lines("trailstream_console"), "no-such-panel") {
		t.Error("a request's path is a label")
	}

	proxy.Cut()
	body := metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusServiceUnavailable, 30*time.Second)
	if !strings.Contains(body, "clickhouse: does not answer") || strings.Contains(body, proxy.Addr()) {
		t.Errorf("readyz with ClickHouse's port closed: %q, want ClickHouse named, without its address", body)
	}
	if status, _ := metricstest.Get(t, c.MetricsAddr, "/healthz"); status != http.StatusOK {
		t.Errorf("healthz with ClickHouse away: %d, want 200", status)
	}
	proxy.Restore()
	metricstest.WaitStatus(t, c.MetricsAddr, "/readyz", http.StatusOK, 30*time.Second)
}
