package rest_test

import (
	"fmt"
	"testing"
)

// TestConditionalReferencesToBundleResources: a conditional reference also matches the resources the
// same transaction creates or updates (an EHR sends a new patient with its allergies referring to it by
// identifier), and matching both a stored and a new resource is ambiguous (412).
func TestConditionalReferencesToBundleResources(t *testing.T) {
	c := server(t)
	stored, _ := create(t, c, patientWith("stored-1", "Stored"))
	allergy := func(ref string) string {
		return `{"resourceType":"AllergyIntolerance","patient":{"reference":"` + ref + `"},"code":{"text":"Peanut"}}`
	}

	// A new patient, referred to by identifier, by family name (string), and by both.
	r := c.do("POST", "", txBundle("transaction",
		entry("", "POST", "AllergyIntolerance", allergy("Patient?identifier=urn:mrn|new-1")),
		entry("", "POST", "AllergyIntolerance", allergy("Patient?family=Newcomb")),
		entry("", "POST", "AllergyIntolerance", allergy("Patient?identifier=urn:mrn|new-1&family=newc")),
		entry(uuidA, "POST", "Patient", patientWith("new-1", "Newcomb"), `"ifNoneExist":"identifier=urn:mrn|new-1"`),
		entry("", "POST", "AllergyIntolerance", allergy("Patient?identifier=urn:mrn|stored-1")),
	))
	es := responseEntries(t, r, "transaction-response")
	created := location(t, c, es[3])
	for i, want := range []string{created, created, created, "", "Patient/" + stored} {
		if want == "" {
			continue
		}
		if got := at(get(t, c, location(t, c, es[i])), "patient", "reference"); got != want {
			t.Errorf("entry %d: patient %v, want %s", i, got, want)
		}
	}

	// The same criteria matching a stored patient and one the transaction creates: ambiguous, and
	// nothing of the transaction is stored.
	r = c.do("POST", "", txBundle("transaction",
		entry(uuidB, "POST", "Patient", patientWith("stored-1", "Twin")),
		entry("", "POST", "AllergyIntolerance", allergy("Patient?identifier=urn:mrn|stored-1")),
	))
	expectOutcome(t, r, 412, "multiple-matches", "Bundle.entry[1].resource.patient.reference")
	if b := c.do("GET", "/Patient?family=Twin", "").json(t); fmt.Sprint(b["total"]) != "0" {
		t.Errorf("the failed transaction stored patients: %v", b["total"])
	}

	// An update in the transaction counts with its new content, once.
	r = c.do("POST", "", txBundle("transaction",
		entry("", "PUT", "Patient/"+stored, `{"resourceType":"Patient","id":"`+stored+`","identifier":[{"system":"urn:mrn","value":"renamed-1"}]}`),
		entry("", "POST", "AllergyIntolerance", allergy("Patient?identifier=urn:mrn|renamed-1")),
	))
	es = responseEntries(t, r, "transaction-response")
	if got := at(get(t, c, location(t, c, es[1])), "patient", "reference"); got != "Patient/"+stored {
		t.Errorf("reference to the updated patient: %v", got)
	}

	// Criteria the in-memory matcher cannot decide (dates) only see stored resources.
	r = c.do("POST", "", txBundle("transaction",
		entry(uuidC, "POST", "Patient", `{"resourceType":"Patient","birthDate":"1961-02-03","name":[{"family":"Dated"}]}`),
		entry("", "POST", "AllergyIntolerance", allergy("Patient?birthdate=1961-02-03")),
	))
	expectOutcome(t, r, 412, "not-found", "Bundle.entry[1].resource.patient.reference")
}
