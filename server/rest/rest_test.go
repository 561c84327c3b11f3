package rest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/resource"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/server/rest"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/refint"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// server starts careflow on a fresh database.
func server(t *testing.T, mutate ...func(*testConfig)) *client {
	t.Helper()
	cfg := testConfig{svc: interaction.Config{DefaultCount: 50, MaxCount: 1000}}
	for _, m := range mutate {
		m(&cfg)
	}
	v, reg := r4test.Validator(t), r4test.Load(t).Registry
	ts := httptest.NewServer(handler(t, cfg, sqlitetest.Open(t), v, reg))
	t.Cleanup(ts.Close)
	return &client{t: t, base: ts.URL + "/fhir", root: ts.URL}
}

// testConfig is what a test server is built from: the HTTP layer's and the interaction layer's
// configuration, and whether referential integrity decorates the store (as cmd/careflow wires it).
type testConfig struct {
	http   rest.Config
	svc    interaction.Config
	refInt bool
}

// handler builds the HTTP handler of careflow over store.
func handler(tb testing.TB, cfg testConfig, store storage.Store, v interaction.Validator, reg *search.Registry) http.Handler {
	tb.Helper()
	if cfg.svc.Types == nil {
		cfg.svc.Types = definitions.ResourceTypes
	}
	if cfg.refInt {
		store = refint.New(store, cfg.svc.Types)
	}
	svc, err := interaction.New(cfg.svc, store, v, reg)
	if err != nil {
		tb.Fatal(err)
	}
	return rest.New(cfg.http, svc, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

type client struct {
	t    *testing.T
	base string
	root string
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("response is not JSON (%d): %s", r.status, r.body)
	}
	return m
}

func (c *client) do(method, path, body string, headers ...string) *response {
	c.t.Helper()
	url := path
	if !strings.HasPrefix(path, "http") {
		url = c.base + path
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return &response{status: res.StatusCode, header: res.Header, body: data}
}

// outcome asserts an OperationOutcome answer with status, an issue code and (optionally) an expression.
func expectOutcome(t *testing.T, r *response, status int, code, expression string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Errorf("Content-Type %q", ct)
	}
	m := r.json(t)
	if m["resourceType"] != "OperationOutcome" {
		t.Fatalf("not an OperationOutcome: %s", r.body)
	}
	for _, is := range m["issue"].([]any) {
		issue := is.(map[string]any)
		if issue["code"] != code {
			continue
		}
		if expression == "" {
			return
		}
		for _, e := range asSlice(issue["expression"]) {
			if e == expression {
				return
			}
		}
	}
	t.Errorf("no issue with code %q and expression %q in %s", code, expression, r.body)
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

const patientBody = `{"resourceType":"Patient","identifier":[{"system":"urn:oid:1.2.36.146.595.217.0.1","value":"12345"}],"active":true,"name":[{"family":"Chalmers","given":["Peter","James"]}],"gender":"male","birthDate":"1974-12-25"}`

var locationRE = regexp.MustCompile(`^http://127\.0\.0\.1:\d+/fhir/Patient/([A-Za-z0-9\-.]{1,64})/_history/1$`)

func create(t *testing.T, c *client, body string) (string, *response) {
	t.Helper()
	r := c.do("POST", "/Patient", body)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	m := locationRE.FindStringSubmatch(r.header.Get("Location"))
	if m == nil {
		t.Fatalf("Location %q", r.header.Get("Location"))
	}
	return m[1], r
}

func TestCreateReadHeaders(t *testing.T) {
	c := server(t)
	id, r := create(t, c, strings.Replace(patientBody, `"Patient",`, `"Patient","id":"client-id",`, 1))
	if id == "client-id" {
		t.Error("POST kept the client's id; the server must assign one")
	}
	if r.header.Get("ETag") != `W/"1"` {
		t.Errorf("ETag %q", r.header.Get("ETag"))
	}
	lm, err := http.ParseTime(r.header.Get("Last-Modified"))
	if err != nil {
		t.Errorf("Last-Modified %q: %v", r.header.Get("Last-Modified"), err)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/fhir+json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	created := r.json(t)
	meta := created["meta"].(map[string]any)
	if created["id"] != id || meta["versionId"] != "1" {
		t.Errorf("created body %s", r.body)
	}
	lu, err := time.Parse(time.RFC3339Nano, meta["lastUpdated"].(string))
	if err != nil || !lu.Truncate(time.Second).Equal(lm) {
		t.Errorf("meta.lastUpdated %v vs Last-Modified %v (%v)", lu, lm, err)
	}

	got := c.do("GET", "/Patient/"+id, "")
	if got.status != 200 || !bytes.Equal(got.body, r.body) || got.header.Get("ETag") != `W/"1"` {
		t.Fatalf("read: %d %s", got.status, got.body)
	}
	if got.header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	if c.do("GET", "/Patient/"+id, "", "If-None-Match", `W/"1"`).status != http.StatusNotModified {
		t.Error("If-None-Match on the current version is not 304")
	}
	if c.do("GET", "/Patient/"+id, "", "If-None-Match", `W/"7"`).status != http.StatusOK {
		t.Error("If-None-Match on another version is not 200")
	}
	if c.do("GET", "/Patient/"+id, "", "If-Modified-Since", lm.Format(http.TimeFormat)).status != http.StatusNotModified {
		t.Error("If-Modified-Since = Last-Modified is not 304")
	}
	if c.do("GET", "/Patient/"+id, "", "If-Modified-Since", lm.Add(-time.Hour).Format(http.TimeFormat)).status != http.StatusOK {
		t.Error("If-Modified-Since an hour earlier is not 200")
	}
	expectOutcome(t, c.do("GET", "/Patient/does-not-exist", ""), 404, "not-found", "")
}

func TestUpdateVersioningAndPreconditions(t *testing.T) {
	c := server(t)
	id, _ := create(t, c, patientBody)
	upd := strings.Replace(patientBody, `"Patient",`, `"Patient","id":"`+id+`",`, 1)
	upd = strings.Replace(upd, `"active":true`, `"active":false`, 1)

	r := c.do("PUT", "/Patient/"+id, upd, "If-Match", `W/"1"`)
	if r.status != 200 || r.header.Get("ETag") != `W/"2"` || r.json(t)["active"] != false {
		t.Fatalf("update: %d %s %v", r.status, r.body, r.header)
	}
	expectOutcome(t, c.do("PUT", "/Patient/"+id, upd, "If-Match", `W/"1"`), 412, "conflict", "")
	expectOutcome(t, c.do("PUT", "/Patient/"+id, upd, "If-Match", `garbage`), 400, "invalid", "")
	expectOutcome(t, c.do("DELETE", "/Patient/"+id, "", "If-Match", `W/"1"`), 412, "conflict", "")

	// vread of both versions.
	v1 := c.do("GET", "/Patient/"+id+"/_history/1", "")
	if v1.status != 200 || v1.json(t)["active"] != true {
		t.Errorf("vread 1: %d %s", v1.status, v1.body)
	}
	v2 := c.do("GET", "/Patient/"+id+"/_history/2", "")
	if v2.status != 200 || v2.json(t)["active"] != false || v2.header.Get("ETag") != `W/"2"` {
		t.Errorf("vread 2: %d %s", v2.status, v2.body)
	}
	expectOutcome(t, c.do("GET", "/Patient/"+id+"/_history/3", ""), 404, "not-found", "")
	expectOutcome(t, c.do("GET", "/Patient/"+id+"/_history/x", ""), 404, "not-found", "")

	// Update as create with a client-chosen id.
	r = c.do("PUT", "/Patient/chosen-1", strings.Replace(patientBody, `"Patient",`, `"Patient","id":"chosen-1",`, 1))
	if r.status != 201 || !strings.HasSuffix(r.header.Get("Location"), "/fhir/Patient/chosen-1/_history/1") {
		t.Errorf("update as create: %d %v", r.status, r.header)
	}
	// id rules of update.
	expectOutcome(t, c.do("PUT", "/Patient/"+id, patientBody), 400, "required", "Patient.id")
	expectOutcome(t, c.do("PUT", "/Patient/other", upd), 400, "invalid", "Patient.id")
}

func TestDeleteThenGone(t *testing.T) {
	c := server(t)
	id, _ := create(t, c, patientBody)
	r := c.do("DELETE", "/Patient/"+id, "")
	if r.status != 204 || len(r.body) != 0 || r.header.Get("ETag") != `W/"2"` {
		t.Fatalf("delete: %d %q %v", r.status, r.body, r.header)
	}
	g := c.do("GET", "/Patient/"+id, "")
	expectOutcome(t, g, 410, "deleted", "")
	if g.header.Get("ETag") != `W/"2"` {
		t.Errorf("410 ETag %q", g.header.Get("ETag"))
	}
	expectOutcome(t, c.do("GET", "/Patient/"+id+"/_history/2", ""), 410, "deleted", "")
	if c.do("GET", "/Patient/"+id+"/_history/1", "").status != 200 {
		t.Error("the version before the deletion is not readable")
	}
	if r := c.do("DELETE", "/Patient/"+id, ""); r.status != 204 {
		t.Errorf("second delete: %d", r.status)
	}
	r = c.do("DELETE", "/Patient/never", "", "Prefer", "return=OperationOutcome")
	if r.status != 200 || r.json(t)["resourceType"] != "OperationOutcome" {
		t.Errorf("delete of a missing resource with Prefer OperationOutcome: %d %s", r.status, r.body)
	}
	h := c.do("GET", "/Patient/"+id+"/_history", "").json(t)
	entries := asSlice(h["entry"])
	if len(entries) != 2 {
		t.Fatalf("history has %d entries", len(entries))
	}
	del := entries[0].(map[string]any)
	if del["resource"] != nil || del["request"].(map[string]any)["method"] != "DELETE" {
		t.Errorf("deletion entry %v", del)
	}
}

func TestPrefer(t *testing.T) {
	c := server(t)
	r := c.do("POST", "/Patient", patientBody, "Prefer", "return=minimal")
	if r.status != 201 || len(r.body) != 0 || r.header.Get("Location") == "" || r.header.Get("ETag") != `W/"1"` {
		t.Errorf("minimal: %d %q %v", r.status, r.body, r.header)
	}
	r = c.do("POST", "/Patient", patientBody, "Prefer", "return=OperationOutcome")
	if r.status != 201 || r.json(t)["resourceType"] != "OperationOutcome" {
		t.Errorf("OperationOutcome: %d %s", r.status, r.body)
	}
	r = c.do("POST", "/Patient", patientBody, "Prefer", "return=representation")
	if r.status != 201 || r.json(t)["resourceType"] != "Patient" {
		t.Errorf("representation: %d %s", r.status, r.body)
	}
}

func TestHistoryPagingAndSince(t *testing.T) {
	c := server(t)
	id, _ := create(t, c, patientBody)
	body := strings.Replace(patientBody, `"Patient",`, `"Patient","id":"`+id+`",`, 1)
	var times []string
	for i := 0; i < 4; i++ {
		r := c.do("PUT", "/Patient/"+id, body)
		if r.status != 200 {
			t.Fatal(r.status)
		}
		times = append(times, r.json(t)["meta"].(map[string]any)["lastUpdated"].(string))
	}
	// Walk the instance history two at a time through the next links.
	var versions []string
	next := c.base + "/Patient/" + id + "/_history?_count=2"
	for pages := 0; next != "" && pages < 10; pages++ {
		b := c.do("GET", next, "").json(t)
		if b["type"] != "history" {
			t.Fatalf("bundle type %v", b["type"])
		}
		next = ""
		for _, l := range asSlice(b["link"]) {
			if l.(map[string]any)["relation"] == "next" {
				next = l.(map[string]any)["url"].(string)
			}
		}
		for _, e := range asSlice(b["entry"]) {
			e := e.(map[string]any)
			versions = append(versions, e["response"].(map[string]any)["etag"].(string))
			if e["fullUrl"] != c.base+"/Patient/"+id {
				t.Errorf("fullUrl %v", e["fullUrl"])
			}
		}
	}
	if got := strings.Join(versions, " "); got != `W/"5" W/"4" W/"3" W/"2" W/"1"` {
		t.Errorf("history versions %s", got)
	}
	b := c.do("GET", "/Patient/"+id+"/_history?_since="+times[2], "").json(t)
	if n := len(asSlice(b["entry"])); n != 2 {
		t.Errorf("_since=%s gave %d entries, want 2", times[2], n)
	}
	if b["total"] != json.Number("2") {
		t.Errorf("total %v", b["total"])
	}
	expectOutcome(t, c.do("GET", "/Patient/"+id+"/_history?_since=yesterday", ""), 400, "invalid", "_since")
	expectOutcome(t, c.do("GET", "/Patient/_history?_count=-1", ""), 400, "invalid", "_count")
	expectOutcome(t, c.do("GET", "/_history?_cursor=bogus!", ""), 400, "invalid", "")
	expectOutcome(t, c.do("GET", "/Patient/nobody/_history", ""), 404, "not-found", "")

	c.do("POST", "/Coverage", `{"resourceType":"Coverage","status":"active","beneficiary":{"reference":"Patient/`+id+`"},"payor":[{"display":"Acme"}]}`)
	typ := c.do("GET", "/Patient/_history", "").json(t)
	if n := len(asSlice(typ["entry"])); n != 5 {
		t.Errorf("type history has %d entries, want 5", n)
	}
	sys := c.do("GET", "/_history", "").json(t)
	entries := asSlice(sys["entry"])
	if len(entries) != 6 || !strings.Contains(entries[0].(map[string]any)["fullUrl"].(string), "/Coverage/") {
		t.Errorf("system history: %d entries, first %v", len(entries), entries[0])
	}
}

func TestBadInputNeverStored(t *testing.T) {
	c := server(t, func(cfg *testConfig) { cfg.http.MaxBodyBytes = 4096 })
	id, _ := create(t, c, patientBody)
	good := strings.Replace(patientBody, `"Patient",`, `"Patient","id":"`+id+`",`, 1)
	cases := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code, expression         string
	}{
		{"malformed JSON", "POST", "/Patient", `{"resourceType":"Patient",`, nil, 400, "structure", ""},
		{"gender robot", "PUT", "/Patient/" + id, strings.Replace(good, `"male"`, `"robot"`, 1), nil, 400, "value", "Patient.gender"},
		{"birthDate yesterday", "POST", "/Patient", strings.Replace(patientBody, `"1974-12-25"`, `"yesterday"`, 1), nil, 400, "value", "Patient.birthDate"},
		{"birthDate 2024-02-30", "POST", "/Patient", strings.Replace(patientBody, `"1974-12-25"`, `"2024-02-30"`, 1), nil, 400, "value", "Patient.birthDate"},
		{"empty name", "POST", "/Patient", `{"resourceType":"Patient","name":[{}]}`, nil, 400, "", "Patient.name[0]"},
		{"bad id", "PUT", "/Patient/" + id, strings.Replace(good, id, "bad id!", 1), nil, 400, "", ""},
		{"reference syntax", "POST", "/Patient", `{"resourceType":"Patient","generalPractitioner":[{"reference":"not a ref"}]}`, nil, 400, "value", "Patient.generalPractitioner[0].reference"},
		{"resourceType differs", "POST", "/Patient", `{"resourceType":"Coverage"}`, nil, 400, "invalid", ""},
		{"type not stored", "POST", "/Parameters", `{"resourceType":"Parameters"}`, nil, 404, "not-supported", ""},
		{"unsupported method", "POST", "/Patient/" + id, `{}`, nil, 405, "not-supported", ""},
		{"too large", "POST", "/Patient", `{"resourceType":"Patient","name":[{"text":"` + strings.Repeat("x", 5000) + `"}]}`, nil, 413, "too-long", ""},
		{"xml body", "POST", "/Patient", `<Patient/>`, []string{"Content-Type", "application/fhir+xml"}, 415, "not-supported", ""},
		{"xml accept", "GET", "/Patient/" + id, "", []string{"Accept", "application/fhir+xml"}, 406, "not-supported", ""},
		{"xml _format", "GET", "/Patient/" + id + "?_format=xml", "", nil, 406, "not-supported", "_format"},
		{"empty body", "POST", "/Patient", " ", nil, 400, "required", ""},
		{"unknown path", "GET", c.root + "/nowhere", "", nil, 404, "not-found", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(tc.method, tc.path, tc.body, tc.headers...)
			if tc.code == "" {
				if r.status != tc.status || r.json(t)["resourceType"] != "OperationOutcome" {
					t.Fatalf("%d %s", r.status, r.body)
				}
				return
			}
			expectOutcome(t, r, tc.status, tc.code, tc.expression)
		})
	}
	// Nothing above changed the stored patient or created another one.
	r := c.do("GET", "/Patient/"+id, "")
	if r.header.Get("ETag") != `W/"1"` || r.json(t)["gender"] != "male" {
		t.Errorf("stored patient changed: %s", r.body)
	}
	h := c.do("GET", "/Patient/_history", "").json(t)
	if n := len(asSlice(h["entry"])); n != 1 {
		t.Errorf("%d patient versions exist after rejected writes, want 1", n)
	}
}

func TestNegotiation(t *testing.T) {
	c := server(t)
	id, _ := create(t, c, patientBody)
	for accept, want := range map[string]string{
		"application/fhir+json":                     "application/fhir+json",
		"application/json":                          "application/json",
		"text/html,application/xml;q=0.9,*/*;q=0.8": "application/fhir+json",
		"application/fhir+json; fhirVersion=4.0":    "application/fhir+json",
	} {
		r := c.do("GET", "/Patient/"+id, "", "Accept", accept)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), want) {
			t.Errorf("Accept %q: %d %q", accept, r.status, r.header.Get("Content-Type"))
		}
	}
	r := c.do("GET", "/Patient/"+id+"?_format=json&_pretty=true", "", "Accept", "application/xml")
	if r.status != 200 || !bytes.Contains(r.body, []byte("\n  \"resourceType\"")) {
		t.Errorf("_format overrides Accept and _pretty indents: %d %s", r.status, r.body)
	}
	r = c.do("POST", "/Patient", patientBody, "Content-Type", "application/json")
	if r.status != 201 {
		t.Errorf("application/json body: %d", r.status)
	}
}

