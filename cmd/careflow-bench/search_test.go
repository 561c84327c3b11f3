package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/synth"
)

// TestPrepareBundle checks that the loader stores what a transaction would: every urn:uuid reference
// resolved to Type/<id> of an entry of the same bundle, ids deterministic, every resource valid and
// indexable, Appointments and allergies indexed under their patient's reference.
func TestPrepareBundle(t *testing.T) {
	v, reg := r4test.Validator(t), r4test.Load(t).Registry
	if err := checkRawFields(reg); err != nil {
		t.Fatal(err)
	}
	today := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	o := synth.Options{Seed: 1, Patients: 30, Today: today}
	refRE := regexp.MustCompile(`"reference":"([A-Za-z]+)/([0-9a-f-]{36})"`)
	for i := range 30 {
		b, err := synth.Patient(o, i)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := prepareBundle(b.JSON)
		if err != nil {
			t.Fatalf("patient %d: %v", i, err)
		}
		again, _ := synth.Patient(o, i)
		entries2, _ := prepareBundle(again.JSON)
		ids := map[string]bool{}
		for k, e := range entries {
			if e.id != entries2[k].id || !bytes.Equal(e.body, entries2[k].body) {
				t.Fatalf("patient %d entry %d: not deterministic", i, k)
			}
			ids[e.typ+"/"+e.id] = true
		}
		if len(entries) != b.Entries {
			t.Fatalf("patient %d: %d entries, bundle says %d", i, len(entries), b.Entries)
		}
		f, err := factsOf(i, entries, today)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if bytes.Contains(e.body, []byte(urnUUID)) {
				t.Fatalf("%s/%s still holds a urn:uuid: %s", e.typ, e.id, e.body)
			}
			for _, sm := range refRE.FindAllSubmatch(e.body, -1) {
				if ref := string(sm[1]) + "/" + string(sm[2]); !ids[ref] {
					t.Errorf("%s/%s refers to %s, not an entry of its bundle", e.typ, e.id, ref)
				}
			}
			tree, verr := v.Validate(e.typ, e.body)
			if verr != nil {
				t.Fatalf("%s/%s invalid: %v", e.typ, e.id, verr)
			}
			idx, err := reg.Index(e.typ, tree)
			if err != nil {
				t.Fatal(err)
			}
			switch e.typ {
			case "Appointment", "AllergyIntolerance":
				refs, _ := idx["s_patient"].([]string)
				if len(refs) != 1 || refs[0] != "Patient/"+f.id {
					t.Errorf("%s/%s: s_patient %v, want [Patient/%s]", e.typ, e.id, idx["s_patient"], f.id)
				}
			}
		}
	}
}

// TestResolveURNs covers an unknown urn:uuid and a body without any.
func TestResolveURNs(t *testing.T) {
	refs := map[string]string{"urn:uuid:a": "Patient/a"}
	got, err := resolveURNs([]byte(`{"subject":{"reference":"urn:uuid:a"},"x":["urn:uuid:a"]}`), refs)
	if err != nil || string(got) != `{"subject":{"reference":"Patient/a"},"x":["Patient/a"]}` {
		t.Fatalf("got %s, %v", got, err)
	}
	if _, err := resolveURNs([]byte(`{"reference":"urn:uuid:b"}`), refs); err == nil {
		t.Fatal("an unresolved urn:uuid was accepted")
	}
	plain := []byte(`{"a":1.50}`)
	if got, _ := resolveURNs(plain, refs); !bytes.Equal(got, plain) {
		t.Fatalf("changed %s to %s", plain, got)
	}
}

// TestPickParams checks that the parameters are deterministic and meet the preferred criteria.
func TestPickParams(t *testing.T) {
	facts := []patientFacts{
		{index: 0, id: "a", family: "Smith", bookedFrom: 3, activeAllergies: 1, allergies: 1},
		{index: 1, id: "b", family: "Müller", bookedFrom: 3, activeAllergies: 1, allergies: 1},
		{index: 2, id: "c", family: "Kim", bookedFrom: 1, allergies: 1},
		{index: 3, id: "d", family: "Chen", bookedFrom: 2, activeAllergies: 2, allergies: 2},
	}
	p, err := pickParams(searchConfig{}, facts)
	if err != nil || p.patient.id != "d" || p.family != "Chen" {
		t.Fatalf("got %+v, %v", p, err)
	}
}

// TestSearchReport prints a report from made-up measurements (no database): every column and note.
func TestSearchReport(t *testing.T) {
	lat := func(ms ...int) *result {
		r := &result{}
		for _, m := range ms {
			r.Lat = append(r.Lat, time.Duration(m)*time.Millisecond)
		}
		r.OK = len(r.Lat)
		slices.Sort(r.Lat)
		return r
	}
	cpu := &cpuTime{User: 30 * time.Millisecond}
	rep := &searchReport{
		cfg:     searchConfig{patients: 10, seed: 1, today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), requests: 3, warmup: 1, base: "http://h/fhir", command: "x", maxQueryTime: time.Minute},
		started: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC),
		load:    &loadStats{byType: map[string]int{"Patient": 10, "Appointment": 31}, resources: 41, written: 41, elapsed: time.Second, cpu: cpu, dbCPU: cpu, bodyBytes: 1e5},
		params:  &searchParams{patient: patientFacts{id: "p1", family: "Kim"}, name: "smi"},
		cases: []*caseResult{
			{number: 1, sc: &searchCase{name: "a", query: "Patient?_revinclude=AllergyIntolerance:patient&_id=p1", count: func(context.Context) (int, error) { return 0, nil }, rawText: []string{"db.x.find({})"}},
				url: "http://h/fhir/Patient?_id=p1", cf: lat(3, 1, 2), raw: lat(1, 1, 1), rawCount: lat(2, 2, 2), serverCPU: cpu, cfDBCPU: cpu, rawDBCPU: cpu,
				matches: 1, included: 2, total: 1, mismatch: "matches differ"},
			{number: 6, sc: &searchCase{name: "deep", query: "Appointment?_count=20&_sort=date", deep: true}, url: "http://h/fhir/Appointment?_cursor=x",
				cf: lat(5), raw: lat(4), rawCount: lat(4), matches: 20, total: -1, walk: 3 * time.Second, walkPages: 49},
		},
		failed: errors.New("boom"),
	}
	var out bytes.Buffer
	rep.write(&out)
	for _, want := range []string{"| 1. a | 1 + 2 of 1 | 3 | 2.00 / 3.00 / 3.00 | 1.00 / 1.00 / 1.00 | 2.00× | 2.00 / 2.00 | 1.00× | 10000 µs |",
		"| 6. deep | 20 | 1 |", "(no count)", "49 pages fetched in 3s", "disagree**: matches differ", "stopped early**: boom",
		"load: 41 resources (0.1 MB of JSON) in 1s = **41 resources/s**"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
