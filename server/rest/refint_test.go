package rest_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// refint starts a server that enforces referential integrity.
func refintServer(t *testing.T) *client {
	return server(t, func(cfg *testConfig) { cfg.refInt = true })
}

func allergy(patientRef string) string {
	return `{"resourceType":"AllergyIntolerance","patient":{"reference":"` + patientRef + `"},"code":{"text":"peanut"}}`
}

func carePlan(subjectRef string) string {
	return `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"` + subjectRef + `"}}`
}

var anyLocationRE = regexp.MustCompile(`/fhir/([A-Za-z]+/[A-Za-z0-9\-.]{1,64})/_history/\d+$`)

// post creates a resource and returns its "Type/id".
func post(t *testing.T, c *client, typ, body string) string {
	t.Helper()
	r := c.do("POST", "/"+typ, body)
	if r.status != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", typ, r.status, r.body)
	}
	m := anyLocationRE.FindStringSubmatch(r.header.Get("Location"))
	if m == nil {
		t.Fatalf("Location %q", r.header.Get("Location"))
	}
	return m[1]
}

// issues returns the (code, expression) pairs of an OperationOutcome answer.
func issues(t *testing.T, r *response) []string {
	t.Helper()
	var out []string
	for _, is := range asSlice(r.json(t)["issue"]) {
		issue := is.(map[string]any)
		var exprs []string
		for _, e := range asSlice(issue["expression"]) {
			exprs = append(exprs, e.(string))
		}
		out = append(out, issue["code"].(string)+" "+strings.Join(exprs, ","))
	}
	return out
}

