package fhirpath_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/careflow/careflow/fhir/fhirpath"
	"github.com/careflow/careflow/fhir/r4/r4test"
)

func TestLocate(t *testing.T) {
	m := r4test.Load(t).Model
	patient := decode(t, []byte(patientJSON))
	for _, tc := range []struct {
		expr, want string
	}{
		{"Patient", "[]"},
		{"Patient.active", "[{active -1}]"},
		{"Patient.name[0].given[1]", "[{name 0} {given 1}]"},
		{"Patient.name.given", "[{name 0} {given 0}] [{name 0} {given 1}] [{name 1} {given 0}]"},
		{"Patient.telecom.where(system='email').value", "[{telecom 1} {value -1}] [{telecom 2} {value -1}]"},
		// The extensions of primitives live in their "_name" siblings.
		{"Patient.address.city.extension", "[{address 0} {_city -1} {extension 0}]"},
		{"Patient.address.city.id", "[{address 0} {_city -1} {id -1}]"},
		{"Patient.birthDate.extension", ""},
		{"Patient.name[1].given[0].extension.value", "[{name 1} {_given 0} {extension 0} {valueBoolean -1}]"},
	} {
		locs, err := fhirpath.MustCompile(tc.expr).Locate(m, patient)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		got := ""
		for i, l := range locs {
			if i > 0 {
				got += " "
			}
			got += fmt.Sprint(l.Steps)
		}
		if got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.expr, got, tc.want)
		}
	}
	if _, err := fhirpath.MustCompile("Patient.active.exists()").Locate(m, patient); !errors.Is(err, fhirpath.ErrNotElement) {
		t.Errorf("computed value: %v", err)
	}
}

func TestParent(t *testing.T) {
	for _, tc := range []struct{ expr, parent, name string }{
		{"Patient.identifier", "Patient", "identifier"},
		{"identifier", "$this", "identifier"},
		{"Patient.name[0].given", "Patient.name[0]", "given"},
		{"Patient.name.where(use='official').given", "Patient.name.where(use='official')", "given"},
	} {
		p, name, ok := fhirpath.MustCompile(tc.expr).Parent()
		if !ok || p.String() != tc.parent || name != tc.name {
			t.Errorf("%s: got %v %q %v", tc.expr, p, name, ok)
		}
	}
	for _, e := range []string{"Patient.name.first()", "Patient.name[0]", "Patient"} {
		if _, _, ok := fhirpath.MustCompile(e).Parent(); ok {
			t.Errorf("%s has no parent", e)
		}
	}
}

func TestIsSubtype(t *testing.T) {
	m := r4test.Load(t).Model
	for _, tc := range []struct {
		typ, base string
		want      bool
	}{
		{"code", "string", true}, {"string", "code", false}, {"Age", "Quantity", true}, {"Patient", "Resource", true},
		{"HumanName", "HumanName", true}, {"HumanName", "Address", false}, {"", "string", false},
	} {
		if got := fhirpath.IsSubtype(m, tc.typ, tc.base); got != tc.want {
			t.Errorf("IsSubtype(%s, %s) = %v", tc.typ, tc.base, got)
		}
	}
}
