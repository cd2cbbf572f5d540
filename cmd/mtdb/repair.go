package main

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/tenant"
	"github.com/mtdb/mtdb/internal/tenants"
)

// repairMetadataCmd is `mtdb repair-metadata [--dry-run]`: it connects with
// DATABASE_URL, acting as platform_admin through the restricted role, and
// resets to {} the metadata of every tenant stored before the metadata
// bounds existed that breaks them (tenants.CheckMetadata), printing one
// line per tenant and a last line "repaired: N" ("found: N" with
// --dry-run, which changes nothing).
func (e *cmdEnv) repairMetadataCmd(ctx context.Context, args []string) error {
	fs, cfgFile := e.flagSet("repair-metadata")
	dryRun := fs.Bool("dry-run", false, "only list the tenants whose metadata breaks the bounds")
	_, db, err := e.openConfigured(ctx, fs, *cfgFile, args)
	if err != nil {
		return err
	}
	defer db.Close()
	action := "reset to {}"
	if *dryRun {
		action = "would be reset to {}"
	}
	ctx = tenant.With(ctx, tenant.Context{Role: tenant.RolePlatformAdmin, UserID: "mtdb repair-metadata"})
	n, err := tenants.NewService(db.Ent).RepairMetadata(ctx, *dryRun, func(id uuid.UUID, problem string) {
		fmt.Fprintf(e.stdout, "tenant %s: metadata %s: %s\n", id, problem, action)
	})
	if err != nil {
		return fmt.Errorf("repair-metadata: %w", err)
	}
	if *dryRun {
		fmt.Fprintf(e.stdout, "found: %d\n", n)
	} else {
		fmt.Fprintf(e.stdout, "repaired: %d\n", n)
	}
	return nil
}
