package worklist_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careflow/careflow/adapters/internal/adaptertest"
	"github.com/careflow/careflow/adapters/internal/fetch"
	"github.com/careflow/careflow/adapters/worklist"
	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/fhir/synth"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
)

// incrementalToday is the generated data set's today in the incremental tests.
var incrementalToday = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

// listing renders every Task of a worklist — id, code, references, owner, priority, due instant, status
// and the resource's bytes — one line each.
func listing(tasks []worklist.Task) string {
	var b strings.Builder
	for _, t := range tasks {
		sum := sha256.Sum256(t.Resource)
		fmt.Fprintf(&b, "%s %s %s %s reason=%s owner=%s %s %s %s stored=%t %s\n", t.ID, t.Code, t.Patient, t.Focus, t.Reason,
			t.Owner, t.Priority, t.Due.UTC().Format(time.RFC3339Nano), t.Status, t.Stored, hex.EncodeToString(sum[:8]))
	}
	return b.String()
}

// incrementalEnv is a store with generated patients and what the steps of TestIncrementalMatchesCold
// need of it.
type incrementalEnv struct {
	*adaptertest.Env
	tx interface {
		Transact(ctx context.Context, ops []storage.TxOp) ([]storage.TxResult, error)
	}
}

// all returns the current resources of typ matching params, by id.
func (e incrementalEnv) all(typ string, params url.Values) []*storage.Version {
	e.T.Helper()
	vs, err := fetch.Fetcher{Store: e.Store, Registry: e.Registry}.All(context.Background(), typ, params)
	if err != nil {
		e.T.Fatal(err)
	}
	if len(vs) == 0 {
		e.T.Fatalf("no %s?%s in the data set", typ, params.Encode())
	}
	return vs
}

// op prepares a transaction op as the REST API would.
func (e incrementalEnv) op(kind storage.TxKind, typ, id, body string) storage.TxOp {
	e.T.Helper()
	op := storage.TxOp{Kind: kind, Write: storage.Write{Type: typ, ID: id}}
	if kind != storage.TxDelete {
		w, _, err := interaction.Pipeline{Validator: e.Validator, Registry: e.Registry}.Prepare(typ, []byte(body))
		if err != nil {
			e.T.Fatal(err)
		}
		w.ID = id
		op.Write = w
	}
	return op
}

// withID returns body (a stored resource) with another id.
func withID(v *storage.Version, id string) string {
	return strings.Replace(string(v.Body), `"id":"`+v.ID+`"`, `"id":"`+id+`"`, 1)
}

// patientOf returns the first Patient reference in a body.
func patientOf(t testing.TB, v *storage.Version) string {
	i := strings.Index(string(v.Body), `"reference":"Patient/`)
	if i < 0 {
		t.Fatalf("%s/%s names no patient", v.Type, v.ID)
	}
	rest := string(v.Body)[i+len(`"reference":"`):]
	return rest[:strings.IndexByte(rest, '"')]
}

// TestIncrementalMatchesCold writes, updates and deletes resources of several types between whole
// builds — a cancelled and a moved appointment, a new allergy, a deleted and re-created care plan,
// resources no workflow reads, a transaction, a deleted patient, a coordinator's Task — and checks after
// each write that the whole worklist brought up to date from the change feed is the one a build from
// scratch gives, byte for byte, on both stores (on MongoDB with a settle window, so that the feed lists
// writes again; the steps that need no fixture of an earlier one, since builds from scratch are slow on
// FerretDB). On the embedded store, whose feed is exact, every build after the first is an update.
func TestIncrementalMatchesCold(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		e := adaptertest.New(t)
		testIncremental(t, incrementalEnv{Env: e, tx: e.Store.(interface {
			Transact(ctx context.Context, ops []storage.TxOp) ([]storage.TxResult, error)
		})}, true)
	})
	t.Run("mongo", func(t *testing.T) {
		mongotest.Require(t)
		e := adaptertest.New(t)
		s := mongotest.OpenWith(t, mongo.Options{Types: definitions.ResourceTypes, Registry: e.Registry, FeedSettle: 500 * time.Millisecond})
		e.Store = s
		testIncremental(t, incrementalEnv{Env: e, tx: s}, false)
	})
}

