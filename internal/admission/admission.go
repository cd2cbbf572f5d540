// Package admission owns overload protection in front of the database work:
// a bounded number of requests in flight (an adaptive limit, see limit.go),
// a bounded queue with a short timeout for those that must wait, and a fair
// share across tenants for the waiting ones. Beyond the limit and the queue
// a request is shed at once, so that a client learns within milliseconds to
// come back later instead of waiting seconds for a pooled connection.
//
// Fairness: a request is admitted at once while fewer than the limit are in
// flight and nobody waits. Otherwise it waits in its tenant's FIFO queue.
// When a slot frees, the waiting tenant with the fewest requests in flight
// per unit of weight is served next (ties: the one served least recently),
// so a tenant with a burst gets slots only as often as every other waiting
// tenant. When the queue is full, a newcomer from a tenant with a shorter
// (weighted) queue than the longest one pushes out the newest waiter of the
// longest queue: one tenant's burst cannot fill the queue for everyone.
package admission

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"
)

// The reasons a request is shed.
const (
	ReasonQueueFull    = "queue_full"    // the queue was full and this tenant's queue was the longest
	ReasonQueueTimeout = "queue_timeout" // waited QueueTimeout without getting a slot
	ReasonQueueWait    = "queue_wait"    // at the current rate it would wait past QueueTimeout: shed at once
)

// ShedError is returned by Acquire for a request that is refused: the
// service is over capacity and the caller should retry later.
type ShedError struct {
	Reason string // ReasonQueueFull, ReasonQueueTimeout or ReasonQueueWait
}

func (e *ShedError) Error() string { return "admission: request shed: " + e.Reason }

// Options configure a Controller.
type Options struct {
	// MinLimit and MaxLimit bound the adaptive limit on requests in
	// flight; equal values fix it. Both at least 1.
	MinLimit, MaxLimit int
	// InitialLimit is the limit at start (clamped to the bounds); 0 means
	// MaxLimit.
	InitialLimit int
	// Tolerance is how much the latency of admitted requests may exceed
	// the latency seen at low load before the limit shrinks (2 = twice).
	Tolerance float64
	// MaxQueue bounds the requests waiting for a slot; 0 sheds at once
	// whenever the limit is reached.
	MaxQueue int
	// QueueTimeout bounds the wait for a slot of a tenant that holds its
	// fair share or more; a tenant below its share (it is served at one of
	// the next releases) may wait up to ten times as long.
	QueueTimeout time.Duration
	// Weights gives some tenants (by key) a larger or smaller share than
	// the default weight 1.
	Weights map[string]float64
}

// Controller admits requests. Its methods are safe for concurrent use.
type Controller struct {
	opts Options

	mu       sync.Mutex
	limit    *gradient
	inFlight int
	queued   int
	tenants  map[string]*tenantState // tenants with requests in flight or waiting
	serial   uint64                  // counts grants, for least-recently-served ties

	// Arrivals and admissions of the current second, and the Retry-After
	// they gave at the end of the previous one.
	secStart         time.Time
	secArrived       int
	secAdmitted      int
	retryAfterSecond int
}

// tenantState is one tenant's part of the controller; it is dropped when the
// tenant has nothing in flight and nothing waiting, so memory follows the
// active tenants.
type tenantState struct {
	key        string
	weight     float64
	inFlight   int
	waiting    list.List // of *waiter, oldest first
	lastServed uint64
}

type waiter struct {
	t       *tenantState
	ready   chan struct{} // closed when granted or pushed out
	granted bool
	shed    bool
	elem    *list.Element
}

// New returns a Controller; it returns an error for bounds that cannot work.
func New(o Options) (*Controller, error) {
	if o.MinLimit < 1 || o.MaxLimit < o.MinLimit {
		return nil, fmt.Errorf("admission: limits must satisfy 1 <= min (%d) <= max (%d)", o.MinLimit, o.MaxLimit)
	}
	if o.MaxQueue < 0 || o.QueueTimeout < 0 {
		return nil, fmt.Errorf("admission: queue length and timeout must not be negative")
	}
	if o.Tolerance < 1 {
		o.Tolerance = 1
	}
	initial := o.InitialLimit
	if initial == 0 {
		initial = o.MaxLimit
	}
	return &Controller{
		opts:    o,
		limit:   newGradient(initial, o.MinLimit, o.MaxLimit, o.Tolerance),
		tenants: map[string]*tenantState{},
	}, nil
}

// Ticket is an admitted request's slot; Release must be called exactly once.
type Ticket struct {
	c        *Controller
	t        *tenantState
	admitted time.Time
	// Waited is how long the request waited in the queue (0 when admitted
	// at once).
	Waited time.Duration
	// Queued reports whether the request had to wait.
	Queued bool
}

