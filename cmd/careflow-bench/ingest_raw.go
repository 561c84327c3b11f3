package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/careflow/careflow/fhir/resource"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/fhir/synth"
	"github.com/careflow/careflow/fhir/validate"
	"github.com/careflow/careflow/server/interaction"
	cfmongo "github.com/careflow/careflow/storage/mongo"
)

// ingestSet is the generated data set, ready for both sides.
type ingestSet struct {
	bundleType  string
	bundles     []ingestBundle
	resources   int
	byType      map[string]int
	bundleBytes sizeStats // compact Bundle JSON as POSTed
	jsonBytes   sizeStats // each resource's stamped JSON, as stored in raw
}

// ingestBundle is one patient: the Bundle careflow gets and the documents the raw phases insert.
type ingestBundle struct {
	body []byte        // compact Bundle JSON, Bundle.type set to the --bundle-type
	raw  []rawResource // one per entry, in entry order
}

// rawResource is one resource as careflow stores it when a transaction creates it: the current-version
// document in the type's collection and its copy in history.
type rawResource struct {
	typ              string
	current, history bson.D
}

// asBundleType returns the compact Bundle JSON with Bundle.type set to typ (fhir/synth writes
// transaction Bundles; their entries are valid batch entries too).
func asBundleType(data []byte, typ string) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	body := buf.Bytes()
	if typ == "transaction" {
		return body, nil
	}
	const from = `,"type":"transaction","entry":`
	if bytes.Count(body, []byte(from)) != 1 {
		return nil, fmt.Errorf("bundle: no top-level \"type\":\"transaction\" before the entries")
	}
	return bytes.Replace(body, []byte(from), []byte(`,"type":"`+typ+`","entry":`), 1), nil
}

