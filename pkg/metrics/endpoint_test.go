package metrics_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trailstream/trailstream/pkg/metrics"
	"github.com/trailstream/trailstream/pkg/metrics/metricstest"
	"github.com/trailstream/trailstream/pkg/testenv"
)

// dependency is a readiness check whose answer the test sets; its error names an address,
// which the endpoint must not repeat.
type dependency struct {
	down  atomic.Bool
	calls atomic.Int32
}

func (d *dependency) check(context.Context) error {
	d.calls.Add(1)
	if d.down.Load() {
		return errors.New("dial tcp 10.1.2.3:9000: connection refused")
	}
	return nil
}

func shortTTL(t *testing.T) {
	old := metrics.CheckTTL
	metrics.CheckTTL = 50 * time.Millisecond
	t.Cleanup(func() { metrics.CheckTTL = old })
}

// TestServe runs a service with an endpoint of its own: starting, ready, a dependency that
// stops answering and answers again, then the end of the service, which closes the endpoint.
func TestServe(t *testing.T) {
	shortTTL(t)
	addr := testenv.FreeAddr(t)
	var dep dependency
	ready, stop := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- metrics.Serve(context.Background(), addr, "svc", []*metrics.Group{metrics.Fetcher}, func(ctx context.Context, p *metrics.Part) error {
			if metrics.FromContext(ctx) == nil {
				return errors.New("the service's context carries no endpoint")
			}
			p.Check("clickhouse", dep.check)
			<-ready
			p.Ready()
			<-stop
			return nil
		})
	}()
	body := metricstest.WaitStatus(t, addr, "/readyz", http.StatusServiceUnavailable, 10*time.Second)
	if !strings.Contains(body, "svc starting") {
		t.Errorf("readyz before the service is ready: %q, want it to say svc is starting", body)
	}
	if status, body := metricstest.Get(t, addr, "/healthz"); status != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("healthz of a starting service: %d %q, want 200 ok", status, body)
	}
	close(ready)
	metricstest.WaitStatus(t, addr, "/readyz", http.StatusOK, 10*time.Second)

	dep.down.Store(true)
	body = metricstest.WaitStatus(t, addr, "/readyz", http.StatusServiceUnavailable, 10*time.Second)
	if !strings.Contains(body, "clickhouse: does not answer") || strings.Contains(body, "10.1.2.3") || strings.Contains(body, "refused") {
		t.Errorf("readyz with ClickHouse down: %q, want it named, without the address or the error", body)
	}
	// Probes within the TTL are answered from the last check.
	calls := dep.calls.Load()
	for range 5 {
		metricstest.Get(t, addr, "/readyz")
	}
	if n := dep.calls.Load() - calls; n > 1 {
		t.Errorf("5 probes in a row asked the dependency %d times, want at most once", n)
	}
	dep.down.Store(false)
	metricstest.WaitStatus(t, addr, "/readyz", http.StatusOK, 10*time.Second)

	s := metricstest.Read(t, addr)
	for _, family := range []string{"go_goroutines", "process_resident_memory_bytes", "trailstream_fetcher_records_excluded_total"} {
		if !s.Family(family) {
			t.Errorf("/metrics has no %s", family)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the endpoint still listens after the service returned")
	}
}

