package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// rawCollection is the scratch collection of the raw phases.
const rawCollection = "Patient"

// run executes the four phases and writes the report to out.
func run(ctx context.Context, c config, out io.Writer) (err error) {
	patients := newCorpus(c.seed, c.requests)
	rep := &report{cfg: c, started: time.Now()}
	fhir := newFHIRClient(c.base, c.concurrency)
	fhir.authorize(c.bearerToken)
	if fhir.wire != nil {
		defer fhir.wire.close()
	}
	if err := checkServer(ctx, fhir); err != nil {
		return err
	}
	var client *mongo.Client
	if c.mongoURI != "" {
		client, err = mongo.Connect(options.Client().ApplyURI(c.mongoURI).SetAppName("careflow-bench"))
		if err != nil {
			return fmt.Errorf("mongo connect: %w", err)
		}
		defer func() { err = errors.Join(err, cleanup(client, c)) }()
	}

	// a. HTTP create.
	created := make(idSink, c.concurrency)
	rep.create = measure(ctx, c, "careflow create (HTTP POST)", c.createBudget(), c.serverPID, httpCreate(fhir, patients, created))
	ids := created.all()
	if len(ids) == 0 {
		return fmt.Errorf("no Patient was created (%d errors): %v", rep.create.Errors, rep.create.Samples)
	}
	for i := range ids {
		rep.sizes.add(len(patients.patient(i).JSON))
	}

	// b. HTTP read.
	rep.read = measure(ctx, c, "careflow read (HTTP GET)", c.readBudget(), c.serverPID, httpRead(fhir, randomIDs(c.seed, c.concurrency, ids)))
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}

	if client != nil {
		if err := runRaw(ctx, c, client, patients, rep, ids); err != nil {
			return err
		}
	}
	rep.write(out)
	writeSummary(c.summary, rep.summary())
	return nil
}

// summary is the main benchmark's numbers, for careflow-bench compare.
func (r *report) summary() summary {
	var m metrics
	for _, ph := range []struct {
		name string
		r    *result
	}{{"create (HTTP POST Patient)", r.create}, {"read (HTTP GET Patient)", r.read}} {
		if ph.r == nil || ph.r.OK == 0 {
			continue
		}
		m.add(ph.name, "req/s", ph.r.RPS(), true)
		m.latency(ph.name, ph.r)
		if ph.r.CPU != nil {
			m.cpu(ph.name+" server CPU/req", ph.r.CPU, ph.r.OK)
		}
	}
	return summary{Title: "careflow-bench", Metrics: m}
}

// cleanup drops the scratch database (and the server's, with --drop-server-db) and disconnects. It runs
// even when the run was interrupted, so it does not use the run's context.
func cleanup(client *mongo.Client, c config) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	drop := []string{c.scratchDB}
	if c.dropServerDB {
		drop = append(drop, c.serverDB)
	}
	var errs []error
	for _, name := range drop {
		if err := client.Database(name).Drop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("drop database %s: %w", name, err))
		} else {
			progress("dropped database %s", name)
		}
	}
	if err := client.Disconnect(ctx); err != nil {
		errs = append(errs, fmt.Errorf("mongo disconnect: %w", err))
	}
	return errors.Join(errs...)
}

// runRaw runs phases c and d on a scratch database and compares the stored documents when the server's
// database is known. The raw phase inserts as many Patients as careflow created, so that both collections
// hold the same number of documents for the read phases.
func runRaw(ctx context.Context, c config, client *mongo.Client, patients *corpus, rep *report, careflowIDs []string) error {
	scratch := client.Database(c.scratchDB)
	if err := scratch.Drop(ctx); err != nil {
		return fmt.Errorf("reset scratch database %s: %w", c.scratchDB, err)
	}
	coll := scratch.Collection(rawCollection)
	if err := scratch.CreateCollection(ctx, rawCollection); err != nil {
		return fmt.Errorf("create scratch collection: %w", err)
	}
	var server *mongo.Collection
	if c.serverDB != "" {
		server = client.Database(c.serverDB).Collection("Patient")
	}
	if c.mirrorIdx {
		if err := mirrorIndexes(ctx, server, coll); err != nil {
			return err
		}
	}

	// c. Raw insert.
	inserted := make(idSink, c.concurrency)
	rep.insert = measure(ctx, c, "raw insert (driver InsertOne)", budget{Requests: len(careflowIDs)}, os.Getpid(), rawInsert(coll, patients, inserted))
	rawIDs := inserted.all()
	if len(rawIDs) == 0 {
		return fmt.Errorf("no raw document was inserted (%d errors): %v", rep.insert.Errors, rep.insert.Samples)
	}

	// d. Raw read.
	rep.find = measure(ctx, c, "raw read (driver FindOne _id)", c.readBudget(), os.Getpid(), rawRead(coll, randomIDs(c.seed, c.concurrency, rawIDs)))
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}

	if server != nil {
		for _, s := range []struct {
			what string
			coll *mongo.Collection
			id   string
		}{{"careflow document", server, careflowIDs[0]}, {"raw document", coll, rawIDs[0]}} {
			shape, err := shapeOf(ctx, s.coll, s.id)
			if err != nil {
				return err
			}
			shape.What = s.what
			rep.shapes = append(rep.shapes, shape)
		}
	}
	return nil
}

