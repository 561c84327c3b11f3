// Command careflow-bench is careflow's load generator. It measures the server's cost over the bare
// database by running four phases with the same concurrency and the same Patient resources:
//
//	a. HTTP create: POST /Patient (realistic, seeded Patients of about 2 KB, Prefer: return=minimal)
//	b. HTTP read:   GET /Patient/{id} of random created ids
//	c. raw insert:  the same Patients inserted with the MongoDB driver as documents shaped like careflow's
//	d. raw read:    FindOne by _id of random raw documents, with careflow's projection
//
// and prints requests/s, latency quantiles, errors, the careflow/raw ratios and (with --server-pid) the
// server's CPU time per request as Markdown on stdout; progress goes to stderr. The raw phases use a
// scratch database that is dropped at the end. scripts/bench.sh starts a server and runs this.
//
//	careflow-bench --base http://127.0.0.1:8080/fhir --mongodb-uri mongodb://127.0.0.1:27017/ \
//	    --requests 2000 --duration 15s --concurrency 8 --server-pid $(pgrep -n careflow)
//
// The subcommand "search" is the search benchmark instead (search.go; scripts/bench-search.sh runs it):
//
//	careflow-bench search --base http://127.0.0.1:8080/fhir --mongodb-uri mongodb://127.0.0.1:27017/<db> --patients 10000
//
// "workflows" loads the same data set and times $worklist and Patient/{id}/$summary (workflows.go;
// scripts/bench-workflows.sh), and "ingest" POSTs generated transaction (or batch) Bundles and inserts the
// same resources with the driver for comparison (ingest.go; scripts/bench-ingest.sh):
//
//	careflow-bench workflows --base http://127.0.0.1:8080/fhir --mongodb-uri mongodb://127.0.0.1:27017/<db> --patients 10000
//	careflow-bench ingest --base http://127.0.0.1:8080/fhir --mongodb-uri mongodb://127.0.0.1:27017/ --patients 1000 --concurrency 4
//
// On the embedded store there are no raw phases (--mongodb-uri ""); search and workflows load the SQLite
// file before the server starts (--database sqlite:PATH --load-only --load-stats F, then the queries with
// --load-stats F; search_sqlite.go). Every subcommand can write its main numbers as JSON (--summary), and
// "compare" prints several such files side by side (the scripts use it to compare the stores):
//
//	careflow-bench compare sqlite=sqlite.json mongodb=mongodb.json
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config holds the command-line flags.
type config struct {
	base         string
	bearerToken  string // sent as Authorization: Bearer on the FHIR requests of the main phases
	mongoURI     string
	concurrency  int
	requests     int
	duration     time.Duration
	readRequests int
	seed         uint64
	serverPID    int
	serverDB     string
	scratchDB    string
	mirrorIdx    bool
	dropServerDB bool
	dbPIDs       pidList
	summary      string
}

// pidList is a comma-separated list of process ids (a flag.Value).
type pidList []int

// String implements flag.Value.
func (l *pidList) String() string {
	s := make([]string, len(*l))
	for i, pid := range *l {
		s[i] = strconv.Itoa(pid)
	}
	return strings.Join(s, ",")
}

// Set implements flag.Value: it parses "12,34".
func (l *pidList) Set(s string) error {
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return fmt.Errorf("not a process id: %q", f)
		}
		*l = append(*l, pid)
	}
	return nil
}

// createBudget is the budget of the create phases (a, c).
func (c config) createBudget() budget { return budget{Requests: c.requests, Duration: c.duration} }

