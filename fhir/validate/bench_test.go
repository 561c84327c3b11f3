package validate_test

import (
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
)

// BenchmarkValidate measures parse and validation of the official examples, per resource type; one operation
// validates one example (cycling through the type's examples), so ns/op is the mean per resource.
func BenchmarkValidate(b *testing.B) {
	v := r4test.Validator(b)
	byType := map[string][]example{}
	for _, ex := range acceptedExamples(b) {
		byType[ex.resourceType] = append(byType[ex.resourceType], ex)
	}
	run := func(b *testing.B, exs []example) {
		size := 0
		for _, ex := range exs {
			size += len(ex.data)
		}
		b.SetBytes(int64(size / len(exs)))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			ex := exs[i%len(exs)]
			if _, err := v.Validate(ex.resourceType, ex.data); err != nil {
				b.Fatal(ex.name, err)
			}
			i++
		}
	}
	for _, rt := range definitions.ResourceTypes {
		if len(byType[rt]) == 0 {
			continue // no official example (testdata/examples/exceptions.txt)
		}
		b.Run(rt, func(b *testing.B) { run(b, byType[rt]) })
	}
	for _, ex := range byType["Patient"] {
		if ex.name == "Patient-example.json" {
			b.Run("Patient-example.json", func(b *testing.B) { run(b, []example{ex}) })
		}
	}
}

// BenchmarkValidateInvalid measures a resource with several problems, the path that builds issues.
func BenchmarkValidateInvalid(b *testing.B) {
	v := r4test.Validator(b)
	data := []byte(patient(`"gender":"robot","birthDate":"2024-02-30","foo":1,"name":[{}],"active":"yes",` +
		`"generalPractitioner":[{"reference":"not a ref"}]`))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Validate("Patient", data); err == nil {
			b.Fatal("valid")
		}
	}
}
