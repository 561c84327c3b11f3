package rest_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/synth"
)

func TestPatientEverything(t *testing.T) {
	c := dataset(t)
	cases := []struct{ query, want string }{
		{"Patient/p1/$everything", "p1,a1,a2,al1"},
		{"Patient/p1/$everything?_count=2", "p1,a1,a2,al1"},
		{"Patient/p1/$everything?_count=1", "p1,a1,a2,al1"},
		{"Patient/p1/$everything?_type=Appointment", "a1,a2"},
		{"Patient/p1/$everything?start=2026-12-02", "p1,a2,al1"},
		{"Patient/p2/$everything?_type=AllergyIntolerance,Patient", "al2,p2"},
	}
	for _, tc := range cases {
		if got := ids(t, c, tc.query); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.query, got, tc.want)
		}
	}
	expectOutcome(t, c.do("GET", "/Patient/nobody/$everything", ""), 404, "not-found", "")
	expectOutcome(t, c.do("GET", "/Patient/p1/$everything?_type=Parameters", ""), 400, "not-supported", "_type")
}

func TestSystemSearch(t *testing.T) {
	c := dataset(t)
	cases := []struct{ query, want string }{
		{"?_type=Patient,Appointment&_id=p1,a3", "p1,a3"},
		{"?_type=AllergyIntolerance&_count=1", "al1,al2"},
		{"?_id=al2,p3", "p3,al2"},
	}
	for _, tc := range cases {
		if got := ids(t, c, tc.query); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.query, got, tc.want)
		}
	}
	expectOutcome(t, c.do("GET", "?_type=Patient,Appointment&gender=male", ""), 400, "not-supported", "gender")
}

