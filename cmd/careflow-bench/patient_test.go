package main

import (
	"bytes"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
)

// The generated Patients must be valid FHIR R4 for careflow (otherwise phase a measures 400s), sized like
// an EHR's, varied, and the same for the same seed and index.
func TestPatientsAreValidVariedAndDeterministic(t *testing.T) {
	v := r4test.Validator(t)
	gen := patientGen{seed: 42}
	distinct := map[string]bool{}
	var sizes sizeStats
	for i := range 500 {
		p := gen.patient(i)
		if _, verr := v.Validate("Patient", p.JSON); verr != nil {
			t.Fatalf("patient %d is invalid: %v\n%s", i, verr, p.JSON)
		}
		if again := gen.patient(i); !bytes.Equal(again.JSON, p.JSON) {
			t.Fatalf("patient %d differs between two calls", i)
		}
		if len(p.Index) < 45 {
			t.Errorf("patient %d has only %d index fields", i, len(p.Index))
		}
		sizes.add(len(p.JSON))
		distinct[string(p.JSON)] = true
	}
	if len(distinct) != 500 {
		t.Errorf("%d distinct patients of 500", len(distinct))
	}
	if mean := sizes.sum / sizes.n; sizes.min < 1400 || sizes.max > 3000 || mean < 1800 || mean > 2400 {
		t.Errorf("sizes %d–%d bytes, mean %d: want about 1.5–2.5 KB", sizes.min, sizes.max, mean)
	}
	t.Logf("sizes %d–%d bytes, mean %d", sizes.min, sizes.max, sizes.sum/sizes.n)
	if other := (patientGen{seed: 43}).patient(0); bytes.Equal(other.JSON, gen.patient(0).JSON) {
		t.Error("seed does not change the patients")
	}
	if !bytes.Contains(gen.patient(0).JSON, []byte(`"valueDecimal":`)) {
		t.Error("no decimal in the patient")
	}
}
