package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/mtdb/mtdb/internal/auth"
	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/tenant"
)

// tokenCmd is `mtdb token --role ROLE [--tenant UUID] [--sub S] [--ttl 1h]
// [--alg ALG --key FILE [--kid K]]`. HS256 signs with JWT_SECRET_KEY; the
// asymmetric algorithms sign with a PEM private key, as an identity
// provider whose JWKS the server trusts would. The tenant and role go to
// JWT_TENANT_CLAIM and JWT_ROLE_CLAIM (through JWT_ROLE_MAP backwards).
func (e *cmdEnv) tokenCmd(_ context.Context, args []string) error {
	fs, cfgFile := e.flagSet("token")
	role := fs.String("role", "", "platform_admin, tenant_admin or member (required)")
	tenantID := fs.String("tenant", "", "tenant UUID (required except for platform_admin)")
	sub := fs.String("sub", "", "subject (default: the role name)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	alg := fs.String("alg", "HS256", "HS256 (JWT_SECRET_KEY), or RS256, RS384, RS512, PS256, ES256, ES384, EdDSA with --key")
	keyFile := fs.String("key", "", "PEM private key file for an asymmetric --alg")
	kid := fs.String("kid", "", "key id (kid header) of --key, as published in the JWKS")
	if err := e.parse(fs, args); err != nil {
		return err
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
	signer, err := newSigner(cfg, *alg, *keyFile, *kid)
	if err != nil {
		return err
	}
	tok, err := signer.Sign(auth.Claims{Subject: *sub, Role: r, TenantID: tid}, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, tok)
	return nil
}

// newSigner returns the token signer of `mtdb token` and `mtdb dev`: HS*
// with JWT_SECRET_KEY, or alg with the PEM key in keyFile; claims at the
// configured paths.
func newSigner(cfg *config.Config, alg, keyFile, kid string) (auth.Signer, error) {
	roleMap, err := auth.ParseRoleMap(cfg.JWT.RoleMap)
	if err != nil {
		return auth.Signer{}, &config.SettingError{Setting: "JWT_ROLE_MAP", Problem: err.Error()}
	}
	var s auth.Signer
	switch {
	case alg == "HS256" || alg == "HS384" || alg == "HS512":
		if keyFile != "" {
			return auth.Signer{}, usagef("token: --key is for the asymmetric algorithms; %s signs with JWT_SECRET_KEY", alg)
		}
		if cfg.JWT.SecretKey == "" {
			return auth.Signer{}, usagef("token: JWT_SECRET_KEY is not set; use --alg with --key")
		}
		s = auth.Signer{Method: jwt.GetSigningMethod(alg), Key: []byte(cfg.JWT.SecretKey)}
	case keyFile == "":
		return auth.Signer{}, usagef("token: --alg %s needs --key FILE (a PEM private key)", alg)
	default:
		pemKey, err := os.ReadFile(keyFile)
		if err != nil {
			return auth.Signer{}, usagef("token: --key: %v", err)
		}
		if s, err = auth.NewSigner(alg, pemKey); err != nil {
			return auth.Signer{}, usagef("token: %v", err)
		}
	}
	s.KeyID, s.Issuer, s.Audience = kid, cfg.JWT.Issuer, cfg.JWT.Audience
	s.Mapping = auth.Mapping{TenantClaim: cfg.JWT.TenantClaim, RoleClaim: cfg.JWT.RoleClaim, RoleMap: roleMap}
	return s, nil
}
