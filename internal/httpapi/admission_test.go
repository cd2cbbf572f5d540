package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/tenant"
)

// admissionHarness is a real HTTP server with admission fixed at one
// request in flight, over a fresh database, and two tenants A and B.
type admissionHarness struct {
	t              *testing.T
	base           string
	client         *http.Client
	owner          *pgxpool.Pool
	platform       string
	a, b           uuid.UUID
	adminA, adminB string
}

func newAdmissionHarness(t *testing.T, maxQueue int) *admissionHarness {
	t.Helper()
	s, db := newServer(t, map[string]string{
		"ADMISSION_MIN_LIMIT":     "1",
		"ADMISSION_MAX_LIMIT":     "1",
		"ADMISSION_MAX_QUEUE":     fmt.Sprint(maxQueue),
		"ADMISSION_QUEUE_TIMEOUT": "1m", // the waits end when the test says so, not by the clock
	})
	ts := httptest.NewServer(failOn500(t, s.Handler()))
	t.Cleanup(ts.Close)
	h := &admissionHarness{t: t, base: ts.URL, client: ts.Client(), owner: db.OwnerPool(t)}
	h.platform = h.token(tenant.RolePlatformAdmin, uuid.Nil)
	for _, id := range []*uuid.UUID{&h.a, &h.b} {
		var out tenantOut
		code, _, body := h.send(context.Background(), h.platform, "POST", "/api/v1/tenants", fmt.Sprintf(`{"name":"T%d","tenant_type":"parent"}`, time.Now().UnixNano()))
		if code != 201 || json.Unmarshal(body, &out) != nil {
			t.Fatalf("create tenant: %d %s", code, body)
		}
		*id = out.TenantID
	}
	h.adminA, h.adminB = h.token(tenant.RoleTenantAdmin, h.a), h.token(tenant.RoleTenantAdmin, h.b)
	return h
}

