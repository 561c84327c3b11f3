// Package adaptertest sets up the adapters' tests: the official definitions (fhir/r4), a real store on a
// fresh embedded store (storage/sqlite/sqlitetest), and fixtures written the
// way the REST API writes them (validated, then indexed with the search registry).
package adaptertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/fhir/synth"
	"github.com/careflow/careflow/fhir/validate"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// Store is what the tests need of the store: the adapters search it, fixtures are written with Update and
// Delete. (Not storage.Store, so that the tests do not depend on store capabilities they never use.)
type Store interface {
	Search(ctx context.Context, q *search.Query) (*storage.SearchPage, error)
	Update(ctx context.Context, w storage.Write, pre storage.Precondition) (*storage.Version, bool, error)
	Delete(ctx context.Context, typ, id string, pre storage.Precondition) (*storage.Version, error)
}

// Env is a store on a fresh database plus the definitions to write to it.
type Env struct {
	T         testing.TB
	Store     Store
	Registry  *search.Registry
	Validator *validate.Validator
}

// New opens a store on a fresh database (dropped when the test ends).
func New(t testing.TB) *Env {
	t.Helper()
	return &Env{T: t, Store: sqlitetest.Open(t), Registry: r4test.Load(t).Registry, Validator: r4test.Validator(t)}
}

// Put stores a resource with a client-chosen id (update-as-create), validated and indexed exactly as the
// REST API does, and fails the test on error. body may omit resourceType and id: they are inserted.
func (e *Env) Put(typ, id, body string) *storage.Version {
	e.T.Helper()
	v, err := e.Write(typ, id, body)
	if err != nil {
		e.T.Fatal(err)
	}
	return v
}

// Write is Put returning the error instead of failing the test; it is safe for concurrent use.
func (e *Env) Write(typ, id, body string) (*storage.Version, error) {
	body = strings.TrimSpace(body)
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &top); err != nil {
		return nil, fmt.Errorf("fixture %s/%s is not a JSON object: %w", typ, id, err)
	}
	if _, ok := top["resourceType"]; !ok {
		body = strings.Replace(body, `{`, `{"resourceType":"`+typ+`","id":"`+id+`",`, 1)
	}
	w, _, err := interaction.Pipeline{Validator: e.Validator, Registry: e.Registry}.Prepare(typ, []byte(body))
	if err != nil {
		return nil, fmt.Errorf("fixture %s/%s: %w\n%s", typ, id, err, body)
	}
	w.ID = id
	v, _, err := e.Store.Update(context.Background(), w, storage.Precondition{})
	if err != nil {
		return nil, fmt.Errorf("store %s/%s: %w", typ, id, err)
	}
	return v, nil
}

// Delete deletes a resource.
func (e *Env) Delete(typ, id string) {
	e.T.Helper()
	if _, err := e.Store.Delete(context.Background(), typ, id, storage.Precondition{}); err != nil {
		e.T.Fatalf("delete %s/%s: %v", typ, id, err)
	}
}

// Validate checks that data is a valid resource of type typ and fails the test otherwise.
func (e *Env) Validate(typ string, data []byte) {
	e.T.Helper()
	if _, verr := e.Validator.Validate(typ, data); verr != nil {
		e.T.Fatalf("%s does not validate: %v\n%s", typ, verr, data)
	}
}

// Synth writes the patients fhir/synth generates with o, as the REST API would store their transaction
// Bundles: each resource under its urn:uuid's uuid as id, references to bundle entries as "Type/uuid".
// It fails the test on error and returns the number of resources written.
func (e *Env) Synth(o synth.Options) int {
	e.T.Helper()
	bundles, err := synth.Generate(o)
	if err != nil {
		e.T.Fatal(err)
	}
	var all []Res
	for _, b := range bundles {
		var bundle struct {
			Entry []struct {
				FullURL  string          `json:"fullUrl"`
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(b.JSON, &bundle); err != nil {
			e.T.Fatalf("%s: %v", b.File, err)
		}
		var pairs []string
		for _, en := range bundle.Entry {
			var head struct {
				ResourceType string `json:"resourceType"`
			}
			if err := json.Unmarshal(en.Resource, &head); err != nil {
				e.T.Fatalf("%s: %v", b.File, err)
			}
			id := strings.TrimPrefix(en.FullURL, "urn:uuid:")
			pairs = append(pairs, `"`+en.FullURL+`"`, `"`+head.ResourceType+"/"+id+`"`)
			all = append(all, Res{Type: head.ResourceType, ID: id, Body: string(en.Resource)})
		}
		resolve := strings.NewReplacer(pairs...)
		for i := len(all) - len(bundle.Entry); i < len(all); i++ {
			var buf bytes.Buffer
			if err := json.Compact(&buf, []byte(all[i].Body)); err != nil {
				e.T.Fatal(err)
			}
			body := resolve.Replace(buf.String())
			head := `{"resourceType":"` + all[i].Type + `",`
			if !strings.HasPrefix(body, head) || strings.HasPrefix(body[len(head):], `"id":`) {
				e.T.Fatalf("%s: unexpected resource layout %.80s", b.File, body)
			}
			all[i].Body = head + `"id":"` + all[i].ID + `",` + body[len(head):]
		}
	}
	e.WriteAll(all)
	return len(all)
}

// Res is one resource to write, as Write takes it.
type Res struct{ Type, ID, Body string }

// WriteAll writes rs with 8 concurrent writers and fails the test on any error.
func (e *Env) WriteAll(rs []Res) {
	e.T.Helper()
	work := make(chan Res)
	errs := make(chan error, len(rs))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				if _, err := e.Write(r.Type, r.ID, r.Body); err != nil {
					errs <- err
				}
			}
		}()
	}
	for _, r := range rs {
		work <- r
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		e.T.Fatal(err)
	}
}