func TestCapabilityStatement(t *testing.T) {
	c := server(t)
	r := c.do("GET", "/metadata", "")
	m := r.json(t)
	if r.status != 200 || m["resourceType"] != "CapabilityStatement" || m["fhirVersion"] != "4.0.1" || m["kind"] != "instance" {
		t.Fatalf("metadata: %d %s", r.status, r.body)
	}
	rest0 := asSlice(m["rest"])[0].(map[string]any)
	var types []string
	for _, res := range asSlice(rest0["resource"]) {
		res := res.(map[string]any)
		types = append(types, res["type"].(string))
		var inter []string
		for _, i := range asSlice(res["interaction"]) {
			inter = append(inter, i.(map[string]any)["code"].(string))
		}
		for _, want := range []string{"read", "vread", "update", "delete", "create", "history-instance", "history-type"} {
			if !strings.Contains(" "+strings.Join(inter, " ")+" ", " "+want+" ") {
				t.Errorf("%s lacks interaction %s", res["type"], want)
			}
		}
	}
	if fmt.Sprint(types) != fmt.Sprint(definitions.ResourceTypes) {
		t.Errorf("types %v", types)
	}
}

func TestHealth(t *testing.T) {
	c := server(t)
	if r := c.do("GET", c.root+"/healthz", ""); r.status != 200 {
		t.Errorf("healthz %d", r.status)
	}
	if r := c.do("GET", c.root+"/readyz", ""); r.status != 200 {
		t.Errorf("readyz %d", r.status)
	}
}

