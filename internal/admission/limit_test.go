package admission

import (
	"testing"
	"time"
)

// feed gives g one window of n requests of duration d at the given
// in-flight count, starting at *now.
func feed(g *gradient, now *time.Time, n int, d time.Duration, inFlight int) {
	for range n {
		*now = now.Add(windowMin/time.Duration(n-1) + time.Nanosecond)
		g.observe(*now, d, inFlight)
	}
}

func TestGradientGrowsWhileLatencyHoldsAndShrinksWhenItRises(t *testing.T) {
	g := newGradient(10, 4, 40, 1.5)
	now := time.Unix(1_000_000, 0)
	for range 5 {
		feed(g, &now, windowSamples, time.Millisecond, g.current())
	}
	if got := g.current(); got != 15 {
		t.Fatalf("after five fast, busy windows the limit is %d, want 15 (+1 each)", got)
	}
	if b := g.baseline(); b != time.Millisecond {
		t.Fatalf("baseline %s, want 1ms", b)
	}
	feed(g, &now, windowSamples, time.Millisecond, 2) // fast but idle: no growth
	if got := g.current(); got != 15 {
		t.Fatalf("an unused limit grew to %d", got)
	}
	high := g.limit
	for range 3 {
		feed(g, &now, windowSamples, 4*time.Millisecond, g.current()) // 4× the baseline: gradient 0.5
	}
	if got, want := g.limit, high*0.9*0.9*0.9; got > want+1e-9 || got < want-1e-9 {
		t.Fatalf("after three slow windows the limit is %.3f, want %.3f", got, want)
	}
	for range 50 {
		feed(g, &now, windowSamples, 10*time.Millisecond, g.current())
	}
	if got := g.current(); got != 4 {
		t.Fatalf("the limit fell to %d, want the minimum 4", got)
	}
	for range 100 {
		feed(g, &now, windowSamples, time.Millisecond, g.current())
	}
	if got := g.current(); got != 40 {
		t.Fatalf("the limit rose to %d, want the maximum 40", got)
	}
}

// The baseline forgets windows older than baselineSeconds, so a workload
// that became more expensive does not keep the limit at its minimum.
func TestGradientBaselineMovesWithTheWorkload(t *testing.T) {
	g := newGradient(10, 4, 40, 1.5)
	now := time.Unix(2_000_000, 0)
	feed(g, &now, windowSamples, time.Millisecond, 10)
	now = now.Add(2 * baselineSeconds * time.Second)
	feed(g, &now, windowSamples, 5*time.Millisecond, 10)
	if b := g.baseline(); b != 5*time.Millisecond {
		t.Fatalf("baseline %s, want 5ms", b)
	}
}

func TestGradientFixedWhenBoundsAreEqual(t *testing.T) {
	g := newGradient(1, 7, 7, 1.5)
	now := time.Unix(3_000_000, 0)
	for range 20 {
		feed(g, &now, windowSamples, time.Duration(1+now.Unix()%7)*time.Millisecond, 7)
	}
	if got := g.current(); got != 7 {
		t.Fatalf("fixed limit moved to %d", got)
	}
}
