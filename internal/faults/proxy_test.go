package faults

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); _ = c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line on c and reads it back within d.
func roundTrip(c net.Conn, d time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err := bufio.NewReader(c).ReadString('\n')
	return err
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestProxyCutAndRestore(t *testing.T) {
	p, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := dial(t, p.Addr())
	if err := roundTrip(c, time.Second); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	p.Cut()
	if err := roundTrip(c, time.Second); err == nil {
		t.Fatal("an open connection survived Cut")
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		_ = c.Close()
		t.Fatal("a new connection was accepted while cut")
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(dial(t, p.Addr()), time.Second); err != nil {
		t.Fatalf("after Restore: %v", err)
	}
}

func TestProxyBlackhole(t *testing.T) {
	p, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	old := dial(t, p.Addr())
	if err := roundTrip(old, time.Second); err != nil {
		t.Fatal(err)
	}
	p.Blackhole()
	if err := roundTrip(old, 300*time.Millisecond); err == nil {
		t.Fatal("bytes got through a blackhole")
	}
	fresh := dial(t, p.Addr()) // accepted, as a partition would let SYN through to nowhere
	if err := roundTrip(fresh, 300*time.Millisecond); err == nil {
		t.Fatal("a new connection was answered during the blackhole")
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(old, time.Second); err == nil {
		t.Fatal("a connection that lost bytes was kept after Restore")
	}
	if err := roundTrip(dial(t, p.Addr()), time.Second); err != nil {
		t.Fatalf("after Restore: %v", err)
	}
}