// measure runs one phase and logs progress. When pid > 0 it also measures the CPU time process pid uses
// during the phase: the server's for the HTTP phases, the load generator's own for the raw phases (what a
// Go program spends in the driver for the same database operations).
func measure(ctx context.Context, c config, name string, b budget, pid int, do op) *result {
	progress("%s: %s, concurrency %d …", name, b, c.concurrency)
	var cpu0 cpuTime
	var db0 map[int]cpuTime
	var cpuErr, dbErr error
	if pid > 0 {
		cpu0, cpuErr = processCPU(pid)
	}
	if len(c.dbPIDs) > 0 {
		db0, dbErr = treeCPU(c.dbPIDs)
	}
	r := runPhase(ctx, name, c.concurrency, b, do)
	if pid > 0 && cpuErr == nil {
		if cpu1, err := processCPU(pid); err == nil {
			used := cpu1.Sub(cpu0)
			r.CPU = &used
		} else {
			cpuErr = err
		}
	}
	if len(c.dbPIDs) > 0 && dbErr == nil {
		if db1, err := treeCPU(c.dbPIDs); err == nil {
			used := treeCPUUsed(db0, db1)
			r.DBCPU = &used
		} else {
			dbErr = err
		}
	}
	if err := errors.Join(cpuErr, dbErr); err != nil {
		progress("  (CPU not measured: %v)", err)
	}
	progress("  %d ok, %d errors in %s: %.0f req/s, p50 %s ms, p99 %s ms", r.OK, r.Errors,
		r.Elapsed.Round(time.Millisecond), r.RPS(), ms(r.Quantile(0.5)), ms(r.Quantile(0.99)))
	return r
}

// checkServer fails fast when the FHIR base does not answer.
func checkServer(ctx context.Context, c *fhirClient) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metadata", nil)
	if err != nil {
		return fmt.Errorf("server check: %w", err)
	}
	if _, err := c.do(req, http.StatusOK); err != nil {
		return fmt.Errorf("server check: %w", err)
	}
	return nil
}

// mirrorIndexes gives dst the secondary indexes of src (careflow's Patient collection).
func mirrorIndexes(ctx context.Context, src, dst *mongo.Collection) error {
	n, err := copyIndexes(ctx, src, dst)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("careflow's Patient collection has no secondary indexes to mirror (wrong --server-db?)")
	}
	progress("raw collection: mirrored %d careflow indexes", n)
	return nil
}

// copyIndexes creates on dst the secondary indexes of src (same keys and names) and returns how many.
func copyIndexes(ctx context.Context, src, dst *mongo.Collection) (int, error) {
	cur, err := src.Indexes().List(ctx)
	if err != nil {
		return 0, fmt.Errorf("list indexes of %s: %w", src.Name(), err)
	}
	var specs []struct {
		Name string `bson:"name"`
		Key  bson.D `bson:"key"`
	}
	if err := cur.All(ctx, &specs); err != nil {
		return 0, fmt.Errorf("list indexes of %s: %w", src.Name(), err)
	}
	var models []mongo.IndexModel
	for _, s := range specs {
		if s.Name != "_id_" {
			models = append(models, mongo.IndexModel{Keys: s.Key, Options: options.Index().SetName(s.Name)})
		}
	}
	if len(models) == 0 {
		return 0, nil
	}
	if _, err := dst.Indexes().CreateMany(ctx, models); err != nil {
		return 0, fmt.Errorf("mirror the indexes of %s: %w", src.Name(), err)
	}
	return len(models), nil
}

// shapeOf describes document id of coll.
func shapeOf(ctx context.Context, coll *mongo.Collection, id string) (docShape, error) {
	raw, err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if err != nil {
		return docShape{}, fmt.Errorf("read %s/%s: %w", coll.Database().Name(), id, err)
	}
	elems, err := raw.Elements()
	if err != nil {
		return docShape{}, fmt.Errorf("decode %s/%s: %w", coll.Database().Name(), id, err)
	}
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		return docShape{}, fmt.Errorf("list indexes of %s: %w", coll.Database().Name(), err)
	}
	return docShape{Fields: len(elems), Bytes: len(raw), Indexes: len(specs)}, nil
}

// progress logs to stderr, keeping stdout for the Markdown report.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "careflow-bench: "+format+"\n", args...)
}
