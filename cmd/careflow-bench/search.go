package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/fhir/validate"
	"github.com/careflow/careflow/storage"
	cfmongo "github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/sqlite"
)

// The search benchmark (careflow-bench search) loads N synthetic coordinated-care patients (fhir/synth)
// with all their related resources straight through the storage layer, then times six coordinator
// queries over HTTP against careflow and the equivalent raw MongoDB finds against the same database, and
// prints a Markdown report. scripts/bench-search.sh starts a server on the loaded database and runs it.

// searchConfig holds the flags of the search subcommand.
type searchConfig struct {
	base            string
	mongoURI        string // MongoDB URI whose path names the server's database
	db              string // the database name (from mongoURI), or the SQLite file (from database)
	database        string // "sqlite:PATH": the embedded store instead of mongoURI
	sqlitePath      string // PATH of database
	loadStats       string // file the load's numbers are saved to (--load-only) or read from (sqlite queries)
	patients        int
	seed            uint64
	today           time.Time
	loadConcurrency int
	reuse           bool
	loadOnly        bool
	requests        int
	warmup          int
	maxQueryTime    time.Duration
	requestTimeout  time.Duration
	deepPage        int
	deepCount       int
	serverPID       int
	dbPIDs          pidList
	dropDB          bool
	dropOnly        bool
	only            pidList // query numbers to run (1-based); empty: all
	command         string  // how the run was started, for the report
	summary         string  // file for the machine-readable summary (careflow-bench compare); empty: none
	mode            string  // modeSearch or modeWorkflows
}

// defaultToday is the reference date of the generated data (the date of testdata/bundles).
const defaultToday = "2026-11-25"

// searchMain runs "careflow-bench search"; it returns the exit code.
func searchMain(args []string) int { return loadedMain(modeSearch, args) }

// workflowsMain runs "careflow-bench workflows" (workflows.go); it returns the exit code.
func workflowsMain(args []string) int { return loadedMain(modeWorkflows, args) }

// The subcommands that load the synthetic data set through the store and then time requests against it.
const (
	modeSearch    = "search"
	modeWorkflows = "workflows"
)

