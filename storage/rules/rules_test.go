package rules_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/careflow/careflow/fhir/outcome"
	"github.com/careflow/careflow/storage"
	"github.com/careflow/careflow/storage/rules"
	"github.com/careflow/careflow/storage/sqlite/sqlitetest"
)

// finalDone is a rule: a Task that is done stays done.
func finalDone(previous, proposed []byte) error {
	var a, b struct{ Status string }
	if err := json.Unmarshal(previous, &a); err != nil {
		return err
	}
	if err := json.Unmarshal(proposed, &b); err != nil {
		return err
	}
	if a.Status == "completed" && b.Status != "completed" {
		return outcome.At(http.StatusUnprocessableEntity, "business-rule", "Task.status", "a completed Task cannot become %s", b.Status)
	}
	return nil
}

func task(id, status string) storage.Write {
	return storage.Write{Type: "Task", ID: id, Body: []byte(fmt.Sprintf(`{"resourceType":"Task","status":%q,"intent":"order"}`, status))}
}

func open(t *testing.T) (*rules.Store, storage.Store) {
	raw := sqlitetest.Open(t)
	return rules.New(raw, map[string][]rules.Rule{"Task": {finalDone}}), raw
}

func status(t *testing.T, s storage.Store, id string) string {
	t.Helper()
	v, err := s.Read(context.Background(), "Task", id)
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ Status string }
	if err := json.Unmarshal(v.Body, &r); err != nil {
		t.Fatal(err)
	}
	return r.Status
}

