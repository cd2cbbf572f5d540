package deploy

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"sigs.k8s.io/yaml"

	"github.com/mtdb/mtdb/internal/health"
	"github.com/mtdb/mtdb/internal/migrate"
	"github.com/mtdb/mtdb/internal/pgtest"
	"github.com/mtdb/mtdb/internal/tenant"
)

// composeFile is the part of the Compose specification the checks read.
type composeFile struct {
	Services map[string]struct {
		Image       string            `json:"image"`
		Command     []string          `json:"command"`
		Environment map[string]string `json:"environment"`
		Volumes     []string          `json:"volumes"`
		DependsOn   map[string]struct {
			Condition string `json:"condition"`
		} `json:"depends_on"`
		ReadOnly bool     `json:"read_only"`
		User     string   `json:"user"`
		CapDrop  []string `json:"cap_drop"`
	} `json:"services"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile("../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

// TestCompose checks the order (postgres healthy → migrate exits 0 →
// api), the commands, and that the API logs in as the dedicated role with
// secrets taken from the env file.
func TestCompose(t *testing.T) {
	c := readCompose(t)
	pg, mig, api := c.Services["postgres"], c.Services["migrate"], c.Services["api"]
	if !slices.Equal(mig.Command, []string{"migrate", "apply"}) {
		t.Errorf("migrate command = %q, want [migrate apply]", mig.Command)
	}
	if !slices.Equal(api.Command, []string{"serve"}) {
		t.Errorf("api command = %q, want [serve]", api.Command)
	}
	if got := mig.DependsOn["postgres"].Condition; got != "service_healthy" {
		t.Errorf("migrate depends on postgres with %q, want service_healthy", got)
	}
	if got := api.DependsOn["migrate"].Condition; got != "service_completed_successfully" {
		t.Errorf("api depends on migrate with %q, want service_completed_successfully", got)
	}
	if mig.Image == "" || mig.Image != api.Image {
		t.Errorf("migrate image %q and api image %q must be the same mtdb image", mig.Image, api.Image)
	}
	for name, s := range map[string]struct {
		url  string
		user string
	}{"api DATABASE_URL": {api.Environment["DATABASE_URL"], "mtdb_api"}, "migrate MIGRATION_DATABASE_URL": {mig.Environment["MIGRATION_DATABASE_URL"], "postgres"}} {
		// The password is a ${...} reference into the env file, never a literal.
		if !strings.HasPrefix(s.url, "postgres://"+s.user+":${") {
			t.Errorf("%s = %q: want postgres://%s:${...}@...", name, s.url, s.user)
		}
	}
	for _, key := range []string{"POSTGRES_PASSWORD", "MTDB_API_PASSWORD"} {
		if v := pg.Environment[key]; !strings.HasPrefix(v, "${"+key+":?") {
			t.Errorf("postgres %s = %q, want a required ${%s:?...} from the env file", key, v, key)
		}
	}
	if v := api.Environment["JWT_SECRET_KEY"]; !strings.HasPrefix(v, "${JWT_SECRET_KEY:?") {
		t.Errorf("api JWT_SECRET_KEY = %q, want a required ${JWT_SECRET_KEY:?...}", v)
	}
	if !slices.ContainsFunc(pg.Volumes, func(v string) bool {
		return strings.HasPrefix(v, "./deploy/compose/initdb.sql:/docker-entrypoint-initdb.d/")
	}) {
		t.Errorf("postgres does not mount deploy/compose/initdb.sql as an init script: %q", pg.Volumes)
	}
	if !api.ReadOnly || api.User == "" || strings.HasPrefix(api.User, "0") || !slices.Equal(api.CapDrop, []string{"ALL"}) {
		t.Errorf("api: read_only %v, user %q, cap_drop %q; want read-only, non-root, all capabilities dropped", api.ReadOnly, api.User, api.CapDrop)
	}
	example, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"POSTGRES_PASSWORD", "MTDB_API_PASSWORD", "JWT_SECRET_KEY"} {
		if !strings.Contains(string(example), "\n"+key+"=") {
			t.Errorf(".env.example does not name %s", key)
		}
	}
}

// TestComposeRoles runs deploy/compose/initdb.sql on an empty database,
// then the migrations, and checks that the API's login role it creates is
// enough to serve: not a superuser, reads the pending migrations, passes
// the RLS self-check, and enters the tenant context.
func TestComposeRoles(t *testing.T) {
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("psql is not installed")
	}
	db := pgtest.Empty(t)
	const password = "compose-test-password"
	cmd := exec.Command(psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "compose/initdb.sql", db.OwnerURL)
	cmd.Env = append(os.Environ(), "MTDB_API_PASSWORD="+password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("initdb.sql: %v\n%s", err, out)
	}
	ctx := context.Background()
	if _, err := migrate.Apply(ctx, db.OwnerURL); err != nil {
		t.Fatalf("migrate apply: %v", err)
	}
	u, err := url.Parse(db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("mtdb_api", password)
	api, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()

	var super, bypass bool
	if err := api.QueryRowContext(ctx, `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&super, &bypass); err != nil {
		t.Fatal(err)
	}
	if super || bypass {
		t.Errorf("mtdb_api: superuser %v, bypassrls %v", super, bypass)
	}
	if n, err := migrate.PendingFrom(ctx, api, ""); err != nil || n != 0 {
		t.Errorf("pending migrations as mtdb_api: %d, %v", n, err)
	}
	if problems, err := health.RLSCheck(api, tenant.AppRole, migrate.TenantScopedTables())(ctx); err != nil || len(problems) > 0 {
		t.Errorf("RLS self-check as mtdb_api: %q, %v", problems, err)
	}
	tx, err := api.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	q, args := tenant.SettingsStatement(tenant.Context{Role: tenant.RoleMember}, 0)
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		t.Fatalf("entering the tenant context as mtdb_api: %v", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil || n != 0 {
		t.Errorf("users without a tenant as mtdb_api: %d rows, %v", n, err)
	}
}
