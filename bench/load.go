package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// op is one request (or one unit of database work). worker numbers the
// calling goroutine, seq counts the calls of that goroutine.
type op func(ctx context.Context, worker, seq int) error

// result is one measured run of an op at one concurrency.
type result struct {
	Target      string  `json:"target"` // api, reference, database (the floor), api_before
	Endpoint    string  `json:"endpoint"`
	Concurrency int     `json:"concurrency"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	RPS         float64 `json:"rps"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	FirstError  string  `json:"first_error,omitempty"`
	CPU         cpuUse  `json:"cpu"`
}

// drive runs o with c closed-loop workers: warmup (not measured), then d
// measured; every worker records each call's latency. serverPID (0: none)
// is the server process whose CPU the result reports.
func drive(ctx context.Context, o op, c int, warmup, d time.Duration, serverPID int) result {
	var (
		wg       sync.WaitGroup
		measure  atomic.Bool
		stop     atomic.Bool
		errCount atomic.Int64
		firstErr atomic.Value
		lat      = make([][]time.Duration, c)
	)
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for seq := 0; !stop.Load(); seq++ {
				t0 := time.Now()
				err := o(ctx, w, seq)
				el := time.Since(t0)
				if !measure.Load() {
					continue
				}
				if err != nil {
					errCount.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				local = append(local, el)
			}
			lat[w] = local
		}(w)
	}
	time.Sleep(warmup)
	measure.Store(true)
	start, before := time.Now(), snapCPU(serverPID)
	time.Sleep(d)
	measure.Store(false)
	elapsed, cpu := time.Since(start), before.until(snapCPU(serverPID))
	stop.Store(true)
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	r := result{Concurrency: c, Requests: len(all), Errors: int(errCount.Load()), RPS: float64(len(all)) / elapsed.Seconds(), CPU: cpu}
	if len(all) > 0 {
		r.P50ms = ms(all[len(all)/2])
		r.P99ms = ms(all[min(len(all)-1, len(all)*99/100)])
	}
	if e, ok := firstErr.Load().(string); ok {
		r.FirstError = e
	}
	return r
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// httpClient returns a client for loopback load: keep-alive connections for
// c workers, no transparent gzip (Accept-Encoding is not sent, so neither
// server compresses).
func httpClient(c int) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: c * 2, MaxIdleConnsPerHost: c * 2, MaxConnsPerHost: 0,
			DisableCompression: true, IdleConnTimeout: time.Minute,
		},
	}
}

// httpOp returns an op that sends the request built by mk and expects want.
func httpOp(client *http.Client, want int, mk func(worker, seq int) (*http.Request, error)) op {
	return func(ctx context.Context, worker, seq int) error {
		req, err := mk(worker, seq)
		if err != nil {
			return err
		}
		res, err := client.Do(req.WithContext(ctx))
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != want {
			return fmt.Errorf("%s %s: status %d: %s", req.Method, req.URL.Path, res.StatusCode, strings.TrimSpace(string(body)))
		}
		return nil
	}
}
