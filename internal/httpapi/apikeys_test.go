package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

type apiKeyOut struct {
	ID         uuid.UUID  `json:"id"`
	TenantID   uuid.UUID  `json:"tenant_id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Role       string     `json:"role"`
	Key        string     `json:"key"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// TestAPIKeysHTTP: the lifecycle of a key through the whole stack, as
// Bearer and as X-API-Key, acting in its tenant and in a subsidiary.
func TestAPIKeysHTTP(t *testing.T) {
	o := newOrg(t)
	var k apiKeyOut
	r := o.do(o.adminA, "POST", "/api/v1/api-keys", map[string]any{"name": "nightly", "role": "member"}).want(t, 201, &k)
	if !strings.HasPrefix(k.Key, "mtdb_"+k.Prefix+"_") || k.TenantID != o.A.TenantID || k.Role != "member" {
		t.Fatalf("created %+v", k)
	}
	if r.Header.Get("Location") != "/api/v1/api-keys/"+k.ID.String() || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", r.Header)
	}

	// The key reads as a member of A, through both headers.
	o.do(k.Key, "GET", "/api/v1/projects", nil).want(t, 200, nil)
	o.do("", "GET", "/api/v1/users", nil, "X-API-Key", k.Key).want(t, 200, nil)
	// ...may name its subsidiary, not another organisation.
	o.do(k.Key, "GET", "/api/v1/projects", nil, "X-Tenant-ID", o.A1.TenantID.String()).want(t, 200, nil)
	o.do(k.Key, "GET", "/api/v1/projects", nil, "X-Tenant-ID", o.B.TenantID.String()).wantError(t, 403, "FORBIDDEN", "")
	// ...and has a member's rights only.
	o.do(k.Key, "POST", "/api/v1/projects", map[string]any{"name": "x", "owner_id": uuid.New()}).wantError(t, 403, "FORBIDDEN", "")
	o.do(k.Key, "POST", "/api/v1/api-keys", map[string]any{"name": "escalate", "role": "tenant_admin"}).wantError(t, 403, "FORBIDDEN", "")

	// Lists show no secret.
	r = o.do(o.adminA, "GET", "/api/v1/api-keys", nil).want(t, 200, nil)
	if strings.Contains(string(r.Body), k.Key) || strings.Contains(string(r.Body), "key_hash") || !strings.Contains(string(r.Body), k.Prefix) {
		t.Fatalf("list %s", r.Body)
	}
	o.do(o.adminA, "GET", "/api/v1/api-keys?bogus=1", nil).wantError(t, 400, "VALIDATION_ERROR", "bogus")

	// Bad credentials: 401 naming the class.
	for name, hdr := range map[string][]string{
		"forged secret":      {"Authorization", "Bearer " + k.Key[:len(k.Key)-3] + "AAA"},
		"malformed key":      {"X-API-Key", "mtdb_nope"},
		"not an mtdb key":    {"X-API-Key", "sk_live_123"},
		"both headers":       {"X-API-Key", k.Key, "Authorization", "Bearer " + o.adminA},
		"empty X-API-Key":    {"X-API-Key", " "},
		"key in wrong place": {"Authorization", k.Key},
	} {
		t.Run(name, func(t *testing.T) {
			e := o.do("", "GET", "/api/v1/projects", nil, hdr...).wantError(t, 401, "UNAUTHORIZED", "")
			if strings.Contains(e.Error.Message, k.Key[17:]) {
				t.Fatalf("message leaks the key: %q", e.Error.Message)
			}
		})
	}

	// Revocation is immediate.
	o.do(o.adminA, "DELETE", "/api/v1/api-keys/"+k.ID.String(), nil).want(t, 204, nil)
	e := o.do(k.Key, "GET", "/api/v1/projects", nil).wantError(t, 401, "UNAUTHORIZED", "")
	if !strings.Contains(e.Error.Message, "API key") {
		t.Fatalf("message %q", e.Error.Message)
	}
	o.do(o.adminA, "DELETE", "/api/v1/api-keys/"+k.ID.String(), nil).wantError(t, 404, "NOT_FOUND", "")

	// Expired keys are 401.
	var short apiKeyOut
	o.do(o.adminA, "POST", "/api/v1/api-keys", map[string]any{"name": "short", "role": "tenant_admin",
		"expires_at": time.Now().Add(400 * time.Millisecond).UTC().Format(time.RFC3339Nano)}).want(t, 201, &short)
	o.do(short.Key, "GET", "/api/v1/users", nil).want(t, 200, nil)
	time.Sleep(500 * time.Millisecond)
	e = o.do(short.Key, "GET", "/api/v1/users", nil).wantError(t, 401, "UNAUTHORIZED", "")
	if !strings.Contains(e.Error.Message, "expired") {
		t.Fatalf("message %q", e.Error.Message)
	}

	// No stored replay of a secret.
	o.do(o.adminA, "POST", "/api/v1/api-keys", map[string]any{"name": "x", "role": "member"}, "Idempotency-Key", "k-1").wantError(t, 400, "VALIDATION_ERROR", "Idempotency-Key")

	// Creation rules.
	o.do(o.memberA, "POST", "/api/v1/api-keys", map[string]any{"name": "x", "role": "member"}).wantError(t, 403, "FORBIDDEN", "")
	o.do(o.memberA, "GET", "/api/v1/api-keys", nil).wantError(t, 403, "FORBIDDEN", "")
	o.do(o.adminA, "POST", "/api/v1/api-keys", map[string]any{"name": "x", "role": "platform_admin"}).wantError(t, 400, "VALIDATION_ERROR", "role")
	o.do(o.adminA, "POST", "/api/v1/api-keys", map[string]any{"name": "x", "role": "member", "expires_at": "2001-01-01T00:00:00Z"}).wantError(t, 400, "VALIDATION_ERROR", "expires_at")
	o.do(o.platform, "POST", "/api/v1/api-keys", map[string]any{"name": "x", "role": "member"}).wantError(t, 400, "VALIDATION_ERROR", "tenant")
	var ops apiKeyOut
	o.do(o.platform, "POST", "/api/v1/api-keys", map[string]any{"name": "ops", "role": "tenant_admin"}, "X-Tenant-ID", o.B.TenantID.String()).want(t, 201, &ops)
	if ops.TenantID != o.B.TenantID {
		t.Fatalf("platform-created key in %s", ops.TenantID)
	}
}

