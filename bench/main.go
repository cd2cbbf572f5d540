// Command bench measures what mtdb's isolation and HTTP stack cost: the API
// against a reference server (plain net/http + pgxpool doing the same
// database work) and against the database work alone, the cost of the
// row-level security policies, the growth of latency with the data, the
// statements each request sends and the server's memory. It creates and
// seeds a fresh database on the local PostgreSQL, runs `mtdb serve` and the
// reference server as subprocesses on loopback, and writes
// <out>/<date>.md and <out>/<date>.json. See bench/README.md.
//
//	go build -o bin/mtdb ./cmd/mtdb && go run ./bench [-before bin/mtdb-before]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const jwtSecret = "bench-secret-0123456789abcdef0123456789" // ≥ 32 bytes, as production requires

// options are the command-line flags.
type options struct {
	serverURL string        // admin URL of the PostgreSQL server
	mtdb      string        // the API binary
	before    string        // optional: an older API binary measured in the same run
	out       string        // report directory
	duration  time.Duration // measured time per run
	warmup    time.Duration
	maxConns  int // pool size of every contender
	conc      []int
	profile   string // directory for CPU profiles of the in-process API
	only      string // "profile": seed, profile, stop
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "ref" {
		if err := refMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench ref:", err)
			os.Exit(1)
		}
		return
	}
	o := options{conc: []int{1, 16, 64}}
	def := os.Getenv("TEST_DATABASE_URL")
	if def == "" {
		def = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	flag.StringVar(&o.serverURL, "url", def, "PostgreSQL server (a superuser URL; a fresh database is created on it)")
	flag.StringVar(&o.mtdb, "mtdb", "bin/mtdb", "the mtdb binary to measure")
	flag.StringVar(&o.before, "before", "", "an older mtdb binary to measure in the same run (before/after)")
	flag.StringVar(&o.out, "out", "bench/results", "directory of the reports")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "measured duration of each run")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up of each run")
	flag.IntVar(&o.maxConns, "max-conns", 10, "database pool size of the API, the reference server and the floor")
	flag.StringVar(&o.profile, "cpuprofile", "", "directory: also write CPU profiles of the in-process API at concurrency 16")
	flag.StringVar(&o.only, "only", "", `"profile": only seed and write the profiles (with -cpuprofile); "flood": only the flood scenario; "audit": only the audit trigger's cost`)
	flag.Parse()
	ctx, stop := notifyContext()
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// notifyContext is cancelled by SIGINT or SIGTERM.
func notifyContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
