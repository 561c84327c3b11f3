package r4_test

import (
	"testing"

	"github.com/careflow/careflow/fhir/r4"
)

// TestCompartmentsAndCareDates: the five official compartments are loaded with their member types (every
// parameter they name resolved, or Load fails), and the care-date rule picks the clinical date of each type.
func TestCompartmentsAndCareDates(t *testing.T) {
	d, err := r4.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		compartment, typ string
		params           int
		self             bool
	}{
		{"Patient", "Observation", 2, false}, // subject, performer
		{"Practitioner", "Communication", 2, false},
		{"Practitioner", "Practitioner", 0, true},
		{"RelatedPerson", "Coverage", 3, false},
		{"Encounter", "MedicationAdministration", 1, false},
		{"Encounter", "Encounter", 0, true},
		{"Device", "Claim", 4, false},
	} {
		cmp, ok := d.Compartments.Lookup(c.compartment, "x", c.typ)
		if !ok || len(cmp.Params) != c.params || cmp.Self != c.self {
			t.Errorf("%s compartment, %s: %+v %v", c.compartment, c.typ, cmp, ok)
		}
	}
	if got := d.Compartments.URLs(); len(got) != 5 || got[1] != "http://hl7.org/fhir/CompartmentDefinition/practitioner" {
		t.Errorf("compartment URLs: %v", got)
	}
	if got := len(d.Compartments.Members("Encounter", []string{"Patient", "Observation", "Condition", "Encounter", "Practitioner"})); got != 3 {
		t.Errorf("Encounter compartment members: %d of 5, want 3", got)
	}
	for typ, want := range map[string]string{
		"Observation": "date", "Encounter": "date", "Immunization": "date", "AllergyIntolerance": "date",
		"Condition": "onset-date", "MedicationStatement": "effective", "Task": "period", "Goal": "start-date",
		"ServiceRequest": "occurrence", "Communication": "sent", "Patient": "", "Coverage": "",
	} {
		if got := d.Registry.CareDate(typ); got != want {
			t.Errorf("care date of %s: %q, want %q", typ, got, want)
		}
	}
}
