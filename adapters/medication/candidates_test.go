package medication_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/careflow/careflow/adapters/medication"
	"github.com/careflow/careflow/fhir/search"
)

// indexedRecorder is a readRecorder over a store with index answers (the embedded store's SearchIndex and
// SearchBatch): what the index says is not a read.
type indexedRecorder struct {
	*readRecorder
	x interface {
		SearchIndex(ctx context.Context, q *search.Query, fields []string, fn func(id string, field int, key string, lo, hi int64) error) error
		SearchBatch() int
	}
}

func (r indexedRecorder) SearchIndex(ctx context.Context, q *search.Query, fields []string, fn func(id string, field int, key string, lo, hi int64) error) error {
	return r.x.SearchIndex(ctx, q, fields, fn)
}

func (r indexedRecorder) SearchBatch() int { return r.x.SearchBatch() }

// TestConflictsReadOnlyPossibleMatches: with index answers, the statements of patients whose allergies
// name no drug class are read only when they carry one of the patient's allergy codes or hold their codes
// where the index does not (a contained Medication); the conflicts are those of reading every statement.
func TestConflictsReadOnlyPossibleMatches(t *testing.T) {
	e := fixture(t)
	// p3 is allergic to peanuts only (no drug class): ms8 (aspirin) cannot conflict; ms11 carries the
	// allergy's own code; ms12's codes are in a contained Medication; ms13 names no code at all.
	e.Put("MedicationStatement", "ms11", statement("p3", "active", concept("http://snomed.info/sct", "256349002", "Peanut oil emulsion")))
	e.Put("MedicationStatement", "ms12", `{"contained":[{"resourceType":"Medication","id":"m","code":{"coding":[{"system":"http://snomed.info/sct","code":"256349002"}]}}],
	  "status":"active","medicationReference":{"reference":"#m"},"subject":{"reference":"Patient/p3"}}`)
	e.Put("MedicationStatement", "ms13", statement("p3", "active", `"medicationCodeableConcept":{"text":"Arachis oil"}`))
	e.Put("MedicationStatement", "ms14", statement("p3", "active", concept(rxnorm, "256349002", "same code, other system")))
	// An allergy whose clinical status has codings of two codes: the index cannot say which is its code.
	e.Put("AllergyIntolerance", "al13", allergy("p3", "", "confirmed", "high", code("http://snomed.info/sct", "256349002", "Peanut"))[:1]+
		`"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"inactive"},{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},`+
		allergy("p3", "", "confirmed", "high", code("http://snomed.info/sct", "256349002", "Peanut"))[1:])
	ctx := context.Background()
	all, err := medication.New(&readRecorder{s: e.Store, read: map[string]bool{}}, e.Registry).Conflicts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{500, 1} { // one search; more than four batches (IndexIn searches without the list)
		rec := indexedRecorder{&readRecorder{s: e.Store, read: map[string]bool{}}, batchOf{e.Store.(indexStore), batch}}
		got, err := medication.New(rec, e.Registry).Conflicts(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(summarize(got), summarize(all)) {
			t.Errorf("batch %d: conflicts\n%v\nreading every statement:\n%v", batch, summarize(got), summarize(all))
		}
		for id, want := range map[string]bool{"ms1": true, "ms2": true, "ms4": true, "ms5": true, "ms6": true,
			"ms8": false, "ms11": true, "ms12": true, "ms13": true, "ms14": false} {
			if rec.read["MedicationStatement/"+id] != want {
				t.Errorf("batch %d: %s read %t, want %t", batch, id, !want, want)
			}
		}
		// The allergies are described by the index; those of the conflicts found, and al13, are read.
		for id, want := range map[string]bool{"al1": true, "al2": true, "al3": false, "al4": false, "al5": false, "al6": true,
			"al7": true, "al8": true, "al9": true, "al10": false, "al13": true} {
			if rec.read["AllergyIntolerance/"+id] != want {
				t.Errorf("batch %d: %s read %t, want %t", batch, id, !want, want)
			}
		}
	}
	if s := summarize(all); len(s) != 7 || s[5] != "Patient/p3 ms12×al9 code" || s[6] != "Patient/p3 ms11×al9 code" {
		t.Errorf("conflicts: %v", s)
	}
}

type indexStore interface {
	SearchIndex(ctx context.Context, q *search.Query, fields []string, fn func(id string, field int, key string, lo, hi int64) error) error
}

type batchOf struct {
	indexStore
	n int
}

func (b batchOf) SearchBatch() int { return b.n }

func summarize(cs []medication.Conflict) []string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s %s×%s %s", c.Patient, c.Medication.ID, c.Allergy.ID, c.Match))
	}
	return out
}