// sortedIndex turns a registry.Index result into index fields in name order (storage/mongo appends the
// map's fields in Go's random map order; a fixed order keeps the raw documents reproducible).
func sortedIndex(idx map[string]any) []indexField {
	out := make([]indexField, 0, len(idx))
	for k, v := range idx {
		out = append(out, indexField{Key: k, Value: v})
	}
	slices.SortFunc(out, func(a, b indexField) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// rawResources builds the raw documents of one prepared Bundle: each entry validated and indexed as
// careflow does before it stores it (fhir/validate, registry.Index), stamped with its id, version 1 and
// lu (fhir/resource.Stamp, careflow's), as careflow's current-version and history documents
// (storage/mongo.VersionDoc and HistoryDoc). This runs before the raw phases are timed.
func rawResources(entries []bundleEntry, v *validate.Validator, reg *search.Registry, lu time.Time) ([]rawResource, error) {
	out := make([]rawResource, len(entries))
	pipeline := interaction.Pipeline{Validator: v, Registry: reg}
	for k, e := range entries {
		w, _, err := pipeline.Prepare(e.typ, e.body)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", e.typ, e.id, err)
		}
		idx := w.Index
		body, err := resource.Stamp(e.body, e.id, "1", lu)
		if err != nil {
			return nil, fmt.Errorf("stamp %s/%s: %w", e.typ, e.id, err)
		}
		cur := cfmongo.VersionDoc(e.id, 1, lu, "POST", string(body), sortedIndex(idx))
		out[k] = rawResource{typ: e.typ, current: cur, history: cfmongo.HistoryDoc(e.typ, cur)}
	}
	return out, nil
}

// prepareIngest generates every patient's Bundle and raw documents, with as many workers as CPUs.
func prepareIngest(ctx context.Context, c ingestConfig, v *validate.Validator, reg *search.Registry) (*ingestSet, error) {
	o := synth.Options{Seed: c.seed, Patients: c.patients, Today: c.today, History: c.history}
	lu := time.Now().UTC().Truncate(time.Millisecond)
	set := &ingestSet{bundleType: c.bundleType, bundles: make([]ingestBundle, c.patients), byType: map[string]int{}}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= c.patients {
					return
				}
				b, err := synth.Patient(o, i)
				if err != nil {
					cancel(fmt.Errorf("generate patient %d: %w", i, err))
					return
				}
				body, err := asBundleType(b.JSON, c.bundleType)
				if err != nil {
					cancel(fmt.Errorf("patient %d: %w", i, err))
					return
				}
				entries, err := prepareBundle(b.JSON)
				if err != nil {
					cancel(fmt.Errorf("patient %d: %w", i, err))
					return
				}
				raw, err := rawResources(entries, v, reg, lu)
				if err != nil {
					cancel(fmt.Errorf("patient %d: %w", i, err))
					return
				}
				set.bundles[i] = ingestBundle{body: body, raw: raw}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	for _, b := range set.bundles {
		set.bundleBytes.add(len(b.body))
		for _, r := range b.raw {
			set.resources++
			set.byType[r.typ]++
			set.jsonBytes.add(len(cfmongo.DocBody(r.current)))
		}
	}
	return set, nil
}

// collectionDocs is the documents of one Bundle that go into one collection.
type collectionDocs struct {
	name string
	docs []any
}

// byCollection groups a Bundle's documents for InsertMany: the current-version documents per type
// collection, in the order the types first occur, then (with history) the history documents.
func byCollection(raw []rawResource, history bool) []collectionDocs {
	var out []collectionDocs
	pos := map[string]int{}
	hist := collectionDocs{name: cfmongo.HistoryCollection}
	for _, r := range raw {
		k, ok := pos[r.typ]
		if !ok {
			k = len(out)
			pos[r.typ] = k
			out = append(out, collectionDocs{name: r.typ})
		}
		out[k].docs = append(out[k].docs, r.current)
		hist.docs = append(hist.docs, r.history)
	}
	if !history {
		return out
	}
	return append(out, hist)
}

// rawInsertOne inserts Bundle i's documents one InsertOne each: per resource its current-version
// document, then (with history) its history document.
func rawInsertOne(db *mongo.Database, set *ingestSet, history bool, tally ingestTally) op {
	return func(ctx context.Context, w, i int) error {
		hist := db.Collection(cfmongo.HistoryCollection)
		for _, r := range set.bundles[i].raw {
			if _, err := db.Collection(r.typ).InsertOne(ctx, r.current); err != nil {
				return fmt.Errorf("bundle %d: insert %s: %w", i, r.typ, err)
			}
			if !history {
				continue
			}
			if _, err := hist.InsertOne(ctx, r.history); err != nil {
				return fmt.Errorf("bundle %d: insert history of %s: %w", i, r.typ, err)
			}
		}
		tally[w].created += len(set.bundles[i].raw)
		return nil
	}
}

// rawInsertMany inserts Bundle i's documents with one InsertMany per collection.
func rawInsertMany(db *mongo.Database, set *ingestSet, history bool, tally ingestTally) op {
	return func(ctx context.Context, w, i int) error {
		for _, g := range byCollection(set.bundles[i].raw, history) {
			if _, err := db.Collection(g.name).InsertMany(ctx, g.docs); err != nil {
				return fmt.Errorf("bundle %d: insert many into %s: %w", i, g.name, err)
			}
		}
		tally[w].created += len(set.bundles[i].raw)
		return nil
	}
}

// resetScratch drops the scratch database and creates its collections (with careflow's indexes when
// --mirror-indexes), so that every raw phase starts from empty collections, as the careflow phase did.
// It returns the number of indexes per collection.
func resetScratch(ctx context.Context, c ingestConfig, client *mongo.Client, set *ingestSet) (map[string]int, error) {
	scratch := client.Database(c.scratchDB)
	if err := scratch.Drop(ctx); err != nil {
		return nil, fmt.Errorf("reset scratch database %s: %w", c.scratchDB, err)
	}
	colls := sortedKeys(set.byType)
	if c.rawHistory {
		colls = append(colls, cfmongo.HistoryCollection)
	}
	indexes := map[string]int{}
	for _, name := range colls {
		if err := scratch.CreateCollection(ctx, name); err != nil {
			return nil, fmt.Errorf("create scratch collection %s: %w", name, err)
		}
		indexes[name] = 1
		if c.mirrorIdx {
			n, err := copyIndexes(ctx, client.Database(c.serverDB).Collection(name), scratch.Collection(name))
			if err != nil {
				return nil, err
			}
			indexes[name] += n
		}
	}
	return indexes, nil
}

// runRawIngest runs the two raw phases, each on an emptied scratch database, and compares the stored
// documents with careflow's when the server's database is known (careflowLocation: the Location
// careflow answered for Bundle 0's Patient).
func runRawIngest(ctx context.Context, c ingestConfig, client *mongo.Client, set *ingestSet, rep *ingestReport, careflowLocation string) error {
	scratch := client.Database(c.scratchDB)
	b := budget{Requests: len(set.bundles)}
	for _, ph := range []struct {
		name string
		do   func(ingestTally) op
		into **ingestPhase
	}{
		{"raw InsertOne (" + map[bool]string{true: "2", false: "1"}[c.rawHistory] + " per resource)",
			func(t ingestTally) op { return rawInsertOne(scratch, set, c.rawHistory, t) }, &rep.insertOne},
		{"raw InsertMany (1 per Bundle and collection)", func(t ingestTally) op { return rawInsertMany(scratch, set, c.rawHistory, t) }, &rep.insertMany},
	} {
		indexes, err := resetScratch(ctx, c, client, set)
		if err != nil {
			return err
		}
		rep.rawIndexes = indexes
		tally := make(ingestTally, c.concurrency)
		r := measure(ctx, c.phaseConfig(), ph.name, b, os.Getpid(), ph.do(tally))
		*ph.into = tally.phase(r)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted: %w", err)
		}
	}
	if c.serverDB == "" || careflowLocation == "" {
		return nil
	}
	cfID, ok := idFromLocation(careflowLocation, "Patient")
	if !ok {
		progress("  (document shapes not compared: unexpected Location %q)", careflowLocation)
		return nil
	}
	first := set.bundles[0].raw[0]
	rawID, _ := first.current[0].Value.(string)
	server := client.Database(c.serverDB)
	type doc struct {
		what string
		coll *mongo.Collection
		id   string
	}
	docs := []doc{
		{"careflow Patient document", server.Collection("Patient"), cfID},
		{"raw Patient document", scratch.Collection("Patient"), rawID},
	}
	if c.rawHistory {
		docs = append(docs,
			doc{"careflow history document", server.Collection(cfmongo.HistoryCollection), "Patient/" + cfID + "/1"},
			doc{"raw history document", scratch.Collection(cfmongo.HistoryCollection), "Patient/" + rawID + "/1"})
	}
	for _, s := range docs {
		shape, err := shapeOf(ctx, s.coll, s.id)
		if errors.Is(err, mongo.ErrNoDocuments) {
			progress("  (%s %s not found: shapes not compared)", s.what, s.id)
			rep.shapes = nil
			return nil
		}
		if err != nil {
			return err
		}
		shape.What = s.what
		rep.shapes = append(rep.shapes, shape)
	}
	return nil
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