// readBudget is the budget of the read phases (b, d).
func (c config) readBudget() budget { return budget{Requests: c.readRequests, Duration: c.duration} }

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "search":
			os.Exit(searchMain(os.Args[2:]))
		case "workflows":
			os.Exit(workflowsMain(os.Args[2:]))
		case "ingest":
			os.Exit(ingestMain(os.Args[2:]))
		case "compare":
			os.Exit(compareMain(os.Args[2:]))
		}
	}
	var c config
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), "usage: careflow-bench [flags]\n\n"+
			"Measures careflow's HTTP create and read against the same operations straight on the database\n"+
			"and prints the results as Markdown (scripts/bench.sh starts a server and runs this).\n\nflags:\n")
		flag.PrintDefaults()
	}
	flag.StringVar(&c.base, "base", "http://127.0.0.1:8080/fhir", "FHIR base URL of the careflow server")
	flag.StringVar(&c.bearerToken, "bearer-token", os.Getenv("CAREFLOW_BENCH_TOKEN"), "access token sent as Authorization: Bearer with the reads and creates, for a server with --auth-issuer\n(e.g. from careflow dev-token) (CAREFLOW_BENCH_TOKEN)")
	flag.StringVar(&c.mongoURI, "mongodb-uri", "mongodb://127.0.0.1:27017/", "MongoDB URI for the raw-database phases (empty: skip them)")
	flag.IntVar(&c.concurrency, "concurrency", 8, "concurrent requests in every phase")
	flag.IntVar(&c.requests, "requests", 2000, "requests per create phase; 0: create phases run for --duration")
	flag.DurationVar(&c.duration, "duration", 15*time.Second, "length of each read phase (and of the create phases when --requests is 0)")
	flag.IntVar(&c.readRequests, "read-requests", 0, "when > 0, read phases stop after this many requests instead of --duration")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the generated Patients and of the random reads")
	flag.IntVar(&c.serverPID, "server-pid", 0, "pid of the careflow server, to report its CPU time per request (Linux /proc)")
	flag.StringVar(&c.serverDB, "server-db", "", "database careflow uses on --mongodb-uri, to compare document shapes and indexes")
	flag.StringVar(&c.scratchDB, "scratch-db", "", "scratch database of the raw phases, dropped at the end (default careflow_bench_scratch_<pid>)")
	flag.BoolVar(&c.mirrorIdx, "mirror-indexes", false, "give the raw collection careflow's Patient indexes (needs --server-db)")
	flag.Var(&c.dbPIDs, "db-pids", "comma-separated pids of the database processes (e.g. FerretDB and the PostgreSQL postmaster), to report\nthe database's CPU time per request; their descendants count too (Linux /proc)")
	flag.BoolVar(&c.dropServerDB, "drop-server-db", false, "drop --server-db at the end (for a throw-away database, as scripts/bench.sh uses)")
	flag.StringVar(&c.summary, "summary", "", "also write the main numbers as JSON to this file, for careflow-bench compare")
	flag.Parse()
	if c.scratchDB == "" {
		c.scratchDB = fmt.Sprintf("careflow_bench_scratch_%d", os.Getpid())
	}
	if err := c.check(); err != nil {
		fmt.Fprintln(os.Stderr, "careflow-bench:", err)
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "careflow-bench:", err)
		os.Exit(1)
	}
}

// check rejects flag combinations that cannot run.
func (c config) check() error {
	switch {
	case c.concurrency < 1:
		return fmt.Errorf("--concurrency must be at least 1")
	case c.requests < 0 || c.readRequests < 0:
		return fmt.Errorf("--requests and --read-requests must not be negative")
	case (c.requests == 0 || c.readRequests == 0) && c.duration <= 0:
		return fmt.Errorf("--duration must be positive when a phase is time-bound")
	case (c.mirrorIdx || c.dropServerDB) && c.serverDB == "":
		return fmt.Errorf("--mirror-indexes and --drop-server-db need --server-db")
	case (c.mirrorIdx || c.dropServerDB || c.serverDB != "") && c.mongoURI == "":
		return fmt.Errorf("--server-db needs --mongodb-uri")
	case c.serverDB != "" && c.serverDB == c.scratchDB:
		return fmt.Errorf("--scratch-db must differ from --server-db")
	}
	return nil
}