// TestMultiTypeTransactionEverything: a transaction Bundle of a patient's clinical history — an
// Encounter, a Condition diagnosed in it, an Observation of it, a Practitioner who recorded them — loads
// whole (the references between its entries resolved), and the patient's $everything and compartment
// searches reach every resource of the compartment types; the Practitioner, outside the Patient
// compartment, is not among them.
func TestMultiTypeTransactionEverything(t *testing.T) {
	c := server(t)
	const (
		pat = "urn:uuid:6a1f3c1e-1b1d-4c1e-9a51-000000000001"
		enc = "urn:uuid:6a1f3c1e-1b1d-4c1e-9a51-000000000002"
		prc = "urn:uuid:6a1f3c1e-1b1d-4c1e-9a51-000000000003"
	)
	bundle := txBundle("transaction",
		entry(pat, "POST", "Patient", `{"resourceType":"Patient","name":[{"family":"Okafor","given":["Ada"]}],"birthDate":"1961-04-02"}`),
		entry(prc, "POST", "Practitioner", `{"resourceType":"Practitioner","name":[{"family":"Lind"}]}`),
		entry(enc, "POST", "Encounter", `{"resourceType":"Encounter","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"`+pat+`"},"participant":[{"individual":{"reference":"`+prc+`"}}],"period":{"start":"2026-11-20T08:00:00Z","end":"2026-11-24T10:00:00Z"}}`),
		entry("", "POST", "Condition", `{"resourceType":"Condition","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006"}]},"subject":{"reference":"`+pat+`"},"encounter":{"reference":"`+enc+`"},"recorder":{"reference":"`+prc+`"}}`),
		entry("", "POST", "Observation", `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]},"subject":{"reference":"`+pat+`"},"encounter":{"reference":"`+enc+`"},"effectiveDateTime":"2026-11-21T07:30:00Z","valueQuantity":{"value":8.1,"unit":"%","system":"http://unitsofmeasure.org","code":"%"}}`),
	)
	r := c.do("POST", "", bundle)
	if r.status != 200 {
		t.Fatalf("transaction: %d %s", r.status, r.body)
	}
	ids := map[string]string{} // type → id
	for _, e := range asSlice(r.json(t)["entry"]) {
		loc := e.(map[string]any)["response"].(map[string]any)["location"].(string)
		parts := strings.Split(loc, "/")
		for i := range parts {
			if parts[i] == "_history" && i >= 2 {
				ids[parts[i-2]] = parts[i-1]
			}
		}
	}
	if len(ids) != 5 {
		t.Fatalf("locations: %v", ids)
	}
	p := ids["Patient"]
	got := map[string]bool{}
	for _, e := range asSlice(c.do("GET", "/Patient/"+p+"/$everything", "").json(t)["entry"]) {
		res := e.(map[string]any)["resource"].(map[string]any)
		got[res["resourceType"].(string)+"/"+res["id"].(string)] = true
	}
	for _, typ := range []string{"Patient", "Encounter", "Condition", "Observation"} {
		if !got[typ+"/"+ids[typ]] {
			t.Errorf("$everything lacks the %s: %v", typ, got)
		}
	}
	if len(got) != 4 {
		t.Errorf("$everything returned %v, want the patient, the Encounter, the Condition and the Observation", got)
	}
	for _, typ := range []string{"Encounter", "Condition", "Observation"} {
		if r := c.do("GET", "/Patient/"+p+"/"+typ, ""); r.status != 200 || len(asSlice(r.json(t)["entry"])) != 1 {
			t.Errorf("Patient/%s/%s: %d %s", p, typ, r.status, r.body)
		}
	}
	// The references between entries were resolved, and chained search crosses the new types.
	if r := c.do("GET", "/Condition?encounter.class=IMP&subject:Patient.family=okafor", ""); len(asSlice(r.json(t)["entry"])) != 1 {
		t.Errorf("Condition by chains: %d %s", r.status, r.body)
	}
	// Quantities are searchable on the new types (the HbA1c is 8.1 %), and composites.
	if r := c.do("GET", "/Observation?value-quantity=gt8|http://unitsofmeasure.org|%25", ""); len(asSlice(r.json(t)["entry"])) != 1 {
		t.Errorf("Observation by value-quantity: %d %s", r.status, r.body)
	}
	if r := c.do("GET", "/Observation?code-value-quantity="+url.QueryEscape("http://loinc.org|4548-4$gt8"), ""); len(asSlice(r.json(t)["entry"])) != 1 {
		t.Errorf("Observation by code-value-quantity: %d %s", r.status, r.body)
	}
	if r := c.do("GET", "/Observation?code-value-quantity="+url.QueryEscape("http://loinc.org|4548-4$gt9"), ""); len(asSlice(r.json(t)["entry"])) != 0 {
		t.Errorf("Observation by code-value-quantity above its value: %d %s", r.status, r.body)
	}
	expectOutcome(t, c.do("GET", "/Observation?code-value-quantity=http://loinc.org|4548-4", ""), 400, "invalid", "code-value-quantity")
	expectOutcome(t, c.do("GET", "/Observation?_sort=code-value-quantity", ""), 400, "not-supported", "_sort")
}

