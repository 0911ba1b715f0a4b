//go:build faults

package faults

import (
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// s3Mode is what the S3 fault proxy does to object GETs.
type s3Mode int32

const (
	s3Pass   s3Mode = iota
	s3Errors        // answer 500 or 503 as S3 does under load
	s3Stall         // answer nothing until the client gives up or the fault ends
)

// s3Proxy is an HTTP reverse proxy in front of the S3/SQS emulator that fails S3 object
// GETs on demand. SQS requests (JSON protocol: they carry X-Amz-Target) and every other S3
// request pass.
type s3Proxy struct {
	addr    string
	srv     *http.Server
	rp      *httputil.ReverseProxy
	mode    atomic.Int32
	release chan struct{} // closed when a stall ends
	mu      sync.Mutex

	errors, stalls atomic.Int64 // GETs failed so far
}

func newS3Proxy(t testing.TB, target string) *s3Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &s3Proxy{addr: ln.Addr().String(), rp: httputil.NewSingleHostReverseProxy(u), release: make(chan struct{})}
	p.rp.ErrorLog = log.New(io.Discard, "", 0) // a killed fetcher's requests end in errors by design
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("S3 proxy: %v", err)
		}
	}()
	t.Cleanup(func() {
		p.set(s3Pass)
		_ = p.srv.Close()
	})
	return p
}

func (p *s3Proxy) url() string { return "http://" + p.addr }

// set switches the proxy to mode; leaving s3Stall lets the stalled requests go (their
// connections are dropped).
func (p *s3Proxy) set(m s3Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s3Mode(p.mode.Swap(int32(m))) == s3Stall && m != s3Stall {
		close(p.release)
		p.release = make(chan struct{})
	}
}

// objectGet tells an S3 GetObject (path style: /bucket/key) from SQS and the rest.
func objectGet(r *http.Request) bool {
	if r.Method != http.MethodGet || r.Header.Get("X-Amz-Target") != "" {
		return false
	}
	bucket, key, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return ok && bucket != "" && key != ""
}

func (p *s3Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if objectGet(r) {
		switch s3Mode(p.mode.Load()) {
		case s3Errors:
			n := p.errors.Add(1)
			code, s3code := http.StatusServiceUnavailable, "SlowDown"
			if n%2 == 0 {
				code, s3code = http.StatusInternalServerError, "InternalError"
			}
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(code)
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+s3code+`</Code><Message>injected by the fault suite</Message></Error>`)
			return
		case s3Stall:
			p.stalls.Add(1)
			p.mu.Lock()
			release := p.release
			p.mu.Unlock()
			select {
			case <-r.Context().Done():
			case <-release:
			}
			panic(http.ErrAbortHandler) // drop the connection without an answer
		}
	}
	p.rp.ServeHTTP(w, r)
}
