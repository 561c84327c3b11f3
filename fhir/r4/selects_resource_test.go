package r4_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
)

// TestReferenceParametersSelectingResources: a reference parameter whose expression selects a resource
// rather than a Reference (Bundle composition and message: Bundle.entry[0].resource) is not indexed — it
// would silently match nothing — and searching by it is a 400 not-supported that says why.
func TestReferenceParametersSelectingResources(t *testing.T) {
	reg := r4test.Load(t).Registry
	var got []string
	for _, typ := range definitions.ResourceTypes {
		for _, code := range reg.NotIndexedParams(typ) {
			if why, _ := reg.NotIndexed(typ, code); strings.Contains(why, "selects a resource") {
				got = append(got, typ+"."+code)
			}
		}
	}
	if strings.Join(got, ",") != "Bundle.composition,Bundle.message" {
		t.Errorf("reference parameters selecting a resource: %v", got)
	}
	_, err := reg.Parse("Bundle", url.Values{"composition": {"Composition/c1"}}, search.ParseOptions{})
	if err == nil || !strings.Contains(err.Error(), "selects a resource") {
		t.Errorf("Bundle?composition=…: %v", err)
	}
}