// Acquire admits a request of tenant key, waiting in the tenant's queue when
// the limit is reached. It returns a *ShedError when the request is refused
// (queue full, or no slot within QueueTimeout) and ctx.Err() when ctx ends
// while it waits (the client went away); either way nothing is held.
func (c *Controller) Acquire(ctx context.Context, key string) (*Ticket, error) {
	start := time.Now()
	c.mu.Lock()
	c.count(start)
	t := c.tenant(key)
	if c.queued == 0 && c.inFlight < c.limit.current() {
		c.grant(t)
		c.mu.Unlock()
		return &Ticket{c: c, t: t, admitted: start}, nil
	}
	if c.wouldTimeOut(t) {
		c.forget(t)
		c.mu.Unlock()
		return nil, &ShedError{Reason: ReasonQueueWait}
	}
	if !c.makeRoom(t) {
		c.forget(t)
		c.mu.Unlock()
		return nil, &ShedError{Reason: ReasonQueueFull}
	}
	w := &waiter{t: t, ready: make(chan struct{})}
	w.elem = t.waiting.PushBack(w)
	c.queued++
	c.dispatch() // the limit may have grown since the last release
	c.mu.Unlock()

	timer := time.NewTimer(c.opts.QueueTimeout)
	defer timer.Stop()
	var err error
	for waiting := true; waiting; {
		select {
		case <-w.ready:
			waiting = false
		case <-ctx.Done():
			err, waiting = ctx.Err(), false
		case <-timer.C:
			// A tenant below its fair share is served at one of the next
			// releases: it may wait longer than one queue timeout.
			c.mu.Lock()
			patient := !w.granted && !w.shed && time.Since(start) < underShareWaits*c.opts.QueueTimeout && c.underShare(t)
			c.mu.Unlock()
			if patient {
				timer.Reset(c.opts.QueueTimeout)
				continue
			}
			err, waiting = &ShedError{Reason: ReasonQueueTimeout}, false
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case w.granted && err != nil && ctx.Err() != nil:
		// Granted in the same instant the client left: give the slot back.
		c.release(t)
		return nil, err
	case w.granted:
		now := time.Now()
		return &Ticket{c: c, t: t, admitted: now, Waited: now.Sub(start), Queued: true}, nil
	case w.shed:
		return nil, &ShedError{Reason: ReasonQueueFull}
	}
	t.waiting.Remove(w.elem)
	c.queued--
	c.forget(t)
	return nil, err
}

// wouldTimeOut reports whether a new waiter of t would, at the rate
// requests finish now, still be waiting when its queue timeout ends: then
// it is shed at once instead of holding its connection for the timeout and
// being shed anyway. Ahead of it are its own tenant's waiters and, served
// in turn with them, as many of every other tenant's as their weights give
// them meanwhile; slots free at limit ÷ recent latency per second. A
// tenant below its fair share is never shed this way (it is served at one
// of the next releases), and nothing is shed before the latency is known.
// Locked.
func (c *Controller) wouldTimeOut(t *tenantState) bool {
	per := c.limit.recent()
	if per <= 0 || c.underShare(t) {
		return false
	}
	mine := float64(t.waiting.Len() + 1)
	ahead := mine
	for _, o := range c.tenants {
		if o != t {
			ahead += min(float64(o.waiting.Len()), mine*o.weight/t.weight)
		}
	}
	wait := time.Duration(ahead * float64(per) / float64(c.limit.current()))
	return wait > c.opts.QueueTimeout
}

// underShareWaits is how many queue timeouts a tenant below its fair share
// may wait.
const underShareWaits = 10

// underShare reports whether t holds fewer slots than its fair share of the
// limit among the active tenants. Locked.
func (c *Controller) underShare(t *tenantState) bool {
	var sum float64
	for _, o := range c.tenants {
		sum += o.weight
	}
	return float64(t.inFlight) < float64(c.limit.current())*t.weight/sum
}

// Release gives the slot back. sample reports whether the request ran to
// its natural end, so that its duration says something about the load
// (false for a request abandoned by its client).
func (tk *Ticket) Release(sample bool) {
	c := tk.c
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if sample {
		c.limit.observe(now, now.Sub(tk.admitted), c.inFlight)
	}
	c.release(tk.t)
}

// release frees a slot of t and hands free slots to waiters. Locked.
func (c *Controller) release(t *tenantState) {
	c.inFlight--
	t.inFlight--
	c.forget(t)
	c.dispatch()
}

// tenant returns the state of key, creating it. Locked.
func (c *Controller) tenant(key string) *tenantState {
	t := c.tenants[key]
	if t == nil {
		w, ok := c.opts.Weights[key]
		if !ok || w <= 0 {
			w = 1
		}
		t = &tenantState{key: key, weight: w}
		c.tenants[key] = t
	}
	return t
}

// forget drops t when it holds and awaits nothing. Locked.
func (c *Controller) forget(t *tenantState) {
	if t.inFlight == 0 && t.waiting.Len() == 0 {
		delete(c.tenants, t.key)
	}
}

func (c *Controller) grant(t *tenantState) {
	c.secAdmitted++
	c.inFlight++
	t.inFlight++
	c.serial++
	t.lastServed = c.serial
}

// makeRoom reports whether a request of t may join the queue, pushing out
// the newest waiter of the tenant with the longest weighted queue when the
// queue is full and that tenant's queue is longer than t's would be. Locked.
func (c *Controller) makeRoom(t *tenantState) bool {
	if c.queued < c.opts.MaxQueue {
		return true
	}
	if c.opts.MaxQueue == 0 {
		return false
	}
	var victim *tenantState
	for _, o := range c.tenants {
		if o.waiting.Len() > 0 && (victim == nil || float64(o.waiting.Len())/o.weight > float64(victim.waiting.Len())/victim.weight) {
			victim = o
		}
	}
	if victim == nil || victim == t || float64(victim.waiting.Len())/victim.weight <= float64(t.waiting.Len()+1)/t.weight {
		return false
	}
	w := victim.waiting.Remove(victim.waiting.Back()).(*waiter)
	w.shed = true
	close(w.ready)
	c.queued--
	c.forget(victim)
	return true
}

// dispatch grants free slots to waiters, fairest first. Locked.
func (c *Controller) dispatch() {
	for c.queued > 0 && c.inFlight < c.limit.current() {
		var next *tenantState
		for _, t := range c.tenants {
			if t.waiting.Len() == 0 {
				continue
			}
			if next == nil || fairer(t, next) {
				next = t
			}
		}
		w := next.waiting.Remove(next.waiting.Front()).(*waiter)
		c.queued--
		c.grant(next)
		w.granted = true
		close(w.ready)
	}
}

// fairer reports whether a should be served before b: fewer requests in
// flight per unit of weight, then the one served least recently, then by
// key (so that the order is deterministic).
func fairer(a, b *tenantState) bool {
	sa, sb := float64(a.inFlight)/a.weight, float64(b.inFlight)/b.weight
	if sa != sb {
		return sa < sb
	}
	if a.lastServed != b.lastServed {
		return a.lastServed < b.lastServed
	}
	return a.key < b.key
}

// maxRetryAfter bounds RetryAfter, in seconds.
const maxRetryAfter = 10

// count records an arrival at now and, once a second has passed, sets the
// Retry-After of the next second from the last one. Locked.
func (c *Controller) count(now time.Time) {
	if d := now.Sub(c.secStart); d >= time.Second {
		if c.secAdmitted > 0 && d < 2*time.Second {
			// Clients that come back after ceil(arrivals ÷ admissions)
			// seconds arrive about as fast as they can be admitted.
			c.retryAfterSecond = min(maxRetryAfter, max(1, (c.secArrived+c.secAdmitted-1)/c.secAdmitted))
		} else {
			c.retryAfterSecond = 1
		}
		c.secStart, c.secArrived, c.secAdmitted = now, 0, 0
	}
	c.secArrived++
}

// RetryAfter returns how many seconds a shed client should wait before it
// tries again: the ratio of arrivals to admissions over the last second
// (at least 1, at most 10), so that clients that honour it come back about
// as fast as requests can be admitted instead of all at once.
func (c *Controller) RetryAfter() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(1, c.retryAfterSecond)
}