// loadedMain runs the search or the workflows subcommand: both share the flags of the data set and of
// the timing, and the load.
func loadedMain(mode string, args []string) int {
	c := searchConfig{mode: mode}
	name := "careflow-bench " + mode
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s [flags]\n\n"+
			"Loads --patients synthetic patients (fhir/synth) with their related resources straight through\n"+
			"careflow's storage layer into --mongodb-uri's database, then %s.\n"+
			"It prints a Markdown report (%s starts a server on the database and runs this).\n\nflags:\n",
			name, map[string]string{
				modeSearch:    "times six coordinator searches over\nHTTP (--base) and the equivalent raw MongoDB finds",
				modeWorkflows: "times $worklist (for the data set's\nreference day, one owner, one patient) and Patient/{id}/$summary over HTTP (--base)",
			}[mode], map[string]string{modeSearch: "scripts/bench-search.sh", modeWorkflows: "scripts/bench-workflows.sh"}[mode])
		fs.PrintDefaults()
	}
	today := defaultToday
	fs.StringVar(&c.base, "base", "http://127.0.0.1:8080/fhir", "FHIR base URL of a careflow server that uses --mongodb-uri's database")
	fs.StringVar(&c.mongoURI, "mongodb-uri", "mongodb://127.0.0.1:27017/careflow_bench_"+mode, "MongoDB URI; its path names the (server's) database to load and query")
	fs.StringVar(&c.database, "database", "", "sqlite:PATH: load the embedded store's file PATH instead of --mongodb-uri. The server locks the file, so\n"+
		"run --load-only --load-stats F before starting the server on it, then the queries with --load-stats F (no raw side)")
	fs.StringVar(&c.loadStats, "load-stats", "", "with --load-only: save the load's numbers to this file; with --database sqlite:PATH and no --load-only:\n"+
		"the file of the earlier --load-only run (the data set is generated again, not loaded)")
	fs.IntVar(&c.patients, "patients", 10000, "synthetic patients to load (each with its Coverage, allergies, medications, care plan and appointments)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the generated data set")
	fs.StringVar(&today, "today", defaultToday, "reference date of the generated data (every date is relative to it; the queries use it too)")
	fs.IntVar(&c.loadConcurrency, "load-concurrency", 8, "concurrent writers while loading")
	fs.BoolVar(&c.reuse, "reuse", false, "reuse an already-loaded database: skip the load when every resource is there, else load what is missing")
	fs.BoolVar(&c.loadOnly, "load-only", false, "load, report the load and stop (no queries)")
	if mode == modeSearch {
		fs.IntVar(&c.requests, "requests", 20, "timed requests per query, each for careflow and for the raw database (interleaved, one at a time)")
		fs.IntVar(&c.warmup, "warmup", 2, "untimed requests per query and side before timing (the first also checks that both sides return the same resources)")
	} else {
		fs.IntVar(&c.requests, "requests", 20, "timed requests per case, one at a time ($summary: one random patient each)")
		fs.IntVar(&c.warmup, "warmup", 2, "untimed requests per case before timing")
	}
	fs.DurationVar(&c.maxQueryTime, "max-query-time", 0, "when > 0, stop timing a query after this long (but not before 3 rounds), even if fewer than --requests rounds ran:\nfor slow scans on a large data set")
	fs.DurationVar(&c.requestTimeout, "request-timeout", 10*time.Minute, "HTTP timeout of one request (FerretDB scans: a chained search on 10,000 patients takes over a minute)")
	if mode == modeSearch {
		fs.IntVar(&c.deepPage, "deep-page", 50, "page number the deep-paging query times (reached by following next links)")
		fs.IntVar(&c.deepCount, "deep-count", 20, "_count of the deep-paging query")
		fs.Var(&c.only, "only", "comma-separated numbers of the queries to run (1–6; default all)")
	} else {
		c.deepPage, c.deepCount = 2, 1 // unused
	}
	fs.IntVar(&c.serverPID, "server-pid", 0, "pid of the careflow server, to report its CPU time per request (Linux /proc)")
	fs.Var(&c.dbPIDs, "db-pids", "comma-separated pids of the database processes (FerretDB, PostgreSQL postmaster), to report the database's CPU time")
	fs.BoolVar(&c.dropDB, "drop-db", false, "drop the database at the end (for a throw-away database, as the scripts use)")
	fs.BoolVar(&c.dropOnly, "drop-only", false, "only drop the database and exit (the scripts clean up with it after a failure)")
	fs.StringVar(&c.command, "command", "", "the command line to print in the report (default: this process's arguments)")
	fs.StringVar(&c.summary, "summary", "", "also write the main numbers as JSON to this file, for careflow-bench compare")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var err error
	if c.today, err = time.Parse(time.DateOnly, today); err != nil {
		fmt.Fprintf(os.Stderr, "%s: --today %q: want a date such as %s\n", name, today, defaultToday)
		return 2
	}
	if c.command == "" {
		c.command = name + " " + strings.Join(args, " ")
	}
	if err := c.check(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		fs.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.dropOnly {
		if err := dropDatabase(ctx, c); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			return 1
		}
		return 0
	}
	if err := runSearch(ctx, c, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// check validates the flags and derives the database name.
func (c *searchConfig) check() error {
	if c.database != "" {
		path, ok, err := sqlite.ParseDSN(c.database)
		switch {
		case !ok:
			return fmt.Errorf("--database %q: want sqlite:PATH (use --mongodb-uri for MongoDB)", c.database)
		case err != nil:
			return fmt.Errorf("--database: %w", err)
		case c.reuse:
			return fmt.Errorf("--reuse is for MongoDB databases; with --database load a fresh file")
		case !c.loadOnly && !c.dropOnly && c.loadStats == "":
			return fmt.Errorf("--database sqlite:PATH without --load-only needs --load-stats (the file of the --load-only run)")
		}
		c.sqlitePath, c.db = path, path
	} else {
		cs, err := connstring.ParseAndValidate(c.mongoURI)
		if err != nil {
			return fmt.Errorf("--mongodb-uri: %w", err)
		}
		c.db = cs.Database
	}
	switch {
	case c.db == "":
		return fmt.Errorf("--mongodb-uri must name the database in its path (mongodb://host:27017/<db>)")
	case c.patients < 1:
		return fmt.Errorf("--patients must be at least 1")
	case c.loadConcurrency < 1:
		return fmt.Errorf("--load-concurrency must be at least 1")
	case c.requests < 1 || c.warmup < 1:
		return fmt.Errorf("--requests and --warmup must be at least 1")
	case c.maxQueryTime < 0 || c.requestTimeout <= 0:
		return fmt.Errorf("--max-query-time must not be negative, --request-timeout must be positive")
	case c.deepPage < 2 || c.deepCount < 1:
		return fmt.Errorf("--deep-page must be at least 2 and --deep-count at least 1")
	}
	return nil
}

// dropDatabase drops --mongodb-uri's database, or removes --database's SQLite file (with its WAL).
func dropDatabase(ctx context.Context, c searchConfig) error {
	if c.sqlitePath != "" {
		return removeSQLite(c.sqlitePath)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(c.mongoURI).SetAppName("careflow-bench"))
	if err != nil {
		return fmt.Errorf("mongo connect: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = client.Database(c.db).Drop(ctx)
	return errors.Join(err, client.Disconnect(ctx))
}

// careflowModel returns careflow's FHIR R4 validator and search registry (fhir/r4), as the server uses them.
func careflowModel() (*validate.Validator, *search.Registry, error) {
	defs, err := r4.Load()
	if err != nil {
		return nil, nil, err
	}
	v, err := defs.Validator()
	if err != nil {
		return nil, nil, err
	}
	return v, defs.Registry, nil
}

// searchEnv is what the phases share: careflow's own registry, validator and store for loading, and a
// separate driver client for the raw queries.
type searchEnv struct {
	cfg       searchConfig
	registry  *search.Registry
	validator *validate.Validator
	store     loadStore       // nil when the data set was loaded by an earlier run (sqlite queries)
	client    *mongo.Client   // nil without a raw side (sqlite)
	db        *mongo.Database // nil without a raw side (sqlite)
}

// loadStore is the store the data set is loaded through.
type loadStore interface {
	storage.Store
	Close(ctx context.Context) error
}

// runSearch loads the data, runs the queries and writes the report.
func runSearch(ctx context.Context, c searchConfig, out io.Writer) (err error) {
	started := time.Now()
	v, registry, err := careflowModel()
	if err != nil {
		return err
	}
	if err := checkRawFields(registry); err != nil {
		return err
	}
	if c.sqlitePath != "" {
		return runSQLite(ctx, c, registry, v, started, out)
	}
	// The store creates the collections' indexes exactly as the server does (it lists them first, so
	// opening it next to a running server is safe). Recovery only at Open: the load writes no transactions.
	openCtx, cancel := context.WithTimeout(ctx, time.Minute)
	store, err := cfmongo.Open(openCtx, cfmongo.Options{URI: c.mongoURI, Types: definitions.ResourceTypes, Registry: registry, RecoveryInterval: -1})
	cancel()
	if err != nil {
		return err
	}
	client, err := mongo.Connect(options.Client().ApplyURI(c.mongoURI).SetAppName("careflow-bench-raw"))
	if err != nil {
		_ = store.Close(context.Background())
		return fmt.Errorf("mongo connect: %w", err)
	}
	env := &searchEnv{cfg: c, registry: registry, validator: v, store: store, client: client, db: client.Database(c.db)}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if c.dropDB {
			if derr := env.db.Drop(ctx); derr != nil {
				err = errors.Join(err, fmt.Errorf("drop database %s: %w", c.db, derr))
			} else {
				progress("dropped database %s", c.db)
			}
		}
		err = errors.Join(err, store.Close(ctx), client.Disconnect(ctx))
	}()

	load, err := env.load(ctx)
	if err != nil {
		return err
	}
	load.store = "storage/mongo"
	if c.loadStats != "" {
		if err := saveLoad(c.loadStats, c, load); err != nil {
			return err
		}
	}
	return env.query(ctx, load, started, out)
}

// query runs the queries (or the workflow cases) on the loaded data set and writes the report.
func (e *searchEnv) query(ctx context.Context, load *loadStats, started time.Time, out io.Writer) error {
	c := e.cfg
	env := e
	rep := &searchReport{cfg: c, started: started, load: load}
	if c.mode == modeWorkflows {
		return env.runWorkflows(ctx, rep.load, started, out)
	}
	if c.loadOnly {
		rep.write(out)
		writeSummary(c.summary, rep.summary())
		return nil
	}
	params, err := pickParams(c, rep.load.facts)
	if err != nil {
		return err
	}
	rep.params = params
	fhir := newFHIRClient(c.base, 1)
	fhir.http.Timeout = c.requestTimeout
	if err := checkServer(ctx, fhir); err != nil {
		return err
	}
	for i, sc := range env.cases(params) {
		if len(c.only) > 0 && !slices.Contains(c.only, i+1) {
			continue
		}
		r, err := env.measureCase(ctx, fhir, sc)
		if err != nil {
			// Report what was measured so far, then fail.
			err = fmt.Errorf("query %d (%s): %w", i+1, sc.name, err)
			rep.failed = err
			rep.write(out)
			return err
		}
		r.number = i + 1
		rep.cases = append(rep.cases, r)
	}
	rep.write(out)
	writeSummary(c.summary, rep.summary())
	return nil
}
