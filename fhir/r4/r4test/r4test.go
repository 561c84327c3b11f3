// Package r4test gives tests the shared FHIR R4 definitions of fhir/r4, loaded once per test binary.
package r4test

import (
	"testing"

	"github.com/careflow/careflow/fhir/r4"
	"github.com/careflow/careflow/fhir/validate"
)

// Load returns the definitions of r4.Load; it fails the test when they do not load.
func Load(t testing.TB) *r4.R4 {
	t.Helper()
	d, err := r4.Load()
	if err != nil {
		t.Fatalf("FHIR R4 definitions: %v", err)
	}
	return d
}

// Validator returns the shared validator of the served types; it fails the test when it does not build.
func Validator(t testing.TB) *validate.Validator {
	t.Helper()
	v, err := Load(t).Validator()
	if err != nil {
		t.Fatalf("FHIR R4 validator: %v", err)
	}
	return v
}