func (h *admissionHarness) token(role tenant.Role, id uuid.UUID) string {
	tok, err := auth.Sign([]byte(testSecret), auth.Claims{Subject: "tester", Role: role, TenantID: id}, time.Hour, "", "")
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// send makes one request; a transport error (the test cancelled ctx) is
// status 0.
func (h *admissionHarness) send(ctx context.Context, token, method, path, body string) (int, http.Header, []byte) {
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, strings.NewReader(body))
	if err != nil {
		h.t.Error(err)
		return 0, nil, nil
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case strings.HasPrefix(token, auth.APIKeyPrefix):
		req.Header.Set(auth.APIKeyHeader, token)
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := h.client.Do(req)
	if err != nil {
		return 0, nil, nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

// createUser is POST /users as token; it returns the status and the error
// code of an error answer.
func (h *admissionHarness) createUser(ctx context.Context, token string) (int, string) {
	code, _, body := h.send(ctx, token, "POST", "/api/v1/users", fmt.Sprintf(`{"email":"u%s@example.com","display_name":"U"}`, uuid.NewString()[:8]))
	var e errorBody
	_ = json.Unmarshal(body, &e)
	return code, e.Error.Code
}

// stats reads the admission figures from /api/v1/health/detailed.
func (h *admissionHarness) stats() (inFlight, queued, limit int) {
	_, _, body := h.send(context.Background(), "", "GET", "/api/v1/health/detailed", "")
	var d struct {
		Admission *struct {
			Limit    int `json:"limit"`
			InFlight int `json:"in_flight"`
			Queued   int `json:"queued"`
		} `json:"admission"`
	}
	if err := json.Unmarshal(body, &d); err != nil || d.Admission == nil {
		h.t.Fatalf("health/detailed has no admission: %s", body)
	}
	return d.Admission.InFlight, d.Admission.Queued, d.Admission.Limit
}

// await polls the admission figures until cond holds (it bounds a hang,
// it does not time anything).
func (h *admissionHarness) await(what string, cond func(inFlight, queued int) bool) {
	h.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if f, q, _ := h.stats(); cond(f, q) {
			return
		}
	}
	f, q, _ := h.stats()
	h.t.Fatalf("timed out waiting for %s (in flight %d, queued %d)", what, f, q)
}

// lockUsers makes every INSERT into users wait (SHARE conflicts with the
// inserts' ROW EXCLUSIVE) until the returned function is called.
func (h *admissionHarness) lockUsers() func() {
	h.t.Helper()
	ctx := context.Background()
	tx, err := h.owner.Begin(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE users IN SHARE MODE"); err != nil {
		h.t.Fatal(err)
	}
	var once sync.Once
	release := func() { once.Do(func() { _ = tx.Rollback(ctx) }) }
	h.t.Cleanup(release)
	return release
}

// metric returns the value of the sample line starting with series in
// /metrics, 0 when absent.
func (h *admissionHarness) metric(series string) float64 {
	_, _, body := h.send(context.Background(), "", "GET", "/metrics", "")
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return 0
}

// One slot, a queue of three. Tenant A holds the slot (its insert waits on
// a lock) and fills the queue; A's next request is shed at once with 503
// and Retry-After; B's request pushes out A's newest waiter and, when the
// slot frees, is served before A's older waiters. Health and /metrics stay
// available throughout.
func TestAdmissionShedsAndServesTenantsFairly(t *testing.T) {
	h := newAdmissionHarness(t, 3)
	unlock := h.lockUsers()
	ctx := context.Background()

	type outcome struct {
		who  string
		code int
		err  string
	}
	results := make(chan outcome, 10)
	start := func(who, token string) {
		go func() {
			code, e := h.createUser(ctx, token)
			results <- outcome{who, code, e}
		}()
	}
	start("A", h.adminA) // holds the slot, waiting on the lock
	h.await("A's first request to hold the slot", func(f, _ int) bool { return f == 1 })
	for i := range 3 {
		start("A", h.adminA)
		h.await("A's requests to queue", func(_, q int) bool { return q == i+1 })
	}

	code, hdr, body := h.send(ctx, h.adminA, "POST", "/api/v1/users", `{"email":"over@example.com","display_name":"Over"}`)
	if code != 503 || hdr.Get("Retry-After") == "" || !strings.Contains(string(body), `"SERVICE_UNAVAILABLE"`) {
		t.Fatalf("A over a full queue: %d Retry-After %q %s; want 503 SERVICE_UNAVAILABLE with Retry-After", code, hdr.Get("Retry-After"), body)
	}
	for _, path := range []string{"/health", "/api/v1/health/liveness", "/metrics"} {
		if code, _, _ := h.send(ctx, "", "GET", path, ""); code != 200 {
			t.Fatalf("%s at capacity: %d, want 200 (never shed)", path, code)
		}
	}

	start("B", h.adminB) // the queue is full of A: B pushes out A's newest
	pushed := <-results
	if pushed.who != "A" || pushed.code != 503 || pushed.err != "SERVICE_UNAVAILABLE" {
		t.Fatalf("pushed out: %+v, want one of A's waiters with 503", pushed)
	}
	h.await("B to wait in the queue", func(f, q int) bool { return f == 1 && q == 3 })

	unlock()
	count := map[string]int{}
	for range 4 {
		o := <-results
		if o.code != 201 {
			t.Fatalf("after the lock: %+v, want 201", o)
		}
		count[o.who]++
	}
	if count["A"] != 3 || count["B"] != 1 {
		t.Fatalf("served A=%d B=%d, want 3 and 1", count["A"], count["B"])
	}

	// The order in which the one slot served them: A's first (the holder),
	// then B, then A's two remaining waiters.
	rows, err := h.owner.Query(ctx, "SELECT tenant_id FROM users ORDER BY created_at, id")
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		order = append(order, map[uuid.UUID]string{h.a: "A", h.b: "B"}[id])
	}
	if got, want := strings.Join(order, ""), "ABAA"; got != want {
		t.Fatalf("service order %s, want %s", got, want)
	}

	if v := h.metric(`mtdb_admission_shed_total{reason="queue_full"}`); v != 2 {
		t.Errorf("shed queue_full = %v, want 2", v)
	}
	if v := h.metric(`mtdb_admission_admitted_total{queued="true"}`); v != 3 {
		t.Errorf("admitted after queueing = %v, want 3", v)
	}
	if v := h.metric(`mtdb_http_requests_total{method="POST",route="/api/v1/users",status="503"}`); v != 2 {
		t.Errorf("503 answers = %v, want 2", v)
	}
	if f, q, limit := h.stats(); f != 0 || q != 0 || limit != 1 {
		t.Errorf("at rest: in flight %d, queued %d, limit %d", f, q, limit)
	}
}

// A client that disconnects while queued, or while its request runs, gives
// its slot back at once; the request is recorded as 499, not as an error,
// and nothing it sent is stored.
func TestAdmissionClientGoneReleasesTheSlot(t *testing.T) {
	h := newAdmissionHarness(t, 3)
	unlock := h.lockUsers()

	running, cancelRunning := context.WithCancel(context.Background())
	queued, cancelQueued := context.WithCancel(context.Background())
	done := make(chan int, 2)
	go func() { c, _ := h.createUser(running, h.adminA); done <- c }()
	h.await("A to hold the slot", func(f, _ int) bool { return f == 1 })
	go func() { c, _ := h.createUser(queued, h.adminB); done <- c }()
	h.await("B to queue", func(_, q int) bool { return q == 1 })

	cancelQueued()
	h.await("B's place to be given back", func(f, q int) bool { return f == 1 && q == 0 })
	cancelRunning() // its INSERT still waits on the lock: the query is cancelled
	h.await("A's slot to be given back", func(f, q int) bool { return f == 0 && q == 0 })
	for range 2 {
		if c := <-done; c != 0 {
			t.Fatalf("a cancelled client got status %d", c)
		}
	}
	unlock()

	for _, stage := range []string{"queued", "running"} {
		if v := h.metric(`mtdb_admission_client_gone_total{stage="` + stage + `"}`); v != 1 {
			t.Errorf("client gone while %s = %v, want 1", stage, v)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		v := h.metric(`mtdb_http_requests_total{method="POST",route="/api/v1/users",status="499"}`)
		if v == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("499 answers = %v, want 2", v)
		}
	}
	if v := h.metric(`mtdb_http_requests_total{method="POST",route="/api/v1/users",status="500"}`); v != 0 {
		t.Errorf("500 answers = %v, want 0", v)
	}
	var n int
	if err := h.owner.QueryRow(context.Background(), "SELECT count(*) FROM users").Scan(&n); err != nil || n != 0 {
		t.Fatalf("users stored by cancelled requests: %d (%v)", n, err)
	}
	if code, _ := h.createUser(context.Background(), h.adminB); code != 201 {
		t.Fatalf("after the cancellations: %d, want 201", code)
	}
}

// TestAdmissionAdmitsAPIKeyRequests: a request made with an API key takes
// an admission slot like a token's: while the one slot is held it queues
// (it does not slip past admission to the database), and it is served when
// the slot frees.
func TestAdmissionAdmitsAPIKeyRequests(t *testing.T) {
	h := newAdmissionHarness(t, 3)
	code, _, body := h.send(context.Background(), h.adminB, "POST", "/api/v1/api-keys", `{"name":"cron","role":"member"}`)
	var k struct {
		Key string `json:"key"`
	}
	if code != 201 || json.Unmarshal(body, &k) != nil || !strings.HasPrefix(k.Key, auth.APIKeyPrefix) {
		t.Fatalf("create API key: %d %s", code, body)
	}
	unlock := h.lockUsers()
	held := make(chan int, 1)
	go func() { c, _ := h.createUser(context.Background(), h.adminA); held <- c }()
	h.await("A to hold the slot", func(f, _ int) bool { return f == 1 })

	listed := make(chan int, 1)
	go func() { c, _, _ := h.send(context.Background(), k.Key, "GET", "/api/v1/users", ""); listed <- c }()
	h.await("the API-key request to queue", func(f, q int) bool { return f == 1 && q == 1 })

	unlock()
	if c := <-held; c != 201 {
		t.Fatalf("A's create: %d, want 201", c)
	}
	if c := <-listed; c != 200 {
		t.Fatalf("the API-key request: %d, want 200", c)
	}
}
