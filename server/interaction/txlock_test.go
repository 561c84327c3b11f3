package interaction_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/careflow/careflow/fhir/definitions"
	"github.com/careflow/careflow/fhir/r4/r4test"
	"github.com/careflow/careflow/server/interaction"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// stalledStore holds the first transaction it is given until released, so that a test can act while a
// transaction is being stored.
type stalledStore struct {
	storage.Store
	once             sync.Once
	entered, release chan struct{} // closed when the first transaction arrives; closed by the test
}

func (s *stalledStore) Transact(ctx context.Context, ops []storage.TxOp) ([]storage.TxResult, error) {
	first := false
	s.once.Do(func() { first = true })
	if first {
		close(s.entered)
		<-s.release
	}
	return s.Store.Transact(ctx, ops)
}

// TestMatchedConditionalCreateReleasesItsLock: while a transaction whose ifNoneExist matches an existing
// Practitioner is being stored, another transaction with the same criteria completes — the lock on the
// criteria is released once the match is confirmed (the shared directory of an EHR feed does not
// serialize its Bundles) — and there is still one Practitioner. (A criterion that creates keeps its lock
// until its transaction is stored: TestConcurrentConditionalCreateTransactions in server/rest.)
func TestMatchedConditionalCreateReleasesItsLock(t *testing.T) {
	ctx := context.Background()
	store := &stalledStore{Store: sqlitetest.Open(t), entered: make(chan struct{}), release: make(chan struct{})}
	svc, err := interaction.New(interaction.Config{Types: definitions.ResourceTypes}, store, r4test.Validator(t), r4test.Load(t).Registry)
	if err != nil {
		t.Fatal(err)
	}
	call := interaction.Call{Base: base}
	// The Practitioner exists before (a plain create: the store's first Transact is the first Bundle's).
	if _, err := svc.Create(ctx, call, "Practitioner", []byte(`{"resourceType":"Practitioner","identifier":[{"system":"urn:npi","value":"1"}]}`), ""); err != nil {
		t.Fatal(err)
	}
	bundle := func(patient string) []byte {
		return []byte(`{"resourceType":"Bundle","type":"transaction","entry":[
			{"fullUrl":"urn:uuid:00000000-0000-4000-8000-000000000001","resource":{"resourceType":"Practitioner","identifier":[{"system":"urn:npi","value":"1"}]},
			 "request":{"method":"POST","url":"Practitioner","ifNoneExist":"identifier=urn:npi|1"}},
			{"resource":{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"` + patient + `"}],"generalPractitioner":[{"reference":"urn:uuid:00000000-0000-4000-8000-000000000001"}]},
			 "request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:mrn|` + patient + `"}}]}`)
	}
	first := make(chan error, 1)
	go func() {
		_, err := svc.Bundle(ctx, call, bundle("a"))
		first <- err
	}()
	<-store.entered // the first transaction is being stored
	// Bounded, so that a lock kept would fail the test rather than hang it.
	bounded, cancel := context.WithTimeout(ctx, 20*time.Second)
	_, err = svc.Bundle(bounded, call, bundle("b"))
	cancel()
	close(store.release)
	if err != nil {
		t.Fatalf("second transaction, while the first is stored: %v (does the first keep the lock of a criterion that matched?)", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("first transaction: %v", err)
	}
	res, err := svc.Search(ctx, call, "Practitioner", map[string][]string{"identifier": {"urn:npi|1"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(res.Body), `"resourceType":"Practitioner"`); n != 1 {
		t.Errorf("%d Practitioners with the identifier, want 1: %s", n, res.Body)
	}
}
