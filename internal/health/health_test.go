package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

func TestSanitizeHidesDriverText(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused 10.0.0.7:5432")}, "database unreachable"},
		{"deadline", fmt.Errorf("ping: %w", context.DeadlineExceeded), "database did not answer in time"},
		{"auth", errors.New(`FATAL: password authentication failed for user "app" (SQLSTATE 28P01)`), "database unreachable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sanitize(tc.err); got != tc.want {
				t.Fatalf("Sanitize = %q, want %q", got, tc.want)
			}
		})
	}
}

// closedPortPool returns a pool pointing at a port nothing listens on.
func closedPortPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p, err := pgxpool.New(context.Background(), "postgres://nobody@"+addr+"/none?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestReadinessReasonsWhileDatabaseDown(t *testing.T) {
	ran := false
	c := New(Options{
		Ping:    closedPortPool(t).Ping,
		Pending: func(context.Context) (int, error) { ran = true; return 0, nil },
		RLS:     func(context.Context) ([]string, error) { ran = true; return nil, nil },
		Timeout: time.Second,
	})
	rep := c.Refresh(context.Background())
	if rep.Migrations.Status != StatusUnknown || rep.RLS.Status != StatusUnknown || ran {
		t.Fatalf("slow checks must not run while the database is down: %+v ran=%v", rep, ran)
	}
	if r := c.Database(context.Background()); r.Status != StatusDown || strings.Contains(r.Error, "127.0.0.1") {
		t.Fatalf("Database = %+v", r)
	}
	c.SetShuttingDown()
	ok, reasons := c.Readiness(context.Background())
	if ok || !slices.Contains(reasons, "shutting down") || !slices.Contains(reasons, "database unreachable") {
		t.Fatalf("Readiness = %v %q", ok, reasons)
	}
}

func TestNilPoolIsDown(t *testing.T) {
	c := New(Options{})
	if r := c.Database(context.Background()); r.Status != StatusDown {
		t.Fatalf("Database with no pool = %+v", r)
	}
	if ok, _ := c.Readiness(context.Background()); ok {
		t.Fatal("ready without a database")
	}
}

func TestCurrentRunsUnknownChecksOnceTheDatabaseIsUp(t *testing.T) {
	up := false
	runs := 0
	c := New(Options{
		Ping: func(context.Context) error {
			if !up {
				return errors.New("down")
			}
			return nil
		},
		Pending: func(context.Context) (int, error) { runs++; return 0, nil },
		RLS:     func(context.Context) ([]string, error) { return nil, nil },
		PingTTL: time.Nanosecond, // every call pings anew (the default shares a ping for a second)
	})
	if db, r := c.Current(context.Background()); db.Status != StatusDown || r.RLS.Status != StatusUnknown || runs != 0 {
		t.Fatalf("database down: Current = %+v %+v, %d runs", db, r, runs)
	}
	up = true
	if db, r := c.Current(context.Background()); db.Status != StatusUp || r.RLS.Status != StatusOK || r.Migrations.Status != StatusOK || runs != 1 {
		t.Fatalf("database back: Current = %+v %+v, %d runs", db, r, runs)
	}
	if _, r := c.Current(context.Background()); r.RLS.Status != StatusOK || runs != 1 {
		t.Fatalf("known checks must come from the cache: %+v, %d runs", r, runs)
	}
}
