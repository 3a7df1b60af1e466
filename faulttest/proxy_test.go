package faulttest

import (
	"net"
	"sync"
	"testing"
)

// proxy is a TCP proxy in front of the Postgres server that can hold its
// traffic: while held, it forwards nothing in either direction (the
// connections stay open, as behind a network partition that drops packets)
// and new connections are accepted but get no answer. Release forwards what
// was held and everything after.
type proxy struct {
	ln       net.Listener
	upstream string

	mu     sync.Mutex
	held   bool
	gate   chan struct{} // closed while traffic flows
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// startProxy listens on a free local port and forwards every connection to
// upstream (host:port) until the test ends.
func startProxy(t *testing.T, upstream string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, upstream: upstream, gate: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	close(p.gate)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// addr is the proxy's host:port.
func (p *proxy) addr() string { return p.ln.Addr().String() }

// hold stops forwarding.
func (p *proxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.held {
		p.held = true
		p.gate = make(chan struct{})
	}
}

// release forwards again.
func (p *proxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held {
		p.held = false
		close(p.gate)
	}
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// track records a connection to close with the proxy; false once closed.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) serve(down net.Conn) {
	defer p.wg.Done()
	p.wait()
	up, err := net.Dial("tcp", p.upstream)
	if err != nil || !p.track(up) {
		_ = down.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(up, down) }()
	go func() { defer wg.Done(); p.pipe(down, up) }()
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, up)
	delete(p.conns, down)
	p.mu.Unlock()
}

// wait waits until traffic flows or the proxy closes.
func (p *proxy) wait() {
	for {
		p.mu.Lock()
		if !p.held || p.closed {
			p.mu.Unlock()
			return
		}
		gate := p.gate
		p.mu.Unlock()
		<-gate
	}
}

// pipe copies from src to dst, holding each chunk read while traffic is
// held; it closes both when either side ends.
func (p *proxy) pipe(dst, src net.Conn) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.wait()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // the end of either side (EOF, a reset, the proxy closed)
		}
	}
}

// close stops the proxy and closes every connection.
func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	if p.held {
		p.held = false
		close(p.gate)
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	p.wg.Wait()
}
