package tenants

import (
	"context"
	"fmt"

	"entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/ent/predicate"
	enttenant "github.com/mtdb/mtdb/ent/tenant"
	"github.com/mtdb/mtdb/internal/database"
	"github.com/mtdb/mtdb/internal/errs"
	"github.com/mtdb/mtdb/internal/tenant"
)

// repairBatch is how many tenants RepairMetadata reads per transaction.
const repairBatch = 100

// RepairMetadata finds every tenant (soft-deleted ones included) whose
// metadata breaks CheckMetadata's bounds, as stored before the bounds
// existed, calls report with its id and the problem, and unless dryRun
// replaces the metadata with {}. It returns how many tenants it found.
// It must run as platform_admin (it reads every tenant through row-level
// security like any request).
//
// Rows are never rendered unbounded: tenants holding a number whose
// rendering is too long are found by the database without printing the
// number (its magnitude and scale decide); only the others are read and
// checked here, in batches. Errors: Forbidden (not platform_admin), or the
// database's.
func (s *Service) RepairMetadata(ctx context.Context, dryRun bool, report func(id uuid.UUID, problem string)) (int, error) {
	tc, err := caller(ctx)
	if err != nil {
		return 0, err
	}
	if tc.Role != tenant.RolePlatformAdmin {
		return 0, errs.Forbidden("only a platform_admin can repair metadata")
	}
	found := 0
	fix := func(tx *ent.Tx, ids []uuid.UUID) error {
		if dryRun || len(ids) == 0 {
			return nil
		}
		return tx.Tenant.Update().Where(enttenant.IDIn(ids...)).SetMetadata(map[string]any{}).Exec(ctx)
	}
	// Pass 1: numbers too long to render, without rendering them.
	err = database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		ids, err := tx.Tenant.Query().Where(longNumber()).Order(enttenant.ByID()).IDs(ctx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			report(id, fmt.Sprintf("contains a number longer than %d characters when rendered", MaxNumberLength))
		}
		found += len(ids)
		return fix(tx, ids)
	})
	if err != nil {
		return found, translate(err, "tenant")
	}
	// Pass 2: the rest, bounded now, checked in Go batch by batch.
	after := uuid.Nil
	for {
		var n int
		err := database.WithTx(ctx, s.client, func(tx *ent.Tx) error {
			rows, err := tx.Tenant.Query().
				Where(enttenant.IDGT(after), predicate.Tenant(sql.NotPredicates(longNumber()))).
				Order(enttenant.ByID()).Limit(repairBatch).All(ctx)
			if err != nil {
				return err
			}
			n = len(rows)
			var bad []uuid.UUID
			for _, t := range rows {
				after = t.ID
				if _, err := RenderMetadata(t.Metadata); err != nil {
					report(t.ID, err.Error())
					bad = append(bad, t.ID)
				}
			}
			found += len(bad)
			return fix(tx, bad)
		})
		if err != nil {
			return found, translate(err, "tenant")
		}
		if n < repairBatch {
			return found, nil
		}
	}
}

// longNumber matches tenants whose metadata holds a number PostgreSQL
// would print in more than MaxNumberLength characters. Magnitude and scale
// are read from the numeric itself; only a number already known to be
// short is converted to text to measure it.
func longNumber() predicate.Tenant {
	return predicate.Tenant(func(s *sql.Selector) {
		s.Where(sql.ExprP(fmt.Sprintf(`EXISTS (SELECT 1 FROM pg_catalog.jsonb_path_query(%s, 'strict $.**') AS v(j)
			WHERE pg_catalog.jsonb_typeof(v.j) = 'number' AND CASE
				WHEN pg_catalog.abs(v.j::numeric) >= 1e%[2]d OR pg_catalog.scale(v.j::numeric) >= %[2]d THEN true
				ELSE pg_catalog.length(v.j::numeric::text) > %[2]d END)`, s.C(enttenant.FieldMetadata), MaxNumberLength)))
	})
}
