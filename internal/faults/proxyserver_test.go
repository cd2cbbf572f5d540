package faults

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards TCP connections from a loopback address to a target
// (PostgreSQL). Cut simulates the database going away: every open
// connection is reset and new ones are refused until Restore. Blackhole
// simulates a network partition: connections stay open (new ones are even
// accepted) but no byte gets through until Restore, which then resets them.
type Proxy struct {
	target  string
	addr    string
	stalled atomic.Bool

	mu    sync.Mutex
	ln    net.Listener // nil while cut
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewProxy listens on a free loopback port and forwards to target
// (host:port). Close it when done.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	return p, nil
}

// Addr returns the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
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
				p.pipe(ln, c)
			}()
		}
	}()
}

// track registers c unless the listener it came from has been cut.
func (p *Proxy) track(from net.Listener, cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != from {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		_ = c.Close()
	}
}

func (p *Proxy) pipe(from net.Listener, down net.Conn) {
	if p.stalled.Load() { // partitioned: accept, never answer
		if p.track(from, down) {
			_, _ = io.Copy(io.Discard, down)
			p.untrack(down)
		}
		_ = down.Close()
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		_ = down.Close()
		return
	}
	if !p.track(from, down, up) {
		_ = down.Close()
		_ = up.Close()
		return
	}
	done := make(chan struct{})
	go func() {
		p.copy(up, down)
		p.untrack(down, up)
		close(done)
	}()
	p.copy(down, up)
	p.untrack(down, up)
	<-done
}

// copy forwards src to dst until either fails, dropping what it reads
// while the proxy is blackholed.
func (p *Proxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.stalled.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Blackhole stops every byte in both directions, on open and new
// connections alike, until Restore.
func (p *Proxy) Blackhole() { p.stalled.Store(true) }

// Cut resets every open connection and refuses new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return
	}
	_ = p.ln.Close()
	p.ln = nil
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, as when the server's host vanishes
		}
		_ = c.Close()
		delete(p.conns, c)
	}
}

// Restore ends a Cut (accepting again on the same address) or a Blackhole
// (resetting the connections that lost bytes, as the server would have).
func (p *Proxy) Restore() error {
	if p.stalled.Load() {
		p.mu.Lock()
		for c := range p.conns {
			_ = c.Close()
			delete(p.conns, c)
		}
		p.stalled.Store(false)
		p.mu.Unlock()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return nil
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may linger for a moment after Cut
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	p.serve(ln)
	return nil
}

// Close cuts the proxy for good and waits for its goroutines.
func (p *Proxy) Close() error {
	p.Cut()
	p.wg.Wait()
	return nil
}