// TestOfficialExamplesRoundTrip stores every official R4 example of every served type and reads it back:
// the body must be the example byte for byte (compacted), with only id and meta.versionId/lastUpdated
// stamped. The examples testdata/examples/exceptions.txt lists as rejected must be answered 400.
func TestOfficialExamplesRoundTrip(t *testing.T) {
	c := server(t)
	files, err := filepath.Glob("../../testdata/examples/r4/*.json")
	if err != nil || len(files) < 700 {
		t.Fatalf("examples: %d files, %v", len(files), err)
	}
	rejected, _ := r4test.ExampleExceptions(t)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var head struct {
			ResourceType, ID string
		}
		if err := json.Unmarshal(data, &head); err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			w := c.do("PUT", "/"+head.ResourceType+"/"+head.ID, string(data))
			if why, ok := rejected[filepath.Base(f)]; ok {
				if w.status != 400 {
					t.Fatalf("PUT: %d, want 400 (%s)", w.status, why)
				}
				return
			}
			if w.status != 201 {
				t.Fatalf("PUT: %d %s", w.status, w.body)
			}
			r := c.do("GET", "/"+head.ResourceType+"/"+head.ID, "")
			lm := r.json(t)["meta"].(map[string]any)["lastUpdated"].(string)
			lu, _ := time.Parse(time.RFC3339Nano, lm)
			want, err := resource.Stamp(data, head.ID, "1", lu)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.body, want) {
				t.Errorf("read back differs\n got %s\nwant %s", r.body, want)
			}
		})
	}
}

