package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections from an address on 127.0.0.1 to a server, and can take the
// server away from its clients: Cut closes every connection and the listening socket, so
// that new connections are refused as by a server that stopped, until Restore listens on
// the same address again.
type Proxy struct {
	t      testing.TB
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener // nil while cut
	conns map[net.Conn]struct{}
}

// NewProxy starts a proxy to target on a free port of 127.0.0.1; it stops when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	return ProxyAt(t, "127.0.0.1:0", target)
}

// ProxyAt starts a proxy to target listening on addr.
func ProxyAt(t testing.TB, addr, target string) *Proxy {
	t.Helper()
	p := &Proxy{t: t, addr: addr, target: target, conns: map[net.Conn]struct{}{}}
	p.Restore()
	t.Cleanup(p.Cut)
	return p
}

// FreeAddr returns an address on 127.0.0.1 that nothing listens on (now).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Addr returns the address clients connect to.
func (p *Proxy) Addr() string { return p.addr }

// Cut closes every connection and stops listening.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore listens again on the proxy's address.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy to %s: listen on %s: %v", p.target, p.addr, err)
	}
	p.ln, p.addr = ln, ln.Addr().String()
	go p.serve(ln)
}

func (p *Proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // cut
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(ln, c, s) {
			continue
		}
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

// track remembers the two ends of a connection, unless the proxy was cut meanwhile.
func (p *Proxy) track(ln net.Listener, ends ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != ln {
		for _, c := range ends {
			c.Close()
		}
		return false
	}
	for _, c := range ends {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}
