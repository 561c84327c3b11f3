package rest_test

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
)

// dataset loads a small fixed set of resources with client-chosen ids and returns the client.
func dataset(t *testing.T) *client {
	t.Helper()
	c := server(t)
	put := func(typ, id, body string) {
		t.Helper()
		body = strings.Replace(body, `{`, `{"resourceType":"`+typ+`","id":"`+id+`",`, 1)
		if r := c.do("PUT", "/"+typ+"/"+id, body); r.status != 201 {
			t.Fatalf("PUT %s/%s: %d %s", typ, id, r.status, r.body)
		}
	}
	put("Patient", "p1", `{"identifier":[{"system":"urn:mrn","value":"001","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]}}],"active":true,"name":[{"family":"Smith","given":["Anna"]}],"gender":"female","birthDate":"1980-05-02","telecom":[{"system":"phone","value":"555-0101"}],"address":[{"city":"Zürich"}]}`)
	put("Patient", "p2", `{"identifier":[{"system":"urn:mrn","value":"002"}],"active":false,"name":[{"family":"Smithson","given":["Bob"]}],"gender":"male","birthDate":"1975"}`)
	put("Patient", "p3", `{"identifier":[{"system":"urn:other","value":"001"}],"name":[{"family":"Öberg","given":["Zoë"]}],"gender":"female","birthDate":"1992-11-30"}`)
	put("Appointment", "a1", `{"status":"booked","start":"2026-12-01T09:00:00Z","end":"2026-12-01T09:30:00Z","participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}]}`)
	put("Appointment", "a2", `{"status":"booked","start":"2026-12-03T14:00:00Z","end":"2026-12-03T15:00:00Z","participant":[{"actor":{"reference":"Patient/p1"},"status":"accepted"}]}`)
	put("Appointment", "a3", `{"status":"cancelled","start":"2026-12-02T10:00:00Z","end":"2026-12-02T10:30:00Z","participant":[{"actor":{"reference":"Patient/p2"},"status":"declined"}]}`)
	put("AllergyIntolerance", "al1", `{"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},"code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"7980","display":"Penicillin G"}],"text":"penicillin"},"criticality":"high","patient":{"reference":"Patient/p1"}}`)
	put("AllergyIntolerance", "al2", `{"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"resolved"}]},"code":{"text":"peanuts"},"patient":{"reference":"Patient/p2"}}`)
	return c
}

// ids runs a search and returns the matched ids in order, following next links.
func ids(t *testing.T, c *client, query string, headers ...string) string {
	t.Helper()
	var out []string
	next := c.base + "/" + query
	if strings.HasPrefix(query, "?") {
		next = c.base + query
	}
	for pages := 0; next != "" && pages < 20; pages++ {
		r := c.do("GET", next, "", headers...)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", next, r.status, r.body)
		}
		b := r.json(t)
		next = ""
		for _, l := range asSlice(b["link"]) {
			if l.(map[string]any)["relation"] == "next" {
				next = l.(map[string]any)["url"].(string)
			}
		}
		for _, e := range asSlice(b["entry"]) {
			e := e.(map[string]any)
			if e["search"].(map[string]any)["mode"] != "match" {
				continue
			}
			out = append(out, e["resource"].(map[string]any)["id"].(string))
		}
	}
	return strings.Join(out, ",")
}

