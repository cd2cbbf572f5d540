// Command mtdb-gen writes a new migration from the Ent schemas, with the
// row-level security, row counts and audit triggers of new tables
// (internal/schemagen). It is a separate binary so that mtdb, which serves
// and applies migrations, does not carry the generator: `make migration
// NAME=add_invoices` runs it.
//
//	mtdb-gen NAME [--dev-url URL] [--dir migrations] [--config FILE]
//
// Without --dev-url it uses a throwaway database created (and dropped) on
// the server of the migration URL (MIGRATION_DATABASE_URL, else
// DATABASE_URL). Exit code 2 for a bad command line or configuration.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"github.com/spf13/pflag"

	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/schemagen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exitCode prints err to stderr and returns the exit code: 0 for nil, 2 for
// a bad command line or configuration, 1 otherwise.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "mtdb-gen: "+strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; "))
	var ue *usageError
	var se *config.SettingError
	if errors.As(err, &ue) || errors.As(err, &se) {
		return 2
	}
	return 1
}

// run writes the migration NAME (args) and says where, or that there was
// nothing to change.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("mtdb-gen", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	devURL := fs.String("dev-url", "", "URL of an empty scratch database (default: a throwaway database on the migration server)")
	dir := fs.String("dir", "migrations", "migration directory")
	cfgFile := fs.String("config", "", "config file (default ./config.yaml, or CONFIG_FILE)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: mtdb-gen NAME [flags]\n%s", fs.FlagUsages())
			return nil
		}
		return &usageError{msg: err.Error()}
	}
	if fs.NArg() != 1 {
		return &usageError{msg: "exactly one NAME is required (e.g. mtdb-gen add_invoices)"}
	}
	if *devURL == "" {
		cfg, err := config.Load(config.Options{Getenv: getenv, File: *cfgFile})
		if err != nil {
			return err
		}
		url := cfg.MigrationURL()
		dev, drop, err := schemagen.DevDatabase(ctx, url)
		if err != nil {
			return fmt.Errorf("creating a throwaway dev database on %s (or pass --dev-url): %w", config.MaskURL(url), err)
		}
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = drop(dctx)
		}()
		*devURL = dev
	}
	path, err := schemagen.Generate(ctx, schemagen.Options{DevURL: *devURL, Dir: *dir, Name: fs.Arg(0)})
	if errors.Is(err, atlasmigrate.ErrNoPlan) {
		fmt.Fprintln(stdout, "no changes: the migration directory matches the Ent schemas")
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "wrote "+path)
	return nil
}
