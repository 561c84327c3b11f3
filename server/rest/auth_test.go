package rest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/careflow/careflow/auth"
	"github.com/careflow/careflow/auth/devtoken"
	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/server/audit"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/server/rest"
	"github.com/careflow/careflow/storage/confine"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// authServer is careflow with authorization on, trusting a development issuer; token signs tokens.
type authServer struct {
	c     *client
	key   *devtoken.Key
	iss   string
	audit *audit.Log
}

const authBase = "http://careflow.test/fhir"

func newAuthServer(t *testing.T) *authServer {
	t.Helper()
	key, err := devtoken.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	issuer := httptest.NewUnstartedServer(nil)
	issuer.Start()
	t.Cleanup(issuer.Close)
	h, err := key.Handler(issuer.URL)
	if err != nil {
		t.Fatal(err)
	}
	issuer.Config.Handler = h
	v, err := auth.NewVerifier(auth.Config{Issuer: issuer.URL, Audience: authBase})
	if err != nil {
		t.Fatal(err)
	}
	smart, err := auth.SMARTConfiguration(issuer.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defs := r4test.Load(t)
	store := confine.New(sqlitetest.Open(t), defs.Registry, defs.Compartments)
	svc, err := interaction.New(interaction.Config{Types: definitions.ResourceTypes, Policy: auth.NewPolicy(definitions.ResourceTypes),
		ReadOnly: []string{"AuditEvent"}}, store, r4test.Validator(t), defs.Registry)
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(filepath.Join(t.TempDir(), "audit-outbox"), store, defs.Registry, audit.Options{ShipInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close(context.Background()) })
	ts := httptest.NewServer(rest.New(rest.Config{BaseURL: authBase, Auth: v, SMARTConfiguration: smart, Audit: log}, svc, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(ts.Close)
	return &authServer{c: &client{t: t, base: ts.URL + "/fhir", root: ts.URL}, key: key, iss: issuer.URL, audit: log}
}

// token signs an access token with scopes (space-separated) and patient context.
func (a *authServer) token(t *testing.T, scopes, patient string, mutate ...func(*devtoken.Claims)) string {
	t.Helper()
	c := devtoken.Claims{Issuer: a.iss, Audience: authBase, Subject: "tester", Scopes: strings.Fields(scopes), Patient: patient}
	for _, m := range mutate {
		m(&c)
	}
	tok, err := a.key.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// as sends a request with a bearer token.
func (a *authServer) as(tok, method, path, body string) *response {
	a.c.t.Helper()
	return a.c.do(method, path, body, "Authorization", "Bearer "+tok)
}

// leak finds a resource of Patient B's compartment in an answer: its id, a reference to B or B's name
// (request URLs echoed in diagnostics and links are not data).
var leak = regexp.MustCompile(`"id":"([a-z]+-)?B"|"reference":"Patient/B"|FamB`)

// patientData are one resource of each served type in the compartment of Patient/<p> (ids end in -<p>).
func patientData(p string) map[string]string {
	ref := `{"reference":"Patient/` + p + `"}`
	return map[string]string{
		"Patient/" + p:                `{"resourceType":"Patient","id":"` + p + `","name":[{"family":"Fam` + p + `"}]}`,
		"AllergyIntolerance/al-" + p:  `{"resourceType":"AllergyIntolerance","id":"al-` + p + `","patient":` + ref + `,"code":{"text":"peanut"}}`,
		"MedicationStatement/ms-" + p: `{"resourceType":"MedicationStatement","id":"ms-` + p + `","status":"active","subject":` + ref + `,"medicationCodeableConcept":{"text":"aspirin"}}`,
		"CarePlan/cp-" + p:            `{"resourceType":"CarePlan","id":"cp-` + p + `","status":"active","intent":"plan","subject":` + ref + `}`,
		"Appointment/ap-" + p:         `{"resourceType":"Appointment","id":"ap-` + p + `","status":"booked","start":"2026-12-01T10:00:00Z","end":"2026-12-01T10:30:00Z","participant":[{"actor":` + ref + `,"status":"accepted"}]}`,
		"Coverage/cv-" + p:            `{"resourceType":"Coverage","id":"cv-` + p + `","status":"active","beneficiary":` + ref + `,"payor":[` + ref + `]}`,
		"Task/tk-" + p:                `{"resourceType":"Task","id":"tk-` + p + `","status":"requested","intent":"order","for":` + ref + `}`,
	}
}

func TestAuthenticationAnswers(t *testing.T) {
	a := newAuthServer(t)
	c := a.c
	if r := c.do("GET", "/metadata", ""); r.status != 200 || !strings.Contains(string(r.body), `"SMART-on-FHIR"`) {
		t.Errorf("metadata without a token: %d %.300s", r.status, r.body)
	}
	if r := c.do("GET", "/.well-known/smart-configuration", ""); r.status != 200 || !strings.Contains(string(r.body), `"permission-v2"`) {
		t.Errorf("smart-configuration: %d %s", r.status, r.body)
	}
	r := c.do("GET", "/Patient/x", "")
	expectOutcome(t, r, http.StatusUnauthorized, "login", "")
	if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") || strings.Contains(h, "error=") {
		t.Errorf("challenge without a token: %q", h)
	}
	for name, tok := range map[string]string{
		"garbage":        "not.a.jwt",
		"expired":        a.token(t, "user/*.cruds", "", func(c *devtoken.Claims) { c.Now, c.Lifetime = time.Now().Add(-2*time.Hour), time.Hour }),
		"wrong audience": a.token(t, "user/*.cruds", "", func(c *devtoken.Claims) { c.Audience = "http://elsewhere/fhir" }),
		"wrong issuer":   a.token(t, "user/*.cruds", "", func(c *devtoken.Claims) { c.Issuer = "http://evil.example" }),
		"tampered":       a.token(t, "user/Patient.r", "")[:20] + "x" + a.token(t, "user/Patient.r", "")[21:],
		"other key":      otherKeyToken(t, a),
	} {
		r := a.as(tok, "GET", "/Patient/x", "")
		if r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s token: %d %q %s", name, r.status, r.header.Get("WWW-Authenticate"), r.body)
		}
	}
	if r := c.do("GET", "/Patient/x", "", "Authorization", "Basic abc"); r.status != http.StatusBadRequest {
		t.Errorf("Basic credentials: %d %s", r.status, r.body)
	}
}

func otherKeyToken(t *testing.T, a *authServer) string {
	k, err := devtoken.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := k.Sign(devtoken.Claims{Issuer: a.iss, Audience: authBase, Subject: "x", Scopes: []string{"user/*.cruds"}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestScopesAllowExactlyTheirInteractions: a user/ scope grants the permissions it names and nothing else;
// a refusal is a 403 naming the missing scope.
func TestScopesAllowExactlyTheirInteractions(t *testing.T) {
	a := newAuthServer(t)
	admin := a.token(t, "system/*.cruds", "")
	for path, body := range patientData("A") {
		if r := a.as(admin, "PUT", "/"+path, body); r.status != 201 {
			t.Fatalf("PUT %s: %d %s", path, r.status, r.body)
		}
	}
	read := a.token(t, "user/Patient.r", "")
	if r := a.as(read, "GET", "/Patient/A", ""); r.status != 200 {
		t.Errorf("read with user/Patient.r: %d %s", r.status, r.body)
	}
	r := a.as(read, "GET", "/Patient?name=FamA", "")
	expectOutcome(t, r, http.StatusForbidden, "forbidden", "")
	if h := r.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="insufficient_scope"`) || !strings.Contains(h, `scope="user/Patient.s"`) {
		t.Errorf("challenge of a refused search: %q", h)
	}
	for _, req := range [][3]string{
		{"POST", "/Patient", `{"resourceType":"Patient"}`},
		{"DELETE", "/Patient/A", ""},
		{"GET", "/AllergyIntolerance/al-A", ""},
	} {
		if r := a.as(read, req[0], req[1], req[2]); r.status != http.StatusForbidden {
			t.Errorf("%s %s with user/Patient.r: %d %s", req[0], req[1], r.status, r.body)
		}
	}
	// $everything returns what the token may search: with user/Patient.r, the patient alone.
	if r := a.as(read, "GET", "/Patient/A/$everything", ""); r.status != 200 || strings.Contains(string(r.body), "al-A") || !strings.Contains(string(r.body), `"id":"A"`) {
		t.Errorf("$everything with user/Patient.r: %d %.300s", r.status, r.body)
	}
	// v1 scope: user/*.read allows reads and searches of every type, no writes.
	v1 := a.token(t, "user/*.read", "")
	if r := a.as(v1, "GET", "/AllergyIntolerance?patient=A", ""); r.status != 200 || !strings.Contains(string(r.body), `"total":1`) {
		t.Errorf("search with user/*.read: %d %.200s", r.status, r.body)
	}
	if r := a.as(v1, "PUT", "/Patient/A", patientData("A")["Patient/A"]); r.status != http.StatusForbidden {
		t.Errorf("update with user/*.read: %d", r.status)
	}
	// A batch is authorized entry by entry.
	batch := `{"resourceType":"Bundle","type":"batch","entry":[
		{"request":{"method":"GET","url":"Patient/A"}},
		{"request":{"method":"DELETE","url":"Patient/A"}}]}`
	r = a.as(a.token(t, "user/Patient.rs", ""), "POST", "", batch)
	if r.status != 200 || !strings.Contains(string(r.body), `"200 OK"`) || !strings.Contains(string(r.body), `"403 Forbidden"`) {
		t.Errorf("batch with read-only scopes: %d %s", r.status, r.body)
	}
}

// TestPatientScopesNeverLeak: with patient/ scopes for Patient/A nothing of Patient/B is read, found,
// included, counted or written, through any interaction over every served type.
func TestPatientScopesNeverLeak(t *testing.T) {
	a := newAuthServer(t)
	admin := a.token(t, "system/*.cruds", "")
	for _, p := range []string{"A", "B"} {
		for path, body := range patientData(p) {
			if r := a.as(admin, "PUT", "/"+path, body); r.status != 201 {
				t.Fatalf("PUT %s: %d %s", path, r.status, r.body)
			}
		}
	}
	tok := a.token(t, "patient/*.cruds", "A")
	leaks := func(what string, r *response) {
		t.Helper()
		if leak.Match(r.body) {
			t.Errorf("%s leaks Patient B's data: %d %.400s", what, r.status, r.body)
		}
	}
	for path := range patientData("B") {
		typ := path[:strings.IndexByte(path, '/')]
		r := a.as(tok, "GET", "/"+path, "")
		if r.status != http.StatusNotFound {
			t.Errorf("read %s: %d, want 404", path, r.status)
		}
		leaks("read "+path, r)
		for _, q := range []string{"", "?_count=1000&_total=accurate", "?_include=*&_revinclude=*", "?_summary=count"} {
			r := a.as(tok, "GET", "/"+typ+q, "")
			if r.status != 200 {
				t.Errorf("search %s%s: %d %s", typ, q, r.status, r.body)
			}
			leaks("search "+typ+q, r)
		}
		if own := a.as(tok, "GET", "/"+typ, ""); !strings.Contains(string(own.body), `"total":1`) {
			t.Errorf("search %s does not find Patient A's one resource: %.300s", typ, own.body)
		}
		r = a.as(tok, "GET", "/"+path+"/_history", "")
		leaks("history "+path, r)
		if r := a.as(tok, "DELETE", "/"+path, ""); r.status != http.StatusForbidden {
			t.Errorf("delete %s: %d %s", path, r.status, r.body)
		}
	}
	for _, path := range []string{"/Patient/B/$everything", "/Patient/B/AllergyIntolerance", "/_history", "/AllergyIntolerance/_history",
		"/Patient/A/$everything", "/Patient?_revinclude=AllergyIntolerance:patient", "/AllergyIntolerance?_include=AllergyIntolerance:patient"} {
		leaks(path, a.as(tok, "GET", path, ""))
	}
	for _, path := range []string{"/AllergyIntolerance?patient.name=FamB", "/Patient?_has:AllergyIntolerance:patient:code=peanut", "/$meta"} {
		if r := a.as(tok, "GET", path, ""); r.status != http.StatusForbidden {
			t.Errorf("%s with patient/ scopes: %d %s (want 403: it would evaluate other patients' data)", path, r.status, r.body)
		}
	}
	// Writes that would put a resource in another compartment, or change one there, are refused.
	other := `{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/B"},"code":{"text":"x"}}`
	if r := a.as(tok, "POST", "/AllergyIntolerance", other); r.status != http.StatusForbidden {
		t.Errorf("create in B's compartment: %d %s", r.status, r.body)
	}
	if r := a.as(tok, "PUT", "/AllergyIntolerance/al-B", strings.Replace(patientData("A")["AllergyIntolerance/al-A"], "al-A", "al-B", 1)); r.status != http.StatusForbidden {
		t.Errorf("moving B's allergy to A: %d %s", r.status, r.body)
	}
	if r := a.as(tok, "POST", "/AllergyIntolerance", strings.Replace(other, "Patient/B", "Patient/A", 1)); r.status != http.StatusCreated {
		t.Errorf("create in A's compartment: %d %s", r.status, r.body)
	}
	// A transaction with one entry outside the compartment writes nothing.
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":{"resourceType":"Task","id":"tx-A","status":"requested","intent":"order","for":{"reference":"Patient/A"}},"request":{"method":"PUT","url":"Task/tx-A"}},
		{"resource":{"resourceType":"Task","id":"tx-B","status":"requested","intent":"order","for":{"reference":"Patient/B"}},"request":{"method":"PUT","url":"Task/tx-B"}}]}`
	if r := a.as(tok, "POST", "", tx); r.status != http.StatusForbidden {
		t.Errorf("transaction with an entry for B: %d %s", r.status, r.body)
	}
	if r := a.as(admin, "GET", "/Task/tx-A", ""); r.status != http.StatusNotFound {
		t.Errorf("the refused transaction wrote Task/tx-A: %d", r.status)
	}
	// A batch reads entry by entry inside the compartment.
	batch := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/B"}},{"request":{"method":"GET","url":"CarePlan?_id=cp-B"}}]}`
	r := a.as(tok, "POST", "", batch)
	leaks("batch", r)
	if !strings.Contains(string(r.body), `"404 Not Found"`) {
		t.Errorf("batch read of Patient/B: %s", r.body)
	}
	// A patient/ token without a patient claim grants nothing.
	if r := a.as(a.token(t, "patient/*.rs", ""), "GET", "/Patient/A", ""); r.status != http.StatusForbidden {
		t.Errorf("patient/ scopes without a patient: %d", r.status)
	}
}

// TestAuditRecordsEveryAccess: reads, searches and refusals are recorded as AuditEvents (who, what, which
// patient, outcome); the access log is read-only and needs its own scope.
func TestAuditRecordsEveryAccess(t *testing.T) {
	a := newAuthServer(t)
	admin := a.token(t, "system/*.cruds", "")
	for path, body := range patientData("A") {
		if r := a.as(admin, "PUT", "/"+path, body); r.status != 201 {
			t.Fatalf("PUT %s: %d %s", path, r.status, r.body)
		}
	}
	reader := a.token(t, "user/*.rs", "", func(c *devtoken.Claims) { c.Subject = "nurse-7" })
	if r := a.as(reader, "GET", "/AllergyIntolerance/al-A", ""); r.status != 200 {
		t.Fatalf("read: %d", r.status)
	}
	if r := a.as(reader, "GET", "/MedicationStatement?subject=Patient/A", ""); r.status != 200 {
		t.Fatalf("search: %d", r.status)
	}
	if r := a.c.do("GET", "/Patient/A", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("anonymous read: %d", r.status)
	}
	if r := a.as(reader, "DELETE", "/Patient/A", ""); r.status != http.StatusForbidden {
		t.Fatalf("refused delete: %d", r.status)
	}
	if err := a.audit.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The access log needs a scope that names it.
	if r := a.as(reader, "GET", "/AuditEvent?patient=Patient/A", ""); r.status != http.StatusForbidden {
		t.Errorf("AuditEvent search with user/*.rs: %d, want 403", r.status)
	}
	officer := a.token(t, "user/AuditEvent.rs", "")
	for q, want := range map[string]int{
		"altid=nurse-7&subtype=read&patient=Patient/A":                                   1, // the allergy read names its patient
		"altid=nurse-7&subtype=search-type&patient=Patient/A":                            1,
		"subtype=read&outcome=4&entity=Patient/A":                                        1, // the anonymous read, refused
		"altid=nurse-7&subtype=delete&outcome=4&entity=Patient/A":                        1,
		"altid=nurse-7&entity-role=http://terminology.hl7.org/CodeSystem/object-role|24": 1, // the query
	} {
		r := a.as(officer, "GET", "/AuditEvent?"+q+"&_summary=count", "")
		if r.status != 200 || !strings.Contains(string(r.body), fmt.Sprintf(`"total":%d`, want)) {
			t.Errorf("AuditEvent?%s: %d %s, want total %d", q, r.status, r.body, want)
		}
	}
	// Read-only over the API, whatever the scopes.
	if r := a.as(a.token(t, "system/AuditEvent.cruds", ""), "POST", "/AuditEvent", `{"resourceType":"AuditEvent"}`); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST AuditEvent: %d, want 405", r.status)
	}
}
