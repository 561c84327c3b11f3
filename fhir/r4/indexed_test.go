package r4_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4"
)

// TestAuditEventParameters: AuditEvent's registry holds only the parameters careflow indexes for the access
// log (plus those of every resource); every other type keeps all of its official parameters that careflow indexes.
func TestAuditEventParameters(t *testing.T) {
	d, err := r4.Load()
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Entry []struct {
			Resource struct {
				Code       string   `json:"code"`
				Base       []string `json:"base"`
				Expression string   `json:"expression"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(definitions.SearchParameters, &b); err != nil {
		t.Fatal(err)
	}
	official := map[string][]string{}
	for _, e := range b.Entry {
		if e.Resource.Expression == "" {
			continue // _content, _query, _text: not in the registry
		}
		for _, base := range e.Resource.Base {
			official[base] = append(official[base], e.Resource.Code)
		}
	}
	codes := func(typ string) []string {
		var out []string
		for _, p := range d.Registry.Params(typ) {
			out = append(out, p.Code)
		}
		return out
	}
	common := append(slices.Clone(official["Resource"]), official["DomainResource"]...)
	want := append([]string{"action", "address", "agent", "altid", "date", "entity", "entity-role", "outcome", "patient", "policy", "subtype"}, common...)
	slices.Sort(want)
	if got := codes("AuditEvent"); !slices.Equal(got, want) {
		t.Errorf("AuditEvent parameters %v, want %v", got, want)
	}
	for _, typ := range definitions.ResourceTypes {
		if typ == "AuditEvent" {
			continue
		}
		// Every official parameter, less those of kinds not indexed yet (NotIndexedParams, pinned elsewhere).
		if got, want := len(codes(typ)), len(official[typ])+len(common)-len(d.Registry.NotIndexedParams(typ)); got != want {
			t.Errorf("%s: %d parameters, want all %d official ones that are indexed", typ, got, want)
		}
	}
}
