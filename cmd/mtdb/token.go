package main

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/tenant"
)

// tokenCmd is `mtdb token --role ROLE [--tenant UUID] [--sub S] [--ttl 1h]`.
func (e *cmdEnv) tokenCmd(_ context.Context, args []string) error {
	fs, cfgFile := e.flagSet("token")
	role := fs.String("role", "", "platform_admin, tenant_admin or member (required)")
	tenantID := fs.String("tenant", "", "tenant UUID (required except for platform_admin)")
	sub := fs.String("sub", "", "subject (default: the role name)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("token: unexpected argument %q", fs.Arg(0))
	}
	r, err := tenant.ParseRole(*role)
	if err != nil {
		return usagef("token: --role: %v (platform_admin, tenant_admin or member)", err)
	}
	var tid uuid.UUID
	if *tenantID != "" {
		if tid, err = uuid.Parse(*tenantID); err != nil {
			return usagef("token: --tenant: %q is not a UUID", *tenantID)
		}
	}
	if r != tenant.RolePlatformAdmin && tid == uuid.Nil {
		return usagef("token: --tenant is required for role %s", r)
	}
	if *ttl <= 0 {
		return usagef("token: --ttl must be positive")
	}
	if *sub == "" {
		*sub = string(r)
	}
	cfg, err := e.loadConfig(fs, *cfgFile, nil)
	if err != nil {
		return err
	}
	tok, err := auth.Sign([]byte(cfg.JWT.SecretKey), auth.Claims{Subject: *sub, Role: r, TenantID: tid}, *ttl, cfg.JWT.Issuer, cfg.JWT.Audience)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, tok)
	return nil
}
