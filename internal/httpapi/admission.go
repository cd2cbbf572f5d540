package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtdb/mtdb/internal/admission"
	"github.com/mtdb/mtdb/internal/apikeys"
	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/errs"
)

// platformKey is the admission share of requests that act on no tenant (a
// platform_admin across tenants, an unauthenticated development caller
// naming none): they share one queue.
const platformKey = "platform"

// newAdmission returns the controller for cfg, nil when admission is off.
func newAdmission(cfg *config.Config) (*admission.Controller, error) {
	a := cfg.Admission
	if !a.Enabled {
		return nil, nil
	}
	lo, hi := a.Limits(cfg.Database.MaxConns)
	return admission.New(admission.Options{
		MinLimit: lo, MaxLimit: hi, InitialLimit: hi,
		Tolerance: a.LatencyTolerance, MaxQueue: a.MaxQueue, QueueTimeout: a.QueueTimeout,
		Weights: a.TenantWeights,
	})
}

// admit is the tenant endpoints' admission middleware: it holds a slot of
// ctl while the request does its database work, the tenant reach check of
// TenantContext included (which is why it runs before TenantContext).
//
// Shares: a request counts against the tenant of its verified token,
// whichever tenant it names with X-Tenant-ID or the cookie. A parent's token
// acting in one of its subsidiaries uses the parent's share, so an
// organisation does not multiply its share by spreading its requests over
// its subsidiaries; a subsidiary's own tokens have the subsidiary's share.
// A platform_admin token (no tenant) counts against the tenant it names,
// else against one shared "platform" share; so does an unauthenticated
// development caller (AUTH_REQUIRED=false). A request whose token does not
// verify takes no slot: TenantContext refuses it without database work.
//
// Over capacity: 503 SERVICE_UNAVAILABLE with Retry-After (seconds: the
// ratio of arrivals to admissions over the last second, 1 to 10), at once
// when the queue is full or the wait would outlast the queue timeout, after
// at most the queue timeout otherwise. A client that
// leaves while waiting gives its place back at once (withTimeout records it
// as 499).
func (s *Server) admit(ctl *admission.Controller) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx := c.Request().Context()
			key, ok := s.shareKey(c.Request())
			if !ok {
				return next(c)
			}
			if err := readSmallBody(c.Request()); err != nil {
				return err
			}
			tk, err := ctl.Acquire(ctx, key)
			if err != nil {
				var shed *admission.ShedError
				if errors.As(err, &shed) {
					s.metrics.admission.shed.WithLabelValues(shed.Reason).Inc()
					h := c.Response().Header()
					h.Set("Retry-After", strconv.Itoa(ctl.RetryAfter()))
					// The client comes back in a second at the earliest: its
					// connection's buffers and goroutine are not kept meanwhile.
					h.Set(echo.HeaderConnection, "close")
					return &errs.Error{Kind: errs.KindUnavailable, Message: "the service is at capacity, retry later", Err: err}
				}
				if errors.Is(err, context.Canceled) {
					s.metrics.admission.canceled.WithLabelValues("queued").Inc()
				}
				return err // the client left (499) or the request's deadline passed (504)
			}
			queued := "false"
			if tk.Queued {
				queued = "true"
				s.metrics.admission.wait.Observe(tk.Waited.Seconds())
			}
			s.metrics.admission.admitted.WithLabelValues(queued).Inc()
			err = next(c)
			gone := errors.Is(ctx.Err(), context.Canceled)
			if gone {
				s.metrics.admission.canceled.WithLabelValues("running").Inc()
			}
			tk.Release(!gone)
			return err
		}
	}
}

// isShed reports whether err is a request refused by admission control.
func isShed(err error) bool {
	var shed *admission.ShedError
	return errors.As(err, &shed)
}

// shareKey names the admission share of req (see admit); ok is false when
// its credential does not verify or is missing where one is required.
// A JWT's share is its tenant; an API key's is the key itself (by its
// public prefix: its tenant is only known from the database, and admission
// comes before any database work), so a key's requests are admitted and
// queued like everyone's, fairly against the other keys and tenants.
func (s *Server) shareKey(req *http.Request) (key string, ok bool) {
	raw, err := auth.Credential(req.Header)
	switch {
	case errors.Is(err, auth.ErrMissing) && !s.cfg.AuthRequired:
	case err != nil:
		return "", false
	case strings.HasPrefix(raw, auth.APIKeyPrefix):
		prefix, _, err := apikeys.Parse(raw)
		if err != nil {
			return "", false
		}
		return "api-key:" + prefix, true
	default:
		claims, err := s.deps.Verifier.Verify(raw)
		if err != nil {
			return "", false
		}
		if claims.TenantID != uuid.Nil {
			return claims.TenantID.String(), true
		}
	}
	named := strings.TrimSpace(req.Header.Get(TenantHeader))
	if named == "" {
		if ck, err := req.Cookie(TenantCookie); err == nil {
			named = strings.TrimSpace(ck.Value)
		}
	}
	if named == "" || len(named) > 36 {
		return platformKey, true
	}
	return strings.ToLower(named), true
}

// earlyBodyLimit bounds the request bodies admit reads before waiting.
const earlyBodyLimit = 64 << 10

