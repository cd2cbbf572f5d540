package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mtdb/mtdb/internal/database"
)

// metrics holds the Prometheus registry of one Server (no global registry,
// so several servers can live in one test binary).
//
// Every label value comes from a closed set, so no client can grow /metrics
// (and the process's memory) by inventing values: methods outside the
// standard ones are "OTHER", a route is a registered route template or
// "unmatched", a status is one the server chose to send.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	routes   map[string]bool // the registered route templates, set once routes() has run
	// unavailable counts 503 answers caused by the database, by cause
	// (database.Causes, a closed set).
	unavailable *prometheus.CounterVec

	admission admissionMetrics
}

// Metric label values for what is outside the closed sets.
const (
	otherMethod    = "OTHER"
	unmatchedRoute = "unmatched"
)

// knownMethods are the method label values besides OTHER.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// methodLabel returns method when it is a standard one, else OTHER.
func methodLabel(method string) string {
	if knownMethods[method] {
		return method
	}
	return otherMethod
}

// routeLabel returns route when it is a registered template, else unmatched.
func (m *metrics) routeLabel(route string) string {
	if m.routes[route] {
		return route
	}
	return unmatchedRoute
}

func newMetrics(pool *pgxpool.Pool, replica *database.Replica) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtdb_http_requests_total",
			Help: "HTTP requests served, by method, route template and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mtdb_http_request_duration_seconds",
			Help:    "HTTP request latency, by method, route template and status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route", "status"}),
		unavailable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtdb_database_unavailable_total",
			Help: "Requests answered 503 because the database was unavailable, by cause.",
		}, []string{"cause"}),
	}
	for _, c := range database.Causes {
		m.unavailable.WithLabelValues(string(c))
	}
	m.reg.MustRegister(m.requests, m.latency, m.unavailable,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if pool != nil {
		m.reg.MustRegister(poolCollector{pool})
	}
	if replica != nil {
		m.reg.MustRegister(replicaCollector{replica})
	}
	return m
}

// replicaCollector exports the read replica's state and the reads by
// target at scrape time.
type replicaCollector struct{ r *database.Replica }

var replicaDescs = struct {
	reads, fallbacks, up, lag *prometheus.Desc
}{
	reads: prometheus.NewDesc("mtdb_db_reads_total",
		"Reads of GET requests (statements or transactions) by where they ran: primary or replica.", []string{"target"}, nil),
	fallbacks: prometheus.NewDesc("mtdb_db_replica_fallbacks_total",
		"Reads the replica failed (unavailable, recovery conflict, unknown tenant) that then ran on the primary.", nil, nil),
	up: prometheus.NewDesc("mtdb_db_replica_serving",
		"1 while reads go to the read replica (reachable, lag within DATABASE_READ_MAX_LAG), else 0.", nil, nil),
	lag: prometheus.NewDesc("mtdb_db_replica_lag_seconds",
		"The read replica's lag behind the primary at the last probe (absent while unknown).", nil, nil),
}

func (c replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- replicaDescs.reads
	ch <- replicaDescs.fallbacks
	ch <- replicaDescs.up
	ch <- replicaDescs.lag
}

func (c replicaCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.r.Reads()
	ch <- prometheus.MustNewConstMetric(replicaDescs.reads, prometheus.CounterValue, float64(n.Primary), "primary")
	ch <- prometheus.MustNewConstMetric(replicaDescs.reads, prometheus.CounterValue, float64(n.Replica), "replica")
	ch <- prometheus.MustNewConstMetric(replicaDescs.fallbacks, prometheus.CounterValue, float64(n.Fallbacks))
	serving := 0.0
	if c.r.Usable() {
		serving = 1
	}
	ch <- prometheus.MustNewConstMetric(replicaDescs.up, prometheus.GaugeValue, serving)
	if st := c.r.Status(); st.LagSeconds != nil {
		ch <- prometheus.MustNewConstMetric(replicaDescs.lag, prometheus.GaugeValue, *st.LagSeconds)
	}
}

// knowRoutes sets the route templates that are label values. It runs once,
// before the server serves.
func (m *metrics) knowRoutes(routes []*echo.Route) {
	m.routes = make(map[string]bool, len(routes))
	for _, r := range routes {
		m.routes[r.Path] = true
	}
}

// observe counts one request; method and route are mapped to their label
// sets (methodLabel, routeLabel).
func (m *metrics) observe(method, route string, status int, d time.Duration) {
	s := strconv.Itoa(status)
	method, route = methodLabel(method), m.routeLabel(route)
	m.requests.WithLabelValues(method, route, s).Inc()
	m.latency.WithLabelValues(method, route, s).Observe(d.Seconds())
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// poolCollector exports pgxpool.Stat at scrape time.
type poolCollector struct{ pool *pgxpool.Pool }

var poolDescs = struct {
	total, idle, acquired, constructing, max, acquires, emptyAcquires, canceled, waitSeconds *prometheus.Desc
}{
	total:         prometheus.NewDesc("mtdb_db_pool_total_conns", "Connections in the pool.", nil, nil),
	idle:          prometheus.NewDesc("mtdb_db_pool_idle_conns", "Idle connections in the pool.", nil, nil),
	acquired:      prometheus.NewDesc("mtdb_db_pool_acquired_conns", "Connections currently in use.", nil, nil),
	constructing:  prometheus.NewDesc("mtdb_db_pool_constructing_conns", "Connections being established.", nil, nil),
	max:           prometheus.NewDesc("mtdb_db_pool_max_conns", "Maximum pool size.", nil, nil),
	acquires:      prometheus.NewDesc("mtdb_db_pool_acquires_total", "Successful connection acquisitions.", nil, nil),
	emptyAcquires: prometheus.NewDesc("mtdb_db_pool_empty_acquires_total", "Acquisitions that had to wait for a connection.", nil, nil),
	canceled:      prometheus.NewDesc("mtdb_db_pool_canceled_acquires_total", "Acquisitions cancelled by their context.", nil, nil),
	waitSeconds:   prometheus.NewDesc("mtdb_db_pool_acquire_wait_seconds_total", "Time spent waiting for connections.", nil, nil),
}

func (p poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolDescs.total, poolDescs.idle, poolDescs.acquired, poolDescs.constructing,
		poolDescs.max, poolDescs.acquires, poolDescs.emptyAcquires, poolDescs.canceled, poolDescs.waitSeconds} {
		ch <- d
	}
}

func (p poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := p.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(poolDescs.total, float64(s.TotalConns()))
	gauge(poolDescs.idle, float64(s.IdleConns()))
	gauge(poolDescs.acquired, float64(s.AcquiredConns()))
	gauge(poolDescs.constructing, float64(s.ConstructingConns()))
	gauge(poolDescs.max, float64(s.MaxConns()))
	counter(poolDescs.acquires, float64(s.AcquireCount()))
	counter(poolDescs.emptyAcquires, float64(s.EmptyAcquireCount()))
	counter(poolDescs.canceled, float64(s.CanceledAcquireCount()))
	counter(poolDescs.waitSeconds, s.AcquireDuration().Seconds())
}
