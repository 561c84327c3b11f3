package fhirpath_test

import (
	"testing"

	"github.com/careflow/careflow/fhir/fhirpath"
	"github.com/careflow/careflow/fhir/r4/r4test"
)

// BenchmarkEvaluate measures common search parameter expressions on official examples.
func BenchmarkEvaluate(b *testing.B) {
	m := r4test.Load(b).Model
	cases := []struct {
		name, file, param, expr string
	}{
		{name: "family", file: "Patient-example.json", param: "individual-family"},
		{name: "email", file: "Patient-f001.json", param: "individual-email"},
		{name: "deceased", file: "Patient-pat3.json", param: "Patient-deceased"},
		{name: "lastUpdated", file: "Patient-example.json", param: "Resource-lastUpdated"},
		{name: "clinical-patient/AllergyIntolerance", file: "AllergyIntolerance-example.json", param: "clinical-patient"},
		{name: "clinical-patient/CarePlan", file: "CarePlan-example.json", param: "clinical-patient"},
		{name: "appointment-patient", file: "Appointment-example.json", param: "Appointment-patient"},
		{name: "clinical-code/MedicationStatement", file: "MedicationStatement-example003.json", param: "clinical-code"},
	}
	for _, c := range cases {
		e, err := fhirpath.Compile(searchParamByID(b, c.param).Expression)
		if err != nil {
			b.Fatal(err)
		}
		res := loadExample(b, c.file)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Evaluate(m, res); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIndexPatient evaluates every official expression that applies to Patient on Patient-example,
// which is what indexing one Patient write costs.
func BenchmarkIndexPatient(b *testing.B) {
	m := r4test.Load(b).Model
	var exprs []*fhirpath.Expression
	for _, sp := range searchParams(b) {
		for _, base := range sp.Base {
			if sp.Expression != "" && (base == "Patient" || base == "Resource" || base == "DomainResource") {
				exprs = append(exprs, fhirpath.MustCompile(sp.Expression))
				break
			}
		}
	}
	res := loadExample(b, "Patient-example.json")
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range exprs {
			if _, err := e.Evaluate(m, res); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(exprs)), "exprs")
}

// BenchmarkCompile compiles the largest official expression (clinical-patient, a union over 32 types).
func BenchmarkCompile(b *testing.B) {
	expr := searchParamByID(b, "clinical-patient").Expression
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fhirpath.Compile(expr); err != nil {
			b.Fatal(err)
		}
	}
}
