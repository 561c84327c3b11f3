package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The ingest benchmark (careflow-bench ingest) generates --patients coordinated-care patients with
// fhir/synth, POSTs each one's Bundle to the FHIR base as one transaction (or, with --bundle-type batch,
// one batch), --concurrency at a time, and then inserts the same resources straight into a scratch
// database with the driver, shaped as careflow stores them (current-version document with its index
// fields, plus the history document a transaction writes), once with InsertOne per document and once with
// InsertMany per Bundle and collection. It reports bundles/s, resources/s, latency per Bundle, errors,
// CPU per resource and the careflow/raw ratios as Markdown. scripts/bench-ingest.sh starts a server on a
// fresh database and runs this.

// ingestConfig holds the flags of the ingest subcommand.
type ingestConfig struct {
	base           string
	mongoURI       string // MongoDB URI of the raw phases (its path is ignored); empty: no raw phases
	patients       int
	seed           uint64
	history        bool // each patient with the generator's multi-type clinical history
	today          time.Time
	concurrency    int
	bundleType     string // "transaction" or "batch"
	rawHistory     bool   // the raw phases insert history documents too (as careflow's transactions write them)
	serverPID      int
	dbPIDs         pidList
	serverDB       string
	scratchDB      string
	mirrorIdx      bool
	dropServerDB   bool
	requestTimeout time.Duration
	command        string
	summary        string
}

// ingestMain runs "careflow-bench ingest"; it returns the exit code.
func ingestMain(args []string) int {
	var c ingestConfig
	fs := flag.NewFlagSet("careflow-bench ingest", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: careflow-bench ingest [flags]\n\n"+
			"POSTs --patients generated patients (fhir/synth), each as one transaction (or batch) Bundle, to a careflow\n"+
			"server (--base) with --concurrency, then inserts the same resources with the MongoDB driver into a scratch\n"+
			"database (InsertOne per document, then InsertMany per Bundle and collection) and prints a Markdown report\n"+
			"(scripts/bench-ingest.sh starts a server on a fresh database and runs this).\n\nflags:\n")
		fs.PrintDefaults()
	}
	today := defaultToday
	fs.StringVar(&c.base, "base", "http://127.0.0.1:8080/fhir", "FHIR base URL of the careflow server (use a fresh database: the Bundles' conditional creates match what is already there)")
	fs.StringVar(&c.mongoURI, "mongodb-uri", "mongodb://127.0.0.1:27017/", "MongoDB URI for the raw phases (its path is ignored; empty: skip them)")
	fs.IntVar(&c.patients, "patients", 1000, "generated patients, one Bundle each (about 9.3 resources per Bundle)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the generated data set")
	fs.BoolVar(&c.history, "history", false, "generate each patient with its multi-type clinical history (care team, encounters, conditions,\nobservations with UCUM quantities, immunizations, prescriptions, referrals…: about 68 resources per Bundle)")
	fs.StringVar(&today, "today", defaultToday, "reference date of the generated data")
	fs.IntVar(&c.concurrency, "concurrency", 4, "Bundles in flight at once (careflow and raw phases alike)")
	fs.StringVar(&c.bundleType, "bundle-type", "transaction", "Bundle.type to POST: transaction, or batch (the same entries; a batch does not resolve\nthe urn:uuid references between entries, so those stay as they are)")
	rawHistory := fs.String("raw-history", "auto", "whether the raw phases insert a history document next to each current-version document: yes, no, or auto\n(yes for transaction, which writes both; no for batch, whose creates write the current-version document only)")
	fs.IntVar(&c.serverPID, "server-pid", 0, "pid of the careflow server, to report its CPU time per resource (Linux /proc)")
	fs.Var(&c.dbPIDs, "db-pids", "comma-separated pids of the database processes (FerretDB, PostgreSQL postmaster), to report the database's CPU time")
	fs.StringVar(&c.serverDB, "server-db", "", "database careflow uses on --mongodb-uri, to compare document shapes and to mirror indexes")
	fs.StringVar(&c.scratchDB, "scratch-db", "", "scratch database of the raw phases, dropped at the end (default careflow_bench_ingest_scratch_<pid>)")
	fs.BoolVar(&c.mirrorIdx, "mirror-indexes", false, "give the raw collections careflow's indexes (needs --server-db)")
	fs.BoolVar(&c.dropServerDB, "drop-server-db", false, "drop --server-db at the end (for a throw-away database, as scripts/bench-ingest.sh uses)")
	fs.DurationVar(&c.requestTimeout, "request-timeout", 5*time.Minute, "HTTP timeout of one Bundle")
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
		fmt.Fprintf(os.Stderr, "careflow-bench ingest: --today %q: want a date such as %s\n", today, defaultToday)
		return 2
	}
	switch *rawHistory {
	case "yes", "no":
		c.rawHistory = *rawHistory == "yes"
	case "auto":
		c.rawHistory = c.bundleType == "transaction"
	default:
		fmt.Fprintf(os.Stderr, "careflow-bench ingest: --raw-history %q: want yes, no or auto\n", *rawHistory)
		return 2
	}
	if c.scratchDB == "" {
		c.scratchDB = fmt.Sprintf("careflow_bench_ingest_scratch_%d", os.Getpid())
	}
	if c.command == "" {
		c.command = "careflow-bench ingest " + strings.Join(args, " ")
	}
	if err := c.check(); err != nil {
		fmt.Fprintln(os.Stderr, "careflow-bench ingest:", err)
		fs.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runIngest(ctx, c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "careflow-bench ingest:", err)
		return 1
	}
	return 0
}

