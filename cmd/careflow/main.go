// Command careflow is the careflow FHIR R4 server and its tools.
//
//	careflow serve [flags]   run the HTTP server
//	careflow copy --from DATABASE --to DATABASE   copy every resource with its history to another store
//
// Every flag has an environment variable (CAREFLOW_ADDR, CAREFLOW_MONGODB_URI, …); flags win.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/careflow/careflow/adapters/careplan"
	"github.com/careflow/careflow/adapters/dashboard"
	"github.com/careflow/careflow/adapters/message"
	"github.com/careflow/careflow/adapters/scheduling"
	"github.com/careflow/careflow/adapters/summary"
	"github.com/careflow/careflow/adapters/worklist"
	"github.com/careflow/careflow/cmd/careflow/internal/gctune"
	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/server/rest"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/confine"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/refint"
	"github.com/careflow/careflow/storage/rules"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "generate":
		err = generate(os.Args[2:])
	case "load":
		err = load(os.Args[2:])
	case "copy":
		err = interruptible(runCopy, os.Args[2:])
	case "compact":
		err = interruptible(runCompact, os.Args[2:])
	case "backup":
		err = interruptible(runBackup, os.Args[2:])
	case "dev-issuer":
		err = devIssuer(os.Args[2:])
	case "dev-token":
		err = devToken(os.Args[2:])
	case "-h", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "careflow: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "careflow:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: careflow <command> [flags]

commands:
  serve     run the FHIR R4 server (careflow serve -h for flags)
  generate  write synthetic coordinated-care patients as transaction Bundles (careflow generate -h)
  load      POST transaction Bundles to any FHIR server (careflow load -h)
  copy      copy every resource with all its versions from one store to another, e.g.
            careflow copy --from sqlite:careflow-data/careflow.db --to mongodb://host:27017/careflow
            (careflow copy -h)
  compact   rewrite the embedded store's file without its free pages, careflow stopped (careflow compact -h)
  backup    write a consistent copy of the embedded store's file, also while careflow runs (careflow backup -h)
  dev-issuer  development only: serve a signing key's JWKS as an OAuth issuer (careflow dev-issuer -h)
  dev-token   development only: print an access token signed with that key (careflow dev-token -h)
