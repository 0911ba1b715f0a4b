package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The endpoint of --metrics-addr serves
//
//	GET /metrics   Prometheus: the registered groups, Go runtime and process metrics
//	GET /healthz   200 "ok" while every part of the process runs; 503 naming the part that stopped
//	GET /readyz    200 "ok" when every part has started and every dependency its parts
//	               check answers; 503 naming the parts still starting and the dependencies
//	               that do not answer (why, with addresses, is in the log)
//	GET /debug/pprof/  Go's profiles (net/http/pprof: CPU, heap, goroutines, trace), not the
//	               command line, which may hold a secret
//
// A process has one endpoint. A service started alone opens its own (Serve); in trailstream
// all every part joins the one all opened, so one address serves every part's metrics and
// health.

// CheckTTL is how long a readiness check's answer is kept: probes more often than that do
// not reach the dependency.
var CheckTTL = 5 * time.Second

// CheckTimeout bounds one readiness check.
var CheckTimeout = 3 * time.Second

// shutdownTimeout bounds the graceful shutdown of the endpoint's server.
const shutdownTimeout = 5 * time.Second

// CheckFunc answers whether a dependency answers: nil when it does.
type CheckFunc func(ctx context.Context) error

// Endpoint is the health and readiness of the parts of one process, and the handler that
// serves them with the metrics.
type Endpoint struct {
	log *slog.Logger

	mu       sync.Mutex
	parts    []*Part
	expected []string // parts announced (Expect) that have not joined yet
}

// NewEndpoint returns an endpoint with no parts that logs to log (nil: slog.Default()).
func NewEndpoint(log *slog.Logger) *Endpoint {
	if log == nil {
		log = slog.Default()
	}
	return &Endpoint{log: log}
}

// Part is one service of a process at its endpoint: it starts out starting, is ready once
// it says so and its checks pass, and stopped when its Serve returns.
type Part struct {
	ep   *Endpoint
	name string

	mu      sync.Mutex
	ready   bool
	stopped bool
	checks  []*check
}

// Part adds a part named name, starting, and returns it.
func (e *Endpoint) Part(name string) *Part {
	p := &Part{ep: e, name: name}
	e.mu.Lock()
	e.parts = append(e.parts, p)
	if i := slices.Index(e.expected, name); i >= 0 {
		e.expected = slices.Delete(e.expected, i, i+1)
	}
	e.mu.Unlock()
	return p
}

// Expect announces parts that will join: until each has, the endpoint is not ready (the
// part is starting), so a probe between the start of a process and the start of its parts
// does not find it ready.
func (e *Endpoint) Expect(names ...string) {
	e.mu.Lock()
	e.expected = append(e.expected, names...)
	e.mu.Unlock()
}

// Name returns the part's name.
func (p *Part) Name() string { return p.name }

// Check adds a readiness check of the dependency name (kafka, clickhouse, sqs). Parts of one
// process that check a dependency of the same name share the first one's check.
func (p *Part) Check(name string, fn CheckFunc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checks = append(p.checks, &check{name: name, fn: fn, log: p.ep.log})
}

// Ready says the part has started: its loops run. From now on its checks alone decide
// whether it is ready.
func (p *Part) Ready() {
	p.mu.Lock()
	p.ready = true
	p.mu.Unlock()
}

// Stop says the part has stopped.
func (p *Part) Stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
}

func (p *Part) state() (ready, stopped bool, checks []*check) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready, p.stopped, slices.Clone(p.checks)
}

// check is a readiness check with its last answer.
type check struct {
	name string
	fn   CheckFunc
	log  *slog.Logger

	mu  sync.Mutex
	at  time.Time // of the last answer; zero before the first
	err error
}

// result returns the check's answer, asking the dependency again when the last answer is
// older than CheckTTL. A failure is logged, with its reason, when the answer changes.
func (c *check) result(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < CheckTTL {
		return c.err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CheckTimeout)
	err := c.fn(cctx)
	// Cancelled a moment later, not at once: clickhouse-go may still watch the context of a
	// ping that returned, and would close the connection it put back (chstore.CancelLater).
	time.AfterFunc(time.Second, cancel)
	switch {
	case err != nil && (c.at.IsZero() || c.err == nil):
		c.log.Warn("readiness: a dependency does not answer", "dependency", c.name, "err", err)
	case err == nil && c.err != nil:
		c.log.Info("readiness: a dependency answers again", "dependency", c.name)
	}
	c.at, c.err = time.Now(), err
	return err
}