func testIncremental(t *testing.T, e incrementalEnv, exact bool) {
	ctx := context.Background()
	e.Synth(synth.Options{Seed: 18, Patients: 5, Today: incrementalToday})
	w := worklist.New(e.Store, e.Registry)
	now := incrementalToday.Add(9 * time.Hour)
	opt := worklist.Options{Statuses: worklist.TaskStatuses()}
	check := func(step string) string {
		t.Helper()
		got, err := w.Build(ctx, now, opt)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		want, err := w.Uncached().Build(ctx, now, opt)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if g, w := listing(got), listing(want); g != w {
			t.Errorf("after %s, the worklist brought up to date differs from a build from scratch", step)
			diffLines(t, g, w)
		}
		return listing(got)
	}
	before := check("the first build")

	// The targets: resources the worklist holds items about, so that each write changes it.
	first, err := w.Uncached().Build(ctx, now, opt)
	if err != nil {
		t.Fatal(err)
	}
	focus := func(code, prefix string) (string, string) { // the first item's focus id and patient
		for _, task := range first {
			if task.Code == code && strings.HasPrefix(task.Focus, prefix) {
				return strings.TrimPrefix(task.Focus, prefix), task.Patient
			}
		}
		t.Fatalf("no %s item about a %s in the data set", code, prefix)
		return "", ""
	}
	gapAppointment, _ := focus(worklist.CoverageGap, "Appointment/")
	_, uninsured := focus(worklist.CoverageGap, "Patient/")
	planID, _ := focus(worklist.CarePlanPeriodEnded, "CarePlan/")
	read := func(typ, id string) *storage.Version {
		for _, v := range e.all(typ, url.Values{"_id": {id}}) {
			return v
		}
		return nil
	}
	plan := read("CarePlan", planID)
	patients := e.all("Patient", nil)
	coverages := e.all("Coverage", url.Values{"status": {"active"}})
	statements := e.all("MedicationStatement", url.Values{"status": {"active"}})
	booked := e.all("Appointment", url.Values{"status": {"booked"}})
	insured := patientOf(t, coverages[0])
	if insured == uninsured {
		t.Fatal("the uninsured patient has an active coverage")
	}
	steps := []struct {
		name    string
		write   func()
		changes bool // the worklist changes
		subset  bool // also on MongoDB (on FerretDB, builds from scratch are slow)
	}{
		{"an appointment cancelled", func() {
			v := read("Appointment", gapAppointment)
			e.Put("Appointment", v.ID, strings.Replace(string(v.Body), `"status":"booked"`, `"status":"cancelled"`, 1))
		}, true, true},
		{"an appointment booked for an insured patient", func() {
			e.Put("Appointment", "moved-appt", `{"status":"booked","start":"2026-12-02T10:00:00Z","end":"2026-12-02T10:30:00Z","participant":[{"actor":{"reference":"`+insured+`"},"status":"accepted"}]}`)
		}, false, true},
		{"the appointment moved to an uninsured patient", func() {
			e.Put("Appointment", "moved-appt", `{"status":"booked","start":"2026-12-02T10:00:00Z","end":"2026-12-02T10:30:00Z","participant":[{"actor":{"reference":"`+uninsured+`"},"status":"accepted"}]}`)
		}, true, true},
		{"an allergy to a medication the patient takes", func() {
			var ms struct {
				Medication json.RawMessage `json:"medicationCodeableConcept"`
				Subject    struct {
					Reference string `json:"reference"`
				} `json:"subject"`
			}
			if err := json.Unmarshal(statements[0].Body, &ms); err != nil || ms.Medication == nil {
				t.Fatalf("MedicationStatement/%s: no medicationCodeableConcept (%v)", statements[0].ID, err)
			}
			e.Put("AllergyIntolerance", "new-allergy", `{"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},"criticality":"high","code":`+
				string(ms.Medication)+`,"patient":{"reference":"`+ms.Subject.Reference+`"}}`)
		}, true, false},
		{"a care plan deleted", func() { e.Delete("CarePlan", plan.ID) }, true, false},
		{"a plan with a follow-up an appointment covers", func() {
			e.Put("Appointment", "direct-appt", `{"status":"booked","start":"2026-12-01T10:00:00Z","end":"2026-12-01T10:30:00Z","participant":[{"actor":{"reference":"Practitioner/pr-incremental"},"status":"accepted"}]}`)
			e.Put("CarePlan", "linked-plan", `{"status":"active","intent":"plan","subject":{"reference":"Patient/`+patients[0].ID+`"},"activity":[{"reference":{"reference":"Appointment/direct-appt"},"detail":{"kind":"Appointment","status":"scheduled","description":"Review","scheduledPeriod":{"start":"2026-12-01"}}}]}`)
		}, false, false},
		{"the covering appointment cancelled (it names neither patient nor plan)", func() {
			e.Put("Appointment", "direct-appt", `{"status":"cancelled","start":"2026-12-01T10:00:00Z","end":"2026-12-01T10:30:00Z","participant":[{"actor":{"reference":"Practitioner/pr-incremental"},"status":"accepted"}]}`)
		}, true, false},
		{"an appointment without patient linked to the plan", func() {
			e.Put("Appointment", "linked-appt", `{"status":"booked","start":"2026-12-01T11:00:00Z","end":"2026-12-01T11:30:00Z","supportingInformation":[{"reference":"CarePlan/linked-plan"}],"participant":[{"actor":{"reference":"Practitioner/pr-incremental"},"status":"accepted"}]}`)
		}, true, false},
		{"resources no workflow reads", func() {
			e.Put("Organization", "org-incremental", `{"name":"Payer"}`)
			e.Put("Practitioner", "pr-incremental", `{"name":[{"family":"Doe"}]}`)
			e.Put("Observation", "obs-incremental", `{"status":"final","code":{"text":"x"},"subject":{"reference":"`+"Patient/"+patients[0].ID+`"}}`)
		}, false, true},
		{"a transaction", func() {
			ops := []storage.TxOp{
				e.op(storage.TxUpdate, "Coverage", coverages[0].ID, strings.Replace(string(coverages[0].Body), `"status":"active"`, `"status":"cancelled"`, 1)),
				e.op(storage.TxDelete, "MedicationStatement", statements[0].ID, ""),
				e.op(storage.TxCreate, "Appointment", "copied-appointment", withID(booked[0], "copied-appointment")),
			}
			if _, err := e.tx.Transact(ctx, ops); err != nil {
				t.Fatal(err)
			}
		}, true, true},
		{"a hospital discharge (second-generation items)", func() {
			e.Put("Encounter", "stay-incremental", `{"status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/`+patients[1].ID+`"},"period":{"start":"`+
				incrementalToday.AddDate(0, 0, -4).Format(time.RFC3339)+`","end":"`+incrementalToday.AddDate(0, 0, -1).Format(time.RFC3339)+`"}}`)
		}, true, true},
		{"the call after the discharge", func() {
			e.Put("Communication", "call-incremental", `{"status":"completed","subject":{"reference":"Patient/`+patients[1].ID+`"},"sent":"`+incrementalToday.Format(time.RFC3339)+`"}`)
		}, true, false},
		{"a prior authorization denied", func() {
			e.Put("Claim", "pa-incremental", `{"status":"active","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"professional"}]},"use":"preauthorization",
			  "patient":{"reference":"Patient/`+patients[2].ID+`"},"created":"`+incrementalToday.AddDate(0, 0, -10).Format(time.RFC3339)+`","provider":{"reference":"Organization/clinic"},
			  "priority":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/processpriority","code":"normal"}]},"insurance":[{"sequence":1,"focal":true,"coverage":{"reference":"Coverage/c"}}]}`)
			e.Put("ClaimResponse", "deny-incremental", `{"status":"active","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"professional"}]},"use":"preauthorization",
			  "patient":{"reference":"Patient/`+patients[2].ID+`"},"created":"`+incrementalToday.AddDate(0, 0, -8).Format(time.RFC3339)+`","insurer":{"reference":"Organization/payer"},"outcome":"error","request":{"reference":"Claim/pa-incremental"}}`)
		}, true, false},
		{"the deleted care plan re-created", func() { e.Put("CarePlan", plan.ID, string(plan.Body)) }, true, false},
		{"a patient deleted", func() { e.Delete("Patient", strings.TrimPrefix(uninsured, "Patient/")) }, false, true},
		{"a coordinator's Task", func() {
			var last worklist.Task
			tasks, err := w.Build(ctx, now, worklist.Options{})
			if err != nil || len(tasks) == 0 {
				t.Fatalf("no open tasks: %v", err)
			}
			last = tasks[len(tasks)-1]
			e.Put("Task", last.ID, fmt.Sprintf(`{"status":"completed","intent":"order","for":{"reference":%q}}`, last.Patient))
		}, true, true},
	}
	n := 0
	for _, s := range steps {
		if !exact && !s.subset {
			continue
		}
		n++
		s.write()
		after := check(s.name)
		if s.changes && after == before {
			t.Errorf("%s did not change the worklist: the step tests nothing", s.name)
		}
		before = after
	}
	scratch, updated := worklist.WholeBuilds(w)
	t.Logf("%d whole builds from scratch, %d brought up to date", scratch, updated)
	if !exact {
		return
	}
	if scratch != 1 || updated < n {
		t.Errorf("%d whole builds from scratch and %d updates, want 1 and at least %d", scratch, updated, n)
	}
	// A version that names no patient cannot be attributed: the next build is from scratch.
	e.Put("CarePlan", "group-plan", `{"status":"active","intent":"plan","subject":{"reference":"Group/g1"},"period":{"end":"2026-11-01"},"activity":[{"detail":{"kind":"Appointment","status":"scheduled","description":"Group session","scheduledPeriod":{"start":"2026-12-03"}}}]}`)
	before = check("a care plan of a group")
	if s, _ := worklist.WholeBuilds(w); s != 2 {
		t.Errorf("after a care plan naming no patient, %d whole builds from scratch, want 2", s)
	}
	// Nor can a version that changes the items of such a plan: a patient's appointment linked to it.
	e.Put("Appointment", "group-appt", `{"status":"booked","start":"2026-12-03T10:00:00Z","end":"2026-12-03T10:30:00Z","supportingInformation":[{"reference":"CarePlan/group-plan"}],"participant":[{"actor":{"reference":"`+insured+`"},"status":"accepted"}]}`)
	if check("an appointment linked to the group's plan") == before {
		t.Error("an appointment linked to the group's plan did not change the worklist: the step tests nothing")
	}
	if s, _ := worklist.WholeBuilds(w); s != 3 {
		t.Errorf("after an appointment linked to a plan naming no patient, %d whole builds from scratch, want 3", s)
	}
}

