package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/synth"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/storage"
)

// bundleEntry is one resource of a generated transaction Bundle, ready to store: its references to other
// entries resolved to "Type/id" and its JSON compacted.
type bundleEntry struct {
	typ, id string
	body    []byte
}

// urnUUID is the prefix of every fullUrl fhir/synth writes.
const urnUUID = "urn:uuid:"

// prepareBundle turns a transaction Bundle into the resources a server would store for it. Each entry's
// id is derived from its fullUrl (urn:uuid:<uuid> → <uuid>), which is deterministic for a seed, so a load
// can be repeated or resumed; every reference to an entry's fullUrl becomes "Type/<uuid>", as a
// transaction resolves it (bundle.html#references). The resource JSON is otherwise kept byte for byte
// (only compacted, as the HTTP layer receives it from a client that sends compact JSON).
func prepareBundle(data []byte) ([]bundleEntry, error) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if b.ResourceType != "Bundle" {
		return nil, fmt.Errorf("bundle: resourceType %q", b.ResourceType)
	}
	refs := make(map[string]string, len(b.Entry))
	out := make([]bundleEntry, len(b.Entry))
	for i, e := range b.Entry {
		var r struct {
			ResourceType string `json:"resourceType"`
		}
		if err := json.Unmarshal(e.Resource, &r); err != nil || r.ResourceType == "" {
			return nil, fmt.Errorf("bundle entry %d: no resourceType", i)
		}
		id, ok := strings.CutPrefix(e.FullURL, urnUUID)
		if !ok || id == "" {
			return nil, fmt.Errorf("bundle entry %d: fullUrl %q is not urn:uuid:<uuid>", i, e.FullURL)
		}
		refs[e.FullURL] = r.ResourceType + "/" + id
		out[i] = bundleEntry{typ: r.ResourceType, id: id}
	}
	for i, e := range b.Entry {
		var buf bytes.Buffer
		if err := json.Compact(&buf, e.Resource); err != nil {
			return nil, fmt.Errorf("bundle entry %d: %w", i, err)
		}
		body, err := resolveURNs(buf.Bytes(), refs)
		if err != nil {
			return nil, fmt.Errorf("bundle entry %d (%s): %w", i, out[i].typ, err)
		}
		out[i].body = body
	}
	return out, nil
}

// resolveURNs replaces every JSON string "urn:uuid:…" of body (compact JSON) by its reference in refs;
// a urn:uuid that names no entry of the bundle is an error (a server would reject the transaction).
func resolveURNs(body []byte, refs map[string]string) ([]byte, error) {
	needle := []byte(`"` + urnUUID)
	if !bytes.Contains(body, needle) {
		return body, nil
	}
	var out bytes.Buffer
	out.Grow(len(body))
	rest := body
	for {
		i := bytes.Index(rest, needle)
		if i < 0 {
			out.Write(rest)
			return out.Bytes(), nil
		}
		end := bytes.IndexByte(rest[i+1:], '"')
		if end < 0 {
			return nil, fmt.Errorf("unterminated string at %q", rest[i:min(len(rest), i+60)])
		}
		urn := string(rest[i+1 : i+1+end])
		ref, ok := refs[urn]
		if !ok {
			return nil, fmt.Errorf("reference %s names no entry of the bundle", urn)
		}
		out.Write(rest[:i+1])
		out.WriteString(ref)
		rest = rest[i+1+end:]
	}
}

// patientFacts is what the query phase needs to know of a loaded patient to choose its parameters.
type patientFacts struct {
	index  int
	id     string
	family string // first family name
	// appointments counts the patient's Appointments; bookedFrom those booked and starting on or after
	// --today.
	appointments, bookedFrom int
	// allergies counts the patient's AllergyIntolerances; activeAllergies those with clinicalStatus active.
	allergies, activeAllergies int
}

