package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/tenant"
)

// cursors encode and check the opaque list cursors (next_cursor, ?after=).
// A cursor is a position in the list order (created_at, id), bound to the
// list it came from — the route, the effective tenant and the filters —
// and signed, so that a malformed, tampered or foreign cursor is refused
// with 400 instead of being followed. It is not what isolates tenants:
// row-level security decides what a page holds, whatever the cursor says.
type cursors struct{ key []byte }

// newCursors derives the signing key from secret (the JWT secret), so that
// the replicas of one deployment accept each other's cursors; without a
// secret the key is random and cursors last as long as the process.
func newCursors(secret string) cursors {
	if secret == "" {
		return cursors{key: []byte(rand.Text())} // crypto/rand: never fails
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("mtdb list cursor v1"))
	return cursors{key: m.Sum(nil)}
}

const (
	cursorVersion = 1
	cursorMACLen  = 16
	// version, created_at (µs), id, binding hash, MAC.
	cursorLen = 1 + 8 + 16 + 8 + cursorMACLen
)

var errBadCursor = errors.New("malformed, tampered or from another list")

// binding is what a cursor is only valid for: the route, the effective
// tenant, and the list's filters (every query parameter but the paging
// ones; knownQuery has refused any the route does not declare).
func binding(c echo.Context) []byte {
	tc, _ := tenant.From(c.Request().Context())
	var b strings.Builder
	b.WriteString(c.Path())
	b.WriteByte(0)
	b.WriteString(tc.TenantID.String())
	q := c.QueryParams()
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(pageParams, name) {
			b.WriteByte(0)
			b.WriteString(name + "=" + strings.Join(q[name], ","))
		}
	}
	h := sha256.Sum256([]byte(b.String()))
	return h[:8]
}

func (k cursors) mac(body []byte) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write(body)
	return m.Sum(nil)[:cursorMACLen]
}

// encode returns the cursor of p for the list bound by bind.
func (k cursors) encode(p database.Position, bind []byte) string {
	b := make([]byte, 0, cursorLen)
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(p.CreatedAt.UnixMicro()))
	b = append(b, p.ID[:]...)
	b = append(b, bind...)
	b = append(b, k.mac(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decode returns the position of cursor s, which must have been made by
// encode for the same binding.
func (k cursors) decode(s string, bind []byte) (database.Position, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != cursorLen || b[0] != cursorVersion {
		return database.Position{}, errBadCursor
	}
	body, mac := b[:cursorLen-cursorMACLen], b[cursorLen-cursorMACLen:]
	if !hmac.Equal(mac, k.mac(body)) || !hmac.Equal(body[25:33], bind) {
		return database.Position{}, errBadCursor
	}
	var p database.Position
	p.CreatedAt = time.UnixMicro(int64(binary.BigEndian.Uint64(body[1:9]))).UTC()
	copy(p.ID[:], body[9:25])
	return p, nil
}

// listRequest reads the paging of a list request: ?limit= (default 100),
// ?offset=, ?after= (a next_cursor of the same list) and ?count=
// (exact, the default, or none). It only parses: the bounds are the
// service's to check (database.Page.Check), so an unparsable number is
// passed on as an out-of-range one.
func (k cursors) listRequest(c echo.Context) (database.Page, error) {
	if err := refuseNULQuery(c); err != nil { // filters reach SQL; PostgreSQL text refuses NUL
		return database.Page{}, err
	}
	p := database.Page{Limit: database.DefaultLimit}
	if v := c.QueryParam("limit"); v != "" {
		p.Limit = atoiOr(v, 0)
	}
	if v := c.QueryParam("offset"); v != "" {
		p.Offset = atoiOr(v, -1)
	}
	switch c.QueryParam("count") {
	case "", "exact":
	case "none":
		p.NoCount = true
	default:
		return database.Page{}, fieldsError(map[string]string{"count": "must be exact or none"})
	}
	if v := c.QueryParam("after"); v != "" {
		pos, err := k.decode(v, binding(c))
		if err != nil {
			return database.Page{}, fieldsError(map[string]string{"after": "must be a next_cursor of the same list (" + err.Error() + ")"})
		}
		p.After = &pos
	}
	return p, nil
}

// nextCursor is the next_cursor of a page: null on the last page.
func (k cursors) nextCursor(c echo.Context, next *database.Position) *string {
	if next == nil {
		return nil
	}
	v := k.encode(*next, binding(c))
	return &v
}

// atoiOr parses s as a decimal integer, or returns bad.
func atoiOr(s string, bad int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return bad
	}
	return n
}
