package search_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
)

// TestMatcher evaluates criteria in memory on a Patient's index fields, with the database's semantics.
func TestMatcher(t *testing.T) {
	r := r4test.Load(t).Registry
	var tree map[string]any
	if err := json.Unmarshal([]byte(`{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:mrn","value":"12345"},{"system":"urn:novalue"}],
	  "name":[{"family":"Chalmers","given":["Peter"]}],"gender":"male","birthDate":"1974-12-25",
	  "generalPractitioner":[{"reference":"Practitioner/dr1"}],"managingOrganization":{"reference":"https://ehr.example.org/fhir/Organization/o1"}}`), &tree); err != nil {
		t.Fatal(err)
	}
	index, err := r.Index("Patient", tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		query          string
		match, support bool
	}{
		{"identifier=urn:mrn|12345", true, true},
		{"identifier=12345", true, true},
		{"identifier=urn:other|12345", false, true},
		{"identifier=urn:mrn|1,urn:mrn|12345", true, true},
		{"identifier=urn:mrn|", true, true},      // system only: the prefix of its system|value keys
		{"identifier=urn:mr|", false, true},      // not a prefix of the system itself
		{"identifier:not=urn:mrn|", false, true}, // …negated
		{"identifier=urn:novalue|", true, true},  // an identifier with a system and no value
		{"identifier=urn:x|,urn:novalue|", true, true},
		{"family=chal", true, true},
		{"family=halm", false, true},
		{"family:contains=halm", true, true},
		{"family:exact=Chalmers", true, true},
		{"family:exact=chalmers", false, true},
		{"gender:not=female", true, true},
		{"gender:not=male", false, true},
		{"general-practitioner=Practitioner/dr1", true, true},
		{"general-practitioner=dr1", true, true},
		{"general-practitioner:Practitioner=dr1", true, true},
		{"general-practitioner=Practitioner/dr2", false, true},
		{"organization=https://ehr.example.org/fhir/Organization/o1", true, true},
		{"_id=p2,p1", true, true},
		{"_id=p2", false, true},
		{"identifier=urn:mrn|12345&family=smith", false, true},
		{"birthdate=1974", false, false},
		{"family:missing=false", false, false},
		{"identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345", false, false},
	} {
		v, _ := url.ParseQuery(c.query)
		q, oerr := r.Parse("Patient", v, search.ParseOptions{Strict: true})
		if oerr != nil {
			t.Fatalf("%s: %v", c.query, oerr)
		}
		match, support := search.Match(q.Criteria, "p1", index)
		if match != c.match || support != c.support {
			t.Errorf("%s: match %v supported %v, want %v %v", c.query, match, support, c.match, c.support)
		}
	}
	if _, ok := search.NewMatcher(nil); !ok {
		t.Error("no criteria must compile (and match everything)")
	}
}
