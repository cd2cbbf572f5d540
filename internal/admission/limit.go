package admission

import (
	"math"
	"time"
)

// gradient is the adaptive limit on requests in flight: additive increase,
// multiplicative decrease driven by the latency gradient, in the spirit of
// Netflix's concurrency-limits (Gradient2, Vegas) and Envoy's adaptive
// concurrency filter.
//
// Admitted requests' durations are averaged over windows (at least
// windowSamples requests and windowMin long). The baseline is the smallest
// window average of the last baselineSeconds: what a request costs when it
// does not wait for a connection or a CPU. After each window:
//
//	gradient = clamp(tolerance × baseline / window average, 0.5, 1)
//	gradient = 1, and the window used at least half the limit: limit += 1
//	gradient < 1:                                             limit ×= 0.8 + 0.2 × gradient
//
// so the limit grows slowly while latency stays within tolerance of the
// baseline and shrinks as soon as requests start queueing inside the
// service (for pooled connections, for CPU). Because the baseline is a
// moving minimum over half a minute, a workload that really became more
// expensive (heavier queries) raises it within that time, while a standing
// queue, which keeps every window slow, does not.
type gradient struct {
	limit     float64
	min, max  float64
	tolerance float64

	winStart time.Time
	winSum   time.Duration
	winN     int
	winPeak  int
	last     time.Duration // the latest window's average

	buckets [baselineSeconds]bucket
}

type bucket struct {
	sec int64
	min time.Duration
}

const (
	windowMin       = 100 * time.Millisecond
	windowSamples   = 10
	baselineSeconds = 30
	smoothing       = 0.2
)

func newGradient(initial, lo, hi int, tolerance float64) *gradient {
	g := &gradient{min: float64(lo), max: float64(hi), tolerance: tolerance}
	g.limit = math.Min(math.Max(float64(initial), g.min), g.max)
	return g
}

// current returns the limit as a whole number of requests.
func (g *gradient) current() int { return int(g.limit) }

// observe takes the duration of one admitted request that ended at now,
// with inFlight requests in flight (itself included).
func (g *gradient) observe(now time.Time, d time.Duration, inFlight int) {
	if g.winN == 0 {
		g.winStart = now
	}
	g.winSum += d
	g.winN++
	g.winPeak = max(g.winPeak, inFlight)
	if g.winN < windowSamples || now.Sub(g.winStart) < windowMin {
		return
	}
	avg := g.winSum / time.Duration(g.winN)
	peak := g.winPeak
	g.winSum, g.winN, g.winPeak = 0, 0, 0
	g.last = avg
	g.record(now, avg)
	base := g.baseline()
	if avg <= 0 || base <= 0 {
		return
	}
	grad := math.Min(1, math.Max(0.5, g.tolerance*float64(base)/float64(avg)))
	switch {
	case grad < 1:
		g.limit *= 1 - smoothing + smoothing*grad
	case float64(peak) >= g.limit/2: // only grow a limit that is used
		g.limit++
	}
	g.limit = math.Min(math.Max(g.limit, g.min), g.max)
}

// recent returns what an admitted request costs now: the latest window's
// average, 0 before the first window.
func (g *gradient) recent() time.Duration { return g.last }

// record keeps the smallest window average of each second.
func (g *gradient) record(now time.Time, avg time.Duration) {
	sec := now.Unix()
	b := &g.buckets[sec%baselineSeconds]
	if b.sec != sec || avg < b.min {
		b.sec, b.min = sec, avg
	}
}

// baseline returns the smallest window average of the last
// baselineSeconds, 0 when there is none.
func (g *gradient) baseline() time.Duration {
	var base time.Duration
	latest := int64(0)
	for _, b := range g.buckets {
		latest = max(latest, b.sec)
	}
	for _, b := range g.buckets {
		if b.sec > latest-baselineSeconds && b.min > 0 && (base == 0 || b.min < base) {
			base = b.min
		}
	}
	return base
}
