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

// tcpProxy forwards TCP connections from its own loopback address to a target. Down cuts
// every connection and closes the listener, so that new connections are refused; Up
// listens on the same address again.
type tcpProxy struct {
	t    testing.TB
	addr string

	mu     sync.Mutex
	target string
	ln     net.Listener
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// newTCPProxy listens on a free loopback port; it forwards to target, which may be set
// later with setTarget, before the first connection.
func newTCPProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, addr: ln.Addr().String(), target: target, conns: make(map[net.Conn]struct{})}
	p.serve(ln)
	t.Cleanup(p.close)
	return p
}

func (p *tcpProxy) setTarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(c)
			}()
		}
	}()
}

func (p *tcpProxy) forward(c net.Conn) {
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	s, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, s) {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(s, c)
	go pipe(c, s)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

// track registers the pair of connections, unless the proxy went down meanwhile.
func (p *tcpProxy) track(c, s net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		c.Close()
		s.Close()
		return false
	}
	p.conns[c] = struct{}{}
	p.conns[s] = struct{}{}
	return true
}

// down closes the listener (new connections are refused) and cuts every connection.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, as when a server goes away
		}
		c.Close()
	}
}

// up listens on the proxy's address again.
func (p *tcpProxy) up() {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			p.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			p.t.Errorf("proxy cannot listen on %s again: %v", p.addr, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *tcpProxy) close() {
	p.down()
	p.wg.Wait()
}

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
