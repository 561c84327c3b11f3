package search_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
)

func TestParseReference(t *testing.T) {
	cases := []struct {
		in, want string // want "base|type|id" or "" when not a literal reference
	}{
		{"Patient/1", "|Patient|1"},
		{"Patient/1/_history/3", "|Patient|1"},
		{"https://fhir.example.org/fhir/Patient/a-b.c", "https://fhir.example.org/fhir|Patient|a-b.c"},
		{"http://x.org/fhir/Patient/1/_history/2", "http://x.org/fhir|Patient|1"},
		{"#p1", ""},
		{"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", ""},
		{"Patient?identifier=x|1", ""},
		{"Patient", ""},
		{"patient/1", ""},
		{"Patient/", ""},
		{"Patient/a b", ""},
		{"fhir/Patient/1", ""},
		{"", ""},
	}
	for _, c := range cases {
		base, typ, id, ok := search.ParseReference(c.in)
		got := ""
		if ok {
			got = base + "|" + typ + "|" + id
		}
		if got != c.want {
			t.Errorf("ParseReference(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestIndexRefs: the refs field holds every reference to a served type, wherever it is, and nothing else.
func TestIndexRefs(t *testing.T) {
	r := r4test.Load(t).Registry
	var res map[string]any
	if err := json.Unmarshal([]byte(`{"resourceType":"CarePlan","status":"active","intent":"plan",
		"subject":{"reference":"Patient/p1/_history/2"},
		"contained":[{"resourceType":"Goal","id":"g","subject":{"reference":"Patient/p2"}}],
		"goal":[{"reference":"#g"}],
		"author":{"reference":"Practitioner/dr"},
		"careTeam":[{"identifier":{"system":"s","value":"v"}},{"reference":"Parameters/p"}],
		"basedOn":[{"reference":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"}],
		"extension":[{"url":"x","valueReference":{"reference":"https://fhir.example.org/fhir/Appointment/a1"}}],
		"supportingInfo":[{"reference":"Patient/p1"},{"reference":"Coverage?identifier=1"}]}`), &res); err != nil {
		t.Fatal(err)
	}
	idx, err := r.Index("CarePlan", res)
	if err != nil {
		t.Fatal(err)
	}
	want := "[Patient/p1 Patient/p2 Practitioner/dr https://fhir.example.org/fhir/Appointment/a1]"
	if got := fmt.Sprint(idx[search.RefsField]); got != want {
		t.Errorf("%s = %s, want %s", search.RefsField, got, want)
	}
	delete(res, "subject")
	delete(res, "author")
	delete(res, "contained")
	delete(res, "extension")
	delete(res, "supportingInfo")
	idx, _ = r.Index("CarePlan", res)
	if v, ok := idx[search.RefsField]; ok {
		t.Errorf("no served references, yet %s = %v", search.RefsField, v)
	}
}
