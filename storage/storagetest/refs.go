package storagetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/careflow/careflow/fhir/search"
	"github.com/careflow/careflow/storage"
)

// refsTests are part of Run.
var refsTests = map[string]func(*testing.T, storage.Store){
	"Exists":    testExists,
	"Referrers": testReferrers,
}

// appointment is an Appointment whose index holds refs (search.RefsField) as the registry extracts them.
func appointment(id string, refs ...string) storage.Write {
	w := storage.Write{Type: "Appointment", ID: id, Body: []byte(`{"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted"}]}`)}
	if len(refs) > 0 {
		w.Index = map[string]any{search.RefsField: refs}
	}
	return w
}

func testExists(t *testing.T, s storage.Store) {
	ctx := context.Background()
	live := mustCreate(t, s, patient("Live"))
	gone := mustCreate(t, s, patient("Gone"))
	if _, err := s.Delete(ctx, "Patient", gone.ID, storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Exists(ctx, "Patient", []string{live.ID, gone.ID, "never"})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint(map[string]bool{live.ID: true, gone.ID: false}); fmt.Sprint(got) != want {
		t.Errorf("Exists = %v, want %v", got, want)
	}
	if got, err := s.Exists(ctx, "Appointment", []string{live.ID}); err != nil || len(got) != 0 {
		t.Errorf("Exists in another type = %v %v", got, err)
	}
	if got, err := s.Exists(ctx, "Patient", nil); err != nil || len(got) != 0 {
		t.Errorf("Exists of nothing = %v %v", got, err)
	}
}

func testReferrers(t *testing.T, s storage.Store) {
	ctx := context.Background()
	referrers := func(limit int, keys ...string) string {
		t.Helper()
		refs, total, err := s.Referrers(ctx, keys, limit)
		if err != nil {
			t.Fatalf("Referrers(%v): %v", keys, err)
		}
		return fmt.Sprintf("%s (%d)", strings.Join(refs, " "), total)
	}
	for _, w := range []storage.Write{
		appointment("a1", "Patient/p"),
		appointment("a2", "Patient/p", "Patient/q"),
		appointment("a3", "http://x.org/fhir/Patient/p"),
		appointment("a4", "Patient/q"),
		appointment("a5"),
	} {
		mustCreate(t, s, w)
	}
	pat := patient("Self")
	pat.ID, pat.Index = "p2", map[string]any{search.RefsField: []string{"Patient/p"}}
	mustCreate(t, s, pat)

	if got, want := referrers(10, "Patient/p"), "Appointment/a1 Appointment/a2 Patient/p2 (3)"; got != want {
		t.Errorf("referrers of Patient/p: %s, want %s", got, want)
	}
	if got, want := referrers(10, "Patient/p", "http://x.org/fhir/Patient/p"), "Appointment/a1 Appointment/a2 Appointment/a3 Patient/p2 (4)"; got != want {
		t.Errorf("referrers of both forms: %s, want %s", got, want)
	}
	if got, want := referrers(1, "Patient/p"), "Appointment/a1 (3)"; got != want {
		t.Errorf("limited: %s, want %s", got, want)
	}
	if got, want := referrers(10, "Patient/none"), " (0)"; got != want {
		t.Errorf("unreferenced: %s, want %s", got, want)
	}
	// A new version without the reference, and a deletion, stop referring.
	if _, _, err := s.Update(ctx, appointment("a2", "Patient/q"), storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "Patient", "p2", storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	if got, want := referrers(10, "Patient/p"), "Appointment/a1 (1)"; got != want {
		t.Errorf("after update and delete: %s, want %s", got, want)
	}
	// Transactions publish the references of the versions they store.
	if _, err := s.Transact(ctx, []storage.TxOp{
		{Kind: storage.TxDelete, Write: storage.Write{Type: "Appointment", ID: "a1"}},
		{Kind: storage.TxCreate, Write: appointment("a6", "Patient/p")},
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := referrers(10, "Patient/p"), "Appointment/a6 (1)"; got != want {
		t.Errorf("after a transaction: %s, want %s", got, want)
	}
}
