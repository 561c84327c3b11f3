package rest_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/guard"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// TestDatabaseNotYetOpen: while the store's database has not answered (careflow started with it down),
// requests answer 503 with a transient OperationOutcome and Retry-After, and /readyz 503 within its
// timeout; once it opens, the same server serves without a restart.
func TestDatabaseNotYetOpen(t *testing.T) {
	v, reg := r4test.Validator(t), r4test.Load(t).Registry
	store := sqlitetest.Open(t)
	up := make(chan struct{})
	g := guard.Opening(context.Background(), func(ctx context.Context) (storage.Store, error) {
		select {
		case <-up: // the database answers
			return store, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}, guard.Options{})
	defer g.Close(context.Background())
	cfg := testConfig{svc: interaction.Config{DefaultCount: 50, MaxCount: 1000}}
	cfg.http.RetryAfter = 3 * time.Second
	ts := httptest.NewServer(handler(t, cfg, g, v, reg))
	defer ts.Close()
	c := &client{t: t, base: ts.URL + "/fhir", root: ts.URL}

	for _, req := range [][2]string{{"GET", "/Patient/x"}, {"GET", "/Patient?name=x"}, {"POST", "/Patient"}} {
		body := ""
		if req[0] == "POST" {
			body = `{"resourceType":"Patient"}`
		}
		r := c.do(req[0], req[1], body)
		expectOutcome(t, r, 503, "transient", "")
		if got := r.header.Get("Retry-After"); got != "3" {
			t.Errorf("%s %s: Retry-After %q, want 3", req[0], req[1], got)
		}
	}
	start := time.Now()
	if r := c.do("GET", c.root+"/readyz", ""); r.status != 503 {
		t.Errorf("/readyz before the database answered: %d %s", r.status, r.body)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("/readyz took %s", took)
	}

	close(up)
	select {
	case <-g.OpenDone():
	case <-time.After(30 * time.Second):
		t.Fatal("never opened")
	}
	if r := c.do("GET", c.root+"/readyz", ""); r.status != 200 {
		t.Errorf("/readyz once open: %d %s", r.status, r.body)
	}
	if r := c.do("POST", "/Patient", `{"resourceType":"Patient"}`); r.status != 201 {
		t.Errorf("create once open: %d %s", r.status, r.body)
	}
	if r := c.do("GET", "/Patient/x", ""); r.status != 404 || r.header.Get("Retry-After") != "" {
		t.Errorf("a 404 once open: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
}

// TestReadyTimeout: /readyz answers 503 within its timeout when the database does not answer a ping.
func TestReadyTimeout(t *testing.T) {
	v, reg := r4test.Validator(t), r4test.Load(t).Registry
	cfg := testConfig{svc: interaction.Config{DefaultCount: 50, MaxCount: 1000}}
	cfg.http.ReadyTimeout = 200 * time.Millisecond
	ts := httptest.NewServer(handler(t, cfg, hangingPing{sqlitetest.Open(t)}, v, reg))
	defer ts.Close()
	c := &client{t: t, base: ts.URL + "/fhir", root: ts.URL}
	start := time.Now()
	if r := c.do("GET", c.root+"/readyz", ""); r.status != 503 {
		t.Errorf("/readyz: %d %s", r.status, r.body)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("/readyz took %s with a timeout of 200ms", took)
	}
}

// hangingPing is a store whose database never answers a ping (as a database behind a dead network
// path): Ping waits for its context.
type hangingPing struct{ storage.Store }

func (h hangingPing) Ping(ctx context.Context) error {
	<-ctx.Done()
	return errors.New("ping: " + ctx.Err().Error())
}

// TestSearchBudgetAnswer: a search over its time budget answers 400 with issue code too-costly — not 503,
// not 500 — whether it is a plain search, a search with includes (one consistent read) or $everything.
// A budget of a nanosecond has passed before any store call starts.
func TestSearchBudgetAnswer(t *testing.T) {
	v, reg := r4test.Validator(t), r4test.Load(t).Registry
	store := sqlitetest.Open(t)
	cfg := testConfig{svc: interaction.Config{DefaultCount: 50, MaxCount: 1000}}
	ts := httptest.NewServer(handler(t, cfg, guard.New(store, guard.Options{QueryTimeout: time.Nanosecond}), v, reg))
	defer ts.Close()
	c := &client{t: t, base: ts.URL + "/fhir", root: ts.URL}
	if r := c.do("PUT", "/Patient/p1", `{"resourceType":"Patient","id":"p1"}`); r.status != 201 {
		t.Fatalf("create (a point call, not bounded by the budget): %d %s", r.status, r.body)
	}
	for _, q := range []string{"/Patient?name=x", "/Patient?_revinclude=AllergyIntolerance:patient", "/Patient/p1/$everything", "/Patient/_history"} {
		r := c.do("GET", q, "")
		expectOutcome(t, r, 400, "too-costly", "")
		if r.header.Get("Retry-After") != "" {
			t.Errorf("GET %s: Retry-After on a 400", q)
		}
	}
}