// check rejects flag combinations that cannot run.
func (c ingestConfig) check() error {
	switch {
	case c.patients < 1:
		return fmt.Errorf("--patients must be at least 1")
	case c.concurrency < 1:
		return fmt.Errorf("--concurrency must be at least 1")
	case c.bundleType != "transaction" && c.bundleType != "batch":
		return fmt.Errorf("--bundle-type must be transaction or batch, not %q", c.bundleType)
	case c.requestTimeout <= 0:
		return fmt.Errorf("--request-timeout must be positive")
	case (c.mirrorIdx || c.dropServerDB) && c.serverDB == "":
		return fmt.Errorf("--mirror-indexes and --drop-server-db need --server-db")
	case c.serverDB != "" && c.mongoURI == "":
		return fmt.Errorf("--server-db needs --mongodb-uri")
	case c.serverDB != "" && c.serverDB == c.scratchDB:
		return fmt.Errorf("--scratch-db must differ from --server-db")
	}
	return nil
}

// phaseConfig is the part of the main benchmark's config that measure uses.
func (c ingestConfig) phaseConfig() config {
	return config{concurrency: c.concurrency, dbPIDs: c.dbPIDs}
}

// runIngest prepares the data, runs the careflow phase and the raw phases, and writes the report.
func runIngest(ctx context.Context, c ingestConfig, out io.Writer) (err error) {
	rep := &ingestReport{cfg: c, started: time.Now()}
	v, registry, err := careflowModel()
	if err != nil {
		return err
	}
	progress("generating %d patients (seed %d, today %s) and their raw documents …", c.patients, c.seed, c.today.Format(time.DateOnly))
	t0 := time.Now()
	set, err := prepareIngest(ctx, c, v, registry)
	if err != nil {
		return err
	}
	rep.data = set
	progress("  %d Bundles, %d resources in %s", len(set.bundles), set.resources, time.Since(t0).Round(time.Millisecond))

	fhir := newFHIRClient(c.base, c.concurrency)
	fhir.http.Timeout = c.requestTimeout
	if err := checkServer(ctx, fhir); err != nil {
		return err
	}
	var client *mongo.Client
	if c.mongoURI != "" {
		client, err = mongo.Connect(options.Client().ApplyURI(c.mongoURI).SetAppName("careflow-bench"))
		if err != nil {
			return fmt.Errorf("mongo connect: %w", err)
		}
		defer func() {
			err = errors.Join(err, cleanup(client, config{scratchDB: c.scratchDB, serverDB: c.serverDB, dropServerDB: c.dropServerDB}))
		}()
	}

	// careflow: one POST [base] per Bundle.
	tally := make(ingestTally, c.concurrency)
	name := fmt.Sprintf("careflow (POST %s Bundle)", c.bundleType)
	r := measure(ctx, c.phaseConfig(), name, budget{Requests: len(set.bundles)}, c.serverPID, httpIngest(fhir, set, tally))
	rep.careflow = tally.phase(r)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	if rep.careflow.OK == 0 {
		return fmt.Errorf("no Bundle was stored (%d errors): %v", rep.careflow.Errors, rep.careflow.Samples)
	}
	if client != nil {
		if err := runRawIngest(ctx, c, client, set, rep, tally.firstLocation()); err != nil {
			return err
		}
	}
	rep.write(out)
	writeSummary(c.summary, rep.summary())
	return nil
}