func TestUpdateRules(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	if _, created, err := s.Update(ctx, task("t1", "requested"), storage.Precondition{}); err != nil || !created {
		t.Fatalf("create by update: %v %v", created, err)
	}
	if _, _, err := s.Update(ctx, task("t1", "completed"), storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Update(ctx, task("t1", "in-progress"), storage.Precondition{})
	var oe *outcome.Error
	if !errors.As(err, &oe) || oe.Status != 422 || oe.Issues[0].Expression[0] != "Task.status" {
		t.Fatalf("forbidden transition: %v", err)
	}
	if got := status(t, s, "t1"); got != "completed" {
		t.Errorf("status after a refused update: %s", got)
	}
	// The client's If-Match is honoured before any rule.
	var conflict *storage.VersionConflictError
	if _, _, err := s.Update(ctx, task("t1", "completed"), storage.Precondition{VersionID: 1}); !errors.As(err, &conflict) {
		t.Errorf("stale If-Match: %v", err)
	}
	if v, _, err := s.Update(ctx, task("t1", "completed"), storage.Precondition{VersionID: 2}); err != nil || v.VersionID != 3 {
		t.Errorf("matching If-Match: %v %v", v, err)
	}
	// A deleted resource starts afresh; other types are not checked.
	if _, err := s.Delete(ctx, "Task", "t1", storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	if v, created, err := s.Update(ctx, task("t1", "requested"), storage.Precondition{}); err != nil || !created || v.VersionID != 5 {
		t.Errorf("recreate after delete: %v %v %v", v, created, err)
	}
	h, err := s.History(ctx, storage.HistoryQuery{Type: "Task", ID: "t1", Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Versions) != 5 || h.Versions[len(h.Versions)-1].Method != "PUT" {
		t.Errorf("history: %d versions, first %s", len(h.Versions), h.Versions[len(h.Versions)-1].Method)
	}
}

func TestTransactRules(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	if _, _, err := s.Update(ctx, task("t1", "completed"), storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	patient := storage.Write{Type: "Patient", ID: "p1", Body: []byte(`{"resourceType":"Patient"}`)}
	// The forbidden update fails the whole transaction: the patient is not created.
	_, err := s.Transact(ctx, []storage.TxOp{{Kind: storage.TxCreate, Write: patient}, {Kind: storage.TxUpdate, Write: task("t1", "ready")}})
	var txErr *storage.TxError
	var oe *outcome.Error
	if !errors.As(err, &txErr) || txErr.Index != 1 || !errors.As(err, &oe) || oe.Status != 422 {
		t.Fatalf("transaction with a forbidden transition: %v", err)
	}
	if _, err := s.Read(ctx, "Patient", "p1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("patient of a failed transaction: %v", err)
	}
	// Allowed updates, and an update that creates, go through.
	res, err := s.Transact(ctx, []storage.TxOp{{Kind: storage.TxCreate, Write: patient},
		{Kind: storage.TxUpdate, Write: task("t1", "completed")}, {Kind: storage.TxUpdate, Write: task("t2", "ready")}})
	if err != nil || res[1].Version.VersionID != 2 || !res[2].Created || res[2].Version.VersionID != 1 {
		t.Fatalf("transaction: %v %+v", err, res)
	}
}

// TestConcurrentTransitions: writers race to complete a Task and to move it on; whatever the
// interleaving, no version after a completed one is anything but completed.
func TestConcurrentTransitions(t *testing.T) {
	s, raw := open(t)
	ctx := context.Background()
	for round := 0; round < 5; round++ {
		id := fmt.Sprintf("race-%d", round)
		if _, _, err := s.Update(ctx, task(id, "requested"), storage.Precondition{}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st := []string{"completed", "in-progress", "on-hold", "ready"}[w%4]
				var err error
				if w%2 == 0 {
					_, _, err = s.Update(ctx, task(id, st), storage.Precondition{})
				} else {
					_, err = s.Transact(ctx, []storage.TxOp{{Kind: storage.TxUpdate, Write: task(id, st)}})
				}
				var oe *outcome.Error
				if err != nil && !errors.As(err, &oe) {
					t.Errorf("writer %d: %v", w, err)
				}
			}()
		}
		wg.Wait()
		h, err := raw.History(ctx, storage.HistoryQuery{Type: "Task", ID: id, Count: 100})
		if err != nil {
			t.Fatal(err)
		}
		done := false
		for i := len(h.Versions) - 1; i >= 0; i-- { // oldest first
			var r struct{ Status string }
			if err := json.Unmarshal(h.Versions[i].Body, &r); err != nil {
				t.Fatal(err)
			}
			if done && r.Status != "completed" {
				t.Fatalf("round %d: version %d is %s after a completed version", round, h.Versions[i].VersionID, r.Status)
			}
			done = done || r.Status == "completed"
		}
		if !done {
			t.Errorf("round %d: nobody completed the task", round)
		}
	}
}

// TestEffects: an update's effects are stored in one transaction with it; when a write the effect read
// is replaced before the transaction, the whole step is derived and applied again; a transaction's own
// write to a resource wins over an effect's; an update that derives nothing is a plain update.
func TestEffects(t *testing.T) {
	ctx := context.Background()
	raw := sqlitetest.Open(t)
	flag := func(text string) storage.Write {
		return storage.Write{Type: "Flag", ID: "f1", Body: []byte(fmt.Sprintf(`{"resourceType":"Flag","status":"active","code":{"text":%q}}`, text))}
	}
	if _, _, err := raw.Update(ctx, flag("start"), storage.Precondition{}); err != nil {
		t.Fatal(err)
	}
	attempts, interfere := 0, true
	logDone := func(ctx context.Context, r storage.Store, previous, proposed []byte) ([]storage.TxOp, error) {
		var p struct{ Status string }
		if err := json.Unmarshal(proposed, &p); err != nil || p.Status != "completed" {
			return nil, err
		}
		attempts++
		v, err := r.Read(ctx, "Flag", "f1")
		if err != nil {
			return nil, err
		}
		if interfere { // another writer replaces the version read, once
			interfere = false
			if _, _, err := raw.Update(ctx, flag("meanwhile"), storage.Precondition{}); err != nil {
				return nil, err
			}
		}
		return []storage.TxOp{{Kind: storage.TxUpdate, Write: flag("done"), Precondition: storage.Precondition{VersionID: v.VersionID}}}, nil
	}
	s := rules.New(raw, nil).WithEffects(map[string][]rules.Effect{"Task": {logDone}})
	if _, _, err := s.Update(ctx, task("t1", "requested"), storage.Precondition{}); err != nil || attempts != 0 {
		t.Fatalf("an update deriving nothing: %v, %d attempts", err, attempts)
	}
	v, _, err := s.Update(ctx, task("t1", "completed"), storage.Precondition{})
	if err != nil || v.VersionID != 2 || attempts != 2 {
		t.Fatalf("update with an effect: %v %v, %d attempts (want 2: the first met a conflict)", v, err, attempts)
	}
	f, err := raw.Read(ctx, "Flag", "f1")
	if err != nil || f.VersionID != 3 || !strings.Contains(string(f.Body), `"done"`) {
		t.Errorf("the effect's write: %v %s", err, f.Body)
	}
	// In a transaction that writes the Flag itself, the transaction's write wins; results are the ops'.
	res, err := s.Transact(ctx, []storage.TxOp{{Kind: storage.TxUpdate, Write: task("t2", "completed")}, {Kind: storage.TxUpdate, Write: flag("mine")}})
	if err != nil || len(res) != 2 {
		t.Fatalf("transaction: %v %d", err, len(res))
	}
	if f, _ := raw.Read(ctx, "Flag", "f1"); !strings.Contains(string(f.Body), `"mine"`) {
		t.Errorf("the transaction's own write lost to the effect's: %s", f.Body)
	}
	// A client's failed precondition is reported as Update reports it.
	var conflict *storage.VersionConflictError
	if _, _, err := s.Update(ctx, task("t1", "completed"), storage.Precondition{VersionID: 1}); !errors.As(err, &conflict) {
		t.Errorf("stale If-Match: %v", err)
	}
}
