package rest_test

import (
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/storage/mongo"
	"github.com/careflow/careflow/storage/mongo/mongotest"
)

// TestUpdateIfNoneMatch: "If-None-Match: *" on PUT creates the resource only when it is absent (RFC 9110
// §13.1.2), so that of many coordinators claiming the same derived worklist Task at once exactly one
// stores it and the others get a 412 OperationOutcome; an entity-tag list fails when the current version is
// in it; a deleted resource has no current representation; the same holds for a transaction entry's
// request.ifNoneMatch, and a failed one leaves nothing behind. On both stores.
func TestUpdateIfNoneMatch(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testUpdateIfNoneMatch(t, server(t)) })
	t.Run("mongo", func(t *testing.T) {
		v, reg := r4test.Validator(t), r4test.Load(t).Registry
		store := mongotest.OpenWith(t, mongo.Options{Types: definitions.ResourceTypes, Registry: reg})
		ts := httptest.NewServer(handler(t, testConfig{}, store, v, reg))
		t.Cleanup(ts.Close)
		testUpdateIfNoneMatch(t, &client{t: t, base: ts.URL + "/fhir", root: ts.URL})
	})
}

func testUpdateIfNoneMatch(t *testing.T, c *client) {
	task := func(owner string) string {
		return `{"resourceType":"Task","id":"wl-claim","status":"accepted","intent":"order","businessStatus":{"text":"claimed"},"owner":{"reference":"` + owner + `"}}`
	}
	const n = 8
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			statuses[i] = c.do("PUT", "/Task/wl-claim", task("Practitioner/c"+string(rune('0'+i))), "If-None-Match", "*").status
		}(i)
	}
	wg.Wait()
	created, failed := 0, 0
	for _, s := range statuses {
		switch s {
		case 201:
			created++
		case 412:
			failed++
		}
	}
	if created != 1 || failed != n-1 {
		t.Fatalf("concurrent claims: statuses %v, want one 201 and %d 412", statuses, n-1)
	}
	r := c.do("GET", "/Task/wl-claim/_history", "")
	if got := len(asSlice(r.json(t)["entry"])); got != 1 {
		t.Fatalf("the claimed Task has %d versions, want 1", got)
	}
	// Present: "*" fails with an OperationOutcome, a list without the current version succeeds.
	r = c.do("PUT", "/Task/wl-claim", task("Practitioner/late"), "If-None-Match", "*")
	expectOutcome(t, r, 412, "conflict", "")
	if !strings.Contains(string(r.body), "If-None-Match") {
		t.Errorf("unclear message %s", r.body)
	}
	expectOutcome(t, c.do("PUT", "/Task/wl-claim", task("Practitioner/late"), "If-None-Match", `W/"1"`), 412, "conflict", "")
	if r := c.do("PUT", "/Task/wl-claim", task("Practitioner/next"), "If-None-Match", `W/"7", W/"9"`); r.status != 200 || r.header.Get("ETag") != `W/"2"` {
		t.Fatalf("If-None-Match without the current version: %d %s", r.status, r.body)
	}
	expectOutcome(t, c.do("PUT", "/Task/wl-claim", task("Practitioner/x"), "If-None-Match", `W/"2`), 400, "invalid", "")
	// Deleted: the id stays taken for "*" (412, with the way out), a tag list is an ordinary update.
	if r := c.do("DELETE", "/Task/wl-claim", ""); r.status != 204 && r.status != 200 {
		t.Fatalf("delete: %d", r.status)
	}
	r = c.do("PUT", "/Task/wl-claim", task("Practitioner/again"), "If-None-Match", "*")
	expectOutcome(t, r, 412, "conflict", "")
	if !strings.Contains(string(r.body), "was deleted") {
		t.Errorf("unclear message %s", r.body)
	}
	if r := c.do("PUT", "/Task/wl-claim", task("Practitioner/again"), "If-None-Match", `W/"3"`); r.status != 201 && r.status != 200 {
		t.Fatalf("If-None-Match with a tag on a deleted Task: %d %s", r.status, r.body)
	}
	// Transaction: the entry's ifNoneMatch fails the whole Bundle, nothing is written.
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[
	  {"resource":{"resourceType":"Patient","id":"inm-p"},"request":{"method":"PUT","url":"Patient/inm-p"}},
	  {"resource":` + task("Practitioner/tx") + `,"request":{"method":"PUT","url":"Task/wl-claim","ifNoneMatch":"*"}}]}`
	r = c.do("POST", "", tx)
	expectOutcome(t, r, 412, "conflict", "")
	if r := c.do("GET", "/Patient/inm-p", ""); r.status != 404 {
		t.Fatalf("a failed transaction left Patient/inm-p: %d", r.status)
	}
	tx = strings.Replace(strings.Replace(tx, `"Task/wl-claim"`, `"Task/wl-new"`, 1), `"id":"wl-claim"`, `"id":"wl-new"`, 1)
	if r := c.do("POST", "", tx); r.status != 200 {
		t.Fatalf("transaction creating an absent Task with ifNoneMatch *: %d %s", r.status, r.body)
	}
	if r := c.do("GET", "/Task/wl-new", ""); r.status != 200 {
		t.Fatalf("Task/wl-new: %d", r.status)
	}
}
