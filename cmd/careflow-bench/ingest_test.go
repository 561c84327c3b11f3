package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/careflow/careflow/fhir/synth"
	cfmongo "github.com/careflow/careflow/storage/mongo"
)

// TestAsBundleType checks that the POSTed Bundle is the generated one, compacted, with only Bundle.type
// changed for a batch.
func TestAsBundleType(t *testing.T) {
	o := synth.Options{Seed: 1, Patients: 3, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
	b, err := synth.Patient(o, 2)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, b.JSON); err != nil {
		t.Fatal(err)
	}
	tx, err := asBundleType(b.JSON, "transaction")
	if err != nil || !bytes.Equal(tx, compact.Bytes()) {
		t.Fatalf("transaction: %v, changed the Bundle", err)
	}
	batch, err := asBundleType(b.JSON, "batch")
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	if err := json.Unmarshal(batch, &got); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(tx, &want)
	if got["type"] != "batch" {
		t.Fatalf("type %v", got["type"])
	}
	got["type"] = "transaction"
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Fatal("batch differs from the transaction in more than Bundle.type")
	}
	if _, err := asBundleType([]byte(`{"resourceType":"Bundle","type":"batch","entry":[]}`), "batch"); err == nil {
		t.Fatal("a Bundle without a transaction type was accepted")
	}
}

// TestRawResources checks the raw documents of generated Bundles against careflow's layout
// (storage/mongo.VersionDoc and HistoryDoc): bookkeeping fields and values first, the stamped JSON, the
// index fields in name order, and a history twin per resource; and the InsertMany grouping.
func TestRawResources(t *testing.T) {
	v, reg, err := careflowModel()
	if err != nil {
		t.Fatal(err)
	}
	o := synth.Options{Seed: 7, Patients: 5, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
	lu := time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC)
	for i := range 5 {
		b, err := synth.Patient(o, i)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := prepareBundle(b.JSON)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := rawResources(entries, v, reg, lu)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) != b.Entries {
			t.Fatalf("patient %d: %d raw resources for %d entries", i, len(raw), b.Entries)
		}
		for k, r := range raw {
			e := entries[k]
			body := cfmongo.DocBody(r.current)
			// careflow's bookkeeping fields first (storage/mongo.VersionDoc): id, version 1, lu, created by POST.
			header := cfmongo.VersionDoc(e.id, 1, lu, "POST", body, nil)
			if len(r.current) < len(header) || !slices.Equal(r.current[:len(header)], header) {
				t.Fatalf("%s: fields %v, want %v first", e.typ, r.current[:min(len(header), len(r.current))], header)
			}
			keys := make([]string, len(r.current)-len(header))
			for j, f := range r.current[len(header):] {
				keys[j] = f.Key
			}
			indexFields := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == "_refs" })
			if len(indexFields) < 2 || !slices.IsSorted(keys) || !strings.HasPrefix(indexFields[0], "s_") {
				t.Errorf("%s: index fields %v", e.typ, keys)
			}
			want := `{"resourceType":"` + e.typ + `","id":"` + e.id + `","meta":{"versionId":"1","lastUpdated":"2026-11-25T10:00:00.123Z",`
			if !strings.HasPrefix(body, want) {
				t.Fatalf("%s: %.120s", e.typ, body)
			}
			// The same size as careflow stores: id, versionId and lastUpdated added, nothing else.
			if d, stamp := len(body)-len(e.body), len(`"id":"`+e.id+`","versionId":"1","lastUpdated":"2026-11-25T10:00:00.123Z",`); d != stamp {
				t.Errorf("%s: stamping added %d bytes, want %d", e.typ, d, stamp)
			}
			// Its history twin: careflow's history document of the same version, without the index fields.
			wantHist := cfmongo.HistoryDoc(e.typ, r.current)
			if !slices.Equal(r.history, wantHist) || r.history[0].Value != e.typ+"/"+e.id+"/1" || len(r.history) != len(header)+2 {
				t.Fatalf("%s: history %v", e.typ, r.history[:3])
			}
		}
		groups := byCollection(raw, true)
		total := 0
		for _, g := range groups[:len(groups)-1] {
			for _, d := range g.docs {
				if d.(bson.D)[0].Value == nil {
					t.Fatal("document without _id")
				}
			}
			total += len(g.docs)
		}
		if last := groups[len(groups)-1]; last.name != cfmongo.HistoryCollection || len(last.docs) != len(raw) || total != len(raw) {
			t.Fatalf("patient %d: groups %d, history %s %d, current %d of %d", i, len(groups), last.name, len(last.docs), total, len(raw))
		}
		if groups[0].name != "Patient" || len(byCollection(raw, false)) != len(groups)-1 {
			t.Fatalf("patient %d: grouping %v", i, groups[0].name)
		}
	}
}

