package main

import (
	"context"
	"fmt"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/migrate"
)

// migrateCmd is `mtdb migrate apply|status|hash`.
func (e *cmdEnv) migrateCmd(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("migrate: missing subcommand (apply, status or hash)")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "apply", "status":
		return e.migrateRun(ctx, sub, rest)
	case "diff":
		// The generator is a separate binary (cmd/mtdb-gen), so that the
		// server does not carry it.
		return usagef("migrate diff: new migrations are written by make migration NAME=... (go run ./cmd/mtdb-gen NAME)")
	case "hash":
		return e.migrateHash(rest)
	default:
		return usagef("migrate: unknown subcommand %q (apply, status or hash)", sub)
	}
}

// migrationURL returns --url, else the configured migration URL. With
// --url no other setting is needed (a migration job need not know the JWT
// secret).
func (e *cmdEnv) migrationURL(flagURL, cfgFile string) (string, error) {
	if flagURL != "" {
		if _, err := pgconn.ParseConfig(flagURL); err != nil {
			return "", usagef("migrate: --url: cannot be parsed as a PostgreSQL URL")
		}
		return flagURL, nil
	}
	cfg, err := config.Load(config.Options{Getenv: e.getenv, File: cfgFile})
	if err != nil {
		return "", err
	}
	return cfg.MigrationURL(), nil
}

func (e *cmdEnv) migrateRun(ctx context.Context, sub string, args []string) error {
	fs, cfgFile := e.flagSet("migrate " + sub)
	urlFlag := fs.String("url", "", "database URL (default MIGRATION_DATABASE_URL, else DATABASE_URL)")
	baseline := new(string)
	if sub == "apply" {
		baseline = fs.String("baseline", "", "on a database that has tables but no revisions yet: take the files up to this version as applied (like atlas --baseline)")
	}
	if err := e.parse(fs, args); err != nil {
		return err
	}
	url, err := e.migrationURL(*urlFlag, *cfgFile)
	if err != nil {
		return err
	}
	if sub == "status" {
		rep, err := migrate.Status(ctx, url)
		if err != nil {
			return fmt.Errorf("migrate status on %s: %w", config.MaskURL(url), err)
		}
		return rep.WriteText(e.stdout)
	}
	opts := []migrate.Option{migrate.WithOutput(e.stdout)}
	if *baseline != "" {
		opts = append(opts, migrate.WithBaseline(*baseline))
	}
	rep, err := migrate.Apply(ctx, url, opts...)
	if err != nil {
		return fmt.Errorf("migrate apply on %s: %w", config.MaskURL(url), err)
	}
	fmt.Fprintln(e.stdout, rep.String())
	return nil
}

// migrateHash is `mtdb migrate hash [--dir DIR]`, Atlas's `migrate hash`:
// it rewrites atlas.sum after a hand-written migration file was added or
// edited.
func (e *cmdEnv) migrateHash(args []string) error {
	fs, _ := e.flagSet("migrate hash")
	dir := fs.String("dir", "migrations", "migration directory")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	d, err := atlasmigrate.NewLocalDir(*dir)
	if err != nil {
		return fmt.Errorf("migrate hash: %w", err)
	}
	sum, err := d.Checksum()
	if err != nil {
		return fmt.Errorf("migrate hash: %w", err)
	}
	if err := atlasmigrate.WriteSumFile(d, sum); err != nil {
		return fmt.Errorf("migrate hash: %w", err)
	}
	fmt.Fprintln(e.stdout, "wrote "+*dir+"/atlas.sum")
	return nil
}
