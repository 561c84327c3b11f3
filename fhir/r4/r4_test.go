package r4_test

import (
	"go/build"
	"slices"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4"
)

func TestLoadIsSharedAndComplete(t *testing.T) {
	a, err := r4.Load()
	if err != nil {
		t.Fatal(err)
	}
	b, err := r4.Load()
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("Load built the definitions twice")
	}
	if a.Model == nil || a.Registry == nil || a.Compartments == nil {
		t.Fatalf("incomplete definitions: %+v", a)
	}
	if a.Registry.Model() != a.Model {
		t.Fatal("the registry does not use the loaded model")
	}
	for _, typ := range definitions.ResourceTypes {
		if !a.Model.IsResource(typ) {
			t.Errorf("model lacks served type %s", typ)
		}
		if len(a.Registry.Params(typ)) == 0 {
			t.Errorf("registry has no search parameters for %s", typ)
		}
	}
	if _, ok := a.Registry.Lookup("Patient", "birthdate"); !ok {
		t.Error("Patient?birthdate is not registered")
	}

	v1, err := a.Validator()
	if err != nil {
		t.Fatal(err)
	}
	v2, err := b.Validator()
	if err != nil {
		t.Fatal(err)
	}
	if v1 != v2 {
		t.Fatal("Validator built twice")
	}
	if _, oe := v1.Validate("Patient", []byte(`{"resourceType":"Patient","birthDate":"1970-01-01"}`)); oe != nil {
		t.Errorf("valid Patient rejected: %v", oe)
	}
	if _, oe := v1.Validate("Patient", []byte(`{"resourceType":"Patient","birthDate":"soon"}`)); oe == nil {
		t.Error("invalid birthDate accepted")
	}
}

// TestImportsOnlyPureFHIRPackages: the package stays a pure FHIR library — it imports the standard library
// and fhir/ libraries only, never storage, HTTP layers or adapters.
func TestImportsOnlyPureFHIRPackages(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	pure := []string{"definitions", "model", "search", "validate"}
	for _, imp := range pkg.Imports {
		name, mine := strings.CutPrefix(imp, "github.com/careflow/careflow/fhir/")
		if strings.Contains(imp, ".") && (!mine || !slices.Contains(pure, name)) {
			t.Errorf("fhir/r4 imports %s", imp)
		}
	}
}