// TestCheckBundleResponse covers a complete answer, a matched conditional create, a failed entry, a short
// answer and the wrong type.
func TestCheckBundleResponse(t *testing.T) {
	resp := func(typ string, statuses ...string) []byte {
		var entries []string
		for k, s := range statuses {
			loc := ""
			if k == 0 {
				loc = `,"location":"http://h/fhir/Patient/p-1/_history/1"`
			}
			entries = append(entries, `{"response":{"status":"`+s+`"`+loc+`,"outcome":{"resourceType":"OperationOutcome"}}}`)
		}
		return []byte(`{"resourceType":"Bundle","type":"` + typ + `","entry":[` + strings.Join(entries, ",") + `]}`)
	}
	n, err := checkBundleResponse(resp("transaction-response", "201 Created", "201 Created", "200 OK"), "transaction", 3)
	if err != nil || n.created != 2 || n.existed != 1 || n.location != "http://h/fhir/Patient/p-1/_history/1" {
		t.Fatalf("%+v, %v", n, err)
	}
	if id, ok := idFromLocation(n.location, "Patient"); !ok || id != "p-1" {
		t.Fatalf("id %q", id)
	}
	if id, ok := idFromLocation("Patient/x/_history/2", "Patient"); !ok || id != "x" {
		t.Fatalf("relative id %q", id)
	}
	for _, c := range []struct {
		body []byte
		typ  string
		n    int
		want string
	}{
		{resp("batch-response", "201 Created", "422 Unprocessable Entity"), "batch", 2, "1 of 2 entries failed, e.g. entry 1: 422"},
		{resp("batch-response", "201 Created"), "batch", 2, "1 entries for 2 requests"},
		{resp("batch-response", "201 Created"), "transaction", 1, "want a transaction-response"},
		{[]byte(`{`), "batch", 1, "response Bundle"},
	} {
		if _, err := checkBundleResponse(c.body, c.typ, c.n); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}

// TestIngestReport checks the report maths (rates, CPU per resource, ratios) and prints every part.
func TestIngestReport(t *testing.T) {
	phase := func(name string, elapsed time.Duration, resources int, lat ...int) *ingestPhase {
		r := &result{Name: name, Elapsed: elapsed}
		for _, m := range lat {
			r.Lat = append(r.Lat, time.Duration(m)*time.Millisecond)
		}
		r.OK = len(r.Lat)
		slices.Sort(r.Lat)
		return &ingestPhase{result: r, resources: resources}
	}
	cf := phase("careflow (POST transaction Bundle)", 2*time.Second, 40, 400, 100, 300, 200)
	cf.CPU = &cpuTime{User: 30 * time.Millisecond, System: 10 * time.Millisecond}
	cf.created, cf.existed = 38, 2
	one := phase("raw InsertOne (2 per resource)", time.Second, 40, 50, 60, 70, 80)
	many := phase("raw InsertMany (1 per Bundle and collection)", 500*time.Millisecond, 40, 10, 20, 30, 40)
	many.Errors, many.Samples = 1, []string{"boom"}
	if got := cf.ResourcesPerSecond(); got != 20 {
		t.Fatalf("resources/s %v", got)
	}
	if cpu, ok := cf.CPUPerResource(); !ok || cpu.Total() != time.Millisecond || cpu.User != 750*time.Microsecond {
		t.Fatalf("CPU/resource %v %v", cpu, ok)
	}
	if _, ok := one.CPUPerResource(); ok {
		t.Fatal("CPU per resource without a measurement")
	}
	tput, p50, ok := ingestRatio(cf, one)
	if !ok || tput != 0.5 || p50 != 200.0/60 {
		t.Fatalf("ratio %v %v %v", tput, p50, ok)
	}
	if _, _, ok := ingestRatio(cf, &ingestPhase{result: &result{}}); ok {
		t.Fatal("a ratio against an empty phase")
	}
	rep := &ingestReport{
		cfg:      ingestConfig{base: "http://h/fhir", seed: 1, today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), concurrency: 4, bundleType: "transaction", rawHistory: true, scratchDB: "s", command: "x"},
		started:  time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC),
		data:     &ingestSet{bundles: make([]ingestBundle, 4), resources: 40, byType: map[string]int{"Patient": 4, "Appointment": 36}},
		careflow: cf, insertOne: one, insertMany: many,
		rawIndexes: map[string]int{"Patient": 1, "history": 1},
		shapes:     []docShape{{What: "careflow Patient document", Fields: 60, Bytes: 6000, Indexes: 31}},
	}
	rep.data.bundleBytes.add(1000)
	rep.data.jsonBytes.add(100)
	var out bytes.Buffer
	rep.write(&out)
	for _, want := range []string{
		"40 resources (Patient 4, Appointment 36), 10.0 resources per Bundle",
		"| careflow (POST transaction Bundle) | 4 | 0 | 2.0 | 20 | 200.00 | 400.00 | 400.00 | 400.00 | 1000 µs (750 + 250) | – |",
		"| raw InsertOne (2 per resource) | 4 | 0 | 4.0 | 40 | 60.00 |",
		"| vs InsertOne | 0.50× | 3.33× |", "| vs InsertMany | 0.25× | 10.00× |",
		"plus its history document", "indexes per collection: Patient 1, history 1",
		"careflow Patient document: 60 top-level fields", "2 of careflow's entries matched", "errors, e.g.: `boom`",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