// TestConcurrentIfMatchOverHTTP: 16 clients update one resource with If-Match; each version has exactly
// one winner and the final version counts every success.
func TestConcurrentIfMatchOverHTTP(t *testing.T) {
	c := server(t)
	id, _ := create(t, c, patientBody)
	body := strings.Replace(patientBody, `"Patient",`, `"Patient","id":"`+id+`",`, 1)
	var mu sync.Mutex
	winners := map[string]int{}
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 3; round++ {
				cur := c.do("GET", "/Patient/"+id, "")
				r := c.do("PUT", "/Patient/"+id, body, "If-Match", cur.header.Get("ETag"))
				switch r.status {
				case 200:
					mu.Lock()
					winners[r.header.Get("ETag")]++
					mu.Unlock()
				case 412:
				default:
					t.Errorf("PUT: %d %s", r.status, r.body)
				}
			}
		}()
	}
	wg.Wait()
	final := c.do("GET", "/Patient/"+id, "").header.Get("ETag")
	if want := fmt.Sprintf(`W/"%d"`, len(winners)+1); final != want {
		t.Errorf("final %s after %d winning versions", final, len(winners))
	}
	for etag, n := range winners {
		if n != 1 {
			t.Errorf("%s won %d times", etag, n)
		}
	}
}