// TestGeneratedHistoryLoadsAndEverythingReturnsIt: a data set of the generator with the clinical history
// (fhir/synth, Options.History: 16 more resource types) loads as transaction Bundles, the directory
// resources shared by the bundles (Organization, Location, Practitioner, PractitionerRole, Schedule and the
// bookable Slots) are created once, each patient's $everything returns every resource of the patient's
// bundle in the Patient compartment — and nothing of another patient —, and the Slots of the patient's
// appointments (not in the compartment) are stored, busy, and what the stored Appointments refer to.
func TestGeneratedHistoryLoadsAndEverythingReturnsIt(t *testing.T) {
	c := server(t)
	o := synth.Options{Seed: 5, Patients: 100, Today: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), History: true}
	if testing.Short() {
		o.Patients = 20
	}
	directory := map[string]bool{"Organization": true, "Location": true, "Practitioner": true, "PractitionerRole": true, "Schedule": true}
	outside := map[string]bool{"Slot": true} // not in the Patient compartment
	shared := map[string]string{}            // type/id of a directory resource → the ifNoneExist it was created for
	booked := 0
	for i := range o.Patients {
		b, err := synth.Patient(o, i)
		if err != nil {
			t.Fatal(err)
		}
		r := c.do("POST", "", string(b.JSON))
		if r.status != 200 {
			t.Fatalf("%s: %d %s", b.File, r.status, r.body)
		}
		var in struct {
			Entry []struct {
				Resource struct {
					ResourceType string `json:"resourceType"`
				} `json:"resource"`
				Request struct {
					IfNoneExist string `json:"ifNoneExist"`
				} `json:"request"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(b.JSON, &in); err != nil {
			t.Fatal(err)
		}
		out := asSlice(r.json(t)["entry"])
		if len(out) != len(in.Entry) {
			t.Fatalf("%s: %d response entries for %d entries", b.File, len(out), len(in.Entry))
		}
		want := map[string]bool{}
		slots := map[string]bool{} // the Slots of the patient's appointments
		patient := ""
		for k, e := range out {
			loc := at(e, "response", "location").(string)
			parts := strings.Split(loc, "/")
			key := parts[len(parts)-4] + "/" + parts[len(parts)-3]
			typ := in.Entry[k].Resource.ResourceType
			if typ == "Patient" {
				patient = parts[len(parts)-3]
			}
			if outside[typ] && !strings.Contains(in.Entry[k].Request.IfNoneExist, synth.SystemStaff) {
				slots[key] = true
				continue
			}
			if directory[typ] || outside[typ] {
				if prev, ok := shared[key]; ok && prev != in.Entry[k].Request.IfNoneExist {
					t.Errorf("%s: %s matched for %s and %s", b.File, key, prev, in.Entry[k].Request.IfNoneExist)
				}
				shared[key] = in.Entry[k].Request.IfNoneExist
				continue
			}
			want[key] = true
		}
		got := map[string]bool{}
		next := "/Patient/" + patient + "/$everything?_count=1000"
		for next != "" {
			page := c.do("GET", next, "")
			if page.status != 200 {
				t.Fatalf("%s: %d %s", next, page.status, page.body)
			}
			body := page.json(t)
			for _, e := range asSlice(body["entry"]) {
				res := e.(map[string]any)["resource"].(map[string]any)
				got[res["resourceType"].(string)+"/"+res["id"].(string)] = true
			}
			next = strings.TrimPrefix(link(body, "next"), c.base)
		}
		for k := range want {
			if !got[k] {
				t.Errorf("%s: $everything lacks %s", b.File, k)
			}
		}
		for k := range got {
			if !want[k] && !directory[strings.Split(k, "/")[0]] {
				t.Errorf("%s: $everything returns %s, not in the patient's bundle", b.File, k)
			}
		}
		// Every stored Appointment refers to one of the patient's Slots, busy unless the appointment was
		// cancelled.
		for k := range got {
			if !strings.HasPrefix(k, "Appointment/") {
				continue
			}
			appt := c.do("GET", "/"+k, "").json(t)
			ref, _ := at(appt, "slot", 0, "reference").(string)
			if !slots[ref] {
				t.Errorf("%s: %s refers to slot %q, not one of the patient's", b.File, k, ref)
				continue
			}
			slot := c.do("GET", "/"+ref, "").json(t)
			want := "busy"
			if appt["status"] == "cancelled" {
				want = "free"
			}
			if slot["status"] != want || slot["start"] != appt["start"] {
				t.Errorf("%s: %s %s at %v has slot %s %v", b.File, k, appt["status"], appt["start"], slot["status"], slot["start"])
			}
			booked++
		}
	}
	// Each directory resource was created once however many bundles name it.
	ident := map[string]int{}
	for _, v := range shared {
		ident[v]++
	}
	for v, n := range ident {
		if n != 1 {
			t.Errorf("%s created %d times", v, n)
		}
	}
	if len(shared) < 10 {
		t.Errorf("only %d directory resources", len(shared))
	}
	// The schedules offer free slots to book.
	r := c.do("GET", "/Slot?status=free&identifier="+url.QueryEscape(synth.SystemStaff+"|")+"&_summary=count", "")
	if n, _ := r.json(t)["total"].(json.Number).Int64(); r.status != 200 || n < 10 || booked == 0 {
		t.Errorf("free bookable slots: %d %s; %d appointments with their slots", r.status, r.body, booked)
	}
}