// TestAPIKeyIsolationHTTP attacks another organisation's keys with tokens
// and API keys of the attacker: list, get, delete, and acting with a key
// in the victim's tenant. The victim's key keeps working.
func TestAPIKeyIsolationHTTP(t *testing.T) {
	o := newOrg(t)
	var victim, attacker apiKeyOut
	o.do(o.adminA, "POST", "/api/v1/api-keys", map[string]any{"name": "victim", "role": "tenant_admin"}).want(t, 201, &victim)
	o.do(o.adminB, "POST", "/api/v1/api-keys", map[string]any{"name": "attacker", "role": "tenant_admin"}).want(t, 201, &attacker)
	for name, cred := range map[string]string{"token": o.adminB, "api key": attacker.Key, "subsidiary admin": o.adminA1} {
		t.Run(name, func(t *testing.T) {
			o.do(cred, "GET", "/api/v1/api-keys/"+victim.ID.String(), nil).wantError(t, 404, "NOT_FOUND", "")
			o.do(cred, "DELETE", "/api/v1/api-keys/"+victim.ID.String(), nil).wantError(t, 404, "NOT_FOUND", "")
			r := o.do(cred, "GET", "/api/v1/api-keys", nil).want(t, 200, nil)
			if strings.Contains(string(r.Body), victim.ID.String()) || strings.Contains(string(r.Body), victim.Prefix) {
				t.Fatalf("victim listed: %s", r.Body)
			}
			o.do(cred, "GET", "/api/v1/api-keys", nil, "X-Tenant-ID", o.A.TenantID.String()).wantError(t, 403, "FORBIDDEN", "")
		})
	}
	// The attacker's key cannot act in the victim's tenant.
	o.do(attacker.Key, "GET", "/api/v1/users", nil, "X-Tenant-ID", o.A.TenantID.String()).wantError(t, 403, "FORBIDDEN", "")
	// The victim's key is untouched and works.
	o.do(o.adminA, "GET", "/api/v1/api-keys/"+victim.ID.String(), nil).want(t, 200, nil)
	o.do(victim.Key, "GET", "/api/v1/users", nil).want(t, http.StatusOK, nil)
}