func TestCapabilityStatementSearchDetails(t *testing.T) {
	c := server(t)
	m := c.do("GET", "/metadata", "").json(t)
	text := fmt.Sprint(m)
	for _, want := range []string{"AllergyIntolerance:patient", "Appointment:actor", "application/json-patch+json",
		"http://hl7.org/fhir/SearchParameter/individual-birthdate", "validate", "everything"} {
		if !strings.Contains(text, want) {
			t.Errorf("CapabilityStatement lacks %s", want)
		}
	}
	// Every served type, with exactly the parameters careflow indexes: not those it cannot search by yet
	// (MolecularSequence's two-range composites), which answer 400.
	reg := r4test.Load(t).Registry
	listed := map[string]bool{}
	for _, res := range asSlice(asSlice(m["rest"])[0].(map[string]any)["resource"]) {
		res := res.(map[string]any)
		typ, _ := res["type"].(string)
		listed[typ] = true
		if typ == "OperationDefinition" {
			continue
		}
		var got []string
		for _, sp := range asSlice(res["searchParam"]) {
			got = append(got, sp.(map[string]any)["name"].(string))
		}
		var want []string
		for _, p := range reg.Params(typ) {
			want = append(want, p.Code)
		}
		if !slices.Equal(got, want) || len(want) < 6 {
			t.Errorf("%s lists search parameters %v, want %v", typ, got, want)
		}
	}
	for _, typ := range definitions.ResourceTypes {
		if !listed[typ] {
			t.Errorf("CapabilityStatement lacks %s", typ)
		}
	}
	for _, p := range []struct{ typ, code string }{{"MolecularSequence", "chromosome-window-coordinate"}} {
		if _, ok := reg.Lookup(p.typ, p.code); ok {
			t.Errorf("%s.%s is listed, but careflow does not index it", p.typ, p.code)
		}
	}
	for _, p := range []struct{ typ, code string }{{"Observation", "value-quantity"}, {"RiskAssessment", "probability"},
		{"Location", "near"}, {"Observation", "code-value-quantity"}, {"DocumentReference", "relationship"}} {
		if _, ok := reg.Lookup(p.typ, p.code); !ok {
			t.Errorf("%s.%s is not listed, but careflow indexes it", p.typ, p.code)
		}
	}
}