// TestIncrementalConcurrent runs whole builds concurrently with writes (under -race: no data race on the
// kept build) and checks that the last one is the build from scratch.
func TestIncrementalConcurrent(t *testing.T) {
	e := incrementalEnv{Env: adaptertest.New(t)}
	e.Synth(synth.Options{Seed: 5, Patients: 8, Today: incrementalToday})
	w := worklist.New(e.Store, e.Registry)
	ctx := context.Background()
	now := incrementalToday
	opt := worklist.Options{DueTo: now.AddDate(0, 0, 1)}
	booked := e.all("Appointment", url.Values{"status": {"booked"}})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3 {
				if _, err := w.Build(ctx, now, opt); err != nil {
					errs <- err
				}
				if g == 0 {
					v := booked[i%len(booked)]
					if _, err := e.Write("Appointment", v.ID, strings.Replace(string(v.Body), `"status":"booked"`, `"status":"noshow"`, 1)); err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := w.Build(ctx, now, opt)
	if err != nil {
		t.Fatal(err)
	}
	want, err := w.Uncached().Build(ctx, now, opt)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := listing(got), listing(want); g != w {
		t.Error("after concurrent builds and writes, the worklist brought up to date differs from a build from scratch")
		diffLines(t, g, w)
	}
}

// recordTypes is a store that records the types searched.
type recordTypes struct {
	s     fetchStore
	mu    sync.Mutex
	types map[string]bool
}

func (r *recordTypes) Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error) {
	r.mu.Lock()
	r.types[q.Type] = true
	r.mu.Unlock()
	return r.s.Search(ctx, q)
}

// recordIndexTypes also answers from the index, as the embedded store.
type recordIndexTypes struct{ *recordTypes }

func (r recordIndexTypes) SearchIndex(ctx context.Context, q *search.Query, fields []string, fn func(id string, field int, key string, lo, hi int64) error) error {
	r.mu.Lock()
	r.types[q.Type] = true
	r.mu.Unlock()
	return r.s.(indexStore).SearchIndex(ctx, q, fields, fn)
}

// TestDerivedTypes checks that the workflows of a whole build read the types the incremental build
// watches in the change feed (and Task, for the merge), through the index and through searches only: a
// workflow reading another type would make the kept build miss changes.
func TestDerivedTypes(t *testing.T) {
	e := adaptertest.New(t)
	e.Synth(synth.Options{Seed: 3, Patients: 12, Today: incrementalToday})
	for _, v := range []struct {
		name  string
		store func(*recordTypes) fetch.Searcher
	}{
		{"index", func(r *recordTypes) fetch.Searcher { return recordIndexTypes{r} }},
		{"search-only", func(r *recordTypes) fetch.Searcher { return r }},
	} {
		r := &recordTypes{s: e.Store, types: map[string]bool{}}
		if _, err := worklist.New(v.store(r), e.Registry).Build(context.Background(), incrementalToday, worklist.Options{}); err != nil {
			t.Fatal(err)
		}
		for typ := range r.types {
			if typ != "Task" && !slices.Contains(worklist.DerivedTypes, typ) {
				t.Errorf("%s: a whole build reads %s, which the incremental build does not watch", v.name, typ)
			}
		}
	}
}
