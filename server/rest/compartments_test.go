package rest_test

import (
	"net/http"
	"strings"
	"testing"
)

// clinicalData are two patients' records linked to a practitioner, encounters and a related person, with
// the care dates $everything's start and end restrict (Observation.effective, Encounter.period,
// Condition.onset, Immunization.occurrence); o5 has no date. _type lists types in the order it names. Ids end in the patient (x or y).
func clinicalData(p, practitioner string) map[string]string {
	ref := `{"reference":"Patient/` + p + `"}`
	dr := `{"reference":"` + practitioner + `"}`
	return map[string]string{
		"Patient/" + p:         `{"resourceType":"Patient","id":"` + p + `","name":[{"family":"Fam` + p + `"}]}`,
		"Encounter/e-" + p:     `{"resourceType":"Encounter","id":"e-` + p + `","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":` + ref + `,"participant":[{"individual":` + dr + `}],"period":{"start":"2026-01-10T08:00:00Z","end":"2026-01-10T09:00:00Z"}}`,
		"Observation/o1-" + p:  `{"resourceType":"Observation","id":"o1-` + p + `","status":"final","code":{"text":"hba1c"},"subject":` + ref + `,"encounter":{"reference":"Encounter/e-` + p + `"},"performer":[` + dr + `],"effectiveDateTime":"2026-01-10T08:30:00Z"}`,
		"Observation/o5-" + p:  `{"resourceType":"Observation","id":"o5-` + p + `","status":"preliminary","code":{"text":"note"},"subject":` + ref + `}`,
		"Condition/c1-" + p:    `{"resourceType":"Condition","id":"c1-` + p + `","subject":` + ref + `,"encounter":{"reference":"Encounter/e-` + p + `"},"asserter":` + dr + `,"onsetDateTime":"2026-01-09"}`,
		"Immunization/im-" + p: `{"resourceType":"Immunization","id":"im-` + p + `","status":"completed","vaccineCode":{"text":"flu"},"patient":` + ref + `,"occurrenceDateTime":"2026-03-01","performer":[{"actor":` + dr + `}]}`,
	}
}

func putAll(t *testing.T, c *client, data map[string]string, headers ...string) {
	t.Helper()
	for path, body := range data {
		if r := c.do("PUT", "/"+path, body, headers...); r.status != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", path, r.status, r.body)
		}
	}
}