`)
}

// interruptible runs a command with a context that SIGINT and SIGTERM cancel, on the process's output.
func interruptible(run func(ctx context.Context, args []string, stdout, stderr io.Writer) error, args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, os.Stdout, os.Stderr)
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(key string, def int64) int64 {
	if v := os.Getenv(key); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return def
}

// envBool reads a boolean environment variable (1, t, true, 0, f, false, …); a value that is not one is an
// error rather than the default, so that a typo cannot silently turn a safety check off.
func envBool(key string, def bool) (bool, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q is not a boolean (true or false)", key, v)
	}
	return b, nil
}

// envDuration reads a duration environment variable (2s, 500ms, …); a value that is not one is an error.
func envDuration(key string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a duration (such as 2s or 500ms)", key, v)
	}
	return d, nil
}

// decorate wires the store decorators every interaction writes and reads through, outermost first:
// patient-compartment confinement (with authorization) → referential integrity (when on) → the workflows'
// update rules → the store, which serve has already guarded (storage/guard: every call bounded, 503 when the
// database does not answer; hardening.go). The workflows' own reads go to the guarded store itself.
func decorate(store storage.Store, defs *r4.R4, v interaction.Validator, referentialIntegrity, authorization bool) storage.Store {
	// Updates obey the workflow rules whatever interaction makes them (PUT, PATCH, transactions), and an
	// Appointment cancelled frees its slots in the same transaction.
	prepare := func(typ string, body []byte) (storage.Write, error) {
		w, _, err := interaction.Pipeline{Validator: v, Registry: defs.Registry}.Prepare(typ, body)
		return w, err
	}
	out := storage.Store(rules.New(store, map[string][]rules.Rule{"CarePlan": {careplan.UpdateRule}}).
		WithEffects(map[string][]rules.Effect{"Appointment": {scheduling.FreeSlotsEffect(prepare)}}))
	if referentialIntegrity {
		out = refint.New(out, definitions.ResourceTypes)
	}
	if authorization {
		out = confine.New(out, defs.Registry, defs.Compartments)
	}
	return out
}

func serve(args []string) error {
	refIntDefault, err := envBool("CAREFLOW_REFERENTIAL_INTEGRITY", false)
	if err != nil {
		return err
	}
	settleDefault, err := envDuration("CAREFLOW_FEED_SETTLE", mongo.DefaultFeedSettle)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", env("CAREFLOW_ADDR", "127.0.0.1:8080"), "listen address (CAREFLOW_ADDR)")
	db := fs.String("database", env("CAREFLOW_DATABASE", ""), "the store: sqlite:PATH (embedded, the default: "+defaultDatabase+") or a mongodb:// / mongodb+srv:// URI whose path names the database (CAREFLOW_DATABASE)")
	uri := fs.String("mongodb-uri", env("CAREFLOW_MONGODB_URI", ""), "MongoDB connection string, as --database (CAREFLOW_MONGODB_URI)")
	sqliteSync := fs.String("sqlite-synchronous", env("CAREFLOW_SQLITE_SYNCHRONOUS", "full"), "embedded store durability: full (an acknowledged write survives a power loss) or normal (it survives a crash of careflow) (CAREFLOW_SQLITE_SYNCHRONOUS)")
	base := fs.String("base-url", env("CAREFLOW_BASE_URL", ""), "public base URL of the FHIR API, e.g. https://fhir.example.org/fhir; empty: http://<Host>/fhir (CAREFLOW_BASE_URL)")
	maxBody := fs.Int64("max-body-bytes", envInt("CAREFLOW_MAX_BODY_BYTES", 16<<20), "largest accepted request body (CAREFLOW_MAX_BODY_BYTES)")
	defCount := fs.Int64("default-count", envInt("CAREFLOW_DEFAULT_COUNT", 50), "page size when _count is absent (CAREFLOW_DEFAULT_COUNT)")
	maxCount := fs.Int64("max-count", envInt("CAREFLOW_MAX_COUNT", 1000), "largest page size (CAREFLOW_MAX_COUNT)")
	maxEntries := fs.Int64("max-bundle-entries", envInt("CAREFLOW_MAX_BUNDLE_ENTRIES", 10000), "largest batch/transaction Bundle (CAREFLOW_MAX_BUNDLE_ENTRIES)")
	logLevel := fs.String("log-level", env("CAREFLOW_LOG_LEVEL", "info"), "debug, info, warn or error (CAREFLOW_LOG_LEVEL)")
	refInt := fs.Bool("referential-integrity", refIntDefault, "refuse writes whose references to this server do not resolve (422) and deletes of referenced resources (409) (CAREFLOW_REFERENTIAL_INTEGRITY)")
	settle := fs.Duration("feed-settle", settleDefault, "how far the change feed's horizon (meta.lastUpdated of type and system history, the next _since) lags behind now, so that the next poll lists again what a write made visible late: above the longest write plus the largest clock difference between instances; see docs/ARCHITECTURE.md (CAREFLOW_FEED_SETTLE)")
	grace := fs.Duration("shutdown-timeout", 30*time.Second, "how long in-flight requests may run after SIGTERM")
	indexes := fs.String("search-indexes", env("CAREFLOW_SEARCH_INDEXES", "auto"), "create the search-parameter indexes: auto (not on FerretDB, which never uses them), always or never (CAREFLOW_SEARCH_INDEXES)")
	authF := addAuthFlags(fs)
	hard, err := hardeningFlags(fs) // secure defaults, resilience and limits (hardening.go)
	if err != nil {
		return err
	}
	_ = fs.Parse(args)
	hard.authIssuer = *authF.issuer
	if err := hard.check(*addr); err != nil {
		return err
	}
	database, err := database(*db, *uri)
	if err != nil {
		return err
	}
	indexMode, err := mongo.ParseIndexMode(*indexes)
	if err != nil {
		return err
	}
	if *settle <= 0 {
		return fmt.Errorf("--feed-settle must be positive, got %s", *settle)
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if os.Getenv("GOGC") == "" {
		// The collector runs less often while the heap is small (internal/gctune); GOGC set by the
		// operator wins.
		tuner := gctune.Start(gctune.Default)
		defer tuner.Stop()
		log.Info("gc: tuning GOGC to the live heap", "ceiling_mib", gctune.Default.Ceiling>>20, "min", gctune.Default.Min, "max", gctune.Default.Max)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	defs, err := r4.Load()
	if err != nil {
		return err
	}
	v, err := defs.Validator()
	if err != nil {
		return err
	}
	registry := defs.Registry
	hard.warn(*addr, log)
	store, err := hard.open(ctx, storeConfig{Database: database, SQLiteSync: *sqliteSync, SearchIndexes: indexMode, FeedSettle: *settle}, registry, log)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = store.Close(closeCtx)
	}()

	fhirBase := *base
	if fhirBase == "" {
		fhirBase = "http://" + *addr + "/fhir"
	}
	authz, err := authF.setup(ctx, fhirBase, log)
	if err != nil {
		return err
	}
	worklists := worklist.New(store, registry) // one builder: $worklist and $draft-message share its kept build
	// Booking ($hold, $book) writes through the service's own transaction pipeline (operation.Request.Transact).
	scheduler := scheduling.New(store, registry)
	booker := scheduling.NewBooker(scheduler, scheduling.DefaultHold)
	icfg := interaction.Config{
		DefaultCount: int(*defCount), MaxCount: int(*maxCount), MaxBundleEntries: int(*maxEntries),
		Version: version, Types: definitions.ResourceTypes,
		Operations: []interaction.Operation{
			summary.Operation(summary.New(store, registry)),
			worklist.Operation(worklists),
			message.Operation(message.New(worklists, store, registry)),
			scheduling.FindOperation(scheduler),
			scheduling.HoldOperation(booker),
			scheduling.BookOperation(booker),
		},
	}
	icfg.ReadOnly = []string{"AuditEvent"} // the server writes the access log itself
	hcfg := rest.Config{BaseURL: *base, MaxBodyBytes: *maxBody, App: dashboard.Handler()}
	auditLog, err := authF.openAudit(store, registry, authz != nil, log)
	if err != nil {
		return err
	}
	if auditLog != nil {
		hcfg.Audit = auditLog
		defer func() {
			closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := auditLog.Close(closeCtx); err != nil {
				log.Error("audit: closing the log", "err", err)
			}
		}()
	}
	if authz != nil {
		icfg.Policy, icfg.OAuth = authz.policy, authz.oauth
		hcfg.Auth, hcfg.SMARTConfiguration = authz.verifier, authz.smart
		hcfg.App = dashboard.HandlerWith(authz.dashboard)
	}
	svc, err := interaction.New(icfg, decorate(store, defs, v, *refInt, authz != nil), v, registry)
	if err != nil {
		return err
	}
	handler := rest.New(hard.rest(hcfg), svc, log)
	srv := hard.server(*addr, handler)

	errc := make(chan error, 1)
	go func() {
		log.Info("careflow listening", "addr", *addr, "fhir_base", "http://"+*addr+"/fhir", "version", version)
		errc <- srv.ListenAndServe()
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", grace.String())
	shutCtx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}