// Stats is a snapshot of the controller.
type Stats struct {
	Limit         int `json:"limit"`          // the effective limit on requests in flight
	MinLimit      int `json:"min_limit"`      // its bounds
	MaxLimit      int `json:"max_limit"`      //
	InFlight      int `json:"in_flight"`      // admitted and not yet finished
	Queued        int `json:"queued"`         // waiting for a slot
	MaxQueue      int `json:"max_queue"`      // the queue's bound
	ActiveTenants int `json:"active_tenants"` // tenants with requests in flight or waiting
	// BaselineMS is the latency at low load the limit is measured against
	// (0 until known).
	BaselineMS float64 `json:"baseline_latency_ms"`
}

// Stats returns the current figures.
func (c *Controller) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{
		Limit: c.limit.current(), MinLimit: c.opts.MinLimit, MaxLimit: c.opts.MaxLimit,
		InFlight: c.inFlight, Queued: c.queued, MaxQueue: c.opts.MaxQueue, ActiveTenants: len(c.tenants),
		BaselineMS: float64(c.limit.baseline().Microseconds()) / 1000,
	}
}

// Load is one tenant's share at one moment.
type Load struct {
	Key      string
	InFlight int
	Queued   int
}

// Busiest returns up to n tenants with the most requests in flight (then
// waiting), busiest first, and the in-flight count of every active tenant
// (for a distribution without tenant labels).
func (c *Controller) Busiest(n int) (top []Load, all []int) {
	c.mu.Lock()
	all = make([]int, 0, len(c.tenants))
	for _, t := range c.tenants {
		all = append(all, t.inFlight)
		l := Load{Key: t.key, InFlight: t.inFlight, Queued: t.waiting.Len()}
		i := len(top)
		for i > 0 && busier(l, top[i-1]) {
			i--
		}
		if i < n {
			top = append(top, Load{})
			copy(top[i+1:], top[i:])
			top[i] = l
			if len(top) > n {
				top = top[:n]
			}
		}
	}
	c.mu.Unlock()
	return top, all
}

func busier(a, b Load) bool {
	if a.InFlight != b.InFlight {
		return a.InFlight > b.InFlight
	}
	if a.Queued != b.Queued {
		return a.Queued > b.Queued
	}
	return a.Key < b.Key
}
