package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"

	"github.com/spf13/pflag"

	"github.com/mtdb/mtdb/internal/config"
	"github.com/mtdb/mtdb/internal/httpapi"
)

const usage = `mtdb: multi-tenant database API

Usage:
  mtdb serve [--host H] [--port P]        run the HTTP API until SIGINT/SIGTERM
  mtdb migrate apply [--url URL] [--baseline VERSION]
                                          apply pending migrations
  mtdb migrate status [--url URL]         show applied and pending migrations
  mtdb migrate hash [--dir DIR]           rewrite atlas.sum after a hand-written migration
  mtdb check                              verify the row-level security guarantees
  mtdb audit prune --before 90d|DATE      delete old audit events (as the migration owner)
  mtdb repair-metadata [--dry-run]        reset tenant metadata stored beyond the bounds
  mtdb token --role ROLE [--tenant UUID] [--sub S] [--ttl 1h]
                                          print a signed JWT
  mtdb dev                                local development server with demo data
  mtdb version                            print the version

Every command accepts --config FILE (default ./config.yaml, or CONFIG_FILE).
Settings come from flags, then environment variables, then the config file.
`

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// loggedError is an error the command has already written to its JSON log:
// exitCode does not print it again.
type loggedError struct{ err error }

func (e loggedError) Error() string { return e.err.Error() }
func (e loggedError) Unwrap() error { return e.err }

// exitCode prints err (one line) to stderr unless it was logged already,
// and returns the process exit code: 0 for nil, 2 for bad flags or
// configuration, 1 for anything else.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var logged loggedError
	if !errors.As(err, &logged) {
		msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
		fmt.Fprintln(stderr, "mtdb: "+msg)
	}
	var ue *usageError
	var se *config.SettingError
	if errors.As(err, &ue) || errors.As(err, &se) {
		return 2
	}
	return 1
}

// run is the whole program: it parses args, loads the configuration and
// runs one subcommand until it finishes or ctx is cancelled (SIGINT/SIGTERM).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("missing command (try: mtdb serve)")
	}
	cmd, rest := args[0], args[1:]
	env := &cmdEnv{getenv: getenv, stdout: stdout, stderr: stderr, version: version()}
	if err := env.dispatch(ctx, cmd, rest); !errors.Is(err, errHelp) {
		return err
	}
	return nil
}

// dispatch runs subcommand cmd with its arguments.
func (env *cmdEnv) dispatch(ctx context.Context, cmd string, rest []string) error {
	switch cmd {
	case "serve":
		return env.serveCmd(ctx, rest)
	case "migrate":
		return env.migrateCmd(ctx, rest)
	case "check":
		return env.checkCmd(ctx, rest)
	case "audit":
		return env.auditCmd(ctx, rest)
	case "repair-metadata":
		return env.repairMetadataCmd(ctx, rest)
	case "token":
		return env.tokenCmd(ctx, rest)
	case "dev":
		return env.devCmd(ctx, rest)
	case "version", "--version":
		fmt.Fprintln(env.stdout, env.version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(env.stdout, usage)
		fmt.Fprintln(env.stdout, "\nSettings (environment variables; in the config file the key is lower case with dots):")
		for _, s := range config.Docs() {
			fmt.Fprintf(env.stdout, "  %-32s %s\n", s.Env, s.Desc)
		}
		return nil
	}
	return usagef("unknown command %q (commands: serve, migrate, check, audit, repair-metadata, token, dev, version)", cmd)
}

// cmdEnv is what every subcommand gets from run.
type cmdEnv struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	version        string

	// Seams for tests (nil in the binary): onServer sees the HTTP server
	// before it listens, onListen the address it listens on.
	onServer func(*httpapi.Server)
	onListen func(net.Addr)
}

// flagSet returns a flag set with the common --config flag.
func (e *cmdEnv) flagSet(name string) (*pflag.FlagSet, *string) {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgFile := fs.String("config", "", "config file (default ./config.yaml, or CONFIG_FILE)")
	return fs, cfgFile
}

// errHelp ends a command after its --help was printed (exit 0).
var errHelp = errors.New("help requested")

// parse parses args into fs; errors, a positional argument included (no
// command takes one), are usage errors naming the command. --help prints
// the command's flags to stdout and returns errHelp.
func (e *cmdEnv) parse(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(e.stdout, "Usage of mtdb %s:\n%s", fs.Name(), fs.FlagUsages())
			return errHelp
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// loadConfig loads the configuration; flags maps config keys to the flag
// names that override them (only flags actually given count).
func (e *cmdEnv) loadConfig(fs *pflag.FlagSet, file string, flags map[string]string) (*config.Config, error) {
	return config.Load(e.configOptions(fs, file, flags))
}

// configOptions says where loadConfig looks: the environment, file and the
// flags of fs that were given (flags maps config keys to flag names).
func (e *cmdEnv) configOptions(fs *pflag.FlagSet, file string, flags map[string]string) config.Options {
	vals := map[string]string{}
	for key, name := range flags {
		if fs.Changed(name) {
			vals[key] = fs.Lookup(name).Value.String()
		}
	}
	return config.Options{Getenv: e.getenv, File: file, Flags: vals}
}

// newLogger returns the process logger: JSON outside development or when
// LOG_FORMAT=json, text otherwise; written to stderr.
func (e *cmdEnv) newLogger(cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(e.stderr, opts)
	if cfg.Log.Format == "text" {
		h = slog.NewTextHandler(e.stderr, opts)
	}
	return slog.New(h).With("service", "mtdb")
}

// buildVersion and buildCommit are stamped by the release build
// (make build / make image):
//
//	-ldflags "-X main.buildVersion=v1.2.3 -X main.buildCommit=<sha>"
var buildVersion, buildCommit string

// version returns what `mtdb version` and the health endpoints report: the
// stamped version (with its commit when the version does not already name
// it), else the module version or VCS revision the binary was built from,
// "dev" when unknown.
func version() string {
	if buildVersion != "" {
		c := buildCommit
		if len(c) > 12 {
			c = c[:12]
		}
		if c == "" || strings.Contains(buildVersion, c[:min(7, len(c))]) {
			return buildVersion
		}
		return buildVersion + " (commit " + c + ")"
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return "dev"
}
