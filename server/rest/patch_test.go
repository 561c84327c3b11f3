package rest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

const jsonPatch = "application/json-patch+json"

func TestJSONPatch(t *testing.T) {
	c := dataset(t)
	r := c.do("PATCH", "/Patient/p1", `[{"op":"replace","path":"/active","value":false},{"op":"add","path":"/name/0/given/-","value":"Maria"}]`, "Content-Type", jsonPatch)
	if r.status != 200 || r.header.Get("ETag") != `W/"2"` {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	got := r.json(t)
	if got["active"] != false || !strings.Contains(fmt.Sprint(got["name"]), "Maria") || got["gender"] != "female" {
		t.Errorf("patched: %s", r.body)
	}
	// The stored resource is searchable by its new values; history records PATCH.
	if ids(t, c, "Patient?given=maria") != "p1" {
		t.Error("patched value not indexed")
	}
	h := c.do("GET", "/Patient/p1/_history", "").json(t)
	if m := asSlice(h["entry"])[0].(map[string]any)["request"].(map[string]any)["method"]; m != "PATCH" {
		t.Errorf("history method %v", m)
	}
	// If-Match, failed test op, invalid result, malformed patch, wrong media type, id change.
	expectOutcome(t, c.do("PATCH", "/Patient/p1", `[]`, "Content-Type", jsonPatch, "If-Match", `W/"1"`), 412, "conflict", "")
	expectOutcome(t, c.do("PATCH", "/Patient/p1", `[{"op":"test","path":"/gender","value":"male"}]`, "Content-Type", jsonPatch), 422, "conflict", "")
	expectOutcome(t, c.do("PATCH", "/Patient/p1", `[{"op":"replace","path":"/gender","value":"robot"}]`, "Content-Type", jsonPatch), 422, "value", "Patient.gender")
	expectOutcome(t, c.do("PATCH", "/Patient/p1", `{"op":`, "Content-Type", jsonPatch), 400, "structure", "")
	expectOutcome(t, c.do("PATCH", "/Patient/p1", `[{"op":"remove","path":"/nothing"}]`, "Content-Type", jsonPatch), 422, "processing", "")
	expectOutcome(t, c.do("PATCH", "/Patient/p1", `[{"op":"replace","path":"/id","value":"p9"}]`, "Content-Type", jsonPatch), 422, "invalid", "Patient.id")
	expectOutcome(t, c.do("PATCH", "/Patient/p1", `[]`, "Content-Type", "application/xml-patch+xml"), 415, "not-supported", "")
	expectOutcome(t, c.do("PATCH", "/Patient/nobody", `[]`, "Content-Type", jsonPatch), 404, "not-found", "")
	if r := c.do("GET", "/Patient/p1", ""); r.header.Get("ETag") != `W/"2"` {
		t.Errorf("failed patches changed the resource: %s", r.header.Get("ETag"))
	}
	// Conditional patch.
	r = c.do("PATCH", "/Patient?identifier=urn:mrn|002", `[{"op":"replace","path":"/active","value":true}]`, "Content-Type", jsonPatch)
	if r.status != 200 || r.json(t)["id"] != "p2" {
		t.Errorf("conditional patch: %d %s", r.status, r.body)
	}
	expectOutcome(t, c.do("PATCH", "/Patient?gender=female", `[]`, "Content-Type", jsonPatch), 412, "multiple-matches", "")
}

// TestConcurrentPatchesLoseNothing: patches without If-Match that each append a given name all survive.
func TestConcurrentPatchesLoseNothing(t *testing.T) {
	c := dataset(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := c.do("PATCH", "/Patient/p3", fmt.Sprintf(`[{"op":"add","path":"/name/0/given/-","value":"g%d"}]`, g), "Content-Type", jsonPatch)
			if r.status != 200 {
				t.Errorf("patch %d: %d %s", g, r.status, r.body)
			}
		}(g)
	}
	wg.Wait()
	got := fmt.Sprint(c.do("GET", "/Patient/p3", "").json(t)["name"])
	for g := 0; g < 8; g++ {
		if !strings.Contains(got, fmt.Sprintf("g%d", g)) {
			t.Errorf("given g%d lost: %s", g, got)
		}
	}
}