func sorted(s string) string {
	parts := strings.Split(s, ",")
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func TestSearchParameters(t *testing.T) {
	c := dataset(t)
	cases := []struct{ query, want string }{
		{"Patient", "p1,p2,p3"},
		{"Patient?_id=p2", "p2"},
		{"Patient?_id=p2,p3", "p2,p3"},
		{"Patient?name=smi", "p1,p2"},
		{"Patient?name=SMITH", "p1,p2"},
		{"Patient?name:exact=Smith", "p1"},
		{"Patient?name:contains=ith", "p1,p2"},
		{"Patient?family=oberg", "p3"},
		{"Patient?given=zoe", "p3"},
		{"Patient?address-city=zurich", "p1"},
		{"Patient?gender=female", "p1,p3"},
		{"Patient?gender:not=female", "p2"},
		{"Patient?identifier=001", "p1,p3"},
		{"Patient?identifier=urn:mrn|001", "p1"},
		{"Patient?identifier=urn:mrn|", "p1,p2"},
		{"Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|001", "p1"},
		{"Patient?active=true", "p1"},
		{"Patient?active:missing=true", "p3"},
		{"Patient?phone=555-0101", "p1"},
		{"Patient?birthdate=1980", "p1"},
		{"Patient?birthdate=1980-05", "p1"},
		{"Patient?birthdate=1980-05-02", "p1"},
		{"Patient?birthdate=lt1980", "p2"},
		{"Patient?birthdate=ge1980-05-02", "p1,p3"},
		{"Patient?birthdate=gt1980-05-02", "p3"},
		{"Patient?birthdate=le1980-05-02", "p1,p2"},
		{"Patient?birthdate=ne1980-05-02", "p2,p3"},
		{"Patient?birthdate=sa1980-12-31", "p3"},
		{"Patient?birthdate=eb1976", "p2"},
		{"Patient?birthdate=ge1975&birthdate=lt1990", "p1,p2"},
		{"Patient?gender=female&name=smith", "p1"},
		{"Appointment?patient=p1", "a1,a2"},
		{"Appointment?patient=Patient/p1&status=booked", "a1,a2"},
		{"Appointment?actor:Patient=p2", "a3"},
		{"Appointment?date=2026-12-02", "a3"},
		{"Appointment?date=ge2026-12-02", "a2,a3"},
		{"Appointment?patient.family=smithson", "a3"},
		{"Appointment?patient.name=smith&status=booked", "a1,a2"},
		{"AllergyIntolerance?patient=p1&clinical-status=active", "al1"},
		{"AllergyIntolerance?code=http://www.nlm.nih.gov/research/umls/rxnorm|7980", "al1"},
		{"AllergyIntolerance?code:text=peanut", "al2"},
		{"AllergyIntolerance?criticality=high", "al1"},
		{"Patient?_has:AllergyIntolerance:patient:clinical-status=active", "p1"},
		{"Patient?_has:Appointment:patient:status=cancelled", "p2"},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			if got := ids(t, c, tc.query); sorted(got) != sorted(tc.want) {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestSearchSortAndPaging(t *testing.T) {
	c := dataset(t)
	for q, want := range map[string]string{
		"Patient?_sort=birthdate":          "p2,p1,p3",
		"Patient?_sort=-birthdate":         "p3,p1,p2",
		"Patient?_sort=family":             "p3,p1,p2",
		"Patient?_sort=-family&_count=1":   "p2,p1,p3",
		"Patient?_sort=gender,-birthdate":  "p3,p1,p2",
		"Appointment?_sort=date&_count=2":  "a1,a3,a2",
		"Appointment?_sort=-date&_count=1": "a2,a3,a1",
		"Patient?_count=1":                 "p1,p2,p3",
		"Patient?_sort=-_id&_count=2":      "p3,p2,p1",
		"Patient?_sort=-_lastUpdated":      "p3,p2,p1",
	} {
		if got := ids(t, c, q); got != want {
			t.Errorf("%s: got %s, want %s", q, got, want)
		}
	}
	// previous links walk back.
	b := c.do("GET", "/Patient?_count=1&_sort=birthdate", "").json(t)
	next := link(b, "next")
	b2 := c.do("GET", next, "").json(t)
	prev := link(b2, "previous")
	if prev == "" {
		t.Fatal("page 2 has no previous link")
	}
	b1 := c.do("GET", prev, "").json(t)
	if got := firstID(b1); got != "p2" {
		t.Errorf("previous of page 2 starts with %s, want p2", got)
	}
	if b["total"] == nil || fmt.Sprint(b["total"]) != "3" {
		t.Errorf("total %v", b["total"])
	}
}

func link(b map[string]any, rel string) string {
	for _, l := range asSlice(b["link"]) {
		if l.(map[string]any)["relation"] == rel {
			return l.(map[string]any)["url"].(string)
		}
	}
	return ""
}

func firstID(b map[string]any) string {
	e := asSlice(b["entry"])
	if len(e) == 0 {
		return ""
	}
	return e[0].(map[string]any)["resource"].(map[string]any)["id"].(string)
}

func TestSearchLenientStrictAndInjection(t *testing.T) {
	c := dataset(t)
	r := c.do("GET", "/Patient?gender=male&foo=bar", "")
	b := r.json(t)
	if r.status != 200 || firstID(b) != "p2" {
		t.Fatalf("lenient: %d %s", r.status, r.body)
	}
	if self := link(b, "self"); strings.Contains(self, "foo") || !strings.Contains(self, "gender=male") {
		t.Errorf("self link %s", self)
	}
	var outcomeSeen bool
	for _, e := range asSlice(b["entry"]) {
		if e.(map[string]any)["search"].(map[string]any)["mode"] == "outcome" {
			outcomeSeen = true
		}
	}
	if !outcomeSeen {
		t.Error("no search.mode=outcome entry for the ignored parameter")
	}
	expectOutcome(t, c.do("GET", "/Patient?foo=bar", "", "Prefer", "handling=strict"), 400, "not-supported", "foo")
	expectOutcome(t, c.do("GET", "/Patient?birthdate=notadate", ""), 400, "invalid", "")
	expectOutcome(t, c.do("GET", "/Patient?_count=-1", ""), 400, "invalid", "")
	for _, q := range []string{"name[$ne]=x", "_sort=$x", "birthdate[$gt]=1"} {
		r := c.do("GET", "/Patient?"+q, "", "Prefer", "handling=strict")
		if r.status != 400 {
			t.Errorf("%s under strict handling: %d", q, r.status)
		}
	}
	// A value that looks like an operator is just a string.
	if got := ids(t, c, "Patient?name="+url.QueryEscape("$where")); got != "" {
		t.Errorf("name=$where matched %s", got)
	}
	if got := ids(t, c, "Patient?name="+url.QueryEscape(".*")); got != "" {
		t.Errorf("name=.* matched %s (regex metacharacters must be literal)", got)
	}
	r = c.do("POST", "/Patient/_search?gender=female", "name=smith", "Content-Type", "application/x-www-form-urlencoded")
	if r.status != 200 || firstID(r.json(t)) != "p1" {
		t.Errorf("POST _search: %d %s", r.status, r.body)
	}
}

func TestSearchResultShaping(t *testing.T) {
	c := dataset(t)
	b := c.do("GET", "/Patient?_id=p1&_elements=gender", "").json(t)
	res := asSlice(b["entry"])[0].(map[string]any)["resource"].(map[string]any)
	if res["gender"] != "female" || res["name"] != nil || !strings.Contains(fmt.Sprint(res["meta"]), "SUBSETTED") {
		t.Errorf("_elements: %v", res)
	}
	b = c.do("GET", "/Patient?_summary=count", "").json(t)
	if fmt.Sprint(b["total"]) != "3" || len(asSlice(b["entry"])) != 0 {
		t.Errorf("_summary=count: %v", b)
	}
}

func TestConditionalCreateUpdateDelete(t *testing.T) {
	c := dataset(t)
	body := `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"777"}],"name":[{"family":"New"}]}`
	r := c.do("POST", "/Patient", body, "If-None-Exist", "identifier=urn:mrn|777")
	if r.status != 201 {
		t.Fatalf("conditional create, no match: %d %s", r.status, r.body)
	}
	r = c.do("POST", "/Patient", body, "If-None-Exist", "identifier=urn:mrn|777")
	if r.status != 200 {
		t.Errorf("conditional create, one match: %d", r.status)
	}
	expectOutcome(t, c.do("POST", "/Patient", body, "If-None-Exist", "gender=female"), 412, "multiple-matches", "")
	expectOutcome(t, c.do("POST", "/Patient", body, "If-None-Exist", "bogus=1"), 400, "not-supported", "bogus")

	// Conditional update: one match updates it, no match creates, several are 412.
	upd := `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"001"}],"name":[{"family":"Smith-Jones"}],"gender":"female"}`
	r = c.do("PUT", "/Patient?identifier=urn:mrn|001", upd)
	if r.status != 200 || r.json(t)["id"] != "p1" || r.header.Get("ETag") != `W/"2"` {
		t.Errorf("conditional update of p1: %d %s", r.status, r.body)
	}
	r = c.do("PUT", "/Patient?identifier=urn:mrn|999", strings.Replace(upd, "001", "999", 1))
	if r.status != 201 {
		t.Errorf("conditional update, no match: %d %s", r.status, r.body)
	}
	expectOutcome(t, c.do("PUT", "/Patient?gender=female", upd), 412, "multiple-matches", "")
	expectOutcome(t, c.do("PUT", "/Patient?identifier=urn:mrn|001", strings.Replace(upd, `"Patient",`, `"Patient","id":"p2",`, 1)), 400, "invalid", "Patient.id")

	// Conditional delete.
	expectOutcome(t, c.do("DELETE", "/Patient?gender=female", ""), 412, "multiple-matches", "")
	if r := c.do("DELETE", "/Patient?identifier=urn:mrn|002", ""); r.status != 204 {
		t.Errorf("conditional delete: %d", r.status)
	}
	expectOutcome(t, c.do("GET", "/Patient/p2", ""), 410, "deleted", "")
	if r := c.do("DELETE", "/Patient?identifier=urn:mrn|nobody", ""); r.status != 204 {
		t.Errorf("conditional delete without match: %d", r.status)
	}
	if got := ids(t, c, "Patient?gender=male"); got != "" {
		t.Errorf("deleted patient still found: %s", got)
	}
}

// TestConcurrentConditionalCreate: 16 identical conditional creates at once make exactly one resource.
func TestConcurrentConditionalCreate(t *testing.T) {
	c := server(t)
	body := `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"race"}]}`
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	for i := range statuses {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			statuses[i] = c.do("POST", "/Patient", body, "If-None-Exist", "identifier=urn:mrn|race").status
		}(i)
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case 201:
			created++
		case 200:
		default:
			t.Errorf("status %d", s)
		}
	}
	if created != 1 {
		t.Errorf("%d creates answered 201, want 1", created)
	}
	if got := ids(t, c, "Patient?identifier=urn:mrn|race"); strings.Count(got, ",") != 0 || got == "" {
		t.Errorf("matching patients: %q, want exactly one", got)
	}
}

// entries returns "mode:Type/id" for each entry of a searchset.
func entries(t *testing.T, c *client, query string) string {
	t.Helper()
	r := c.do("GET", "/"+query, "")
	if r.status != 200 {
		t.Fatalf("%s: %d %s", query, r.status, r.body)
	}
	var out []string
	for _, e := range asSlice(r.json(t)["entry"]) {
		e := e.(map[string]any)
		res := e["resource"].(map[string]any)
		out = append(out, fmt.Sprintf("%s:%s/%s", e["search"].(map[string]any)["mode"], res["resourceType"], res["id"]))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func TestIncludeAndRevinclude(t *testing.T) {
	c := dataset(t)
	cases := map[string]string{
		"AllergyIntolerance?_id=al1&_include=AllergyIntolerance:patient":                      "include:Patient/p1 match:AllergyIntolerance/al1",
		"AllergyIntolerance?_include=AllergyIntolerance:patient":                              "include:Patient/p1 include:Patient/p2 match:AllergyIntolerance/al1 match:AllergyIntolerance/al2",
		"Appointment?status=booked&_include=Appointment:actor:Patient":                        "include:Patient/p1 match:Appointment/a1 match:Appointment/a2",
		"Appointment?_id=a3&_include=*":                                                       "include:Patient/p2 match:Appointment/a3",
		"Patient?_id=p1&_revinclude=AllergyIntolerance:patient":                               "include:AllergyIntolerance/al1 match:Patient/p1",
		"Patient?_id=p2&_revinclude=AllergyIntolerance:patient&_revinclude=Appointment:actor": "include:AllergyIntolerance/al2 include:Appointment/a3 match:Patient/p2",
		// :iterate: from the allergy to its patient, then to that patient's appointments.
		"AllergyIntolerance?_id=al2&_include=AllergyIntolerance:patient&_revinclude:iterate=Appointment:patient": "include:Appointment/a3 include:Patient/p2 match:AllergyIntolerance/al2",
	}
	for q, want := range cases {
		if got := entries(t, c, q); got != want {
			t.Errorf("%s\n got %s\nwant %s", q, got, want)
		}
	}
}

func TestPatientCompartment(t *testing.T) {
	c := dataset(t)
	for q, want := range map[string]string{
		"Patient/p1/Appointment":                   "a1,a2",
		"Patient/p1/Appointment?date=ge2026-12-02": "a2",
		"Patient/p2/AllergyIntolerance":            "al2",
		"Patient/p1/Patient":                       "p1",
		"Patient/nobody/Appointment":               "",
	} {
		if got := ids(t, c, q); sorted(got) != sorted(want) {
			t.Errorf("%s: got %s, want %s", q, got, want)
		}
	}
	expectOutcome(t, c.do("GET", "/Appointment/a1/Patient", ""), 404, "not-supported", "")
	expectOutcome(t, c.do("GET", "/Patient/p1/Parameters", ""), 404, "not-supported", "Parameters")
}

func TestSummaryTrue(t *testing.T) {
	c := dataset(t)
	b := c.do("GET", "/Patient?_id=p1&_summary=true", "").json(t)
	res := asSlice(b["entry"])[0].(map[string]any)["resource"].(map[string]any)
	for _, kept := range []string{"identifier", "active", "name", "gender", "birthDate", "address", "telecom"} {
		if res[kept] == nil {
			t.Errorf("_summary=true dropped %s: %v", kept, res)
		}
	}
	if !strings.Contains(fmt.Sprint(res["meta"]), "SUBSETTED") {
		t.Errorf("no SUBSETTED tag: %v", res["meta"])
	}
	b = c.do("GET", "/AllergyIntolerance?_id=al1&_summary=true", "").json(t)
	res = asSlice(b["entry"])[0].(map[string]any)["resource"].(map[string]any)
	if res["criticality"] == nil || res["patient"] == nil {
		t.Errorf("AllergyIntolerance summary %v", res)
	}
	b = c.do("GET", "/Patient?_id=p1&_elements=deceased,birthDate", "").json(t)
	res = asSlice(b["entry"])[0].(map[string]any)["resource"].(map[string]any)
	if res["birthDate"] == nil || res["name"] != nil {
		t.Errorf("_elements %v", res)
	}
}

// TestMultiValuedDates: a resource with several values for a date parameter matches when one of them
// does, judged on each value's own range, not on the envelope of all of them.
func TestMultiValuedDates(t *testing.T) {
	c := server(t)
	body := func(id string, onsets ...string) string {
		var rs []string
		for _, o := range onsets {
			rs = append(rs, `{"manifestation":[{"text":"rash"}],"onset":"`+o+`"}`)
		}
		return `{"resourceType":"AllergyIntolerance","id":"` + id + `","patient":{"reference":"Patient/p"},"reaction":[` + strings.Join(rs, ",") + `]}`
	}
	for id, onsets := range map[string][]string{"two": {"2004", "2012-06-12"}, "one": {"2008-03-01"}, "three": {"2001", "2002", "2003"}} {
		if r := c.do("PUT", "/AllergyIntolerance/"+id, body(id, onsets...)); r.status != 201 {
			t.Fatalf("PUT: %d %s", r.status, r.body)
		}
	}
	for q, want := range map[string]string{
		"onset=2008":              "one",
		"onset=2012-06":           "two",
		"onset=2004":              "two",
		"onset=2002":              "three",
		"onset=sa2010":            "two",
		"onset=eb2002":            "three",
		"onset=gt2008-06":         "two",
		"onset=lt2002":            "three",
		"onset=ge2008-03-01":      "one,two",
		"onset=le2004":            "three,two",
		"onset=ne2008-03-01":      "three,two",
		"onset=2005,2008":         "one",
		"onset=2003&onset=lt2002": "three",
	} {
		if got := ids(t, c, "AllergyIntolerance?"+q+"&_count=1"); sorted(got) != want {
			t.Errorf("%s: got %s, want %s", q, got, want)
		}
	}
	b := c.do("GET", "/AllergyIntolerance?onset=le2004&_count=1", "").json(t)
	if fmt.Sprint(b["total"]) != "2" {
		t.Errorf("total %v, want 2", b["total"])
	}
	if got := ids(t, c, "Patient?_has:AllergyIntolerance:patient:onset=2008"); got != "" {
		t.Errorf("_has with a date: %s", got)
	}
}
