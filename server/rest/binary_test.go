package rest_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// TestBinaryRawContent (http.html#binary): a Binary written with a non-FHIR Content-Type is stored with
// that contentType and the body, byte for byte (here bytes that are not UTF-8), as data; a read whose
// Accept prefers a non-FHIR type answers the raw bytes with contentType as Content-Type; _format, an
// Accept of JSON or */*, or none, answer the resource; errors stay OperationOutcomes; other types are
// unchanged (415, 406); the request-size limit applies.
func TestBinaryRawContent(t *testing.T) {
	c := server(t, func(cfg *testConfig) { cfg.http.MaxBodyBytes = 4096 })
	pdf := "%PDF-1.4\n\xff\xfe\x00\x80\xc3\x28 binary\r\n"
	r := c.do("POST", "/Binary", pdf, "Content-Type", "application/pdf", "X-Security-Context", "Patient/p1")
	if r.status != http.StatusCreated {
		t.Fatalf("POST raw Binary: %d %s", r.status, r.body)
	}
	loc := r.header.Get("Location")
	id := strings.Split(strings.TrimPrefix(loc[strings.Index(loc, "/Binary/"):], "/Binary/"), "/")[0]

	res := c.do("GET", "/Binary/"+id, "", "Accept", "application/fhir+json").json(t)
	if res["contentType"] != "application/pdf" || res["data"] != base64.StdEncoding.EncodeToString([]byte(pdf)) ||
		res["securityContext"].(map[string]any)["reference"] != "Patient/p1" {
		t.Errorf("stored Binary: %v", res)
	}
	for _, accept := range []string{"application/pdf", "image/png, application/fhir+json;q=0.5", "application/octet-stream"} {
		raw := c.do("GET", "/Binary/"+id, "", "Accept", accept)
		if raw.status != 200 || !bytes.Equal(raw.body, []byte(pdf)) || raw.header.Get("Content-Type") != "application/pdf" ||
			raw.header.Get("ETag") != `W/"1"` || raw.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("raw read with Accept %s: %d %q %q %q", accept, raw.status, raw.header.Get("Content-Type"), raw.header.Get("ETag"), raw.body)
		}
	}
	for _, h := range [][]string{{"Accept", "*/*"}, {"Accept", "application/json"}, {"Accept", ""}, {"Accept", "application/fhir+json, application/pdf;q=0.5"}} {
		if r := c.do("GET", "/Binary/"+id, "", h...); r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/") || r.json(t)["resourceType"] != "Binary" {
			t.Errorf("read with %v: %d %s", h, r.status, r.body)
		}
	}
	if r := c.do("GET", "/Binary/"+id+"?_format=json", "", "Accept", "application/pdf"); r.status != 200 || r.json(t)["resourceType"] != "Binary" {
		t.Errorf("_format=json: %d %s", r.status, r.body)
	}
	if r := c.do("GET", "/Binary/"+id, "", "Accept", "application/pdf", "If-None-Match", `W/"1"`); r.status != http.StatusNotModified {
		t.Errorf("raw read If-None-Match: %d", r.status)
	}

	// PUT: a new version with other bytes; each version reads back its own.
	png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
	if r := c.do("PUT", "/Binary/img", png, "Content-Type", "image/png"); r.status != http.StatusCreated {
		t.Fatalf("PUT raw Binary: %d %s", r.status, r.body)
	}
	if r := c.do("PUT", "/Binary/img", png+"\xff", "Content-Type", "image/png"); r.status != http.StatusOK {
		t.Fatalf("PUT raw Binary again: %d %s", r.status, r.body)
	}
	for path, want := range map[string]string{"/Binary/img": png + "\xff", "/Binary/img/_history/1": png, "/Binary/img/_history/2": png + "\xff"} {
		if r := c.do("GET", path, "", "Accept", "image/*, image/png"); r.status != 200 || string(r.body) != want || r.header.Get("Content-Type") != "image/png" {
			t.Errorf("raw %s: %d %q %q", path, r.status, r.header.Get("Content-Type"), r.body)
		}
	}

	expectOutcome(t, c.do("GET", "/Binary/nobody", "", "Accept", "application/pdf"), 404, "not-found", "")
	expectOutcome(t, c.do("POST", "/Binary", strings.Repeat("x", 5000), "Content-Type", "application/pdf"), 413, "too-long", "")
	expectOutcome(t, c.do("POST", "/DocumentReference", pdf, "Content-Type", "application/pdf"), 415, "not-supported", "")
	if r := c.do("GET", "/Patient/p1", "", "Accept", "application/pdf"); r.status != http.StatusNotAcceptable {
		t.Errorf("Patient with Accept application/pdf: %d, want 406", r.status)
	}
	// A JSON body is a Binary resource, as before.
	if r := c.do("POST", "/Binary", `{"resourceType":"Binary","contentType":"text/plain","data":"aGk="}`); r.status != http.StatusCreated {
		t.Errorf("POST Binary resource: %d %s", r.status, r.body)
	}
}