// factsOf reads the facts of one prepared bundle (its Patient is the one with facts.id).
func factsOf(index int, entries []bundleEntry, today time.Time) (patientFacts, error) {
	f := patientFacts{index: index}
	day := today.Format(time.DateOnly)
	for _, e := range entries {
		switch e.typ {
		case "Patient":
			var p struct {
				Name []struct {
					Family string `json:"family"`
				} `json:"name"`
			}
			if err := json.Unmarshal(e.body, &p); err != nil {
				return f, err
			}
			f.id = e.id
			for _, n := range p.Name {
				if n.Family != "" {
					f.family = n.Family
					break
				}
			}
		case "Appointment":
			var a struct {
				Status string `json:"status"`
				Start  string `json:"start"`
			}
			if err := json.Unmarshal(e.body, &a); err != nil {
				return f, err
			}
			f.appointments++
			if a.Status == "booked" && a.Start >= day {
				f.bookedFrom++
			}
		case "AllergyIntolerance":
			var a struct {
				ClinicalStatus struct {
					Coding []struct {
						Code string `json:"code"`
					} `json:"coding"`
				} `json:"clinicalStatus"`
			}
			if err := json.Unmarshal(e.body, &a); err != nil {
				return f, err
			}
			f.allergies++
			for _, c := range a.ClinicalStatus.Coding {
				if c.Code == "active" {
					f.activeAllergies++
					break
				}
			}
		}
	}
	if f.id == "" {
		return f, fmt.Errorf("bundle %d has no Patient", index)
	}
	return f, nil
}

// loadStats is what the load phase did.
type loadStats struct {
	facts        []patientFacts
	byType       map[string]int // resources of the data set, per type
	resources    int            // resources of the data set
	written      int            // resources this run stored
	existing     int            // resources found already stored (--reuse)
	skipped      bool           // --reuse found everything stored: nothing was written
	elapsed      time.Duration  // wall time of the writing pass
	genElapsed   time.Duration  // wall time of a generate-only pass (--reuse)
	cpu, dbCPU   *cpuTime       // the load generator's and the database's CPU time during the writing pass
	bodyBytes    int64          // total JSON bytes stored
	store        string         // the storage package loaded through ("storage/mongo" when empty)
	closeElapsed time.Duration  // closing the store after the load (SQLite: the writer stops, PRAGMA optimize)
	disk         *diskStats     // SQLite: the files after the load
}

// rate is the writing pass's throughput in resources per second.
func (l *loadStats) rate() float64 {
	if l.elapsed <= 0 {
		return 0
	}
	return float64(l.written) / l.elapsed.Seconds()
}

// load generates the data set and stores it through careflow's storage layer (what POST [type] stores:
// the validated body and the registry's index of the validated tree), or, with --reuse, checks that it is
// already there.
func (e *searchEnv) load(ctx context.Context) (*loadStats, error) {
	c := e.cfg
	stored, err := e.storedCounts(ctx)
	if err != nil {
		return nil, err
	}
	storedTotal := 0
	for _, n := range stored {
		storedTotal += n
	}
	if storedTotal > 0 && !c.reuse {
		return nil, fmt.Errorf("database %s already holds %d resources; pass --reuse to use them, or use a fresh database", c.db, storedTotal)
	}
	if c.reuse && storedTotal > 0 {
		// Generate only, to learn the data set's facts and expected counts.
		st, err := e.pass(ctx, false)
		if err != nil {
			return nil, err
		}
		st.genElapsed, st.elapsed = st.elapsed, 0
		same := true
		for _, t := range definitions.ResourceTypes {
			if stored[t] != st.byType[t] {
				same = false
			}
		}
		if same {
			progress("database %s already holds the %d resources of %d patients (seed %d): not loading", c.db, st.resources, c.patients, c.seed)
			st.skipped = true
			return st, nil
		}
		progress("database %s holds %v, the data set has %v: loading what is missing", c.db, stored, st.byType)
	}
	return e.pass(ctx, true)
}

// storedCounts counts the documents of each resource collection.
func (e *searchEnv) storedCounts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	for _, t := range definitions.ResourceTypes {
		n, err := e.db.Collection(t).CountDocuments(ctx, bson.D{})
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		out[t] = int(n)
	}
	return out, nil
}

