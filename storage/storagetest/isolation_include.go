package storagetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// consistentReader is the capability the REST layer reads a search page and its _include/_revinclude
// with (server/rest, include.go): the searches made through read's context together hold all or nothing of
// every transaction on types.
type consistentReader interface {
	ReadConsistent(ctx context.Context, types []string, read func(ctx context.Context) error) error
}

var idParam = &search.Param{Code: "_id", Type: search.TypeToken}

// markedPair is what a transaction of the include tests writes: patient inc-p and its appointment
// inc-ap, both carrying marker.
func markedPair(marker string) []storage.TxOp {
	return []storage.TxOp{
		{Kind: storage.TxUpdate, Write: storage.Write{Type: "Patient", ID: "inc-p",
			Body: []byte(fmt.Sprintf(`{"resourceType":"Patient","id":"inc-p","name":[{"family":%q}]}`, marker))}},
		{Kind: storage.TxUpdate, Write: storage.Write{Type: "Appointment", ID: "inc-ap",
			Body: []byte(fmt.Sprintf(`{"resourceType":"Appointment","id":"inc-ap","status":"booked","description":%q,"participant":[{"actor":{"reference":"Patient/inc-p"},"status":"accepted"}]}`, marker))}},
	}
}

// markerOf returns the marker a version of markedPair carries.
func markerOf(t *testing.T, v *storage.Version) string {
	t.Helper()
	var r struct {
		Name        []struct{ Family string } `json:"name"`
		Description string                    `json:"description"`
	}
	if err := json.Unmarshal(v.Body, &r); err != nil {
		t.Fatalf("body %s: %v", v.Body, err)
	}
	if len(r.Name) > 0 {
		return r.Name[0].Family
	}
	return r.Description
}

// searchByID is the search the REST layer makes for a page, or for the resources an _include adds.
func searchByID(ctx context.Context, s storage.Store, typ, id string) (*storage.Version, error) {
	page, err := s.Search(ctx, &search.Query{Type: typ, Count: 10, CountSet: true, Total: "none",
		Criteria: []search.Criterion{{Param: idParam, Values: []search.Value{{Code: id}}}}})
	if err != nil {
		return nil, fmt.Errorf("search %s/%s: %w", typ, id, err)
	}
	if len(page.Versions) != 1 {
		return nil, fmt.Errorf("search %s/%s found %d resources", typ, id, len(page.Versions))
	}
	return page.Versions[0], nil
}

// pairMarkers reads the pair as a search with an include does — first the match of type first, then the
// other resource — in one consistent read; between (only on the first run of read) it calls between.
// It returns the markers of the appointment and of the patient.
func pairMarkers(t *testing.T, s storage.Store, first string, between func()) (ap, p string) {
	t.Helper()
	cr, ok := s.(consistentReader)
	if !ok {
		t.Fatalf("%T cannot read a search page and its includes as one (no ReadConsistent)", s)
	}
	order := map[string][2]string{"Appointment": {"Appointment", "inc-ap"}, "Patient": {"Patient", "inc-p"}}
	second := "Patient"
	if first == "Patient" {
		second = "Appointment"
	}
	runs := 0
	err := cr.ReadConsistent(context.Background(), []string{"Appointment", "Patient"}, func(ctx context.Context) error {
		runs++
		got := map[string]string{}
		for i, typ := range []string{first, second} {
			v, err := searchByID(ctx, s, order[typ][0], order[typ][1])
			if err != nil {
				return err
			}
			got[typ] = markerOf(t, v)
			if i == 0 && runs == 1 && between != nil {
				between()
			}
		}
		ap, p = got["Appointment"], got["Patient"]
		return nil
	})
	if err != nil {
		t.Fatalf("consistent read: %v", err)
	}
	return ap, p
}

// testIncludeSnapshot: a search page and its includes, read as one (ReadConsistent), never show part of a
// transaction that updates a patient and its appointment together — neither one that commits between the
// page and its includes (the page as _include=Appointment:patient reads it, and as
// _revinclude=Appointment:patient does) nor any of a stream of them committing while the reader reads.
func testIncludeSnapshot(t *testing.T, s storage.Store) {
	ctx := context.Background()
	for _, op := range markedPair("m0") {
		mustCreate(t, s, op.Write)
	}
	n := 0
	transact := func() {
		n++
		if _, err := s.Transact(ctx, markedPair(fmt.Sprintf("m%d", n))); err != nil {
			t.Errorf("transaction: %v", err)
		}
	}
	// A transaction that commits between the page and its includes.
	for _, first := range []string{"Appointment", "Patient"} {
		if ap, p := pairMarkers(t, s, first, transact); ap != p {
			t.Errorf("page of %s and its include, with a transaction committing between them: appointment %s, patient %s", first, ap, p)
		}
	}
	// Transactions committing while the reader reads: each one after the reader finished a read since
	// the previous one, so that it commits during one of the reader's next reads, at a point of it the
	// schedule decides. (Back to back, with no pause, transactions on the same resources can keep a
	// MongoDB reader rerunning until it gives up: see maxRounds in storage/mongo.)
	const transactions = 30
	read := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < transactions; i++ {
			<-read
			transact()
		}
	}()
	for reads := 1; ; reads++ {
		first := "Appointment"
		if reads%2 == 0 {
			first = "Patient"
		}
		if ap, p := pairMarkers(t, s, first, nil); ap != p {
			t.Fatalf("read %d (page of %s and its include) while transactions commit: appointment %s, patient %s", reads, first, ap, p)
		}
		select {
		case read <- struct{}{}:
		default:
		}
		select {
		case <-done:
			return
		default:
		}
	}
}