// readSmallBody reads a request body of a known length up to
// earlyBodyLimit into memory before the request may wait in the queue:
// net/http watches the connection for a client that goes away only once
// the body has been read, and a waiting request must notice at once. (The
// handler reads the body anyway; larger bodies are left to it. Chunked
// bodies were already read by limitBody.)
func readSmallBody(req *http.Request) error {
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength <= 0 || req.ContentLength > earlyBodyLimit {
		return nil
	}
	buf, err := io.ReadAll(req.Body)
	if err != nil {
		return &errs.Error{Kind: errs.KindInvalid, Message: "body could not be read", Fields: map[string]string{"body": "could not be read"}, Err: err}
	}
	req.Body = io.NopCloser(bytes.NewReader(buf))
	return nil
}

// admissionMetrics are the admission counters; the gauges are read from
// the controller at scrape time (admissionCollector).
type admissionMetrics struct {
	admitted *prometheus.CounterVec
	shed     *prometheus.CounterVec
	canceled *prometheus.CounterVec
	wait     prometheus.Histogram
}

func newAdmissionMetrics(reg *prometheus.Registry) admissionMetrics {
	m := admissionMetrics{
		admitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtdb_admission_admitted_total",
			Help: "Tenant requests admitted to the database work, by whether they waited in the queue.",
		}, []string{"queued"}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtdb_admission_shed_total",
			Help: "Tenant requests refused with 503 because the service was at capacity, by reason (queue_full, queue_wait, queue_timeout).",
		}, []string{"reason"}),
		canceled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtdb_admission_client_gone_total",
			Help: "Tenant requests whose client went away, by stage (queued, running); answered 499, not errors.",
		}, []string{"stage"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mtdb_admission_queue_wait_seconds",
			Help:    "Time admitted requests waited in the queue for a slot.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
	}
	reg.MustRegister(m.admitted, m.shed, m.canceled, m.wait)
	for _, r := range []string{admission.ReasonQueueFull, admission.ReasonQueueWait, admission.ReasonQueueTimeout} {
		m.shed.WithLabelValues(r)
	}
	return m
}

// admissionCollector exports the controller's state at scrape time. The
// per-tenant figures are bounded: the topTenants busiest tenants by id,
// and a count of active tenants by in-flight bucket without tenant ids.
type admissionCollector struct{ ctl *admission.Controller }

const topTenants = 5

var admissionDescs = struct {
	limit, inFlight, queued, active, tenantInFlight, tenantQueued, spread *prometheus.Desc
}{
	limit:          prometheus.NewDesc("mtdb_admission_limit", "The effective (adaptive) limit on tenant requests in flight.", nil, nil),
	inFlight:       prometheus.NewDesc("mtdb_admission_in_flight", "Tenant requests admitted and not finished.", nil, nil),
	queued:         prometheus.NewDesc("mtdb_admission_queued", "Tenant requests waiting for a slot.", nil, nil),
	active:         prometheus.NewDesc("mtdb_admission_active_tenants", "Tenants with requests in flight or waiting.", nil, nil),
	tenantInFlight: prometheus.NewDesc("mtdb_admission_tenant_in_flight", "Requests in flight of the busiest tenants (at most 5 series).", []string{"tenant_id"}, nil),
	tenantQueued:   prometheus.NewDesc("mtdb_admission_tenant_queued", "Requests waiting of the busiest tenants (at most 5 series).", []string{"tenant_id"}, nil),
	spread:         prometheus.NewDesc("mtdb_admission_tenants_by_in_flight", "Active tenants by their requests in flight (le: at most that many).", []string{"le"}, nil),
}

var spreadBounds = []int{0, 1, 2, 4, 8, 16, 32, 64}

func (a admissionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{admissionDescs.limit, admissionDescs.inFlight, admissionDescs.queued,
		admissionDescs.active, admissionDescs.tenantInFlight, admissionDescs.tenantQueued, admissionDescs.spread} {
		ch <- d
	}
}

func (a admissionCollector) Collect(ch chan<- prometheus.Metric) {
	st := a.ctl.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(admissionDescs.limit, float64(st.Limit))
	gauge(admissionDescs.inFlight, float64(st.InFlight))
	gauge(admissionDescs.queued, float64(st.Queued))
	gauge(admissionDescs.active, float64(st.ActiveTenants))
	top, all := a.ctl.Busiest(topTenants)
	for _, l := range top {
		gauge(admissionDescs.tenantInFlight, float64(l.InFlight), l.Key)
		gauge(admissionDescs.tenantQueued, float64(l.Queued), l.Key)
	}
	counts := make([]int, len(spreadBounds)+1)
	for _, n := range all {
		i := 0
		for i < len(spreadBounds) && n > spreadBounds[i] {
			i++
		}
		counts[i]++
	}
	cum := 0
	for i, b := range spreadBounds {
		cum += counts[i]
		gauge(admissionDescs.spread, float64(cum), strconv.Itoa(b))
	}
	gauge(admissionDescs.spread, float64(len(all)), "+Inf")
}

// admissionStats is the admission part of /api/v1/health/detailed.
func (s *Server) admissionStats() *admission.Stats {
	if s.admission == nil {
		return nil
	}
	st := s.admission.Stats()
	return &st
}
