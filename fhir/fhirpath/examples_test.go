package fhirpath_test

import (
	"reflect"
	"testing"

	"github.com/careflow/careflow/fhir/fhirpath"
	"github.com/careflow/careflow/fhir/r4/r4test"
)

// TestOfficialExamples spot-checks exact results of official search parameter expressions (by
// SearchParameter id) and hand-written expressions on the official examples.
func TestOfficialExamples(t *testing.T) {
	m := r4test.Load(t).Model
	patient := func(ref string) string { return `{"reference": "` + ref + `", "display": "Peter James Chalmers"}` }
	cases := []struct {
		file  string
		param string // official SearchParameter id; expr is used when empty
		expr  string
		want  []fhirpath.Node
	}{
		{"Patient-example.json", "", "Patient.name.family", []fhirpath.Node{
			node(`"Chalmers"`, "string", "Patient.name[0].family"),
			node(`"Windsor"`, "string", "Patient.name[2].family"),
		}},
		{"Patient-example.json", "individual-family", "", []fhirpath.Node{
			node(`"Chalmers"`, "string", "Patient.name[0].family"),
			node(`"Windsor"`, "string", "Patient.name[2].family"),
		}},
		{"Patient-example.json", "individual-birthdate", "", []fhirpath.Node{node(`"1974-12-25"`, "date", "Patient.birthDate")}},
		{"Patient-example.json", "", "Patient.birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime').value", []fhirpath.Node{
			node(`"1974-12-25T14:35:45-05:00"`, "dateTime", "Patient.birthDate.extension[0].valueDateTime"),
		}},
		{"Patient-example.json", "Patient-deceased", "", []fhirpath.Node{node("false", "System.Boolean", "")}},
		{"Patient-pat3.json", "Patient-deceased", "", []fhirpath.Node{node("true", "System.Boolean", "")}},
		{"Patient-xds.json", "Patient-deceased", "", []fhirpath.Node{node("false", "System.Boolean", "")}},
		{"Patient-pat3.json", "Patient-death-date", "", []fhirpath.Node{node(`"2015-02-14T13:42:00+10:00"`, "dateTime", "Patient.deceasedDateTime")}},
		{"Patient-example.json", "Patient-death-date", "", nil},
		{"Patient-f001.json", "individual-email", "", []fhirpath.Node{
			node(`{"system": "email", "value": "p.heuvel@gmail.com", "use": "home"}`, "ContactPoint", "Patient.telecom[1]"),
		}},
		{"Patient-example.json", "individual-email", "", nil},
		{"Patient-example.json", "Resource-lastUpdated", "", nil},
		{"Patient-example.json", "Resource-id", "", []fhirpath.Node{node(`"example"`, "id", "Patient.id")}},
		{"AllergyIntolerance-example.json", "clinical-patient", "", []fhirpath.Node{
			node(`{"reference": "Patient/example"}`, "Reference", "AllergyIntolerance.patient"),
		}},
		{"AllergyIntolerance-example.json", "AllergyIntolerance-onset", "", []fhirpath.Node{
			node(`"2012-06-12"`, "dateTime", "AllergyIntolerance.reaction[0].onset"),
			node(`"2004"`, "dateTime", "AllergyIntolerance.reaction[1].onset"),
		}},
		{"Appointment-example.json", "Appointment-patient", "", []fhirpath.Node{
			node(patient("Patient/example"), "Reference", "Appointment.participant[0].actor"),
		}},
		{"Appointment-example.json", "Appointment-practitioner", "", []fhirpath.Node{
			node(`{"reference": "Practitioner/example", "display": "Dr Adam Careful"}`, "Reference", "Appointment.participant[1].actor"),
		}},
		{"Appointment-example.json", "Appointment-location", "", []fhirpath.Node{
			node(`{"reference": "Location/1", "display": "South Wing, second floor"}`, "Reference", "Appointment.participant[2].actor"),
		}},
		{"Appointment-example.json", "Appointment-date", "", []fhirpath.Node{node(`"2013-12-10T09:00:00Z"`, "instant", "Appointment.start")}},
		{"Appointment-2docs.json", "", "Appointment.participant.actor.where(resolve() is Practitioner).reference", []fhirpath.Node{
			node(`"Practitioner/example"`, "string", "Appointment.participant[1].actor.reference"),
			node(`"Practitioner/f202"`, "string", "Appointment.participant[2].actor.reference"),
		}},
		{"CarePlan-example.json", "clinical-patient", "", []fhirpath.Node{
			node(patient("Patient/example"), "Reference", "CarePlan.subject"),
		}},
		{"CarePlan-example.json", "clinical-date", "", []fhirpath.Node{node(`{"end": "2017-06-01"}`, "Period", "CarePlan.period")}},
		{"CarePlan-example.json", "CarePlan-activity-date", "", []fhirpath.Node{
			node(`{"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}`, "Timing", "CarePlan.activity[0].detail.scheduledTiming"),
		}},
		{"CarePlan-example.json", "", "CarePlan.addresses.resolve().id", []fhirpath.Node{node(`"p1"`, "id", "CarePlan.contained[0].id")}},
		{"CarePlan-example.json", "", "CarePlan.addresses.where(resolve() is Condition).display", []fhirpath.Node{node(`"obesity"`, "string", "CarePlan.addresses[0].display")}},
		{"MedicationStatement-example001.json", "medications-medication", "", []fhirpath.Node{
			node(`{"reference": "#med0309"}`, "Reference", "MedicationStatement.medicationReference"),
		}},
		{"MedicationStatement-example001.json", "clinical-code", "", nil},
		{"MedicationStatement-example003.json", "clinical-code", "", []fhirpath.Node{
			node(`{"text": "Little Pink Pill for water retention"}`, "CodeableConcept", "MedicationStatement.medicationCodeableConcept"),
		}},
		{"MedicationStatement-example001.json", "", "MedicationStatement.medication.resolve().ofType(Medication).id", []fhirpath.Node{node(`"med0309"`, "id", "MedicationStatement.contained[0].id")}},
		{"MedicationStatement-example001.json", "MedicationStatement-effective", "", []fhirpath.Node{node(`"2015-01-23"`, "dateTime", "MedicationStatement.effectiveDateTime")}},
		{"Coverage-9876B1.json", "Coverage-payor", "", []fhirpath.Node{node(`{"reference": "Organization/2"}`, "Reference", "Coverage.payor[0]")}},
	}
	params := map[string]string{}
	for _, sp := range searchParams(t) {
		params[sp.ID] = sp.Expression
	}
	for _, c := range cases {
		expr := c.expr
		if c.param != "" {
			var ok bool
			if expr, ok = params[c.param]; !ok {
				t.Errorf("no search parameter %s", c.param)
				continue
			}
		}
		e, err := fhirpath.Compile(expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		got, err := e.Evaluate(m, loadExample(t, c.file))
		if err != nil {
			t.Errorf("%s on %s: %v", expr, c.file, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %s on %s:\ngot%s\nwant%s", c.param, expr, c.file, format(got), format(c.want))
		}
	}
}