// TestRefIntCreate: with the option on, a write whose references to this server do not resolve is refused
// with 422 and one located issue per dangling reference, and nothing is stored; references the server
// cannot check are accepted.
func TestRefIntCreate(t *testing.T) {
	c := refintServer(t)
	pat := post(t, c, "Patient", patientWith("r1", "Ref"))

	r := c.do("POST", "/AllergyIntolerance", allergy("Patient/missing"))
	expectOutcome(t, r, http.StatusUnprocessableEntity, "not-found", "AllergyIntolerance.patient.reference")
	if got := ids(t, c, "AllergyIntolerance"); got != "" {
		t.Errorf("a refused create was stored: %s", got)
	}

	// Every dangling reference is reported where it is: nested, in an extension, in a contained resource,
	// absolute on this server's base.
	cp := `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"` + pat + `"},` +
		`"contained":[{"resourceType":"Patient","id":"c","link":[{"other":{"reference":"Patient/gone-1"},"type":"seealso"}]}],` +
		`"extension":[{"url":"http://example.org/x","valueReference":{"reference":"Appointment/nope"}}],` +
		`"activity":[{"detail":{"status":"scheduled","performer":[{"reference":"` + c.base + `/Patient/nobody/_history/1"}]}}]}`
	r = c.do("POST", "/CarePlan", cp)
	got := strings.Join(issues(t, r), "; ")
	want := "not-found CarePlan.contained[0].link[0].other.reference; not-found CarePlan.extension[0].valueReference.reference; not-found CarePlan.activity[0].detail.performer[0].reference"
	if r.status != http.StatusUnprocessableEntity || got != want {
		t.Errorf("dangling references: %d %s\nwant 422 %s", r.status, got, want)
	}

	// Accepted: existing targets (also versioned and absolute), types this server does not serve, other
	// servers, contained references, urn:uuid outside a transaction, logical references.
	ok := `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"` + pat + `/_history/1"},` +
		`"contained":[{"resourceType":"Goal","id":"g","lifecycleStatus":"active","description":{"text":"walk"},"subject":{"reference":"` + c.base + `/` + pat + `"}}],` +
		`"goal":[{"reference":"#g"}],"author":{"reference":"Parameters/unknown"},` +
		`"careTeam":[{"reference":"http://other.example.org/fhir/CareTeam/1"}],` +
		`"addresses":[{"identifier":{"system":"urn:x","value":"1"}}],` +
		`"supportingInfo":[{"reference":"http://other.example.org/fhir/Patient/missing"},{"reference":"urn:uuid:0a000000-0000-4000-8000-00000000000a"}]}`
	post(t, c, "CarePlan", ok)

	// A deleted target is dangling too.
	gone := post(t, c, "Patient", patientWith("r2", "Gone"))
	if r := c.do("DELETE", "/"+gone, ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	expectOutcome(t, c.do("POST", "/AllergyIntolerance", allergy(gone)), http.StatusUnprocessableEntity, "deleted", "AllergyIntolerance.patient.reference")

	// Update, conditional create and update, and PATCH are checked alike; the stored version stays.
	al := post(t, c, "AllergyIntolerance", allergy(pat))
	id := strings.TrimPrefix(al, "AllergyIntolerance/")
	body := strings.Replace(allergy("Patient/missing"), `{"resourceType":"AllergyIntolerance",`, `{"resourceType":"AllergyIntolerance","id":"`+id+`",`, 1)
	expectOutcome(t, c.do("PUT", "/"+al, body), http.StatusUnprocessableEntity, "not-found", "AllergyIntolerance.patient.reference")
	expectOutcome(t, c.do("PUT", "/AllergyIntolerance?_id="+id, body), http.StatusUnprocessableEntity, "not-found", "AllergyIntolerance.patient.reference")
	expectOutcome(t, c.do("POST", "/AllergyIntolerance", allergy("Patient/missing"), "If-None-Exist", "code=nothing-like-it"),
		http.StatusUnprocessableEntity, "not-found", "AllergyIntolerance.patient.reference")
	patch := `[{"op":"replace","path":"/patient/reference","value":"Patient/missing"}]`
	expectOutcome(t, c.do("PATCH", "/"+al, patch, "Content-Type", "application/json-patch+json"),
		http.StatusUnprocessableEntity, "not-found", "AllergyIntolerance.patient.reference")
	if a := get(t, c, al); at(a, "meta", "versionId") != "1" || at(a, "patient", "reference") != pat {
		t.Errorf("a refused write changed the resource: %v", a)
	}
	// A conditional create that matches writes nothing and is not checked.
	if r := c.do("POST", "/AllergyIntolerance", allergy("Patient/missing"), "If-None-Exist", "_id="+id); r.status != http.StatusOK {
		t.Errorf("matching conditional create: %d %s", r.status, r.body)
	}
	// A resource may reference itself.
	self := `{"resourceType":"Patient","id":"selfie","link":[{"other":{"reference":"Patient/selfie"},"type":"seealso"}]}`
	if r := c.do("PUT", "/Patient/selfie", self); r.status != http.StatusCreated {
		t.Errorf("self reference: %d %s", r.status, r.body)
	}
}

// TestRefIntOff: without the option, dangling references are stored and referenced resources deleted.
func TestRefIntOff(t *testing.T) {
	c := server(t)
	post(t, c, "AllergyIntolerance", allergy("Patient/missing"))
	pat := post(t, c, "Patient", patientWith("o1", "Off"))
	post(t, c, "CarePlan", carePlan(pat))
	if r := c.do("DELETE", "/"+pat, ""); r.status != http.StatusNoContent {
		t.Errorf("delete of a referenced patient without the option: %d %s", r.status, r.body)
	}
}

// TestRefIntDelete: a referenced resource cannot be deleted (409, still readable) until its referrers
// are gone or no longer reference it.
func TestRefIntDelete(t *testing.T) {
	c := refintServer(t)
	pat := post(t, c, "Patient", patientWith("d1", "Deleted"))
	al := post(t, c, "AllergyIntolerance", allergy(pat))
	cp := post(t, c, "CarePlan", carePlan(c.base+"/"+pat)) // absolute, on this server

	r := c.do("DELETE", "/"+pat, "")
	expectOutcome(t, r, http.StatusConflict, "business-rule", "")
	if !strings.Contains(string(r.body), "2 resources reference it ("+al+", "+cp+")") {
		t.Errorf("the outcome does not name the referrers: %s", r.body)
	}
	expectOutcome(t, c.do("DELETE", "/Patient?identifier=urn:mrn|d1", ""), http.StatusConflict, "business-rule", "")
	if p := get(t, c, pat); at(p, "meta", "versionId") != "1" {
		t.Errorf("refused delete changed the patient: %v", p)
	}

	// Drop one referrer, update the other to reference someone else: the delete goes through.
	if r := c.do("DELETE", "/"+al, ""); r.status != http.StatusNoContent {
		t.Fatalf("delete referrer: %d %s", r.status, r.body)
	}
	other := post(t, c, "Patient", patientWith("d2", "Other"))
	cpID := strings.TrimPrefix(cp, "CarePlan/")
	body := strings.Replace(carePlan(other), `{"resourceType":"CarePlan",`, `{"resourceType":"CarePlan","id":"`+cpID+`",`, 1)
	if r := c.do("PUT", "/"+cp, body); r.status != http.StatusOK {
		t.Fatalf("update referrer: %d %s", r.status, r.body)
	}
	if r := c.do("DELETE", "/"+pat, ""); r.status != http.StatusNoContent {
		t.Errorf("delete after the referrers are gone: %d %s", r.status, r.body)
	}
	if r := c.do("GET", "/"+pat, ""); r.status != http.StatusGone {
		t.Errorf("read after delete: %d", r.status)
	}
	// Deleting what is already deleted or never existed stays a no-op.
	if r := c.do("DELETE", "/Patient/never", ""); r.status != http.StatusNoContent {
		t.Errorf("delete of nothing: %d %s", r.status, r.body)
	}
}

// TestRefIntDeleteSelf: a resource's reference to itself does not block its deletion.
func TestRefIntDeleteSelf(t *testing.T) {
	c := refintServer(t)
	self := `{"resourceType":"Patient","id":"selfie","link":[{"other":{"reference":"Patient/selfie"},"type":"seealso"}]}`
	if r := c.do("PUT", "/Patient/selfie", self); r.status != http.StatusCreated {
		t.Fatalf("self reference: %d %s", r.status, r.body)
	}
	if r := c.do("DELETE", "/Patient/selfie", ""); r.status != http.StatusNoContent {
		t.Errorf("delete of a self-referencing patient: %d %s", r.status, r.body)
	}
}

// TestRefIntTransaction: inside a transaction, its own creates and updates resolve references, its
// deletes leave them dangling, and deleting a resource together with its referrers is allowed; a
// violation fails the whole transaction and stores nothing.
func TestRefIntTransaction(t *testing.T) {
	c := refintServer(t)
	es := responseEntries(t, c.do("POST", "", txBundle("transaction",
		entry(uuidA, "POST", "Patient", patientWith("t1", "Tx")),
		entry(uuidB, "POST", "AllergyIntolerance", allergy(uuidA)),
		entry(uuidC, "POST", "CarePlan", carePlan(uuidA)),
		entry("", "PUT", "Patient/fixed-t", `{"resourceType":"Patient","id":"fixed-t"}`),
		entry("", "POST", "Appointment", `{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"reference":"Patient/fixed-t"},"status":"accepted"}]}`),
	)), "transaction-response")
	pat, al, cp := location(t, c, es[0]), location(t, c, es[1]), location(t, c, es[2])
	appt := location(t, c, es[4])

	// A reference to a missing resource fails everything.
	r := c.do("POST", "", txBundle("transaction",
		entry(uuidA, "POST", "Patient", patientWith("t2", "Never")),
		entry("", "POST", "AllergyIntolerance", allergy("Patient/missing")),
	))
	expectOutcome(t, r, http.StatusUnprocessableEntity, "not-found", "Bundle.entry[1].resource.patient.reference")
	if got := ids(t, c, "Patient?identifier=urn:mrn|t2"); got != "" {
		t.Errorf("a failed transaction stored %s", got)
	}

	// Deleting a patient but not all its referrers: 409, nothing deleted.
	r = c.do("POST", "", txBundle("transaction",
		entry("", "DELETE", pat, ""),
		entry("", "DELETE", al, ""),
	))
	expectOutcome(t, r, http.StatusConflict, "business-rule", "Bundle.entry[0]")
	get(t, c, al)

	// Deleting a patient and creating a resource that references it: 422.
	r = c.do("POST", "", txBundle("transaction",
		entry("", "DELETE", "Patient/fixed-t", ""),
		entry("", "DELETE", appt, ""),
		entry("", "POST", "CarePlan", carePlan("Patient/fixed-t")),
	))
	expectOutcome(t, r, http.StatusUnprocessableEntity, "deleted", "Bundle.entry[2].resource.subject.reference")
	get(t, c, "Patient/fixed-t")

	// Deleting a patient with all its referrers — one deleted, one updated away from it — is fine.
	cpID := strings.TrimPrefix(cp, "CarePlan/")
	moved := strings.Replace(carePlan("Patient/fixed-t"), `{"resourceType":"CarePlan",`, `{"resourceType":"CarePlan","id":"`+cpID+`",`, 1)
	responseEntries(t, c.do("POST", "", txBundle("transaction",
		entry("", "DELETE", pat, ""),
		entry("", "DELETE", al, ""),
		entry("", "PUT", cp, moved),
	)), "transaction-response")
	for _, ref := range []string{pat, al} {
		if r := c.do("GET", "/"+ref, ""); r.status != http.StatusGone {
			t.Errorf("%s after the transaction: %d", ref, r.status)
		}
	}
	if got := at(get(t, c, cp), "subject", "reference"); got != "Patient/fixed-t" {
		t.Errorf("updated referrer: %v", got)
	}
}

// TestRefIntBatch: in a batch every entry is checked on its own.
func TestRefIntBatch(t *testing.T) {
	c := refintServer(t)
	pat := post(t, c, "Patient", patientWith("b1", "Batch"))
	post(t, c, "AllergyIntolerance", allergy(pat))
	patchDoc := base64.StdEncoding.EncodeToString([]byte(`[{"op":"add","path":"/active","value":false}]`))
	es := responseEntries(t, c.do("POST", "", txBundle("batch",
		entry("", "POST", "CarePlan", carePlan(pat)),
		entry("", "POST", "CarePlan", carePlan("Patient/missing")),
		entry("", "DELETE", pat, ""),
		entry("", "PATCH", pat, `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"`+patchDoc+`"}`),
	)), "batch-response")
	want := []string{"201 Created", "422 Unprocessable Entity", "409 Conflict", "200 OK"}
	for i := range want {
		if status(es[i]) != want[i] {
			t.Errorf("entry %d: %q, want %q: %v", i, status(es[i]), want[i], es[i])
		}
	}
	if issue := at(es[1], "response", "outcome", "issue", 0); at(issue, "expression", 0) != "Bundle.entry[1].resource.subject.reference" {
		t.Errorf("outcome of the dangling entry: %v", issue)
	}
	if p := get(t, c, pat); p["active"] != false {
		t.Errorf("the patient must survive the batch, patched: %v", p)
	}
}

// TestRefIntLeftovers: references written while the check was off do not block a no-op delete of what is
// already gone, and a resource holding one cannot be rewritten until it is fixed.
func TestRefIntLeftovers(t *testing.T) {
	v, reg := r4test.Validator(t), r4test.Load(t).Registry
	store := sqlitetest.Open(t)
	start := func(on bool) *client {
		ts := httptest.NewServer(handler(t, testConfig{refInt: on}, store, v, reg))
		t.Cleanup(ts.Close)
		return &client{t: t, base: ts.URL + "/fhir", root: ts.URL}
	}
	off, on := start(false), start(true)
	pat := post(t, off, "Patient", patientWith("l1", "Left"))
	al := post(t, off, "AllergyIntolerance", allergy(pat))
	if r := off.do("DELETE", "/"+pat, ""); r.status != http.StatusNoContent {
		t.Fatalf("delete without the check: %d %s", r.status, r.body)
	}
	if r := on.do("DELETE", "/"+pat, ""); r.status != http.StatusNoContent {
		t.Errorf("repeated delete of a deleted, still referenced patient: %d %s", r.status, r.body)
	}
	id := strings.TrimPrefix(al, "AllergyIntolerance/")
	body := strings.Replace(allergy(pat), `{"resourceType":"AllergyIntolerance",`, `{"resourceType":"AllergyIntolerance","id":"`+id+`",`, 1)
	expectOutcome(t, on.do("PUT", "/"+al, body), http.StatusUnprocessableEntity, "deleted", "AllergyIntolerance.patient.reference")
}