// TestServeJoins runs two services under one, as trailstream all does: one endpoint serves
// every part, a part still starting makes the process unready, and a part that stopped
// makes it unhealthy.
func TestServeJoins(t *testing.T) {
	shortTTL(t)
	addr := testenv.FreeAddr(t)
	release := make(chan struct{})
	innerDone := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- metrics.Serve(ctx, addr, "all", nil, func(ctx context.Context, p *metrics.Part) error {
			p.Ready()
			go func() {
				defer close(innerDone)
				_ = metrics.Serve(ctx, "127.0.0.1:1", "one", nil, func(ctx context.Context, p *metrics.Part) error {
					p.Ready()
					<-release
					return nil
				})
			}()
			return metrics.Serve(ctx, "127.0.0.1:1", "two", nil, func(ctx context.Context, p *metrics.Part) error {
				<-innerDone // stays starting until one stopped
				<-ctx.Done()
				return nil
			})
		})
	}()
	body := metricstest.WaitStatus(t, addr, "/readyz", http.StatusServiceUnavailable, 10*time.Second)
	if !strings.Contains(body, "two starting") || strings.Contains(body, "one") {
		t.Errorf("readyz: %q, want two starting and nothing of one", body)
	}
	if status, _ := metricstest.Get(t, addr, "/healthz"); status != http.StatusOK {
		t.Errorf("healthz while every part runs: %d", status)
	}
	close(release)
	<-innerDone
	body = metricstest.WaitStatus(t, addr, "/healthz", http.StatusServiceUnavailable, 10*time.Second)
	if !strings.Contains(body, "stopped: one") {
		t.Errorf("healthz after a part stopped: %q", body)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v while a part runs", err)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestServeAddressInUse: an address that cannot be listened on fails Serve before the
// service runs.
func TestServeAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ran := false
	err = metrics.Serve(context.Background(), ln.Addr().String(), "svc", nil, func(context.Context, *metrics.Part) error {
		ran = true
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "--metrics-addr") || ran {
		t.Fatalf("Serve on an address in use: %v (service ran: %v), want an error naming --metrics-addr before the service runs", err, ran)
	}
}

// TestServeNoAddress: without an address the service runs with no endpoint, and its error
// comes back.
func TestServeNoAddress(t *testing.T) {
	want := errors.New("failed")
	err := metrics.Serve(context.Background(), "", "svc", nil, func(ctx context.Context, p *metrics.Part) error {
		if metrics.FromContext(ctx) == nil {
			t.Error("no endpoint in the service's context: the services it starts would open their own")
		}
		return want
	})
	if !errors.Is(err, want) {
		t.Fatalf("Serve: %v, want the service's error", err)
	}
}

// TestRoute times console requests under their route pattern and status code.
func TestRoute(t *testing.T) {
	metrics.Register(metrics.Console)
	base := "/api/" + testenv.Name("things")
	pattern := "GET " + base + "/{id}"
	h := metrics.Route(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("ok"))
	}))
	mux := http.NewServeMux()
	mux.Handle(pattern, h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, p := range []string{"/a", "/b", "/missing"} {
		res, err := http.Get(srv.URL + base + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	const name = "trailstream_console_request_duration_seconds_count"
	// A request is timed once its handler returned, which may be just after its client had
	// the answer.
	s := metricstest.WaitLocal(t, 10*time.Second, "3 requests timed", func(s metricstest.Scrape) bool {
		return s.Sum(name, "route", pattern) == 3
	})
	if got := s.Sum(name, "route", pattern, "code", "200"); got != 2 {
		t.Errorf("%s{code=200} = %v, want 2", name, got)
	}
	if got := s.Sum(name, "route", pattern, "code", "404"); got != 1 {
		t.Errorf("%s{code=404} = %v, want 1", name, got)
	}
}

// TestExpect: parts announced are starting until they join, and the endpoint is not ready
// meanwhile.
func TestExpect(t *testing.T) {
	ep := metrics.NewEndpoint(nil)
	all := ep.Part("all")
	all.Ready()
	ep.Expect("sink", "console")
	if notRunning, _ := ep.Readiness(context.Background()); strings.Join(notRunning, ",") != "sink starting,console starting" {
		t.Fatalf("before the parts join: %q, want both starting", notRunning)
	}
	ep.Part("sink").Ready()
	if notRunning, _ := ep.Readiness(context.Background()); strings.Join(notRunning, ",") != "console starting" {
		t.Fatalf("after the sink joined: %q, want the console starting", notRunning)
	}
	ep.Part("console").Ready()
	if notRunning, failing := ep.Readiness(context.Background()); len(notRunning)+len(failing) > 0 {
		t.Fatalf("every part ready: %q %q", notRunning, failing)
	}
}

// TestProfiles serves Go's profiles at /debug/pprof/, but not the command line.
func TestProfiles(t *testing.T) {
	srv := httptest.NewServer(metrics.NewEndpoint(nil).Handler())
	defer srv.Close()
	for _, tc := range []struct {
		path, want string
		status     int
	}{
		{"/debug/pprof/", "goroutine", http.StatusOK},
		{"/debug/pprof/goroutine?debug=1", "goroutine profile:", http.StatusOK},
		{"/debug/pprof/heap?debug=1", "heap profile:", http.StatusOK},
		{"/debug/pprof/cmdline", "", http.StatusNotFound},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s: %d %.80q, want %d with %q", tc.path, resp.StatusCode, body, tc.status, tc.want)
		}
	}
}
