package fhirread

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/synth"
)

// TestDecodeAsEncodingJSON: Decode (github.com/goccy/go-json for the structs that embed Head) gives
// exactly what encoding/json gives, for every resource of 300 generated patients, the checked-in bundles
// and edge cases of the JSON grammar. (Invalid UTF-8, where the two differ — encoding/json replaces it by
// U+FFFD — never reaches the store: the validator refuses it.)
func TestDecodeAsEncodingJSON(t *testing.T) {
	var bodies [][]byte
	bundles, err := synth.Generate(synth.Options{Seed: 7, Patients: 300, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	var files [][]byte
	for _, b := range bundles {
		files = append(files, b.JSON)
	}
	paths, _ := filepath.Glob("../../../testdata/bundles/*.json")
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, data)
	}
	for _, data := range files {
		var b struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(data, &b); err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Entry {
			bodies = append(bodies, e.Resource)
		}
	}
	if len(bodies) < 2000 {
		t.Fatalf("only %d resources", len(bodies))
	}
	// Edge cases: escapes, surrogate pairs and lone surrogates, nulls, numbers, empty and nested values,
	// duplicate names, names differing in case, contained resources, extensions.
	bodies = append(bodies,
		[]byte(`{"resourceType":"CarePlan","id":"e1","status":"act\u0069ve","title":"caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \n\t","description":null,"subject":{"reference":"Patient/p"},"activity":[]}`),
		[]byte(`{"resourceType":"CarePlan","id":"e2","status":"active","status":"revoked","Title":"case","title":"t","activity":[{"detail":{"kind":"Appointment","scheduledTiming":{"repeat":{"count":3,"period":1.50,"periodUnit":"d","duration":2e1}}}}]}`),
		[]byte(`{"resourceType":"Appointment","id":"e3","status":"booked","description":"lone \ud800 surrogate \udc00 \u0000","minutesDuration":30,"participant":[{"actor":{"reference":"Patient/p"},"status":"accepted"}]}`),
		[]byte(`{"resourceType":"MedicationStatement","id":"e4","contained":[{"resourceType":"Medication","id":"m","ingredient":[{"itemCodeableConcept":{"coding":[{"system":"s","code":"c"}]}}]}],"status":"active","medicationReference":{"reference":"#m"},"subject":{"reference":"Patient/p"},"dosage":[{"doseAndRate":[{"doseQuantity":{"value":0.000125,"unit":"mg"}}],"asNeededBoolean":false}]}`),
		[]byte(`{"resourceType":"Coverage","id":"e5","extension":[{"url":"u","valueBoolean":true},{"url":"v","valueCodeableConcept":{"coding":[{"code":"x"}]}}],"status":"active","beneficiary":{"reference":"Patient/p"},"order":2,"payor":[{"display":"P"}]}`),
		[]byte(` { "resourceType" : "Patient" , "id" : "e6" , "active" : false , "name" : [ { "given" : [ "A" , "B" ] } ] , "deceasedDateTime" : "2020" } `),
	)
	n := 0
	for _, body := range bodies {
		var head Head
		if err := json.Unmarshal(body, &head); err != nil {
			t.Fatal(err)
		}
		var targets []func() any
		switch head.ResourceType {
		case "Patient":
			targets = append(targets, func() any { return &Patient{} })
		case "Appointment":
			targets = append(targets, func() any { return &Appointment{} })
		case "CarePlan":
			targets = append(targets, func() any { return &CarePlan{} })
		case "AllergyIntolerance":
			targets = append(targets, func() any { return &AllergyIntolerance{} })
		case "MedicationStatement":
			targets = append(targets, func() any { return &MedicationStatement{} })
		case "Coverage":
			targets = append(targets, func() any { return &Coverage{} })
		case "Medication":
			targets = append(targets, func() any { return &Medication{} })
		}
		for _, target := range targets {
			got, want := target(), target()
			if err := Decode(body, head.ResourceType, got); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if err := json.Unmarshal(body, want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s decodes differently:\n got %+v\nwant %+v", strings.TrimSpace(string(body)), got, want)
			}
			n++
		}
	}
	t.Logf("%d resources compared", n)
}