// pass generates every patient's bundle with --load-concurrency workers and, when write is set, stores
// its resources (one Store.Create each, with the bundle's deterministic ids).
func (e *searchEnv) pass(ctx context.Context, write bool) (*loadStats, error) {
	c := e.cfg
	o := synth.Options{Seed: c.seed, Patients: c.patients, Today: c.today}
	st := &loadStats{facts: make([]patientFacts, c.patients), byType: map[string]int{}}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var next, done, written, existing atomic.Int64
	var bodyBytes atomic.Int64
	var mu sync.Mutex // guards st.byType
	what := "generating"
	if write {
		what = "loading"
	}
	progress("%s %d patients (seed %d, today %s), %d workers …", what, c.patients, c.seed, c.today.Format(time.DateOnly), c.loadConcurrency)
	var cpu0 cpuTime
	var db0 map[int]cpuTime
	cpuErr, dbErr := errors.New("not measured"), errors.New("not measured")
	if write {
		cpu0, cpuErr = processCPU(os.Getpid())
		if len(c.dbPIDs) > 0 {
			db0, dbErr = treeCPU(c.dbPIDs)
		}
	}
	start := time.Now()
	stopTicker := make(chan struct{})
	var tickerDone sync.WaitGroup
	tickerDone.Add(1)
	go func() {
		defer tickerDone.Done()
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopTicker:
				return
			case <-t.C:
				el := time.Since(start).Seconds()
				progress("  %d/%d patients, %d resources written (%.0f/s), %d already there", done.Load(), c.patients,
					written.Load(), float64(written.Load())/el, existing.Load())
			}
		}
	}()

	var wg sync.WaitGroup
	for range c.loadConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[string]int{}
			defer func() {
				mu.Lock()
				for t, n := range local {
					st.byType[t] += n
				}
				mu.Unlock()
			}()
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
				entries, err := prepareBundle(b.JSON)
				if err != nil {
					cancel(fmt.Errorf("patient %d: %w", i, err))
					return
				}
				f, err := factsOf(i, entries, c.today)
				if err != nil {
					cancel(fmt.Errorf("patient %d: %w", i, err))
					return
				}
				st.facts[i] = f
				for _, en := range entries {
					local[en.typ]++
					if !write {
						continue
					}
					created, err := e.store1(ctx, en)
					if err != nil {
						cancel(fmt.Errorf("patient %d: %w", i, err))
						return
					}
					if created {
						written.Add(1)
						bodyBytes.Add(int64(len(en.body)))
					} else {
						existing.Add(1)
					}
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	st.elapsed = time.Since(start)
	close(stopTicker)
	tickerDone.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	if write {
		if cpu1, err := processCPU(os.Getpid()); cpuErr == nil && err == nil {
			used := cpu1.Sub(cpu0)
			st.cpu = &used
		}
		if db1, err := treeCPU(c.dbPIDs); dbErr == nil && err == nil {
			used := treeCPUUsed(db0, db1)
			st.dbCPU = &used
		}
	}
	for _, n := range st.byType {
		st.resources += n
	}
	st.written, st.existing, st.bodyBytes = int(written.Load()), int(existing.Load()), bodyBytes.Load()
	if write {
		progress("  stored %d resources in %s (%.0f resources/s); %d were already there", st.written,
			st.elapsed.Round(time.Millisecond), st.rate(), st.existing)
	} else {
		progress("  generated %d resources in %s", st.resources, st.elapsed.Round(time.Millisecond))
	}
	return st, nil
}

// store1 stores one resource as careflow's create does: validate, index the validated tree, Store.Create
// (here with the bundle's id). It reports false when the resource already exists (only with --reuse).
func (e *searchEnv) store1(ctx context.Context, en bundleEntry) (bool, error) {
	w, _, err := interaction.Pipeline{Validator: e.validator, Registry: e.registry}.Prepare(en.typ, en.body)
	if err != nil {
		return false, fmt.Errorf("%s/%s: %w", en.typ, en.id, err)
	}
	w.ID = en.id
	_, err = e.store.Create(ctx, w)
	if errors.Is(err, storage.ErrExists) && e.cfg.reuse {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}