// Health returns the parts that stopped; none: the process is alive.
func (e *Endpoint) Health() (stopped []string) {
	parts, _ := e.snapshot()
	for _, p := range parts {
		if _, s, _ := p.state(); s {
			stopped = append(stopped, p.name)
		}
	}
	return stopped
}

// Readiness returns the parts not running (starting or stopped) and the dependencies that
// do not answer, each once; both empty: the process is ready.
func (e *Endpoint) Readiness(ctx context.Context) (notRunning, failing []string) {
	seen := map[string]bool{}
	var checks []*check
	parts, expected := e.snapshot()
	for _, name := range expected {
		notRunning = append(notRunning, name+" starting")
	}
	for _, p := range parts {
		ready, stopped, cs := p.state()
		switch {
		case stopped:
			notRunning = append(notRunning, p.name+" stopped")
		case !ready:
			notRunning = append(notRunning, p.name+" starting")
		}
		if stopped {
			continue
		}
		for _, c := range cs {
			if !seen[c.name] {
				seen[c.name] = true
				checks = append(checks, c)
			}
		}
	}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.result(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			failing = append(failing, checks[i].name)
		}
	}
	slices.Sort(failing)
	return notRunning, failing
}

func (e *Endpoint) snapshot() (parts []*Part, expected []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.parts), slices.Clone(e.expected)
}

// Handler returns the endpoint's routes: /metrics, /healthz, /readyz and /debug/pprof/.
func (e *Endpoint) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(Registry, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
		MaxRequestsInFlight: 4,
		Timeout:             30 * time.Second,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if stopped := e.Health(); len(stopped) > 0 {
			plain(w, http.StatusServiceUnavailable, "stopped: "+strings.Join(stopped, ", "))
			return
		}
		plain(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		notRunning, failing := e.Readiness(r.Context())
		if len(notRunning) == 0 && len(failing) == 0 {
			plain(w, http.StatusOK, "ok")
			return
		}
		lines := []string{"not ready"}
		for _, f := range failing {
			lines = append(lines, f+": does not answer")
		}
		lines = append(lines, notRunning...)
		plain(w, http.StatusServiceUnavailable, strings.Join(lines, "\n"))
	})
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		plain(w, http.StatusOK, "trailstream: /metrics (Prometheus), /healthz (alive), /readyz (dependencies answer), /debug/pprof/ (Go profiles)")
	})
	return mux
}

func plain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintln(w, body)
}

type endpointKey struct{}

// NewContext returns ctx carrying e: a Serve under it joins e instead of opening an endpoint.
func NewContext(ctx context.Context, e *Endpoint) context.Context {
	return context.WithValue(ctx, endpointKey{}, e)
}

// FromContext returns the endpoint ctx carries, or nil.
func FromContext(ctx context.Context) *Endpoint {
	e, _ := ctx.Value(endpointKey{}).(*Endpoint)
	return e
}

// Serve runs the service name: it registers groups, then calls run with the service's Part
// of the endpoint ctx carries (trailstream all), or, without one, of an endpoint of its own
// listening on addr (none when addr is empty), which it serves while run runs and shuts down
// gracefully once run returned. run gets a context carrying the endpoint, so the services it
// starts join it. An address that cannot be listened on fails Serve before run is called;
// a server that fails later ends run's context and Serve with the error.
func Serve(ctx context.Context, addr, name string, groups []*Group, run func(ctx context.Context, p *Part) error) error {
	Register(groups...)
	if ep := FromContext(ctx); ep != nil {
		p := ep.Part(name)
		defer p.Stop()
		return run(ctx, p)
	}
	log := slog.Default().With("service", name)
	ep := NewEndpoint(log)
	p := ep.Part(name)
	defer p.Stop()
	if addr == "" {
		return run(NewContext(ctx, ep), p)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics endpoint (--metrics-addr): %w", err)
	}
	srv := &http.Server{
		Handler:           ep.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      40 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("metrics endpoint listening", "url", "http://"+ln.Addr().String()+"/metrics")
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(NewContext(rctx, ep), p) }()
	var serveErr error
	select {
	case err = <-done:
	case serveErr = <-served:
		log.Error("metrics endpoint failed; stopping", "err", serveErr)
		cancel()
		err = <-done
	}
	p.Stop()
	if serveErr == nil {
		sctx, scancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer scancel()
		if serr := srv.Shutdown(sctx); serr != nil {
			log.Warn("metrics endpoint: shut down", "err", serr)
		}
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
			serveErr = serr
		}
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return errors.Join(err, fmt.Errorf("metrics endpoint: %w", serveErr))
	}
	return err
}
