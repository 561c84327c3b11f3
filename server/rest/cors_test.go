package rest_test

import (
	"strings"
	"testing"
)

// TestCORS: preflights of a configured origin are answered (204) with the methods and headers FHIR
// clients send; its requests carry the origin (never a wildcard), credentials and the exposed headers;
// other origins get no CORS headers; without configured origins nothing changes.
func TestCORS(t *testing.T) {
	const app = "https://app.example.org"
	c := server(t, func(cfg *testConfig) { cfg.http.CORSOrigins = []string{app, "https://other.example.org"} })

	r := c.do("OPTIONS", "/Patient", "", "Origin", app, "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization, content-type, if-none-exist")
	if r.status != 204 {
		t.Fatalf("preflight: %d %s", r.status, r.body)
	}
	h := r.header
	if h.Get("Access-Control-Allow-Origin") != app || h.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("preflight origin/credentials: %v", h)
	}
	for _, want := range []string{"Authorization", "Content-Type", "If-Match", "If-None-Match", "If-None-Exist", "Prefer"} {
		if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
			t.Errorf("Access-Control-Allow-Headers %q lacks %s", h.Get("Access-Control-Allow-Headers"), want)
		}
	}
	for _, want := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if !strings.Contains(h.Get("Access-Control-Allow-Methods"), want) {
			t.Errorf("Access-Control-Allow-Methods %q lacks %s", h.Get("Access-Control-Allow-Methods"), want)
		}
	}

	r = c.do("POST", "/Patient", `{"resourceType":"Patient"}`, "Origin", app)
	if r.status != 201 || r.header.Get("Access-Control-Allow-Origin") != app {
		t.Fatalf("create from the app: %d, Allow-Origin %q", r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
	for _, want := range []string{"ETag", "Location", "Content-Location", "Last-Modified"} {
		if !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), want) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", r.header.Get("Access-Control-Expose-Headers"), want)
		}
	}
	if !strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Origin") {
		t.Errorf("no Vary: Origin: %v", r.header)
	}

	// Another origin: no CORS headers (the browser refuses to hand the response to its script).
	for _, m := range []string{"OPTIONS", "GET"} {
		r = c.do(m, "/Patient", "", "Origin", "https://evil.example.com", "Access-Control-Request-Method", "GET")
		if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s from another origin: Access-Control-Allow-Origin %q", m, got)
		}
	}

	// Without configured origins: no CORS headers, preflights are not answered.
	plain := server(t)
	r = plain.do("OPTIONS", "/Patient", "", "Origin", app, "Access-Control-Request-Method", "POST")
	if r.status == 204 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight without configured origins: %d %v", r.status, r.header)
	}
}
