package testkit

import (
	"net"
	"sync"
	"testing"
	"time"
)

// TCPProxy forwards loopback connections to a database, and can cut it off:
// tests of outages (a database that goes away and comes back, or hangs).
// Stop closes the listener and every live connection, Start listens again
// on the same port. Hang makes it a black hole instead (a partition, not a
// refusal): connections stay open and accepted, but no byte goes through
// until Resume.
type TCPProxy struct {
	t      testing.TB
	target string

	mu    sync.Mutex
	addr  string // fixed after the first Start
	ln    net.Listener
	conns map[net.Conn]struct{}
	gate  chan struct{} // closed while bytes flow; open while hanging
	wg    sync.WaitGroup
}

// NewTCPProxy starts a proxy to target (host:port); it is stopped when the
// test ends.
func NewTCPProxy(t testing.TB, target string) *TCPProxy {
	t.Helper()
	p := &TCPProxy{t: t, target: target, addr: "127.0.0.1:0", conns: make(map[net.Conn]struct{}),
		gate: make(chan struct{})}
	close(p.gate)
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// Addr is the proxy's host:port.
func (p *TCPProxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// Start listens (again) on the proxy's port.
func (p *TCPProxy) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return
	}
	var ln net.Listener
	var err error
	// The port was ours a moment ago; retry briefly in case the kernel
	// still holds it.
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy: listening on %s: %v", p.addr, err)
	}
	p.ln, p.addr = ln, ln.Addr().String()
	p.wg.Add(1)
	go p.accept(ln)
}

func (p *TCPProxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return // Stop closed the listener
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve connects c to the target once the gate is open, and pipes bytes
// both ways.
func (p *TCPProxy) serve(c net.Conn) {
	defer p.wg.Done()
	if !p.track(c) {
		c.Close()
		return
	}
	<-p.currentGate()
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil || !p.track(up) {
		c.Close()
		if up != nil {
			up.Close()
		}
		return
	}
	p.wg.Add(2)
	go p.pipe(c, up)
	go p.pipe(up, c)
}

// track registers a connection, unless the proxy was stopped meanwhile.
func (p *TCPProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *TCPProxy) currentGate() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gate
}

func (p *TCPProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			<-p.currentGate() // held while hanging
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	// One direction ended: end both, as a cut cable would.
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// Hang stops every byte from going through, on live and new connections,
// without closing anything.
func (p *TCPProxy) Hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default: // already hanging
	}
}

// Resume lets bytes through again after Hang.
func (p *TCPProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// Stop closes the listener and every live connection, and waits for the
// proxy's goroutines to end. It ends a Hang.
func (p *TCPProxy) Stop() {
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		return
	}
	p.ln.Close()
	p.ln = nil
	for c := range p.conns {
		c.Close()
	}
	p.conns = make(map[net.Conn]struct{})
	p.mu.Unlock()
	p.Resume() // wakes goroutines held at the gate; they find their conns closed
	p.wg.Wait()
}