// TestOtherCompartments: [compartment]/[id]/[type] and [compartment]/[id]/* for the Practitioner, Encounter
// and RelatedPerson compartments, composed with criteria, paging and _include; Encounter/$everything; and
// Patient/$everything's start/end on the care date of every type.
func TestOtherCompartments(t *testing.T) {
	c := server(t)
	putAll(t, c, clinicalData("x", "Practitioner/dr1"))
	putAll(t, c, clinicalData("y", "Practitioner/dr1"))
	putAll(t, c, map[string]string{
		"Practitioner/dr1":  `{"resourceType":"Practitioner","id":"dr1"}`,
		"RelatedPerson/rp1": `{"resourceType":"RelatedPerson","id":"rp1","patient":{"reference":"Patient/x"}}`,
		"Observation/o9":    `{"resourceType":"Observation","id":"o9","status":"final","code":{"text":"bp"},"subject":{"reference":"Patient/x"},"performer":[{"reference":"RelatedPerson/rp1"}]}`,
	})
	for _, tc := range []struct{ query, want string }{
		{"Practitioner/dr1/Observation", "o1-x,o1-y"},
		{"Practitioner/dr1/Observation?subject=Patient/y", "o1-y"},
		{"Practitioner/dr1/Observation?_count=1", "o1-x,o1-y"},
		{"Practitioner/dr1/Encounter", "e-x,e-y"},
		{"Practitioner/dr1/Condition", "c1-x,c1-y"},
		{"Practitioner/dr1/Immunization", "im-x,im-y"},
		{"Practitioner/dr1/Practitioner", "dr1"},
		{"Practitioner/dr2/Observation", ""},
		{"RelatedPerson/rp1/Observation", "o9"},
		{"Encounter/e-x/Observation", "o1-x"},
		{"Encounter/e-x/Condition?onset-date=2026-01-09", "c1-x"},
		{"Encounter/e-x/*", "c1-x,e-x,o1-x"},
		{"Encounter/e-x/*?_count=1", "c1-x,e-x,o1-x"},
		{"Encounter/e-x/*?_type=Observation,Encounter", "o1-x,e-x"},
		{"Encounter/e-x/*?_lastUpdated=gt2000-01-01", "c1-x,e-x,o1-x"},
		{"Practitioner/dr1/*?_type=Observation,Condition&_id=o1-y,c1-x", "o1-y,c1-x"},
		{"Encounter/e-x/$everything", "c1-x,e-x,o1-x"},
		{"Encounter/e-x/$everything?_count=2", "c1-x,e-x,o1-x"},
		{"Encounter/e-y/$everything?_type=Observation", "o1-y"},
		// start/end on each type's care date; the undated o5 and the patient stay in every window.
		{"Patient/x/$everything?_type=Patient,Condition,Encounter,Immunization,Observation", "x,c1-x,e-x,im-x,o1-x,o5-x,o9"},
		{"Patient/x/$everything?_type=Patient,Condition,Encounter,Immunization,Observation&start=2026-02-01", "x,im-x,o5-x,o9"},
		{"Patient/x/$everything?_type=Patient,Condition,Encounter,Immunization,Observation&end=2026-01-09", "x,c1-x,o5-x,o9"},
		{"Patient/x/$everything?_type=Condition,Encounter,Immunization,Observation&start=2026-01-10&end=2026-01-31", "e-x,o1-x,o5-x,o9"},
	} {
		if got := ids(t, c, tc.query); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.query, got, tc.want)
		}
	}
	// _include composes with a compartment search.
	r := c.do("GET", "/Practitioner/dr1/Observation?subject=Patient/y&_include=Observation:subject", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"id":"y"`) || !strings.Contains(string(r.body), `"mode":"include"`) {
		t.Errorf("_include in the Practitioner compartment: %d %.400s", r.status, r.body)
	}
	// The CapabilityStatement declares the compartments and Encounter/$everything.
	rest := asSlice(c.do("GET", "/metadata", "").json(t)["rest"])[0].(map[string]any)
	if got := asSlice(rest["compartment"]); len(got) != 5 || got[3] != "http://hl7.org/fhir/CompartmentDefinition/encounter" {
		t.Errorf("rest.compartment: %v", got)
	}
	everything := false
	for _, r := range asSlice(rest["resource"]) {
		if r := r.(map[string]any); r["type"] == "Encounter" {
			for _, op := range asSlice(r["operation"]) {
				everything = everything || op.(map[string]any)["definition"] == "http://hl7.org/fhir/OperationDefinition/Encounter-everything"
			}
		}
	}
	if !everything {
		t.Error("the CapabilityStatement does not list Encounter/$everything")
	}
	expectOutcome(t, c.do("GET", "/Encounter/e-x/Patient", ""), 400, "not-supported", "")
	expectOutcome(t, c.do("GET", "/Basic/b1/Observation", ""), 404, "not-supported", "")
	expectOutcome(t, c.do("GET", "/Encounter/nobody/$everything", ""), 404, "not-found", "")
	expectOutcome(t, c.do("GET", "/Encounter/e-x/$everything?start=2026-01-01", ""), 400, "not-supported", "start")
	expectOutcome(t, c.do("GET", "/Practitioner/dr1/$everything", ""), 404, "not-supported", "")
}

// TestPatientScopesOtherCompartments: with patient/ scopes, a search of another compartment finds only the
// token's patient's members of it — never another patient's through a shared practitioner or encounter.
func TestPatientScopesOtherCompartments(t *testing.T) {
	a := newAuthServer(t)
	admin := a.token(t, "system/*.cruds", "")
	auth := []string{"Authorization", "Bearer " + admin}
	putAll(t, a.c, clinicalData("A", "Practitioner/dr1"), auth...)
	putAll(t, a.c, clinicalData("B", "Practitioner/dr1"), auth...)
	putAll(t, a.c, map[string]string{"Practitioner/dr1": `{"resourceType":"Practitioner","id":"dr1"}`}, auth...)
	tok := a.token(t, "patient/*.rs", "A")
	h := []string{"Authorization", "Bearer " + tok}
	for _, tc := range []struct{ query, want string }{
		{"Practitioner/dr1/Observation", "o1-A"},
		{"Practitioner/dr1/Observation?_include=Observation:subject&_revinclude=*", "o1-A"},
		{"Practitioner/dr1/*", "c1-A,e-A,im-A,o1-A"},
		{"Encounter/e-A/*", "c1-A,e-A,o1-A"},
		{"Encounter/e-B/*", ""},
		{"Encounter/e-B/Observation", ""},
		{"Encounter/e-A/$everything", "c1-A,e-A,o1-A"},
		{"Patient/B/Observation", ""},
	} {
		if got := ids(t, a.c, tc.query, h...); got != tc.want {
			t.Errorf("%s with patient/ scopes of A: got %s, want %s", tc.query, got, tc.want)
		}
	}
	for _, q := range []string{"Practitioner/dr1/Observation?_include=Observation:subject", "Practitioner/dr1/*", "Encounter/e-B/*", "Encounter/e-B/$everything",
		"Practitioner/dr1/*?_include=*&_revinclude=*", "Practitioner/dr1/*?_revinclude=Observation:performer&_revinclude=Condition:asserter"} {
		if r := a.as(tok, "GET", "/"+q, ""); leak.Match(r.body) {
			t.Errorf("%s leaks Patient B's data: %d %.400s", q, r.status, r.body)
		}
	}
	if r := a.as(tok, "GET", "/Encounter/e-B/$everything", ""); r.status != http.StatusNotFound {
		t.Errorf("Encounter/e-B/$everything with patient/ scopes of A: %d, want 404", r.status)
	}
}

// TestCrossTypeIncludes: _include and _revinclude in searches across types — [compartment]/[id]/* and
// [base]?_type=… — apply each directive to the page's matches of its source type, add what they reach once
// in mode include, and refuse a directive that fits none of the searched types.
func TestCrossTypeIncludes(t *testing.T) {
	c := server(t)
	putAll(t, c, clinicalData("x", "Practitioner/dr1"))
	putAll(t, c, clinicalData("y", "Practitioner/dr2"))
	putAll(t, c, map[string]string{
		"Practitioner/dr1": `{"resourceType":"Practitioner","id":"dr1"}`,
		"Practitioner/dr2": `{"resourceType":"Practitioner","id":"dr2"}`,
	})
	// page returns the ids of one page's matches and includes, in order.
	page := func(query string) (string, string) {
		t.Helper()
		url := c.base + "/" + query
		if strings.HasPrefix(query, "?") {
			url = c.base + query
		}
		r := c.do("GET", url, "")
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", query, r.status, r.body)
		}
		var match, include []string
		for _, e := range asSlice(r.json(t)["entry"]) {
			e := e.(map[string]any)
			id := e["resource"].(map[string]any)["id"].(string)
			if e["search"].(map[string]any)["mode"] == "include" {
				include = append(include, id)
			} else {
				match = append(match, id)
			}
		}
		return strings.Join(match, ","), strings.Join(include, ",")
	}
	for _, tc := range []struct{ query, match, include string }{
		// Only the Observation's subject: the Condition's is not followed.
		{"Encounter/e-x/*?_include=Observation:subject", "c1-x,e-x,o1-x", "x"},
		// Every reference of every match, each target once (e-x is a match, not an include).
		{"Encounter/e-x/*?_include=*", "c1-x,e-x,o1-x", "x,dr1"},
		{"Encounter/e-x/*?_type=Encounter&_revinclude=Observation:encounter", "e-x", "o1-x"},
		// On a page of one, the directive follows that page's match only.
		{"Encounter/e-x/*?_count=1&_include=Condition:asserter", "c1-x", "dr1"},
		{"?_type=Condition,Observation&_id=c1-x,o1-y&_include=Observation:performer", "c1-x,o1-y", "dr2"},
		{"?_type=Condition,Observation&_id=c1-x,o1-y&_include=Observation:performer&_include=Condition:asserter", "c1-x,o1-y", "dr1,dr2"},
		{"?_type=Condition&_id=c1-x&_include=Condition:encounter&_include:iterate=Encounter:subject", "c1-x", "e-x,x"},
	} {
		match, include := page(tc.query)
		if match != tc.match || include != tc.include {
			t.Errorf("%s: matches %s, includes %s; want %s and %s", tc.query, match, include, tc.match, tc.include)
		}
	}
	expectOutcome(t, c.do("GET", "?_type=Condition&_include=Observation:subject", ""), 400, "not-supported", "_include")
	expectOutcome(t, c.do("GET", "/Encounter/e-x/*?_include=Observation:nothing", ""), 400, "not-supported", "")
	expectOutcome(t, c.do("GET", "/Encounter/e-x/*?_include=Observation", ""), 400, "invalid", "")
}
