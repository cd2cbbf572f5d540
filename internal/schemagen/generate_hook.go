package schemagen

import (
	"context"
	"fmt"
	"strings"

	"ariga.io/atlas/sql/postgres"
	atlas "ariga.io/atlas/sql/schema"
	entschema "entgo.io/ent/dialect/sql/schema"
)

// desiredHook returns the ent diff hook that completes the desired schema
// with what Ent cannot express, so that Atlas plans these constraints and
// compares them on the next diff like any other:
//
//   - every tenant-scoped table gets the foreign key tenant_id -> tenants(id);
//   - a foreign key between two tenant-scoped tables gets tenant_id in front
//     of its columns on both sides, so a row can only reference rows of its
//     own tenant; the referenced table gets a unique key (tenant_id, ...)
//     when it has none (the TenantScoped mixin declares (tenant_id, id));
//   - tenants gets its case-insensitive name indexes (for the sibling-name
//     check; not unique: see addTenantNameIndexes).
//
// audit_events has a tenant_id but no foreign key (hasTenantColumn is false
// for it): the events of a tenant outlive the tenant.
//
// Ent normalizes its own tables on the dev database before diffing; the
// additions are normalized the same way (norm), so their expressions read as
// PostgreSQL prints them and regenerating yields no spurious change.
func desiredHook(ctx context.Context, norm atlas.Normalizer) entschema.DiffHook {
	return func(next entschema.Differ) entschema.Differ {
		return entschema.DiffFunc(func(current, desired *atlas.Schema) ([]atlas.Change, error) {
			if err := completeSchema(desired); err != nil {
				return nil, err
			}
			ns, err := norm.NormalizeSchema(ctx, atlas.New(desired.Name).AddAttrs(desired.Attrs...).AddTables(desired.Tables...))
			if err != nil {
				return nil, fmt.Errorf("normalize desired schema: %w", err)
			}
			tables := make([]*atlas.Table, len(desired.Tables))
			for i, t := range desired.Tables {
				nt, ok := ns.Table(t.Name)
				if !ok {
					return nil, fmt.Errorf("table %q not found after normalization", t.Name)
				}
				tables[i] = nt
			}
			return next.Diff(current, &atlas.Schema{Name: current.Name, Attrs: current.Attrs, Tables: tables})
		})
	}
}

// completeSchema adds the tenant foreign keys and the tenants name indexes
// to s. It is idempotent.
func completeSchema(s *atlas.Schema) error {
	tenants, ok := s.Table(tenantsTable)
	if !ok {
		return fmt.Errorf("desired schema has no %s table", tenantsTable)
	}
	for _, t := range s.Tables {
		if !hasTenantColumn(t) {
			continue
		}
		if err := scopeForeignKeys(t, tenants); err != nil {
			return err
		}
	}
	return addTenantNameIndexes(tenants)
}

// scopeForeignKeys adds tenant_id to the foreign keys of t that reference a
// tenant-scoped table, and the foreign key tenant_id -> tenants(id).
func scopeForeignKeys(t, tenants *atlas.Table) error {
	tc, _ := t.Column(tenantColumn)
	for _, fk := range t.ForeignKeys {
		if !hasTenantColumn(fk.RefTable) || fk.Columns[0].Name == tenantColumn {
			continue
		}
		rc, _ := fk.RefTable.Column(tenantColumn)
		fk.Columns = append([]*atlas.Column{tc}, fk.Columns...)
		fk.RefColumns = append([]*atlas.Column{rc}, fk.RefColumns...)
		ensureUnique(fk.RefTable, fk.RefColumns)
	}
	name := t.Name + "_tenant_id_fkey"
	if _, ok := t.ForeignKey(name); ok {
		return nil
	}
	id, ok := tenants.Column("id")
	if !ok {
		return fmt.Errorf("table %s has no id column", tenantsTable)
	}
	t.AddForeignKeys(atlas.NewForeignKey(name).
		AddColumns(tc).
		SetRefTable(tenants).
		AddRefColumns(id).
		SetOnUpdate(atlas.NoAction).
		SetOnDelete(atlas.Restrict))
	return nil
}

// ensureUnique adds a unique index on cols to t unless one exists.
func ensureUnique(t *atlas.Table, cols []*atlas.Column) {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	for _, idx := range t.Indexes {
		if !idx.Unique || len(idx.Parts) != len(cols) {
			continue
		}
		same := true
		for i, p := range idx.Parts {
			if p.C == nil || p.C.Name != names[i] {
				same = false
				break
			}
		}
		if same {
			return
		}
	}
	t.AddIndexes(atlas.NewUniqueIndex(t.Name + "_" + strings.Join(names, "_") + "_key").AddColumns(cols...))
}

// Names of the tenants name indexes.
const (
	parentNameIndex     = "tenants_parent_name_idx"
	subsidiaryNameIndex = "tenants_subsidiary_name_idx"
)

// addTenantNameIndexes indexes tenant names, ignoring case, among live
// parents and among the live subsidiaries of one parent. They are not
// unique: a name conflicts only with a sibling the writer can see (see
// tenants.checkUniqueName), and a unique index would answer 409 about
// tenants the writer cannot see (a subsidiary renaming itself onto a
// sibling's name, an organisation onto another's), an existence oracle.
func addTenantNameIndexes(t *atlas.Table) error {
	name, ok1 := t.Column("name")
	parent, ok2 := t.Column("parent_tenant_id")
	if !ok1 || !ok2 {
		return fmt.Errorf("table %s lacks name or parent_tenant_id", tenantsTable)
	}
	lower := &atlas.RawExpr{X: fmt.Sprintf("lower(%s)", name.Name)}
	if _, ok := t.Index(parentNameIndex); !ok {
		t.AddIndexes(atlas.NewIndex(parentNameIndex).
			AddExprs(lower).
			AddAttrs(&postgres.IndexPredicate{P: "parent_tenant_id IS NULL AND deleted_at IS NULL"}))
	}
	if _, ok := t.Index(subsidiaryNameIndex); !ok {
		t.AddIndexes(atlas.NewIndex(subsidiaryNameIndex).
			AddColumns(parent).
			AddExprs(lower).
			AddAttrs(&postgres.IndexPredicate{P: "parent_tenant_id IS NOT NULL AND deleted_at IS NULL"}))
	}
	return nil
}