// summary is the ingest benchmark's numbers, for careflow-bench compare.
func (r *ingestReport) summary() summary {
	var m metrics
	if ph := r.careflow; ph != nil && ph.OK > 0 {
		m.add("Bundles", "Bundles/s", ph.RPS(), true)
		m.add("resources", "resources/s", ph.ResourcesPerSecond(), true)
		m.latency("per Bundle", ph.result)
		m.cpu("server CPU/resource", ph.CPU, ph.resources)
		m.add("errors", "Bundles", float64(ph.Errors), false)
	}
	return summary{Title: "careflow-bench ingest", Metrics: m}
}

// bundleResponse is what the benchmark reads of a transaction-response or batch-response.
type bundleResponse struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Entry        []struct {
		Response struct {
			Status   string          `json:"status"`
			Location string          `json:"location"`
			Outcome  json.RawMessage `json:"outcome"`
		} `json:"response"`
	} `json:"entry"`
}

// entryCounts is what one Bundle's response says about its entries.
type entryCounts struct {
	created, existed int    // 201, and 200 (an ifNoneExist that matched a stored resource)
	location         string // Location of the first entry (the Patient), e.g. Patient/<id>/_history/1
}

// checkBundleResponse checks the answer to one Bundle of want entries: a <bundleType>-response with
// one entry per request entry, each 201 Created or 200 OK; any other entry status is an error naming
// the first such entry.
func checkBundleResponse(body []byte, bundleType string, want int) (entryCounts, error) {
	var r bundleResponse
	var n entryCounts
	if err := json.Unmarshal(body, &r); err != nil {
		return n, fmt.Errorf("response Bundle: %w", err)
	}
	if r.ResourceType != "Bundle" || r.Type != bundleType+"-response" {
		return n, fmt.Errorf("response is %s of type %q, want a %s-response Bundle", r.ResourceType, r.Type, bundleType)
	}
	if len(r.Entry) != want {
		return n, fmt.Errorf("response has %d entries for %d requests", len(r.Entry), want)
	}
	var failed []string
	for k, e := range r.Entry {
		code, _, _ := strings.Cut(e.Response.Status, " ")
		switch code {
		case "201":
			n.created++
		case "200":
			n.existed++
		default:
			failed = append(failed, fmt.Sprintf("entry %d: %s %.200s", k, e.Response.Status, e.Response.Outcome))
		}
		if k == 0 {
			n.location = e.Response.Location
		}
	}
	if len(failed) > 0 {
		return n, fmt.Errorf("%d of %d entries failed, e.g. %s", len(failed), want, failed[0])
	}
	return n, nil
}

// ingestTally collects what a phase's successful Bundles stored, one slot per worker (no locking); the
// raw phases count every resource of a Bundle as created.
type ingestTally []struct {
	created, existed int
	// location is the first entry's Location in the answer to Bundle 0, when this worker sent it.
	location string
}

// phase wraps the careflow phase's result with the resources the successful Bundles stored.
func (t ingestTally) phase(r *result) *ingestPhase {
	p := &ingestPhase{result: r}
	for _, w := range t {
		p.created += w.created
		p.existed += w.existed
	}
	p.resources = p.created + p.existed
	return p
}

// firstLocation is the Location careflow answered for the first entry of Bundle 0 ("" if unknown).
func (t ingestTally) firstLocation() string {
	for _, w := range t {
		if w.location != "" {
			return w.location
		}
	}
	return ""
}

// httpIngest POSTs Bundle i to the base and checks every entry's answer.
func httpIngest(c *fhirClient, set *ingestSet, tally ingestTally) op {
	return func(ctx context.Context, w, i int) error {
		b := set.bundles[i]
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base, bytes.NewReader(b.body))
		if err != nil {
			return fmt.Errorf("bundle %d: %w", i, err)
		}
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("Accept", "application/fhir+json")
		req.Header.Set("Prefer", "return=minimal")
		resp, err := c.http.Do(req)
		if err != nil {
			return fmt.Errorf("bundle %d: POST: %w", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("bundle %d: read response: %w", i, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("bundle %d: status %d: %.300s", i, resp.StatusCode, body)
		}
		n, err := checkBundleResponse(body, set.bundleType, len(b.raw))
		if err != nil {
			return fmt.Errorf("bundle %d: %w", i, err)
		}
		tally[w].created += n.created
		tally[w].existed += n.existed
		if i == 0 {
			tally[w].location = n.location
		}
		return nil
	}
}
