// Package seed fills a database with a small demo: one organisation with a
// subsidiary and a second, unrelated organisation, each with a few users
// and projects, so that `mtdb dev` can print working tokens and curl lines
// and the isolation between the organisations can be tried at once.
//
// Everything goes through the ent client as the API would, inside a tenant
// context, so row-level security and the tenant_id stamp apply to the seed
// as to any request.
package seed

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/ent"
	"github.com/mtdb/mtdb/ent/project"
	enttenant "github.com/mtdb/mtdb/ent/tenant"
	"github.com/mtdb/mtdb/ent/user"
	"github.com/mtdb/mtdb/internal/tenant"
)

// Tenant is one seeded tenant and its administrator, enough to mint a token
// (`mtdb token --role tenant_admin --tenant ID --sub AdminEmail`).
type Tenant struct {
	ID         uuid.UUID
	Name       string
	Type       string
	AdminID    uuid.UUID
	AdminEmail string
}

// Result says what the demo consists of.
type Result struct {
	// Created is false when everything already existed (nothing was written).
	Created bool
	// Organisation is the parent tenant, Subsidiary its subsidiary, Other an
	// unrelated parent tenant that must see none of the first two.
	Organisation, Subsidiary, Other Tenant
}

type userSpec struct{ email, name, role string }

type tenantSpec struct {
	name     string
	metadata map[string]any
	users    []userSpec // the first is the tenant_admin named in Result
	projects []string   // owned by the first user
}

// demo returns the demo organisation, its subsidiary and the other
// organisation (a function, not package variables: the specs hold maps).
func demo() (acme, acmeLabs, globex tenantSpec) {
	acme = tenantSpec{
		name:     "Acme Corporation",
		metadata: map[string]any{"plan": "enterprise", "region": "eu"},
		users: []userSpec{
			{"admin@acme.example", "Ada Admin", "tenant_admin"},
			{"dev@acme.example", "Dev Eloper", "member"},
		},
		projects: []string{"Website Relaunch", "Billing Platform"},
	}
	acmeLabs = tenantSpec{
		name:     "Acme Labs",
		metadata: map[string]any{"cost_center": "R&D"},
		users: []userSpec{
			{"admin@labs.acme.example", "Lab Admin", "tenant_admin"},
			{"researcher@labs.acme.example", "Rita Researcher", "member"},
		},
		projects: []string{"Prototype X"},
	}
	globex = tenantSpec{
		name:     "Globex Corporation",
		metadata: map[string]any{"plan": "starter"},
		users: []userSpec{
			{"admin@globex.example", "Gus Admin", "tenant_admin"},
			{"ops@globex.example", "Olga Ops", "member"},
		},
		projects: []string{"Supply Chain"},
	}
	return acme, acmeLabs, globex
}

// Demo seeds the demo data through client and returns its ids. It is
// idempotent: what exists (matched by tenant name, user e-mail and project
// name) is kept, what is missing is created, so a second run writes nothing
// and a run interrupted half-way is completed by the next.
func Demo(ctx context.Context, client *ent.Client) (*Result, error) {
	s := seeder{client: client}
	acme, acmeLabs, globex := demo()
	res := &Result{}
	var err error
	if res.Organisation, err = s.tenant(ctx, acme, nil); err != nil {
		return nil, err
	}
	if res.Subsidiary, err = s.tenant(ctx, acmeLabs, &res.Organisation.ID); err != nil {
		return nil, err
	}
	if res.Other, err = s.tenant(ctx, globex, nil); err != nil {
		return nil, err
	}
	res.Created = s.created
	return res, nil
}

type seeder struct {
	client  *ent.Client
	created bool
}

// tenant gets or creates the tenant of spec with its users and projects.
func (s *seeder) tenant(ctx context.Context, spec tenantSpec, parent *uuid.UUID) (Tenant, error) {
	admin := tenant.With(ctx, tenant.Context{Role: tenant.RolePlatformAdmin, UserID: "seed"})
	q := s.client.Tenant.Query().Where(enttenant.NameEqualFold(spec.name), enttenant.DeletedAtIsNil())
	if parent == nil {
		q = q.Where(enttenant.ParentTenantIDIsNil())
	} else {
		q = q.Where(enttenant.ParentTenantID(*parent))
	}
	t, err := q.Only(admin)
	if ent.IsNotFound(err) {
		typ := enttenant.TenantTypeParent
		if parent != nil {
			typ = enttenant.TenantTypeSubsidiary
		}
		t, err = s.client.Tenant.Create().
			SetName(spec.name).SetTenantType(typ).SetNillableParentTenantID(parent).
			SetMetadata(spec.metadata).Save(admin)
		s.created = s.created || err == nil
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("seed: tenant %q: %w", spec.name, err)
	}
	out := Tenant{ID: t.ID, Name: t.Name, Type: string(t.TenantType)}
	// Users and projects are written as the tenant's own administrator
	// would: in its tenant context, stamped by the hook, checked by RLS.
	in := tenant.With(ctx, tenant.Context{TenantID: t.ID, Role: tenant.RoleTenantAdmin, UserID: "seed"})
	for i, us := range spec.users {
		u, err := s.user(in, t.ID, us)
		if err != nil {
			return Tenant{}, err
		}
		if i == 0 {
			out.AdminID, out.AdminEmail = u.ID, u.Email
		}
	}
	for _, name := range spec.projects {
		if err := s.project(in, t.ID, name, out.AdminID); err != nil {
			return Tenant{}, err
		}
	}
	return out, nil
}

// user gets or creates a user of tenantID. The tenant condition only picks
// among the rows RLS shows (a parent also sees its subsidiaries' users).
func (s *seeder) user(ctx context.Context, tenantID uuid.UUID, spec userSpec) (*ent.User, error) {
	u, err := s.client.User.Query().Where(user.TenantID(tenantID), user.Email(spec.email)).Only(ctx)
	if ent.IsNotFound(err) {
		u, err = s.client.User.Create().
			SetEmail(spec.email).SetDisplayName(spec.name).SetRole(user.Role(spec.role)).Save(ctx)
		s.created = s.created || err == nil
	}
	if err != nil {
		return nil, fmt.Errorf("seed: user %q: %w", spec.email, err)
	}
	return u, nil
}

// project gets or creates the project name of tenantID, owned by owner.
func (s *seeder) project(ctx context.Context, tenantID uuid.UUID, name string, owner uuid.UUID) error {
	exists, err := s.client.Project.Query().Where(project.TenantID(tenantID), project.Name(name)).Exist(ctx)
	if err == nil && !exists {
		err = s.client.Project.Create().
			SetName(name).SetDescription("Demo project of the seed data.").SetOwnerID(owner).Exec(ctx)
		s.created = s.created || err == nil
	}
	if err != nil {
		return fmt.Errorf("seed: project %q: %w", name, err)
	}
	return nil
}
