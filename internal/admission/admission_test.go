package admission

import (
	"context"
	"errors"
	"testing"
	"time"
)

func newController(t *testing.T, o Options) *Controller {
	t.Helper()
	if o.QueueTimeout == 0 {
		o.QueueTimeout = time.Minute
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor polls cond (no wall-clock assertion: it only bounds a hang).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func mustAcquire(t *testing.T, c *Controller, key string) *Ticket {
	t.Helper()
	tk, err := c.Acquire(context.Background(), key)
	if err != nil {
		t.Fatalf("acquire %s: %v", key, err)
	}
	return tk
}

// grant is one queued request's outcome.
type grant struct {
	key string
	tk  *Ticket
	err error
}

// enqueue starts a request of key that waits; it returns once the request
// is in the queue.
func enqueue(t *testing.T, c *Controller, key string, out chan<- grant) {
	t.Helper()
	before := c.Stats().Queued
	go func() {
		tk, err := c.Acquire(context.Background(), key)
		out <- grant{key, tk, err}
	}()
	waitFor(t, "the request to queue", func() bool { return c.Stats().Queued == before+1 })
}

func shedReason(err error) string {
	var s *ShedError
	if errors.As(err, &s) {
		return s.Reason
	}
	return ""
}

func TestAdmitsUpToTheLimitThenSheds(t *testing.T) {
	c := newController(t, Options{MinLimit: 2, MaxLimit: 2, MaxQueue: 0})
	a, b := mustAcquire(t, c, "a"), mustAcquire(t, c, "b")
	if _, err := c.Acquire(context.Background(), "c"); shedReason(err) != ReasonQueueFull {
		t.Fatalf("third request: err %v, want shed queue_full", err)
	}
	if s := c.Stats(); s.InFlight != 2 || s.Queued != 0 || s.ActiveTenants != 2 {
		t.Fatalf("stats %+v", s)
	}
	a.Release(true)
	b.Release(true)
	if s := c.Stats(); s.InFlight != 0 || s.ActiveTenants != 0 {
		t.Fatalf("after release: %+v (idle tenants must be forgotten)", s)
	}
	mustAcquire(t, c, "c").Release(true)
}

// One slot, tenant A holds it and has three requests waiting; B's single
// request arrives last but is served next, then A and B alternate.
func TestWaitingTenantsAreServedFairly(t *testing.T) {
	c := newController(t, Options{MinLimit: 1, MaxLimit: 1, MaxQueue: 10})
	holder := mustAcquire(t, c, "A")
	out := make(chan grant, 10)
	for range 3 {
		enqueue(t, c, "A", out)
	}
	enqueue(t, c, "B", out)
	enqueue(t, c, "B", out)

	var order []string
	next := holder
	for range 5 {
		next.Release(true)
		g := <-out
		if g.err != nil {
			t.Fatal(g.err)
		}
		if !g.tk.Queued {
			t.Errorf("%s: admitted from the queue but Queued is false", g.key)
		}
		order = append(order, g.key)
		next = g.tk
	}
	next.Release(true)
	want := []string{"B", "A", "B", "A", "A"}
	if got := order; !equal(got, want) {
		t.Fatalf("service order %v, want %v", got, want)
	}
}

// With weights 2:1 and both tenants waiting, A holds two slots for each of B's.
func TestWeightsSetTheShares(t *testing.T) {
	c := newController(t, Options{MinLimit: 3, MaxLimit: 3, MaxQueue: 20, Weights: map[string]float64{"A": 2}})
	var holders []*Ticket
	for range 3 {
		holders = append(holders, mustAcquire(t, c, "C"))
	}
	out := make(chan grant, 20)
	for range 4 {
		enqueue(t, c, "A", out)
		enqueue(t, c, "B", out)
	}
	for _, h := range holders {
		h.Release(true)
	}
	count := map[string]int{}
	for range 3 {
		g := <-out
		count[g.key]++
	}
	if count["A"] != 2 || count["B"] != 1 {
		t.Fatalf("slots A=%d B=%d, want 2 and 1", count["A"], count["B"])
	}
	top, all := c.Busiest(5)
	if len(top) != 2 || top[0].Key != "A" || top[0].InFlight != 2 || top[0].Queued != 2 || top[1].Key != "B" || len(all) != 2 {
		t.Fatalf("busiest %+v, all %v", top, all)
	}
}

// The queue holds two; A fills it, A's next request is shed at once, and B's
// request pushes out A's newest waiter instead of being shed.
func TestFullQueuePushesOutTheLongestTenant(t *testing.T) {
	c := newController(t, Options{MinLimit: 1, MaxLimit: 1, MaxQueue: 2})
	holder := mustAcquire(t, c, "A")
	out := make(chan grant, 4)
	enqueue(t, c, "A", out)
	enqueue(t, c, "A", out)
	if _, err := c.Acquire(context.Background(), "A"); shedReason(err) != ReasonQueueFull {
		t.Fatalf("A over a full queue: %v, want queue_full", err)
	}
	before := c.Stats()
	go func() {
		tk, err := c.Acquire(context.Background(), "B")
		out <- grant{"B", tk, err}
	}()
	pushed := <-out
	if pushed.key != "A" || shedReason(pushed.err) != ReasonQueueFull {
		t.Fatalf("pushed out: %+v, want A's waiter shed queue_full", pushed)
	}
	waitFor(t, "B to queue", func() bool { return c.Stats().Queued == before.Queued })
	holder.Release(true)
	g := <-out
	if g.key != "B" || g.err != nil {
		t.Fatalf("next served: %+v, want B", g)
	}
	g.tk.Release(true)
	g = <-out
	if g.key != "A" || g.err != nil {
		t.Fatalf("then: %+v, want A", g)
	}
	g.tk.Release(true)
	if s := c.Stats(); s.InFlight != 0 || s.Queued != 0 || s.ActiveTenants != 0 {
		t.Fatalf("end: %+v", s)
	}
}

func TestQueueTimeoutSheds(t *testing.T) {
	c := newController(t, Options{MinLimit: 1, MaxLimit: 1, MaxQueue: 5, QueueTimeout: time.Millisecond})
	holder := mustAcquire(t, c, "A")
	if _, err := c.Acquire(context.Background(), "B"); shedReason(err) != ReasonQueueTimeout {
		t.Fatalf("err %v, want queue_timeout", err)
	}
	if s := c.Stats(); s.Queued != 0 || s.ActiveTenants != 1 {
		t.Fatalf("stats %+v", s)
	}
	holder.Release(true)
}

// A client that leaves while queued frees its place at once and is not shed.
func TestCancelledWaiterLeavesTheQueue(t *testing.T) {
	c := newController(t, Options{MinLimit: 1, MaxLimit: 1, MaxQueue: 5})
	holder := mustAcquire(t, c, "A")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Acquire(ctx, "B")
		done <- err
	}()
	waitFor(t, "B to queue", func() bool { return c.Stats().Queued == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if s := c.Stats(); s.Queued != 0 || s.InFlight != 1 || s.ActiveTenants != 1 {
		t.Fatalf("stats %+v", s)
	}
	holder.Release(false)
	if s := c.Stats(); s.InFlight != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestNewRefusesBadBounds(t *testing.T) {
	for _, o := range []Options{{MinLimit: 0, MaxLimit: 1}, {MinLimit: 3, MaxLimit: 2}, {MinLimit: 1, MaxLimit: 1, MaxQueue: -1}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A waiter of a tenant holding its fair share or more is shed after one
// queue timeout; a waiter of a tenant below its share keeps its place (it is
// served at the next release) for up to ten.
func TestBelowShareWaitsLonger(t *testing.T) {
	c := newController(t, Options{MinLimit: 2, MaxLimit: 2, MaxQueue: 5, QueueTimeout: 20 * time.Millisecond})
	a1, a2 := mustAcquire(t, c, "A"), mustAcquire(t, c, "A")
	if _, err := c.Acquire(context.Background(), "A"); shedReason(err) != ReasonQueueTimeout {
		t.Fatalf("A over its share: %v, want queue_timeout", err)
	}
	out := make(chan grant, 1)
	enqueue(t, c, "B", out)           // B's share is 1 of 2: it holds none
	time.Sleep(45 * time.Millisecond) // more than two queue timeouts, less than ten
	if s := c.Stats(); s.Queued != 1 {
		t.Fatalf("B left the queue: %+v", s)
	}
	a1.Release(true)
	g := <-out
	if g.err != nil || g.key != "B" {
		t.Fatalf("B below its share: %+v, want admitted", g)
	}
	g.tk.Release(true)
	a2.Release(true)
}

// Retry-After follows the overload: with every request of a second shed
// but one, clients are told to come back later than one second.
func TestRetryAfterFollowsTheOverload(t *testing.T) {
	c := newController(t, Options{MinLimit: 1, MaxLimit: 1, MaxQueue: 0})
	if got := c.RetryAfter(); got != 1 {
		t.Fatalf("at rest Retry-After %d, want 1", got)
	}
	now := time.Now()
	c.mu.Lock()
	c.secStart = now.Add(-1500 * time.Millisecond) // the second that just ended:
	c.secArrived, c.secAdmitted = 40, 10           // four arrivals per admission
	c.count(now)
	c.mu.Unlock()
	if got := c.RetryAfter(); got != 4 {
		t.Fatalf("Retry-After %d, want 4", got)
	}
	c.mu.Lock()
	c.secStart = now.Add(-1500 * time.Millisecond)
	c.secArrived, c.secAdmitted = 1000, 1
	c.count(now)
	c.mu.Unlock()
	if got := c.RetryAfter(); got != maxRetryAfter {
		t.Fatalf("Retry-After %d, want the maximum %d", got, maxRetryAfter)
	}
}

// A request that, at the rate requests finish now, would still wait when
// its queue timeout ends is shed at once (queue_wait) instead of holding
// its connection for the timeout; a tenant below its fair share still
// queues, and nothing is shed this way before the latency is known.
func TestWaitLongerThanTheTimeoutShedsAtOnce(t *testing.T) {
	c := newController(t, Options{MinLimit: 2, MaxLimit: 2, MaxQueue: 10, QueueTimeout: 20 * time.Millisecond})
	a1, a2 := mustAcquire(t, c, "A"), mustAcquire(t, c, "A")

	out := make(chan grant, 4)
	enqueue(t, c, "A", out) // latency unknown: it waits
	c.mu.Lock()
	c.limit.last = 30 * time.Millisecond // two slots: one frees every 15 ms
	c.mu.Unlock()
	if _, err := c.Acquire(context.Background(), "A"); shedReason(err) != ReasonQueueWait {
		t.Fatalf("A's second waiter (ahead of it two waits of 15 ms): %v, want queue_wait", err)
	}
	if s := c.Stats(); s.Queued != 1 {
		t.Fatalf("the shed request queued: %+v", s)
	}
	enqueue(t, c, "B", out) // B holds nothing of its share of 1: it waits
	a1.Release(true)
	g := <-out
	if g.key != "B" || g.err != nil {
		t.Fatalf("first served: %+v, want B (below its share)", g)
	}
	g.tk.Release(true)

	// One waiter ahead at 15 ms a slot: 15 ms is within the timeout.
	c2 := newController(t, Options{MinLimit: 2, MaxLimit: 2, MaxQueue: 10, QueueTimeout: 20 * time.Millisecond})
	h1, h2 := mustAcquire(t, c2, "A"), mustAcquire(t, c2, "A")
	c2.mu.Lock()
	c2.limit.last = 30 * time.Millisecond
	c2.mu.Unlock()
	out2 := make(chan grant, 1)
	enqueue(t, c2, "A", out2)
	h1.Release(true)
	if g := <-out2; g.err != nil {
		t.Fatalf("a wait of 15 ms: %v, want admitted", g.err)
	} else {
		g.tk.Release(true)
	}
	h2.Release(true)
	a2.Release(true)
	if g := <-out; g.err == nil { // A's first waiter
		g.tk.Release(true)
	}
}
